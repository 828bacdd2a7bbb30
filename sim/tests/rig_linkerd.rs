//! Differential: the fake `linkerd` against the real CLI of each supported release, where the
//! rig has it (`target/rig/bin/linkerd-2.17` etc.; see rig/build.sh for why it may not): what
//! `version` prints, what `link-gen` says before 2.18, and which objects `multicluster install
//! --ignore-cluster` renders from config/*-values.yaml against the objects the simulator's
//! ApplicationSet reactor installs. Each release
//! without its binary prints one `rig skipped:` line.

mod rig_common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use mcflow_sim::rig::{bin_dir, linkerd_bin};
use serde_json::Value;

/// The real CLI, with every outbound HTTP(S) request but the API servers' (loopback, which Go
/// never proxies) sent to a closed loopback port: `check` looks up versioncheck.linkerd.io.
fn real_linkerd(bin: &std::path::Path) -> Command {
    let mut c = Command::new(bin);
    c.env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9");
    c
}

const RELEASES: [(&str, &str); 3] = [
    ("2.17", "edge-24.11.8"),
    ("2.18", "edge-25.4.4"),
    ("2.19", "edge-25.10.7"),
];

fn fake(tag: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fake-linkerd"))
        .env("FAKE_LINKERD_VERSION", tag)
        .env("FAKE_LINKERD_STATE_DIR", std::env::temp_dir())
        .args(args)
        .output()
        .expect("fake linkerd runs")
}

fn real(bin: &std::path::Path, args: &[&str]) -> Output {
    real_linkerd(bin)
        // No cluster: what the CLI does on its own.
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .args(args)
        .output()
        .expect("linkerd runs")
}

fn text(o: &Output) -> (bool, String, String) {
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).trim().to_string(),
    )
}

#[test]
fn fake_linkerd_says_what_the_real_cli_says() {
    let mut ran = 0;
    let mut diffs = rig_common::Differences::default();
    for (rel, tag) in RELEASES {
        let Some(bin) = linkerd_bin(rel) else {
            println!(
                "rig skipped: linkerd-{rel} not in {} (rig/build.sh: the Go module proxy does not serve github.com/linkerd/linkerd2)",
                bin_dir().display()
            );
            continue;
        };
        ran += 1;
        for args in [
            &["version", "--client"][..],
            &["version", "--client", "--short"][..],
        ] {
            let (r, f) = (text(&real(&bin, args)), text(&fake(tag, args)));
            let as_outcome = |t: (bool, String, String)| rig_common::Outcome {
                ok: t.0,
                stdout: t.1,
                stderr: t.2,
            };
            diffs.compare(
                &format!("{rel}: linkerd {}", args.join(" ")),
                as_outcome(f),
                as_outcome(r),
            );
        }
        // link-gen exists from 2.18; 2.17 says it does not know it.
        let args = ["multicluster", "link-gen", "--cluster-name", "hub"];
        let r = text(&real(&bin, &args));
        if rel == "2.17" {
            let f = text(&fake(tag, &args));
            assert!(
                !r.0 && !f.0,
                "{rel}: link-gen must fail: real {r:?}, fake {f:?}"
            );
            let first = |s: &str| s.lines().next().unwrap_or("").to_string();
            assert_eq!(first(&f.2), first(&r.2), "{rel}: link-gen on 2.17");
        } else {
            // Without a cluster the real one fails reading the hub; the command exists.
            assert!(!r.2.contains("unknown command"), "{rel}: {r:?}");
        }
    }
    if ran == 0 {
        return;
    }
    diffs.assert_only(&[]);
}

