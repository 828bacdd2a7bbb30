//! The Linkerd workflows end to end on three simulated clusters (internal, production,
//! nonproduction) with the fake linkerd: the repository's own workflows/ and config/, run by the
//! real binary from the repository root.

mod support;

use mcflow_sim::{Fault, LinkerdVersion, Scenario};
use serde_json::Value;
use support::clusters::{CLUSTERS, Linkerd, SPOKES, edited_config};

fn steps_started_after(events: &[Value], marker: &str) -> Vec<String> {
    let start = events
        .iter()
        .rposition(|e| e["event"] == marker)
        .expect("marker event");
    events[start..]
        .iter()
        .filter(|e| e["event"] == "step_started")
        .map(|e| e["step"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn assert_linked_and_mirrored(world: &Linkerd) {
    for spoke in SPOKES {
        let c = world.sim.cluster(spoke);
        let links = c
            .list(
                "multicluster.linkerd.io/v1alpha3",
                "Link",
                Some("linkerd-multicluster"),
                "",
            )
            .expect("list links");
        assert_eq!(links.len(), 1, "{spoke} has exactly one Link");
        let mirror = c
            .get("v1", "Service", "monitoring", "alloy-internal")
            .unwrap_or_else(|| panic!("alloy-internal mirrored on {spoke}"));
        assert_eq!(
            mirror["metadata"]["labels"]["mirror.linkerd.io/mirrored-service"],
            "true"
        );
    }
}

#[test]
fn fresh_bootstrap_links_both_spokes_and_mirrors_alloy_then_a_rerun_changes_nothing() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    let out = world.mcflow(&["run", "workflows/bootstrap.yaml"]);
    out.assert_code(0);
    let shown = out.all();
    assert!(shown.contains("0 problem(s)"), "verify table: {shown}");
    assert!(shown.contains("journal: "), "{shown}");
    assert_linked_and_mirrored(&world);

    // The Argo CD cluster secrets were found by their decoded name and labelled.
    let hub = world.sim.cluster("internal");
    for spoke in SPOKES {
        let name = Scenario::argocd_secret_name(spoke);
        let secret = hub
            .get("v1", "Secret", "argocd", &name)
            .expect("cluster secret");
        assert_eq!(
            secret["metadata"]["labels"]["spydersoft.io/linkerd-multicluster"],
            "true"
        );
    }

    let before = world.resource_versions();
    let again = world.mcflow(&["run", "workflows/bootstrap.yaml"]);
    again.assert_code(0);
    assert_eq!(
        world.resource_versions(),
        before,
        "a second bootstrap changes nothing"
    );
    assert_linked_and_mirrored(&world);
}

/// A resume runs the preflight's reads again (they only read: the clusters as they are now)
/// but none of the writes that succeeded (the labels, production's link).
#[test]
fn a_failing_link_fails_the_run_and_resume_rechecks_but_does_not_redo_the_writes_or_production() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    // The nonproduction spoke refuses every write to linkerd-multicluster objects.
    world
        .sim
        .cluster("nonproduction")
        .inject_fault(Fault::status("/namespaces/linkerd-multicluster/", 500).method("PATCH"));
    let out = world.mcflow(&["run", "workflows/bootstrap.yaml"]);
    out.assert_code(1);
    let shown = out.all();
    assert!(shown.contains("link[nonproduction].apply_link"), "{shown}");

    world.sim.cluster("nonproduction").clear_faults();
    let resumed = world.mcflow(&["resume", "--last"]);
    resumed.assert_code(0);
    let started = steps_started_after(&world.journal(), "run_resumed");
    assert!(
        started.iter().all(|s| !s.starts_with("label_")
            && !s.starts_with("create_hub_secret")
            && !s.starts_with("link[production]")),
        "resume re-ran finished writes: {started:?}"
    );
    assert!(
        started.iter().any(|s| s.starts_with("reachable")),
        "the preflight's reads run again: {started:?}"
    );
    assert!(
        started.iter().any(|s| s.starts_with("link[nonproduction]")),
        "{started:?}"
    );
    assert_linked_and_mirrored(&world);
}

#[test]
fn a_foreign_trust_anchor_fails_preflight_with_fingerprints_and_writes_nothing() {
    let world = Linkerd::new(Scenario::linkerd_fresh().foreign_trust_roots("production"));
    for c in CLUSTERS {
        world.sim.cluster(c).clear_request_log();
    }
    let out = world.mcflow(&["run", "workflows/bootstrap.yaml"]);
    out.assert_code(1);
    let shown = out.all();
    assert!(
        shown.contains("production does not share the hub's trust anchor"),
        "{shown}"
    );
    // Both fingerprints: 64 hex digits for internal and for production.
    let fp = regex::Regex::new(r"internal=[0-9a-f]{64}.*production=[0-9a-f]{64}").unwrap();
    assert!(fp.is_match(&shown.replace('\n', " ")), "{shown}");
    for c in CLUSTERS {
        let writes: Vec<_> = world
            .sim
            .cluster(c)
            .request_log()
            .into_iter()
            .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
            .collect();
        assert!(writes.is_empty(), "{c} saw writes: {writes:?}");
    }
}

#[test]
fn verify_reports_a_missing_mirror_with_a_hint() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    // Stop exporting alloy: the mirrors go away.
    world
        .sim
        .cluster("internal")
        .merge_patch(
            "v1",
            "Service",
            "monitoring",
            "alloy",
            serde_json::json!({"metadata": {"labels": {"mirror.linkerd.io/exported": null}}}),
        )
        .expect("unexport");
    world
        .sim
        .cluster("production")
        .wait_until(std::time::Duration::from_secs(10), |c| {
            c.get("v1", "Service", "monitoring", "alloy-internal")
                .is_none()
        })
        .then_some(())
        .expect("mirror removed");
    let out = world.mcflow(&["run", "workflows/verify.yaml"]);
    out.assert_code(1);
    let shown = out.all();
    assert!(
        shown.lines().any(|l| l.starts_with("production ")
            && l.contains("mirror monitoring/alloy-internal  ")
            && l.contains("  FAIL: not mirrored (hint:")),
        "{shown}"
    );
    assert!(shown.contains("problem(s)"), "{shown}");
}

