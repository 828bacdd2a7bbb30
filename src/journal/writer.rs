//! Appending to a run's journal under the run's exclusive lock: batches of events, one write
//! each, and fdatasyncs shared by every batch written before them (group commit).
//!
//! A batch reaches the page cache with [`JournalWriter::write`]: a crash of the process keeps
//! it, only power loss can lose it. [`JournalWriter::sync_through`] makes it durable, unless an
//! fdatasync since its write already did. Which events must be durable before what is the
//! caller's rule (docs/RELIABILITY.md, "When the journal reaches the disk").

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
    /// The file's length after the last whole write: what a failed write is cut back to. Kept
    /// here rather than asked of the file before each write (a `statx` a batch); the run's lock
    /// means no other process appends.
    len: u64,
    /// Batches written by this writer, and how many of them the last fdatasync covered.
    written: u64,
    synced: u64,
    /// fdatasyncs of the journal so far (docs/PERFORMANCE.md counts them per step).
    fsyncs: u64,
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
        // The holder's pid, for the error another process shows. Not fsync'd: it only names a
        // live holder, and after power loss there is none.
        let mut l = &lock;
        let _ = l.set_len(0);
        let _ = write!(l, "{}", std::process::id());

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
            len: 0,
            written: 0,
            synced: 0,
            fsyncs: 0,
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
        self.len = len;
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
            self.len += 1;
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
        let batch = self.write()?;
        self.sync_through(batch)
    }

    /// Writes the batch with one write, without fsync, and returns its number for
    /// [`JournalWriter::sync_through`]. After a process crash the events are in the file; after
    /// power loss they may not be.
    pub fn write(&mut self) -> Result<u64, StateError> {
        if self.buf.is_empty() {
            return Ok(self.written);
        }
        if self.broken {
            self.buf.clear();
            return Err(self.broken_error());
        }
        // On a failed write (a full disk), cut the file back to its last whole line so that no
        // half line is left for a later write to continue, and write nothing more.
        let result = self.file.write_all(&self.buf);
        let size = self.buf.len() as u64;
        self.buf.clear();
        if let Err(e) = result {
            self.broken = true;
            let _ = self.file.set_len(self.len);
            let _ = self.file.sync_data();
            return Err(io_err("cannot write journal", &self.path)(e));
        }
        self.len += size;
        self.written += 1;
        Ok(self.written)
    }

    /// Makes every batch up to number `batch` durable: one fdatasync, which covers every batch
    /// written before it, unless an earlier one already covered `batch`.
    pub fn sync_through(&mut self, batch: u64) -> Result<(), StateError> {
        if batch <= self.synced {
            return Ok(());
        }
        if self.broken {
            return Err(self.broken_error());
        }
        let upto = self.written;
        self.fsyncs += 1;
        if let Err(e) = self.file.sync_data() {
            self.broken = true;
            return Err(io_err("cannot write journal", &self.path)(e));
        }
        self.synced = upto;
        Ok(())
    }

    /// fdatasyncs of the journal by this writer so far.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs
    }

    fn broken_error(&self) -> StateError {
        StateError::Io {
            what: "journal not writable after an earlier error",
            path: self.path.display().to_string(),
            source: io::Error::other("an earlier write failed"),
        }
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        // What a test or a profile reads to count the fsyncs a run paid (`-vv`).
        tracing::debug!(
            batches = self.written,
            fsyncs = self.fsyncs,
            "journal closed"
        );
    }
}
