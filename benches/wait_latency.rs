//! Benchmark of figure 4 (issue 8): wait latency. A `mcflow run` of one `kube: wait` step
//! (`for: available`) on a Deployment the simulator holds unavailable; once mcflow's watch is
//! open, the bench flips the Deployment to Available and times how long until mcflow reports
//! the step finished (its `step_succeeded` line on stdout, written after the journal's fsync).
//!
//! The baseline, measured on the same flip: a kube-rs watch in the bench process itself (the
//! floor for any watching client: TLS, HTTP/2 or 1.1 chunk, JSON decode). Aim: median ≤ 20 ms;
//! the ratio to the baseline is printed as well.
//!
//! Run: `cargo bench --bench wait_latency` (also in `just bench`); `-- --quick` for fewer runs.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use mcflow_sim::{Cluster, Simulator};

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n\
spec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n";

fn available(d: &Deployment) -> bool {
    d.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")
            })
        })
}

/// A kube-rs watch of `default/web` on its own thread: sends the instant it first sees the
/// Deployment Available. `ready` is sent once the watch has had its first answer.
fn baseline_watch(
    sim: &Simulator,
    kubeconfig: Kubeconfig,
    ready: mpsc::Sender<()>,
    seen: mpsc::Sender<Instant>,
) {
    let handle = sim.handle();
    handle.spawn(async move {
        let options = KubeConfigOptions {
            context: Some("bench".into()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .expect("kubeconfig");
        let client = kube::Client::try_from(config).expect("client");
        let api: kube::Api<Deployment> = kube::Api::namespaced(client, "default");
        let mut stream =
            watcher(api, watcher::Config::default().fields("metadata.name=web")).boxed();
        let mut told = false;
        while let Some(ev) = stream.next().await {
            let objects: Vec<Deployment> = match ev {
                Ok(watcher::Event::Apply(d)) | Ok(watcher::Event::InitApply(d)) => vec![d],
                Ok(watcher::Event::InitDone) => {
                    if !told {
                        told = true;
                        let _ = ready.send(());
                    }
                    vec![]
                }
                _ => vec![],
            };
            if objects.iter().any(available) {
                let _ = seen.send(Instant::now());
                return;
            }
        }
    });
}

/// One sample: (mcflow's latency, the baseline watch's latency) from the flip.
fn sample(sim: &Simulator, cluster: &Cluster, dir: &std::path::Path) -> (Duration, Duration) {
    cluster
        .set_deployment_available("default", "web", false)
        .expect("pin unavailable");
    let kubeconfig = Kubeconfig::read_from(sim.kubeconfig_path()).expect("kubeconfig");
    let (ready_tx, ready_rx) = mpsc::channel();
    let (seen_tx, seen_rx) = mpsc::channel();
    baseline_watch(sim, kubeconfig, ready_tx, seen_tx);
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("baseline watch up");

    cluster.clear_request_log();
    let mut child = mcflow(dir)
        .args(["run", "wait.yaml", "--output", "json", "--kubeconfig"])
        .arg(sim.kubeconfig_path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mcflow starts");
    let stdout = child.stdout.take().expect("stdout");
    let (done_tx, done_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("\"event\":\"step_succeeded\"") {
                let _ = done_tx.send(Instant::now());
            }
        }
    });
    // mcflow's watch is open once the simulator has answered it (the answer streams on).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cluster
        .request_log()
        .iter()
        .any(|r| r.watch && r.path.ends_with("/deployments") && r.status == 200)
    {
        assert!(Instant::now() < deadline, "mcflow never watched");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    let flip = Instant::now();
    cluster
        .set_deployment_available("default", "web", true)
        .expect("flip");
    let done = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("mcflow finished the step");
    let seen = seen_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the baseline watch saw it");
    let status = child.wait().expect("mcflow exits");
    assert!(status.success(), "mcflow failed");
    let _ = reader.join();
    (done - flip, seen - flip)
}

fn main() {
    let runs = if quick() { 5 } else { 15 };
    let scratch = scratch();
    let dir = scratch.path();
    let sim = Simulator::builder()
        .cluster("bench")
        .deployment_ready_delay(Duration::from_secs(3600))
        .kubeconfig_path(dir.join("kubeconfig"))
        .start_blocking()
        .expect("simulator starts");
    let cluster = sim.cluster("bench");
    cluster.apply_yaml(DEPLOYMENT).expect("deployment");
    std::fs::write(
        dir.join("wait.yaml"),
        "name: wait\nsteps:\n  - id: web_ready\n    kube:\n      context: bench\n      \
         wait: { kind: Deployment, namespace: default, name: web, for: available }\n    timeout: 1m\n",
    )
    .expect("write");

    sample(&sim, &cluster, dir); // warm-up
    let (mut mc, mut base) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (m, b) = sample(&sim, &cluster, dir);
        mc.push(m);
        base.push(b);
    }
    let ratios: Vec<f64> = mc
        .iter()
        .zip(&base)
        .map(|(m, b)| m.as_secs_f64() / b.as_secs_f64().max(1e-6))
        .collect();
    let (mc_min, mc_max) = (
        mc.iter().min().copied().unwrap_or_default(),
        mc.iter().max().copied().unwrap_or_default(),
    );
    let (mc, base) = (median(mc), median(base));
    println!("wait latency (flip to Available → step finished), median of {runs} runs:");
    println!(
        "  mcflow step_succeeded after the flip  {:>8.2} ms  (min {:.2}, max {:.2})",
        ms(mc),
        ms(mc_min),
        ms(mc_max)
    );
    println!(
        "  baseline: a kube-rs watch sees it     {:>8.2} ms",
        ms(base)
    );
    figure(
        "4",
        "wait latency, flip → step finished",
        format!(
            "{:.2} ms ({:.1}× a bare kube-rs watch, {:.2} ms)",
            ms(mc),
            median_f(ratios),
            ms(base)
        ),
        "≤ 20 ms",
        ms(mc) <= 20.0,
    );
}
