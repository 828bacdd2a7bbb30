//! Typed keys are not echoed while the live display is on screen: the terminal would write
//! them (Ctrl-C as `^C`) between the display's lines, and the display, which redraws by
//! counting lines, would then leave a stale line behind (seen after Ctrl-C in tmux and xterm).

use std::os::fd::AsFd;

use nix::sys::termios::{LocalFlags, SetArg, Termios, tcgetattr, tcsetattr};

/// Echo off on the terminal of stdin until dropped, when the settings are put back.
pub struct EchoOff {
    saved: Option<Termios>,
}

impl EchoOff {
    /// Turns echo off if stdin is a terminal; otherwise does nothing.
    pub fn new() -> EchoOff {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return EchoOff { saved: None };
        };
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ECHOCTL);
        let ok = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet).is_ok();
        EchoOff {
            saved: ok.then_some(saved),
        }
    }

    /// Puts the saved settings back (once).
    pub fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &saved);
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        self.restore();
    }
}
