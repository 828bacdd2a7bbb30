//! Benchmark of figure 3 (issue 8): applying 100 objects to a simulated cluster with one
//! `mcflow run` (one `kube: apply` step, server-side apply) against the peer, one
//! `kubectl apply --server-side` process per object, against the same simulator in the same run.
//!
//! Two figures:
//! - requests ÷ objects, from the simulator's request log (discovery included): aim ≤ 1.05;
//! - time per object, kubectl ÷ mcflow: aim ≥ 20.
//!
//! Run: `cargo bench --bench kube_apply` (also in `just bench`); `-- --quick` for fewer runs.
//! kubectl is `/usr/bin/kubectl` or `KUBECTL`; without it only the request figure is shown.
//! kubectl keeps its discovery cache between its runs here (its best case).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mcflow_sim::Simulator;

const OBJECTS: usize = 100;

fn config_map(prefix: &str, i: usize, run: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {prefix}-{i:03}\n  namespace: bench\n  labels: {{app: {prefix}}}\ndata:\n  index: \"{i}\"\n  run: \"{run}\"\n"
    )
}

fn manifest(run: usize) -> String {
    (0..OBJECTS)
        .map(|i| config_map("bench", i, run))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn kubectl() -> Option<PathBuf> {
    let p = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    p.is_file().then_some(p)
}

/// One `mcflow run` applying the manifest; its wall time.
fn run_mcflow(dir: &Path, kubeconfig: &Path) -> Duration {
    let start = Instant::now();
    let out = mcflow(dir)
        .args(["run", "apply.yaml", "--output", "plain", "--kubeconfig"])
        .arg(kubeconfig)
        .stdin(Stdio::null())
        .output()
        .expect("mcflow runs");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "mcflow failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// `kubectl apply --server-side` of object `i` (its own objects, `kubectl-NNN`, so that the
/// two field managers never conflict), one process; its wall time.
fn run_kubectl(kubectl: &Path, dir: &Path, kubeconfig: &Path, i: usize, run: usize) -> Duration {
    let file = dir.join(format!("kubectl-{i}.yaml"));
    std::fs::write(&file, config_map("kubectl", i, run)).expect("write");
    let start = Instant::now();
    let out = Command::new(kubectl)
        .env("HOME", dir) // its discovery cache lives under $HOME/.kube/cache
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--context", "bench", "apply", "--server-side"])
        .args(["--field-manager", "kubectl-bench", "-f"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("kubectl runs");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn main() {
    let runs = if quick() { 3 } else { 7 };
    let kubectl_objects = if quick() { 10 } else { 20 };
    let scratch = scratch();
    let dir = scratch.path();
    let sim = Simulator::builder()
        .cluster("bench")
        .kubeconfig_path(dir.join("kubeconfig"))
        .start_blocking()
        .expect("simulator starts");
    let kubeconfig = sim.kubeconfig_path().to_path_buf();
    let cluster = sim.cluster("bench");
    cluster
        .apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n")
        .expect("namespace");
    std::fs::write(
        dir.join("apply.yaml"),
        "name: apply\nsteps:\n  - id: apply\n    kube: { context: bench, apply: { file: objects.yaml } }\n",
    )
    .expect("write");

    // Warm-up (page cache, the binary), then each run changes every object (`run` in data),
    // so that every apply is a real change, on both sides.
    std::fs::write(dir.join("objects.yaml"), manifest(0)).expect("write");
    run_mcflow(dir, &kubeconfig);
    let kubectl = kubectl();
    if let Some(k) = &kubectl {
        run_kubectl(k, dir, &kubeconfig, 0, 0);
    }

    let (mut mc, mut kc, mut requests) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        std::fs::write(dir.join("objects.yaml"), manifest(run)).expect("write");
        cluster.clear_request_log();
        mc.push(run_mcflow(dir, &kubeconfig) / OBJECTS as u32);
        requests.push(cluster.request_count());
        if let Some(k) = &kubectl {
            let per: Vec<Duration> = (0..kubectl_objects)
                .map(|i| run_kubectl(k, dir, &kubeconfig, i, run))
                .collect();
            kc.push(median(per));
        }
    }
    let log = {
        cluster.clear_request_log();
        run_mcflow(dir, &kubeconfig);
        cluster.request_log()
    };
    let applied = cluster
        .list("v1", "ConfigMap", Some("bench"), "app=bench")
        .map(|l| l.len())
        .unwrap_or(0);
    assert_eq!(applied, OBJECTS, "objects on the cluster");

    requests.sort();
    let req = requests[requests.len() / 2];
    let per_object_requests = req as f64 / OBJECTS as f64;
    let mc = median(mc);
    println!("kube apply of {OBJECTS} ConfigMaps on the simulator, median of {runs} runs:");
    println!(
        "  mcflow run (one apply step)        {:>9.2} ms per object ({:.1} ms the run)",
        ms(mc),
        ms(mc * OBJECTS as u32)
    );
    let mut methods: Vec<String> = log
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .filter(|s| !s.contains("/configmaps/bench-"))
        .collect();
    methods.dedup();
    println!(
        "  requests                           {req:>9} ({per_object_requests:.2} per object; other than the objects' PATCHes: {})",
        methods.join(", ")
    );
    figure(
        "3a",
        "kube apply: requests ÷ objects",
        format!("{per_object_requests:.2} ({req} for {OBJECTS})"),
        "≤ 1.05",
        per_object_requests <= 1.05,
    );
    if kubectl.is_some() {
        let kc = median(kc);
        let ratio = kc.as_secs_f64() / mc.as_secs_f64();
        println!(
            "  baseline: kubectl apply --server-side, one process per object {:>7.2} ms per object",
            ms(kc)
        );
        figure(
            "3b",
            "kube apply: kubectl per object ÷ mcflow per object",
            format!("{ratio:.1}× ({:.2} ms vs {:.2} ms)", ms(kc), ms(mc)),
            "≥ 20×",
            ratio >= 20.0,
        );
    } else {
        println!("  kubectl not found (/usr/bin/kubectl or KUBECTL): no peer figure");
    }
}