#[test]
fn link_spoke_runs_on_its_own() {
    let world = Linkerd::new(Scenario::linkerd_fresh().export_alloy(true));
    let spoke = world.sim.cluster("nonproduction");
    // Alloy runs on the spokes too: the mirror lands in their `monitoring` namespace.
    spoke
        .apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n")
        .expect("namespace");
    install_multicluster(&world, "nonproduction");

    // The exact command of the runbook, on its own.
    let out = world.mcflow(&[
        "run",
        "workflows/link-spoke.yaml",
        "--set",
        "spoke=nonproduction",
    ]);
    out.assert_code(0);
    let links = spoke
        .list(
            "multicluster.linkerd.io/v1alpha3",
            "Link",
            Some("linkerd-multicluster"),
            "",
        )
        .expect("list");
    assert_eq!(links.len(), 1);
    spoke
        .wait_until(std::time::Duration::from_secs(10), |c| {
            c.get("v1", "Service", "monitoring", "alloy-internal")
                .is_some()
        })
        .then_some(())
        .expect("alloy mirrored");
}

/// Installs linkerd-multicluster on the hub and `spoke` through the Argo CD path, as bootstrap
/// has it done, so that link-spoke can run on its own.
fn install_multicluster(world: &Linkerd, spoke: &str) {
    let hub = world.sim.cluster("internal");
    hub.apply_yaml(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: in-cluster-cluster\n  namespace: argocd\n  labels:\n    argocd.argoproj.io/secret-type: cluster\n    spydersoft.io/linkerd-multicluster: \"true\"\nstringData:\n  name: in-cluster\n  server: https://kubernetes.default.svc\n",
    )
    .expect("in-cluster secret");
    hub.merge_patch(
        "v1",
        "Secret",
        "argocd",
        &Scenario::argocd_secret_name(spoke),
        serde_json::json!({"metadata": {"labels": {"spydersoft.io/linkerd-multicluster": "true"}}}),
    )
    .expect("label");
    hub.wait_until(std::time::Duration::from_secs(10), |c| {
        c.get("v1", "Service", "linkerd-multicluster", "linkerd-gateway")
            .is_some()
    })
    .then_some(())
    .expect("gateway installed");
    world
        .sim
        .cluster(spoke)
        .wait_until(std::time::Duration::from_secs(10), |c| {
            c.get("v1", "Namespace", "", "linkerd-multicluster")
                .is_some()
        })
        .then_some(())
        .expect("multicluster installed on the spoke");
}

