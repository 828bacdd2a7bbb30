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

/// Whole seconds for live displays: `0s`, `42s`, `3m 05s`, `1h 02m`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `text` cut to `width` terminal columns (wide characters count twice), ending in `…` when
/// it was cut. Escape sequences are kept and not counted.
pub fn fit(text: &str, width: usize) -> String {
    console::truncate_str(text, width, "…").into_owned()
}

/// How a step is named to a person: its `name:` when it has one (with the item of a
/// `for_each` instance and the path of a nested workflow's step kept from its key), else its key.
///
/// `control_plane[internal/x]` named "Control plane available" → `Control plane available
/// [internal/x]`; `link[prod].apply` named "Apply the Link" → `link[prod] › Apply the Link`.
pub fn step_label(key: &str, name: Option<&str>) -> String {
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        return key.to_string();
    };
    let (parent, own) = split_last_segment(key);
    let item = own.find('[').map(|i| &own[i..]).unwrap_or("");
    let mut out = String::new();
    if let Some(parent) = parent {
        out.push_str(parent);
        out.push_str(" › ");
    }
    out.push_str(name.trim());
    if !item.is_empty() {
        out.push(' ');
        out.push_str(item);
    }
    out
}

/// `a[x.y].b[z]` → (`Some("a[x.y]")`, `"b[z]"`): the last `.` outside brackets splits.
fn split_last_segment(key: &str) -> (Option<&str>, &str) {
    let mut depth = 0i32;
    let mut split = None;
    for (i, c) in key.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => split = Some(i),
            _ => {}
        }
    }
    match split {
        Some(i) => (Some(&key[..i]), &key[i + 1..]),
        None => (None, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_items_and_parents() {
        assert_eq!(step_label("a", None), "a");
        assert_eq!(step_label("a", Some("Do A")), "Do A");
        assert_eq!(
            step_label("cp[internal/x.y]", Some("Control plane")),
            "Control plane [internal/x.y]"
        );
        assert_eq!(
            step_label("link[p.q].apply", Some("Apply the Link")),
            "link[p.q] › Apply the Link"
        );
    }

    #[test]
    fn fit_cuts_by_display_width() {
        assert_eq!(fit("abcdef", 10), "abcdef");
        assert_eq!(fit("abcdef", 4), "abc…");
        // Two columns per character.
        assert_eq!(console::measure_text_width(&fit("日本語の文字", 7)), 7);
        assert_eq!(clock(Duration::from_secs(65)), "1m 05s");
    }
}
