//! The real-cluster rig itself: three clusters start, each is its own cluster (one etcd, a
//! prefix each), Deployments become Available through the controller manager, scheduler and
//! kwok, the helpers agree with the simulator's, and drop stops everything. Skipped, with one
//! line, where the rig's binaries are missing.

mod rig_common;

use std::time::{Duration, Instant};

use mcflow_sim::rig::{AnyCluster, Backend, BackendKind, RealClusters};
use serde_json::json;

const CLUSTERS: [&str; 3] = ["internal", "production", "nonproduction"];

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"#;

fn available(c: &AnyCluster) -> bool {
    c.get("apps/v1", "Deployment", "default", "web")
        .and_then(|d| {
            d.pointer("/status/conditions")
                .and_then(|c| c.as_array())
                .map(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Available" && c["status"] == "True")
                })
        })
        .unwrap_or(false)
}

/// The same helper calls on both backends give the same answers.
fn exercise(b: &Backend) {
    let kind = b.kind();
    for name in CLUSTERS {
        let c = b.cluster(name);
        assert_eq!(c.name(), name);
        assert!(c.url().starts_with("https://127.0.0.1:"), "{kind}");
        // Each cluster is its own: a namespace made in one is not in the others.
        c.apply_yaml(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: only-{name}}}\n"
        ))
        .unwrap();
    }
    for name in CLUSTERS {
        let c = b.cluster(name);
        for other in CLUSTERS {
            assert_eq!(
                c.get("v1", "Namespace", "", &format!("only-{other}"))
                    .is_some(),
                name == other,
                "{kind}: only-{other} seen in {name}"
            );
        }
    }
    let c = b.cluster("production");
    let created = c
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "default", "labels": {"x": "1"}}, "data": {"k": "v"}}))
        .unwrap();
    assert_eq!(created["data"]["k"], "v", "{kind}");
    let again = c
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}))
        .unwrap_err();
    assert_eq!(
        (again.code, again.reason.as_str()),
        (409, "AlreadyExists"),
        "{kind}: {again}"
    );
    assert_eq!(again.message, r#"configmaps "a" already exists"#, "{kind}");
    let patched = c
        .merge_patch(
            "v1",
            "ConfigMap",
            "default",
            "a",
            json!({"data": {"k": "w"}}),
        )
        .unwrap();
    assert_eq!(patched["data"]["k"], "w", "{kind}");
    let listed = c.list("v1", "ConfigMap", Some("default"), "x=1").unwrap();
    assert_eq!(listed.len(), 1, "{kind}");
    assert_eq!(
        (listed[0]["kind"].as_str(), listed[0]["apiVersion"].as_str()),
        (Some("ConfigMap"), Some("v1")),
        "{kind}"
    );
    assert!(
        c.list("v1", "ConfigMap", Some("default"), "x=2")
            .unwrap()
            .is_empty(),
        "{kind}"
    );
    c.delete("v1", "ConfigMap", "default", "a").unwrap();
    let gone = c.delete("v1", "ConfigMap", "default", "a").unwrap_err();
    assert_eq!(
        (gone.code, gone.reason.as_str()),
        (404, "NotFound"),
        "{kind}: {gone}"
    );
    assert_eq!(gone.message, r#"configmaps "a" not found"#, "{kind}");
    let unknown = c.get("example.com/v1", "Nothing", "default", "a");
    assert!(unknown.is_none(), "{kind}");

    // A Deployment becomes Available (the simulator's reactor; the rig's controllers + kwok).
    c.apply_yaml(DEPLOYMENT).unwrap();
    let t = Instant::now();
    assert!(
        c.wait_until(Duration::from_secs(90), available),
        "{kind}: deployment not Available"
    );
    println!(
        "{kind}: Deployment Available after {:.1}s",
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn rig_starts_three_clusters_like_the_simulator() {
    if rig_common::rig_or_skip(false).is_err() {
        return;
    }
    let t = Instant::now();
    let real = Backend::start(BackendKind::Real, &CLUSTERS).expect("rig starts");
    println!(
        "real: three clusters ready in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let sim = Backend::start(BackendKind::Sim, &CLUSTERS).expect("simulator starts");
    let kc = std::fs::read_to_string(real.kubeconfig_path()).unwrap();
    for name in CLUSTERS {
        assert!(kc.contains(&format!("- name: {name}\n  context:")), "{kc}");
    }
    exercise(&sim);
    exercise(&real);

    // Drop kills every process and removes the directory.
    let Backend::Real(rig) = real else {
        unreachable!()
    };
    let pids = rig.processes();
    assert_eq!(pids.len(), 1 + 4 * CLUSTERS.len(), "{pids:?}");
    let dir = rig.dir().to_path_buf();
    drop(rig);
    assert!(!dir.exists() || std::env::var_os("MCFLOW_RIG_KEEP").is_some());
    for (name, pid) in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or (reaped by now) at most a zombie.
        assert!(
            stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z"),
            "{name} ({pid}) still runs: {stat}"
        );
    }
}

/// A process that cannot start fails the start with its log's tail.
#[test]
fn a_failing_process_is_reported_with_its_log() {
    let Ok(bins) = RealClusters::available() else {
        println!("rig skipped: {}", RealClusters::available().unwrap_err());
        return;
    };
    let dir = std::env::temp_dir().join(format!("mcflow-rig-badbin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for b in mcflow_sim::rig::REQUIRED_BINARIES {
        let target = bins.join(b);
        let link = dir.join(b);
        let _ = std::fs::remove_file(&link);
        if b == "kube-apiserver" {
            std::fs::write(&link, "#!/bin/sh\necho 'bad flag: --nope' >&2\nexit 3\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            std::os::unix::fs::symlink(&target, &link).unwrap();
        }
    }
    let err = RealClusters::builder()
        .cluster("one")
        .bin_dir(&dir)
        .start_blocking()
        .err()
        .expect("the start fails");
    let msg = format!("{err:#}");
    assert!(msg.contains("kube-apiserver-one exited"), "{msg}");
    assert!(msg.contains("bad flag: --nope"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// API servers alone (no controllers): what a test needs that only talks to the API.
#[test]
fn api_only_rig_serves_the_api() {
    let bins = mcflow_sim::rig::bin_dir();
    if !bins.join("kube-apiserver").is_file() || !bins.join("etcd").is_file() {
        println!(
            "rig skipped: no etcd and kube-apiserver in {}",
            bins.display()
        );
        return;
    }
    let t = Instant::now();
    let rig = RealClusters::builder()
        .cluster("a")
        .cluster("b")
        .api_only()
        .start_blocking()
        .expect("rig starts");
    println!(
        "real (API only): two clusters ready in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let a = rig.cluster("a");
    let v = a.http("GET", "/version", None).unwrap();
    assert_eq!(v["major"], "1");
    a.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
        .unwrap();
    assert!(a.get("v1", "Namespace", "", "x").is_some());
    assert!(rig.cluster("b").get("v1", "Namespace", "", "x").is_none());
}