#[test]
fn link_spoke_uses_link_with_a_2_17_cli() {
    let world = Linkerd::new(Scenario::linkerd_fresh().version(LinkerdVersion::V2_17));
    install_multicluster(&world, "production");
    let out = world.mcflow_with(
        &[
            "run",
            "workflows/link-spoke.yaml",
            "--set",
            "spoke=production",
        ],
        &[("FAKE_LINKERD_VERSION", "stable-2.17.1")],
    );
    out.assert_code(0);
    let spoke = world.sim.cluster("production");
    // 2.17's `link` output brings its own service mirror, which the workflow waited for.
    assert!(
        spoke
            .get(
                "apps/v1",
                "Deployment",
                "linkerd-multicluster",
                "linkerd-service-mirror-internal"
            )
            .is_some()
    );
    let started: Vec<Value> = world
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "step_succeeded" && e["step"] == "service_mirror_ready")
        .collect();
    assert_eq!(started.len(), 1);
}

#[test]
fn link_spoke_spells_out_the_fix_for_a_probe_port_mismatch() {
    // The chart's probe Service on the spoke listens on another port than the Link probes (the
    // spoke's values left `controllers[].gateway.probe.port` elsewhere).
    let world = Linkerd::new(Scenario::linkerd_fresh().spoke_probe_port(4999));
    install_multicluster(&world, "production");
    let out = world.mcflow(&[
        "run",
        "workflows/link-spoke.yaml",
        "--set",
        "spoke=production",
    ]);
    out.assert_code(1);
    let shown = out.all();
    assert!(
        shown.contains("probe-internal Service (mc-probe) listens on 4999"),
        "{shown}"
    );
    assert!(shown.contains("config/production-values.yaml"), "{shown}");
}

#[test]
fn unlink_spoke_removes_one_spokes_link_and_mirrors() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    let out = world.mcflow(&[
        "run",
        "workflows/unlink-spoke.yaml",
        "--set",
        "spoke=production",
    ]);
    out.assert_code(0);
    let production = world.sim.cluster("production");
    let links = production
        .list(
            "multicluster.linkerd.io/v1alpha3",
            "Link",
            Some("linkerd-multicluster"),
            "",
        )
        .expect("list");
    assert!(links.is_empty());
    assert!(
        production
            .get("v1", "Service", "monitoring", "alloy-internal")
            .is_none()
    );
    assert!(
        production
            .get(
                "v1",
                "Secret",
                "linkerd-multicluster",
                "cluster-credentials-internal"
            )
            .is_none()
    );
    // The other spoke keeps its link.
    let other = world
        .sim
        .cluster("nonproduction")
        .list(
            "multicluster.linkerd.io/v1alpha3",
            "Link",
            Some("linkerd-multicluster"),
            "",
        )
        .expect("list");
    assert_eq!(other.len(), 1);
}

