//! Benchmark of the whole run (issue 18, item 4): `workflows/bootstrap.yaml` with the
//! repository's `config/clusters.yaml` on three simulated clusters (the Linkerd scenario, the
//! fake linkerd), each run on a fresh simulator whose Deployments (and Argo CD's syncs) become
//! ready a known delay after they change.
//!
//! The run's wall time is the simulator's delays on its critical path plus everything else: the
//! work itself (linkerd processes, API requests, the journal) and mcflow's idle gaps (polling,
//! backoff, a condition seen late). Two delays, `short` and `long`, give the slope: how many
//! delays lie on the critical path (`k`, an integer). Then `wall(long) − k × long` is the
//! overhead of the run, the same figure as `wall(short) − k × short` if nothing in mcflow grows
//! with the delay.
//!
//! Run: `cargo bench --bench bootstrap` (also in `just bench`); `-- --quick` for fewer runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use mcflow_sim::{Scenario, Simulator};

const CLUSTERS: [&str; 3] = ["internal", "production", "nonproduction"];

/// One bootstrap on a fresh simulator with ready delay `delay`: its wall time.
fn bootstrap(scratch: &Path, linkerd: &Path, delay: Duration) -> Duration {
    let dir = tempfile::tempdir_in(scratch).expect("run directory");
    let sim = Simulator::builder()
        .clusters(CLUSTERS)
        .scenario(Scenario::linkerd_fresh())
        .deployment_ready_delay(delay)
        .kubeconfig_path(dir.path().join("kubeconfig"))
        .start_blocking()
        .expect("simulator starts");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = mcflow(dir.path());
    cmd.current_dir(root)
        .env("FAKE_LINKERD_STATE_DIR", dir.path())
        .args(["--config", "config/clusters.yaml", "--output", "plain"])
        .arg("--kubeconfig")
        .arg(sim.kubeconfig_path())
        .arg("--linkerd")
        .arg(linkerd)
        .args(["run", "workflows/bootstrap.yaml"])
        .stdin(Stdio::null());
    let start = Instant::now();
    let out = cmd.output().expect("mcflow runs");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "bootstrap failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn main() {
    let runs = if quick() { 3 } else { 5 };
    let linkerd = std::env::var_os("FAKE_LINKERD")
        .map(PathBuf::from)
        .unwrap_or_else(mcflow_sim::fake_linkerd_bin);
    let linkerd = std::fs::canonicalize(&linkerd)
        .unwrap_or_else(|e| panic!("fake linkerd {}: {e}", linkerd.display()));
    let scratch = scratch();
    let (short, long) = (Duration::from_millis(20), Duration::from_millis(1000));
    // Warm-up: page cache, the binaries.
    bootstrap(scratch.path(), &linkerd, short);
    let (mut at_short, mut at_long) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        at_short.push(bootstrap(scratch.path(), &linkerd, short));
        at_long.push(bootstrap(scratch.path(), &linkerd, long));
    }
    let (ws, wl) = (median(at_short), median(at_long));
    let slope = (wl.as_secs_f64() - ws.as_secs_f64()) / (long - short).as_secs_f64();
    let k = slope.round().max(0.0);
    let overhead = wl.as_secs_f64() - k * long.as_secs_f64();
    let share = overhead / wl.as_secs_f64();
    println!("bootstrap on 3 simulated clusters, fresh simulator per run, median of {runs} runs:");
    println!(
        "  ready delay {:>5.0} ms    wall {:>8.1} ms",
        ms(short),
        ms(ws)
    );
    println!(
        "  ready delay {:>5.0} ms    wall {:>8.1} ms",
        ms(long),
        ms(wl)
    );
    println!(
        "  slope {slope:.2} delays per run: {k} ready delays on the critical path; \
         overhead at {:.0} ms: {:.1} ms ({:.1} % of the wall); at {:.0} ms: {:.1} ms",
        ms(long),
        overhead * 1e3,
        share * 100.0,
        ms(short),
        (ws.as_secs_f64() - k * short.as_secs_f64()) * 1e3
    );
    figure(
        "7",
        &format!(
            "bootstrap on the simulator: wall − {k} × {:.0} ms ready delay on the critical path",
            ms(long)
        ),
        format!(
            "{:.0} ms, {:.1} % of {:.0} ms",
            overhead * 1e3,
            share * 100.0,
            ms(wl)
        ),
        "≤ 5 % and ≤ 100 ms",
        share <= 0.05 && overhead <= 0.1,
    );
}
