//! Reading past runs back from their journals, for `mcflow runs` and `mcflow show`.

use indexmap::IndexMap;

use crate::journal::{self, EventKind, StateDir, StateError};
use crate::report::human_duration;

/// One step of a past run.
#[derive(Debug, Clone, Default)]
pub struct StepInfo {
    pub status: String,
    pub attempts: u32,
    pub duration_ms: Option<u64>,
    pub errors: Vec<String>,
}

/// A past run, as its journal tells it.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub run_id: String,
    pub workflow: String,
    pub file: String,
    pub started: String,
    pub status: String,
    pub succeeded: usize,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub steps: IndexMap<String, StepInfo>,
    pub torn_tail: bool,
}

impl RunInfo {
    pub fn read(state: &StateDir, run_id: &str) -> Result<RunInfo, StateError> {
        let read = journal::read(&state.journal_path(run_id))?;
        let mut info = RunInfo {
            run_id: run_id.to_string(),
            status: "running or crashed".into(),
            torn_tail: read.torn_tail,
            ..Default::default()
        };
        for e in &read.events {
            match &e.kind {
                EventKind::RunStarted {
                    workflow,
                    workflow_name,
                    params,
                    ..
                } => {
                    info.workflow = workflow_name.clone();
                    info.file = workflow.clone();
                    info.started = e.ts.clone();
                    info.params = params.clone().into_iter().collect();
                }
                EventKind::RunResumed { .. } => info.status = "running or crashed".into(),
                EventKind::RunFinished { status, .. } => info.status = status.to_string(),
                kind => {
                    let Some(step) = kind.step() else { continue };
                    let s = info.steps.entry(step.to_string()).or_default();
                    match kind {
                        EventKind::StepStarted { attempt, .. } => {
                            s.attempts = *attempt;
                            s.status = "running".into();
                        }
                        EventKind::AttemptFailed { error, .. } => s.errors.push(error.clone()),
                        EventKind::StepSucceeded { duration_ms, .. } => {
                            s.status = "succeeded".into();
                            s.duration_ms = Some(*duration_ms);
                        }
                        EventKind::StepFailed {
                            duration_ms, error, ..
                        } => {
                            s.status = "failed".into();
                            s.duration_ms = Some(*duration_ms);
                            s.errors.push(error.clone());
                        }
                        EventKind::StepSkipped { reason, .. } => {
                            s.status = format!("skipped ({reason})");
                        }
                        EventKind::StepReused { .. } => s.status = "succeeded".into(),
                        _ => {}
                    }
                }
            }
        }
        info.succeeded = info
            .steps
            .values()
            .filter(|s| s.status == "succeeded")
            .count();
        Ok(info)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|(k, s)| {
                serde_json::json!({
                    "step": k, "status": s.status, "attempts": s.attempts,
                    "duration_ms": s.duration_ms, "errors": s.errors,
                })
            })
            .collect();
        serde_json::json!({
            "run_id": self.run_id, "workflow": self.workflow, "file": self.file,
            "started": self.started, "status": self.status, "params": self.params,
            "steps": steps,
        })
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "run {}  workflow {} ({})\nstarted {}  status {}\n",
            self.run_id, self.workflow, self.file, self.started, self.status
        );
        if self.torn_tail {
            out.push_str("warning: the journal's last line was cut short (a crash mid-write)\n");
        }
        let width = self.steps.keys().map(|k| k.len()).max().unwrap_or(4).max(4);
        out.push_str(&format!(
            "\n{:<width$}  {:<12}  {:>8}  {:>8}\n",
            "STEP", "STATUS", "ATTEMPTS", "DURATION"
        ));
        for (k, s) in &self.steps {
            let d = s
                .duration_ms
                .map(|ms| human_duration(std::time::Duration::from_millis(ms)))
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{k:<width$}  {:<12}  {:>8}  {d:>8}\n",
                s.status, s.attempts
            ));
            for e in &s.errors {
                out.push_str(&format!(
                    "{:<width$}    ↳ {}\n",
                    "",
                    e.lines().next().unwrap_or("")
                ));
            }
        }
        out
    }
}