#[test]
fn link_spoke_can_keep_argo_cd_tracking_labels_off_mirrors() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    install_multicluster(&world, "production");
    let out = world.mcflow(&[
        "run",
        "workflows/link-spoke.yaml",
        "--set",
        "spoke=production",
        "--set",
        "exclude_argocd_labels=true",
    ]);
    out.assert_code(0);
    let link = world
        .sim
        .cluster("production")
        .get(
            "multicluster.linkerd.io/v1alpha3",
            "Link",
            "linkerd-multicluster",
            "internal",
        )
        .expect("the Link");
    let excluded = link["spec"]["excludedLabels"].to_string();
    assert!(
        excluded.contains("app.kubernetes.io/instance"),
        "{excluded}"
    );
    assert!(
        excluded.contains("argocd.argoproj.io/instance"),
        "{excluded}"
    );
    assert!(!out.all().contains("canary-token-f00dfeed"));
}

#[test]
fn verify_names_an_unreachable_cluster_instead_of_blaming_the_link() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    world
        .sim
        .cluster("production")
        .inject_fault(Fault::status(".*", 503));
    let out = world.mcflow(&["run", "workflows/verify.yaml"]);
    out.assert_code(1);
    let shown = out.all();
    let link_row = shown
        .lines()
        .find(|l| l.starts_with("production ") && l.contains("Link internal"))
        .unwrap_or_else(|| panic!("no Link row: {shown}"));
    assert!(link_row.contains("FAIL:"), "{link_row}");
    assert!(!link_row.contains("no Link"), "{link_row}");
    assert!(
        link_row.to_lowercase().contains("unavailable") || link_row.contains("503"),
        "{link_row}"
    );
    let check_row = shown
        .lines()
        .find(|l| l.starts_with("production ") && l.contains("multicluster check"))
        .unwrap_or_else(|| panic!("no check row: {shown}"));
    // Upstream's check reads the extension's namespace first and stops at the API's error.
    assert!(check_row.contains("FAIL:"), "{check_row}");
    assert!(
        check_row.to_lowercase().contains("unavailable") || check_row.contains("503"),
        "{check_row}"
    );
}

/// The repository's file `path` (relative to the root) as JSON.
fn repo_yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(support::workspace::repo_root().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    mcflow::yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {}", e.message))
}

fn writes(world: &Linkerd) -> Vec<String> {
    CLUSTERS
        .iter()
        .flat_map(|c| {
            world
                .sim
                .cluster(c)
                .request_log()
                .into_iter()
                .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
                .map(move |r| format!("{c}: {} {}", r.method, r.path))
        })
        .collect()
}

/// Issue 14: `https://helm.linkerd.io/stable` has no linkerd-multicluster `30.12.2`; the chart
/// is on the edge repo (CalVer), the ApplicationSet says what config says, and keeps the
/// extension (and so the Link CRD and every Link) when a cluster is unlabelled.
#[test]
fn the_applicationset_installs_an_existing_chart_named_in_config_and_preserves_resources() {
    let appset = repo_yaml("deploy/applicationset.yaml");
    let config = repo_yaml("config/clusters.yaml");
    let chart = appset["spec"]["template"]["spec"]["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["chart"] == "linkerd-multicluster")
        .expect("the linkerd-multicluster source")
        .clone();
    let (repo, version) = (
        chart["repoURL"].as_str().unwrap(),
        chart["targetRevision"].as_str().unwrap(),
    );
    assert!(
        mcflow_sim::reactors::argocd::chart_exists(repo, version),
        "{repo} has no linkerd-multicluster {version}"
    );
    assert_eq!(repo, "https://helm.linkerd.io/edge");
    assert_eq!(config["linkerd"]["chart"]["repo"], repo);
    assert_eq!(config["linkerd"]["chart"]["version"], version);
    assert_eq!(
        appset["spec"]["syncPolicy"]["preserveResourcesOnDeletion"],
        true
    );
}

#[test]
fn bootstrap_refuses_an_applicationset_that_differs_from_the_configured_chart_before_any_change() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    let config = edited_config(&world, |t| {
        t.replace("version: 2025.10.7", "version: 2025.4.4")
    });
    for c in CLUSTERS {
        world.sim.cluster(c).clear_request_log();
    }
    let out = world.mcflow(&["--config", &config, "run", "workflows/bootstrap.yaml"]);
    out.assert_code(1);
    let shown = out.all();
    assert!(
        shown.contains("deploy/applicationset.yaml installs linkerd-multicluster 2025.10.7 from https://helm.linkerd.io/edge"),
        "{shown}"
    );
    assert!(
        shown.contains("config linkerd.chart says 2025.4.4 from https://helm.linkerd.io/edge"),
        "{shown}"
    );
    assert_eq!(writes(&world), Vec::<String>::new());
}

