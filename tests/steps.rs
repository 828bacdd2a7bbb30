//! What each kind of step does, through the real binary: `when` and `continue_on_error`,
//! named outputs feeding later steps (and a missing one failing its step), nested workflows
//! under their parent's key, `for_each` item keys, and a missing program.

mod support;

use support::Workspace;

#[test]
fn when_and_continue_on_error() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: conditions
params:
  env: { default: prod }
steps:
  - id: only_dev
    when: "params.env == 'dev'"
    run: [sh, -c, "echo only_dev >> side"]
  - id: soft
    run: [sh, -c, "echo soft >> side; exit 3"]
    continue_on_error: true
  - id: after
    run: [sh, -c, "echo after >> side"]
  - id: saw
    when: "steps.soft.status == 'failed' and steps.only_dev.status == 'skipped'"
    run: [sh, -c, "echo saw >> side"]
"#,
    );
    let out = s.mcflow(&["run", "w.yaml"]);
    out.success();
    let stdout = &out.stdout;
    assert!(
        stdout.contains("skipped: when: params.env == 'dev' is false"),
        "{stdout}"
    );
    assert!(stdout.contains("soft (continue_on_error)"), "{stdout}");
    assert_eq!(s.count("side", "only_dev"), 0);
    for step in ["soft", "after", "saw"] {
        assert_eq!(s.count("side", step), 1, "{step}");
    }
    let failed = s.events("step_failed", Some("soft"));
    assert_eq!(failed[0]["continue_on_error"], true);
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("exited with 3")
    );
    assert_eq!(s.events("step_skipped", Some("only_dev")).len(), 1);
    assert_eq!(s.events("run_finished", None)[0]["status"], "succeeded");

    let s2 = Workspace::new();
    s2.write(
        "w.yaml",
        &std::fs::read_to_string(s.file("w.yaml")).unwrap(),
    );
    s2.mcflow(&["run", "w.yaml", "--set", "env=dev"]).success();
    assert_eq!(s2.count("side", "only_dev"), 1);
    assert_eq!(s2.count("side", "saw"), 0);
}

/// A `for_each` step fails through its instances, which are the table's rows: what its failure
/// kept from running is named under the first failed instance, not given a row each.
#[test]
fn skips_caused_by_a_failed_for_each_are_named_under_its_instance() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: skips
steps:
  - id: fetch
    for_each: [a, b]
    run: [sh, -c, "exit 4"]
  - id: check
    needs: [fetch]
    assert: { that: "true" }
  - id: apply
    needs: [check]
    run: [sh, -c, "exit 0"]
"#,
    );
    let out = s.mcflow(&["run", "w.yaml"]);
    out.assert_code(1);
    let table = out.end_table();
    let at = table
        .iter()
        .position(|l| l.starts_with("fetch[a] "))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        table[at..]
            .iter()
            .take_while(|l| !l.starts_with("fetch[b] "))
            .any(|l| l.trim() == "↳ so these did not run: check, apply"),
        "{}",
        out.stdout
    );
    for step in ["check ", "apply "] {
        assert!(!table.iter().any(|l| l.starts_with(step)), "{}", out.stdout);
    }
}

/// A step its own `when:` skipped is the workflow's choice: its event says so (`by_when`) and
/// the end-of-run table leaves it out; a step skipped because what it needs failed is named
/// under the failure (`blocked_by`), and `-v` gives every step its row.
#[test]
fn the_end_table_lists_skips_caused_by_failures_not_by_when() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: skips
steps:
  - id: optional
    when: "false"
    run: [sh, -c, "exit 0"]
  - id: broken
    run: [sh, -c, "exit 4"]
  - id: after_broken
    needs: [broken]
    run: [sh, -c, "exit 0"]
"#,
    );
    let out = s.mcflow(&["run", "w.yaml"]);
    out.assert_code(1);
    let table = out.end_table();
    assert!(
        table.iter().any(|l| l.starts_with("broken ")),
        "{}",
        out.stdout
    );
    // What the failure kept from running is named under it, not given a row.
    assert!(
        table
            .iter()
            .any(|l| l.trim() == "↳ so these did not run: after_broken"),
        "{}",
        out.stdout
    );
    assert!(
        !table.iter().any(|l| l.starts_with("after_broken ")),
        "{}",
        out.stdout
    );
    assert!(
        !table.iter().any(|l| l.starts_with("optional ")),
        "{}",
        out.stdout
    );
    assert_eq!(
        s.events("step_skipped", Some("optional"))[0]["by_when"],
        true
    );
    let blocked = &s.events("step_skipped", Some("after_broken"))[0];
    assert_eq!(blocked.get("by_when"), None);
    assert_eq!(blocked["blocked_by"], "broken");
    // Every step, with -v: the `when:` skip too.
    let s2 = Workspace::new();
    s2.write(
        "w.yaml",
        &std::fs::read_to_string(s.file("w.yaml")).unwrap(),
    );
    let all = s2.mcflow(&["-v", "run", "w.yaml"]);
    assert!(
        all.stdout
            .lines()
            .any(|l| l.starts_with("optional ") && l.contains("skipped")),
        "{}",
        all.stdout
    );
}

