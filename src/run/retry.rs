//! The retry policy: one type used by every executor (kube-rs's backoff habit), so that no
//! executor loops and sleeps on its own.

use std::time::Duration;

use crate::workflow::model::RetrySpec;
use crate::workflow::validate::parse_duration;

/// How many attempts a step gets and how long to wait between them.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub delay: Duration,
    pub backoff: f64,
    pub max_delay: Duration,
    /// Random spread of each delay, as a fraction of it.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// One attempt: no retry unless a workflow asks for it.
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            delay: Duration::from_secs(1),
            backoff: 2.0,
            max_delay: Duration::from_secs(30),
            jitter: 0.1,
        }
    }
}

impl RetryPolicy {
    /// The policy of a step: its own `retry`, else the workflow's default, else one attempt.
    /// Durations were checked by validation; a bad one here falls back to the default.
    pub fn from_spec(spec: Option<&RetrySpec>) -> RetryPolicy {
        let d = RetryPolicy::default();
        let Some(s) = spec else { return d };
        RetryPolicy {
            attempts: s.attempts.max(1),
            delay: s
                .delay
                .as_deref()
                .and_then(|t| parse_duration(t).ok())
                .unwrap_or(d.delay),
            backoff: s.backoff.unwrap_or(d.backoff),
            max_delay: s
                .max_delay
                .as_deref()
                .and_then(|t| parse_duration(t).ok())
                .unwrap_or(d.max_delay),
            jitter: s.jitter.unwrap_or(d.jitter).clamp(0.0, 1.0),
        }
    }

    /// The wait after failed attempt `attempt` (1-based), before jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let factor = self.backoff.powi(attempt.saturating_sub(1).min(64) as i32);
        let secs = (self.delay.as_secs_f64() * factor).min(self.max_delay.as_secs_f64());
        // Bounded: a delay of `500000000000y` must not overflow a Duration.
        Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
    }

    /// The wait after failed attempt `attempt`, with jitter; `at_least` is a server's
    /// Retry-After, which the wait never undercuts.
    pub fn delay_after(&self, attempt: u32, at_least: Option<Duration>) -> Duration {
        let base = self.base_delay(attempt);
        let spread = base.as_secs_f64() * self.jitter;
        let jittered = base.as_secs_f64() + spread * (rand::random::<f64>() * 2.0 - 1.0);
        let d = Duration::try_from_secs_f64(jittered.max(0.0)).unwrap_or(Duration::MAX);
        match at_least {
            Some(min) if min > d => min,
            _ => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            delay: Duration::from_secs(2),
            backoff: 2.0,
            max_delay: Duration::from_secs(30),
            jitter: 0.0,
        };
        assert_eq!(p.base_delay(1), Duration::from_secs(2));
        assert_eq!(p.base_delay(2), Duration::from_secs(4));
        assert_eq!(p.base_delay(3), Duration::from_secs(8));
        assert_eq!(p.base_delay(9), Duration::from_secs(30));
    }

    #[test]
    fn huge_delays_do_not_overflow() {
        let p = RetryPolicy {
            attempts: 3,
            delay: Duration::MAX,
            backoff: 100.0,
            max_delay: Duration::MAX,
            jitter: 1.0,
        };
        assert_eq!(p.base_delay(3), Duration::MAX);
        let _ = p.delay_after(3, None);
    }

    #[test]
    fn jitter_stays_in_bounds_and_retry_after_wins() {
        let p = RetryPolicy {
            jitter: 0.5,
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let d = p.delay_after(1, None).as_secs_f64();
            assert!((0.5..=1.5).contains(&d), "{d}");
        }
        assert_eq!(
            p.delay_after(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
