//! The one table of steps: the end-of-run summary and `mcflow show` both print it.

use indexmap::IndexMap;

use super::text::{first_line, fit, human_duration};
use crate::journal::replay::instance_of;
use crate::journal::{StepState, StepStatus, is_tolerated_inside};

/// The table's width when the terminal's is not known (a pipe, a file): the widest that does not
/// wrap in a classic terminal.
pub const DEFAULT_WIDTH: usize = 80;

/// What the table shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    pub color: bool,
    /// Fold the succeeded steps of nested workflows (`parent.child`) into one line at the end.
    pub fold_nested: bool,
    /// Every failed attempt's error under its step, not only the cause of its status.
    pub all_errors: bool,
    /// Only the steps that did not succeed (failed, skipped because of a failure, cut short).
    pub problems_only: bool,
    /// Each step's `name:` on a line under its row.
    pub names: bool,
    /// Columns to fit in; 0 for [`DEFAULT_WIDTH`].
    pub width: usize,
}

/// Width of the STATUS, ATTEMPTS and DURATION columns with their separators.
const FIXED: usize = 2 + 11 + 2 + 8 + 2 + 8;

/// The STEP / STATUS / ATTEMPTS / DURATION table, a `↳` line under a step for why it failed or
/// was skipped. Returns the text and how many rows were left out (folded nested steps, or the
/// steps that succeeded with `problems_only`).
pub fn steps_table(steps: &IndexMap<String, StepState>, opts: TableOptions) -> (String, usize) {
    // A step its own `when:` skipped did what the workflow asked, and a failure tolerated inside
    // a nested workflow that succeeded is that workflow's business: not problems either.
    let leaves_out = |key: &str, s: &StepState| {
        (opts.problems_only
            && (s.status.is_success() || s.skipped_by_when || is_tolerated_inside(steps, key)))
            || (opts.fold_nested && key.contains('.') && s.status.is_success())
    };
    // With only the problems shown, the steps a failure kept from running are named under it
    // instead of a row each.
    let followers = if opts.problems_only {
        blocked_followers(steps)
    } else {
        IndexMap::new()
    };
    let folded = |key: &str| followers.values().flatten().any(|k| k == key);
    let total = if opts.width == 0 {
        DEFAULT_WIDTH
    } else {
        opts.width
    };
    let width = steps
        .iter()
        .filter(|(k, s)| !leaves_out(k, s) && !folded(k))
        .map(|(k, _)| console::measure_text_width(k))
        .max()
        .unwrap_or(4)
        .clamp(4, total.saturating_sub(FIXED).max(12));
    let mut out = format!(
        "{:<width$}  {:<11}  {:>8}  {:>8}\n",
        "STEP", "STATUS", "ATTEMPTS", "DURATION"
    );
    let mut left_out = 0;
    for (key, s) in steps {
        if leaves_out(key, s) {
            left_out += 1;
            continue;
        }
        if folded(key) {
            continue;
        }
        out.push_str(&row(key, s, width, opts));
        let mut notes = row_notes(s, opts, total);
        if let Some(after) = followers.get(key) {
            let text = format!("  ↳ so these did not run: {}", after.join(", "));
            notes.extend(wrap(&text, total, "    "));
        }
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    (out, left_out)
}

/// The lines under a row: the step's `name:` (with `names`), then why it failed or was skipped
/// (every distinct error with `all_errors`).
fn row_notes(s: &StepState, opts: TableOptions, total: usize) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    if opts.names
        && let Some(name) = s.name.as_deref()
    {
        notes.push(format!("  {}", fit(name, total.saturating_sub(2))));
    }
    let causes: Vec<String> = if opts.all_errors {
        let skipped = s
            .skip_reason
            .as_deref()
            .filter(|_| s.status == StepStatus::Skipped);
        let mut all = same_errors_once(&s.errors);
        all.extend(skipped.map(str::to_string));
        all
    } else {
        s.cause().into_iter().map(str::to_string).collect()
    };
    for n in causes {
        notes.extend(wrap(&format!("  ↳ {}", first_line(&n)), total, "    "));
    }
    notes
}

