//! Helpers shared by the benches that run the `mcflow` binary against the simulator
//! (kube_apply, wait_latency, fanout, resume): the binary's path, medians, the `--quick` flag,
//! a scratch directory on the target disk, and the line format `just bench` collects.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The `mcflow` binary under test: `MCFLOW_BIN`, else the one `cargo bench` built.
pub fn mcflow_exe() -> PathBuf {
    match std::env::var_os("MCFLOW_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_mcflow")),
    }
}

/// `--quick` on the command line (`cargo bench -- --quick`): fewer repetitions.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
}

/// A scratch directory in the target directory (the disk the state directory would be on, not
/// a tmpfs where fsync is free). Removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory for the bench")
}

/// The median of `v` (the upper one for an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    assert!(!v.is_empty(), "no samples");
    v.sort();
    v[v.len() / 2]
}

/// The median of `v`.
pub fn median_f(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "no samples");
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// An `mcflow` command with the environment the benches want: no colour, no config or
/// kubeconfig from the caller's environment, the state directory `state` under `dir`.
pub fn mcflow(dir: &Path) -> Command {
    let mut cmd = Command::new(mcflow_exe());
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MCFLOW_CONFIG")
        .env_remove("MCFLOW_STATE_DIR")
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .arg("--state-dir")
        .arg(dir.join("state"));
    cmd
}

/// Prints the one line `just bench` gathers for its summary table:
/// `FIGURE <n> | <what> | <value> | <aim> | meets/MISSES`.
pub fn figure(n: &str, what: &str, value: String, aim: &str, meets: bool) {
    println!(
        "FIGURE {n} | {what} | {value} | {aim} | {}",
        if meets { "meets" } else { "MISSES" }
    );
}
