//! The scheduler of one workflow level: starts steps whose dependencies are done (up to
//! `--max-parallel` leaf actions at once), expands `for_each`, evaluates `when`, retries, and
//! writes every event to the journal (one write + one fsync per batch) before acting on it.
//!
//! It is a single loop that owns the bookkeeping; attempts run as futures and report back, so
//! that no two places decide a step's fate.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::LocalBoxFuture as BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use minijinja::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::attempt::Attempt;
use super::executor::{StepError, StepOutput};
use super::results::StepResults;
use super::{Run, StepFate};
use crate::journal::EventKind;
use crate::workflow::item_key::item_key;
use crate::workflow::step::{Action, StepSpec, ValidWorkflow};
use crate::workflow::template;

/// How a workflow level ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelOutcome {
    Succeeded,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Waiting,
    Active { pending: usize, failed: bool },
    Done(StepFate),
}

struct Instance {
    step: usize,
    key: String,
    item: Option<serde_json::Value>,
    attempt: u32,
    started: Instant,
    /// The time of the first attempt, for the duration of the whole step.
    first_started: Instant,
}

enum Msg {
    Attempt {
        inst: usize,
        result: Result<StepOutput, StepError>,
    },
    RetryDue {
        inst: usize,
    },
}

/// Runs the steps of `wf` with `params`; keys get `prefix` (`parent.` for nested workflows).
/// `rerun`: this level runs again as a whole (its calling step is re-running a success because
/// what it read changed), so its steps' earlier successes are not reused.
pub fn run_level<'a>(
    run: &'a Run,
    wf: &'a ValidWorkflow,
    params: serde_json::Value,
    prefix: String,
    rerun: bool,
) -> BoxFuture<'a, LevelOutcome> {
    async move {
        let mut level = Level::new(run, wf, params, prefix);
        level.rerun = rerun;
        level.run().await
    }
    .boxed_local()
}

/// [`run_level`] as a diff (`wf` already made a diff's by `diff_mode::for_diff`): its kube writes
/// are dry runs that record into `diff`, and nothing done earlier is reused.
pub fn run_level_diff<'a>(
    run: &'a Run,
    wf: &'a ValidWorkflow,
    params: serde_json::Value,
    prefix: String,
    diff: crate::kube::diff::ChangeLog,
) -> BoxFuture<'a, LevelOutcome> {
    async move {
        let mut level = Level::new(run, wf, params, prefix);
        level.rerun = true;
        level.diff = Some(diff);
        level.run().await
    }
    .boxed_local()
}

mod finally;
mod outcome;
mod ready;
mod resume;
mod start;

pub use finally::{MainOutcome, run_finally_level};

struct Level<'a> {
    run: &'a Run,
    wf: &'a ValidWorkflow,
    steps: &'a [StepSpec],
    deps: Vec<Vec<usize>>,
    readiness: ready::Readiness,
    state: Vec<State>,
    params: Value,
    config: Value,
    run_value: Value,
    /// What finished steps left, as `steps.<id>` in templates.
    results: StepResults,
    prefix: String,
    instances: Vec<Instance>,
    /// Instances whose next attempt is journaled and may start.
    launch: Vec<(usize, Option<OwnedSemaphorePermit>)>,
    /// Attempts allowed to start (dependencies, concurrency, retry delay all satisfied) that
    /// wait for a `--max-parallel` slot; their `step_started` is journaled when they get one.
    ready: VecDeque<usize>,
    /// Instances of each step not started yet (a for_each `concurrency` holds them back).
    queued: Vec<VecDeque<usize>>,
    /// Started instances of each step that have not ended (retry waits included).
    in_flight: Vec<usize>,
    batch: Vec<EventKind>,
    /// The batch holds the end of a step that is not read-only: it is fsync'd before it is
    /// reported and anything acts on it. A read's end needs no fsync: a resume runs every read
    /// again, whether its end reached the disk or not (docs/RELIABILITY.md).
    batch_must_sync: bool,
    sensitive: Arc<[bool]>,
    /// `params.x`, `steps.<id>`, `vars.v` whose values are secret (see `secret_templates`).
    secret_names: Vec<String>,
    /// Steps with an instance run (not reused) by this process: on resume, a step done
    /// earlier is run again when one of its dependencies runs again (a dependency that had
    /// failed with `continue_on_error`), since what it read has changed.
    ran: Vec<bool>,
    /// See [`run_level`].
    rerun: bool,
    /// A level run as a diff (a `workflow:` call with `diff: true`, and the levels below it):
    /// where its kube writes, all dry runs, record what they would change.
    diff: Option<crate::kube::diff::ChangeLog>,
    /// The vars that read only params and config, rendered once for all the level's steps.
    stable_vars: crate::workflow::vars::StableVars,
    /// The first step (by index) that failed and fails the level: nothing new starts.
    first_failed: Option<usize>,
}

