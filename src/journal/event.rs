//! The events of a run, as the journal stores them and `--output json` prints them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A journal event with its time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Event {
    /// RFC 3339 UTC time with microseconds.
    pub ts: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. The JSON form (`"event": "step_started"`, ...) is also what `--output json`
/// prints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        run_id: String,
        workflow: String,
        workflow_name: String,
        /// sha256 of every workflow file, by path.
        files: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<FileRef>,
        /// Param values; sensitive ones are masked.
        params: BTreeMap<String, serde_json::Value>,
        /// Sensitive params are not written, so a run that has some cannot be resumed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        masked_params: Vec<String>,
        /// The params that pick the run's target (its run key); empty: every param.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        target_params: Vec<String>,
        version: String,
        #[serde(default)]
        pid: u32,
        /// A `--dry-run` run: a resume must be one too (and a real run's resume must not be).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dry_run: bool,
    },
    RunResumed {
        run_id: String,
        pid: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed: Vec<String>,
    },
    StepStarted {
        step: String,
        attempt: u32,
        max_attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    AttemptFailed {
        step: String,
        attempt: u32,
        error: String,
        retry_in_ms: u64,
    },
    StepSucceeded {
        step: String,
        attempt: u32,
        duration_ms: u64,
        /// What later steps read; absent for a sensitive step.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<StepRecord>,
        #[serde(default)]
        sensitive: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    StepFailed {
        step: String,
        attempt: u32,
        error: String,
        duration_ms: u64,
        #[serde(default)]
        continue_on_error: bool,
    },
    StepSkipped {
        step: String,
        reason: String,
        /// Skipped by its own `when:` (the workflow chose not to run it), not because a step it
        /// needs failed: not a problem, so the end-of-run table leaves it out.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_when: bool,
        /// The step (of the same workflow) whose failure kept this one from running.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocked_by: Option<String>,
    },
    /// A resumed run found this step done in an earlier attempt of the run.
    StepReused { step: String },
    RunFinished {
        status: RunStatus,
        duration_ms: u64,
        succeeded: u32,
        failed: u32,
        skipped: u32,
    },
}

impl EventKind {
    /// An end: a step's outcome or the run's. It is fsync'd before anything that depends on it
    /// acts and before it is reported. Every other event (a start, a failed attempt that will
    /// be retried, a reuse) records something that a resume does again anyway when the event is
    /// lost, so it is written before its step acts and reaches the disk with the next end.
    pub fn is_end(&self) -> bool {
        matches!(
            self,
            EventKind::StepSucceeded { .. }
                | EventKind::StepFailed { .. }
                | EventKind::StepSkipped { .. }
                | EventKind::RunFinished { .. }
        )
    }

    /// The step an event is about.
    pub fn step(&self) -> Option<&str> {
        match self {
            EventKind::StepStarted { step, .. }
            | EventKind::AttemptFailed { step, .. }
            | EventKind::StepSucceeded { step, .. }
            | EventKind::StepFailed { step, .. }
            | EventKind::StepSkipped { step, .. }
            | EventKind::StepReused { step } => Some(step),
            _ => None,
        }
    }
}

/// A file a run used, with its hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct FileRef {
    pub path: String,
    pub sha256: String,
}

/// What a succeeded step left for later steps.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StepRecord {
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub outputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<serde_json::Value>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Interrupted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        })
    }
}

/// The JSON Schema of a journal event, which is also what `--output json` prints for each event
/// (`mcflow schema --events`).
pub fn events_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Event)).unwrap_or_default();
    if let Some(o) = schema.as_object_mut() {
        o.insert("title".into(), "mcflow event".into());
    }
    schema
}

/// The current time as the journal writes it.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.format(&fmt)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
