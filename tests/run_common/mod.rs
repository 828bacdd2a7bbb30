//! Support for the runner's integration tests (`tests/run_*.rs`): a scenario in its own
//! temporary directory, the real `mcflow` binary run in it with `--state-dir`, the newest run's
//! journal read back as JSON, and waits on conditions (a journal event, a side file) with a
//! deadline instead of fixed sleeps.
//!
//! Steps in these tests append to side files (`echo first >> side`) that the tests count, so
//! that "ran exactly once" is checked from what the steps did, not from what mcflow says.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any wait may take before the test fails (generous: a loaded 2-core CI machine).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// One test's world: a temporary directory holding the workflow files, the side files the steps
/// write, and the state directory.
pub struct Scenario {
    dir: tempfile::TempDir,
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

impl Scenario {
    pub fn new() -> Scenario {
        Scenario {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the scenario directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file (a workflow, a trigger) into the scenario directory.
    pub fn write(&self, name: &str, text: &str) -> &Self {
        fs::write(self.file(name), text).expect("write a scenario file");
        self
    }

    /// Creates an empty file: the trigger a waiting step polls for.
    pub fn touch(&self, name: &str) {
        self.write(name, "");
    }

    pub fn state_dir(&self) -> PathBuf {
        self.file("state")
    }

    fn base(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mcflow"));
        cmd.current_dir(self.path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .env_remove("MCFLOW_STATE_DIR")
            .env_remove("MCFLOW_CONFIG")
            .env_remove("MCFLOW_LINKERD")
            .env_remove("NO_COLOR");
        cmd
    }

    /// `mcflow --state-dir <state> <args>`, run in the scenario directory, to be asserted on.
    pub fn mcflow(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.base());
        cmd.args(args);
        cmd
    }

    /// The same, started in the background with stdout and stderr in `<name>.out` and
    /// `<name>.err` (pipes could fill up while nobody reads them).
    pub fn spawn(&self, name: &str, args: &[&str]) -> Child {
        let out = fs::File::create(self.file(&format!("{name}.out"))).expect("stdout file");
        let err = fs::File::create(self.file(&format!("{name}.err"))).expect("stderr file");
        self.base()
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start mcflow")
    }

    /// What a background mcflow printed (see [`Scenario::spawn`]).
    pub fn output_of(&self, name: &str) -> (String, String) {
        let read =
            |ext: &str| fs::read_to_string(self.file(&format!("{name}.{ext}"))).unwrap_or_default();
        (read("out"), read("err"))
    }

    /// The newest run's journal file.
    pub fn journal_path(&self) -> PathBuf {
        self.newest_journal().expect("a run with a journal")
    }

    /// The newest run's journal file, if a run has one yet.
    pub fn newest_journal(&self) -> Option<PathBuf> {
        let mut ids: Vec<PathBuf> = fs::read_dir(self.state_dir().join("runs"))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("journal.jsonl").is_file())
            .collect();
        ids.sort();
        Some(ids.pop()?.join("journal.jsonl"))
    }

    /// The newest run's journal as JSON values (none before a run has one); a line that does
    /// not parse (a torn tail, or a line still being written) is left out.
    pub fn journal(&self) -> Vec<Value> {
        let Some(text) = self
            .newest_journal()
            .and_then(|p| fs::read_to_string(p).ok())
        else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Journal events of kind `event` (about step `step`, when given).
    pub fn events(&self, event: &str, step: Option<&str>) -> Vec<Value> {
        events_of(&self.journal(), event, step)
    }

    /// Does the newest run's journal hold an event `event` for `step`, `n` times?
    pub fn journal_has(&self, event: &str, step: &str, n: usize) -> bool {
        self.events(event, Some(step)).len() >= n
    }

    /// How many lines of side file `name` are exactly `line`.
    pub fn count(&self, name: &str, line: &str) -> usize {
        fs::read_to_string(self.file(name))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.trim() == line)
            .count()
    }

    /// A pid a step wrote to a file.
    pub fn pid_in(&self, name: &str) -> i32 {
        let text = fs::read_to_string(self.file(name)).expect("a pid file");
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a pid: {text:?}"))
    }

    /// Every file under the state directory, with its bytes.
    pub fn state_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.state_dir(), &mut out);
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if let Ok(bytes) = fs::read(&p) {
            out.push((p, bytes));
        }
    }
}

/// The events of kind `event` (about `step`, when given) in `journal`.
pub fn events_of(journal: &[Value], event: &str, step: Option<&str>) -> Vec<Value> {
    journal
        .iter()
        .filter(|e| e["event"] == event)
        .filter(|e| step.is_none_or(|s| e["step"] == s))
        .cloned()
        .collect()
}

/// Polls `cond` until it holds; fails the test naming `what` after [`DEADLINE`]. The short
/// pause between polls is a poll interval, not a guess at how long something takes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a background mcflow to exit and returns its exit code.
pub fn exit_code(child: &mut Child) -> i32 {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("wait for mcflow") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("mcflow did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
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

/// A shell snippet that counts its runs in file `counter` and fails until the `n`th.
pub fn fail_until(counter: &str, n: u32) -> String {
    format!(
        "c=$(cat {counter} 2>/dev/null || echo 0); c=$((c+1)); echo $c > {counter}; \
         if [ $c -lt {n} ]; then echo \"attempt $c fails\" >&2; exit 1; fi"
    )
}

/// A shell snippet that waits until file `name` exists.
pub fn wait_for_file(name: &str) -> String {
    format!("while [ ! -e {name} ]; do sleep 0.02; done")
}

/// Stdout and stderr of a finished command, as text.
pub fn texts(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
