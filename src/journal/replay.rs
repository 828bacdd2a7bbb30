//! Replaying a run's events into what each step's status is: the one place that decides what a
//! journal says about a step. Resume (which steps are done), `runs`, `show`, the end-of-run
//! summary and the JSON summary all read it.
//!
//! The rule: a step's status is its latest outcome. A resume starts a new attempt of the run:
//! what did not succeed before is "not run" until this attempt reaches it, and its old errors
//! are dropped (they belong to an attempt that is over). When the run ends succeeded, rows that
//! no attempt re-reached are stale and go: a `for_each` step skipped as a whole (`link`) before
//! its instances (`link[production]`) ran, for one.

use indexmap::IndexMap;
use serde::Serialize;

use super::event::{Event, EventKind, RunStatus, StepRecord};

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Started and not ended: running now, or cut short by a crash or Ctrl-C.
    Running,
    Succeeded,
    /// Succeeded in an earlier attempt of the run; this attempt did not run it again.
    Reused,
    Failed,
    /// `when` was false, or not started because a step it needs failed.
    Skipped,
    /// Not reached in the latest attempt of the run.
    NotRun,
}

impl StepStatus {
    /// The word shown in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Reused => "reused",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::NotRun => "not run",
        }
    }

    /// Succeeded, in this attempt or an earlier one.
    pub fn is_success(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Reused)
    }
}

impl std::fmt::Display for StepStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step (or `for_each` instance, or nested step) of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub status: StepStatus,
    /// Attempts in the latest attempt of the run that ran it.
    pub attempts: u32,
    pub duration_ms: Option<u64>,
    /// The errors of its failed attempts, oldest first.
    pub errors: Vec<String>,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
    /// Skipped by its own `when:`: the workflow's choice, not a problem.
    pub skipped_by_when: bool,
    /// Failed with `continue_on_error`: the workflow said it may fail.
    pub tolerated: bool,
    /// The step whose failure kept it from running (skipped steps).
    pub blocked_by: Option<String>,
    /// The step's `name:`.
    pub name: Option<String>,
    /// What it left for later steps (succeeded and not sensitive).
    pub record: Option<StepRecord>,
}

impl StepState {
    fn new() -> StepState {
        StepState {
            status: StepStatus::NotRun,
            attempts: 0,
            duration_ms: None,
            errors: Vec::new(),
            skip_reason: None,
            skipped_by_when: false,
            tolerated: false,
            blocked_by: None,
            name: None,
            record: None,
        }
    }

    /// The text that says why the step did not succeed: its last error, or why it was skipped.
    pub fn cause(&self) -> Option<&str> {
        match self.status {
            StepStatus::Skipped => self.skip_reason.as_deref(),
            StepStatus::Failed => self.errors.last().map(String::as_str),
            _ => None,
        }
    }
}

/// A run as its journal tells it.
#[derive(Debug, Clone, Default)]
pub struct RunHistory {
    pub run_id: String,
    /// The workflow's `name`.
    pub workflow: String,
    /// The workflow's file.
    pub file: String,
    /// When the run started (RFC 3339).
    pub started: String,
    pub params: serde_json::Map<String, serde_json::Value>,
    /// How the latest attempt ended; `None` while it runs or when it crashed.
    pub status: Option<RunStatus>,
    pub dry_run: bool,
    /// Steps in the order they first appeared.
    pub steps: IndexMap<String, StepState>,
}

impl RunHistory {
    /// Steps that succeeded (in any attempt of the run).
    pub fn succeeded(&self) -> usize {
        self.count(StepStatus::is_success)
    }

    /// Steps whose status satisfies `pred`.
    pub fn count(&self, pred: impl Fn(StepStatus) -> bool) -> usize {
        self.steps.values().filter(|s| pred(s.status)).count()
    }

    /// The run's status as a word: `succeeded`, `failed`, `interrupted`, or `running or
    /// crashed`.
    pub fn status_text(&self) -> String {
        self.status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "running or crashed".into())
    }

    /// The steps a resume need not run again: those that succeeded, with what they left
    /// (`None` for a sensitive step, whose output was never written).
    pub fn done(&self) -> std::collections::HashMap<String, Option<StepRecord>> {
        self.steps
            .iter()
            .filter(|(_, s)| s.status.is_success())
            .map(|(k, s)| (k.clone(), s.record.clone()))
            .collect()
    }
}

/// Events in, step statuses out; fed one event at a time (a run in progress) or a whole
/// journal ([`replay`]).
#[derive(Debug, Clone, Default)]
pub struct Replay {
    history: RunHistory,
}

impl Replay {
    pub fn new() -> Replay {
        Replay::default()
    }

    /// The history so far.
    pub fn history(&self) -> &RunHistory {
        &self.history
    }

    pub fn into_history(self) -> RunHistory {
        self.history
    }