/// What the simulator's ApplicationSet reactor installs (hub: gateway; spoke: the controller
/// of the Link from 2.18) against what the real `multicluster install --ignore-cluster` renders
/// from the project's own chart values (config/*-values.yaml).
#[test]
fn reactor_installs_what_the_real_chart_renders() {
    let mut ran = 0;
    let mut diffs = rig_common::Differences::default();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    for (rel, tag) in RELEASES {
        let Some(bin) = linkerd_bin(rel) else {
            println!("rig skipped: linkerd-{rel} not in {}", bin_dir().display());
            continue;
        };
        ran += 1;
        let sim = mcflow_sim::Simulator::builder()
            .cluster("internal")
            .cluster("production")
            .start_blocking()
            .expect("simulator starts");
        let mut scenario = mcflow_sim::Scenario::linkerd_fresh();
        scenario.linkerd_version = tag.to_string();
        scenario.mirror_controllers = rel != "2.17";
        let (hub, spoke) = (sim.cluster("internal"), sim.cluster("production"));
        mcflow_sim::reactors::argocd::install(&hub, &hub, &scenario).unwrap();
        mcflow_sim::reactors::argocd::install(&hub, &spoke, &scenario).unwrap();
        for (cluster, values) in [
            (&hub, "in-cluster-local-values.yaml"),
            (&spoke, "production-values.yaml"),
        ] {
            let out = real_linkerd(&bin)
                .env("KUBECONFIG", "/nonexistent/kubeconfig")
                .args(["multicluster", "install", "--ignore-cluster", "--values"])
                .arg(config.join(values))
                .output()
                .expect("linkerd runs");
            let (ok, yaml, err) = text(&out);
            assert!(ok, "{rel}: install with {values}: {err}");
            let rendered = mcflow_sim::cluster::parse_yaml_documents(&yaml).unwrap();
            let find = |kind: &str, name: &str| {
                rendered.iter().find(|o| {
                    o["kind"] == kind
                        && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                })
            };
            let ns = "linkerd-multicluster";
            let mut installed = Vec::new();
            for (api, kind) in [
                ("v1", "Namespace"),
                ("apps/v1", "Deployment"),
                ("v1", "Service"),
            ] {
                let objs = if kind == "Namespace" {
                    cluster.get(api, kind, "", ns).into_iter().collect()
                } else {
                    cluster.list(api, kind, Some(ns), "").unwrap()
                };
                installed.extend(objs);
            }
            let step = |what: &str| format!("{rel} {}: {what}", cluster.name());
            let names = |objs: Vec<&Value>| -> Vec<String> {
                let mut v: Vec<String> = objs
                    .iter()
                    .map(|o| {
                        format!(
                            "{} {}",
                            o["kind"].as_str().unwrap_or(""),
                            o["metadata"]["name"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                v.sort();
                v
            };
            let kinds = ["Namespace", "Deployment", "Service"];
            let real_set = names(
                rendered
                    .iter()
                    .filter(|o| kinds.iter().any(|k| o["kind"] == *k))
                    .collect(),
            );
            let sim_set = names(installed.iter().collect());
            let outcome = |s: Vec<String>| rig_common::Outcome {
                ok: true,
                stdout: s.join("\n"),
                stderr: String::new(),
            };
            diffs.compare(
                &step("namespace, deployments, services"),
                outcome(sim_set),
                outcome(real_set.clone()),
            );
            let others: BTreeSet<String> = rendered
                .iter()
                .filter(|o| !kinds.iter().any(|k| o["kind"] == *k))
                .map(|o| o["kind"].as_str().unwrap_or("").to_string())
                .collect();
            println!(
                "{}: real renders besides {real_set:?}: {others:?}",
                step("install")
            );
            // The gateway Service: type, ports, annotations.
            if let (Some(r), Some(s)) = (
                find("Service", "linkerd-gateway"),
                cluster.get("v1", "Service", ns, "linkerd-gateway"),
            ) {
                let ports = |o: &Value| -> Vec<String> {
                    o.pointer("/spec/ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        // An absent targetPort is the port (the API server defaults it).
                        .map(|p| {
                            let target = if p["targetPort"].is_null() {
                                &p["port"]
                            } else {
                                &p["targetPort"]
                            };
                            format!("{} {} {} {}", p["name"], p["port"], target, p["nodePort"])
                        })
                        .collect()
                };
                let shape = |o: &Value| {
                    // `linkerd.io/created-by` names the renderer: `linkerd/cli <v>` here,
                    // `linkerd/helm <chart>` under Argo CD; the rest must agree.
                    let mut ann = o["metadata"]["annotations"].clone();
                    if let Some(m) = ann.as_object_mut() {
                        m.remove("linkerd.io/created-by");
                    }
                    format!(
                        "type={} ports={:?} annotations={} selector={}",
                        o["spec"]["type"],
                        ports(o),
                        ann,
                        o["spec"]["selector"]
                    )
                };
                diffs.compare(
                    &step("gateway Service"),
                    outcome(vec![shape(&s)]),
                    outcome(vec![shape(r)]),
                );
            }
        }
    }
    if ran == 0 {
        return;
    }
    // The chart's `controllers` entry also makes the spoke's probe Service `probe-<hub>`, which
    // the reactor now renders too (with the port config/*-values.yaml pin): no difference left.
    diffs.assert_only(&[]);
}

/// Every Secret's data values hidden (tokens, kubeconfigs with the server and CA); the rest
/// of each document kept, documents sorted by kind, namespace and name.
fn normalised_documents(yaml: &str) -> String {
    let mut docs = mcflow_sim::cluster::parse_yaml_documents(yaml).unwrap_or_default();
    for d in &mut docs {
        if d["kind"] == "Secret"
            && let Some(data) = d.get_mut("data").and_then(Value::as_object_mut)
        {
            for v in data.values_mut() {
                *v = Value::String("<data>".into());
            }
        }
        // 2.17 and 2.18 print `creationTimestamp: null` in metadata, 2.19 does not: a
        // timestamp, normalised away.
        if let Some(md) = d.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("creationTimestamp");
        }
        rig_common::normalise_json(d);
    }
    docs.sort_by_key(|d| {
        (
            d["kind"].as_str().unwrap_or("").to_string(),
            d.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            d.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    });
    docs.iter()
        .map(|d| serde_json::to_string_pretty(d).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// `multicluster link` (2.17) / `link-gen` (2.18+) of the real CLI on a real hub and of the
/// fake on a simulated hub, both seeded alike: the linkerd namespace's ConfigMaps (fixtures)
/// and the objects of that release's `multicluster install` that need no policy CRDs.
#[test]
fn link_output_matches_on_the_same_hub_state() {
    if rig_common::rig_or_skip(false).is_err() {
        return;
    }
    let present: Vec<(&str, &str, std::path::PathBuf)> = RELEASES
        .iter()
        .filter_map(|(rel, tag)| linkerd_bin(rel).map(|b| (*rel, *tag, b)))
        .collect();
    if present.is_empty() {
        println!("rig skipped: no linkerd-2.x in {}", bin_dir().display());
        return;
    }
    use mcflow_sim::rig::{Backend, BackendKind};
    let real_b = Backend::start(BackendKind::Real, &["internal"]).expect("rig starts");
    let sim_b = Backend::start(BackendKind::Sim, &["internal"]).expect("simulator starts");
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut diffs = rig_common::Differences::default();
    for (rel, tag, bin) in &present {
        let install = real_linkerd(bin)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .args(["multicluster", "install", "--ignore-cluster", "--values"])
            .arg(config.join("in-cluster-local-values.yaml"))
            .output()
            .expect("linkerd runs");
        let core: Vec<Value> =
            mcflow_sim::cluster::parse_yaml_documents(&String::from_utf8_lossy(&install.stdout))
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
                        "CustomResourceDefinition",
                    ]
                    .iter()
                    .any(|k| o["kind"] == *k)
                })
                .collect();
        for b in [&real_b, &sim_b] {
            let c = b.cluster("internal");
            c.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd}\n")
                .unwrap();
            c.apply_yaml(mcflow_sim::scenario::fixtures::TRUST_ROOTS)
                .unwrap();
            c.apply(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "linkerd-config", "namespace": "linkerd"},
                "data": {"values": format!("clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nlinkerdVersion: {tag}\n")}}))
                .unwrap();
            // CRDs first, so that the rest finds its kinds.
            let (crds, rest): (Vec<&Value>, Vec<&Value>) = core
                .iter()
                .partition(|o| o["kind"] == "CustomResourceDefinition");
            for o in crds.into_iter().chain(rest) {
                c.apply(o.clone())
                    .unwrap_or_else(|e| panic!("{} {rel}: {e}", b.kind()));
            }
        }
        // The real token controller fills the remote-access token Secret in.
        let rc = real_b.cluster("internal");
        assert!(rc.wait_until(std::time::Duration::from_secs(30), |c| {
            c.get(
                "v1",
                "Secret",
                "linkerd-multicluster",
                "linkerd-service-mirror-remote-access-production-token",
            )
            .is_some_and(|s| s.pointer("/data/token").is_some())
        }));
        let sub = if *rel == "2.17" { "link" } else { "link-gen" };
        let args = [
            "--context",
            "internal",
            "multicluster",
            sub,
            "--cluster-name",
            "internal",
            "--gateway-addresses",
            "127.0.0.1",
            "--service-account-name",
            "linkerd-service-mirror-remote-access-production",
        ];
        let r = real_linkerd(bin)
            .env("KUBECONFIG", real_b.kubeconfig_path())
            .args(args)
            .output()
            .unwrap();
        let f = Command::new(env!("CARGO_BIN_EXE_fake-linkerd"))
            .env("KUBECONFIG", sim_b.kubeconfig_path())
            .env("FAKE_LINKERD_VERSION", tag)
            .env("FAKE_LINKERD_STATE_DIR", std::env::temp_dir())
            .args(args)
            .output()
            .unwrap();
        let outcome = |o: &Output| rig_common::Outcome {
            ok: o.status.success(),
            stdout: normalised_documents(&String::from_utf8_lossy(&o.stdout)),
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        };
        diffs.compare(
            &format!("{rel}: multicluster {sub}"),
            outcome(&f),
            outcome(&r),
        );
    }
    // 2.17's `link` prints the service mirror's objects; the fake's fixture (link-2.17.yaml)
    // has a simpler Deployment (no securityContext, volumes, some args and labels), no
    // `links/status` rule and no federatedServiceSelector: sim/README.md, simplifications.
    diffs.assert_only(&["2.17: multicluster link"]);
}

