//! Reporters: the only code that prints during a run. They listen to the same events the journal
//! records (after the journal has them), plus a periodic tick for live displays.

mod json;
mod plain;
mod progress;

use std::io::IsTerminal;
use std::time::Duration;

use crate::cli::OutputMode;
use crate::journal::{Event, RunStatus};

pub use json::JsonReporter;
pub use plain::PlainReporter;
pub use progress::ProgressReporter;

/// How a run ended, for the summary.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
    pub duration: Duration,
    pub journal: String,
    pub steps: Vec<StepSummary>,
    /// What `print` steps showed (verify's table), repeated at the end.
    pub reports: Vec<String>,
}

/// One line of the summary table.
#[derive(Debug, Clone)]
pub struct StepSummary {
    pub key: String,
    pub status: &'static str,
    pub attempts: u32,
    pub duration: Option<Duration>,
    pub error: Option<String>,
}

/// A listener of run events that prints.
pub trait Reporter: Send {
    /// Called with each event after the journal has it on disk.
    fn event(&mut self, event: &Event);
    /// Called a few times a second while steps run (live displays redraw).
    fn tick(&mut self) {}
    /// A line of text that is not an event (a warning before the run).
    fn note(&mut self, text: &str);
    /// The run is over.
    fn finish(&mut self, summary: &RunSummary);
    /// Does this reporter want ticks?
    fn wants_ticks(&self) -> bool {
        false
    }
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
        OutputMode::Json => Box::new(JsonReporter::new()),
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

/// `1.2s`, `350ms`, `2m 5s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{}m {}s", s / 60, s % 60)
    }
}

/// The summary table shared by the text reporters.
pub fn summary_table(summary: &RunSummary, color: bool) -> String {
    let width = summary
        .steps
        .iter()
        .map(|s| s.key.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    out.push_str(&format!(
        "\n{:<width$}  {:<11}  {:>8}  {:>8}\n",
        "STEP", "STATUS", "ATTEMPTS", "DURATION"
    ));
    // Steps of nested workflows that went well are folded into their parent's row.
    let folded = summary
        .steps
        .iter()
        .filter(|s| s.key.contains('.') && matches!(s.status, "succeeded" | "reused"))
        .count();
    for s in &summary.steps {
        if s.key.contains('.') && matches!(s.status, "succeeded" | "reused") {
            continue;
        }
        let status = paint(s.status, color);
        let pad = 11usize.saturating_sub(s.status.chars().count());
        out.push_str(&format!(
            "{:<width$}  {status}{}  {:>8}  {:>8}\n",
            s.key,
            " ".repeat(pad),
            s.attempts,
            s.duration.map(human_duration).unwrap_or_else(|| "-".into()),
        ));
        if let Some(e) = &s.error {
            out.push_str(&format!("{:<width$}    ↳ {}\n", "", first_line(e)));
        }
    }
    if folded > 0 {
        out.push_str(&format!(
            "(and {folded} steps of nested workflows that succeeded: mcflow show {})\n",
            summary.run_id
        ));
    }
    for r in &summary.reports {
        out.push('\n');
        out.push_str(r.trim_end());
        out.push('\n');
    }
    let verdict = match summary.status {
        RunStatus::Succeeded => paint("succeeded", color),
        RunStatus::Failed => paint("failed", color),
        RunStatus::Interrupted => paint("interrupted", color),
    };
    out.push_str(&format!(
        "\nrun {} {verdict} in {}\njournal: {}\n",
        summary.run_id,
        human_duration(summary.duration),
        summary.journal
    ));
    match summary.status {
        RunStatus::Succeeded => {}
        _ => out.push_str("resume with: mcflow resume --last\n"),
    }
    out
}

fn paint(status: &str, color: bool) -> String {
    if !color {
        return status.to_string();
    }
    let code = match status {
        "succeeded" | "reused" => "32",
        "failed" => "31",
        "skipped" | "interrupted" | "not run" => "33",
        _ => "0",
    };
    format!("\x1b[{code}m{status}\x1b[0m")
}

pub(crate) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