#[test]
fn named_outputs_feed_later_steps() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: outputs
steps:
  - id: version
    run: [echo, "Client version: stable-2.14.10"]
    outputs:
      version: { regex: 'Client version: (\S+)' }
  - id: info
    run: [echo, '{"metadata": {"name": "hub", "ports": [4143, 4191]}}']
    outputs:
      name: { json: /metadata/name }
      port: { json: /metadata/ports/1 }
  - id: status
    run: [sh, -c, "echo ready >&2"]
    outputs:
      state: { from: stderr, regex: '(\w+)' }
  - id: use
    run: [sh, -c, 'echo "$@" > used', x, "{{ steps.version.outputs.version }}", "{{ steps.info.outputs.name }}", "{{ steps.info.outputs.port }}", "{{ steps.status.outputs.state }}", "{{ steps.info.exit_code }}"]
"#,
    );
    s.mcflow(&["run", "w.yaml"]).success();
    let used = std::fs::read_to_string(s.file("used")).unwrap();
    assert_eq!(used.trim(), "stable-2.14.10 hub 4191 ready 0");
    let info = &s.events("step_succeeded", Some("info"))[0];
    assert_eq!(info["result"]["outputs"]["port"], 4191, "{info}");
}

#[test]
fn an_output_that_is_not_found_fails_the_step() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: outputs
steps:
  - id: version
    run: [echo, "no version here"]
    outputs:
      version: { regex: 'Client version: (\S+)' }
"#,
    );
    s.mcflow(&["run", "w.yaml"])
        .assert_code(1)
        .stdout_has("did not match");
}

#[test]
fn a_nested_workflow_runs_its_steps_under_the_parent_key() {
    let s = Workspace::new();
    s.write(
        "child.yaml",
        r#"name: child
params:
  who: { required: true }
  greeting: { default: hello }
steps:
  - id: greet
    run: [echo, "{{ params.greeting }} {{ params.who }}"]
  - id: again
    run: [sh, -c, 'echo "$0" >> side', "{{ steps.greet.stdout | trim }}"]
"#,
    );
    s.write(
        "w.yaml",
        r#"name: parent
steps:
  - id: name
    run: [echo, spoke]
  - id: link
    workflow: { path: child.yaml, with: { who: "{{ steps.name.stdout | trim }}" } }
  - id: after
    run: [sh, -c, "echo after >> side"]
"#,
    );
    s.mcflow(&["run", "w.yaml"]).success();
    assert_eq!(s.count("side", "hello spoke"), 1);
    assert_eq!(s.count("side", "after"), 1);
    let greet = &s.events("step_succeeded", Some("link.greet"))[0];
    assert_eq!(greet["result"]["stdout"], "hello spoke\n", "{greet}");
    assert_eq!(s.events("step_succeeded", Some("link.again")).len(), 1);
    assert_eq!(s.events("step_succeeded", Some("link")).len(), 1);
    // The whole nested level is journaled between the parent step's start and end.
    let journal = s.journal();
    let keys: Vec<&str> = journal
        .iter()
        .filter(|e| e["event"] == "step_succeeded")
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["name", "link.greet", "link.again", "link", "after"]);
}

#[test]
fn for_each_items_with_one_key_are_refused() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        "name: dup\nsteps:\n  - id: e\n    for_each: [{name: web, ns: a}, {name: web, ns: b}]\n    run: [echo, '{{ item.ns }}']\n",
    );
    let out = s.mcflow(&["run", "w.yaml"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("two items have the key `e[web]`"));
}

#[test]
fn a_missing_program_is_a_clear_error_and_is_not_retried() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: missing
steps:
  - id: nothing
    run: [mcflow-no-such-program, --flag]
    retry: { attempts: 5, delay: 10ms }
  - id: path
    needs: []
    run: [./not/here.sh]
    retry: { attempts: 5, delay: 10ms }
"#,
    );
    let out = s.mcflow(&["run", "w.yaml"]);
    out.assert_code(1);
    let stdout = &out.stdout;
    assert!(
        stdout.contains("program `mcflow-no-such-program` not found"),
        "{stdout}"
    );
    assert!(stdout.contains("PATH="), "{stdout}");
    assert!(
        stdout.contains("program `./not/here.sh` not found"),
        "{stdout}"
    );
    for step in ["nothing", "path"] {
        assert_eq!(
            s.events("step_started", Some(step)).len(),
            1,
            "{step}: one attempt"
        );
        assert!(s.events("attempt_failed", Some(step)).is_empty(), "{step}");
        assert_eq!(s.events("step_failed", Some(step))[0]["attempt"], 1);
    }
}