/// `link` (2.17) / `link-gen` (2.18+) of the real CLI and of the fake against one simulated hub,
/// one requirement missing at a time in the order upstream reads them: the same outcome and the
/// same first stderr line (the usage that follows differs in length, not in kind). Then `unlink`
/// of both on a spoke: the same objects in the same order.
#[test]
fn link_requirement_errors_and_unlink_match_the_real_cli() {
    let present: Vec<(&str, &str, std::path::PathBuf)> = RELEASES
        .iter()
        .filter_map(|(rel, tag)| linkerd_bin(rel).map(|b| (*rel, *tag, b)))
        .collect();
    if present.is_empty() {
        println!("rig skipped: no linkerd-2.x in {}", bin_dir().display());
        return;
    }
    let mut diffs = rig_common::Differences::default();
    for (rel, tag, bin) in &present {
        let sim = mcflow_sim::Simulator::builder()
            .clusters(["internal", "production"])
            .scenario(mcflow_sim::Scenario::linkerd_fresh().applicationset(false))
            .start_blocking()
            .expect("simulator starts");
        let hub = sim.cluster("internal");
        let sub = if *rel == "2.17" { "link" } else { "link-gen" };
        let args = [
            "--context",
            "internal",
            "multicluster",
            sub,
            "--cluster-name",
            "internal",
            "--gateway-addresses",
            "127.0.0.1",
            "--service-account-name",
            "linkerd-service-mirror-remote-access-production",
        ];
        let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd-multicluster}\n";
        let sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: linkerd-service-mirror-remote-access-production, namespace: linkerd-multicluster}\n";
        let token = "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\nmetadata:\n  name: linkerd-service-mirror-remote-access-production-token\n  namespace: linkerd-multicluster\n  annotations: {kubernetes.io/service-account.name: linkerd-service-mirror-remote-access-production}\n";
        let gateway = |annotations: &str| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: linkerd-gateway\n  namespace: linkerd-multicluster\n  annotations: {{{annotations}}}\nspec:\n  type: NodePort\n  ports:\n  - {{name: mc-gateway, port: 4143, nodePort: 30143}}\n  - {{name: mc-probe, port: 4191, nodePort: 30191}}\n"
            )
        };
        let steps: Vec<(&str, String)> = vec![
            ("no remote-access account", ns.to_string()),
            ("no token Secret", sa.to_string()),
            ("no gateway", token.to_string()),
            ("no gateway identity", gateway("")),
            (
                "probe period 3s",
                gateway(
                    "mirror.linkerd.io/gateway-identity: gw.id, mirror.linkerd.io/probe-path: /ready, mirror.linkerd.io/probe-period: 3s",
                ),
            ),
        ];
        for (what, yaml) in steps {
            hub.apply_yaml(&yaml).expect("hub state");
            // The token controller fills the token Secret in before the CLIs read it.
            assert!(hub.wait_until(std::time::Duration::from_secs(10), |c| {
                c.get(
                    "v1",
                    "Secret",
                    "linkerd-multicluster",
                    "linkerd-service-mirror-remote-access-production-token",
                )
                .is_none_or(|s| s.pointer("/data/token").is_some())
            }));
            let r = real_linkerd(bin)
                .env("KUBECONFIG", sim.kubeconfig_path())
                .args(args)
                .output()
                .unwrap();
            let f = Command::new(env!("CARGO_BIN_EXE_fake-linkerd"))
                .env("KUBECONFIG", sim.kubeconfig_path())
                .env("FAKE_LINKERD_VERSION", tag)
                .args(args)
                .output()
                .unwrap();
            let first = |o: &Output| rig_common::Outcome {
                ok: o.status.success(),
                stdout: if o.status.success() {
                    "(a manifest)".into()
                } else {
                    String::from_utf8_lossy(&o.stdout).into_owned()
                },
                stderr: String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .find(|l| l.starts_with("Error:"))
                    .unwrap_or_default()
                    .to_string(),
            };
            diffs.compare(&format!("{rel}: {sub} with {what}"), first(&f), first(&r));
        }
        // unlink on a spoke with a Link and a mirror.
        let spoke = sim.cluster("production");
        spoke
            .apply_yaml(&format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: linkerd-multicluster}}\n---\napiVersion: {}\nkind: Link\nmetadata: {{name: internal, namespace: linkerd-multicluster}}\nspec: {{targetClusterName: internal, targetClusterDomain: cluster.local, targetClusterLinkerdNamespace: linkerd, clusterCredentialsSecret: cluster-credentials-internal, gatewayAddress: 127.0.0.1, gatewayPort: \"30143\", gatewayIdentity: gw.id, probeSpec: {{path: /ready, port: \"30191\", period: 3s}}}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: linkerd}}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-credentials-internal\n  namespace: linkerd\n  labels: {{multicluster.linkerd.io/cluster-name: internal}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: monitoring}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: alloy-internal\n  namespace: monitoring\n  labels: {{mirror.linkerd.io/mirrored-service: \"true\", mirror.linkerd.io/cluster-name: internal}}\nspec: {{ports: [{{port: 80}}]}}\n", mcflow_sim::LinkerdVersion::parse(tag).unwrap().link_api_version()))
            .expect("spoke state");
        let unlink = [
            "--context",
            "production",
            "multicluster",
            "unlink",
            "--cluster-name",
            "internal",
        ];
        let objects = |o: Output| rig_common::Outcome {
            ok: o.status.success(),
            stdout: mcflow_sim::cluster::parse_yaml_documents(&String::from_utf8_lossy(&o.stdout))
                .unwrap_or_default()
                .iter()
                .map(|d| {
                    format!(
                        "{} {} {}",
                        d["kind"].as_str().unwrap_or(""),
                        d["metadata"]["namespace"].as_str().unwrap_or("-"),
                        d["metadata"]["name"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            stderr: String::new(),
        };
        let r = real_linkerd(bin)
            .env("KUBECONFIG", sim.kubeconfig_path())
            .args(unlink)
            .output()
            .unwrap();
        let f = Command::new(env!("CARGO_BIN_EXE_fake-linkerd"))
            .env("KUBECONFIG", sim.kubeconfig_path())
            .env("FAKE_LINKERD_VERSION", tag)
            .args(unlink)
            .output()
            .unwrap();
        diffs.compare(&format!("{rel}: unlink"), objects(f), objects(r));
    }
    diffs.assert_only(&[]);
}
