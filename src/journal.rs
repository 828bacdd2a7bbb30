//! The run journal: one JSON event per line in `<state>/runs/<run-id>/journal.jsonl`, each
//! written and fsync'd before the step it records is acted on. It is the source of truth for
//! `resume`, `runs` and `show`.
//!
//! Safety: the state directory is 0700 and files 0600; a world-writable state directory is
//! refused; one process holds an exclusive lock on a run (released by the OS if it dies); a torn
//! last line (a crash mid-write) is ignored with a warning; any other malformed line is an error
//! naming the file and line.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A journal event with its time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// RFC 3339 UTC time with microseconds.
    pub ts: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. The JSON form (`"event": "step_started"`, ...) is also what `--output json`
/// prints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        run_id: String,
        workflow: String,
        workflow_name: String,
        /// sha256 of every workflow file, by path.
        files: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<FileRef>,
        /// Param values; sensitive ones are masked.
        params: BTreeMap<String, serde_json::Value>,
        /// Sensitive params are not written, so a run that has some cannot be resumed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        masked_params: Vec<String>,
        version: String,
        #[serde(default)]
        pid: u32,
        /// A `--dry-run` run: a resume must be one too (and a real run's resume must not be).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dry_run: bool,
    },
    RunResumed {
        run_id: String,
        pid: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed: Vec<String>,
    },
    StepStarted {
        step: String,
        attempt: u32,
        max_attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    AttemptFailed {
        step: String,
        attempt: u32,
        error: String,
        retry_in_ms: u64,
    },
    StepSucceeded {
        step: String,
        attempt: u32,
        duration_ms: u64,
        /// What later steps read; absent for a sensitive step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<StepRecord>,
        #[serde(default)]
        sensitive: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    StepFailed {
        step: String,
        attempt: u32,
        error: String,
        duration_ms: u64,
        #[serde(default)]
        continue_on_error: bool,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    /// A resumed run found this step done in an earlier attempt of the run.
    StepReused {
        step: String,
    },
    RunFinished {
        status: RunStatus,
        duration_ms: u64,
        succeeded: u32,
        failed: u32,
        skipped: u32,
    },
}

impl EventKind {
    /// The step an event is about.
    pub fn step(&self) -> Option<&str> {
        match self {
            EventKind::StepStarted { step, .. }
            | EventKind::AttemptFailed { step, .. }
            | EventKind::StepSucceeded { step, .. }
            | EventKind::StepFailed { step, .. }
            | EventKind::StepSkipped { step, .. }
            | EventKind::StepReused { step } => Some(step),
            _ => None,
        }
    }
}

/// A file a run used, with its hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRef {
    pub path: String,
    pub sha256: String,
}

/// What a succeeded step left for later steps.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub outputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<serde_json::Value>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Interrupted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        })
    }
}

/// The current time as the journal writes it.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.format(&fmt)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Errors of the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("run {run_id} is in use by another mcflow process (pid {pid})")]
    Locked { run_id: String, pid: String },
    #[error("{path}:{line}: corrupt journal line: {reason}")]
    Corrupt {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("no run `{0}` in the state directory (see `mcflow runs`)")]
    NoSuchRun(String),
    #[error("there is no run to resume in {0} (see `mcflow runs`)")]
    NoRuns(String),
    #[error(
        "state directory {0} is writable by other users; refusing to use it (chmod 700 it, or pick another with --state-dir)"
    )]
    Unsafe(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// The state directory (`.mcflow`): runs live under `runs/<run-id>/`.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: &Path) -> StateDir {
        StateDir {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.runs().join(run_id)
    }

    pub fn journal_path(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("journal.jsonl")
    }

    /// Creates the directories (0700) if needed and refuses one that others can write to.
    pub fn ensure(&self) -> Result<(), StateError> {
        for dir in [self.root.clone(), self.runs()] {
            if !dir.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(io_err("cannot create state directory", &dir))?;
            }
            check_private(&dir)?;
        }
        Ok(())
    }

    /// Run ids, oldest first (ids sort by time).
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        let runs = self.runs();
        if !runs.exists() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = fs::read_dir(&runs)
            .map_err(io_err("cannot read", &runs))?
            .filter_map(Result::ok)
            .filter(|e| e.path().join("journal.jsonl").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The newest run.
    pub fn last(&self) -> Result<String, StateError> {
        self.list()?
            .pop()
            .ok_or_else(|| StateError::NoRuns(self.root.display().to_string()))
    }

    /// A run id that names an existing run (ids are checked so that `../x` cannot escape).
    pub fn existing(&self, run_id: &str) -> Result<String, StateError> {
        let valid = !run_id.is_empty()
            && run_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid && self.journal_path(run_id).is_file() {
            Ok(run_id.to_string())
        } else {
            Err(StateError::NoSuchRun(run_id.to_string()))
        }
    }

    /// A fresh run id, `YYYYMMDD-HHMMSS-mmmrr`: sortable by time to the millisecond (so that
    /// `--last` picks the newest of two runs started in the same second), unique by a random
    /// suffix.
    pub fn new_run_id(&self) -> String {
        let t = time::OffsetDateTime::now_utc();
        let fmt = time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]-[subsecond digits:3]"
        );
        let stamp = t
            .format(&fmt)
            .unwrap_or_else(|_| t.unix_timestamp().to_string());
        format!("{stamp}{:02x}", rand::random::<u8>())
    }
}

