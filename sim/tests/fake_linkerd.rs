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
    // The newest supported release unless told otherwise, as the scenario's control plane.
    assert_eq!(stdout(&o), "Client version: edge-25.10.7\n");
    let o = linkerd(&sim, &[], &["--context", "production", "version"]);
    assert!(
        stdout(&o).contains("Server version: edge-25.10.7"),
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
            "--service-account-name",
            "linkerd-service-mirror-remote-access-production",
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
fn link_needs_what_upstream_needs_in_upstream_order() {
    let sim = scenario_sim();
    let hub = sim.cluster("internal");
    let link_17 = |extra: &[&str]| {
        let mut args = vec![
            "--context",
            "internal",
            "multicluster",
            "link",
            "--cluster-name",
            "internal",
            "--gateway-addresses",
            "10.0.0.1",
        ];
        args.extend_from_slice(extra);
        linkerd(&sim, &[("FAKE_LINKERD_VERSION", "stable-2.17.1")], &args)
    };
    let first_line = |o: &Output| stderr(o).lines().next().unwrap_or_default().to_string();
    // Each missing thing in the order multicluster/cmd/link.go @edge-24.11.8 reads them, with
    // the text the real 2.17 CLI printed against the simulator (sim/tests/rig_linkerd.rs).
    let o = link_17(&[]);
    assert!(!o.status.success() && stdout(&o).is_empty());
    assert_eq!(
        first_line(&o),
        "Error: serviceaccounts \"linkerd-service-mirror-remote-access-default\" not found"
    );
    assert!(
        stderr(&o).contains("\nUsage:\n  linkerd multicluster link [flags]"),
        "{}",
        stderr(&o)
    );
    let sa = [
        "--service-account-name",
        "linkerd-service-mirror-remote-access-production",
    ];
    hub.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd-multicluster}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: linkerd-service-mirror-remote-access-production, namespace: linkerd-multicluster}\n").unwrap();
    assert_eq!(
        first_line(&link_17(&sa)),
        "Error: could not find service account token secret for linkerd-service-mirror-remote-access-production"
    );
    hub.apply_yaml("apiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\nmetadata:\n  name: linkerd-service-mirror-remote-access-production-token\n  namespace: linkerd-multicluster\n  annotations: {kubernetes.io/service-account.name: linkerd-service-mirror-remote-access-production}\ndata: {token: dG9rZW4=}\n").unwrap();
    assert_eq!(
        first_line(&link_17(&sa)),
        "Error: services \"linkerd-gateway\" not found"
    );
    let gateway = |annotations: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: linkerd-gateway\n  namespace: linkerd-multicluster\n  annotations: {{{annotations}}}\nspec:\n  type: NodePort\n  ports:\n  - {{name: mc-gateway, port: 4143, nodePort: 30143}}\n  - {{name: mc-probe, port: 4191, nodePort: 30191}}\n"
        )
    };
    hub.apply_yaml(&gateway("")).unwrap();
    assert_eq!(
        first_line(&link_17(&sa)),
        "Error: Gateway linkerd-gateway.linkerd-multicluster has no mirror.linkerd.io/gateway-identity annotation"
    );
    hub.apply_yaml(&gateway("mirror.linkerd.io/gateway-identity: gw.id, mirror.linkerd.io/probe-path: /ready, mirror.linkerd.io/probe-period: 3s")).unwrap();
    assert_eq!(
        first_line(&link_17(&sa)),
        "Error: strconv.ParseUint: parsing \"3s\": invalid syntax"
    );

    // 2.19's link-gen takes a duration, and refuses link's Helm flags.
    let link_gen = |extra: &[&str]| {
        let mut args = vec![
            "--context",
            "internal",
            "multicluster",
            "link-gen",
            "--cluster-name",
            "internal",
            "--gateway-addresses",
            "10.0.0.1",
        ];
        args.extend_from_slice(&sa);
        args.extend_from_slice(extra);
        linkerd(&sim, &[], &args)
    };
    assert_eq!(
        first_line(&link_gen(&["--set", "a=b"])),
        "Error: unknown flag: --set"
    );
    let o = link_gen(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let docs = documents(&stdout(&o)).unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[2]["spec"]["gatewayIdentity"], "gw.id");
    assert_eq!(docs[2]["spec"]["probeSpec"]["period"], "3s");

    // A 2.17 CLI has no link-gen: `multicluster` itself stops at the first flag it does not
    // know (what the real edge-24.11.8 says: tests/rig_linkerd.rs).
    let o = linkerd(
        &sim,
        &[("FAKE_LINKERD_VERSION", "stable-2.17.1")],
        &["multicluster", "link-gen", "--cluster-name", "x"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).starts_with("Error: unknown flag: --cluster-name\n"));

    // With everything there, 2.17's link prints the v1alpha2 Link and the service mirror; 2.19's
    // deprecated link prints a v1alpha3 Link after cobra's notice.
    hub.apply_yaml(&gateway("mirror.linkerd.io/gateway-identity: gw.id, mirror.linkerd.io/probe-path: /ready, mirror.linkerd.io/probe-period: \"3\"")).unwrap();
    let o = link_17(&sa);
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
    let mut args = vec![
        "--context",
        "internal",
        "multicluster",
        "link",
        "--cluster-name",
        "internal",
        "--gateway-addresses",
        "10.0.0.1",
    ];
    args.extend_from_slice(&sa);
    let o = linkerd(&sim, &[], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        first_line(&o),
        "Command \"link\" is deprecated, please use `multicluster link-gen` instead."
    );
    let docs = documents(&stdout(&o)).unwrap();
    assert!(
        docs.iter()
            .any(|d| d["kind"] == "Link" && d["apiVersion"] == "multicluster.linkerd.io/v1alpha3")
    );
}

