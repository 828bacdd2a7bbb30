//! Benchmark of the runner's per-step overhead (issue 3 "must show", issue 8): a workflow of 200
//! `run: /bin/true` steps, each waiting for the one above, run by the release `mcflow` binary,
//! against the least any journaling runner must pay per step: spawning `/bin/true` (output
//! captured, as mcflow captures it) plus one fsync'd 200-byte append. Both are measured in the
//! same run, in the same directory (same filesystem), so the ratio travels between machines.
//!
//! Run: `cargo bench --bench step_overhead` (also part of `just bench`); add `-- --quick` for
//! fewer runs. `cargo bench` builds the `mcflow` binary with the bench profile (release) and
//! hands its path to this file as `CARGO_BIN_EXE_mcflow`; `MCFLOW_BIN=/path/to/mcflow` measures
//! another build.
//!
//! per-step cost = (time of the 200-step run − time of a 1-step run) / 199: the difference takes
//! out process start-up, loading and the summary, which are paid once per run, not per step.
//! ratio = per-step cost / baseline, medians of several runs; aim ≤ 1.2 (issue 8: ≤ 1.15).

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STEPS: usize = 200;

/// A workflow of `n` `run: /bin/true` steps in a chain.
fn workflow(n: usize) -> String {
    let mut y = String::from("name: overhead\nsteps:\n");
    for i in 0..n {
        y.push_str(&format!("  - id: s{i:04}\n    run: /bin/true\n"));
    }
    y
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One `mcflow run` of `file` with a fresh state directory; its wall time.
fn run_mcflow(exe: &Path, dir: &Path, file: &str, n: usize) -> Duration {
    run_counted(exe, dir, file, n).0
}

/// [`run_mcflow`], and the journal's fdatasyncs (its writer's `journal closed` debug line).
fn run_counted(exe: &Path, dir: &Path, file: &str, n: usize) -> (Duration, Option<u64>) {
    let state = dir.join("state");
    let _ = std::fs::remove_dir_all(&state);
    let start = Instant::now();
    let out = Command::new(exe)
        .current_dir(dir)
        .args(["--state-dir", "state", "run", file, "--output", "json"])
        .env_remove("MCFLOW_CONFIG")
        .env("RUST_LOG", "warn,mcflow::journal=debug")
        .stdin(Stdio::null())
        .output()
        .expect("mcflow runs");
    let took = start.elapsed();
    let fsyncs = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("fsyncs="))
        .and_then(|v| v.parse().ok());
    assert!(
        out.status.success(),
        "mcflow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The run did what it says: one step_succeeded per step.
    let done = String::from_utf8_lossy(&out.stdout)
        .matches("\"event\":\"step_succeeded\"")
        .count();
    assert_eq!(done, n, "steps succeeded");
    (took, fsyncs)
}

/// A fresh file `name` in `dir` to append to, as the journal is opened, and the 200-byte line a
/// baseline appends to it.
fn baseline_file(dir: &Path, name: &str) -> (std::fs::File, Vec<u8>) {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .expect("open the baseline file");
    let mut line = vec![b'x'; 199];
    line.push(b'\n');
    (file, line)
}

/// The baseline: `n` times, spawn `/bin/true` with its output captured and wait for it, then
/// append 200 bytes to a file and fsync (fdatasync, as the journal does). Time per iteration.
fn baseline(dir: &Path, n: usize) -> Duration {
    let (mut file, line) = baseline_file(dir, "baseline.jsonl");
    let start = Instant::now();
    for _ in 0..n {
        let mut child = Command::new("/bin/true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn /bin/true");
        let mut sink = Vec::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_end(&mut sink);
        }
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_end(&mut sink);
        }
        child.wait().expect("wait for /bin/true");
        file.write_all(&line).expect("append");
        file.sync_data().expect("fsync");
    }
    start.elapsed() / n as u32
}

