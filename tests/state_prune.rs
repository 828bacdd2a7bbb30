//! `mcflow state prune` on the local store: old runs go by count (`--keep`) or age
//! (`--older-than`), a running run never, and `--dry-run` deletes nothing.

mod support;

use support::{Workspace, exit_code, exit_or};

const HOLDING: &str = r#"name: holding
params:
  n: { required: true }
steps:
  - id: hold
    run: [sh, -c, 'echo "start {{ params.n }}" >> side; while [ ! -e release-{{ params.n }} ]; do sleep 0.02; done']
"#;

#[test]
fn prune_deletes_old_runs_by_count_and_age_but_never_a_running_one() {
    let w = Workspace::new().no_color();
    w.write("w.yaml", HOLDING);
    for n in ["1", "2"] {
        w.touch(&format!("release-{n}"));
        w.mcflow(&["run", "w.yaml", "--set", &format!("n={n}")])
            .success();
    }
    let mut running = w.spawn("running", &["run", "w.yaml", "--set", "n=3"]);
    assert_eq!(
        exit_or(&mut running, || w.count("side", "start 3") == 1),
        None
    );
    let runs = w.runs();
    assert_eq!(runs.len(), 3);

    // Younger than an hour: nothing is old enough.
    w.mcflow(&["state", "prune", "--older-than", "1h"])
        .success();
    assert_eq!(w.runs().len(), 3);
    w.mcflow(&["state", "prune", "--keep", "0", "--dry-run"])
        .success()
        .stderr_has(&format!("would delete run {}", runs[0]));
    assert_eq!(w.runs().len(), 3);
    w.mcflow(&["state", "prune", "--keep", "1"])
        .success()
        .stderr_has(&format!("deleted run {}", runs[0]))
        .stderr_has(&format!("deleted run {}", runs[1]));
    assert_eq!(w.runs(), [runs[2].clone()]);
    w.mcflow(&["state", "prune", "--keep", "0"])
        .success()
        .stderr_has(&format!("kept run {}: it is running", runs[2]));
    assert_eq!(w.runs().len(), 1);
    w.touch("release-3");
    assert_eq!(exit_code(&mut running), 0);
}