impl<'a> Level<'a> {
    fn new(run: &'a Run, wf: &'a ValidWorkflow, params: serde_json::Value, prefix: String) -> Self {
        let steps = &wf.steps[..];
        // A sensitive param is a secret from the start: masked wherever it shows up, and every
        // step that reads it is sensitive.
        let sensitive_params = wf.sensitive_params();
        for name in &sensitive_params {
            match params.get(name) {
                Some(serde_json::Value::String(v)) => run.redactor.add_exact(v),
                Some(v) if !v.is_null() => run.redactor.add_exact(&v.to_string()),
                _ => {}
            }
        }
        let run_value = template::value_of(&serde_json::json!({
            "id": run.run_id,
            "started_at": run.started_at,
            "workflow": wf.name,
            "dir": wf.base_dir(),
        }));
        let sensitive = run.sensitivity_of(wf, &sensitive_params);
        let secret_names =
            crate::secrets::secret_names(steps, &wf.vars, &sensitive_params, &sensitive);
        let deps: Vec<Vec<usize>> = steps.iter().map(|s| s.needs.clone()).collect();
        Level {
            run,
            wf,
            steps,
            readiness: ready::Readiness::new(&deps),
            deps,
            first_failed: None,
            state: vec![State::Waiting; steps.len()],
            params: template::value_of(&params),
            config: run.config_value(),
            run_value,
            results: StepResults::new(steps),
            prefix,
            instances: Vec::new(),
            launch: Vec::new(),
            ready: VecDeque::new(),
            queued: vec![VecDeque::new(); steps.len()],
            in_flight: vec![0; steps.len()],
            batch: Vec::new(),
            batch_must_sync: false,
            sensitive,
            secret_names,
            ran: vec![false; steps.len()],
            rerun: false,
            diff: None,
            stable_vars: Default::default(),
        }
    }

    fn context(&self, item: Option<&serde_json::Value>) -> Value {
        let mut pairs: Vec<(&str, Value)> = vec![
            ("params", self.params.clone()),
            ("config", self.config.clone()),
            ("steps", self.results.view()),
            ("run", self.run_value.clone()),
        ];
        pairs.push((
            "vars",
            crate::workflow::vars::VarsView::value(&self.wf.vars, &pairs, &self.stable_vars),
        ));
        if let Some(i) = item {
            pairs.push(("item", template::value_of(i)));
        }
        Value::from_pairs(pairs)
    }