/// Issue 14: link-gen puts the hub gateway's probe *nodePort* into the Link; on 2.19 the spoke's
/// probe-<hub> Service must declare it (`controllers[].gateway.probe.port`).
#[test]
fn the_spoke_values_pin_the_probe_port_to_the_hubs_probe_node_port() {
    let config = repo_yaml("config/clusters.yaml");
    let hub = repo_yaml(config["hub"]["values_file"].as_str().unwrap());
    let node_port = &hub["gateway"]["probe"]["nodePort"];
    assert_eq!(&config["hub"]["probe_node_port"], node_port);
    for spoke in SPOKES {
        let values = repo_yaml(&format!("config/{spoke}-values.yaml"));
        let entry = values["controllers"]
            .as_array()
            .expect("controllers")
            .iter()
            .find(|c| c["link"]["ref"]["name"] == "internal")
            .unwrap_or_else(|| panic!("{spoke}: no controllers entry for internal"))
            .clone();
        assert_eq!(
            &entry["gateway"]["probe"]["port"], node_port,
            "{spoke}: {entry}"
        );
    }
}

#[test]
fn bootstrap_refuses_spoke_values_that_leave_the_probe_port_at_its_default() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    let values = world.ws.write(
        "production-values.yaml",
        "gateway:\n  enabled: false\ncontrollers:\n  - link:\n      ref:\n        name: internal\n",
    );
    let config = edited_config(&world, |t| {
        t.replace(
            "values_file: config/production-values.yaml",
            &format!("values_file: {}", values.display()),
        )
    });
    for c in CLUSTERS {
        world.sim.cluster(c).clear_request_log();
    }
    let out = world.mcflow(&["--config", &config, "run", "workflows/bootstrap.yaml"]);
    out.assert_code(1);
    let shown = out.all().replace('\n', " ");
    assert!(
        shown.contains("production-values.yaml runs the service mirror for internal"),
        "{shown}"
    );
    assert!(
        shown.contains("add `gateway: { probe: { port: 30191 } }`"),
        "{shown}"
    );
    assert_eq!(writes(&world), Vec::<String>::new());
}

