//! Benchmark of the kube state store (issue 16), on the simulator:
//!
//! - FIGURE 16a: per-step overhead with `--state kube:hub/<ns>` ÷ (the local per-step floor +
//!   one API write round trip), all measured in this run. Per-step overhead = (time of an
//!   N-step chain of `/bin/true` − time of a 1-step run) / (N − 1), as in step_overhead. The
//!   local floor: spawn `/bin/true` with its output captured + one fsync'd 200-byte append. The
//!   round trip: one merge patch of a Secret conditional on its resourceVersion (what a journal
//!   write is), from a kube-rs client, median of many. Aim ≤ 1.2.
//! - FIGURE 16b: resume from a 1,000-step kube journal (999 steps done) to the `step_started`
//!   of the first new step, process start included. Aim ≤ 200 ms. The journal is made once by
//!   a local run and imported (`mcflow state import`) into a fresh namespace before each sample.
//!
//! Run: `cargo bench --bench kube_state` (also in `just bench`); `-- --quick` for fewer runs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mcflow_sim::Simulator;

const CHAIN: usize = 100;
const RESUME_STEPS: usize = 1000;

fn chain(n: usize, last_fails: bool) -> String {
    let mut y = String::from("name: chain\nsteps:\n");
    for i in 0..n {
        let run = if last_fails && i == n - 1 {
            "[/usr/bin/test, -e, go]"
        } else {
            "/bin/true"
        };
        y.push_str(&format!("  - id: s{i:04}\n    run: {run}\n"));
    }
    y
}

fn namespace(sim: &Simulator, ns: &str) {
    sim.cluster("hub")
        .apply_yaml(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
        ))
        .expect("namespace");
}

/// `mcflow` on the simulated hub's store in namespace `ns`.
fn kube_mcflow(dir: &Path, sim: &Simulator, ns: &str) -> Command {
    let mut cmd = mcflow(dir);
    cmd.arg("--kubeconfig")
        .arg(sim.kubeconfig_path())
        .args(["--state", &format!("kube:hub/{ns}")])
        .stdin(Stdio::null());
    cmd
}

fn timed_run(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect("mcflow runs");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "mcflow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// The local floor per step: spawn `/bin/true` (output captured) + a fsync'd 200-byte append.
fn local_floor(dir: &Path, n: usize) -> Duration {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(dir.join("floor.jsonl"))
        .expect("open");
    let mut line = vec![b'x'; 199];
    line.push(b'\n');
    let start = Instant::now();
    for _ in 0..n {
        let mut child = Command::new("/bin/true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut sink = Vec::new();
        let _ = child.stdout.take().map(|mut o| o.read_to_end(&mut sink));
        let _ = child.stderr.take().map(|mut e| e.read_to_end(&mut sink));
        child.wait().expect("wait");
        file.write_all(&line).expect("append");
        file.sync_data().expect("fsync");
    }
    start.elapsed() / n as u32
}

/// One API write round trip: a conditional merge patch of a Secret, as a journal write is.
fn api_round_trip(sim: &Simulator, n: usize) -> Duration {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, Patch, PatchParams, PostParams};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).expect("kubeconfig");
        let opts = kube::config::KubeConfigOptions {
            context: Some("hub".into()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .expect("config");
        let client = kube::Client::try_from(config).expect("client");
        let api: Api<Secret> = Api::namespaced(client, "bench-rtt");
        let s: Secret = serde_json::from_value(serde_json::json!({"metadata": {"name": "rtt"}}))
            .expect("secret");
        let mut rv = api
            .create(&PostParams::default(), &s)
            .await
            .expect("create")
            .metadata
            .resource_version;
        let line = base64_line();
        let mut samples = Vec::with_capacity(n);
        for i in 0..n {
            let patch = serde_json::json!({
                "metadata": {"resourceVersion": rv},
                "data": {format!("{i:06}"): line},
            });
            let start = Instant::now();
            let s = api
                .patch("rtt", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("patch");
            samples.push(start.elapsed());
            rv = s.metadata.resource_version;
        }
        median(samples)
    })
}

/// A 200-byte line, base64 (as a journal batch travels).
fn base64_line() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([b'x'; 200])
}

fn per_step(one: Duration, many: Duration) -> Duration {
    many.saturating_sub(one) / (CHAIN as u32 - 1)
}

