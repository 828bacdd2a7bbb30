//! The scheduler and executors through the real binary: parallel steps, `needs`, `when`,
//! `continue_on_error`, `for_each` with `concurrency`, a failure stopping its dependents while
//! an independent step finishes, named outputs, nested workflows and a missing program.
//! Order and overlap are read from the journal's events, never from wall-clock thresholds.

mod run_common;

use run_common::{Scenario, events_of, exit_code, texts, wait_for_file, wait_until};
use serde_json::Value;

fn ts(e: &Value) -> &str {
    e["ts"].as_str().expect("an event time")
}

#[test]
fn independent_steps_overlap_and_needs_orders_them() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        r#"name: parallel
steps:
  - { id: a, needs: [], run: [sleep, "1"] }
  - { id: b, needs: [], run: [sleep, "1"] }
  - { id: c, needs: [], run: [sleep, "1"] }
  - { id: d, needs: [], run: [sleep, "1"] }
  - { id: join, needs: [a, b, c, d], run: [echo, joined] }
"#,
    );
    s.mcflow(&["run", "w.yaml"]).assert().success();
    let journal = s.journal();
    let started: Vec<&Value> = journal
        .iter()
        .filter(|e| e["event"] == "step_started" && e["step"] != "join")
        .collect();
    let succeeded: Vec<&Value> = journal
        .iter()
        .filter(|e| e["event"] == "step_succeeded" && e["step"] != "join")
        .collect();
    assert_eq!((started.len(), succeeded.len()), (4, 4));
    // Every one of the four started before any of them ended: they ran at the same time.
    let last_start = started.iter().map(|e| ts(e)).max().unwrap();
    let first_end = succeeded.iter().map(|e| ts(e)).min().unwrap();
    assert!(last_start < first_end, "{last_start} !< {first_end}");
    // `join` waits for all four.
    let join = &events_of(&journal, "step_started", Some("join"))[0];
    let last_end = succeeded.iter().map(|e| ts(e)).max().unwrap();
    assert!(
        last_end <= ts(join),
        "join started at {} before {last_end}",
        ts(join)
    );
}

#[test]
fn steps_wait_for_the_step_above_unless_needs_says_otherwise() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        r#"name: order
steps:
  - id: one
    run: [sh, -c, "echo one >> order"]
  - id: two
    run: [sh, -c, "echo two >> order"]
  - id: three
    run: [sh, -c, "echo three >> order"]
"#,
    );
    s.mcflow(&["run", "w.yaml", "--max-parallel", "4"])
        .assert()
        .success();
    let order = std::fs::read_to_string(s.file("order")).unwrap();
    assert_eq!(order, "one\ntwo\nthree\n");
}

#[test]
fn when_and_continue_on_error() {
    let s = Scenario::new();
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
    let out = s
        .mcflow(&["run", "w.yaml"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, _) = texts(&out);
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

    let s2 = Scenario::new();
    s2.write(
        "w.yaml",
        &std::fs::read_to_string(s.file("w.yaml")).unwrap(),
    );
    s2.mcflow(&["run", "w.yaml", "--set", "env=dev"])
        .assert()
        .success();
    assert_eq!(s2.count("side", "only_dev"), 1);
    assert_eq!(s2.count("side", "saw"), 0);
}

#[test]
fn for_each_runs_an_instance_per_item_within_its_concurrency() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        r#"name: fan
steps:
  - id: fan
    for_each: [east, west, north, south, centre]
    concurrency: 2
    run: [sh, -c, "echo {{ item }} >> side; sleep 0.2"]
  - id: after
    run: [sh, -c, "echo after >> side"]
"#,
    );
    s.mcflow(&["run", "w.yaml"]).assert().success();
    let journal = s.journal();
    let (mut running, mut most) = (0i32, 0i32);
    for e in &journal {
        let Some(step) = e["step"].as_str() else {
            continue;
        };
        if !step.starts_with("fan[") {
            continue;
        }
        match e["event"].as_str().unwrap() {
            "step_started" => running += 1,
            "step_succeeded" | "step_failed" => running -= 1,
            _ => {}
        }
        most = most.max(running);
    }
    assert_eq!(
        most, 2,
        "at most `concurrency` instances at once, and that many"
    );
    for item in ["east", "west", "north", "south", "centre"] {
        assert_eq!(s.count("side", item), 1, "{item}");
        let key = format!("fan[{item}]");
        assert_eq!(s.events("step_succeeded", Some(&key)).len(), 1, "{key}");
    }
    // `after` waits for every instance.
    let after = &events_of(&journal, "step_started", Some("after"))[0];
    assert!(
        journal
            .iter()
            .filter(|e| e["event"] == "step_succeeded" && e["step"] != "after")
            .all(|e| ts(e) <= ts(after))
    );
}

