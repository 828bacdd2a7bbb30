//! The scheduler of one workflow level: starts steps whose dependencies are done (up to
//! `--max-parallel` leaf actions at once), expands `for_each`, evaluates `when`, retries, and
//! writes every event to the journal (one write + one fsync per batch) before acting on it.
//!
//! It is a single loop that owns the bookkeeping; attempts run as futures and report back, so
//! that no two places decide a step's fate.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::LocalBoxFuture as BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use minijinja::Value;
use minijinja::value::{Enumerator, Object};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::executor::{ExecEnv, StepError, StepOutput};
use super::{Run, StepFate};
use crate::journal::{EventKind, StepRecord};
use crate::workflow::item_key::item_key;
use crate::workflow::model::ForEach;
use crate::workflow::step::{Action, StepSpec, ValidWorkflow};
use crate::workflow::template;

/// `steps.<id>` as templates see it, filled in as steps finish.
#[derive(Debug, Default)]
struct StepsView(RwLock<HashMap<String, Value>>);

impl Object for StepsView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let map = self.0.read().ok()?;
        map.get(key.as_str()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self
            .0
            .read()
            .map(|m| m.keys().map(|k| Value::from(k.as_str())).collect())
            .unwrap_or_default();
        Enumerator::Values(keys)
    }
}

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

struct Level<'a> {
    run: &'a Run,
    wf: &'a ValidWorkflow,
    steps: &'a [StepSpec],
    deps: Vec<Vec<usize>>,
    state: Vec<State>,
    params: Value,
    config: Value,
    run_value: Value,
    view: Arc<StepsView>,
    /// Results of for_each instances, by step, by item key.
    items: Vec<serde_json::Map<String, serde_json::Value>>,
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
    sensitive: Vec<bool>,
    /// Steps with an instance run (not reused) by this process: on resume, a step done
    /// earlier is run again when one of its dependencies runs again (a dependency that had
    /// failed with `continue_on_error`), since what it read has changed.
    ran: Vec<bool>,
    /// See [`run_level`].
    rerun: bool,
}

impl<'a> Level<'a> {
    fn new(run: &'a Run, wf: &'a ValidWorkflow, params: serde_json::Value, prefix: String) -> Self {
        let steps = &wf.steps[..];
        // A sensitive param is a secret from the start: masked wherever it shows up, and every
        // step that reads it is sensitive.
        let sensitive_params: Vec<String> = wf
            .params
            .iter()
            .filter(|(_, spec)| spec.sensitive)
            .map(|(name, _)| name.clone())
            .collect();
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
        Level {
            run,
            wf,
            steps,
            deps: steps.iter().map(|s| s.needs.clone()).collect(),
            state: vec![State::Waiting; steps.len()],
            params: template::value_of(&params),
            config: template::value_of(&run.config.value),
            run_value,
            view: Arc::new(StepsView::default()),
            items: vec![serde_json::Map::new(); steps.len()],
            prefix,
            instances: Vec::new(),
            launch: Vec::new(),
            ready: VecDeque::new(),
            queued: vec![VecDeque::new(); steps.len()],
            in_flight: vec![0; steps.len()],
            batch: Vec::new(),
            sensitive: crate::secrets::effective_sensitivity(steps, &wf.vars, &sensitive_params),
            ran: vec![false; steps.len()],
            rerun: false,
        }
    }

