//! The state directory (`.mcflow`): where runs live, who may write there, run ids.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Errors of the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("run {run_id} is in use by another mcflow process (pid {pid})")]
    Locked { run_id: String, pid: String },
    #[error(
        "`{key}` is being run by {holder}{}; pass --wait-lock <duration> to wait for it",
        expires.as_deref().map(|e| format!(", its lock expires at {e} unless renewed")).unwrap_or_default()
    )]
    KeyLocked {
        key: String,
        holder: String,
        expires: Option<String>,
    },
    #[error(
        "run {run_id} was taken over by {holder}: this process stops and writes nothing more (fenced)"
    )]
    Fenced { run_id: String, holder: String },
    #[error("state store {store}: {message}")]
    Store { store: String, message: String },
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

pub(super) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// The state directory (`.mcflow`): runs live under `runs/<run-id>/`.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub(super) root: PathBuf,
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

pub(super) fn check_private(dir: &Path) -> Result<(), StateError> {
    let meta = fs::metadata(dir).map_err(io_err("cannot read", dir))?;
    let mode = meta.permissions().mode();
    // World-writable without the sticky bit: anyone could swap journals under us.
    if mode & 0o002 != 0 {
        return Err(StateError::Unsafe(dir.display().to_string()));
    }
    Ok(())
}