    pub fn apply(&mut self, event: &Event) {
        let h = &mut self.history;
        match &event.kind {
            EventKind::RunStarted {
                run_id,
                workflow,
                workflow_name,
                params,
                dry_run,
                ..
            } => {
                h.run_id = run_id.clone();
                h.workflow = workflow_name.clone();
                h.file = workflow.clone();
                h.started = event.ts.clone();
                h.params = params.clone().into_iter().collect();
                h.dry_run = *dry_run;
            }
            EventKind::RunResumed { run_id, .. } => {
                h.run_id.clone_from(run_id);
                h.status = None;
                for s in h.steps.values_mut() {
                    if !s.status.is_success() {
                        *s = StepState {
                            name: s.name.take(),
                            ..StepState::new()
                        };
                    }
                }
            }
            EventKind::RunFinished { status, .. } => {
                h.status = Some(*status);
                if *status == RunStatus::Succeeded {
                    h.steps.retain(|_, s| s.status != StepStatus::NotRun);
                }
            }
            kind => {
                if let Some(step) = kind.step() {
                    apply_step(&mut h.steps, step, kind);
                }
            }
        }
    }
}

fn apply_step(steps: &mut IndexMap<String, StepState>, key: &str, kind: &EventKind) {
    drop_stale_parent(steps, key);
    let s = steps.entry(key.to_string()).or_insert_with(StepState::new);
    match kind {
        EventKind::StepStarted { attempt, name, .. } => {
            s.status = StepStatus::Running;
            s.attempts = *attempt;
            if name.is_some() {
                s.name.clone_from(name);
            }
        }
        EventKind::AttemptFailed { error, .. } => s.errors.push(error.clone()),
        EventKind::StepSucceeded {
            duration_ms,
            result,
            ..
        } => {
            s.status = StepStatus::Succeeded;
            s.duration_ms = Some(*duration_ms);
            s.record.clone_from(result);
        }
        EventKind::StepFailed {
            duration_ms,
            error,
            continue_on_error,
            ..
        } => {
            s.status = StepStatus::Failed;
            s.duration_ms = Some(*duration_ms);
            s.errors.push(error.clone());
            s.tolerated = *continue_on_error;
        }
        EventKind::StepSkipped {
            reason,
            by_when,
            blocked_by,
            ..
        } => {
            s.status = StepStatus::Skipped;
            s.skip_reason = Some(reason.clone());
            s.skipped_by_when = *by_when;
            s.blocked_by.clone_from(blocked_by);
        }
        // Replaying a whole journal, the step is already known as succeeded: it stays so.
        EventKind::StepReused { .. } if s.status != StepStatus::Succeeded => {
            s.status = StepStatus::Reused;
        }
        _ => {}
    }
}

/// The nested workflow a step key belongs to: `gather` for `gather.mc_check[internal]`,
/// `link[production]` for `link[production].check`; `None` at the top level. An item key in
/// brackets may hold dots (`reachable[gw.example.com/30143]`), so only dots outside them count.
pub fn parent_key(key: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut last_dot = None;
    for (i, c) in key.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => last_dot = Some(i),
            _ => {}
        }
    }
    last_dot.map(|i| &key[..i])
}

/// A failure tolerated (`continue_on_error`) inside a nested workflow that succeeded, such as a
/// `multicluster check` that failed in the `finally` diagnostics: that workflow's business, not
/// a problem of the run, so the end-of-run table and counts fold it (`-v` and `show` list it).
pub fn is_tolerated_inside(steps: &IndexMap<String, StepState>, key: &str) -> bool {
    steps.get(key).is_some_and(|s| {
        s.status == StepStatus::Failed
            && s.tolerated
            && parent_key(key)
                .and_then(|p| steps.get(p))
                .is_some_and(|p| p.status.is_success())
    })
}

/// The `for_each` step a key is an instance of: `reachable` for `reachable[gw.example.com/30143]`,
/// `link[production].remote_access` for `link[production].remote_access[Secret]`; `None` for a
/// key that is not an instance (`link[production].check`). The item is the last bracketed part,
/// matched by depth, since an item key may hold brackets and dots of its own.
pub fn instance_of(key: &str) -> Option<&str> {
    if !key.ends_with(']') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in key.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&key[..i]).filter(|step| !step.is_empty());
                }
            }
            _ => {}
        }
    }
    None
}

/// An instance `link[production]` now runs: a row for `link` as a whole that did not run (it
/// was skipped or blocked in an earlier attempt) says nothing true any more.
fn drop_stale_parent(steps: &mut IndexMap<String, StepState>, key: &str) {
    let Some((parent, _)) = key.split_once('[') else {
        return;
    };
    if steps
        .get(parent)
        .is_some_and(|s| matches!(s.status, StepStatus::Skipped | StepStatus::NotRun))
    {
        steps.shift_remove(parent);
    }
}

