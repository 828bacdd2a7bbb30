//! Differential: the mirror Service that Linkerd's real service mirror (the `service-mirror`
//! subcommand of linkerd2's `controller/cmd`, run here as a local process against a rig spoke)
//! makes for an exported Service on the hub, against the one the simulator's reactor makes.
//! Skipped with one line where the rig or `linkerd-controller-2.19` / `linkerd-2.19` is missing.

mod rig_common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcflow_sim::rig::{AnyCluster, Backend, BackendKind, bin_dir};
use serde_json::{Value, json};

/// The real CLI, with every outbound HTTP(S) request but the API servers' (loopback, which Go
/// never proxies) sent to a closed loopback port: `check` looks up versioncheck.linkerd.io.
fn real_linkerd(bin: &std::path::Path) -> Command {
    let mut c = Command::new(bin);
    c.env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9");
    c
}

const RELEASE: &str = "2.19";

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn core_objects(yaml: &str) -> Vec<Value> {
    mcflow_sim::cluster::parse_yaml_documents(yaml)
        .unwrap()
        .into_iter()
        .filter(|o| {
            [
                "Namespace",
                "ServiceAccount",
                "Secret",
                "Service",
                "Deployment",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "CustomResourceDefinition",
            ]
            .iter()
            .any(|k| o["kind"] == *k)
        })
        .collect()
}

fn apply_all(c: &AnyCluster, objs: &[Value]) {
    let (crds, rest): (Vec<&Value>, Vec<&Value>) = objs
        .iter()
        .partition(|o| o["kind"] == "CustomResourceDefinition");
    for o in crds.into_iter().chain(rest) {
        c.apply(o.clone())
            .unwrap_or_else(|e| panic!("{}: {e}: {o}", c.name()));
    }
}

fn install(bin: &std::path::Path, values: &str) -> Vec<Value> {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let out = real_linkerd(bin)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .args(["multicluster", "install", "--ignore-cluster", "--values"])
        .arg(config.join(values))
        .output()
        .unwrap();
    assert!(out.status.success());
    core_objects(&String::from_utf8_lossy(&out.stdout))
}

/// The mirror as both must make it: name, type, labels, annotations and ports.
fn shape(svc: &Value) -> Value {
    let mut labels = svc["metadata"]["labels"].clone();
    let mut annotations = svc["metadata"]["annotations"].clone();
    // The hub's resourceVersion of the exported Service: present on both, values differ.
    if let Some(rv) = annotations.get_mut("mirror.linkerd.io/remote-resource-version") {
        *rv = json!("<resourceVersion>");
    }
    for m in [&mut labels, &mut annotations] {
        if m.is_null() {
            *m = json!({});
        }
    }
    json!({
        "name": svc["metadata"]["name"],
        "type": svc["spec"]["type"],
        "labels": labels,
        "annotations": annotations,
        "ports": svc["spec"]["ports"],
        "subsets": svc["subsets"],
    })
}

