//! `mcflow diff`: after bootstrap nothing would change (exit 0); after a label is removed from
//! an Argo CD cluster secret, a Link edited by hand and an export unlabelled, it names each
//! change (exit 1); it writes nothing (the clusters served only reads and dry-run writes) and
//! never shows a token.

mod support;

use mcflow_sim::{RequestRecord, Scenario};
use serde_json::{Value, json};
use support::Workspace;
use support::clusters::{CLUSTERS, LINKERD_TOKEN, Linkerd, start_blocking};

/// Requests that are neither reads nor dry runs, on every cluster.
fn real_writes(world: &Linkerd) -> Vec<String> {
    let dry = |r: &RequestRecord| r.query.split('&').any(|p| p == "dryRun=All");
    CLUSTERS
        .iter()
        .flat_map(|c| {
            world
                .sim
                .cluster(c)
                .request_log()
                .into_iter()
                .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD") && !dry(r))
                .map(move |r| format!("{c}: {} {}?{}", r.method, r.path, r.query))
        })
        .collect()
}

fn clear_logs(world: &Linkerd) {
    for c in CLUSTERS {
        world.sim.cluster(c).clear_request_log();
    }
}

fn bootstrapped() -> Linkerd {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    clear_logs(&world);
    world
}

#[test]
fn after_bootstrap_nothing_would_change_and_nothing_is_written() {
    let world = bootstrapped();
    let out = world.mcflow(&["diff", "workflows/bootstrap.yaml"]);
    out.assert_code(0);
    out.stdout_has("no changes");
    world
        .mcflow(&[
            "diff",
            "workflows/link-spoke.yaml",
            "--set",
            "spoke=production",
        ])
        .assert_code(0);
    assert_eq!(real_writes(&world), Vec::<String>::new());
    // The diff's dry runs did reach the servers.
    let dry_runs = world
        .sim
        .cluster("production")
        .request_log()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.query.contains("dryRun=All"))
        .count();
    assert!(dry_runs > 0, "no dry-run apply was sent");
    assert!(!out.all().contains(LINKERD_TOKEN));
    // A diff is not a run: `runs` does not list it, `resume --last` does not pick it.
    let runs = world.mcflow(&["runs"]);
    assert_eq!(
        runs.stdout.matches("bootstrap").count(),
        1,
        "{}",
        runs.stdout
    );
}

#[test]
fn drift_is_named_field_by_field_with_exit_1_and_nothing_written() {
    let world = bootstrapped();
    let hub = world.sim.cluster("internal");
    let secret = Scenario::argocd_secret_name("production");
    hub.merge_patch(
        "v1",
        "Secret",
        "argocd",
        &secret,
        json!({"metadata": {"labels": {"spydersoft.io/linkerd-multicluster": null}}}),
    )
    .expect("unlabel the cluster secret");
    world
        .sim
        .cluster("production")
        .merge_patch(
            "multicluster.linkerd.io/v1alpha3",
            "Link",
            "linkerd-multicluster",
            "internal",
            json!({"spec": {"gatewayAddress": "edited-by-hand.example"}}),
        )
        .expect("edit the Link");
    hub.merge_patch(
        "v1",
        "Service",
        "monitoring",
        "alloy",
        json!({"metadata": {"labels": {"mirror.linkerd.io/exported": null}}}),
    )
    .expect("unexport alloy");
    clear_logs(&world);

    let out = world.mcflow(&["diff", "workflows/bootstrap.yaml"]);
    out.assert_code(1);
    let shown = &out.stdout;
    for needle in [
        &format!("internal Secret argocd/{secret} (live)"),
        "@@ metadata.labels[\"spydersoft.io/linkerd-multicluster\"] @@\n+true",
        "production Link linkerd-multicluster/internal (live)",
        "@@ spec.gatewayAddress @@\n-edited-by-hand.example\n+",
        "internal Service monitoring/alloy (live)",
        "@@ metadata.labels[\"mirror.linkerd.io/exported\"] @@\n+true",
    ] {
        assert!(shown.contains(needle), "missing {needle:?} in:\n{shown}");
    }
    // The Link field now belongs to another manager: a real run would conflict.
    assert!(
        shown.contains("spec.gatewayAddress is managed by"),
        "{shown}"
    );
    assert!(!out.all().contains(LINKERD_TOKEN));
    assert_eq!(real_writes(&world), Vec::<String>::new());

    // As JSON: one object per step.
    let json = world.mcflow(&["--output", "json", "diff", "workflows/bootstrap.yaml"]);
    json.assert_code(1);
    let lines: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let link = lines
        .iter()
        .find(|l| l["step"] == "link[production].apply_link")
        .expect("the Link's step");
    assert_eq!(link["changed"], true);
    assert!(link.to_string().contains("spec.gatewayAddress"), "{link}");
    assert!(!json.all().contains(LINKERD_TOKEN));

    // verify has a drift row per cluster, from the same dry runs.
    let verify = world.mcflow(&["run", "workflows/verify.yaml"]);
    verify.assert_code(1);
    let table = &verify.stdout;
    let row = |cluster: &str| {
        table
            .lines()
            .find(|l| l.starts_with(cluster) && l.contains(" drift "))
            .unwrap_or_else(|| panic!("no drift row for {cluster}:\n{table}"))
            .to_string()
    };
    assert!(
        row("production")
            .contains("DRIFT: Link linkerd-multicluster/internal (spec.gatewayAddress)"),
        "{table}"
    );
    assert!(
        row("internal")
            .contains("Service monitoring/alloy (metadata.labels[\"mirror.linkerd.io/exported\"])"),
        "{table}"
    );
    assert!(row("nonproduction").ends_with(" ok"), "{table}");
    assert_eq!(real_writes(&world), Vec::<String>::new());
}

