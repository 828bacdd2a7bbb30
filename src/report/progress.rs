//! The live display on a terminal: one spinner line per running step (elapsed time, attempt n/m,
//! the countdown to the next retry), a ✓ or ✗ line per finished step, then a summary table.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{ReportOptions, Reporter, RunSummary, first_line, human_duration, summary_table};
use crate::journal::{Event, EventKind};

struct Running {
    bar: ProgressBar,
    attempt: u32,
    max_attempts: u32,
    /// Set while waiting to retry: when, and why.
    retry_at: Option<(Instant, String)>,
}

pub struct ProgressReporter {
    opts: ReportOptions,
    multi: MultiProgress,
    style: ProgressStyle,
    running: HashMap<String, Running>,
}

impl ProgressReporter {
    pub fn new(opts: ReportOptions) -> ProgressReporter {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(15));
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        ProgressReporter {
            opts,
            multi,
            style,
            running: HashMap::new(),
        }
    }

    fn println(&self, text: &str) {
        if self.multi.println(text).is_err() {
            super::stdout(&format!("{text}\n"));
        }
    }

    fn mark(&self, ok: bool) -> String {
        match (ok, self.opts.color) {
            (true, true) => "\x1b[32m✓\x1b[0m".into(),
            (false, true) => "\x1b[31m✗\x1b[0m".into(),
            (true, false) => "✓".into(),
            (false, false) => "✗".into(),
        }
    }

    fn message(r: &Running) -> String {
        match &r.retry_at {
            Some((at, why)) => {
                let left = at.saturating_duration_since(Instant::now());
                format!(
                    "attempt {}/{} failed: {} · retry in {}",
                    r.attempt,
                    r.max_attempts,
                    first_line(why),
                    human_duration(
                        Duration::from_secs(left.as_secs() + 1)
                            .min(left + Duration::from_millis(999))
                    )
                )
            }
            None if r.max_attempts > 1 => format!("attempt {}/{}", r.attempt, r.max_attempts),
            None => String::new(),
        }
    }

    fn remove(&mut self, step: &str) -> Option<Running> {
        let r = self.running.remove(step)?;
        r.bar.finish_and_clear();
        self.multi.remove(&r.bar);
        Some(r)
    }
}

impl ProgressReporter {
    /// A step's attempt started: a new spinner, or the running one's attempt updated.
    fn started(&mut self, step: &str, attempt: u32, max_attempts: u32) {
        if let Some(r) = self.running.get_mut(step) {
            r.attempt = attempt;
            r.retry_at = None;
            let msg = Self::message(r);
            r.bar.set_message(msg);
            return;
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(self.style.clone());
        bar.set_prefix(step.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        let r = Running {
            bar,
            attempt,
            max_attempts,
            retry_at: None,
        };
        r.bar.set_message(Self::message(&r));
        self.running.insert(step.to_string(), r);
    }

    fn succeeded(&mut self, step: &str, duration_ms: u64, summary: Option<&str>) {
        self.remove(step);
        if self.opts.quiet {
            return;
        }
        let d = human_duration(Duration::from_millis(duration_ms));
        let extra = summary
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.contains('\n') {
                    format!("\n{s}")
                } else {
                    format!(" · {s}")
                }
            })
            .unwrap_or_default();
        self.println(&format!("{} {step} ({d}){extra}", self.mark(true)));
    }
}

impl Reporter for ProgressReporter {
    fn event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::RunStarted {
                run_id,
                workflow_name,
                ..
            } => self.println(&format!("mcflow · {workflow_name} · run {run_id}")),
            EventKind::RunResumed { run_id, .. } => {
                self.println(&format!("mcflow · resuming run {run_id}"))
            }
            EventKind::StepStarted {
                step,
                attempt,
                max_attempts,
                ..
            } => self.started(step, *attempt, *max_attempts),
            EventKind::AttemptFailed {
                step,
                error,
                retry_in_ms,
                ..
            } => {
                if let Some(r) = self.running.get_mut(step) {
                    r.retry_at = Some((
                        Instant::now() + Duration::from_millis(*retry_in_ms),
                        error.clone(),
                    ));
                    let msg = Self::message(r);
                    r.bar.set_message(msg);
                }
            }
            EventKind::StepSucceeded {
                step,
                duration_ms,
                summary,
                ..
            } => self.succeeded(step, *duration_ms, summary.as_deref()),
            EventKind::StepFailed {
                step,
                error,
                continue_on_error,
                ..
            } => {
                self.remove(step);
                let tail = if *continue_on_error {
                    " (continue_on_error)"
                } else {
                    ""
                };
                let text = if self.opts.verbose > 0 {
                    error.as_str()
                } else {
                    first_line(error)
                };
                self.println(&format!("{} {step}{tail}: {text}", self.mark(false)));
            }
            EventKind::StepSkipped { step, reason } => {
                self.remove(step);
                if !self.opts.quiet {
                    self.println(&format!("- {step} skipped: {reason}"));
                }
            }
            EventKind::StepReused { step } => {
                if !self.opts.quiet {
                    self.println(&format!("{} {step} (done before resume)", self.mark(true)));
                }
            }
            EventKind::RunFinished { .. } => {}
        }
    }

    fn tick(&mut self) {
        for r in self.running.values() {
            if r.retry_at.is_some() {
                r.bar.set_message(Self::message(r));
            }
        }
    }

    fn wants_ticks(&self) -> bool {
        true
    }

    fn note(&mut self, text: &str) {
        self.println(text);
    }

    fn main_steps_over(&mut self) {
        let keys: Vec<String> = self.running.keys().cloned().collect();
        for k in keys {
            self.remove(&k);
        }
    }

    fn finish(&mut self, summary: &RunSummary) {
        let keys: Vec<String> = self.running.keys().cloned().collect();
        for k in keys {
            self.remove(&k);
        }
        let _ = self.multi.clear();
        super::stdout(&summary_table(summary, self.opts.color));
    }
}