fn check_private(dir: &Path) -> Result<(), StateError> {
    let meta = fs::metadata(dir).map_err(io_err("cannot read", dir))?;
    let mode = meta.permissions().mode();
    // World-writable without the sticky bit: anyone could swap journals under us.
    if mode & 0o002 != 0 {
        return Err(StateError::Unsafe(dir.display().to_string()));
    }
    Ok(())
}

/// An open journal: holds the run's lock until dropped.
#[derive(Debug)]
pub struct JournalWriter {
    path: PathBuf,
    file: File,
    _lock: File,
    buf: Vec<u8>,
    /// A write failed: the journal takes nothing more from this process.
    broken: bool,
}

impl JournalWriter {
    /// Creates the run's directory and journal, and locks it.
    pub fn create(state: &StateDir, run_id: &str) -> Result<JournalWriter, StateError> {
        state.ensure()?;
        let dir = state.run_dir(run_id);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("cannot create run directory", &dir))?;
        JournalWriter::open(state, run_id)
    }

    /// Opens an existing run's journal for appending, and locks it.
    pub fn open(state: &StateDir, run_id: &str) -> Result<JournalWriter, StateError> {
        let dir = state.run_dir(run_id);
        check_private(&state.root)?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err("cannot open lock", &lock_path))?;
        let read_holder = || {
            fs::read_to_string(&lock_path)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".into())
        };
        // A holder that was SIGKILLed releases the lock with its last file descriptor; a child
        // it had forked but not yet exec'd holds a copy for a moment (close-on-exec closes it).
        // So when the named holder is already dead, the lock is about to go: ask again briefly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        loop {
            match fs4::fs_std::FileExt::try_lock_exclusive(&lock) {
                Ok(true) => break,
                Ok(false) => {
                    let pid = read_holder();
                    let holder_alive = pid.parse::<i32>().is_ok_and(|p| {
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok()
                    });
                    if holder_alive || std::time::Instant::now() >= deadline {
                        return Err(StateError::Locked {
                            run_id: run_id.to_string(),
                            pid,
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(io_err("cannot lock", &lock_path)(e)),
            }
        }
        // The holder's pid, for the error another process shows.
        let mut l = &lock;
        let _ = l.set_len(0);
        let _ = write!(l, "{}", std::process::id());
        let _ = l.sync_data();

        let path = dir.join("journal.jsonl");
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("cannot open journal", &path))?;
        let mut writer = JournalWriter {
            path,
            file,
            _lock: lock,
            buf: Vec::with_capacity(4096),
            broken: false,
        };
        writer.repair_torn_tail()?;
        Ok(writer)
    }

    /// A crash mid-write can leave a last line without its newline; end it so that the next
    /// event starts on its own line (the reader skips the torn one).
    fn repair_torn_tail(&mut self) -> Result<(), StateError> {
        let len = self
            .file
            .metadata()
            .map_err(io_err("cannot read", &self.path))?
            .len();
        if len == 0 {
            return Ok(());
        }
        let mut f = File::open(&self.path).map_err(io_err("cannot read", &self.path))?;
        use std::io::{Read, Seek, SeekFrom};
        f.seek(SeekFrom::Start(len - 1))
            .map_err(io_err("cannot read", &self.path))?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last)
            .map_err(io_err("cannot read", &self.path))?;
        if last[0] != b'\n' {
            self.file
                .write_all(b"\n")
                .and_then(|()| self.file.sync_data())
                .map_err(io_err("cannot write journal", &self.path))?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds an event to the batch; nothing reaches the disk before [`JournalWriter::sync`].
    pub fn push(&mut self, event: &Event) {
        if serde_json::to_writer(&mut self.buf, event).is_ok() {
            self.buf.push(b'\n');
        }
    }

    /// Writes the batch with one write and one fsync. Callers act on the events only after this
    /// returns.
    pub fn sync(&mut self) -> Result<(), StateError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.broken {
            self.buf.clear();
            return Err(StateError::Io {
                what: "journal not writable after an earlier error",
                path: self.path.display().to_string(),
                source: io::Error::other("an earlier write failed"),
            });
        }
        // On a failed write (a full disk), cut the file back to its last whole line so that no
        // half line is left for a later write to continue, and write nothing more.
        let before = self.file.metadata().map(|m| m.len()).ok();
        let result = self
            .file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data());
        self.buf.clear();
        if result.is_err() {
            self.broken = true;
            if let Some(len) = before {
                let _ = self.file.set_len(len);
                let _ = self.file.sync_data();
            }
        }
        result.map_err(io_err("cannot write journal", &self.path))
    }
}

