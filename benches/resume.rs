//! Benchmark of figure 6 (issue 8): resuming a run of 1,000 steps whose journal holds 999
//! succeeded steps. Measured: from the start of the `mcflow resume --last` process to its
//! `step_started` line for the one step left (its journal record is fsync'd before the line).
//! Aim: ≤ 50 ms. Baseline in the same run: the bare process start-up (`mcflow --version`).
//!
//! The journal is made once by a real run (999 `/bin/true` steps in a chain, then a step that
//! fails until a file exists) and copied back before each sample.
//!
//! Run: `cargo bench --bench resume` (also in `just bench`); `-- --quick` for fewer runs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const STEPS: usize = 1000;

fn workflow() -> String {
    let mut y = String::from("name: resume\nsteps:\n");
    for i in 0..STEPS - 1 {
        y.push_str(&format!("  - id: s{i:04}\n    run: /bin/true\n"));
    }
    y.push_str(&format!(
        "  - id: s{:04}\n    run: [/usr/bin/test, -e, go]\n",
        STEPS - 1
    ));
    y
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
    let mode = std::fs::metadata(from).expect("stat").permissions();
    std::fs::set_permissions(to, mode).expect("chmod");
}

/// One resume: time from spawn to the last step's `step_started` line.
fn sample(dir: &Path) -> Duration {
    let state = dir.join("state");
    let _ = std::fs::remove_dir_all(&state);
    copy_dir(&dir.join("state.orig"), &state);
    let last = format!("s{:04}", STEPS - 1);
    let start = Instant::now();
    let mut child = mcflow(dir)
        .args(["resume", "--last", "--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mcflow starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut started = None;
    let mut succeeded = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if started.is_none()
            && line.contains("\"event\":\"step_started\"")
            && line.contains(&format!("\"{last}\""))
        {
            started = Some(start.elapsed());
        }
        if line.contains("\"event\":\"step_succeeded\"") {
            succeeded += 1;
        }
    }
    let status = child.wait().expect("mcflow exits");
    assert!(status.success(), "resume failed");
    assert_eq!(succeeded, 1, "only the last step runs again");
    started.expect("the last step started")
}

fn version(dir: &Path) -> Duration {
    let start = Instant::now();
    let out = mcflow(dir).arg("--version").output().expect("mcflow runs");
    assert!(out.status.success());
    start.elapsed()
}

fn main() {
    let runs = if quick() { 5 } else { 15 };
    let scratch = scratch();
    let dir = scratch.path();
    std::fs::write(dir.join("resume.yaml"), workflow()).expect("write");
    let made = Instant::now();
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
    let made = made.elapsed();
    std::fs::rename(dir.join("state"), dir.join("state.orig")).expect("rename");
    std::fs::write(dir.join("go"), "").expect("write");

    sample(dir); // warm-up
    version(dir);
    let (mut resume, mut start_up) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        resume.push(sample(dir));
        start_up.push(version(dir));
    }
    let (resume, start_up) = (median(resume), median(start_up));
    println!(
        "resume of a {STEPS}-step run with {} steps done (journal made in {:.1} s), median of {runs} runs:",
        STEPS - 1,
        made.as_secs_f64()
    );
    println!(
        "  process start → step_started of the last step {:>8.2} ms",
        ms(resume)
    );
    println!(
        "  baseline: mcflow --version (bare start-up)     {:>8.2} ms",
        ms(start_up)
    );
    figure(
        "6",
        "resume 1,000-step journal → first new step",
        format!(
            "{:.1} ms ({:.1}× the bare start-up, {:.1} ms)",
            ms(resume),
            resume.as_secs_f64() / start_up.as_secs_f64(),
            ms(start_up)
        ),
        "≤ 50 ms",
        ms(resume) <= 50.0,
    );
}