    fn context(&self, item: Option<&serde_json::Value>) -> Value {
        let mut pairs: Vec<(&str, Value)> = vec![
            ("params", self.params.clone()),
            ("config", self.config.clone()),
            ("steps", Value::from_dyn_object(self.view.clone())),
            ("run", self.run_value.clone()),
        ];
        pairs.push((
            "vars",
            crate::workflow::vars::VarsView::value(&self.wf.vars, &pairs),
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
        let cancel = self.run.cancel.clone();
        let permits = self.run.permits.clone();
        loop {
            self.start_ready();
            self.take_slots(&permits);
            // Everything decided so far reaches the disk before anything acts on it.
            if let Err(e) = self.run.emit(std::mem::take(&mut self.batch)) {
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
                Some(msg) = running.next() => self.handle(msg, &mut running),
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
            let mut changed = false;
            for i in 0..self.steps.len() {
                if self.state[i] != State::Waiting {
                    continue;
                }
                let mut all_done = true;
                let mut failed_dep = None;
                for &d in &self.deps[i] {
                    match &self.state[d] {
                        State::Done(
                            StepFate::Failed {
                                continue_on_error: false,
                            }
                            | StepFate::Blocked,
                        ) => failed_dep = Some(d),
                        State::Done(_) => {}
                        _ => all_done = false,
                    }
                }
                if !all_done {
                    continue;
                }
                changed = true;
                if let Some(d) = failed_dep {
                    let how = if self.state[d] == State::Done(StepFate::Blocked) {
                        "which did not run"
                    } else {
                        "which failed"
                    };
                    let reason = format!("needs `{}`, {how}", self.steps[d].id);
                    self.finish_step(i, StepFate::Blocked, Some(reason));
                    continue;
                }
                // Once a step has failed, nothing new starts: steps already running finish,
                // then the run fails (a resume picks up from there).
                if let Some(f) = self.failed_step() {
                    let reason = format!("not started: `{}` failed", self.steps[f].id);
                    self.finish_step(i, StepFate::Blocked, Some(reason));
                    continue;
                }
                self.start_step(i);
            }
            if !changed {
                break;
            }
        }
    }

    /// A step of this level that failed (not `continue_on_error`), if any.
    fn failed_step(&self) -> Option<usize> {
        self.state.iter().enumerate().find_map(|(k, st)| match st {
            State::Done(StepFate::Failed {
                continue_on_error: false,
            }) => Some(k),
            State::Active { failed: true, .. } if !self.steps[k].continue_on_error => Some(k),
            _ => None,
        })
    }

    fn key_of(&self, i: usize, item: Option<&serde_json::Value>) -> String {
        match item {
            Some(it) => format!("{}{}[{}]", self.prefix, self.steps[i].id, item_key(it)),
            None => format!("{}{}", self.prefix, self.steps[i].id),
        }
    }

    fn start_step(&mut self, i: usize) {
        let step = &self.steps[i];
        let items: Vec<Option<serde_json::Value>> = match &step.for_each {
            None => vec![None],
            Some(ForEach::List(l)) => l.iter().cloned().map(Some).collect(),
            Some(ForEach::Expr(e)) => {
                let ctx = self.context(None);
                match template::eval(e, &ctx).and_then(|v| template::to_json(&v)) {
                    Ok(serde_json::Value::Array(a)) => a.into_iter().map(Some).collect(),
                    Ok(_) => return self.fail_step(i, "for_each does not yield a list".into()),
                    Err(err) => return self.fail_step(i, format!("for_each: {err}")),
                }
            }
        };
        // Instances are journaled by their item's key: two items with one key would share a
        // journal entry, and a resume could take one's success for the other's.
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = items
            .iter()
            .map(|it| self.key_of(i, it.as_ref()))
            .find(|k| !seen.insert(k.clone()))
        {
            return self.fail_step(
                i,
                format!(
                    "for_each: two items have the key `{dup}`; give each item a unique `name` (or `id`)"
                ),
            );
        }
        let mut pending = 0;
        for item in items {
            let key = self.key_of(i, item.as_ref());
            // when, per instance (it may read `item`).
            if let Some(when) = &step.when {
                let ctx = self.context(item.as_ref());
                match template::eval_bool(when, &ctx) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.batch.push(EventKind::StepSkipped {
                            step: key,
                            reason: format!("when: {} is false", when.trim()),
                        });
                        continue;
                    }
                    Err(e) => {
                        let msg = self.run.redactor.redact(&format!("when: {e}"));
                        self.batch.push(EventKind::StepFailed {
                            step: key,
                            attempt: 0,
                            error: msg,
                            duration_ms: 0,
                            continue_on_error: step.continue_on_error,
                        });
                        self.mark_instance_failed(i);
                        continue;
                    }
                }
            }
            // Resume: a step done in an earlier attempt of this run is not run again, unless it
            // is sensitive (its output was never written) and a pending step reads it, or one of
            // its dependencies ran again.
            let dep_ran = self.deps[i].iter().any(|&d| self.ran[d]);
            if let Some(done) = self.run.done.get(&key).filter(|_| !dep_ran && !self.rerun) {
                match done {
                    Some(record) => {
                        self.batch.push(EventKind::StepReused { step: key.clone() });
                        self.record_result(i, item.as_ref(), record.clone());
                        continue;
                    }
                    None if !self.is_read_by_pending(i) => {
                        self.batch.push(EventKind::StepReused { step: key.clone() });
                        self.record_result(i, item.as_ref(), StepRecord::default());
                        continue;
                    }
                    None => {}
                }
            }
            let now = Instant::now();
            let inst = self.instances.len();
            self.instances.push(Instance {
                step: i,
                key,
                item,
                attempt: 1,
                started: now,
                first_started: now,
            });
            self.queued[i].push_back(inst);
            // A sensitive step run again only to recompute its output does not make its
            // dependents run again.
            self.ran[i] |= dep_ran || !self.run.done.contains_key(&self.instances[inst].key);
            pending += 1;
        }
        let failed = matches!(self.state[i], State::Active { failed: true, .. });
        self.state[i] = State::Active { pending, failed };
        self.admit(i);
        if pending == 0 {
            self.settle(i);
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

    /// Does a step that has not succeeded yet read `steps.<id>` of step `i`?
    fn is_read_by_pending(&self, i: usize) -> bool {
        let id = &self.steps[i].id;
        self.steps.iter().enumerate().any(|(j, s)| {
            j != i
                && crate::secrets::reads_step(s, &self.wf.vars, id)
                && (!self.was_done(j) || self.may_rerun(j, i))
        })
    }

    /// Did step `j` (or an instance of it) succeed in an earlier attempt of this run?
    fn was_done(&self, j: usize) -> bool {
        let key = self.key_of(j, None);
        let prefix = format!("{key}[");
        self.run
            .done
            .keys()
            .any(|k| k == &key || k.starts_with(&prefix))
    }

    /// Could step `j`, done before, run again in this attempt (because one of its other
    /// dependencies runs again)? Conservative: a sensitive producer re-run once too often costs
    /// one idempotent step; one run too rarely would hand its reader an empty output.
    fn may_rerun(&self, j: usize, except: usize) -> bool {
        self.deps[j]
            .iter()
            .any(|&d| d != except && (self.ran[d] || !self.was_done(d)))
    }

    fn mark_instance_failed(&mut self, i: usize) {
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
        self.batch.push(EventKind::StepFailed {
            step: key,
            attempt: 0,
            error: self.run.redactor.redact(&error),
            duration_ms: 0,
            continue_on_error,
        });
        self.state[i] = State::Done(StepFate::Failed { continue_on_error });
    }

    fn finish_step(&mut self, i: usize, fate: StepFate, skip_reason: Option<String>) {
        if let Some(reason) = skip_reason {
            self.batch.push(EventKind::StepSkipped {
                step: self.key_of(i, None),
                reason,
            });
        }
        self.state[i] = State::Done(fate);
    }

    /// All instances of step `i` are over: decide the step's fate.
    fn settle(&mut self, i: usize) {
        let State::Active { pending: 0, failed } = self.state[i] else {
            return;
        };
        let step = &self.steps[i];
        let fate = if failed {
            StepFate::Failed {
                continue_on_error: step.continue_on_error,
            }
        } else {
            StepFate::Succeeded
        };
        if step.for_each.is_some() {
            // steps.<id>.items.<key> for a for_each step.
            let v = serde_json::json!({
                "status": if failed { "failed" } else { "succeeded" },
                "items": self.items[i],
            });
            if let Ok(mut m) = self.view.0.write() {
                m.insert(step.id.clone(), template::value_of(&v));
            }
        } else if let Ok(mut m) = self.view.0.write() {
            m.entry(step.id.clone()).or_insert_with(|| {
                template::value_of(&serde_json::json!({
                    "status": if failed { "failed" } else { "skipped" },
                }))
            });
        }
        self.state[i] = State::Done(fate);
    }

    fn record_result(&mut self, i: usize, item: Option<&serde_json::Value>, record: StepRecord) {
        let mut v = serde_json::to_value(&record).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("status".into(), "succeeded".into());
            o.entry("outputs").or_insert_with(|| serde_json::json!({}));
            o.entry("object").or_insert(serde_json::Value::Null);
            o.entry("exit_code").or_insert(serde_json::Value::Null);
        }
        match item {
            Some(it) => {
                self.items[i].insert(item_key(it), v);
            }
            None => {
                if let Ok(mut m) = self.view.0.write() {
                    m.insert(self.steps[i].id.clone(), template::value_of(&v));
                }
            }
        }
    }

    /// A failed step (continue_on_error) is still visible to later steps: `status` and `error`.
    fn record_failure(&mut self, i: usize, item: Option<&serde_json::Value>, error: &str) {
        let v = serde_json::json!({
            "status": "failed", "error": error, "stdout": "", "stderr": "",
            "outputs": {}, "object": null, "exit_code": null,
        });
        match item {
            Some(it) => {
                self.items[i].insert(item_key(it), v);
            }
            None => {
                if let Ok(mut m) = self.view.0.write() {
                    m.insert(self.steps[i].id.clone(), template::value_of(&v));
                }
            }
        }
    }

    fn attempt_future(
        &self,
        inst: usize,
        permit: Option<OwnedSemaphorePermit>,
    ) -> BoxFuture<'a, Msg> {
        let instance = &self.instances[inst];
        let step: &'a StepSpec = &self.steps[instance.step];
        let ctx = self.context(instance.item.as_ref());
        let run = self.run;
        let wf = self.wf;
        let timeout = step.timeout;
        let key = instance.key.clone();
        let rerun_children = self.rerun;
        async move {
            let result = if let Action::Workflow(call) = &step.action {
                // A nested workflow whose calling step succeeded before and runs again runs
                // all of its steps again.
                let rerun = rerun_children || run.done.contains_key(&key);
                run_nested(run, wf, call, &ctx, key, rerun).await
            } else {
                // Held until the attempt ends.
                let _permit = permit;
                let env = ExecEnv {
                    kubeconfig: run.opts.kubeconfig.as_deref(),
                    linkerd: &run.linkerd,
                    kube: &run.kube,
                    dry_run: run.opts.dry_run,
                    base_dir: wf.base_dir(),
                    timeout,
                };
                let exec = super::executor::execute(step, &ctx, &env);
                match timeout {
                    // The kube wait ends itself at the timeout with the last state it saw; this
                    // is its backstop (a grace period), and the timeout of everything else.
                    Some(t) => {
                        let grace = if matches!(step.action, Action::Kube(_)) {
                            Duration::from_millis(250)
                        } else {
                            Duration::ZERO
                        };
                        match tokio::time::timeout(t + grace, exec).await {
                            Ok(r) => r,
                            Err(_) => Err(StepError::transient(format!(
                                "timed out after {}",
                                humantime::format_duration(t)
                            ))),
                        }
                    }
                    None => exec.await,
                }
            };
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
            Msg::Attempt { inst, result } => {
                let i = self.instances[inst].step;
                let step = &self.steps[i];
                let sensitive = self.sensitive[i];
                let elapsed = self.instances[inst].first_started.elapsed();
                let attempt = self.instances[inst].attempt;
                let key = self.instances[inst].key.clone();
                match result {
                    Ok(out) => {
                        if sensitive {
                            // Everything this step produced is secret from now on.
                            self.run.redactor.add(&out.record.stdout);
                            self.run.redactor.add(&out.record.stderr);
                            for v in out.record.outputs.values() {
                                if let Some(s) = v.as_str() {
                                    self.run.redactor.add(s);
                                }
                            }
                        }
                        let item = self.instances[inst].item.clone();
                        self.record_result(i, item.as_ref(), out.record.clone());
                        let result = (!sensitive).then(|| {
                            let mut r = out.record.clone();
                            r.stdout = self.run.redactor.redact(&r.stdout);
                            r.stderr = self.run.redactor.redact(&r.stderr);
                            if let serde_json::Value::Object(o) = self.run.redactor.redact_json(
                                &serde_json::Value::Object(std::mem::take(&mut r.outputs)),
                            ) {
                                r.outputs = o;
                            }
                            r.object = r.object.map(|o| self.run.redactor.redact_json(&o));
                            r
                        });
                        self.batch.push(EventKind::StepSucceeded {
                            step: key,
                            attempt,
                            duration_ms: elapsed.as_millis() as u64,
                            result,
                            sensitive,
                            summary: out.summary.map(|s| self.run.redactor.redact(&s)),
                        });
                        if matches!(step.action, Action::Print(_)) && !sensitive {
                            self.run
                                .add_report(self.run.redactor.redact(&out.record.stdout));
                        }
                        self.instance_over(i);
                    }
                    Err(err) => {
                        let policy = step.retry;
                        let message = if sensitive {
                            without_output(&err.message)
                        } else {
                            err.message
                        };
                        let message = self.run.redactor.redact(&message);
                        if err.retryable
                            && attempt < policy.attempts
                            && !self.run.cancel.is_cancelled()
                        {
                            let delay = policy.delay_after(attempt, err.retry_after);
                            self.batch.push(EventKind::AttemptFailed {
                                step: key,
                                attempt,
                                error: message,
                                retry_in_ms: delay.as_millis() as u64,
                            });
                            running.push(
                                async move {
                                    tokio::time::sleep(delay).await;
                                    Msg::RetryDue { inst }
                                }
                                .boxed_local(),
                            );
                        } else {
                            let item = self.instances[inst].item.clone();
                            self.record_failure(i, item.as_ref(), &message);
                            self.batch.push(EventKind::StepFailed {
                                step: key,
                                attempt,
                                error: message,
                                duration_ms: elapsed.as_millis() as u64,
                                continue_on_error: step.continue_on_error,
                            });
                            self.mark_instance_failed(i);
                            self.instance_over(i);
                        }
                    }
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

/// A sensitive step's error without the output tail that a failed program leaves in it
/// (`linkerd exited with 1: <stderr tail>`): that output is the secret, and the redactor only
/// learns a step's secrets when it succeeds.
fn without_output(message: &str) -> String {
    match message.split_once(": ") {
        Some((head, _)) if head.contains(" exited with ") || head.ends_with(" by a signal") => {
            format!("{head} (output hidden: the step is sensitive)")
        }
        _ => message.to_string(),
    }
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
    let mut given = serde_json::Map::new();
    for (name, v) in &call.with {
        let value = template::render_value(v, ctx)
            .map_err(|e| StepError::permanent(format!("with.{name}: {e}")))?;
        given.insert(name.clone(), value);
    }
    let values: crate::params::ParamValues = given.into_iter().collect();
    let origin = format!("workflow `{}`", call.path);
    let params = crate::params::bind(&child.params, &values, &run.config.value, &origin)
        .map_err(|p| StepError::permanent(p.to_string().trim().to_string()))?;
    let params = serde_json::to_value(&params).unwrap_or_default();
    match run_level(run, child, params, format!("{key}."), rerun).await {
        LevelOutcome::Succeeded => Ok(StepOutput {
            summary: Some(format!("workflow {} succeeded", child.name)),
            ..Default::default()
        }),
        LevelOutcome::Failed => Err(StepError::permanent(format!(
            "workflow {} failed",
            child.name
        ))),
        LevelOutcome::Interrupted => Err(StepError::permanent("interrupted")),
    }
}