#[test]
fn a_new_token_from_link_gen_is_said_not_counted_and_never_shown() {
    let world = bootstrapped();
    let out = world.mcflow_with(
        &[
            "diff",
            "workflows/link-spoke.yaml",
            "--set",
            "spoke=production",
        ],
        &[("FAKE_LINKERD_TOKEN", "another-token-c0ffee")],
    );
    out.assert_code(0);
    out.stdout_has("a new service-account token");
    let all = out.all();
    assert!(
        !all.contains("c0ffee") && !all.contains(LINKERD_TOKEN),
        "{all}"
    );
}

#[test]
fn diff_is_a_usage_error_without_a_workflow_or_with_a_bad_param() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    world.mcflow(&["diff"]).assert_code(2);
    world
        .mcflow(&[
            "diff",
            "workflows/link-spoke.yaml",
            "--set",
            "spoke=nowhere",
        ])
        .assert_code(2)
        .stderr_has("param `spoke` is `nowhere`, which is not one of");
}

/// A write that fails before any attempt (its `for_each` is not a list) leaves what it would
/// change as unknown as one whose dry run fails: the `diff: true` call fails with "drift not
/// known", never "nothing would change".
#[test]
fn a_write_failing_before_its_attempt_makes_the_drift_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_blocking(dir.path(), &["internal"]);
    let w = Workspace::new()
        .kubeconfig(sim.kubeconfig_path())
        .no_color();
    w.write(
        "child.yaml",
        r#"name: child
params:
  names: { default: "one" }
steps:
  - id: config
    for_each: "{{ params.names }}"
    kube:
      context: internal
      apply:
        manifest: |
          apiVersion: v1
          kind: ConfigMap
          metadata: { name: "{{ item }}", namespace: default }
"#,
    );
    w.write(
        "parent.yaml",
        "name: parent\nsteps:\n  - id: drift\n    workflow: { path: child.yaml, diff: true }\n",
    );
    let out = w.mcflow(&["run", "parent.yaml"]);
    out.assert_code(1);
    let failed = w.events("step_failed", Some("drift"));
    let error = failed
        .first()
        .and_then(|e| e["error"].as_str())
        .unwrap_or_else(|| panic!("the call did not fail: {}", out.all()));
    assert!(
        error.starts_with("drift not known: the write `config` failed: for_each"),
        "{error}"
    );
}

/// Each call's `changes` are its own workflow's: a call inside a level run as a diff shares
/// that level's log but does not list the writes beside it, and a `diff: true` call's changes
/// are also its caller's.
#[test]
fn a_calls_changes_are_its_own_workflows_and_reach_its_caller() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_blocking(dir.path(), &["internal"]);
    let w = Workspace::new()
        .kubeconfig(sim.kubeconfig_path())
        .no_color();
    let config_map = |name: &str| {
        format!(
            "name: {name}\nsteps:\n  - id: apply\n    kube:\n      context: internal\n      apply:\n        manifest: |\n          apiVersion: v1\n          kind: ConfigMap\n          metadata: {{ name: {name}, namespace: default }}\n"
        )
    };
    w.write("beside.yaml", &config_map("beside"));
    w.write("shared.yaml", &config_map("shared"));
    w.write("own.yaml", &config_map("own"));
    w.write(
        "middle.yaml",
        "name: middle\nsteps:\n  - id: beside\n    workflow: { path: beside.yaml }\n  - id: shared\n    workflow: { path: shared.yaml }\n  - id: own\n    workflow: { path: own.yaml, diff: true }\n",
    );
    w.write(
        "top.yaml",
        "name: top\nsteps:\n  - id: middle\n    workflow: { path: middle.yaml, diff: true }\n",
    );
    let out = w.mcflow(&["run", "top.yaml"]);
    out.success();
    let objects = |step: &str| -> Vec<String> {
        let ended = w.events("step_succeeded", Some(step));
        let e = ended
            .first()
            .unwrap_or_else(|| panic!("{step} did not succeed: {}", out.all()));
        let mut names: Vec<String> = e["result"]["outputs"]["changes"]
            .as_array()
            .unwrap_or_else(|| panic!("no changes in {e}"))
            .iter()
            .map(|c| c["object"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(objects("middle.shared"), ["ConfigMap default/shared"]);
    assert_eq!(objects("middle.own"), ["ConfigMap default/own"]);
    assert_eq!(
        objects("middle"),
        [
            "ConfigMap default/beside",
            "ConfigMap default/own",
            "ConfigMap default/shared"
        ]
    );
}
