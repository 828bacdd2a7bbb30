//! The local store's run-key lock: an exclusive `flock` on `<state>/locks/<key>.lock`, which
//! the OS releases when its holder dies, holding the holder's identity and run for the error a
//! second process shows. `--wait-lock` polls for it until its deadline.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use super::RunKey;
use crate::journal::StateError;

/// How often a queued runner asks for the lock again.
const POLL: Duration = Duration::from_millis(50);

/// A held run-key lock: released when dropped (or when the process dies).
#[derive(Debug)]
pub struct LocalKeyLock {
    _file: File,
}

/// Takes the run-key lock under `root`, waiting up to `wait` for another holder to let go.
pub fn lock(
    root: &Path,
    key: &RunKey,
    run_id: &str,
    wait: Option<Duration>,
) -> Result<LocalKeyLock, StateError> {
    let dir = root.join("locks");
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io("cannot create lock directory", &dir))?;
    }
    let path = dir.join(format!("{}.lock", key.object_name()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io("cannot open lock", &path))?;
    let deadline = Instant::now() + wait.unwrap_or_default();
    // A SIGKILLed holder's lock goes with its last file descriptor, which a child forked but
    // not yet exec'd may hold a moment longer: a dead holder gets a short grace.
    let grace = Instant::now() + Duration::from_millis(500);
    let mut told = false;
    loop {
        match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
            Ok(true) => break,
            Ok(false) => {
                let holder = read_holder(&path);
                let now = Instant::now();
                let dead_soon_free = !holder.alive && now < grace;
                if now >= deadline && !dead_soon_free {
                    return Err(StateError::KeyLocked {
                        key: key.to_string(),
                        holder: holder.text,
                        expires: None,
                    });
                }
                if !told && now < deadline {
                    super::tell_waiting(key, &holder.text, deadline - now);
                    told = true;
                }
                std::thread::sleep(POLL);
            }
            Err(e) => return Err(io("cannot lock", &path)(e)),
        }
    }
    let mut f = &file;
    let _ = f.set_len(0);
    let _ = write!(
        f,
        "{}\n{run_id}\n{}\n",
        super::holder::identity(),
        std::process::id()
    );
    let _ = f.sync_data();
    Ok(LocalKeyLock { _file: file })
}

struct Holder {
    text: String,
    alive: bool,
}

fn read_holder(path: &Path) -> Holder {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    let who = lines.next().unwrap_or("an unknown process").to_string();
    let run = lines.next().unwrap_or("?").to_string();
    let alive = lines
        .next()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .is_none_or(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok());
    Holder {
        text: format!("{who} (run {run})"),
        alive,
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}