    async fn run(mut self) -> LevelOutcome {
        let mut running: FuturesUnordered<BoxFuture<'a, Msg>> = FuturesUnordered::new();
        let mut ticker = tokio::time::interval(Duration::from_millis(200));
        let ticks = self.run.wants_ticks();
        let cancel = self.run.cancel_token();
        let permits = self.run.permits.clone();
        loop {
            self.start_ready();
            self.take_slots(&permits);
            // Everything decided so far reaches the journal before anything acts on it (ends
            // reach the disk too); the level's last batch waits for its caller's fsync.
            let batch = std::mem::take(&mut self.batch);
            let must_sync = std::mem::take(&mut self.batch_must_sync);
            let last = self.launch.is_empty() && running.is_empty() && self.ready.is_empty();
            let written = if last {
                self.run.emit_last(batch)
            } else {
                self.run.emit(batch, must_sync).await
            };
            if let Err(e) = written {
                self.run.fatal(e);
                return LevelOutcome::Failed;
            }
            for (inst, permit) in std::mem::take(&mut self.launch) {
                running.push(self.attempt_future(inst, permit));
            }
            if running.is_empty() && self.ready.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    // Dropping the futures kills their processes; in-flight steps have no end
                    // event, so a resume runs them again.
                    drop(running);
                    return LevelOutcome::Interrupted;
                }
                Some(msg) = running.next() => {
                    self.handle(msg, &mut running);
                    // Group commit: attempts that ended meanwhile are handled too, so that one
                    // journal write and one fsync cover all their ends.
                    while let Some(Some(msg)) = running.next().now_or_never() {
                        self.handle(msg, &mut running);
                    }
                }
                // All slots are taken (by other levels too): wait for one to free up.
                Ok(permit) = permits.clone().acquire_owned(), if !self.ready.is_empty() => {
                    self.start_attempt(permit);
                }
                _ = ticker.tick(), if ticks => self.run.tick(),
            }
        }
        let failed = self.state.iter().any(|s| {
            matches!(
                s,
                State::Done(StepFate::Failed {
                    continue_on_error: false
                })
            )
        });
        if failed || self.run.is_fatal() {
            LevelOutcome::Failed
        } else {
            LevelOutcome::Succeeded
        }
    }

    /// Starts every step whose dependencies are done, until nothing more changes.
    fn start_ready(&mut self) {
        loop {
            let mut pass = self.readiness.take();
            if pass.is_empty() {
                break;
            }
            while let Some(i) = pass.pop_first() {
                if self.state[i] == State::Waiting {
                    self.decide(i);
                }
                // `extend`, not `append`: append rebuilds the whole set each time.
                pass.extend(self.readiness.take_after(i));
            }
        }
    }

    /// Step `i`, whose dependencies are done, is blocked (one of them failed or did not run, or
    /// another step of the level failed) or starts.
    fn decide(&mut self, i: usize) {
        let failed_dep = self.deps[i].iter().rev().copied().find(|&d| {
            matches!(
                self.state[d],
                State::Done(
                    StepFate::Failed {
                        continue_on_error: false,
                    } | StepFate::Blocked,
                )
            )
        });
        if let Some(d) = failed_dep {
            let how = if self.state[d] == State::Done(StepFate::Blocked) {
                "which did not run"
            } else {
                "which failed"
            };
            let reason = format!("needs `{}`, {how}", self.steps[d].id);
            return self.block_step(i, d, reason);
        }
        // Once a step has failed, nothing new starts: steps already running finish, then the
        // run fails (a resume picks up from there).
        if let Some(f) = self.first_failed {
            let reason = format!("not started: `{}` failed", self.steps[f].id);
            return self.block_step(i, f, reason);
        }
        self.start_step(i);
    }

    /// Step `i` failed for good: remember it when it fails the level (the first one, by index,
    /// names the cause of the steps it keeps from starting).
    fn note_failure(&mut self, i: usize) {
        if !self.steps[i].continue_on_error {
            self.first_failed = Some(self.first_failed.map_or(i, |f| f.min(i)));
        }
    }

    /// Step `i` is done: the steps that need it may be decided.
    fn set_done(&mut self, i: usize, fate: StepFate) {
        self.state[i] = State::Done(fate);
        self.readiness.done(i);
    }

    fn key_of(&self, i: usize, item: Option<&serde_json::Value>) -> String {
        match item {
            Some(it) => format!("{}{}[{}]", self.prefix, self.steps[i].id, item_key(it)),
            None => format!("{}{}", self.prefix, self.steps[i].id),
        }
    }

    /// Starts queued instances of step `i` while its `concurrency` allows: their first
    /// `step_started` is journaled when they really start.
    fn admit(&mut self, i: usize) {
        let step = &self.steps[i];
        let limit = step.concurrency.map_or(usize::MAX, |c| c.max(1) as usize);
        while self.in_flight[i] < limit {
            let Some(inst) = self.queued[i].pop_front() else {
                break;
            };
            self.in_flight[i] += 1;
            self.enqueue(inst);
        }
    }

    /// An attempt may start: a nested workflow starts now (it takes no slot: its own steps do);
    /// a leaf step waits in `ready` for a `--max-parallel` slot.
    fn enqueue(&mut self, inst: usize) {
        if matches!(
            self.steps[self.instances[inst].step].action,
            Action::Workflow(_)
        ) {
            self.journal_start(inst);
            self.launch.push((inst, None));
        } else {
            self.ready.push_back(inst);
        }
    }

    /// Gives free `--max-parallel` slots to ready attempts, in order.
    fn take_slots(&mut self, permits: &Arc<Semaphore>) {
        while !self.ready.is_empty() {
            match permits.clone().try_acquire_owned() {
                Ok(permit) => self.start_attempt(permit),
                Err(_) => break,
            }
        }
    }

    /// Starts the first ready attempt with its slot: journaled, then launched.
    fn start_attempt(&mut self, permit: OwnedSemaphorePermit) {
        if let Some(inst) = self.ready.pop_front() {
            self.journal_start(inst);
            self.launch.push((inst, Some(permit)));
        }
    }

    fn journal_start(&mut self, inst: usize) {
        let i = self.instances[inst].step;
        let max_attempts = self.steps[i].retry.attempts;
        let instance = &mut self.instances[inst];
        let now = Instant::now();
        instance.started = now;
        if instance.attempt == 1 {
            instance.first_started = now;
        }
        self.batch.push(EventKind::StepStarted {
            step: instance.key.clone(),
            attempt: instance.attempt,
            max_attempts,
            name: self.steps[i].name.clone(),
        });
    }

    fn mark_instance_failed(&mut self, i: usize) {
        self.note_failure(i);
        match &mut self.state[i] {
            State::Active { failed, .. } => *failed = true,
            s => {
                *s = State::Active {
                    pending: 0,
                    failed: true,
                }
            }
        }
    }

    fn fail_step(&mut self, i: usize, error: String) {
        let key = self.key_of(i, None);
        let continue_on_error = self.steps[i].continue_on_error;
        self.push_end(
            i,
            EventKind::StepFailed {
                step: key,
                attempt: 0,
                error: self.run.redactor.redact(&error),
                duration_ms: 0,
                continue_on_error,
            },
        );
        self.note_failure(i);
        self.set_done(i, StepFate::Failed { continue_on_error });
    }

    /// Step `i` will not run because step `by` of this level failed or did not run.
    fn block_step(&mut self, i: usize, by: usize, reason: String) {
        let skipped = EventKind::StepSkipped {
            step: self.key_of(i, None),
            reason,
            by_when: false,
            blocked_by: Some(self.key_of(by, None)),
        };
        self.push_end(i, skipped);
        self.set_done(i, StepFate::Blocked);
    }

    /// Journals `end`, an end of step `i` (see `batch_must_sync`). In a level run as a diff, a
    /// failure is also recorded for the calling step (`nested_diff`), whatever failed it: an
    /// attempt, its `for_each` or its `when`.
    fn push_end(&mut self, i: usize, end: EventKind) {
        self.batch_must_sync |= !self.steps[i].is_read_only();
        if let (Some(log), EventKind::StepFailed { step, error, .. }) = (&self.diff, &end) {
            log.step_failed(super::nested_diff::failed_step(self.steps, i, step, error));
        }
        self.batch.push(end);
    }

    /// All instances of step `i` are over: decide the step's fate.
    fn settle(&mut self, i: usize) {
        let State::Active { pending: 0, failed } = self.state[i] else {
            return;
        };
        let step = &self.steps[i];
        self.results
            .settle(i, &step.id, step.for_each.is_some(), failed);
        let fate = if failed {
            StepFate::Failed {
                continue_on_error: step.continue_on_error,
            }
        } else {
            StepFate::Succeeded
        };
        self.set_done(i, fate);
    }

    fn attempt_future(
        &self,
        inst: usize,
        permit: Option<OwnedSemaphorePermit>,
    ) -> BoxFuture<'a, Msg> {
        let instance = &self.instances[inst];
        let attempt = Attempt {
            run: self.run,
            wf: self.wf,
            step: &self.steps[instance.step],
            ctx: self.context(instance.item.as_ref()),
            key: instance.key.clone(),
            rerun_children: self.rerun,
            diff: self.diff.clone(),
        };
        async move {
            let result = attempt.run(permit).await;
            Msg::Attempt { inst, result }
        }
        .boxed_local()
    }

    fn handle(&mut self, msg: Msg, running: &mut FuturesUnordered<BoxFuture<'a, Msg>>) {
        match msg {
            Msg::RetryDue { inst } => {
                self.instances[inst].attempt += 1;
                self.enqueue(inst);
            }
            Msg::Attempt {
                inst,
                result: Ok(out),
            } => self.attempt_succeeded(inst, out),
            Msg::Attempt {
                inst,
                result: Err(err),
            } => {
                if let Some(delay) = self.attempt_failed(inst, err) {
                    running.push(
                        async move {
                            tokio::time::sleep(delay).await;
                            Msg::RetryDue { inst }
                        }
                        .boxed_local(),
                    );
                }
            }
        }
    }

    fn instance_over(&mut self, i: usize) {
        self.in_flight[i] = self.in_flight[i].saturating_sub(1);
        self.admit(i);
        if let State::Active { pending, .. } = &mut self.state[i] {
            *pending = pending.saturating_sub(1);
        }
        self.settle(i);
    }
}
