//! Resume runs the steps that only read again (kube `get` and `wait`, `assert`, `print`, and
//! `run`/`linkerd` steps marked `read_only`), so a resumed verify reports the clusters as they
//! are now; the writes keep their earlier success.

mod support;

use mcflow_sim::Scenario;
use support::Workspace;
use support::clusters::Linkerd;

#[test]
fn a_resumed_verify_reports_the_clusters_as_they_are_now() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    // The Link on production goes: verify fails, saying so.
    world.delete_link("production");
    let failed = world.mcflow(&["run", "workflows/verify.yaml"]);
    failed.assert_code(1);
    assert!(
        failed.all().contains("FAIL: no Link internal"),
        "{}",
        failed.all()
    );
    // The user links it again, then resumes the failed verify (`--last` finds it).
    world
        .mcflow(&[
            "run",
            "workflows/link-spoke.yaml",
            "--set",
            "spoke=production",
        ])
        .assert_code(0);
    let resumed = world.mcflow(&["resume", "--last"]);
    let shown = resumed.all();
    resumed.assert_code(0);
    assert!(shown.contains("0 problem(s)"), "{shown}");
    assert!(!shown.contains("FAIL:"), "{shown}");
}

#[test]
fn resume_runs_reads_again_and_keeps_succeeded_writes() {
    let ws = Workspace::new().no_color();
    ws.write(
        "w.yaml",
        r#"name: mixed
steps:
  - id: write
    run: [sh, -c, "echo write >> side"]
  - id: query
    run: [sh, -c, "echo query >> side"]
    read_only: true
  - id: gate
    run: [sh, -c, "echo gate >> side; test -e ok"]
    retry: { attempts: 1 }
"#,
    );
    ws.mcflow(&["run", "w.yaml"]).assert_code(1);
    ws.touch("ok");
    ws.mcflow(&["resume", "--last"]).success();
    assert_eq!(
        ws.count("side", "write"),
        1,
        "a succeeded write is not repeated"
    );
    assert_eq!(ws.count("side", "query"), 2, "a read runs again");
    assert_eq!(ws.count("side", "gate"), 2);
}
