//! The JSON event schema is published (`mcflow schema --events`), and the events mcflow writes
//! fit it. (Every other test checks its own events too: see tests/support/events.rs.)

mod support;

use support::Workspace;
use support::events::{check_event, check_journals};

#[test]
fn the_event_schema_is_published_and_every_kind_of_event_fits_it() {
    let ws = Workspace::new().no_color();
    let schema = ws.mcflow(&["schema", "--events"]);
    schema.success();
    let published: serde_json::Value = serde_json::from_str(&schema.stdout).expect("JSON");
    assert_eq!(published, mcflow::journal::events_schema());
    assert_eq!(published["title"], "mcflow event");

    // A run with every kind of event: started, retried, failed, skipped, succeeded, reused,
    // resumed, finished.
    ws.write(
        "w.yaml",
        &format!(
            "name: kinds\nsteps:\n  - id: ok\n    run: [echo, hi]\n  - id: skipped\n    when: 'false'\n    run: [echo, no]\n  - id: flaky\n    run: [sh, -c, '{}']\n    retry: {{ attempts: 2, delay: 10ms }}\n",
            support::fail_until("n", 4)
        ),
    );
    let json = ws.mcflow(&["run", "w.yaml", "--output", "json"]);
    json.assert_code(1);
    // Human text goes to stderr with --output json, as the README says.
    assert!(json.stderr.contains("✗ flaky"), "{}", json.stderr);
    assert!(
        json.stdout.lines().all(|l| l.starts_with('{')),
        "{}",
        json.stdout
    );
    ws.mcflow(&["resume", "--last"]).assert_code(0);
    let kinds: std::collections::BTreeSet<String> = ws
        .journal()
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect();
    for kind in [
        "run_started",
        "step_started",
        "attempt_failed",
        "step_failed",
        "step_skipped",
        "step_succeeded",
        "step_reused",
        "run_resumed",
        "run_finished",
    ] {
        assert!(kinds.contains(kind), "{kind} not produced: {kinds:?}");
    }
    assert!(check_journals(&ws.state_dir()) >= 15);

    // Not vacuous: an event outside the schema is refused.
    let bad = serde_json::json!({"ts": "t", "event": "step_started", "step": 3});
    assert!(check_event(&bad).is_err());
    let unknown = serde_json::json!({"ts": "t", "event": "step_exploded", "step": "a"});
    assert!(check_event(&unknown).is_err());
}
