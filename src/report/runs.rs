//! Past runs as `mcflow runs` and `mcflow show` print them.

use super::table::{TableOptions, steps_table};
use crate::journal::{RunHistory, StepStatus};

/// `mcflow runs`: one line per run, newest first.
pub fn runs_table(runs: &[RunHistory]) -> String {
    let mut out = format!(
        "{:<22}  {:<20}  {:<12}  {:>6}  STARTED\n",
        "RUN", "WORKFLOW", "STATUS", "STEPS"
    );
    for r in runs {
        out.push_str(&format!(
            "{:<22}  {:<20}  {:<12}  {:>6}  {}\n",
            r.run_id,
            r.workflow,
            r.status_text(),
            format!("{}/{}", r.succeeded(), r.steps.len()),
            r.started.get(..19).unwrap_or(&r.started)
        ));
    }
    out
}

/// `mcflow show`: the run, then every step with its `name:` and every error of its latest
/// attempt.
pub fn render_run(run: &RunHistory, torn_tail: bool) -> String {
    let mut out = format!(
        "run {}  workflow {} ({})\nstarted {}  status {}\n",
        run.run_id,
        run.workflow,
        run.file,
        run.started,
        run.status_text()
    );
    if torn_tail {
        out.push_str("warning: the journal's last line was cut short (a crash mid-write)\n");
    }
    let opts = TableOptions {
        all_errors: true,
        names: true,
        ..TableOptions::default()
    };
    // In a run that ended, a step still "running" was cut short (Ctrl-C): the table says
    // interrupted. Without an end (a crash) it stays as the journal has it.
    let mut steps = run.steps.clone();
    if run.status.is_some() {
        for s in steps
            .values_mut()
            .filter(|s| s.status == StepStatus::Running)
        {
            s.status = StepStatus::NotRun;
        }
    }
    out.push('\n');
    out.push_str(&steps_table(&steps, opts).0);
    out
}

/// A run as JSON (`runs -o json`, `show -o json`).
pub fn run_json(run: &RunHistory) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = run
        .steps
        .iter()
        .map(|(k, s)| {
            serde_json::json!({
                "step": k, "status": s.status, "attempts": s.attempts,
                "duration_ms": s.duration_ms, "errors": s.errors,
                "skip_reason": s.skip_reason,
            })
        })
        .collect();
    serde_json::json!({
        "run_id": run.run_id, "workflow": run.workflow, "file": run.file,
        "started": run.started, "status": run.status_text(), "params": run.params,
        "steps": steps,
    })
}
