//! Fault injection: latency, error statuses and dropped connections on matching requests.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};
use regex::Regex;

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Wait this long, then serve the request normally.
    Latency(Duration),
    /// Answer with this HTTP status and a `Status` body; `retry_after` (seconds) adds a
    /// `Retry-After` header (use with 429 or 503).
    Status {
        /// HTTP status code.
        code: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
    },
    /// Close the connection without answering.
    Drop,
    /// Serve the request (a write is made), then close the connection without the answer:
    /// the client cannot tell whether its write landed (a response lost in the network).
    DropAnswer,
}

/// When a fault fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Every matching request.
    Always,
    /// The next N matching requests.
    Times(u32),
    /// Each matching request with this probability (seeded RNG: deterministic per seed).
    Probability(f64),
}

/// A fault to inject into one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Regex matched against the request path (without the query), e.g. `^/api/v1/namespaces/x/secrets`.
    pub path_regex: String,
    /// Only requests with this method (`GET`, `PATCH`...), or any.
    pub method: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// When.
    pub trigger: Trigger,
}

impl Fault {
    /// A fault on every request whose path matches `path_regex`.
    pub fn new(path_regex: &str, kind: FaultKind) -> Self {
        Fault {
            path_regex: path_regex.to_string(),
            method: None,
            kind,
            trigger: Trigger::Always,
        }
    }
    /// Answer `code` (500, 503...).
    pub fn status(path_regex: &str, code: u16) -> Self {
        Self::new(
            path_regex,
            FaultKind::Status {
                code,
                retry_after: None,
            },
        )
    }
    /// Answer 429 Too Many Requests with `Retry-After: <secs>`.
    pub fn too_many_requests(path_regex: &str, retry_after_secs: u64) -> Self {
        Self::new(
            path_regex,
            FaultKind::Status {
                code: 429,
                retry_after: Some(retry_after_secs),
            },
        )
    }
    /// Delay matching requests.
    pub fn latency(path_regex: &str, d: Duration) -> Self {
        Self::new(path_regex, FaultKind::Latency(d))
    }
    /// Drop the connection.
    pub fn drop_connection(path_regex: &str) -> Self {
        Self::new(path_regex, FaultKind::Drop)
    }
    /// Serve the request, then drop the connection instead of answering.
    pub fn drop_answer(path_regex: &str) -> Self {
        Self::new(path_regex, FaultKind::DropAnswer)
    }
    /// Only for this HTTP method.
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_uppercase());
        self
    }
    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.trigger = Trigger::Times(n);
        self
    }
    /// Only with probability `p` per matching request.
    pub fn probability(mut self, p: f64) -> Self {
        self.trigger = Trigger::Probability(p);
        self
    }
}

/// The faults of one cluster.
pub struct FaultSet {
    faults: Vec<(Fault, Regex)>,
    rng: StdRng,
}

impl FaultSet {
    /// No faults; `seed` drives probabilistic faults.
    pub fn new(seed: u64) -> Self {
        FaultSet {
            faults: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Add a fault (an invalid regex matches nothing and is reported).
    pub fn add(&mut self, f: Fault) -> Result<(), regex::Error> {
        let re = Regex::new(&f.path_regex)?;
        self.faults.push((f, re));
        Ok(())
    }

    /// Remove every fault.
    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// The faults that fire for this request, in order (latencies first is up to the caller).
    pub fn fire(&mut self, method: &str, path: &str) -> Vec<FaultKind> {
        let mut out = Vec::new();
        for (f, re) in self.faults.iter_mut() {
            if f.method.as_deref().is_some_and(|m| m != method) || !re.is_match(path) {
                continue;
            }
            let fires = match &mut f.trigger {
                Trigger::Always => true,
                Trigger::Times(0) => false,
                Trigger::Times(n) => {
                    *n -= 1;
                    true
                }
                Trigger::Probability(p) => self.rng.random_bool(p.clamp(0.0, 1.0)),
            };
            if fires {
                out.push(f.kind.clone());
            }
        }
        self.faults.retain(|(f, _)| f.trigger != Trigger::Times(0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_method() {
        let mut s = FaultSet::new(1);
        s.add(
            Fault::status("^/api/v1/secrets", 503)
                .method("get")
                .times(2),
        )
        .unwrap();
        assert!(s.fire("POST", "/api/v1/secrets").is_empty());
        assert_eq!(s.fire("GET", "/api/v1/secrets").len(), 1);
        assert_eq!(s.fire("GET", "/api/v1/secrets").len(), 1);
        assert!(s.fire("GET", "/api/v1/secrets").is_empty());
    }

    #[test]
    fn probability_is_seeded() {
        let run = |seed| {
            let mut s = FaultSet::new(seed);
            s.add(Fault::drop_connection(".").probability(0.5)).unwrap();
            (0..32)
                .map(|_| !s.fire("GET", "/x").is_empty())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert!(run(7).iter().any(|b| *b) && run(7).iter().any(|b| !*b));
    }
}
