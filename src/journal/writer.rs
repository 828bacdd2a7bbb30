//! Appending to a run's journal: batches of events, one write and one fsync each, under the
//! run's exclusive lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::event::Event;
use super::state_dir::{StateDir, StateError, check_private, io_err};

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
