//! Verify in CI: each check's verdict as data in the JSON summary (`checks: [{cluster, check,
//! ok, reason, hint}]`), the failing check's own step failed (not only the final assert), and
//! the human lines on stderr beside the events on stdout.

mod support;

use mcflow_sim::{Fault, Scenario};
use serde_json::Value;
use support::clusters::Linkerd;

#[test]
fn verify_json_lists_every_check_and_fails_the_failing_checks_own_step() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    world.delete_link("production");
    let out = world.mcflow(&["run", "workflows/verify.yaml", "--output", "json"]);
    out.assert_code(1);
    let summary: Value = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .expect("a summary line");
    let checks = summary["checks"].as_array().expect("checks");
    let find = |cluster: &str, check: &str| {
        checks
            .iter()
            .find(|c| c["cluster"] == cluster && c["check"] == check)
            .unwrap_or_else(|| panic!("no {cluster}/{check} in {checks:?}"))
    };
    let link = find("production", "Link internal");
    assert_eq!(link["ok"], false, "{link}");
    assert!(
        link["reason"].as_str().unwrap().contains("not found"),
        "{link}"
    );
    assert_eq!(
        link["hint"],
        "mcflow run workflows/link-spoke.yaml --set spoke=production"
    );
    let fine = find("nonproduction", "Link internal");
    assert_eq!(fine["ok"], true, "{fine}");
    assert_eq!(fine["reason"], Value::Null);
    assert!(checks.iter().any(|c| c["check"] == "multicluster check"));
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "gateway NodePort 30143")
    );
    // The Link check's own step failed.
    let step = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "link[production]")
        .expect("the step");
    assert_eq!(step["status"], "failed", "{step}");
    // People read stderr.
    assert!(out.stderr.contains("✗ link[production]"), "{}", out.stderr);
    assert!(
        out.stderr.contains("FAIL: no Link internal"),
        "{}",
        out.stderr
    );
}

/// `report: summary` (what bootstrap asks for): a cluster's passing checks fold into one row,
/// a failing check keeps its row with its hint, and the count still counts every check; the
/// final assert reads the count, so the run fails.
#[test]
fn verify_summary_report_folds_passing_checks_and_keeps_failures() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    world.delete_link("production");
    let out = world.mcflow(&["run", "workflows/verify.yaml", "--set", "report=summary"]);
    out.assert_code(1);
    let shown = out.all();
    let rows: Vec<&str> = shown
        .lines()
        .skip_while(|l| !l.starts_with("CLUSTER "))
        .take_while(|l| !l.contains("problem(s)"))
        .collect();
    let row = |cluster: &str, check: &str| {
        rows.iter()
            .find(|l| l.starts_with(&format!("{cluster} ")) && l.contains(check))
            .unwrap_or_else(|| panic!("no {cluster} {check} row: {shown}"))
    };
    assert!(row("nonproduction", " checks ").ends_with(" ok"), "{shown}");
    assert!(row("internal", " checks ").ends_with(" ok"), "{shown}");
    let link = row("production", "Link internal");
    assert!(link.contains("FAIL: no Link internal"), "{link}");
    assert!(
        link.contains("link-spoke.yaml --set spoke=production"),
        "{link}"
    );
    // The Link's own failure makes the mirror check fail too; nothing that passed has a row.
    assert!(
        rows.iter()
            .all(|l| !l.ends_with("  ok") || l.contains(" checks ")),
        "{shown}"
    );
    let count = shown
        .lines()
        .find(|l| l.contains("problem(s)"))
        .expect("the count");
    assert!(!count.starts_with("0 "), "{count}");
    assert!(
        count.contains("every check: mcflow run workflows/verify.yaml"),
        "{count}"
    );
    assert!(shown.contains("verification found problems"), "{shown}");
}

/// A drift that could not be looked at is not "ok": with the hub refusing to let mcflow read
/// the spokes' remote-access accounts (RBAC), link-spoke's dry run cannot build the Link, so
/// what it would change on each spoke is unknown; the row says so, with the cause and where to
/// look, and counts as a problem. The exports' drift, on the hub, is still looked at.
#[test]
fn a_drift_that_could_not_be_looked_at_is_a_problem_not_ok() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    world
        .sim
        .cluster("internal")
        .inject_fault(Fault::status("/serviceaccounts/", 403).method("GET"));
    let out = world.mcflow(&["run", "workflows/verify.yaml"]);
    out.assert_code(1);
    let shown = out.all();
    let row = |cluster: &str| drift_row(&shown, cluster);
    for spoke in ["production", "nonproduction"] {
        let r = row(spoke);
        assert!(r.contains("FAIL: drift not known"), "{r}");
        assert!(r.contains("remote_access[ServiceAccount]"), "{r}");
        assert!(r.contains("403"), "{r}");
        assert!(
            r.contains(&format!(
                "mcflow diff workflows/link-spoke.yaml --set spoke={spoke}"
            )),
            "{r}"
        );
    }
    assert!(row("internal").ends_with(" ok"), "{shown}");
    // In the journal, the call's step failed with the same cause.
    let failed = world
        .journal()
        .into_iter()
        .find(|e| e["event"] == "step_failed" && e["step"] == "drift_link[production]")
        .unwrap_or_else(|| panic!("drift_link[production] did not fail: {shown}"));
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("apply_link"), "{error}");
}

/// The other two ways a drift call ends. A write that fails itself (the hub forbids labelling
/// the exported Service) leaves its drift unknown: a problem on the hub's row. Checks that fail
/// after the writes were dry-run (the Link deleted by hand, so the dry run's Link is not there
/// to be read back) leave the drift known: the spoke's row names the Link to create, and the
/// call lists the failed steps in its `failed` output.
#[test]
fn a_failed_write_hides_its_drift_and_failed_checks_after_the_writes_do_not() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    world.delete_link("production");
    world
        .sim
        .cluster("internal")
        .inject_fault(Fault::status("/namespaces/monitoring/services/alloy$", 403));
    let out = world.mcflow(&["run", "workflows/verify.yaml"]);
    out.assert_code(1);
    let shown = out.all();
    let row = |cluster: &str| drift_row(&shown, cluster);
    let hub = row("internal");
    assert!(
        hub.contains("FAIL: export monitoring/alloy: drift not known: the write `label` failed"),
        "{hub}"
    );
    assert!(
        hub.contains(
            "hint: mcflow diff workflows/export-service.yaml --set namespace=monitoring --set service=alloy"
        ),
        "{hub}"
    );
    let production = row("production");
    assert!(
        production.contains("DRIFT: Link linkerd-multicluster/internal (create)"),
        "{production}"
    );
    assert!(row("nonproduction").ends_with(" ok"), "{shown}");
    let journal = world.journal();
    let call = journal
        .iter()
        .find(|e| e["event"] == "step_succeeded" && e["step"] == "drift_link[production]")
        .unwrap_or_else(|| panic!("drift_link[production] did not succeed: {shown}"));
    let failed = call["result"]["outputs"]["failed"]
        .as_array()
        .unwrap_or_else(|| panic!("no failed steps in {call}"));
    assert!(
        failed.iter().any(|f| f["step"] == "link_probe"),
        "{failed:?}"
    );
}

/// The drift row of `cluster` in verify's report.
fn drift_row<'a>(shown: &'a str, cluster: &str) -> &'a str {
    shown
        .lines()
        .find(|l| l.starts_with(&format!("{cluster} ")) && l.contains(" drift "))
        .unwrap_or_else(|| panic!("no {cluster} drift row: {shown}"))
}