/// [`baseline`] with the spawn made through duct, as mcflow must spawn (the project asks for
/// duct by name): duct copies the whole environment into every child's command, which std's
/// `Command` passes on as it is, and sets up each spawn through an expression tree. The gap
/// between the two baselines is duct's; what is left between mcflow and this one is mcflow's
/// own.
fn duct_baseline(dir: &Path, n: usize) -> Duration {
    let (mut file, line) = baseline_file(dir, "baseline-duct.jsonl");
    let start = Instant::now();
    for _ in 0..n {
        // As mcflow spawns (src/run/process.rs): its own pipes, read to their end, then reaped
        // (duct's `stdout_capture` would add a reader thread per stream).
        let (mut out_r, out_w) = os_pipe::pipe().expect("pipe");
        let (mut err_r, err_w) = os_pipe::pipe().expect("pipe");
        let expr = duct::cmd("/bin/true", std::iter::empty::<&str>())
            .stdin_null()
            .stdout_file(out_w)
            .stderr_file(err_w)
            .unchecked();
        let handle = expr.start().expect("spawn /bin/true through duct");
        drop(expr);
        let mut sink = Vec::new();
        let _ = out_r.read_to_end(&mut sink);
        let _ = err_r.read_to_end(&mut sink);
        assert!(handle.wait().expect("wait for /bin/true").status.success());
        file.write_all(&line).expect("append");
        file.sync_data().expect("fsync");
    }
    start.elapsed() / n as u32
}

/// [`duct_baseline`] as mcflow runs it (src/run/process.rs, src/commands.rs): the loop inside
/// `block_on` of a two-worker tokio runtime, the child in its own process group, both pipes read
/// on the runtime's reactor, the child reaped once both end. Its cost over [`duct_baseline`] is
/// that way of running a process (the process group, the pipes registered with epoll, a wake-up
/// from the worker that polls epoll to the thread the loop runs on); what mcflow pays beyond it
/// is its own: the workflow, the scheduler, the journal's records and the reporter.
fn runtime_baseline(dir: &Path, n: usize) -> Duration {
    use std::os::unix::process::CommandExt;
    use tokio::io::AsyncReadExt;
    let (mut file, line) = baseline_file(dir, "baseline-runtime.jsonl");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let read_to_end = |r: os_pipe::PipeReader| async move {
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(r.into())
            .expect("a pipe on the reactor");
        let mut sink = Vec::new();
        let _ = pipe.read_to_end(&mut sink).await;
    };
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let (out_r, out_w) = os_pipe::pipe().expect("pipe");
            let (err_r, err_w) = os_pipe::pipe().expect("pipe");
            let expr = duct::cmd("/bin/true", std::iter::empty::<&str>())
                .stdin_null()
                .stdout_file(out_w)
                .stderr_file(err_w)
                .unchecked()
                .before_spawn(|cmd| {
                    cmd.process_group(0);
                    Ok(())
                });
            let handle = expr.start().expect("spawn /bin/true through duct");
            drop(expr);
            tokio::join!(read_to_end(out_r), read_to_end(err_r));
            // Reaped as mcflow reaps: at once when it has exited, else on the blocking pool.
            let handle = std::sync::Arc::new(handle);
            let output = match handle.try_wait().expect("reap /bin/true") {
                Some(output) => output.status.success(),
                None => {
                    let waiter = handle.clone();
                    tokio::task::spawn_blocking(move || waiter.wait().map(|o| o.status.success()))
                        .await
                        .expect("join")
                        .expect("wait for /bin/true")
                }
            };
            assert!(output);
            file.write_all(&line).expect("append");
            file.sync_data().expect("fsync");
        }
        start.elapsed() / n as u32
    })
}

