//! Retries of single API requests on transient failures (429, 5xx, resets).
//!
//! Every request a kube step makes is idempotent (server-side apply, merge patches of labels,
//! reads, deletes that tolerate a missing object), so one that failed on a flaky server is tried
//! again here, a few times within a short budget, before the step fails. What is still failing
//! afterwards goes to the step's own retry policy as a transient [`KubeError`], with the server's
//! `Retry-After` when it asked for a longer pause than this budget allows.

use std::future::Future;
use std::time::Duration;

use super::error::KubeError;
use crate::backoff::Backoff;

/// How a single request is retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestRetry {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The pauses between tries; a `Retry-After` longer than its longest ends the retries.
    pub backoff: Backoff,
}

impl Default for RequestRetry {
    fn default() -> Self {
        RequestRetry {
            attempts: 5,
            backoff: Backoff::doubling(Duration::from_millis(100), Duration::from_secs(5)),
        }
    }
}

impl RequestRetry {
    /// Runs `request` until it succeeds, fails for good, or the tries are used up.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, mut request: F) -> Result<T, KubeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, KubeError>>,
    {
        let mut attempt = 1;
        loop {
            match request().await {
                Ok(value) => return Ok(value),
                Err(err) if !err.transient || attempt >= self.attempts => return Err(err),
                Err(err) => {
                    let pause = err.retry_after.unwrap_or(self.backoff.base(attempt));
                    if pause > self.backoff.max {
                        return Err(err);
                    }
                    tracing::debug!(attempt, ?pause, "{what}: {}; trying again", err.message);
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::error::KubeErrorKind;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick() -> RequestRetry {
        RequestRetry {
            attempts: 3,
            backoff: Backoff::doubling(Duration::from_millis(1), Duration::from_millis(50)),
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = quick()
            .run("get", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(KubeError::from_status(503, "ServiceUnavailable", "", None))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_attempts() {
        let calls = AtomicU32::new(0);
        let err = quick()
            .run("get", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(KubeError::from_status(500, "InternalError", "boom", None))
            })
            .await
            .unwrap_err();
        assert!(err.transient);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_errors_or_long_retry_after() {
        let calls = AtomicU32::new(0);
        let err = quick()
            .run("get", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(KubeError::from_status(404, "NotFound", "x not found", None))
            })
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind, calls.load(Ordering::SeqCst)),
            (KubeErrorKind::NotFound, 1)
        );
        let calls = AtomicU32::new(0);
        let err = quick()
            .run("get", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(KubeError::from_status(
                    429,
                    "TooManyRequests",
                    "",
                    Some(Duration::from_secs(60)),
                ))
            })
            .await
            .unwrap_err();
        assert_eq!(err.retry_after, Some(Duration::from_secs(60)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
