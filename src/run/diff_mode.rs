//! Steps as `mcflow diff` (and a `workflow:` call with `diff: true`) runs them: every step
//! `continue_on_error` (a failed check is reported, what follows still runs), one attempt, a
//! `wait` bounded by [`WAIT_LIMIT`] (a diff does not wait for the world to change), no
//! `finally` steps.

use std::time::Duration;

use crate::workflow::step::{Action, ValidWorkflow};

/// How long a `wait` looks before a diff reports its condition as not holding.
pub const WAIT_LIMIT: Duration = Duration::from_secs(3);

/// `wf` as a diff runs it.
pub fn for_diff(wf: &ValidWorkflow) -> ValidWorkflow {
    let mut wf = wf.clone();
    wf.finally.clear();
    for step in &mut wf.steps {
        step.continue_on_error = true;
        step.retry.attempts = 1;
        if let Action::Kube(raw) = &step.action
            && raw.get("wait").is_some()
        {
            step.timeout = Some(step.timeout.map_or(WAIT_LIMIT, |t| t.min(WAIT_LIMIT)));
        }
    }
    wf
}