fn mcflow_exe() -> PathBuf {
    match std::env::var_os("MCFLOW_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_mcflow")),
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    // `cargo bench` passes `--bench`; `--quick` trims the runs.
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 15 };
    let exe = mcflow_exe();
    // In the target directory, not /tmp: the same disk the state directory would be on, and
    // not a tmpfs where fsync is free.
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::tempdir_in(parent).expect("a directory for the bench");
    let dir = dir.path();
    std::fs::write(dir.join("one.yaml"), workflow(1)).expect("write");
    std::fs::write(dir.join("many.yaml"), workflow(STEPS)).expect("write");

    // Warm-up: page cache, the binary, the filesystem.
    let (_, fsyncs) = run_counted(&exe, dir, "many.yaml", STEPS);
    baseline(dir, STEPS);

    let (mut one, mut many, mut base, mut duct) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut runtime = Vec::new();
    // Interleaved, so that a noisy moment hits both sides alike.
    for _ in 0..runs {
        one.push(run_mcflow(&exe, dir, "one.yaml", 1));
        many.push(run_mcflow(&exe, dir, "many.yaml", STEPS));
        base.push(baseline(dir, STEPS));
        duct.push(duct_baseline(dir, STEPS));
        runtime.push(runtime_baseline(dir, STEPS));
    }
    let per_step = |one: Duration, many: Duration| many.saturating_sub(one) / (STEPS as u32 - 1);
    let ratios: Vec<f64> = (0..runs)
        .map(|i| per_step(one[i], many[i]).as_secs_f64() / base[i].as_secs_f64())
        .collect();
    // Each of the other floors: the median of per-run ratios against it, and its median time.
    let against = |floor: Vec<Duration>| {
        let mut r: Vec<f64> = (0..runs)
            .map(|i| per_step(one[i], many[i]).as_secs_f64() / floor[i].as_secs_f64())
            .collect();
        r.sort_by(f64::total_cmp);
        (r[r.len() / 2], median(floor))
    };
    let (duct_ratio, duct) = against(duct);
    let (runtime_ratio, runtime) = against(runtime);
    // The fastest runs: the least disturbed by other work on the machine.
    let fastest = |v: &[Duration]| v.iter().copied().min().unwrap_or_default();
    let best_ratio =
        per_step(fastest(&one), fastest(&many)).as_secs_f64() / fastest(&base).as_secs_f64();
    let (one, many, base) = (median(one), median(many), median(base));
    let step = per_step(one, many);
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let ratio = sorted[sorted.len() / 2];

    println!("step overhead ({}), median of {runs} runs:", exe.display());
    println!(
        "  mcflow run, 1 step                   {:>9.1} ms",
        one.as_secs_f64() * 1e3
    );
    println!(
        "  mcflow run, {STEPS} steps of /bin/true    {:>9.1} ms",
        many.as_secs_f64() * 1e3
    );
    println!(
        "  per step ((200 − 1 step) / 199)      {:>9.1} µs",
        micros(step)
    );
    println!(
        "  baseline: spawn /bin/true + fsync'd 200-byte append {:>6.1} µs",
        micros(base)
    );
    println!(
        "  ratio per step / baseline            {:>9.2}   (median of per-run ratios; aim ≤ 1.10, issue 18)",
        ratio
    );
    println!(
        "  baseline with the spawn through duct {:>9.1} µs   (duct's copy of the environment: {:+.1} µs a spawn)",
        micros(duct),
        micros(duct) - micros(base)
    );
    println!(
        "  ratio per step / duct baseline       {:>9.2}   (median of per-run ratios: mcflow's own part)",
        duct_ratio
    );
    println!(
        "  the same on mcflow's runtime (pipes on tokio's reactor) {:>5.1} µs   (the runtime's part: {:+.1} µs a step)",
        micros(runtime),
        micros(runtime) - micros(duct)
    );
    println!(
        "  ratio per step / runtime baseline    {:>9.2}   (median of per-run ratios: mcflow's scheduler, journal records, reporter)",
        runtime_ratio
    );
    println!(
        "  ratio of the fastest runs            {:>9.2}   (the least disturbed by other load)",
        best_ratio
    );
    if let Some(n) = fsyncs {
        println!(
            "  journal fdatasyncs of the {STEPS}-step run {n:>6}   ({:.2} per step; the baseline pays 1)",
            n as f64 / STEPS as f64
        );
    }
    println!(
        "  per-run ratios: {}",
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "FIGURE 1 | per-step overhead ÷ (spawn /bin/true + fsync'd append), median of per-run ratios | {ratio:.2} ({:.0} vs {:.0} µs per step) | ≤ 1.10 | {}",
        micros(step),
        micros(base),
        if ratio <= 1.10 { "meets" } else { "MISSES" }
    );
}