#[test]
fn a_failed_step_stops_its_dependents_while_an_independent_one_finishes() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        &format!(
            r#"name: stop
steps:
  - id: slow
    needs: []
    run: [sh, -c, '{}; echo slow >> side']
  - id: bad
    needs: []
    run: [sh, -c, "echo broken >&2; exit 1"]
  - id: after_bad
    needs: [bad]
    run: [sh, -c, "echo after_bad >> side"]
  - id: after_that
    needs: [after_bad]
    run: [sh, -c, "echo after_that >> side"]
"#,
            wait_for_file("release")
        ),
    );
    let mut run = s.spawn("run", &["run", "w.yaml"]);
    // `bad` fails while `slow` is still running; then `slow` may finish.
    wait_until("`bad` to fail", || s.journal_has("step_failed", "bad", 1));
    assert!(s.events("step_succeeded", Some("slow")).is_empty());
    s.touch("release");
    assert_eq!(exit_code(&mut run), 1, "{:?}", s.output_of("run"));

    assert_eq!(s.count("side", "slow"), 1, "the independent step finished");
    assert_eq!(s.count("side", "after_bad"), 0);
    assert_eq!(s.count("side", "after_that"), 0);
    let skipped = s.events("step_skipped", Some("after_bad"));
    assert!(
        skipped[0]["reason"].as_str().unwrap().contains("`bad`"),
        "{skipped:?}"
    );
    assert!(s.events("step_started", Some("after_that")).is_empty());
    assert_eq!(s.events("run_finished", None)[0]["status"], "failed");
    let (stdout, _) = s.output_of("run");
    assert!(
        stdout.contains("✗ bad: sh exited with 1: broken"),
        "{stdout}"
    );
}

#[test]
fn named_outputs_feed_later_steps() {
    let s = Scenario::new();
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
    s.mcflow(&["run", "w.yaml"]).assert().success();
    let used = std::fs::read_to_string(s.file("used")).unwrap();
    assert_eq!(used.trim(), "stable-2.14.10 hub 4191 ready 0");
    let info = &s.events("step_succeeded", Some("info"))[0];
    assert_eq!(info["result"]["outputs"]["port"], 4191, "{info}");
}

#[test]
fn an_output_that_is_not_found_fails_the_step() {
    let s = Scenario::new();
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
        .assert()
        .code(1)
        .stdout(predicates::str::contains("did not match"));
}

#[test]
fn a_nested_workflow_runs_its_steps_under_the_parent_key() {
    let s = Scenario::new();
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
    s.mcflow(&["run", "w.yaml"]).assert().success();
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
fn a_missing_program_is_a_clear_error_and_is_not_retried() {
    let s = Scenario::new();
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
    let out = s
        .mcflow(&["run", "w.yaml"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let (stdout, _) = texts(&out);
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

#[test]
fn max_parallel_one_runs_independent_steps_one_at_a_time() {
    let s = Scenario::new();
    let step = |id: &str| {
        format!(
            "  - {{ id: {id}, needs: [], run: [sh, -c, 'echo start >> log; sleep 0.1; echo end >> log'] }}\n"
        )
    };
    s.write(
        "w.yaml",
        &format!(
            "name: serial\nsteps:\n{}{}{}",
            step("a"),
            step("b"),
            step("c")
        ),
    );
    s.mcflow(&["run", "w.yaml", "--max-parallel", "1"])
        .assert()
        .success();
    // The processes' own log: with one slot, each ends before the next starts.
    let log = std::fs::read_to_string(s.file("log")).unwrap();
    assert_eq!(log, "start\nend\n".repeat(3));
}
