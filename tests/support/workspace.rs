//! One test's workspace: a temporary directory holding the workflow files, the side files the
//! steps write and the state directory, with the real `mcflow` binary run in it.
//!
//! Steps in these tests append to side files (`echo first >> side`) that the tests count, so
//! that "ran exactly once" is checked from what the steps did, not from what mcflow says.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::journal;

/// The repository root: the shipped `workflows/` and `config/`, the `tests/invalid/` fixtures.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The binary for commands that keep no state (`validate`, `plan`, `graph`, `schema`, ...),
/// run in `dir` without colour and without an ambient config file.
pub fn mcflow_in(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("mcflow").expect("the mcflow binary is built");
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MCFLOW_CONFIG");
    cmd
}

/// A temporary directory with the real `mcflow` run in it (see the module documentation).
pub struct Workspace {
    dir: tempfile::TempDir,
    /// Global flags for every command (`--kubeconfig ...`), after `--state-dir`.
    global: Vec<String>,
    /// Environment for every command, set after the ambient settings are removed.
    env: Vec<(String, String)>,
    /// Where mcflow runs, when not in the workspace (the shipped workflows run from the root).
    cwd: Option<PathBuf>,
    /// How long [`Workspace::mcflow`] may take.
    timeout: Duration,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("a temporary directory"),
            global: Vec::new(),
            env: Vec::new(),
            cwd: None,
            timeout: Duration::from_secs(120),
        }
    }

    /// Adds global flags to every command.
    pub fn global<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.global
            .extend(args.iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// `--kubeconfig <path>` on every command.
    pub fn kubeconfig(self, path: &Path) -> Self {
        self.global(&["--kubeconfig", &path.display().to_string()])
    }

    /// Sets an environment variable for every command.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        let value = value.as_ref().to_string_lossy().into_owned();
        self.env.push((key.to_string(), value));
        self
    }

    /// `NO_COLOR=1` for every command (without it, colour is what the terminal decides).
    pub fn no_color(self) -> Self {
        self.env("NO_COLOR", "1")
    }

    /// Runs mcflow from the repository root (the shipped workflows read `config/` by a
    /// relative path).
    pub fn in_repo_root(mut self) -> Self {
        self.cwd = Some(repo_root().to_path_buf());
        self
    }

    /// How long [`Workspace::mcflow`] may take before the test fails.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the workspace.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file (a workflow, a trigger), making its directories.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.file(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("a directory");
        }
        fs::write(&path, text).expect("write a workspace file");
        path
    }

    /// Creates an empty file: the trigger a waiting step polls for.
    pub fn touch(&self, name: &str) {
        self.write(name, "");
    }

    /// A side file's text ("" when it does not exist).
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.file(name)).unwrap_or_default()
    }

    /// A side file's lines, trimmed.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.read(name)
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// How many lines of side file `name` are exactly `line`.
    pub fn count(&self, name: &str, line: &str) -> usize {
        self.lines(name).iter().filter(|l| *l == line).count()
    }

    /// A pid a step wrote to a file.
    pub fn pid_in(&self, name: &str) -> i32 {
        let text = fs::read_to_string(self.file(name)).expect("a pid file");
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a pid: {text:?}"))
    }

    pub fn state_dir(&self) -> PathBuf {
        self.file("state")
    }

    /// `mcflow --state-dir <state> <global...> <args>` in the workspace, with a clean
    /// environment (no ambient state dir, config, linkerd, kubeconfig or colour settings).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("mcflow"));
        cmd.current_dir(self.cwd.as_deref().unwrap_or(self.path()))
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(&self.global)
            .env_remove("MCFLOW_STATE_DIR")
            .env_remove("MCFLOW_CONFIG")
            .env_remove("MCFLOW_LINKERD")
            .env_remove("KUBECONFIG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(args);
        cmd
    }

    /// Runs `mcflow <args>` to the end (bounded by the workspace's timeout).
    pub fn mcflow(&self, args: &[&str]) -> Outcome {
        Outcome::of(self.command(args), self.timeout)
    }

    /// The same, from another directory (relative paths in steps land there).
    pub fn mcflow_from(&self, dir: &Path, args: &[&str]) -> Outcome {
        let mut cmd = self.command(args);
        cmd.current_dir(dir);
        self.run(cmd)
    }

    /// Runs a [`Workspace::command`] changed by the test (more environment, another
    /// directory) to the end, bounded by the workspace's timeout.
    pub fn run(&self, cmd: Command) -> Outcome {
        Outcome::of(cmd, self.timeout)
    }

    /// Starts mcflow in the background with stdout and stderr in `<name>.out` and `<name>.err`
    /// (pipes could fill up while nobody reads them).
    pub fn spawn(&self, name: &str, args: &[&str]) -> Child {
        let out = fs::File::create(self.file(&format!("{name}.out"))).expect("stdout file");
        let err = fs::File::create(self.file(&format!("{name}.err"))).expect("stderr file");
        let mut cmd = self.command(args);
        cmd.stdout(out).stderr(err);
        cmd.spawn().expect("start mcflow")
    }

    /// What a background mcflow printed (see [`Workspace::spawn`]).
    pub fn output_of(&self, name: &str) -> (String, String) {
        (
            self.read(&format!("{name}.out")),
            self.read(&format!("{name}.err")),
        )
    }

    /// The run ids in the state directory, oldest first.
    pub fn runs(&self) -> Vec<String> {
        journal::runs(&self.state_dir())
    }

    /// The newest run's journal file, if a run has one yet.
    pub fn newest_journal(&self) -> Option<PathBuf> {
        journal::newest(&self.state_dir())
    }

    /// The newest run's journal file.
    pub fn journal_path(&self) -> PathBuf {
        self.newest_journal().expect("a run with a journal")
    }

    /// The newest run's journal as JSON values (none before a run has one); a line that does
    /// not parse (a torn tail, or a line still being written) is left out.
    pub fn journal(&self) -> Vec<Value> {
        self.newest_journal()
            .map(|p| journal::values(&p))
            .unwrap_or_default()
    }

    /// A finished run's journal as JSON values: every line must parse.
    pub fn journal_strict(&self) -> Vec<Value> {
        journal::values_strict(&self.journal_path())
    }

    /// The newest run's journal through the reader `resume` uses, if a run has started.
    pub fn journal_read(&self) -> Option<mcflow::journal::JournalRead> {
        Some(journal::read(&self.newest_journal()?))
    }

    /// Journal events of kind `event` (about step `step`, when given).
    pub fn events(&self, event: &str, step: Option<&str>) -> Vec<Value> {
        journal::events_of(&self.journal(), event, step)
    }

    /// Does the newest run's journal hold an event `event` for `step`, `n` times?
    pub fn journal_has(&self, event: &str, step: &str, n: usize) -> bool {
        self.events(event, Some(step)).len() >= n
    }

    /// Every file under the state directory, with its bytes.
    pub fn state_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        journal::files(&self.state_dir())
    }
}

