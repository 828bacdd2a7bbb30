//! The diagnostics bundle: a failed bootstrap runs workflows/gather.yaml as its `finally` step,
//! which saves, secrets masked, the multicluster check of every cluster, the Links, the
//! Deployments and Events of linkerd-multicluster and the Argo CD Applications into the run
//! directory; `mcflow show --last --bundle FILE.tar.gz` packs them with the run's summary and
//! journal.

mod support;

use std::collections::BTreeMap;
use std::io::Read;

use mcflow_sim::{Fault, Scenario};
use support::clusters::{LINKERD_TOKEN, Linkerd};

/// The files of a .tar.gz bundle, by path.
fn unpack(path: &std::path::Path) -> BTreeMap<String, String> {
    let file = std::fs::File::open(path).expect("the bundle");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = BTreeMap::new();
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        let name = entry.path().expect("a path").display().to_string();
        let mut text = String::new();
        entry.read_to_string(&mut text).expect("text");
        files.insert(name, text);
    }
    files
}

/// The file of `files` whose path ends with `suffix`.
fn file<'a>(files: &'a BTreeMap<String, String>, suffix: &str) -> &'a str {
    files
        .iter()
        .find(|(k, _)| k.ends_with(suffix))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {suffix} in {:?}", files.keys().collect::<Vec<_>>()))
}

#[test]
fn a_failed_bootstrap_leaves_a_bundle_with_the_check_output_and_the_applications_conditions() {
    let world =
        Linkerd::new(Scenario::linkerd_fresh().chart("https://helm.linkerd.io/stable", "30.12.2"));
    world
        .mcflow(&["run", "workflows/bootstrap.yaml"])
        .assert_code(1);
    let bundle = world.ws.file("diag.tar.gz");
    let out = world.mcflow(&["show", "--last", "--bundle", &bundle.display().to_string()]);
    out.assert_code(0);
    out.stdout_has("diag.tar.gz");
    let files = unpack(&bundle);

    let status = file(&files, "diagnostics/run-status.txt");
    assert!(status.contains("status: failed"), "{status}");
    assert!(status.contains("app_synced"), "{status}");
    // linkerd-multicluster never got installed: the spoke's check says so, in upstream's words.
    let check = file(&files, "diagnostics/production/multicluster-check.txt");
    assert!(
        check.contains("namespace with label \"linkerd.io/extension: multicluster\" not found"),
        "{check}"
    );
    let apps = file(&files, "diagnostics/argocd/applications.json");
    assert!(apps.contains("ComparisonError"), "{apps}");
    assert!(
        apps.contains("version \\\"30.12.2\\\" not found") || apps.contains("30.12.2"),
        "{apps}"
    );
    let summary = file(&files, "summary.txt");
    assert!(summary.contains("app_synced"), "{summary}");
    assert!(files.keys().any(|k| k.ends_with("journal.jsonl")));
    // A run that succeeds gathers nothing.
    world.mcflow(&["run", "workflows/verify.yaml"]);
}

#[test]
fn the_bundle_of_a_failed_link_holds_events_and_links_and_no_token() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    world
        .sim
        .cluster("nonproduction")
        .inject_fault(Fault::status("/namespaces/linkerd-multicluster/", 500).method("PATCH"));
    world
        .mcflow(&["run", "workflows/bootstrap.yaml"])
        .assert_code(1);
    world.sim.cluster("nonproduction").clear_faults();
    let bundle = world.ws.file("diag.tar.gz");
    world
        .mcflow(&["show", "--last", "--bundle", &bundle.display().to_string()])
        .assert_code(0);
    let files = unpack(&bundle);
    // production was linked before nonproduction failed: its Link is in the bundle.
    let links = file(&files, "diagnostics/production/links.json");
    assert!(links.contains("\"kind\": \"Link\""), "{links}");
    // The deployment controller's Events of the multicluster Deployments.
    let events = file(&files, "diagnostics/production/events.json");
    assert!(events.contains("ScalingReplicaSet"), "{events}");
    let deployments = file(&files, "diagnostics/internal/deployments.json");
    assert!(deployments.contains("linkerd-gateway"), "{deployments}");
    assert!(
        deployments.contains("MinimumReplicasAvailable"),
        "{deployments}"
    );
    for (name, text) in &files {
        assert!(!text.contains(LINKERD_TOKEN), "{name} holds the token");
    }
    // gather ran once, as the run's finally step.
    let started = world
        .journal()
        .iter()
        .filter(|e| e["event"] == "step_started" && e["step"] == "gather")
        .count();
    assert_eq!(started, 1);
}
