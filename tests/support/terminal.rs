//! A terminal for the live display: a tmux server of its own (its socket in the test's
//! directory), killed when dropped. Tests that need one skip with a message when tmux is not
//! installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::wait_until;
use super::workspace::Workspace;

pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `command` in a detached `width`x`height` session, or None when tmux is not
    /// installed.
    pub fn start(dir: &Path, (width, height): (u16, u16), command: &str) -> Option<Tmux> {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let status = tmux
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .arg(command)
            .status();
        match status {
            Ok(s) if s.success() => Some(tmux),
            Ok(s) => panic!("tmux new-session failed: {s}"),
            Err(_) => None,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    /// The screen as text; with `escapes`, colours and attributes as escape sequences.
    pub fn screen(&self, escapes: bool) -> String {
        let mut c = self.cmd();
        c.args(["capture-pane", "-p"]);
        if escapes {
            c.arg("-e");
        }
        let out = c.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The whole pane history, not only what is on the screen.
    pub fn history(&self) -> String {
        self.cmd()
            .args(["capture-pane", "-p", "-S", "-", "-E", "-"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Types `keys` into the pane (tmux key names: `C-c` is Ctrl-C).
    pub fn send_keys(&self, keys: &str) {
        let status = self
            .cmd()
            .args(["send-keys", keys])
            .status()
            .expect("tmux send-keys");
        assert!(status.success(), "tmux send-keys {keys}: {status}");
    }

    /// Waits until the screen satisfies `cond` and returns that screen.
    pub fn wait_for_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        wait_until(what, || {
            last = self.screen(false);
            cond(&last)
        });
        last
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The shell command a tmux pane runs: `env <env> mcflow --state-dir <state> <args>` in the
/// workspace, then its exit code (`EXIT=n`), then a wait that keeps the pane open until the
/// server is killed.
pub fn pane_command(ws: &Workspace, env: &str, args: &str) -> String {
    let bin = assert_cmd::cargo::cargo_bin("mcflow");
    format!(
        "cd '{}' && env {env} '{}' --state-dir '{}' {args}; echo EXIT=$?; exec cat",
        ws.path().display(),
        bin.display(),
        ws.state_dir().display()
    )
}
