//! Text helpers shared by everything that prints: durations, first lines, output tails.

use std::time::Duration;

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

/// The first line of `s` (all of it when it has no newline).
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The last `n` non-empty lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Writes `text` to standard output. A reader that went away (`mcflow run … | head`) is not an
/// error of mcflow's: the rest of the output is dropped quietly and the command ends as it would
/// have, with its own exit code, instead of panicking as `print!` does.
pub fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