#[test]
fn service_mirror_mirrors_like_the_reactor() {
    if rig_common::rig_or_skip(false).is_err() {
        return;
    }
    let cli = bin_dir().join(format!("linkerd-{RELEASE}"));
    let controller = bin_dir().join(format!("linkerd-controller-{RELEASE}"));
    if !cli.is_file() || !controller.is_file() {
        println!(
            "rig skipped: linkerd-{RELEASE} or linkerd-controller-{RELEASE} not in {}",
            bin_dir().display()
        );
        return;
    }
    let hub_objs = install(&cli, "in-cluster-local-values.yaml");
    let spoke_objs = install(&cli, "production-values.yaml");
    let exported = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "demo", "labels": {"mirror.linkerd.io/exported": "true", "app": "web"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
    let mut mirrors = Vec::new();
    for kind in [BackendKind::Real, BackendKind::Sim] {
        let b = Backend::start(kind, &["internal", "production"]).expect("backend starts");
        let (hub, spoke) = (b.cluster("internal"), b.cluster("production"));
        for c in [&hub, &spoke] {
            c.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n")
                .unwrap();
            c.apply_yaml(mcflow_sim::scenario::fixtures::TRUST_ROOTS)
                .unwrap();
            c.apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "linkerd-config", "namespace": "linkerd"},
                "data": {"values": "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nlinkerdVersion: edge-25.10.7\n"}}))
                .unwrap();
        }
        apply_all(&hub, &hub_objs);
        apply_all(&spoke, &spoke_objs);
        // The Link and its credentials, from the real CLI against this hub (the simulator's
        // token Secret has no token: the fake's canary stands in).
        if kind == BackendKind::Real {
            assert!(hub.wait_until(Duration::from_secs(30), |c| {
                c.get(
                    "v1",
                    "Secret",
                    "linkerd-multicluster",
                    "linkerd-service-mirror-remote-access-production-token",
                )
                .is_some_and(|s| s.pointer("/data/token").is_some())
            }));
        }
        let link_gen = if kind == BackendKind::Real {
            real_linkerd(&cli)
        } else {
            let mut c = Command::new(env!("CARGO_BIN_EXE_fake-linkerd"));
            c.env("FAKE_LINKERD_VERSION", "edge-25.10.7")
                .env("FAKE_LINKERD_STATE_DIR", std::env::temp_dir());
            c
        }
        .env("KUBECONFIG", b.kubeconfig_path())
        .args([
            "--context",
            "internal",
            "multicluster",
            "link-gen",
            "--cluster-name",
            "internal",
            "--gateway-addresses",
            "127.0.0.1",
            "--service-account-name",
            "linkerd-service-mirror-remote-access-production",
        ])
        .output()
        .unwrap();
        assert!(link_gen.status.success(), "{kind}: link-gen");
        spoke
            .apply_yaml(&String::from_utf8_lossy(&link_gen.stdout))
            .unwrap();
        hub.apply(exported.clone()).unwrap();
        let _controller = if let Backend::Real(rig) = &b {
            // The spoke's own kubeconfig, as in the controller's pod.
            let kc = rig.dir().join("production").join("kubeconfig");
            let log = std::fs::File::create(rig.dir().join("service-mirror.log")).unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            Some(KillOnDrop(
                real_linkerd(&controller)
                    .env("HOSTNAME", "rig-service-mirror")
                    .args(["service-mirror", "-namespace=linkerd-multicluster"])
                    .arg(format!("-kubeconfig={}", kc.display()))
                    .arg(format!("-metrics-addr=127.0.0.1:{port}"))
                    .arg("-probe-service=probe-internal")
                    .arg("internal")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .expect("service mirror starts"),
            ))
        } else {
            None
        };
        let found = spoke.wait_until(Duration::from_secs(60), |c| {
            c.get("v1", "Service", "demo", "web-internal").is_some()
                && c.get("v1", "Endpoints", "demo", "web-internal").is_some()
        });
        if !found && let Backend::Real(rig) = &b {
            let log =
                std::fs::read_to_string(rig.dir().join("service-mirror.log")).unwrap_or_default();
            panic!("{kind}: no mirror; service-mirror log:\n{log}");
        }
        assert!(found, "{kind}: no mirror web-internal");
        let svc = spoke.get("v1", "Service", "demo", "web-internal").unwrap();
        let endpoints = spoke.get("v1", "Endpoints", "demo", "web-internal");
        println!(
            "{kind}: mirror {}\n{kind}: endpoints {}",
            serde_json::to_string(&svc).unwrap(),
            endpoints
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "none".into())
        );
        mirrors.push((kind, shape(&svc), endpoints.as_ref().map(shape)));
        // `multicluster check` on the spoke, for the record: the real one needs what a laptop
        // rig cannot give (proxies in pods, a reachable gateway), so only printed here.
        let check = if kind == BackendKind::Real {
            real_linkerd(&cli)
        } else {
            let mut c = Command::new(env!("CARGO_BIN_EXE_fake-linkerd"));
            c.env("FAKE_LINKERD_VERSION", "edge-25.10.7")
                .env("FAKE_LINKERD_STATE_DIR", std::env::temp_dir());
            c
        }
        .env("KUBECONFIG", b.kubeconfig_path())
        .args([
            "--context",
            "production",
            "multicluster",
            "check",
            "--wait",
            "5s",
        ])
        .output()
        .unwrap();
        println!(
            "── {kind}: multicluster check: exit {:?}\n{}\n{}",
            check.status.code(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let mut diffs = rig_common::Differences::default();
    let out = |v: &Value| rig_common::Outcome {
        ok: true,
        stdout: serde_json::to_string_pretty(v).unwrap(),
        stderr: String::new(),
    };
    diffs.compare("mirror Service", out(&mirrors[1].1), out(&mirrors[0].1));
    let eps = |e: &Option<Value>| e.clone().unwrap_or(Value::Null);
    diffs.compare(
        "mirror Endpoints",
        out(&eps(&mirrors[1].2)),
        out(&eps(&mirrors[0].2)),
    );
    diffs.assert_only(&[]);
}
