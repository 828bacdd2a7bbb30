//! Reading back what a run left in its state directory: the run ids, the newest run's journal
//! (as JSON events, or through `mcflow::journal::read`, the reader `resume` uses) and every
//! state file with its bytes.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The ids of the runs in `state_dir` that have a journal, oldest first.
pub fn runs(state_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(state_dir.join("runs"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().join("journal.jsonl").is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The newest run's journal file, if a run has one yet.
pub fn newest(state_dir: &Path) -> Option<PathBuf> {
    let id = runs(state_dir).pop()?;
    Some(state_dir.join("runs").join(id).join("journal.jsonl"))
}

/// A journal's events as JSON values; a line that does not parse (a torn tail, or a line still
/// being written) is left out.
pub fn values(path: &Path) -> Vec<Value> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A finished run's journal as JSON values: every non-empty line must be a JSON event.
pub fn values_strict(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .expect("journal")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("journal line is JSON"))
        .collect()
}

/// A journal through the reader `resume` uses (a torn last line is tolerated); it must parse.
pub fn read(path: &Path) -> mcflow::journal::JournalRead {
    mcflow::journal::read(path).unwrap_or_else(|e| panic!("the journal must parse: {e}"))
}

/// The events of kind `event` (about `step`, when given) in `journal`.
pub fn events_of(journal: &[Value], event: &str, step: Option<&str>) -> Vec<Value> {
    journal
        .iter()
        .filter(|e| e["event"] == event)
        .filter(|e| step.is_none_or(|s| e["step"] == s))
        .cloned()
        .collect()
}

/// Every file under `dir`, with its bytes.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if let Ok(bytes) = fs::read(&p) {
            out.push((p, bytes));
        }
    }
}
