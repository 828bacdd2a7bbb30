//! Plain timestamped lines, for CI logs and pipes.

use std::io::Write;

use super::{ReportOptions, Reporter, RunSummary, first_line, human_duration, summary_table};
use crate::journal::{Event, EventKind, StepRecord};

pub struct PlainReporter {
    opts: ReportOptions,
    /// Writes to stderr (the human side of `--output json`, whose stdout is the events).
    stderr: bool,
}

impl PlainReporter {
    pub fn new(opts: ReportOptions) -> PlainReporter {
        PlainReporter {
            opts,
            stderr: false,
        }
    }

    /// The same lines on stderr.
    pub fn on_stderr(opts: ReportOptions) -> PlainReporter {
        PlainReporter { opts, stderr: true }
    }

    fn line(&self, ts: &str, text: &str) {
        // `2026-11-25T15:01:02.123Z`: second precision is enough to read a CI log.
        let short = ts.get(..19).unwrap_or(ts);
        if self.stderr {
            let _ = writeln!(std::io::stderr().lock(), "{short}Z {text}");
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{short}Z {text}");
        let _ = out.flush();
    }
}

impl PlainReporter {
    /// The line an event prints; `None` for events this mode does not show (and, with `-q`,
    /// for everything but the run's start and failures).
    fn text(&self, kind: &EventKind) -> Option<String> {
        let quiet = self.opts.quiet;
        match kind {
            EventKind::RunStarted {
                run_id,
                workflow_name,
                ..
            } => Some(format!("run {run_id}: workflow {workflow_name}")),
            EventKind::RunResumed { run_id, .. } => Some(format!("resuming run {run_id}")),
            EventKind::StepStarted {
                step,
                attempt,
                max_attempts,
                ..
            } if !quiet => Some(if *max_attempts > 1 {
                format!("▶ {step} (attempt {attempt}/{max_attempts})")
            } else {
                format!("▶ {step}")
            }),
            EventKind::AttemptFailed {
                step,
                attempt,
                error,
                retry_in_ms,
            } if !quiet => Some(format!(
                "↻ {step} attempt {attempt} failed: {}; retrying in {}",
                first_line(error),
                human_duration(std::time::Duration::from_millis(*retry_in_ms))
            )),
            EventKind::StepSucceeded {
                step,
                duration_ms,
                summary,
                result,
                ..
            } if !quiet => {
                Some(self.succeeded(step, *duration_ms, summary.as_deref(), result.as_ref()))
            }
            EventKind::StepFailed {
                step,
                error,
                continue_on_error,
                ..
            } => {
                let tail = if *continue_on_error {
                    " (continue_on_error)"
                } else {
                    ""
                };
                let error = if self.opts.verbose > 0 {
                    error
                } else {
                    first_line(error)
                };
                Some(format!("✗ {step}{tail}: {error}"))
            }
            EventKind::StepSkipped { step, reason } if !quiet => {
                Some(format!("- {step} skipped: {reason}"))
            }
            EventKind::StepReused { step } if !quiet => {
                Some(format!("✓ {step} (done before resume)"))
            }
            _ => None,
        }
    }

    fn succeeded(
        &self,
        step: &str,
        duration_ms: u64,
        summary: Option<&str>,
        result: Option<&StepRecord>,
    ) -> String {
        let d = human_duration(std::time::Duration::from_millis(duration_ms));
        // -v: the tail of what the step printed (never for a sensitive step: its result is not
        // in the event at all).
        let tail = match result {
            Some(r) if self.opts.verbose > 0 && !r.stdout.trim().is_empty() => {
                let t = super::tail_lines(&r.stdout, 5);
                format!("\n    {}", t.replace('\n', "\n    "))
            }
            _ => String::new(),
        };
        let line = match summary {
            // A multi-line summary (a `print` step's report) goes under its line.
            Some(s) if s.contains('\n') => format!("✓ {step} ({d}):\n{s}"),
            Some(s) if !s.is_empty() => format!("✓ {step} ({d}): {s}"),
            _ => format!("✓ {step} ({d})"),
        };
        format!("{line}{tail}")
    }
}

impl Reporter for PlainReporter {
    fn event(&mut self, event: &Event) {
        if let Some(text) = self.text(&event.kind) {
            self.line(&event.ts, &text);
        }
    }

    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }

    fn finish(&mut self, summary: &RunSummary) {
        if self.stderr {
            let _ = std::io::stderr().write_all(summary_table(summary, false).as_bytes());
            return;
        }
        super::stdout(&summary_table(summary, false));
        let _ = std::io::stdout().flush();
    }
}