/// Issue 14: a chart version Argo CD cannot fetch gives the Application a ComparisonError (sync
/// Unknown, health Healthy, never synced); bootstrap stops at once with Argo CD's message instead
/// of three 5-minute timeouts.
#[test]
fn a_chart_that_cannot_be_had_fails_bootstrap_at_once_with_argo_cds_condition() {
    let world =
        Linkerd::new(Scenario::linkerd_fresh().chart("https://helm.linkerd.io/stable", "30.12.2"));
    let started = std::time::Instant::now();
    let out = world.mcflow(&["run", "workflows/bootstrap.yaml"]);
    out.assert_code(1);
    let took = started.elapsed();
    let shown = out.all();
    assert!(
        shown.contains("ComparisonError: Failed to load target state"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "chart \"linkerd-multicluster\" version \"30.12.2\" not found in https://helm.linkerd.io/stable repository"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("sync is Unknown, health is Healthy"),
        "{shown}"
    );
    assert!(took < std::time::Duration::from_secs(60), "took {took:?}");
    let app = world
        .sim
        .cluster("internal")
        .get(
            "argoproj.io/v1alpha1",
            "Application",
            "argocd",
            "linkerd-multicluster-production",
        )
        .expect("the Application");
    assert_eq!(app["status"]["sync"]["status"], "Unknown");
    assert_eq!(app["status"]["health"]["status"], "Healthy");
    assert!(app["status"].get("operationState").is_none());
    assert!(
        world
            .sim
            .cluster("production")
            .get("v1", "Namespace", "", "linkerd-multicluster")
            .is_none(),
        "nothing installed"
    );
}

/// Issue 14: with a service exported before bootstrap (the seed's alloy), bootstrap links the
/// spokes before the export stage creates `monitoring` on them; the mirror appears when the
/// namespace does, and `multicluster check` looks only at mirrors that exist.
#[test]
fn bootstrap_succeeds_with_a_service_exported_before_it() {
    let world = Linkerd::new(Scenario::linkerd_fresh().export_alloy(true));
    let out = world.mcflow(&["run", "workflows/bootstrap.yaml"]);
    out.assert_code(0);
    assert!(out.all().contains("0 problem(s)"), "{}", out.all());
    assert_linked_and_mirrored(&world);
}

/// Issue 14: upstream's service mirror leaves its mirrors when the Link is deleted; unlink-spoke
/// deletes what `linkerd multicluster unlink` lists: mirrors in every namespace, the Lease, both
/// credentials Secrets; and says which values entry to remove for the chart's controller.
#[test]
fn unlink_spoke_removes_what_upstreams_unlink_removes_without_waiting_for_the_mirror() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    let hub = world.sim.cluster("internal");
    let production = world.sim.cluster("production");
    // A second export, in another namespace than config.exports names, with a ready backend
    // (upstream's check fails a mirror whose exported Service has no ready endpoints).
    hub.apply_yaml(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n  labels:\n    mirror.linkerd.io/exported: \"true\"\nspec:\n  ports:\n  - name: http\n    port: 80\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: web\n  namespace: shop\nsubsets:\n- addresses: [{ip: 10.244.0.30}]\n  ports: [{name: http, port: 80}]\n",
    )
    .expect("shop/web");
    production
        .apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")
        .expect("shop on production");
    world
        .mcflow(&["run", "workflows/bootstrap.yaml"])
        .assert_code(0);
    production
        .wait_until(std::time::Duration::from_secs(10), |c| {
            c.get("v1", "Service", "shop", "web-internal").is_some()
        })
        .then_some(())
        .expect("web mirrored");
    // What the real service mirror holds while it runs.
    production
        .apply_yaml("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: service-mirror-write-internal\n  namespace: linkerd-multicluster\nspec:\n  holderIdentity: controller-internal-0\n")
        .expect("lease");

    let out = world.mcflow(&[
        "run",
        "workflows/unlink-spoke.yaml",
        "--set",
        "spoke=production",
    ]);
    out.assert_code(0);
    for (kind, api, ns, name) in [
        ("Service", "v1", "monitoring", "alloy-internal"),
        ("Service", "v1", "shop", "web-internal"),
        (
            "Lease",
            "coordination.k8s.io/v1",
            "linkerd-multicluster",
            "service-mirror-write-internal",
        ),
        (
            "Secret",
            "v1",
            "linkerd-multicluster",
            "cluster-credentials-internal",
        ),
        ("Secret", "v1", "linkerd", "cluster-credentials-internal"),
        (
            "Link",
            "multicluster.linkerd.io/v1alpha3",
            "linkerd-multicluster",
            "internal",
        ),
    ] {
        assert!(
            production.get(api, kind, ns, name).is_none(),
            "{kind} {ns}/{name} left on production"
        );
    }
    let shown = out.all().replace('\n', " ");
    assert!(
        shown.contains("Remove the entry with `link: { ref: { name: internal } }` from config/production-values.yaml"),
        "{shown}"
    );
    // The other spoke keeps its link and mirrors.
    let other = world.sim.cluster("nonproduction");
    assert!(other.get("v1", "Service", "shop", "web-internal").is_none());
    assert!(
        other
            .get("v1", "Service", "monitoring", "alloy-internal")
            .is_some()
    );
}

