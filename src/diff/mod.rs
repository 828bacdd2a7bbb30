//! `mcflow diff`: what a workflow would change, without changing anything.
//!
//! The workflow runs as a dry run made for looking: read-only steps (`get`, `wait`, `linkerd`
//! calls such as `link-gen` and `check`, which only print) run for real; every kube write is a
//! server-side dry run (`dryRun=All`) that records, per object, the fields mcflow's field manager
//! would change (`kube::diff`). So that one look shows everything: every step behaves as
//! `continue_on_error` (a failed check is reported, and what follows it still runs), nothing is
//! retried, a `wait` gives up after [`WAIT_LIMIT`] (a diff does not wait for the world to
//! change), and `finally` steps do not run. Its journal goes to `<state-dir>/diffs`, apart from
//! the runs that `runs` and `resume` see.

mod render;

use crate::error::Error;
use crate::journal::{Event, EventKind};
use crate::kube::diff::{ChangeLog, ObjectChange};
use crate::prepare::Prepared;
use crate::report::{Reporter, RunSummary};
use crate::run::RunOptions;
use crate::workflow::bundle::Bundle;
use std::sync::{Arc, Mutex};

pub use render::{render_json, render_text};

pub use crate::run::diff_mode::WAIT_LIMIT;

/// What `mcflow diff` found.
#[derive(Debug, Default)]
pub struct DiffReport {
    /// Each kube write step's objects, by step key, in the order the steps wrote.
    pub steps: Vec<(String, Vec<ObjectChange>)>,
    /// Steps that failed (a check that does not hold, a wait whose condition is not met), with
    /// their error (redacted like any run's).
    pub failed: Vec<(String, String)>,
}

impl DiffReport {
    /// Would the workflow change anything, or does a check of it fail?
    pub fn differs(&self) -> bool {
        !self.failed.is_empty()
            || self
                .steps
                .iter()
                .any(|(_, objects)| objects.iter().any(ObjectChange::changes))
    }
}

/// Runs `prepared` as a diff (see the module doc).
pub async fn diff(prepared: Prepared, mut opts: RunOptions) -> Result<DiffReport, Error> {
    let log = ChangeLog::default();
    opts.dry_run = true;
    opts.changes = Some(log.clone());
    let prepared = Prepared {
        bundle: for_diff(&prepared.bundle),
        ..prepared
    };
    let failed = Arc::new(Mutex::new(Vec::new()));
    let reporter = Box::new(FailureCollector {
        failed: failed.clone(),
        about_this_machine: connect_steps(&prepared.bundle),
    });
    match crate::run::start(prepared, opts, reporter).await {
        Ok(_) | Err(Error::StepFailed) => {}
        Err(e) => return Err(e),
    }
    let mut steps: Vec<(String, Vec<ObjectChange>)> = Vec::new();
    for (step, change) in log.entries() {
        match steps.iter_mut().find(|(s, _)| *s == step) {
            Some((_, objects)) => objects.push(change),
            None => steps.push((step, vec![change])),
        }
    }
    let failed = failed.lock().map(|f| f.clone()).unwrap_or_default();
    Ok(DiffReport { steps, failed })
}

/// The bundle as a diff runs it: every step `continue_on_error`, one attempt, waits bounded by
/// [`WAIT_LIMIT`], no `finally`.
fn for_diff(bundle: &Bundle) -> Bundle {
    Bundle {
        root: Arc::new(crate::run::diff_mode::for_diff(&bundle.root)),
        nested: bundle
            .nested
            .iter()
            .map(|(path, wf)| (path.clone(), Arc::new(crate::run::diff_mode::for_diff(wf))))
            .collect(),
    }
}

/// The ids of the `connect` steps of every workflow in the bundle: what they find is about the
/// machine mcflow runs on, not about the clusters, so their failure is no failed check of a diff
/// (verify shows it as a warning row).
fn connect_steps(bundle: &Bundle) -> std::collections::HashSet<String> {
    std::iter::once(&bundle.root)
        .chain(bundle.nested.values())
        .flat_map(|wf| wf.steps.iter())
        .filter(|s| s.action.kind() == crate::workflow::step::ActionKind::Connect)
        .map(|s| s.id.clone())
        .collect()
}

/// The step id of a journal key (`verify.reachable[host/30143]` → `reachable`).
fn step_id(key: &str) -> &str {
    // The item key may hold dots (a host name): cut it off first.
    let step = key.split('[').next().unwrap_or(key);
    step.rsplit('.').next().unwrap_or(step)
}

/// The reporter of a diff's run: prints nothing, keeps the failed steps.
struct FailureCollector {
    failed: Arc<Mutex<Vec<(String, String)>>>,
    about_this_machine: std::collections::HashSet<String>,
}

impl Reporter for FailureCollector {
    fn event(&mut self, event: &Event) {
        if let EventKind::StepFailed { step, error, .. } = &event.kind
            // A nested workflow fails when one of its steps does: that step is reported.
            && !(error.starts_with("workflow ") && error.ends_with(" failed"))
            && !self.about_this_machine.contains(step_id(step))
            && let Ok(mut f) = self.failed.lock()
        {
            f.push((step.clone(), error.clone()));
        }
    }

    fn note(&mut self, _text: &str) {}

    fn finish(&mut self, _summary: &RunSummary) {}
}
