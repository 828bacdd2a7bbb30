//! Reporters: the only code that prints during a run. They listen to the same events the journal
//! records (after the journal has them), plus a periodic tick for live displays.

mod attempts;
mod checks;
mod json;
mod logs;
mod outline;
mod params;
mod plain;
mod progress;
mod runs;
mod table;
mod text;
mod tty;

use std::io::IsTerminal;
use std::time::Duration;

use crate::cli::OutputMode;
use indexmap::IndexMap;

use crate::journal::{Event, RunStatus, StepState, StepStatus, is_tolerated_inside};

pub use attempts::{StepAttempt, matching_steps, render_attempts, step_attempts};
pub use checks::CheckResult;
pub use json::JsonReporter;
pub use logs::{LogWriter, set_live};
pub use outline::Outline;
pub use params::render_params;
pub use plain::PlainReporter;
pub use progress::ProgressReporter;
pub use runs::{render_run, run_json, runs_table};
pub use table::{DEFAULT_WIDTH, TableOptions, paint, paint_word, steps_table, wrap};
pub use text::{clock, first_line, fit, human_duration, stdout, step_label, tail_lines};

/// How a run ended, for the summary.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
    /// This attempt's: a resume's own time, not the run's since its first start.
    pub duration: Duration,
    /// This attempt resumed an earlier one.
    pub resumed: bool,
    pub journal: String,
    /// Each step this attempt of the run touched, as [`crate::journal::replay`] tells it.
    pub steps: IndexMap<String, StepState>,
    /// What `print` steps showed (verify's table), repeated at the end.
    pub reports: Vec<String>,
    /// The outcome of every check step (`check:`), in the order they ended.
    pub checks: Vec<CheckResult>,
}

/// A listener of run events that prints.
pub trait Reporter: Send {
    /// Called with each event after the journal has it on disk.
    fn event(&mut self, event: &Event);
    /// Called a few times a second while steps run (live displays redraw).
    fn tick(&mut self) {}
    /// A line of text that is not an event (a warning before the run).
    fn note(&mut self, text: &str);
    /// The main steps are over and the `finally` steps start: steps still shown as running
    /// (cut short by Ctrl-C) are not running any more.
    fn main_steps_over(&mut self) {}
    /// The run is over.
    fn finish(&mut self, summary: &RunSummary);
    /// Does this reporter want ticks?
    fn wants_ticks(&self) -> bool {
        false
    }
    /// Does this reporter want the run's [`Outline`] (it costs a plan)?
    fn wants_outline(&self) -> bool {
        false
    }
    /// The run's outline, once, after its first event.
    fn begin(&mut self, _outline: &Outline) {}
    /// A kube wait of `step` saw a new state.
    fn waiting(&mut self, _step: &str, _seen: &crate::kube::WaitSeen) {}
}

/// Options shared by the reporters.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
}

/// The reporter for an output mode: in `auto`, progress bars when stdout is a terminal, plain
/// lines otherwise.
pub fn for_mode(mode: OutputMode, opts: ReportOptions) -> Box<dyn Reporter> {
    match mode {
        OutputMode::Json => Box::new(JsonReporter::with_human(opts)),
        OutputMode::Plain => Box::new(PlainReporter::new(opts)),
        OutputMode::Auto if std::io::stdout().is_terminal() => {
            Box::new(ProgressReporter::new(opts))
        }
        OutputMode::Auto => Box::new(PlainReporter::new(opts)),
    }
}

/// Colour is on when the terminal takes it and NO_COLOR is unset (https://no-color.org).
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Whether diagnostics are printed in colour (a terminal, and NO_COLOR unset).
pub fn color_on_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// The end of a run as the text reporters print it: the steps that did not succeed (every step
/// with `all`: `-v`), what `print` steps showed (verify's report), the verdict with the counts
/// and the journal's path.
pub fn summary_table(summary: &RunSummary, color: bool, all: bool, width: usize) -> String {
    let opts = TableOptions {
        color,
        fold_nested: all,
        problems_only: !all,
        width,
        ..TableOptions::default()
    };
    let (table, left_out) = steps_table(&summary.steps, opts);
    let mut out = String::new();
    if left_out < summary.steps.len() {
        out.push('\n');
        out.push_str(&table);
    }
    if all && left_out > 0 {
        out.push_str(&format!(
            "(and {left_out} steps of nested workflows that succeeded: mcflow show {})\n",
            summary.run_id
        ));
    }
    for r in &summary.reports {
        out.push('\n');
        out.push_str(r.trim_end());
        out.push('\n');
    }
    let verdict = paint_word(&summary.status.to_string(), color);
    // A resume's time is its own (not the run's since its first start); its counts are of the
    // steps it ran or reused.
    let head = format!(
        "run {} {verdict} in {}{}:",
        summary.run_id,
        human_duration(summary.duration),
        if summary.resumed {
            " (this resume)"
        } else {
            ""
        }
    );
    let counts = counts(summary);
    // The counts go under the verdict rather than wrap in the middle of a word.
    let limit = if width == 0 { DEFAULT_WIDTH } else { width };
    let sep = if console::measure_text_width(&head) + 1 + counts.len() > limit {
        "\n  "
    } else {
        " "
    };
    out.push_str(&format!(
        "\n{head}{sep}{counts}\njournal: {}\n",
        summary.journal
    ));
    match summary.status {
        RunStatus::Succeeded => {}
        _ => out.push_str("resume with: mcflow resume --last\n"),
    }
    out
}

/// `69 steps succeeded`, or `40 succeeded, 1 failed, 2 skipped, 1 not run`. A failure tolerated
/// inside a nested workflow that succeeded is counted apart from the run's failures.
fn counts(summary: &RunSummary) -> String {
    let n =
        |pred: fn(StepStatus) -> bool| summary.steps.values().filter(|s| pred(s.status)).count();
    let ok = n(StepStatus::is_success);
    if ok == summary.steps.len() {
        return match ok {
            1 => "1 step succeeded".to_string(),
            _ => format!("{ok} steps succeeded"),
        };
    }
    let tolerated = summary
        .steps
        .keys()
        .filter(|k| is_tolerated_inside(&summary.steps, k))
        .count();
    let mut parts = vec![format!("{ok} succeeded")];
    let cut = |s: &&StepState| matches!(s.status, StepStatus::NotRun | StepStatus::Running);
    let interrupted = summary
        .steps
        .values()
        .filter(cut)
        .filter(|s| s.attempts > 0)
        .count();
    let not_run = summary.steps.values().filter(cut).count() - interrupted;
    for (count, word) in [
        (n(|s| s == StepStatus::Failed) - tolerated, "failed"),
        (tolerated, "failed (continue_on_error)"),
        (n(|s| s == StepStatus::Skipped), "skipped"),
        (interrupted, "interrupted"),
        (not_run, "not run"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    parts.join(", ")
}
