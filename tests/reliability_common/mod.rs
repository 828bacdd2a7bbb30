//! Support for the reliability harnesses (`tests/reliability_*.rs`): a temporary world with
//! the real `mcflow` binary, seeded randomness (the seed is printed, and `MCFLOW_SEED` replays
//! it), sizes from environment variables (small in CI, full under `just soak`), the journal
//! read through `mcflow::journal::read` (the same reader `resume` uses), and waits on
//! conditions with a deadline instead of fixed sleeps.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A number from the environment, or `default` (CI sizes).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed of a harness: `MCFLOW_SEED`, or a fixed default, printed so a failure replays.
pub fn seeded(harness: &str, default: u64) -> (u64, StdRng) {
    let seed = std::env::var("MCFLOW_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    println!("{harness}: seed {seed} (replay with MCFLOW_SEED={seed})");
    (seed, StdRng::seed_from_u64(seed))
}

/// One test's world: a temporary directory for workflows, side files and the state directory.
pub struct World {
    dir: tempfile::TempDir,
    /// Extra global flags for every mcflow command (`--kubeconfig ...`).
    pub global: Vec<String>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().expect("a temporary directory"),
            global: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.file(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("a directory");
        }
        fs::write(&path, text).expect("write a world file");
        path
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.file(name)).unwrap_or_default()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.file("state")
    }

    /// `mcflow --state-dir <state> <global...>` in the world's directory, with a clean
    /// environment (no ambient state dir, config, linkerd or colour settings).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("mcflow"));
        cmd.current_dir(self.path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(&self.global)
            .env_remove("MCFLOW_STATE_DIR")
            .env_remove("MCFLOW_CONFIG")
            .env_remove("MCFLOW_LINKERD")
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs mcflow to the end (bounded by [`DEADLINE`]) and returns its exit code and output.
    pub fn mcflow(&self, args: &[&str]) -> Outcome {
        let mut cmd = self.command();
        cmd.args(args);
        let out = assert_cmd::Command::from_std(cmd)
            .timeout(DEADLINE)
            .output()
            .expect("run mcflow");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts mcflow in the background, output in `<name>.out` / `<name>.err`.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Child {
        let out = fs::File::create(self.file(&format!("{name}.out"))).expect("stdout file");
        let err = fs::File::create(self.file(&format!("{name}.err"))).expect("stderr file");
        let mut cmd = self.command();
        cmd.args(args).stdout(out).stderr(err);
        cmd.spawn().expect("start mcflow")
    }

    /// The run ids in the state directory, oldest first.
    pub fn runs(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(self.state_dir().join("runs"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().join("journal.jsonl").is_file())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// The newest run's journal file, if a run has started.
    pub fn journal_path(&self) -> Option<PathBuf> {
        let id = self.runs().pop()?;
        Some(self.state_dir().join("runs").join(id).join("journal.jsonl"))
    }

    /// The newest run's journal, through the reader `resume` uses.
    pub fn journal(&self) -> Option<mcflow::journal::JournalRead> {
        let path = self.journal_path()?;
        Some(mcflow::journal::read(&path).unwrap_or_else(|e| panic!("the journal must parse: {e}")))
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

/// What a finished mcflow did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Polls `cond` until it holds; fails the test naming `what` after [`DEADLINE`]. The pause
/// between polls is a poll interval, not a guess at how long something takes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for a background mcflow to exit, or for `cond` to hold first (then it is still
/// running). Returns `Some(code)` if it exited.
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

/// Is process `pid` gone (or a zombie)?
pub fn process_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Lines of a side file.
pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim().to_string()).collect()
}
