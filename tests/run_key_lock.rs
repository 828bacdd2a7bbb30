//! The run-key lock of the local store: two runs of the same workflow with the same params on
//! one machine do not run at once (the second exits 3 naming the holder, or queues with
//! `--wait-lock`); other params run side by side.

mod support;

use support::{Workspace, exit_code, exit_or};

/// A run that holds until `release` exists; `spoke` picks its target.
const HOLDING: &str = r#"name: link
params:
  spoke: { required: true }
steps:
  - id: hold
    run: [sh, -c, 'echo "start {{ params.spoke }}" >> side; while [ ! -e release ]; do sleep 0.02; done; echo "done {{ params.spoke }}" >> side']
"#;

fn holding(w: &Workspace) -> impl FnMut() -> bool + '_ {
    || w.count("side", "start production") == 1
}

#[test]
fn a_second_run_of_the_same_key_exits_3_naming_the_holder_and_other_keys_run() {
    let w = Workspace::new().no_color();
    w.write("w.yaml", HOLDING);
    let mut first = w.spawn("first", &["run", "w.yaml", "--set", "spoke=production"]);
    assert_eq!(
        exit_or(&mut first, holding(&w)),
        None,
        "the first run ended"
    );

    let second = w.mcflow(&["run", "w.yaml", "--set", "spoke=production"]);
    second.assert_code(3);
    second
        .stderr_has("`link spoke=production` is being run by ")
        .stderr_has(&format!("pid {}", first.id()))
        .stderr_has(&format!("(run {})", w.runs()[0]))
        .stderr_has("--wait-lock");
    // Refused before anything ran: no second run, no second start.
    assert_eq!(w.runs().len(), 1);
    assert_eq!(w.count("side", "start production"), 1);

    // Another target is another key: it runs while the first holds.
    w.touch("release");
    w.mcflow(&["run", "w.yaml", "--set", "spoke=nonproduction"])
        .success();
    assert_eq!(exit_code(&mut first), 0);
}

#[test]
fn wait_lock_queues_until_the_holder_ends() {
    let w = Workspace::new().no_color();
    w.write("w.yaml", HOLDING);
    let mut first = w.spawn("first", &["run", "w.yaml", "--set", "spoke=production"]);
    assert_eq!(
        exit_or(&mut first, holding(&w)),
        None,
        "the first run ended"
    );
    let mut queued = w.spawn(
        "queued",
        &[
            "run",
            "w.yaml",
            "--set",
            "spoke=production",
            "--wait-lock",
            "60s",
        ],
    );
    // Queued: it says so, and its step does not start while the first holds.
    assert_eq!(
        exit_or(&mut queued, || w
            .output_of("queued")
            .1
            .contains("waiting up to")),
        None,
        "the queued run gave up: {:?}",
        w.output_of("queued")
    );
    let said = w.output_of("queued").1;
    assert!(
        said.contains("for `link spoke=production`, which ")
            && said.contains(&format!("pid {}", first.id())),
        "{said}"
    );
    assert_eq!(w.runs().len(), 1);
    assert_eq!(w.count("side", "start production"), 1);
    w.touch("release");
    assert_eq!(exit_code(&mut first), 0);
    assert_eq!(exit_code(&mut queued), 0, "{:?}", w.output_of("queued"));
    assert_eq!(
        w.lines("side"),
        [
            "start production",
            "done production",
            "start production",
            "done production"
        ]
    );
}

#[test]
fn target_params_make_the_key_so_other_params_do_not_escape_the_lock() {
    let w = Workspace::new().no_color();
    w.write(
        "w.yaml",
        &HOLDING.replace(
            "  spoke: { required: true }",
            "  spoke: { required: true, target: true }\n  mode: { default: auto }",
        ),
    );
    let mut first = w.spawn("first", &["run", "w.yaml", "--set", "spoke=production"]);
    assert_eq!(
        exit_or(&mut first, holding(&w)),
        None,
        "the first run ended"
    );
    w.mcflow(&[
        "run",
        "w.yaml",
        "--set",
        "spoke=production",
        "--set",
        "mode=link",
    ])
    .assert_code(3)
    .stderr_has("`link spoke=production` is being run by ");
    w.touch("release");
    assert_eq!(exit_code(&mut first), 0);
    // The key is in the journal, so a resume (here of a finished run: refused) takes the same.
    let started = &w.events("run_started", None)[0];
    assert_eq!(started["target_params"], serde_json::json!(["spoke"]));
}
