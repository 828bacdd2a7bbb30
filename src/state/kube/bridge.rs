//! A blocking door onto async kube-rs calls: the store is used from synchronous code (the
//! journal's `sync`, which runs on the run's worker threads like an fsync, and the `runs`/`show`
//! commands), so it owns a small runtime of its own and waits on the answer. The lease renewal
//! lives on the same runtime.

use std::future::Future;

use crate::journal::StateError;

/// A one-thread runtime that runs the store's requests.
pub struct Bridge {
    rt: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    pub fn new() -> Result<Bridge, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mcflow-state")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the state store's runtime: {e}"))?;
        Ok(Bridge { rt: Some(rt) })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    /// Runs `fut` on the store's runtime and waits for its result (callable from any thread,
    /// a tokio worker's included).
    pub fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StateError>> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt().spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(StateError::Store {
                store: "kube".into(),
                message: "the state store's request task ended without an answer".into(),
            })
        })
    }

    /// Starts a background task (the lease renewal).
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.rt().spawn(fut);
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's async context panics; this does not block.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
