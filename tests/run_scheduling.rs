//! Scheduling rules seen in the journal: `--max-parallel` slots are taken before a step is
//! journaled as started, and nothing new starts once a step has failed.

mod run_common;

use run_common::{Scenario, events_of};

/// The order of `step_started` / `step_succeeded` events, as `(event, step)` pairs.
fn timeline(journal: &[serde_json::Value]) -> Vec<(String, String)> {
    journal
        .iter()
        .filter(|e| matches!(e["event"].as_str(), Some("step_started" | "step_succeeded")))
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_string(),
                e["step"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_step_waiting_for_a_slot_is_not_journaled_as_started() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        "name: slots\nsteps:\n  - { id: a, needs: [], run: [sh, -c, 'echo a'] }\n  - { id: b, needs: [], run: [sh, -c, 'echo b'] }\n  - { id: c, needs: [], run: [sh, -c, 'echo c'] }\n",
    );
    s.mcflow(&["run", "w.yaml", "--max-parallel", "1", "-q"])
        .assert()
        .success();
    let t = timeline(&s.journal());
    // With one slot, every start follows the previous step's end.
    for pair in t.chunks(2) {
        assert_eq!(pair[0].0, "step_started", "{t:?}");
        assert_eq!(pair[1].0, "step_succeeded", "{t:?}");
        assert_eq!(pair[0].1, pair[1].1, "{t:?}");
    }
    assert_eq!(t.len(), 6, "{t:?}");
}

#[test]
fn nothing_new_starts_after_a_failure_but_running_steps_finish() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        r#"name: fail-fast
steps:
  - id: slow
    needs: []
    run: [sh, -c, 'while [ ! -f go ]; do sleep 0.02; done; echo done >> slow.log']
  - id: bad
    needs: []
    run: [sh, -c, 'touch go; exit 1']
  - id: after_slow
    needs: [slow]
    run: [sh, -c, 'echo ran >> after.log']
"#,
    );
    s.mcflow(&["run", "w.yaml", "-q"]).assert().code(1);
    let journal = s.journal();
    assert_eq!(events_of(&journal, "step_succeeded", Some("slow")).len(), 1);
    assert!(events_of(&journal, "step_started", Some("after_slow")).is_empty());
    let skipped = events_of(&journal, "step_skipped", Some("after_slow"));
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("`bad` failed"),
        "{skipped:?}"
    );
    assert!(!s.file("after.log").exists());
}

/// On resume, a step that reads a sensitive output and runs again (because a dependency of its
/// runs again) gets that output: the sensitive producer runs again too.
#[test]
fn a_rerun_reader_of_a_sensitive_output_gets_it_again() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        r#"name: sensitive-rerun
steps:
  - id: secret
    needs: []
    run: [sh, -c, 'echo s3cret-value; echo x >> producer.count']
    sensitive: true
  - id: flaky
    needs: []
    continue_on_error: true
    run: [sh, -c, 'test -f fixed']
  - id: reader
    needs: [secret, flaky]
    run: [sh, -c, 'printf "%s\n" "$0" >> reader.log', "{{ steps.secret.stdout | trim }}"]
  - id: gate
    needs: [reader]
    run: [sh, -c, 'test -f fixed']
"#,
    );
    s.mcflow(&["run", "w.yaml", "-q"]).assert().code(1);
    s.touch("fixed");
    s.mcflow(&["resume", "--last", "-q"]).assert().success();
    let log = std::fs::read_to_string(s.file("reader.log")).unwrap();
    assert_eq!(
        log, "s3cret-value\ns3cret-value\n",
        "the reader ran twice, both times with the secret"
    );
    assert_eq!(s.count("producer.count", "x"), 2);
}

/// Every byte mcflow left: stdout, stderr and every file in the state directory.
fn everything(s: &Scenario, out: &std::process::Output) -> String {
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    for (_, bytes) in s.state_files() {
        all.push_str(&String::from_utf8_lossy(&bytes));
    }
    all
}

