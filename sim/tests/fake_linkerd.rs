//! The fake `linkerd` CLI against a simulated Linkerd scenario.

use std::process::{Command, Output};
use std::time::Duration;

use mcflow_sim::scenario::documents;
use mcflow_sim::{Scenario, Simulator};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_fake-linkerd");
const WAIT: Duration = Duration::from_secs(20);

fn linkerd(sim: &Simulator, envs: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(BIN)
        .env("KUBECONFIG", sim.kubeconfig_path())
        .env_remove("FAKE_LINKERD_FAIL")
        .envs(envs.iter().copied())
        .args(args)
        .output()
        .expect("fake-linkerd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scenario_sim() -> Simulator {
    Simulator::builder()
        .clusters(["internal", "production", "nonproduction"])
        .deployment_ready_delay(Duration::from_millis(50))
        .scenario(
            Scenario::linkerd_fresh()
                .export_alloy(true)
                .mirror_controllers(true),
        )
        .start_blocking()
        .expect("simulator starts")
}

#[test]
fn version_client_short_and_long() {
    let sim = scenario_sim();
    let o = linkerd(
        &sim,
        &[("FAKE_LINKERD_VERSION", "stable-2.14.10")],
        &["version", "--client", "--short"],
    );
    assert_eq!(stdout(&o), "stable-2.14.10\n");
    let o = linkerd(&sim, &[], &["version", "--client"]);
    assert_eq!(stdout(&o), "Client version: edge-25.4.4\n");
    let o = linkerd(&sim, &[], &["--context", "production", "version"]);
    assert!(
        stdout(&o).contains("Server version: edge-25.4.4"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn argocd_install_link_gen_mirror_and_check() {
    let sim = scenario_sim();
    let hub = sim.cluster("internal");
    let prod = sim.cluster("production");

    // Before anything is linked, the check on a spoke fails: the extension is not installed.
    let secret = Scenario::argocd_secret_name("production");
    assert_ne!(secret, "production");
    let label = json!({"metadata": {"labels": {"spydersoft.io/linkerd-multicluster": "true"}}});
    hub.merge_patch("v1", "Secret", "argocd", &secret, label.clone())
        .unwrap();
    hub.create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "in-cluster", "namespace": "argocd",
        "labels": {"argocd.argoproj.io/secret-type": "cluster", "spydersoft.io/linkerd-multicluster": "true"}},
        "stringData": {"name": "in-cluster", "server": "https://kubernetes.default.svc"}})).unwrap();
    assert!(hub.wait_until(WAIT, |c| {
        c.get(
            "argoproj.io/v1alpha1",
            "Application",
            "argocd",
            "linkerd-multicluster-production",
        )
        .is_some_and(|a| {
            a["status"]["sync"]["status"] == "Synced"
                && a["status"]["health"]["status"] == "Healthy"
        }) && c
            .get("v1", "Service", "linkerd-multicluster", "linkerd-gateway")
            .is_some()
    }));
    let gw = hub
        .get("v1", "Service", "linkerd-multicluster", "linkerd-gateway")
        .unwrap();
    assert_eq!(gw["spec"]["type"], "NodePort");
    assert_eq!(gw["spec"]["ports"][0]["nodePort"], 30143);
    assert!(prod.wait_until(WAIT, |c| {
        c.get(
            "apps/v1",
            "Deployment",
            "linkerd-multicluster",
            "controller-internal",
        )
        .is_some()
    }));

    // link-gen against the hub, with a canary token.
    let canary = "canary-7c1e5a9d-token";
    let o = linkerd(
        &sim,
        &[("FAKE_LINKERD_TOKEN", canary)],
        &[
            "--context",
            "internal",
            "multicluster",
            "link-gen",
            "--cluster-name",
            "internal",
            "--gateway-addresses",
            "172.18.0.2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = stdout(&o);
    assert!(!manifest.contains("__"), "placeholders left: {manifest}");
    let docs = documents(&manifest).unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[2]["apiVersion"], "multicluster.linkerd.io/v1alpha3");
    assert_eq!(docs[2]["spec"]["gatewayAddress"], "172.18.0.2");
    // A NodePort gateway: the Link carries the nodePorts, as upstream's link-gen writes them
    // (linkerd2 multicluster/cmd/link-gen.go extractPort @edge-25.10.7; observed with the real
    // 2.19 CLI: gatewayPort "30143", probeSpec.port "30191").
    assert_eq!(docs[2]["spec"]["gatewayPort"], "30143");
    assert_eq!(docs[2]["spec"]["probeSpec"]["port"], "30191");
    let kc = docs[0]["data"]["kubeconfig"].as_str().unwrap();
    use base64::Engine;
    let kc = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(kc)
            .unwrap(),
    )
    .unwrap();
    assert!(kc.contains(canary) && kc.contains(&hub.url()), "{kc}");

    // Apply on the spoke; the service mirror makes alloy-internal appear.
    prod.apply(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}),
    )
    .unwrap();
    for d in docs {
        prod.apply(d).unwrap();
    }
    assert!(prod.wait_until(WAIT, |c| {
        c.get("v1", "Service", "monitoring", "alloy-internal")
            .is_some()
    }));
    assert!(prod.wait_until(WAIT, |c| {
        c.get(
            "apps/v1",
            "Deployment",
            "linkerd-multicluster",
            "controller-internal",
        )
        .is_some_and(|d| d["status"]["availableReplicas"] == 1)
    }));
    let o = linkerd(
        &sim,
        &[],
        &["--context", "production", "multicluster", "check"],
    );
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("√ service mirror controllers are running\n\t* internal"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).ends_with("Status check results are √\n"));

    // The controller goes away: the check fails.
    prod.set_deployment_available("linkerd-multicluster", "controller-internal", false)
        .unwrap();
    let o = linkerd(
        &sim,
        &[],
        &["--context", "production", "multicluster", "check"],
    );
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("× service mirror controllers are running"),
        "{}",
        stdout(&o)
    );

    // check --proxy passes with the seeded control plane.
    let o = linkerd(
        &sim,
        &[],
        &["--context", "nonproduction", "check", "--proxy"],
    );
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn link_needs_the_gateway_and_versions_pick_the_command() {
    let sim = scenario_sim();
    // No gateway on the hub yet.
    let o = linkerd(
        &sim,
        &[("FAKE_LINKERD_VERSION", "stable-2.17.1")],
        &[
            "--context",
            "internal",
            "multicluster",
            "link",
            "--cluster-name",
            "internal",
            "--gateway-addresses",
            "10.0.0.1",
        ],
    );
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        "Error: services \"linkerd-gateway\" not found\n"
    );
    // A 2.17 CLI has no link-gen: `multicluster` itself stops at the first flag it does not
    // know (what the real edge-24.11.8 says: tests/rig_linkerd.rs).
    let o = linkerd(
        &sim,
        &[("FAKE_LINKERD_VERSION", "stable-2.17.1")],
        &["multicluster", "link-gen", "--cluster-name", "x"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).starts_with("Error: unknown flag: --cluster-name\n"));

    // With a gateway, 2.17's link prints the v1alpha2 Link and the service mirror.
    sim.cluster("internal")
        .apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd-multicluster}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: linkerd-gateway, namespace: linkerd-multicluster}\nspec:\n  type: NodePort\n  ports:\n  - {name: mc-gateway, port: 4143}\n  - {name: mc-probe, port: 4191}\n")
        .unwrap();
    let o = linkerd(
        &sim,
        &[("FAKE_LINKERD_VERSION", "stable-2.17.1")],
        &[
            "--context",
            "internal",
            "multicluster",
            "link",
            "--cluster-name",
            "internal",
            "--gateway-addresses",
            "10.0.0.1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let docs = documents(&stdout(&o)).unwrap();
    assert!(
        docs.iter()
            .any(|d| d["kind"] == "Link" && d["apiVersion"] == "multicluster.linkerd.io/v1alpha2")
    );
    assert!(
        docs.iter().any(|d| d["kind"] == "Deployment"
            && d["metadata"]["name"] == "linkerd-service-mirror-internal")
    );

    // unlink prints what to delete.
    let o = linkerd(
        &sim,
        &[],
        &["multicluster", "unlink", "--cluster-name", "internal"],
    );
    let docs = documents(&stdout(&o)).unwrap();
    assert!(
        docs.iter()
            .any(|d| d["kind"] == "Link" && d["metadata"]["name"] == "internal")
    );
}

#[test]
fn fails_the_first_n_times_when_told() {
    let sim = scenario_sim();
    let dir = sim
        .kubeconfig_path()
        .parent()
        .unwrap()
        .join("fake-linkerd-state");
    let dir = dir.to_str().unwrap();
    let env = [
        ("FAKE_LINKERD_FAIL", "version:2"),
        ("FAKE_LINKERD_STATE_DIR", dir),
    ];
    let runs: Vec<bool> = (0..3)
        .map(|_| {
            linkerd(&sim, &env, &["version", "--client", "--short"])
                .status
                .success()
        })
        .collect();
    assert_eq!(runs, vec![false, false, true]);
    let o = linkerd(
        &sim,
        &[
            ("FAKE_LINKERD_FAIL", "multicluster check:1"),
            ("FAKE_LINKERD_STATE_DIR", dir),
        ],
        &["--context", "internal", "multicluster", "check"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).starts_with("Error: "), "{}", stderr(&o));
}
