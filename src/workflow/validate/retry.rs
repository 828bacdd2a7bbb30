//! Retry policies, timeouts and the durations they are written in.

use super::Checker;
use crate::workflow::diagnostic::{Problem, ProblemKind};
use crate::workflow::duration::parse_duration;
use crate::workflow::model::RetrySpec;
use crate::yaml::{Loc, PathSeg};

impl Checker<'_> {
    pub(super) fn check_defaults(&mut self) {
        let d = &self.wf.workflow.defaults;
        if let Some(t) = &d.timeout {
            let loc = self
                .node(&[
                    PathSeg::Key("defaults".into()),
                    PathSeg::Key("timeout".into()),
                ])
                .loc;
            self.check_duration(t, loc);
        }
        if let Some(r) = &d.retry {
            let path = [
                PathSeg::Key("defaults".into()),
                PathSeg::Key("retry".into()),
            ];
            self.check_retry(r, &path);
        }
    }

    pub(super) fn check_duration(&mut self, text: &str, loc: Loc) {
        if let Err(e) = parse_duration(text) {
            self.push(
                Problem::new(
                    ProblemKind::BadDuration,
                    format!("invalid duration `{text}`"),
                )
                .at(self.file, loc)
                .label(e)
                .help("durations look like `500ms`, `2s`, `5m` or `1h 30m`"),
            );
        }
    }

    pub(super) fn check_retry(&mut self, r: &RetrySpec, path: &[PathSeg]) {
        let at = |this: &Self, field: &str| {
            let mut p = path.to_vec();
            p.push(PathSeg::Key(field.into()));
            this.node(&p).loc
        };
        if r.attempts == 0 {
            let loc = at(self, "attempts");
            self.push(
                Problem::new(ProblemKind::BadRetry, "retry `attempts` must be at least 1")
                    .at(self.file, loc)
                    .help("attempts counts the first try: `attempts: 1` means no retry"),
            );
        }
        for field in ["delay", "max_delay"] {
            let value = if field == "delay" {
                &r.delay
            } else {
                &r.max_delay
            };
            if let Some(v) = value {
                let loc = at(self, field);
                self.check_duration(v, loc);
            }
        }
        if let Some(b) = r.backoff
            && !(1.0..=100.0).contains(&b)
        {
            let loc = at(self, "backoff");
            self.push(
                Problem::new(
                    ProblemKind::BadRetry,
                    "retry `backoff` must be between 1.0 and 100.0",
                )
                .at(self.file, loc),
            );
        }
        if let Some(j) = r.jitter
            && !(0.0..=1.0).contains(&j)
        {
            let loc = at(self, "jitter");
            self.push(
                Problem::new(
                    ProblemKind::BadRetry,
                    "retry `jitter` is a fraction between 0.0 and 1.0",
                )
                .at(self.file, loc),
            );
        }
    }
}
