//! A `workflow:` step run as a diff (`diff: true`, or any call inside a level that runs as
//! one): the child runs as `mcflow diff` runs a workflow (`diff_mode::for_diff`), its kube writes
//! are server-side dry runs that record what they would change, and the step succeeds with that
//! as its outputs: `changed` and `changes` (each object: `context`, `object`, `action`, the
//! changed field `paths`; never a value, so no secret can pass through them), and `failed`,
//! the steps of the call that failed (each: `step`, `error`), as checks that would fail.
//!
//! A diff is only as good as the dry runs of its writes: when a step that a write needs fails
//! (a read of a cluster that cannot be reached, or that RBAC forbids), the write renders from
//! nothing and "nothing would change" would be a guess. The step then fails, naming the failed
//! step and the write that needed it, so that a report never shows an unknown drift as none.

use std::sync::Arc;

use minijinja::Value;
use serde_json::json;

use super::Run;
use super::attempt::call_params;
use super::executor::{StepError, StepOutput};
use super::scheduler::{LevelOutcome, run_level_diff};
use crate::journal::StepRecord;
use crate::kube::diff::{ChangeLog, FailedStep, ObjectChange};
use crate::workflow::model::WorkflowCall;
use crate::workflow::step::{Action, StepSpec, ValidWorkflow};

/// Runs `call` as a diff. `outer`: the log of the calling level when it runs as a diff itself
/// (a call with `diff: true` keeps its own, so that its outputs are its changes only, and adds
/// them to `outer` when it ends).
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
    let log = match &outer {
        Some(log) if !call.diff => log.clone(),
        _ => ChangeLog::default(),
    };
    let prefix = format!("{key}.");
    let outcome = run_level_diff(run, &child, params, prefix.clone(), log.clone()).await;
    if outcome == LevelOutcome::Interrupted {
        return Err(StepError::permanent("interrupted"));
    }
    let failed: Vec<FailedStep> = log
        .failures()
        .into_iter()
        .filter(|f| f.key.starts_with(&prefix))
        .map(|f| FailedStep {
            key: f.key[prefix.len()..].to_string(),
            ..f
        })
        .collect();
    if let Some(blocking) = failed.iter().find(|f| f.hides_drift()) {
        return Err(StepError::permanent(unknown_drift(blocking)));
    }
    // The log may be the calling level's, shared with the steps beside this one: only the
    // child's own entries are this call's.
    let entries: Vec<(String, ObjectChange)> = log
        .entries()
        .into_iter()
        .filter(|(step, _)| step.starts_with(&prefix))
        .collect();
    // A call with its own log inside a level run as a diff: what it found is the level's too.
    if let Some(outer) = outer.filter(|_| call.diff) {
        for (step, change) in &entries {
            outer.for_step(step).record(change.clone());
        }
    }
    let changes: Vec<ObjectChange> = entries
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
    let failed_checks: Vec<serde_json::Value> = failed
        .iter()
        .map(|f| json!({"step": f.key, "error": f.error}))
        .collect();
    record.outputs.insert("failed".into(), json!(failed_checks));
    let mut summary = match changes.len() {
        0 => format!("workflow {}: nothing would change", child.name),
        n => format!("workflow {}: {n} object(s) would change", child.name),
    };
    if !failed.is_empty() {
        summary.push_str(&format!("; {} step(s) failed", failed.len()));
    }
    Ok(StepOutput {
        record,
        summary: Some(summary),
    })
}

/// The error of a call whose drift is not known: the failed step, the writes that needed it,
/// and its own error (the cause, often a cluster that cannot be reached).
fn unknown_drift(blocking: &FailedStep) -> String {
    let writes = blocking
        .writes_needing
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let key = &blocking.key;
    let what = match blocking.writes_needing.len() {
        _ if blocking.is_write => format!("the write `{key}` failed"),
        1 => format!("`{key}` failed and the write {writes} needs it"),
        _ => format!("`{key}` failed and the writes {writes} need it"),
    };
    format!("drift not known: {what}: {}", blocking.error)
}

/// Step `i` of a level run as a diff failed with `error`: what that leaves unknown.
pub(super) fn failed_step(steps: &[StepSpec], i: usize, key: &str, error: &str) -> FailedStep {
    FailedStep {
        key: key.to_string(),
        error: error.to_string(),
        is_write: is_write(&steps[i]),
        writes_needing: steps
            .iter()
            .enumerate()
            .filter(|(w, step)| *w != i && is_write(step) && needs(steps, *w, i))
            .map(|(_, step)| step.id.clone())
            .collect(),
    }
}

/// Is `step` one that a diff dry-runs: a kube write, or a nested workflow (`run` and `linkerd`
/// steps run for real in a diff, as they only print)?
fn is_write(step: &StepSpec) -> bool {
    match &step.action {
        Action::Kube(_) => !step.is_read_only(),
        Action::Workflow(_) => true,
        _ => false,
    }
}

/// Does step `from` need step `target`, directly or through other steps?
fn needs(steps: &[StepSpec], from: usize, target: usize) -> bool {
    let mut seen = vec![false; steps.len()];
    let mut stack = steps[from].needs.clone();
    while let Some(s) = stack.pop() {
        if s == target {
            return true;
        }
        if !std::mem::replace(&mut seen[s], true) {
            stack.extend(steps[s].needs.iter().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn steps(yaml: &str) -> Vec<StepSpec> {
        let wf = crate::workflow::load_str(Path::new("w.yaml"), yaml).expect("loads");
        ValidWorkflow::from_loaded(&wf).expect("typed").steps
    }

    /// link-spoke's shape: reads, a linkerd step that only prints, one kube write, checks after.
    const LINK: &str = r#"
name: link
steps:
  - id: read
    kube: { context: hub, get: { kind: ServiceAccount, namespace: ns, name: sa } }
  - id: manifest
    needs: [read]
    linkerd: { args: [multicluster, link-gen] }
  - id: apply
    needs: [manifest]
    kube: { context: spoke, apply: { manifest: "{{ steps.manifest.stdout }}" } }
  - id: probe
    needs: [apply]
    kube: { context: spoke, get: { kind: Service, namespace: ns, name: probe } }
  - id: other
    needs: []
    kube: { context: spoke, get: { kind: Service, namespace: ns, name: other } }
"#;

    #[test]
    fn a_failed_step_that_a_write_needs_hides_its_drift() {
        let steps = steps(LINK);
        let failed = |i: usize| failed_step(&steps, i, &steps[i].id, "boom");
        // Needed by the write, through the linkerd step (which a diff runs for real).
        let read = failed(0);
        assert_eq!(
            (read.is_write, read.writes_needing.clone()),
            (false, vec!["apply".to_string()])
        );
        assert!(read.hides_drift());
        assert_eq!(
            unknown_drift(&read),
            "drift not known: `read` failed and the write `apply` needs it: boom"
        );
        // The write itself.
        let apply = failed(2);
        assert!(apply.is_write && apply.writes_needing.is_empty() && apply.hides_drift());
        assert_eq!(
            unknown_drift(&apply),
            "drift not known: the write `apply` failed: boom"
        );
        // A check after the write, and one beside it: the drift is known.
        assert!(!failed(3).hides_drift());
        assert!(!failed(4).hides_drift());
    }
}
