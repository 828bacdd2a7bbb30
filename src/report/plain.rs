//! Plain timestamped lines, for CI logs and pipes.

use std::io::Write;

use super::{ReportOptions, Reporter, RunSummary, first_line, human_duration, summary_table};
use crate::journal::{Event, EventKind};

pub struct PlainReporter {
    opts: ReportOptions,
}

impl PlainReporter {
    pub fn new(opts: ReportOptions) -> PlainReporter {
        PlainReporter { opts }
    }

    fn line(&self, ts: &str, text: &str) {
        // `2026-11-25T15:01:02.123Z`: second precision is enough to read a CI log.
        let short = ts.get(..19).unwrap_or(ts);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{short}Z {text}");
        let _ = out.flush();
    }
}

impl Reporter for PlainReporter {
    fn event(&mut self, event: &Event) {
        let text = match &event.kind {
            EventKind::RunStarted {
                run_id,
                workflow_name,
                ..
            } => format!("run {run_id}: workflow {workflow_name}"),
            EventKind::RunResumed { run_id, .. } => format!("resuming run {run_id}"),
            EventKind::StepStarted {
                step,
                attempt,
                max_attempts,
                ..
            } => {
                if self.opts.quiet {
                    return;
                }
                if *max_attempts > 1 {
                    format!("▶ {step} (attempt {attempt}/{max_attempts})")
                } else {
                    format!("▶ {step}")
                }
            }
            EventKind::AttemptFailed {
                step,
                attempt,
                error,
                retry_in_ms,
            } => {
                if self.opts.quiet {
                    return;
                }
                format!(
                    "↻ {step} attempt {attempt} failed: {}; retrying in {}",
                    first_line(error),
                    human_duration(std::time::Duration::from_millis(*retry_in_ms))
                )
            }
            EventKind::StepSucceeded {
                step,
                duration_ms,
                summary,
                result,
                ..
            } => {
                if self.opts.quiet {
                    return;
                }
                let d = human_duration(std::time::Duration::from_millis(*duration_ms));
                // -v: the tail of what the step printed (never for a sensitive step: its
                // result is not in the event at all).
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
                if self.opts.verbose > 0 {
                    format!("✗ {step}{tail}: {error}")
                } else {
                    format!("✗ {step}{tail}: {}", first_line(error))
                }
            }
            EventKind::StepSkipped { step, reason } => {
                if self.opts.quiet {
                    return;
                }
                format!("- {step} skipped: {reason}")
            }
            EventKind::StepReused { step } => {
                if self.opts.quiet {
                    return;
                }
                format!("✓ {step} (done before resume)")
            }
            EventKind::RunFinished { .. } => return,
        };
        self.line(&event.ts, &text);
    }

    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }

    fn finish(&mut self, summary: &RunSummary) {
        print!("{}", summary_table(summary, false));
        let _ = std::io::stdout().flush();
    }
}