#[test]
fn a_sensitive_param_never_shows_even_in_a_failing_steps_error() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        "name: p\nparams:\n  token: { sensitive: true, required: true }\nsteps:\n  - id: use\n    run: [sh, -c, 'echo \"bad $0\" >&2; exit 1', \"{{ params.token }}\"]\n",
    );
    for mode in ["plain", "json"] {
        let out = s
            .mcflow(&["run", "w.yaml", "--set", "token=tkn42", "-o", mode])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(!everything(&s, &out).contains("tkn42"), "leaked in {mode}");
    }
    let show = s.mcflow(&["show", "--last"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&show.stdout).contains("tkn42"));
}

#[test]
fn a_value_derived_from_a_secret_stays_out_of_errors_and_outputs() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        r#"name: derived
steps:
  - id: secret
    run: [sh, -c, 'echo SECRETVALUEXYZ-abcdef']
    sensitive: true
  - id: copy
    needs: [secret]
    run: [sh, -c, 'echo SECRETVALUEXYZ-abcdef']
    outputs: { v: { regex: '(\S+)' } }
  - id: derived
    needs: [secret, copy]
    run: [sh, -c, 'echo "cannot use $0" >&2; exit 1', "{{ steps.secret.stdout | trim | replace('-', '_') }}"]
"#,
    );
    let out = s.mcflow(&["run", "w.yaml", "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = everything(&s, &out);
    assert!(
        !all.contains("SECRETVALUEXYZ_abcdef"),
        "derived value leaked"
    );
    assert!(
        !all.contains("SECRETVALUEXYZ-abcdef"),
        "secret leaked through outputs"
    );
}

#[test]
fn resume_does_not_reuse_a_success_that_a_later_attempt_replaced() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        r#"name: stale
steps:
  - id: a
    needs: []
    continue_on_error: true
    run: [sh, -c, 'test -f a_ok']
  - id: b
    needs: [a]
    run: [sh, -c, 'if [ -f a_ok ] && [ ! -f b_ok ]; then exit 1; fi; echo ran >> b.log']
  - id: c
    needs: [b]
    run: [sh, -c, 'test -f c_ok']
"#,
    );
    s.mcflow(&["run", "w.yaml", "-q"]).assert().code(1); // a fails (allowed), b ok, c fails
    s.touch("a_ok");
    s.mcflow(&["resume", "--last", "-q"]).assert().code(1); // a ok, so b runs again and fails
    s.touch("b_ok");
    s.touch("c_ok");
    s.mcflow(&["resume", "--last", "-q"]).assert().success(); // b must run, not be reused
    assert_eq!(s.count("b.log", "ran"), 2);
}

#[test]
fn for_each_items_with_one_key_are_refused() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        "name: dup\nsteps:\n  - id: e\n    for_each: [{name: web, ns: a}, {name: web, ns: b}]\n    run: [echo, '{{ item.ns }}']\n",
    );
    let out = s.mcflow(&["run", "w.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("two items have the key `e[web]`"));
}

#[test]
fn a_dry_run_cannot_be_resumed_for_real() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        "name: d\nsteps:\n  - id: x\n    run: [sh, -c, 'test -f ok']\n",
    );
    s.mcflow(&["run", "w.yaml", "--dry-run", "-q"])
        .assert()
        .code(1);
    let out = s.mcflow(&["resume", "--last"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was a --dry-run run"));
}

#[test]
fn a_nested_workflow_run_again_runs_its_steps_again() {
    let s = Scenario::new();
    s.write(
        "child.yaml",
        "name: child\nparams:\n  x: { required: true }\nsteps:\n  - id: record\n    run: [sh, -c, 'echo \"$0\" >> out.txt', '{{ params.x }}']\n",
    );
    s.write(
        "w.yaml",
        r#"name: parent
steps:
  - id: a
    needs: []
    continue_on_error: true
    run: [sh, -c, 'test -f a_ok']
  - id: w
    needs: [a]
    workflow: { path: child.yaml, with: { x: "{{ steps.a.status }}" } }
  - id: gate
    needs: [w]
    run: [sh, -c, 'test -f a_ok']
"#,
    );
    s.mcflow(&["run", "w.yaml", "-q"]).assert().code(1);
    s.touch("a_ok");
    s.mcflow(&["resume", "--last", "-q"]).assert().success();
    let out = std::fs::read_to_string(s.file("out.txt")).unwrap();
    assert_eq!(out, "failed\nsucceeded\n");
}