/// Every journal the workspace's runs left must fit the published event schema.
impl Drop for Workspace {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            super::events::check_journals(&self.state_dir());
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
    /// Runs `cmd` to the end, for at most `timeout`.
    pub fn of(cmd: Command, timeout: Duration) -> Outcome {
        let out = assert_cmd::Command::from_std(cmd)
            .timeout(timeout)
            .output()
            .expect("run mcflow");
        let out = Outcome::from(out);
        super::events::check_stdout(&out.stdout);
        out
    }

    /// The end-of-run steps table on stdout: from its `STEP` header to the first blank line.
    pub fn end_table(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .skip_while(|l| !l.starts_with("STEP "))
            .take_while(|l| !l.is_empty())
            .collect()
    }

    /// stdout, then stderr.
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

    /// Exit code 0.
    pub fn success(&self) -> &Self {
        self.assert_code(0)
    }

    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "`{needle}` not in stdout:\n{}",
            self.stdout
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "`{needle}` not in stderr:\n{}",
            self.stderr
        );
        self
    }

    /// Neither stdout nor stderr holds `needle` (a token, a secret).
    pub fn lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.all().contains(needle),
            "`{needle}` leaked into the output:\n{}",
            self.all()
        );
        self
    }
}

impl From<std::process::Output> for Outcome {
    fn from(out: std::process::Output) -> Outcome {
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
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
