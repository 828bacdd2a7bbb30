//! Every attempt's output, redacted, in `runs/<id>/attempts.jsonl` (0600): what
//! `mcflow show <run> --step <id>` prints, one JSON object per attempt of a `run` or `linkerd`
//! step. A sensitive step's stdout is never written (`stdout: null`), its stderr is, redacted.
//!
//! Unlike the journal this file decides nothing (a step's status comes from the journal only),
//! so it is written without an fsync and a write error is left out quietly: a crash or a full
//! disk can cost a diagnostic, never a step's status or the run.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The file's name in a run's directory.
pub const ATTEMPTS_FILE: &str = "attempts.jsonl";

/// What one attempt of a program step left.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptOutput {
    pub ts: String,
    pub step: String,
    /// The attempt's number within its run of the step (a resume starts again at 1).
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// None: hidden, the step is sensitive.
    pub stdout: Option<String>,
    pub stderr: String,
    /// The error the attempt failed with, as the journal has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The program wrote more than mcflow keeps (4 MiB a stream).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// A run's attempt log, opened on the first attempt that has output.
#[derive(Debug)]
pub struct AttemptLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl AttemptLog {
    pub fn new(run_dir: &Path) -> AttemptLog {
        AttemptLog {
            path: run_dir.join(ATTEMPTS_FILE),
            file: Mutex::new(None),
        }
    }

    /// Appends one attempt (a line, one write).
    pub fn append(&self, record: &AttemptOutput) {
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        let Ok(mut file) = self.file.lock() else {
            return;
        };
        if file.is_none() {
            *file = open_for_append(&self.path);
        }
        if let Some(f) = file.as_mut() {
            let _ = f.write_all(&line);
        }
    }
}

/// Opens the log to append, ending a line torn by a crash first (a resume appends after it).
fn open_for_append(path: &Path) -> Option<File> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .ok()?;
    let len = f.metadata().ok()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        use std::os::unix::fs::FileExt;
        File::open(path)
            .ok()?
            .read_exact_at(&mut last, len - 1)
            .ok()?;
    }
    let torn = last[0] != b'\n';
    if torn {
        f.write_all(b"\n").ok()?;
    }
    Some(f)
}

/// The attempts of a run, in the order they ended; lines that do not parse (a crash
/// mid-write) are left out.
pub fn read_attempts(run_dir: &Path) -> Vec<AttemptOutput> {
    let Ok(text) = std::fs::read_to_string(run_dir.join(ATTEMPTS_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn appends_and_reads_back_private() {
        let dir = tempfile::tempdir().unwrap();
        let log = AttemptLog::new(dir.path());
        let rec = |attempt| AttemptOutput {
            ts: "t".into(),
            step: "s".into(),
            attempt,
            exit_code: Some(1),
            stdout: None,
            stderr: "Error: x\n".into(),
            error: Some("sh exited with 1: Error: x".into()),
            truncated: false,
        };
        log.append(&rec(1));
        log.append(&rec(2));
        let path = dir.path().join(ATTEMPTS_FILE);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"torn")
            .unwrap();
        assert_eq!(read_attempts(dir.path()), vec![rec(1), rec(2)]);
        // A resume appends after the torn line, not onto it.
        AttemptLog::new(dir.path()).append(&rec(3));
        assert_eq!(read_attempts(dir.path()), vec![rec(1), rec(2), rec(3)]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
