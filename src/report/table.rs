//! The one table of steps: the end-of-run summary and `mcflow show` both print it.

use indexmap::IndexMap;

use super::text::{first_line, human_duration};
use crate::journal::{StepState, StepStatus};

/// What the table shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    pub color: bool,
    /// Fold the succeeded steps of nested workflows (`parent.child`) into one line at the end.
    pub fold_nested: bool,
    /// Every failed attempt's error under its step, not only the cause of its status.
    pub all_errors: bool,
}

/// The STEP / STATUS / ATTEMPTS / DURATION table, a `↳` line under a step for why it failed or
/// was skipped. Returns the text and how many rows were folded.
pub fn steps_table(steps: &IndexMap<String, StepState>, opts: TableOptions) -> (String, usize) {
    let folds =
        |key: &str, s: &StepState| opts.fold_nested && key.contains('.') && s.status.is_success();
    let width = steps
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<width$}  {:<11}  {:>8}  {:>8}\n",
        "STEP", "STATUS", "ATTEMPTS", "DURATION"
    );
    let mut folded = 0;
    for (key, s) in steps {
        if folds(key, s) {
            folded += 1;
            continue;
        }
        let word = s.status.as_str();
        let pad = 11usize.saturating_sub(word.chars().count());
        let duration = s
            .duration_ms
            .map(|ms| human_duration(std::time::Duration::from_millis(ms)))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{key:<width$}  {}{}  {:>8}  {duration:>8}\n",
            paint(s.status, opts.color),
            " ".repeat(pad),
            s.attempts,
        ));
        let notes: Vec<&str> = if opts.all_errors {
            s.errors
                .iter()
                .map(String::as_str)
                .chain(
                    s.skip_reason
                        .as_deref()
                        .filter(|_| s.status == StepStatus::Skipped),
                )
                .collect()
        } else {
            s.cause().into_iter().collect()
        };
        for n in notes {
            out.push_str(&format!("{:<width$}    ↳ {}\n", "", first_line(n)));
        }
    }
    (out, folded)
}

/// A status word in its colour (green success, red failure, yellow the rest).
pub fn paint(status: StepStatus, color: bool) -> String {
    paint_word(status.as_str(), color)
}

/// `word` in the colour of the status it names.
pub fn paint_word(word: &str, color: bool) -> String {
    if !color {
        return word.to_string();
    }
    let code = match word {
        "succeeded" | "reused" => "32",
        "failed" => "31",
        "skipped" | "interrupted" | "not run" => "33",
        _ => "0",
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}
