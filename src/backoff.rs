//! One backoff policy for everything that waits before trying again: a step's retries, a kube
//! request's retries, a watch being re-established (kube-rs's habit: backoff is a policy value,
//! not loops with sleeps scattered through the code).

use std::time::Duration;

/// Pauses that grow by `factor` after each failure in a row, up to `max`, with random spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The pause after the first failure.
    pub first: Duration,
    pub factor: f64,
    pub max: Duration,
    /// Random spread of each pause, as a fraction of it (0.0 to 1.0).
    pub jitter: f64,
}

impl Backoff {
    /// Doubling pauses from `first` up to `max`, without jitter.
    pub const fn doubling(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            factor: 2.0,
            max,
            jitter: 0.0,
        }
    }

    /// The pause after `failures` failures in a row (1 for the first), before jitter.
    pub fn base(&self, failures: u32) -> Duration {
        let factor = self.factor.powi(failures.saturating_sub(1).min(64) as i32);
        let secs = (self.first.as_secs_f64() * factor).min(self.max.as_secs_f64());
        // Bounded: a delay of `500000000000y` must not overflow a Duration.
        Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
    }

    /// The pause after `failures` failures, with jitter; `at_least` is a server's Retry-After,
    /// which the pause never undercuts.
    pub fn pause(&self, failures: u32, at_least: Option<Duration>) -> Duration {
        let base = self.base(failures);
        let spread = base.as_secs_f64() * self.jitter.clamp(0.0, 1.0);
        let jittered = base.as_secs_f64() + spread * (rand::random::<f64>() * 2.0 - 1.0);
        let d = Duration::try_from_secs_f64(jittered.max(0.0)).unwrap_or(Duration::MAX);
        match at_least {
            Some(min) if min > d => min,
            _ => d,
        }
    }
}

/// How many attempts a step gets and how long it waits between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    /// One attempt: no retry unless a workflow asks for it. The pauses are those of a `retry:`
    /// that gives only `attempts`.
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            backoff: Backoff {
                first: Duration::from_secs(1),
                factor: 2.0,
                max: Duration::from_secs(30),
                jitter: 0.1,
            },
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based), jittered, never under `at_least`.
    pub fn delay_after(&self, attempt: u32, at_least: Option<Duration>) -> Duration {
        self.backoff.pause(attempt, at_least)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff {
            first: Duration::from_secs(2),
            factor: 2.0,
            max: Duration::from_secs(30),
            jitter: 0.0,
        };
        assert_eq!(b.base(1), Duration::from_secs(2));
        assert_eq!(b.base(2), Duration::from_secs(4));
        assert_eq!(b.base(3), Duration::from_secs(8));
        assert_eq!(b.base(9), Duration::from_secs(30));
    }

    #[test]
    fn huge_delays_do_not_overflow() {
        let b = Backoff {
            first: Duration::MAX,
            factor: 100.0,
            max: Duration::MAX,
            jitter: 1.0,
        };
        assert_eq!(b.base(3), Duration::MAX);
        let _ = b.pause(3, None);
    }

    #[test]
    fn jitter_stays_in_bounds_and_retry_after_wins() {
        let mut p = RetryPolicy::default();
        p.backoff.jitter = 0.5;
        for _ in 0..100 {
            let d = p.delay_after(1, None).as_secs_f64();
            assert!((0.5..=1.5).contains(&d), "{d}");
        }
        assert_eq!(
            p.delay_after(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn doubling_matches_the_request_and_watch_pauses() {
        let b = Backoff::doubling(Duration::from_millis(100), Duration::from_secs(5));
        let pauses: Vec<u128> = (1..=8).map(|n| b.base(n).as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