/// Replays a whole journal.
pub fn replay(events: &[Event]) -> RunHistory {
    let mut r = Replay::new();
    for e in events {
        r.apply(e);
    }
    r.into_history()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> Event {
        Event {
            ts: "2026-01-01T00:00:00.000000Z".into(),
            kind,
        }
    }

    fn started(step: &str, attempt: u32) -> Event {
        ev(EventKind::StepStarted {
            step: step.into(),
            attempt,
            max_attempts: 3,
            name: None,
        })
    }

    fn succeeded(step: &str) -> Event {
        ev(EventKind::StepSucceeded {
            step: step.into(),
            attempt: 1,
            duration_ms: 5,
            result: Some(StepRecord::default()),
            sensitive: false,
            summary: None,
        })
    }

    fn failed(step: &str, error: &str) -> Event {
        ev(EventKind::StepFailed {
            step: step.into(),
            attempt: 1,
            error: error.into(),
            duration_ms: 5,
            continue_on_error: false,
        })
    }

    #[test]
    fn instance_of_takes_the_last_bracketed_item_whole() {
        assert_eq!(
            instance_of("reachable[gw.example.com/30143]"),
            Some("reachable")
        );
        assert_eq!(
            instance_of("link[production].remote_access[Secret]"),
            Some("link[production].remote_access")
        );
        assert_eq!(instance_of("fetch[x[1].y]"), Some("fetch"));
        assert_eq!(instance_of("link[production].check"), None);
        assert_eq!(instance_of("top"), None);
        assert_eq!(instance_of("[x]"), None);
        assert_eq!(instance_of("x]"), None);
    }

    #[test]
    fn parent_key_ignores_dots_inside_item_keys() {
        assert_eq!(parent_key("gather.mc_check[internal]"), Some("gather"));
        assert_eq!(
            parent_key("link[production].check"),
            Some("link[production]")
        );
        assert_eq!(parent_key("a.b.c[x.y]"), Some("a.b"));
        assert_eq!(parent_key("reachable[gw.example.com/30143]"), None);
        assert_eq!(parent_key("top"), None);
    }

    fn skipped(step: &str) -> Event {
        ev(EventKind::StepSkipped {
            step: step.into(),
            reason: "not started: `a` failed".into(),
            by_when: false,
            blocked_by: None,
        })
    }

    fn resumed() -> Event {
        ev(EventKind::RunResumed {
            run_id: "r".into(),
            pid: 1,
            changed: vec![],
        })
    }

    fn finished(status: RunStatus) -> Event {
        ev(EventKind::RunFinished {
            status,
            duration_ms: 1,
            succeeded: 0,
            failed: 0,
            skipped: 0,
        })
    }

    #[test]
    fn latest_outcome_wins_and_a_restarted_success_is_not_done() {
        let h = replay(&[started("a", 1), succeeded("a"), resumed(), started("a", 1)]);
        assert_eq!(h.steps["a"].status, StepStatus::Running);
        assert!(h.done().is_empty());
    }

    #[test]
    fn a_resumed_run_that_succeeds_keeps_no_stale_rows_or_old_errors() {
        let h = replay(&[
            started("a", 1),
            failed("a", "boom"),
            skipped("link"),
            finished(RunStatus::Failed),
            resumed(),
            started("a", 1),
            succeeded("a"),
            started("link[production]", 1),
            succeeded("link[production]"),
            finished(RunStatus::Succeeded),
        ]);
        assert_eq!(
            h.steps.keys().collect::<Vec<_>>(),
            ["a", "link[production]"]
        );
        assert!(h.steps["a"].errors.is_empty());
        assert_eq!(h.succeeded(), h.steps.len());
        assert_eq!(h.status, Some(RunStatus::Succeeded));
    }

    #[test]
    fn steps_not_reached_by_a_failed_resume_are_not_run() {
        let h = replay(&[
            started("a", 1),
            failed("a", "boom"),
            skipped("b"),
            finished(RunStatus::Failed),
            resumed(),
            started("a", 1),
            failed("a", "boom again"),
        ]);
        assert_eq!(h.steps["a"].errors, ["boom again"]);
        assert_eq!(h.steps["b"].status, StepStatus::NotRun);
        assert_eq!(h.status, None);
        assert_eq!(h.status_text(), "running or crashed");
    }

    #[test]
    fn reused_is_succeeded_in_a_whole_journal_and_reused_in_one_attempt() {
        let reused = ev(EventKind::StepReused { step: "a".into() });
        let whole = replay(&[started("a", 1), succeeded("a"), resumed(), reused.clone()]);
        assert_eq!(whole.steps["a"].status, StepStatus::Succeeded);
        let this_attempt = replay(&[resumed(), reused]);
        assert_eq!(this_attempt.steps["a"].status, StepStatus::Reused);
    }
}
