//! A run's `finally` steps: after the main steps, whatever their outcome (success, failure,
//! Ctrl-C or SIGTERM), with a fresh cancellation token so that an interrupted run still runs
//! them (a second signal stops them). They never hide the main steps' failure: the run's status
//! is the main steps' unless they succeeded and a finally step failed or was interrupted.

use std::sync::Arc;

use super::Run;
use super::scheduler::{LevelOutcome, MainOutcome, run_finally_level};
use crate::journal::{RunStatus, StepStatus};
use crate::workflow::step::ValidWorkflow;

/// Runs the root workflow's `finally` steps, if it has any; the status of the whole run.
pub(super) async fn run_finally(
    run: &Run,
    params: serde_json::Value,
    main: RunStatus,
) -> RunStatus {
    let root = &run.bundle.root;
    if root.finally.is_empty() || run.is_fatal() {
        return main;
    }
    let wf = Arc::new(ValidWorkflow {
        steps: root.finally.clone(),
        finally: Vec::new(),
        ..(**root).clone()
    });
    if let Ok(mut r) = run.reporter.lock() {
        r.main_steps_over();
    }
    let token = run.renew_cancel_token();
    let interrupts = crate::interrupt::listen(token);
    let outcome = MainOutcome {
        status: status_name(main),
        failed_steps: failed_steps(run),
    };
    let finally = run_finally_level(run, &wf, params, outcome).await;
    interrupts.abort();
    match (main, finally) {
        (RunStatus::Succeeded, LevelOutcome::Failed) => RunStatus::Failed,
        (RunStatus::Succeeded, LevelOutcome::Interrupted) => RunStatus::Interrupted,
        _ => main,
    }
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
    }
}

/// The keys of the steps that failed in this attempt of the run.
fn failed_steps(run: &Run) -> Vec<String> {
    run.summary
        .lock()
        .map(|s| {
            s.history()
                .steps
                .iter()
                .filter(|(_, st)| st.status == StepStatus::Failed)
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}