fn figure_a(dir: &Path, sim: &Simulator, runs: usize) {
    std::fs::write(dir.join("one.yaml"), chain(1, false)).expect("write");
    std::fs::write(dir.join("many.yaml"), chain(CHAIN, false)).expect("write");
    namespace(sim, "bench-a");
    namespace(sim, "bench-rtt");
    let run = |file: &str| {
        let mut cmd = kube_mcflow(dir, sim, "bench-a");
        cmd.args(["run", file, "--output", "json"]);
        timed_run(cmd)
    };
    run("many.yaml"); // warm-up
    let (mut one, mut many, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        one.push(run("one.yaml"));
        many.push(run("many.yaml"));
        floor.push(local_floor(dir, CHAIN));
    }
    let rtt = api_round_trip(sim, 200);
    let (one, many, floor) = (median(one), median(many), median(floor));
    let step = per_step(one, many);
    let ratio = step.as_secs_f64() / (floor + rtt).as_secs_f64();
    println!("kube store per-step overhead (simulated hub), median of {runs} runs:");
    println!(
        "  per step ((N − 1 step) / (N − 1), N = {CHAIN}) {:>9.1} µs",
        us(step)
    );
    println!(
        "  local floor (spawn + fsync'd append)        {:>9.1} µs",
        us(floor)
    );
    println!(
        "  one API write round trip (conditional patch) {:>8.1} µs",
        us(rtt)
    );
    figure(
        "16a",
        "kube store per-step overhead ÷ (local floor + one API write)",
        format!(
            "{ratio:.2} ({:.0} µs ÷ ({:.0} + {:.0}) µs)",
            us(step),
            us(floor),
            us(rtt)
        ),
        "≤ 1.2",
        ratio <= 1.2,
    );
}

/// One resume of the imported 1,000-step run in a fresh namespace: start → new step_started.
fn resume_sample(dir: &Path, sim: &Simulator, ns: &str) -> Duration {
    namespace(sim, ns);
    let mut import = kube_mcflow(dir, sim, ns);
    import.args(["-q", "state", "import", "runs.jsonl"]);
    timed_run(import);
    let last = format!("s{:04}", RESUME_STEPS - 1);
    let start = Instant::now();
    let mut child = kube_mcflow(dir, sim, ns)
        .args(["resume", "--last", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mcflow starts");
    let mut started = None;
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let Ok(line) = line else { break };
        if started.is_none() && line.contains("\"event\":\"step_started\"") && line.contains(&last)
        {
            started = Some(start.elapsed());
        }
    }
    assert!(child.wait().expect("exit").success(), "resume failed");
    started.expect("the last step started")
}

fn figure_b(dir: &Path, sim: &Simulator, runs: usize) {
    std::fs::write(dir.join("resume.yaml"), chain(RESUME_STEPS, true)).expect("write");
    let out = mcflow(dir)
        .args(["run", "resume.yaml", "--output", "plain"])
        .stdin(Stdio::null())
        .output()
        .expect("mcflow runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the last step fails the first run"
    );
    let export = mcflow(dir)
        .args(["state", "export"])
        .output()
        .expect("export");
    assert!(export.status.success());
    std::fs::write(dir.join("runs.jsonl"), &export.stdout).expect("write");
    std::fs::write(dir.join("go"), "").expect("write");
    resume_sample(dir, sim, "bench-r-warm");
    let samples: Vec<Duration> = (0..runs)
        .map(|i| resume_sample(dir, sim, &format!("bench-r{i}")))
        .collect();
    let resume = median(samples);
    println!(
        "  resume of a {RESUME_STEPS}-step kube journal → first new step {:>8.1} ms",
        ms(resume)
    );
    figure(
        "16b",
        "resume 1,000-step kube journal → first new step",
        format!("{:.1} ms", ms(resume)),
        "≤ 200 ms",
        resume <= Duration::from_millis(200),
    );
}

fn main() {
    let runs = if quick() { 3 } else { 9 };
    let scratch = scratch();
    let dir = scratch.path();
    let sim = Simulator::builder()
        .cluster("hub")
        .kubeconfig_path(dir.join("kubeconfig"))
        .start_blocking()
        .expect("simulator starts");
    figure_a(dir, &sim, runs);
    figure_b(dir, &sim, runs);
}
