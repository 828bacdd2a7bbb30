//! Every event the tests produce is checked against the published event schema (`mcflow schema
//! --events`, `mcflow::journal::events_schema`): every journal a [`super::Workspace`] leaves
//! (when it is dropped) and every `--output json` event line an [`super::Outcome`] holds.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        jsonschema::validator_for(&mcflow::journal::events_schema())
            .expect("the event schema is a valid JSON Schema")
    })
}

/// The schema's verdict on one event: `Err` says what does not fit.
pub fn check_event(event: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator()
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{event}: {}", errors.join("; ")))
    }
}

/// Checks every complete line of every `journal.jsonl` under `state_dir`; the count checked.
pub fn check_journals(state_dir: &Path) -> usize {
    let mut checked = 0;
    for run in super::journal::runs(state_dir) {
        let path = state_dir.join("runs").join(&run).join("journal.jsonl");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        // A torn last line (a test that kills mcflow) is not an event.
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Err(e) = check_event(&v) {
                panic!("{}: event outside the schema: {e}", path.display());
            }
            checked += 1;
        }
    }
    checked
}

/// Checks the event lines of `--output json` on stdout (not the final `summary`).
pub fn check_stdout(stdout: &str) {
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let is_event = v
            .get("event")
            .and_then(Value::as_str)
            .is_some_and(|e| e != "summary");
        if is_event && let Err(e) = check_event(&v) {
            panic!("--output json printed an event outside the schema: {e}");
        }
    }
}
