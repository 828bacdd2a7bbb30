//! The scheduler through the real binary: independent steps overlap, `needs` and the step
//! above order them, `--max-parallel` slots are taken before a step is journaled as started,
//! `for_each` keeps within its `concurrency`, and after a failure nothing new starts while
//! running steps finish. Order and overlap are read from the journal's events (or the
//! processes' own log), never from wall-clock thresholds.

mod support;

use serde_json::Value;
use support::{Workspace, events_of, exit_code, wait_for_file, wait_until};

/// A shell snippet that waits until `n` steps have marked their start (`started-*` files): a
/// barrier that makes overlap certain instead of likely.
fn started_at_least(n: usize) -> String {
    format!("while [ $(ls | grep -c ^started-) -lt {n} ]; do sleep 0.02; done")
}

fn ts(e: &Value) -> &str {
    e["ts"].as_str().expect("an event time")
}

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
fn independent_steps_overlap_and_needs_orders_them() {
    let s = Workspace::new();
    // Each of the four marks its start and ends only once all four have started: run one at a
    // time, they would time out.
    let step = |id: &str| {
        format!(
            "  - {{ id: {id}, needs: [], timeout: 30s, run: [sh, -c, 'touch started-{id}; {}'] }}\n",
            started_at_least(4)
        )
    };
    s.write(
        "w.yaml",
        &format!(
            "name: parallel\nsteps:\n{}{}{}{}  - {{ id: join, needs: [a, b, c, d], run: [echo, joined] }}\n",
            step("a"),
            step("b"),
            step("c"),
            step("d")
        ),
    );
    s.mcflow(&["run", "w.yaml"]).success();
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
    let s = Workspace::new();
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
        .success();
    let order = std::fs::read_to_string(s.file("order")).unwrap();
    assert_eq!(order, "one\ntwo\nthree\n");
}

#[test]
fn max_parallel_one_runs_independent_steps_one_at_a_time() {
    let s = Workspace::new();
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
        .success();
    // The processes' own log: with one slot, each ends before the next starts.
    let log = std::fs::read_to_string(s.file("log")).unwrap();
    assert_eq!(log, "start\nend\n".repeat(3));
}

#[test]
fn a_step_waiting_for_a_slot_is_not_journaled_as_started() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        "name: slots\nsteps:\n  - { id: a, needs: [], run: [sh, -c, 'echo a'] }\n  - { id: b, needs: [], run: [sh, -c, 'echo b'] }\n  - { id: c, needs: [], run: [sh, -c, 'echo c'] }\n",
    );
    s.mcflow(&["run", "w.yaml", "--max-parallel", "1", "-q"])
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
fn for_each_runs_an_instance_per_item_within_its_concurrency() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        &r#"name: fan
steps:
  - id: fan
    for_each: [east, west, north, south, centre]
    concurrency: 2
    timeout: 30s
    run: [sh, -c, "echo {{ item }} >> side; touch started-{{ item }}; STARTED"]
  - id: after
    run: [sh, -c, "echo after >> side"]
"#
        .replace("STARTED", &started_at_least(2)),
    );
    s.mcflow(&["run", "w.yaml"]).success();
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
    let s = Workspace::new();
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
fn nothing_new_starts_after_a_failure_but_running_steps_finish() {
    // `slow` ends only once `bad`'s failure is in the journal: its end cannot be handled first
    // (with `touch go; exit 1` in `bad`, a loaded machine could let `slow` see `go` and end
    // before `bad`'s shell had exited).
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: fail-fast
steps:
  - id: slow
    needs: []
    run: [sh, -c, 'while ! grep -qs step_failed state/runs/*/journal.jsonl; do sleep 0.02; done; echo done >> slow.log']
  - id: bad
    needs: []
    run: [sh, -c, 'exit 1']
  - id: after_slow
    needs: [slow]
    run: [sh, -c, 'echo ran >> after.log']
"#,
    );
    s.mcflow(&["run", "w.yaml", "-q"]).assert_code(1);
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
