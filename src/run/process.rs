//! Running a program through duct: argv only (never a shell), its own process group so that a
//! timeout or Ctrl-C kills it and everything it started, output captured with a size bound.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// At most this much of each stream is kept; the rest is read and dropped.
pub const CAPTURE_LIMIT: usize = 4 * 1024 * 1024;

/// A program to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub stdin: Option<String>,
    pub cwd: Option<PathBuf>,
}

/// What a finished process left.
#[derive(Debug, Clone, Default)]
pub struct ProcessOutput {
    pub stdout: String,
    pub stderr: String,
    /// None when killed by a signal.
    pub exit_code: Option<i32>,
    /// A stream was longer than [`CAPTURE_LIMIT`] and was cut.
    pub truncated: bool,
}

/// Why a process could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("program `{program}` not found (looked in {searched})")]
    NotFound { program: String, searched: String },
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The program ran, but its output could not be read or its exit status collected.
    #[error("cannot read the outcome of `{program}`: {source}")]
    Outcome {
        program: String,
        source: std::io::Error,
    },
}

/// Finds `program`: a path with a slash is used as it is, a bare name is looked up in PATH.
pub fn resolve(program: &Path) -> Result<PathBuf, ProcessError> {
    let text = program.to_string_lossy().to_string();
    if text.contains('/') {
        return if program.is_file() {
            Ok(program.to_path_buf())
        } else {
            Err(ProcessError::NotFound {
                program: text,
                searched: "that path".into(),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(ProcessError::NotFound {
        program: text,
        searched: format!("PATH={}", path.to_string_lossy()),
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Kills the process group when dropped before the process was reaped: a timeout or an
/// interrupt drops the future that owns this.
struct KillOnDrop {
    handle: Arc<duct::Handle>,
    armed: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.armed {
            kill_group(&self.handle);
        }
    }
}

fn kill_group(handle: &duct::Handle) {
    for pid in handle.pids() {
        if let Ok(pid) = i32::try_from(pid) {
            // The child leads its own group (process_group(0) below), so -pid is the group.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _ = handle.kill();
}

/// Reads a pipe to its end on the runtime's reactor, keeping the first [`CAPTURE_LIMIT`] bytes
/// and dropping the rest (read anyway, so that the program never blocks on a full pipe). No
/// buffer is zeroed: a step that prints nothing costs one read.
async fn read_bounded(r: os_pipe::PipeReader) -> std::io::Result<(Vec<u8>, bool)> {
    use tokio::io::AsyncReadExt;
    let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(r.into())?;
    let mut kept = Vec::new();
    let mut limited = pipe.take(CAPTURE_LIMIT as u64);
    limited.read_to_end(&mut kept).await?;
    // Short of the limit, the pipe is at its end already: no drain (its 8 KiB zeroed buffer
    // and one more read were most of a quiet step's capture cost).
    if (kept.len() as u64) < CAPTURE_LIMIT as u64 {
        return Ok((kept, false));
    }
    let dropped = tokio::io::copy(&mut limited.into_inner(), &mut tokio::io::sink()).await?;
    Ok((kept, dropped > 0))
}

/// Runs `spec` to completion. Dropping the returned future kills the process group.
pub async fn run(spec: ProcessSpec) -> Result<ProcessOutput, ProcessError> {
    let program = resolve(&spec.program)?;
    let shown = spec.program.to_string_lossy().to_string();
    let (out_r, out_w) = os_pipe::pipe().map_err(|source| ProcessError::Spawn {
        program: shown.clone(),
        source,
    })?;
    let (err_r, err_w) = os_pipe::pipe().map_err(|source| ProcessError::Spawn {
        program: shown.clone(),
        source,
    })?;
    let mut expr = duct::cmd(program, &spec.args)
        .stdout_file(out_w)
        .stderr_file(err_w)
        .unchecked()
        .before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });
    expr = match &spec.stdin {
        Some(s) => expr.stdin_bytes(s.as_bytes().to_vec()),
        None => expr.stdin_null(),
    };
    for (k, v) in &spec.env {
        expr = expr.env(k, v);
    }
    if let Some(dir) = &spec.cwd {
        expr = expr.dir(dir);
    }
    let handle = expr.start().map_err(|source| ProcessError::Spawn {
        program: shown.clone(),
        source,
    })?;
    // duct keeps the write ends in the expression only until spawn; drop ours so EOF arrives.
    drop(expr);
    let handle = Arc::new(handle);
    let mut guard = KillOnDrop {
        handle: handle.clone(),
        armed: true,
    };
    // Both streams are read on the reactor, not on threads: every hand-off between threads
    // was a wake-up, and a step of a chain waits for each one (figure 1 of
    // docs/PERFORMANCE.md).
    let outcome_error = |source: std::io::Error| ProcessError::Outcome {
        program: shown.clone(),
        source,
    };
    let (out, err) = tokio::join!(read_bounded(out_r), read_bounded(err_r));
    let ((stdout, out_truncated), (stderr, err_truncated)) =
        (out.map_err(outcome_error)?, err.map_err(outcome_error)?);
    // Both pipes at their end: the program has almost always exited and is reaped at once;
    // one that closed its output and goes on running is waited for on the blocking pool.
    let status = match handle.try_wait().map_err(outcome_error)? {
        Some(output) => output.status.code(),
        None => {
            let waiter = handle.clone();
            tokio::task::spawn_blocking(move || waiter.wait().map(|o| o.status.code()))
                .await
                .map_err(|e| outcome_error(std::io::Error::other(e.to_string())))?
                .map_err(outcome_error)?
        }
    };
    guard.armed = false;
    let exit_code = status;
    let truncated = out_truncated || err_truncated;
    Ok(ProcessOutput {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit_code,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(program: &str, args: &[&str]) -> ProcessSpec {
        ProcessSpec {
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: BTreeMap::new(),
            stdin: None,
            cwd: None,
        }
    }

    #[tokio::test]
    async fn captures_output_and_exit_code() {
        let out = run(spec("sh", &["-c", "echo out; echo err >&2; exit 3"]))
            .await
            .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.exit_code, Some(3));
    }

    #[tokio::test]
    async fn a_program_that_closes_its_output_and_goes_on_is_waited_for() {
        // Both pipes reach their end long before the exit: the reaping falls back to waiting.
        let out = run(spec(
            "sh",
            &["-c", "echo early; exec >&- 2>&-; sleep 0.2; exit 3"],
        ))
        .await
        .unwrap();
        assert_eq!(out.stdout, "early\n");
        assert_eq!(out.exit_code, Some(3));
    }

    #[tokio::test]
    async fn arguments_are_not_interpreted_by_a_shell() {
        let out = run(spec("echo", &["$(id)", "; rm -rf /", "`x`"]))
            .await
            .unwrap();
        assert_eq!(out.stdout, "$(id) ; rm -rf / `x`\n");
    }

    #[tokio::test]
    async fn output_beyond_the_limit_is_read_and_dropped() {
        let n = (CAPTURE_LIMIT + 100_000).to_string();
        let out = run(spec("head", &["-c", &n, "/dev/zero"])).await.unwrap();
        assert_eq!(out.stdout.len(), CAPTURE_LIMIT);
        assert!(out.truncated);
        assert_eq!(out.exit_code, Some(0));
        let out = run(spec("head", &["-c", "10", "/dev/zero"])).await.unwrap();
        assert_eq!((out.stdout.len(), out.truncated), (10, false));
    }

    #[tokio::test]
    async fn stdin_is_passed() {
        let mut s = spec("cat", &[]);
        s.stdin = Some("hello".into());
        assert_eq!(run(s).await.unwrap().stdout, "hello");
    }

    #[tokio::test]
    async fn missing_program_names_what_was_searched() {
        let err = run(spec("no-such-program-xyz", &[])).await.unwrap_err();
        assert!(err.to_string().contains("PATH="), "{err}");
    }

    #[tokio::test]
    async fn dropping_kills_the_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let fut = run(spec("sh", &["-c", &script]));
        let r = tokio::time::timeout(std::time::Duration::from_millis(300), fut).await;
        assert!(r.is_err());
        // The grandchild (sleep) must be gone too.
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z");
            if !alive {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "grandchild {pid} survived"
            );
            std::thread::yield_now();
        }
    }
}