/// A journal read back.
#[derive(Debug, Clone)]
pub struct JournalRead {
    pub events: Vec<Event>,
    /// Set when the last line was torn (a crash mid-write) and skipped.
    pub torn_tail: bool,
}

/// Reads a journal. A torn last line is skipped; any other bad line is an error.
pub fn read(path: &Path) -> Result<JournalRead, StateError> {
    let file = File::open(path).map_err(io_err("cannot open journal", path))?;
    let reader = BufReader::new(file);
    let mut lines: Vec<(usize, String, bool)> = Vec::new();
    let mut reader = reader;
    let mut n = 0;
    loop {
        let mut buf = Vec::new();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(io_err("cannot read journal", path))?;
        if read == 0 {
            break;
        }
        n += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&buf).trim().to_string();
        lines.push((n, text, complete));
    }
    let count = lines.len();
    let mut events = Vec::with_capacity(count);
    let mut torn_tail = false;
    for (i, (line, text, complete)) in lines.into_iter().enumerate() {
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(&text) {
            Ok(e) => events.push(e),
            // A line cut short by a crash: the last line, or a line the next writer ended.
            Err(_) if i + 1 == count && !complete => torn_tail = true,
            Err(e) if e.is_eof() => torn_tail = true,
            Err(e) => {
                return Err(StateError::Corrupt {
                    path: path.display().to_string(),
                    line,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(JournalRead { events, torn_tail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> Event {
        Event { ts: now(), kind }
    }

    #[test]
    fn writes_reads_and_locks() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(&dir.path().join("state"));
        let id = state.new_run_id();
        let mut w = JournalWriter::create(&state, &id).unwrap();
        w.push(&ev(EventKind::StepSkipped {
            step: "a".into(),
            reason: "r".into(),
        }));
        w.sync().unwrap();
        let again = JournalWriter::open(&state, &id);
        assert!(matches!(again, Err(StateError::Locked { .. })), "{again:?}");
        let read = read(w.path()).unwrap();
        assert_eq!(read.events.len(), 1);
        let mode = fs::metadata(w.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mode = fs::metadata(state.run_dir(&id))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
        drop(w);
        assert!(JournalWriter::open(&state, &id).is_ok());
    }

    #[test]
    fn torn_last_line_is_skipped_but_corruption_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let good = serde_json::to_string(&ev(EventKind::StepReused { step: "a".into() })).unwrap();
        fs::write(&p, format!("{good}\n{}", &good[..10])).unwrap();
        let r = read(&p).unwrap();
        assert!(r.torn_tail);
        assert_eq!(r.events.len(), 1);
        fs::write(&p, format!("{{not json}}\n{good}\n")).unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(err.contains(":1:"), "{err}");
    }

    #[test]
    fn world_writable_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            StateDir::new(&root).ensure(),
            Err(StateError::Unsafe(_))
        ));
    }

    #[test]
    fn run_ids_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert!(state.existing("../etc").is_err());
    }
}
