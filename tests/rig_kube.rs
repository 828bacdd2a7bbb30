//! Differential: mcflow's kube actions, through the real `mcflow` binary, on the simulator and
//! on a real control plane (the rig, `mcflow_sim::rig`): the same workflow must end the same
//! way (exit code, and the state it leaves). Skipped with one line where the rig is missing.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use mcflow_sim::rig::{AnyCluster, Backend, BackendKind, RealClusters};

const MANIFEST: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: rig-kube}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: rig-kube, labels: {app: web}}
data: {k: v}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: rig-kube}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: rig-kube}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27}]
"#;

const WORKFLOW: &str = r#"
name: rig-kube-actions
steps:
  - id: manifest
    run: { argv: [cat, manifest.yaml] }
  - id: apply
    kube:
      context: internal
      apply: { manifest: "{{ steps.manifest.stdout }}" }
  - id: apply_again
    kube:
      context: internal
      apply: { manifest: "{{ steps.manifest.stdout }}" }
  - id: available
    kube:
      context: internal
      wait: { kind: Deployment, namespace: rig-kube, name: web, for: available }
    timeout: 90s
  - id: cfg
    kube:
      context: internal
      get: { kind: ConfigMap, namespace: rig-kube, name: cfg, capture: { k: /data/k } }
  - id: check
    assert:
      that: "steps.cfg.outputs.k == 'v'"
  - id: label
    kube:
      context: internal
      label:
        target: { kind: ConfigMap, namespace: rig-kube, selector: "app=web" }
        set: { mcflow.io/checked: "yes" }
  - id: annotate
    kube:
      context: internal
      annotate:
        target: { kind: Service, namespace: rig-kube, name: web }
        set: { mcflow.io/by: mcflow }
  - id: delete
    kube:
      context: internal
      delete: { kind: Service, namespace: rig-kube, name: web }
  - id: gone
    kube:
      context: internal
      wait: { kind: Service, namespace: rig-kube, name: web, for: deleted }
    timeout: 60s
"#;

/// A Deployment the API server refuses (selector not matching the template): a 422.
const INVALID: &str = r#"
name: rig-kube-invalid
steps:
  - id: apply
    kube:
      context: internal
      apply:
        manifest: |
          apiVersion: apps/v1
          kind: Deployment
          metadata: {name: bad, namespace: default}
          spec:
            selector: {matchLabels: {app: a}}
            template:
              metadata: {labels: {app: b}}
              spec: {containers: [{name: c, image: busybox}]}
"#;

fn mcflow(dir: &Path, workflow: &str, kubeconfig: &Path) -> (i32, String) {
    let file = dir.join("workflow.yaml");
    std::fs::write(&file, workflow).unwrap();
    let out = Command::cargo_bin("mcflow")
        .unwrap()
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn,mcflow::kube::http=debug")
        .arg("run")
        .arg(&file)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--state-dir")
        .arg(dir.join(".mcflow"))
        .args(["--output", "plain"])
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// What the workflow leaves behind, in words both backends must agree on.
fn state(c: &AnyCluster) -> Vec<String> {
    let cm = c.get("v1", "ConfigMap", "rig-kube", "cfg");
    vec![
        format!(
            "configmap label: {:?}",
            cm.as_ref()
                .and_then(|o| o["metadata"]["labels"]["mcflow.io/checked"].as_str())
        ),
        format!(
            "service present: {}",
            c.get("v1", "Service", "rig-kube", "web").is_some()
        ),
        format!(
            "deployment replicas: {:?}",
            c.get("apps/v1", "Deployment", "rig-kube", "web")
                .and_then(|d| d["spec"]["replicas"].as_i64())
        ),
        format!(
            "invalid deployment stored: {}",
            c.get("apps/v1", "Deployment", "default", "bad").is_some()
        ),
    ]
}

#[test]
fn kube_actions_end_the_same_on_sim_and_real() {
    if let Err(why) = RealClusters::available() {
        println!("rig skipped: {why}");
        return;
    }
    let mut results = Vec::new();
    for kind in [BackendKind::Sim, BackendKind::Real] {
        let b = Backend::start(kind, &["internal"]).expect("backend starts");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.yaml"), MANIFEST).unwrap();
        let (code, out) = mcflow(dir.path(), WORKFLOW, b.kubeconfig_path());
        assert_eq!(code, 0, "{kind}: {out}");
        let dir2 = tempfile::tempdir().unwrap();
        let (invalid_code, invalid_out) = mcflow(dir2.path(), INVALID, b.kubeconfig_path());
        println!("{kind}: invalid Deployment: exit {invalid_code}");
        let mut st = state(&b.cluster("internal"));
        // The HTTP the API server chose for mcflow's client (kube/http.rs): HTTP/2 on both, one
        // connection per cluster.
        let protocols: std::collections::BTreeSet<&str> = out
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("protocol="))
            .collect();
        st.push(format!("protocols: {protocols:?}"));
        results.push((kind, code, invalid_code, st, invalid_out));
    }
    let (s, r) = (&results[0], &results[1]);
    assert!(
        r.3.contains(&r#"protocols: {"HTTP/2.0"}"#.to_string()),
        "{:?}",
        r.3
    );
    assert_eq!(
        (s.1, s.2, &s.3),
        (r.1, r.2, &r.3),
        "sim vs real differ:\nsim: {:?}\n{}\nreal: {:?}\n{}",
        s.3,
        s.4,
        r.3,
        r.4
    );
}