/// For each failed step, the skipped steps it kept from running, directly or through other
/// skipped steps (`apply` needs `fetch`, which failed; `check` needs `apply`): the root of each
/// `blocked_by` chain that ends at a failed step in the table.
fn blocked_followers(steps: &IndexMap<String, StepState>) -> IndexMap<String, Vec<String>> {
    let mut followers: IndexMap<String, Vec<String>> = IndexMap::new();
    for (key, s) in steps {
        if s.status != StepStatus::Skipped {
            continue;
        }
        let mut root = s.blocked_by.as_deref();
        // At most one hop per step: a chain never loops, but a journal is input.
        for _ in 0..steps.len() {
            match root.and_then(|r| steps.get(r)) {
                Some(r) if r.status == StepStatus::Skipped => root = r.blocked_by.as_deref(),
                _ => break,
            }
        }
        if let Some(row) = root.and_then(|r| failed_row_of(steps, r)) {
            followers.entry(row).or_default().push(key.clone());
        }
    }
    followers
}

/// The table's row for the failed step `key`: itself, or for a `for_each` step (whose
/// instances are the rows) its first failed instance, `key[item]`.
fn failed_row_of(steps: &IndexMap<String, StepState>, key: &str) -> Option<String> {
    let failed = |k: &str| {
        steps
            .get(k)
            .is_some_and(|f| f.status == StepStatus::Failed && !is_tolerated_inside(steps, k))
    };
    if failed(key) {
        return Some(key.to_string());
    }
    steps
        .keys()
        .find(|k| instance_of(k) == Some(key) && failed(k))
        .cloned()
}

fn row(key: &str, s: &StepState, width: usize, opts: TableOptions) -> String {
    let key = fit(key, width);
    let pad = width.saturating_sub(console::measure_text_width(&key));
    // A step cut short by Ctrl-C (started in this attempt, never ended) was interrupted.
    let word = match s.status {
        StepStatus::NotRun if s.attempts > 0 => "interrupted",
        other => other.as_str(),
    };
    let word_pad = 11usize.saturating_sub(word.chars().count());
    let duration = s
        .duration_ms
        .map(|ms| human_duration(std::time::Duration::from_millis(ms)))
        .unwrap_or_else(|| "-".into());
    format!(
        "{key}{}  {}{}  {:>8}  {duration:>8}\n",
        " ".repeat(pad),
        paint_word(word, opts.color),
        " ".repeat(word_pad),
        s.attempts,
    )
}

/// The errors of a step's attempts, oldest first, an error that repeats in the next attempts
/// said once with how many attempts ended so (`3 attempts: linkerd exited with 1: …`).
fn same_errors_once(errors: &[String]) -> Vec<String> {
    let mut out: Vec<(usize, &str)> = Vec::new();
    for e in errors {
        let line = first_line(e);
        match out.last_mut() {
            Some((n, last)) if *last == line => *n += 1,
            _ => out.push((1, line)),
        }
    }
    out.into_iter()
        .map(|(n, e)| match n {
            1 => e.to_string(),
            n => format!("{n} attempts: {e}"),
        })
        .collect()
}

/// `text` broken into lines of at most `width` columns at spaces (a word longer than a line is
/// cut), the lines after the first indented by `indent`: a cause is read whole, not cut off.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let body = text.trim_start_matches(' ');
    let mut lines = Vec::new();
    let mut line = text[..text.len() - body.len()].to_string();
    let mut fresh = true;
    for word in body.split(' ') {
        let now = console::measure_text_width(&line);
        let add = console::measure_text_width(word);
        if !fresh && now + 1 + add > width {
            lines.push(std::mem::replace(&mut line, indent.to_string()));
        } else if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    lines.push(line);
    lines.into_iter().map(|l| fit(&l, width)).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_error_is_said_once() {
        let errors = ["a".to_string(), "b".into(), "b\nmore".into(), "b".into()];
        assert_eq!(same_errors_once(&errors), ["a", "3 attempts: b"]);
    }

    #[test]
    fn wrap_keeps_lines_within_the_width() {
        let lines = wrap(
            "  ↳ linkerd exited with 1: Error: services \"linkerd-gateway\" not found",
            30,
            "    ",
        );
        assert!(lines.len() > 1, "{lines:?}");
        assert!(
            lines.iter().all(|l| console::measure_text_width(l) <= 30),
            "{lines:?}"
        );
        assert!(lines[0].starts_with("  ↳ linkerd"), "{lines:?}");
        assert!(lines[1].starts_with("    "), "{lines:?}");
    }
}
