//! State safety through the real binary: a SIGKILLed lock holder releases the run's lock; a
//! full disk (a 64 KiB tmpfs) fails the run cleanly (exit 3, a message naming the journal and
//! the error) without damaging the lines already written, and the run resumes once there is
//! room; state files are 0600 and directories 0700 whatever the umask; a world-writable state
//! directory is refused.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Workspace, exit_or, kill_9};

/// A step that holds the run until `release` exists.
const HOLDING: &str = r#"name: holding
steps:
  - id: first
    run: [sh, -c, "echo first >> side"]
  - id: hold
    run: [sh, -c, 'while [ ! -e release ]; do sleep 0.02; done; echo hold >> side']
  - id: last
    run: [sh, -c, "echo last >> side"]
"#;

#[test]
fn a_sigkilled_lock_holder_releases_the_lock_and_resume_succeeds_at_once() {
    let w = Workspace::new().no_color();
    w.write("w.yaml", HOLDING);
    let mut run = w.spawn("run", &["run", "w.yaml"]);
    let holding = |w: &Workspace| {
        w.journal_read().is_some_and(|j| {
            j.events.iter().any(|e| {
                matches!(&e.kind, mcflow::journal::EventKind::StepStarted { step, .. } if step == "hold")
            })
        })
    };
    assert_eq!(
        exit_or(&mut run, || holding(&w)),
        None,
        "the run ended early"
    );
    // While it lives, the holder is named.
    let busy = w.mcflow(&["resume", "--last"]);
    busy.assert_code(3);
    assert!(
        busy.stderr.contains(&format!(
            "in use by another mcflow process (pid {})",
            run.id()
        )),
        "{}",
        busy.stderr
    );

    kill_9(&mut run, w.path());
    w.write("release", "");
    let out = w.mcflow(&["resume", "--last"]);
    out.assert_code(0);
    assert_eq!(
        w.lines("side"),
        ["first", "hold", "last"],
        "each step's work done once"
    );
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a `size` tmpfs (mode 0700) at `dir`, or says why not.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {}", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[test]
fn a_full_disk_fails_the_run_cleanly_and_it_resumes_once_there_is_room() {
    let w = Workspace::new().no_color();
    let disk = match Tmpfs::mount(&w.state_dir(), "64k") {
        Ok(d) => d,
        Err(e) => {
            println!("SKIPPED: cannot mount a tmpfs for the full-disk test (needs root): {e}");
            return;
        }
    };
    // 60 steps, each with ~2 KB of journaled stdout: the journal outgrows 64 KiB midway.
    let mut wf = String::from("name: big\nsteps:\n");
    for i in 0..60 {
        wf.push_str(&format!(
            "  - id: s{i}\n    run: [sh, -c, 'echo s{i} >> side; head -c 2000 /dev/zero | tr \"\\0\" x; echo']\n"
        ));
    }
    w.write("w.yaml", &wf);
    let out = w.mcflow(&["run", "w.yaml"]);
    out.assert_code(3);
    let journal = w.newest_journal().expect("a journal");
    assert!(
        out.stderr.contains("cannot write journal")
            && out.stderr.contains(&journal.display().to_string())
            && out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );

    // The failed write was cut back to the last whole line, and every line is intact.
    let bytes = std::fs::read(&journal).unwrap();
    assert_eq!(
        bytes.last(),
        Some(&b'\n'),
        "the journal ends in a torn line"
    );
    let text = String::from_utf8_lossy(&bytes);
    let complete: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .collect();
    assert!(complete.len() > 10, "{} lines", complete.len());
    for (n, line) in complete.iter().enumerate() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("line {} damaged: {e}", n + 1));
    }
    let read = mcflow::journal::read(&journal).expect("the journal reads");
    // Journal first: no step did its work without its `step_started` on disk.
    let started: Vec<String> = read
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            mcflow::journal::EventKind::StepStarted { step, .. } => Some(step.clone()),
            _ => None,
        })
        .collect();
    let ran = w.lines("side");
    for step in &ran {
        assert!(started.contains(step), "{step} ran without step_started");
    }
    assert!(ran.len() < 60, "the run went on after the disk filled");

    // `show` still reads the damaged run.
    w.mcflow(&["show", "--last"]).assert_code(0);

    disk.resize("4m");
    w.mcflow(&["resume", "--last"]).assert_code(0);
    let ran = w.lines("side");
    for i in 0..60 {
        let n = ran.iter().filter(|l| **l == format!("s{i}")).count();
        assert!(n >= 1, "s{i} never ran");
    }
    // Only the step in flight when the disk filled may have run twice.
    assert!(ran.len() <= 61, "{ran:?}");
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn state_files_are_0600_and_directories_0700_even_with_umask_0() {
    let w = Workspace::new().no_color();
    w.write("w.yaml", HOLDING);
    w.write("release", "");
    let mut cmd = w.command(&["run", "w.yaml"]);
    cmd.stdout(std::process::Stdio::null());
    // SAFETY: umask is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::empty());
            Ok(())
        });
    }
    let status = cmd.status().expect("run mcflow");
    assert!(status.success());
    // Resume writes too: run it again over a failed run.
    w.write(
        "w2.yaml",
        "name: f\nsteps:\n  - id: f\n    run: [sh, -c, 'test -e ok']\n",
    );
    w.mcflow(&["run", "w2.yaml"]).assert_code(1);
    w.write("ok", "");
    w.mcflow(&["resume", "--last"]).assert_code(0);

    let mut dirs = vec![w.state_dir()];
    let mut checked = 0;
    while let Some(dir) = dirs.pop() {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "{checked} files");
}

#[test]
fn a_world_writable_state_directory_is_refused() {
    let w = Workspace::new().no_color();
    w.write(
        "w.yaml",
        "name: a\nsteps:\n  - id: a\n    run: [sh, -c, 'echo a >> side']\n",
    );
    std::fs::create_dir(w.state_dir()).unwrap();
    for bits in [0o777, 0o1777, 0o722] {
        std::fs::set_permissions(w.state_dir(), std::fs::Permissions::from_mode(bits)).unwrap();
        let out = w.mcflow(&["run", "w.yaml"]);
        out.assert_code(3);
        assert!(
            out.stderr.contains("writable by other users") && out.stderr.contains("--state-dir"),
            "{bits:o}: {}",
            out.stderr
        );
    }
    assert_eq!(w.read("side"), "", "nothing ran");

    // A private state directory whose `runs/` was opened up later is refused too.
    std::fs::set_permissions(w.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    w.mcflow(&["run", "w.yaml"]).assert_code(0);
    let runs = w.state_dir().join("runs");
    std::fs::set_permissions(&runs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = w.mcflow(&["run", "w.yaml"]);
    out.assert_code(3);
    assert!(
        out.stderr.contains("writable by other users"),
        "{}",
        out.stderr
    );
}
