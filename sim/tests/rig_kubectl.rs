//! Differential: the real kubectl runs the same commands against the simulator and against a
//! real control plane (the rig), and their outcomes are compared after normalising what differs
//! between any two runs. Every difference is either fixed in the simulator or listed in
//! sim/README.md's simplifications, and named in `KNOWN` below. Skipped, with one line, where
//! the rig's binaries or kubectl are missing.

mod rig_common;

use std::path::Path;
use std::time::Instant;

use mcflow_sim::rig::{Backend, BackendKind};
use rig_common::{Differences, Outcome, kubectl, rig_or_skip};

/// Steps whose outcomes differ, each documented in sim/README.md (Known simplifications).
const KNOWN: &[&str] = &[
    // The simulator serves only the groups of the kinds it implements.
    "discovery: api-versions",
];

const NS: &str = "rig-a";

const MANIFEST: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: rig-a
data:
  k: v
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: rig-a
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: rig-a
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
        ports: [{containerPort: 8080}]
"#;

/// The same ConfigMap with a value another field manager does not own.
const CONFLICTING: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: rig-a
data:
  k: other
"#;

/// A Deployment whose selector does not match its template's labels.
const INVALID_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: rig-a
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers: [{name: c, image: busybox}]
"#;

/// A PUT with a resourceVersion the server has moved past.
const STALE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: rig-a
  resourceVersion: "2"
data:
  k: stale
"#;

#[test]
fn kubectl_sees_the_same_on_sim_and_real() {
    if rig_or_skip(true).is_err() {
        return;
    }
    let t0 = Instant::now();
    let real = Backend::start(BackendKind::Real, &["internal"]).expect("rig starts");
    let started = t0.elapsed();
    let sim = Backend::start(BackendKind::Sim, &["internal"]).expect("simulator starts");
    let files = tempdir();
    let write = |name: &str, text: &str| {
        let p = files.join(name);
        std::fs::write(&p, text).expect("write");
        p.to_string_lossy().into_owned()
    };
    let manifest = write("manifest.yaml", MANIFEST);
    let conflicting = write("conflicting.yaml", CONFLICTING);
    let invalid = write("invalid.yaml", INVALID_DEPLOYMENT);
    let stale = write("stale.yaml", STALE);
    let crds = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/crds.yaml")
        .to_string_lossy()
        .into_owned();
    let n = &["-n", NS][..];
    let steps: Vec<(&str, Vec<&str>)> = vec![
        ("create namespace", vec!["create", "namespace", NS]),
        (
            "apply --server-side",
            vec!["apply", "--server-side", "-f", &manifest],
        ),
        (
            "apply --server-side again",
            vec!["apply", "--server-side", "-f", &manifest],
        ),
        (
            "label",
            [&["label", "configmap", "cfg", "env=prod"][..], n].concat(),
        ),
        (
            "annotate",
            [&["annotate", "configmap", "cfg", "note=x"][..], n].concat(),
        ),
        (
            "label without --overwrite",
            [&["label", "configmap", "cfg", "env=dev"][..], n].concat(),
        ),
        (
            "get configmap -o json",
            [&["get", "configmap", "cfg", "-o", "json"][..], n].concat(),
        ),
        (
            "get service -o json",
            [&["get", "service", "web", "-o", "json"][..], n].concat(),
        ),
        (
            "get -l selector",
            [
                &["get", "configmaps", "-l", "env=prod", "-o", "name"][..],
                n,
            ]
            .concat(),
        ),
        (
            "wait Available",
            [
                &[
                    "wait",
                    "--for=condition=Available",
                    "deployment/web",
                    "--timeout=90s",
                ][..],
                n,
            ]
            .concat(),
        ),
        (
            "deployment availableReplicas",
            [
                &[
                    "get",
                    "deployment",
                    "web",
                    "-o",
                    "jsonpath={.status.availableReplicas}",
                ][..],
                n,
            ]
            .concat(),
        ),
        (
            "deployment spec defaults",
            [
                &["get", "deployment", "web", "-o", "jsonpath={.spec}"][..],
                n,
            ]
            .concat(),
        ),
        (
            "get missing: 404",
            [&["get", "configmap", "nope"][..], n].concat(),
        ),
        (
            "create existing: 409",
            [&["create", "configmap", "cfg"][..], n].concat(),
        ),
        (
            "apply conflict: 409",
            vec![
                "apply",
                "--server-side",
                "--field-manager=other",
                "-f",
                &conflicting,
            ],
        ),
        ("replace stale: 409", vec!["replace", "-f", &stale]),
        (
            "create invalid name: 422",
            [&["create", "configmap", "Bad_Name"][..], n].concat(),
        ),
        (
            "apply invalid deployment: 422",
            vec!["apply", "--server-side", "-f", &invalid],
        ),
        ("delete", [&["delete", "configmap", "cfg"][..], n].concat()),
        (
            "get --ignore-not-found",
            [&["get", "configmap", "cfg", "--ignore-not-found"][..], n].concat(),
        ),
        (
            "delete missing: 404",
            [&["delete", "configmap", "cfg"][..], n].concat(),
        ),
        ("apply CRDs", vec!["apply", "--server-side", "-f", &crds]),
        (
            "wait CRD established",
            vec![
                "wait",
                "--for=condition=established",
                "crd/links.multicluster.linkerd.io",
                "--timeout=30s",
            ],
        ),
        (
            "discovery: api-resources",
            vec![
                "api-resources",
                "--api-group=multicluster.linkerd.io",
                "-o",
                "name",
            ],
        ),
        ("discovery: api-versions", vec!["api-versions"]),
        (
            "list custom resources",
            vec!["get", "links.multicluster.linkerd.io", "-A"],
        ),
        (
            "delete namespace",
            vec!["delete", "namespace", NS, "--timeout=90s"],
        ),
        ("get deleted namespace: 404", vec!["get", "namespace", NS]),
    ];
    let mut diffs = Differences::default();
    let repl = |b: &Backend| {
        vec![(
            b.kubeconfig_path()
                .parent()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            "<dir>".to_string(),
        )]
    };
    let (rs, rr) = (repl(&sim), repl(&real));
    for (step, args) in &steps {
        let s = Outcome::of(&kubectl(sim.kubeconfig_path(), "internal", args), &rs);
        let r = Outcome::of(&kubectl(real.kubeconfig_path(), "internal", args), &rr);
        diffs.compare(step, s, r);
    }
    println!(
        "rig: started in {:.1}s; {} steps on both in {:.1}s in all; {} differ",
        started.as_secs_f64(),
        steps.len(),
        t0.elapsed().as_secs_f64(),
        diffs.found.len()
    );
    drop(real);
    let _ = std::fs::remove_dir_all(&files);
    diffs.assert_only(KNOWN);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mcflow-rig-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
