//! Waiting on processes and conditions, with a deadline instead of fixed sleeps, and ending
//! processes: kill -9 (and the step processes left behind), signals, "is it gone".

use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// How long any wait may take before the test fails (generous: a loaded 2-core CI machine).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The pause between two polls: a poll interval, not a guess at how long something takes.
const POLL: Duration = Duration::from_millis(10);

/// Polls `cond` until it holds; fails the test naming `what` after [`DEADLINE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// Waits for a background mcflow to exit, or for `cond` to hold first (then it is still
/// running). Returns `Some(code)` if it exited. Polls often: the crash harness kills right
/// after the condition holds.
pub fn exit_or(child: &mut Child, mut cond: impl FnMut() -> bool) -> Option<i32> {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("wait for mcflow") {
            return Some(status.code().unwrap_or(-1));
        }
        if cond() {
            return None;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("mcflow neither exited nor reached the condition");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits for a background mcflow to exit and returns its exit code.
pub fn exit_code(child: &mut Child) -> i32 {
    exit_or(child, || false).expect("mcflow exited")
}

/// SIGKILLs a background mcflow and reaps it, then kills the step processes it left behind
/// (a crash of the machine would take them too): every process whose working directory is
/// inside `dir`.
pub fn kill_9(child: &mut Child, dir: &Path) {
    let _ = child.kill();
    let _ = child.wait();
    kill_strays(dir);
}

/// Kills every process (but this one) whose working directory is `dir` or below it, and
/// waits until they are gone.
pub fn kill_strays(dir: &Path) {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let me = std::process::id() as i32;
    let end = Instant::now() + DEADLINE;
    loop {
        let strays: Vec<i32> = fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                    .filter(|pid| *pid != me)
                    .filter(|pid| {
                        fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(&dir))
                    })
                    .filter(|pid| !process_gone(*pid))
                    .collect()
            })
            .unwrap_or_default();
        if strays.is_empty() {
            return;
        }
        for pid in strays {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(Instant::now() < end, "step processes would not die");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Is process `pid` gone (or a zombie, which is dead and only waits to be reaped)?
pub fn process_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S ...`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid"));
    nix::sys::signal::kill(pid, signal).expect("signal mcflow");
}
