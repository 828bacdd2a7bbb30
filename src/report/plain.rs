//! Plain timestamped lines, for CI logs and pipes: one per step start and end, and during a
//! long kube wait a "still waiting" line every 30 s, so that a log never goes quiet for minutes.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use super::{
    ReportOptions, Reporter, RunSummary, clock, first_line, human_duration, summary_table,
};
use crate::journal::{Event, EventKind, StepRecord};
use crate::kube::WaitSeen;

/// How often a wait says it is still waiting; `MCFLOW_WAIT_NOTE_EVERY` (a humantime duration,
/// undocumented: for tests) changes it.
const WAIT_NOTE_EVERY: Duration = Duration::from_secs(30);

fn wait_note_every() -> Duration {
    std::env::var("MCFLOW_WAIT_NOTE_EVERY")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(WAIT_NOTE_EVERY)
}

pub struct PlainReporter {
    opts: ReportOptions,
    /// Running kube waits: what they saw last, and when a line last said so.
    waits: HashMap<String, (WaitSeen, Instant)>,
    every: Duration,
    /// Writes to stderr (the human side of `--output json`, whose stdout is the events).
    stderr: bool,
}

impl PlainReporter {
    pub fn new(opts: ReportOptions) -> PlainReporter {
        PlainReporter {
            opts,
            stderr: false,
            waits: HashMap::new(),
            every: wait_note_every(),
        }
    }

    /// The same lines on stderr.
    pub fn on_stderr(opts: ReportOptions) -> PlainReporter {
        PlainReporter {
            opts,
            stderr: true,
            waits: HashMap::new(),
            every: wait_note_every(),
        }
    }

    /// `still waiting for Deployment x on hub, last seen Available=False (45s, 4m 15s left)`.
    fn still_waiting(seen: &WaitSeen) -> String {
        let left = seen
            .deadline
            .map(|d| {
                format!(
                    ", {} left",
                    clock(d.saturating_duration_since(Instant::now()))
                )
            })
            .unwrap_or_default();
        format!(
            "still waiting for {}, last seen {} ({}{left})",
            seen.target,
            seen.state,
            clock(seen.started.elapsed())
        )
    }

    fn line(&self, ts: &str, text: &str) {
        // `2026-11-25T15:01:02.123Z`: second precision is enough to read a CI log.
        let short = ts.get(..19).unwrap_or(ts);
        if self.stderr {
            // One write: stderr is unbuffered, and `writeln!` wrote each piece on its own (four
            // syscalls a line, two lines a step: figure 1 of docs/PERFORMANCE.md).
            let line = format!("{short}Z {text}\n");
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
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
                params,
                ..
            } => Some(format!(
                "run {run_id}: workflow {workflow_name}{}",
                params_text(params)
            )),
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
            EventKind::StepSkipped { step, reason, .. } if !quiet => {
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
            // A multi-line summary (a `print` step's report) is shown once, at the end.
            Some(s) if s.contains('\n') => format!("✓ {step} ({d}): report at the end"),
            Some(s) if !s.is_empty() => format!("✓ {step} ({d}): {s}"),
            _ => format!("✓ {step} ({d})"),
        };
        format!("{line}{tail}")
    }
}

/// ` (params a=b c=d)`, or nothing for a workflow without params.
fn params_text(params: &std::collections::BTreeMap<String, serde_json::Value>) -> String {
    if params.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = params
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    format!(" (params {})", shown.join(" "))
}

impl Reporter for PlainReporter {
    fn event(&mut self, event: &Event) {
        if let Some(step) = event.kind.step()
            && !matches!(event.kind, EventKind::StepStarted { .. })
        {
            self.waits.remove(step);
        }
        if let Some(text) = self.text(&event.kind) {
            self.line(&event.ts, &text);
        }
    }

    fn waiting(&mut self, step: &str, seen: &WaitSeen) {
        let since = self
            .waits
            .get(step)
            .map(|(_, at)| *at)
            .unwrap_or_else(Instant::now);
        self.waits.insert(step.to_string(), (seen.clone(), since));
    }

    fn tick(&mut self) {
        if self.opts.quiet {
            return;
        }
        let now = Instant::now();
        let mut due: Vec<String> = Vec::new();
        for (seen, at) in self.waits.values_mut() {
            if now.duration_since(*at) >= self.every {
                *at = now;
                due.push(Self::still_waiting(seen));
            }
        }
        due.sort();
        let ts = crate::journal::now();
        for text in due {
            self.line(&ts, &format!("… {text}"));
        }
    }

    fn wants_ticks(&self) -> bool {
        true
    }

    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }

    fn finish(&mut self, summary: &RunSummary) {
        let table = summary_table(summary, false, self.opts.verbose > 0, super::DEFAULT_WIDTH);
        if self.stderr {
            let _ = std::io::stderr().write_all(table.as_bytes());
            return;
        }
        super::stdout(&table);
        let _ = std::io::stdout().flush();
    }
}
