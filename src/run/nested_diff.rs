//! A `workflow:` step run as a diff (`diff: true`, or any call inside a level that runs as
//! one): the child runs as `mcflow diff` runs a workflow (`diff_mode::for_diff`), its kube writes
//! are server-side dry runs that record what they would change, and the step succeeds with that
//! as its outputs: `changed` and `changes` (each object: `context`, `object`, `action`, the
//! changed field `paths`; never a value, so no secret can pass through them).

use std::sync::Arc;

use minijinja::Value;
use serde_json::json;

use super::Run;
use super::attempt::call_params;
use super::executor::{StepError, StepOutput};
use super::scheduler::{LevelOutcome, run_level_diff};
use crate::journal::StepRecord;
use crate::kube::diff::{ChangeLog, ObjectChange};
use crate::workflow::model::WorkflowCall;
use crate::workflow::step::ValidWorkflow;

/// Runs `call` as a diff. `outer`: the log of the calling level when it runs as a diff itself
/// (a call with `diff: true` keeps its own, so that its outputs are its changes only).
pub(super) async fn run(
    run: &Run,
    caller: &ValidWorkflow,
    call: &WorkflowCall,
    ctx: &Value,
    key: String,
    outer: Option<ChangeLog>,
) -> Result<StepOutput, StepError> {
    let Some(child) = run.bundle.called(caller, &call.path) else {
        return Err(StepError::permanent(format!(
            "nested workflow `{}` was not loaded",
            call.path
        )));
    };
    let params = call_params(run, child, call, ctx)?;
    let child = Arc::new(super::diff_mode::for_diff(child));
    let log = match outer {
        Some(log) if !call.diff => log,
        _ => ChangeLog::default(),
    };
    let outcome = run_level_diff(run, &child, params, format!("{key}."), log.clone()).await;
    if outcome == LevelOutcome::Interrupted {
        return Err(StepError::permanent("interrupted"));
    }
    let changes: Vec<ObjectChange> = log
        .entries()
        .into_iter()
        .map(|(_, c)| c)
        .filter(ObjectChange::changes)
        .collect();
    let listed: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| {
            json!({
                "context": c.context, "object": c.object, "action": c.action,
                "paths": c.fields.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut record = StepRecord::default();
    record
        .outputs
        .insert("changed".into(), json!(!changes.is_empty()));
    record.outputs.insert("changes".into(), json!(listed));
    Ok(StepOutput {
        record,
        summary: Some(match changes.len() {
            0 => format!("workflow {}: nothing would change", child.name),
            n => format!("workflow {}: {n} object(s) would change", child.name),
        }),
    })
}
