//! One attempt of one step: a nested workflow run as a level of its own, or an action run by
//! the executors under the step's time limit.

use std::time::Duration;

use minijinja::Value;
use tokio::sync::OwnedSemaphorePermit;

use super::Run;
use super::executor::{ExecEnv, StepError, StepOutput};
use crate::workflow::step::{Action, StepSpec, ValidWorkflow};
use crate::workflow::template;

/// What an attempt needs, taken from the scheduler when it starts.
pub(super) struct Attempt<'a> {
    pub run: &'a Run,
    pub wf: &'a ValidWorkflow,
    pub step: &'a StepSpec,
    pub ctx: Value,
    pub key: String,
    /// The calling level runs again as a whole: a nested workflow runs all its steps again.
    pub rerun_children: bool,
    /// The calling level runs as a diff (see `scheduler::run_level_diff`).
    pub diff: Option<crate::kube::diff::ChangeLog>,
}

impl Attempt<'_> {
    /// Runs the attempt; `permit` (a `--max-parallel` slot) is held until it ends.
    pub(super) async fn run(
        self,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<StepOutput, StepError> {
        let Attempt {
            run,
            wf,
            step,
            ctx,
            key,
            rerun_children,
            diff,
        } = self;
        if let Action::Workflow(call) = &step.action {
            if call.diff || diff.is_some() {
                return super::nested_diff::run(run, wf, call, &ctx, key, diff).await;
            }
            // A nested workflow whose calling step succeeded before and runs again runs all of
            // its steps again.
            let rerun = rerun_children || run.done.contains_key(&key);
            return run_nested(run, wf, call, &ctx, key, rerun).await;
        }
        let _permit = permit;
        let env = ExecEnv {
            kubeconfig: run.opts.kubeconfig.as_deref(),
            linkerd: &run.linkerd,
            kube: &run.kube,
            dry_run: run.opts.dry_run || diff.is_some(),
            base_dir: wf.base_dir(),
            timeout: step.timeout,
            changes: diff
                .as_ref()
                .or(run.opts.changes.as_ref())
                .map(|log| log.for_step(&key)),
            diagnostics: super::save::diagnostics_dir(&run.run_dir),
            redactor: &run.redactor,
        };
        let exec = crate::kube::WAIT_WATCHER.scope(
            run.wait_watcher(&key),
            super::executor::execute(step, &ctx, &env),
        );
        let Some(limit) = step.timeout else {
            return exec.await;
        };
        // The kube wait ends itself at the timeout with the last state it saw; this is its
        // backstop (a grace period), and the timeout of everything else.
        let grace = if matches!(step.action, Action::Kube(_)) {
            Duration::from_millis(250)
        } else {
            Duration::ZERO
        };
        match tokio::time::timeout(limit + grace, exec).await {
            Ok(r) => r,
            Err(_) => Err(StepError::transient(format!(
                "timed out after {}",
                humantime::format_duration(limit)
            ))),
        }
    }
}

/// The params a `workflow:` call passes to `child`, rendered and bound.
pub(super) fn call_params(
    run: &Run,
    child: &ValidWorkflow,
    call: &crate::workflow::model::WorkflowCall,
    ctx: &Value,
) -> Result<serde_json::Value, StepError> {
    let mut given = serde_json::Map::new();
    for (name, v) in &call.with {
        let value = template::render_value(v, ctx)
            .map_err(|e| StepError::permanent(format!("with.{name}: {e}")))?;
        given.insert(name.clone(), value);
    }
    let values: crate::params::ParamValues = given.into_iter().collect();
    let origin = format!("workflow `{}`", call.path);
    let params = crate::params::bind_in(&child.params, &values, &run.config_value(), &origin)
        .map_err(|p| StepError::permanent(p.to_string().trim().to_string()))?;
    let params = serde_json::to_value(&params).unwrap_or_default();
    Ok(params)
}

/// A `workflow:` step: the child's steps run under this step's key.
async fn run_nested(
    run: &Run,
    caller: &ValidWorkflow,
    call: &crate::workflow::model::WorkflowCall,
    ctx: &Value,
    key: String,
    rerun: bool,
) -> Result<StepOutput, StepError> {
    let Some(child) = run.bundle.called(caller, &call.path) else {
        return Err(StepError::permanent(format!(
            "nested workflow `{}` was not loaded",
            call.path
        )));
    };
    let params = call_params(run, child, call, ctx)?;
    match super::scheduler::run_level(run, child, params, format!("{key}."), rerun).await {
        super::scheduler::LevelOutcome::Succeeded => Ok(StepOutput {
            summary: Some(format!("workflow {} succeeded", child.name)),
            ..Default::default()
        }),
        super::scheduler::LevelOutcome::Failed => Err(StepError::permanent(format!(
            "workflow {} failed",
            child.name
        ))),
        super::scheduler::LevelOutcome::Interrupted => Err(StepError::permanent("interrupted")),
    }
}