/// Issue 14 (stand-in): deleting a Link does not delete its mirrors (linkerd2
/// multicluster/cmd/service-mirror/main.go `cleanupWorkers`: `Stop(false)`).
#[test]
fn a_deleted_link_leaves_its_mirrors_behind() {
    let world = Linkerd::bootstrapped(Scenario::linkerd_fresh());
    let production = world.sim.cluster("production");
    world.delete_link("production");
    // Another event for the mirror to react to, then time for it to do so.
    world
        .sim
        .cluster("internal")
        .merge_patch(
            "v1",
            "Service",
            "monitoring",
            "alloy",
            serde_json::json!({"metadata": {"labels": {"touched": "yes"}}}),
        )
        .expect("touch alloy");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        production
            .get("v1", "Service", "monitoring", "alloy-internal")
            .is_some(),
        "the mirror went with its Link"
    );
    // The fake check, like upstream's, warns about the leftover mirror and passes.
    let out = std::process::Command::new(mcflow_sim::fake_linkerd_bin())
        .args(["--context", "production", "multicluster", "check"])
        .env("KUBECONFIG", world.sim.kubeconfig_path())
        .output()
        .expect("fake linkerd runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("‼ all mirror services are part of a Link"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mirror service alloy-internal.monitoring is not part of any Link"),
        "{stdout}"
    );
}

/// Issue 14: kubeconfig contexts come from config everywhere (`config.spokes[].context`), so a
/// kubeconfig whose contexts are named otherwise than the clusters works: bootstrap (which links
/// through link-spoke), verify, unlink.
#[test]
fn contexts_named_differently_from_the_clusters_work_from_bootstrap_to_unlink() {
    let world = Linkerd::with_context_prefix(Scenario::linkerd_fresh(), "ctx-");
    let config = edited_config(&world, |t| {
        t.replace("context: internal", "context: ctx-internal")
            .replace("context: production", "context: ctx-production")
            .replace("context: nonproduction", "context: ctx-nonproduction")
    });
    let out = world.mcflow(&["--config", &config, "run", "workflows/bootstrap.yaml"]);
    out.assert_code(0);
    assert!(out.all().contains("0 problem(s)"), "{}", out.all());
    assert_linked_and_mirrored(&world);
    world
        .mcflow(&["--config", &config, "run", "workflows/verify.yaml"])
        .assert_code(0);
    world
        .mcflow(&[
            "--config",
            &config,
            "run",
            "workflows/unlink-spoke.yaml",
            "--set",
            "spoke=production",
        ])
        .assert_code(0);
    let production = world.sim.cluster("production");
    assert!(
        production
            .get(
                "multicluster.linkerd.io/v1alpha3",
                "Link",
                "linkerd-multicluster",
                "internal"
            )
            .is_none()
    );
    assert!(
        production
            .get("v1", "Service", "monitoring", "alloy-internal")
            .is_none()
    );
}

/// Issue 14: `multicluster check` compares linkerd-config's identityTrustAnchorsPEM, the proxies
/// trust linkerd-identity-trust-roots; bootstrap reads both and reports a cluster where they
/// differ (an external CA), before any change.
#[test]
fn a_linkerd_config_anchor_other_than_the_proxies_fails_preflight_with_both_fingerprints() {
    let world = Linkerd::new(Scenario::linkerd_fresh().config_anchor_differs("nonproduction"));
    for c in CLUSTERS {
        world.sim.cluster(c).clear_request_log();
    }
    let out = world.mcflow(&["run", "workflows/bootstrap.yaml"]);
    out.assert_code(1);
    let shown = out.all().replace('\n', " ");
    assert!(
        shown.contains("On nonproduction, linkerd-config's identityTrustAnchorsPEM"),
        "{shown}"
    );
    let fp = regex::Regex::new(
        r"linkerd-config=([0-9a-f]{64}) +linkerd-identity-trust-roots=([0-9a-f]{64})",
    )
    .unwrap();
    let caps = fp.captures(&shown).unwrap_or_else(|| panic!("{shown}"));
    assert_ne!(&caps[1], &caps[2]);
    assert!(!shown.contains("On production,"), "{shown}");
    assert!(!shown.contains("On internal,"), "{shown}");
    assert_eq!(writes(&world), Vec::<String>::new());
}