#[test]
fn unlink_reads_the_link_and_lists_what_upstream_lists() {
    let sim = scenario_sim();
    let prod = sim.cluster("production");
    let o = linkerd(
        &sim,
        &[],
        &[
            "--context",
            "production",
            "multicluster",
            "unlink",
            "--cluster-name",
            "internal",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Error: links.multicluster.linkerd.io \"internal\" not found"),
        "{}",
        stderr(&o)
    );
    prod.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd-multicluster}\n---\napiVersion: multicluster.linkerd.io/v1alpha3\nkind: Link\nmetadata: {name: internal, namespace: linkerd-multicluster}\nspec: {targetClusterName: internal, probeSpec: {path: /ready}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: cluster-credentials-internal, namespace: linkerd, labels: {multicluster.linkerd.io/cluster-name: internal}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: alloy-internal\n  namespace: monitoring\n  labels: {mirror.linkerd.io/mirrored-service: \"true\", mirror.linkerd.io/cluster-name: internal}\nspec: {ports: [{port: 80}]}\n").unwrap();
    let o = linkerd(
        &sim,
        &[],
        &[
            "--context",
            "production",
            "multicluster",
            "unlink",
            "--cluster-name",
            "internal",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let kinds: Vec<String> = documents(&stdout(&o))
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    // The order the real 2.19 unlink printed (/work/notes: unlink-2.19.yaml).
    assert_eq!(
        kinds,
        [
            "ClusterRole/linkerd-service-mirror-access-local-resources-internal",
            "ClusterRoleBinding/linkerd-service-mirror-access-local-resources-internal",
            "Role/linkerd-service-mirror-read-remote-creds-internal",
            "RoleBinding/linkerd-service-mirror-read-remote-creds-internal",
            "ServiceAccount/linkerd-service-mirror-internal",
            "Deployment/linkerd-service-mirror-internal",
            "Service/probe-gateway-internal",
            "Secret/cluster-credentials-internal",
            "Link/internal",
            "Lease/service-mirror-write-internal",
            "Service/alloy-internal",
            "Secret/cluster-credentials-internal",
        ]
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
