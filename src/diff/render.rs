//! A diff as text (a unified diff per object, coloured for a terminal) or as JSON lines (one
//! object per step).

use serde_json::{Value, json};

use super::DiffReport;
use crate::kube::diff::{FieldChange, ObjectAction, ObjectChange};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The text of a diff: each object a write would change as a unified diff of its fields, notes,
/// failed checks, and a last line that says whether anything would change.
pub fn render_text(report: &DiffReport, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    let mut out = String::new();
    let mut changed = 0;
    for (step, objects) in &report.steps {
        for o in objects {
            if o.changes() {
                changed += 1;
                out.push_str(&object_diff(step, o, &paint));
            }
            for note in &o.notes {
                out.push_str(&paint(
                    YELLOW,
                    &format!("note: {} {} ({step}): {note}", o.context, o.object),
                ));
                out.push('\n');
            }
        }
    }
    for (step, error) in &report.failed {
        let first = error.lines().next().unwrap_or_default();
        out.push_str(&paint(RED, &format!("✗ {step}: {first}")));
        out.push('\n');
    }
    let verdict = match (changed, report.failed.len()) {
        (0, 0) => "no changes: the clusters are as this workflow leaves them".to_string(),
        (n, 0) => format!("{n} object(s) would change"),
        (0, f) => format!("no writes would change anything; {f} check(s) fail"),
        (n, f) => format!("{n} object(s) would change; {f} check(s) fail"),
    };
    out.push_str(&paint(BOLD, &verdict));
    out.push('\n');
    out
}

fn object_diff(step: &str, o: &ObjectChange, paint: &dyn Fn(&str, &str) -> String) -> String {
    let name = format!("{} {}", o.context, o.object);
    let (from, to) = match o.action {
        ObjectAction::Create => (
            "/dev/null".to_string(),
            format!("{name} (created by {step})"),
        ),
        ObjectAction::Delete => (
            format!("{name} (live)"),
            format!("/dev/null (deleted by {step})"),
        ),
        _ => (format!("{name} (live)"), format!("{name} (after {step})")),
    };
    let mut out = paint(BOLD, &format!("--- {from}\n+++ {to}"));
    out.push('\n');
    for f in &o.fields {
        out.push_str(&field_diff(f, paint));
    }
    out
}

fn field_diff(f: &FieldChange, paint: &dyn Fn(&str, &str) -> String) -> String {
    let mut out = paint(CYAN, &format!("@@ {} @@", f.path));
    out.push('\n');
    for (sign, code, value) in [("-", RED, &f.before), ("+", GREEN, &f.after)] {
        let Some(v) = value else { continue };
        for line in value_lines(v) {
            out.push_str(&paint(code, &format!("{sign}{line}")));
            out.push('\n');
        }
    }
    out
}

/// A value as the lines of the diff: a string as it is, anything else as (pretty) JSON.
fn value_lines(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.lines().map(str::to_string).collect(),
        Value::Array(_) | Value::Object(_) => serde_json::to_string_pretty(v)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect(),
        other => vec![other.to_string()],
    }
}

/// One JSON object per line: per kube write step `{step, changed, objects}`, per failed step
/// `{step, failed: true, error}`.
pub fn render_json(report: &DiffReport) -> String {
    let mut out = String::new();
    for (step, objects) in &report.steps {
        let line = json!({
            "step": step,
            "changed": objects.iter().any(ObjectChange::changes),
            "objects": objects,
        });
        out.push_str(&format!("{line}\n"));
    }
    for (step, error) in &report.failed {
        let line = json!({ "step": step, "failed": true, "error": error });
        out.push_str(&format!("{line}\n"));
    }
    out
}
