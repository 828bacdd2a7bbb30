//! Ctrl-C and SIGTERM: cancel the run. The scheduler then drops every in-flight attempt (which
//! kills its process group), records `run_finished: interrupted`, and exits 130. Steps that were
//! in flight have no end event, so `resume` runs them again.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM.
pub fn listen(token: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        token.cancel();
    })
}
