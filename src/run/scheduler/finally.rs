//! The level of a run's `finally` steps: like any level, but its steps also read `run.status`
//! and `run.failed_steps`, and nothing done in an earlier attempt is reused (they run once per
//! attempt of the run).

use futures::FutureExt;
use futures::future::LocalBoxFuture as BoxFuture;

use super::{Level, LevelOutcome};
use crate::run::Run;
use crate::workflow::step::ValidWorkflow;
use crate::workflow::template;

/// How the main steps ended, as the `finally` steps read it under `run`.
pub struct MainOutcome {
    /// `succeeded`, `failed` or `interrupted`.
    pub status: &'static str,
    /// The keys of the steps that failed in this attempt, in the order they appear.
    pub failed_steps: Vec<String>,
}

/// Runs `wf`'s steps (a workflow's `finally` steps put in its place) with `run.status` and
/// `run.failed_steps` set from `main`.
pub fn run_finally_level<'a>(
    run: &'a Run,
    wf: &'a ValidWorkflow,
    params: serde_json::Value,
    main: MainOutcome,
) -> BoxFuture<'a, LevelOutcome> {
    async move {
        let mut level = Level::new(run, wf, params, String::new());
        level.rerun = true;
        level.run_value = template::value_of(&serde_json::json!({
            "id": run.run_id,
            "started_at": run.started_at,
            "workflow": wf.name,
            "dir": wf.base_dir(),
            "status": main.status,
            "failed_steps": main.failed_steps,
        }));
        level.run().await
    }
    .boxed_local()
}
