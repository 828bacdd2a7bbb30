//! Running a workflow: a new run or the resume of an earlier one. The scheduler decides, the
//! executors act, the journal records (first) and the reporter prints (second).

mod attempt;
mod attempt_output;
mod connect;
pub mod diff_mode;
pub mod executor;
pub mod failure;
mod finally;
mod launch;
mod linkerd_cli;
mod nested_diff;
pub mod outputs;
pub mod process;
mod results;
mod resume;
pub mod save;
pub mod scheduler;

pub use launch::start;
pub use resume::resume;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::Error;
use crate::journal::{Event, EventKind, RunStatus, StateError, StepRecord};
use crate::journal::{Replay, StepStatus};
use crate::report::{Reporter, RunSummary};
use crate::secrets::Redactor;
use crate::state::{Journal, KeyLock, StateLocation};
use crate::workflow::bundle::Bundle;
use executor::LinkerdBin;
use scheduler::{LevelOutcome, run_level};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepFate {
    Succeeded,
    /// `when` was false: dependents still run.
    Skipped,
    /// Not run because a step it needs failed: dependents are blocked too.
    Blocked,
    Failed {
        continue_on_error: bool,
    },
}

/// Options of `run` and `resume`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where runs are kept (`--state`, `--state-dir`).
    pub state: StateLocation,
    /// `--wait-lock`: how long to queue for the run key's lock.
    pub wait_lock: Option<std::time::Duration>,
    pub max_parallel: u32,
    pub dry_run: bool,
    pub kubeconfig: Option<PathBuf>,
    pub linkerd: Option<PathBuf>,
    /// `mcflow diff`: where kube writes (dry runs) record what they would change.
    pub changes: Option<crate::kube::diff::ChangeLog>,
}

/// One run in progress: what every level of the scheduler shares.
pub struct Run {
    pub bundle: Bundle,
    pub config: Config,
    pub run_id: String,
    pub started_at: String,
    pub opts: RunOptions,
    pub linkerd: LinkerdBin,
    pub kube: tokio::sync::OnceCell<Result<crate::kube::KubeRuntime, String>>,
    /// `--max-parallel`: a leaf step takes one before its `step_started` is journaled.
    pub permits: std::sync::Arc<tokio::sync::Semaphore>,
    pub redactor: Redactor,
    /// Cancelled by Ctrl-C, SIGTERM or a journal failure; a new one for the `finally` steps.
    cancel: Mutex<CancellationToken>,
    /// Steps done in earlier attempts of this run (resume): their records, None if sensitive.
    pub done: HashMap<String, Option<StepRecord>>,
    /// Which steps of each workflow are sensitive, by the workflow's address (the bundle
    /// outlives the run): worked out once, not once per nested level or `for_each` instance.
    sensitivity: Mutex<HashMap<usize, Arc<[bool]>>>,
    /// `config` as templates see it, converted once for every level.
    config_value: std::sync::OnceLock<minijinja::Value>,
    journal: Mutex<Journal>,
    /// Written, not yet fsync'd nor reported: see [`Run::emit_last`].
    deferred: Mutex<Vec<Event>>,
    /// Every program attempt's output, redacted, for `mcflow show --step`.
    attempts: crate::journal::AttemptLog,
    /// The run's directory on this machine: the attempt log and the saved diagnostics.
    pub run_dir: PathBuf,
    /// The run key's lock, held until the run ends.
    key_lock: KeyLock,
    /// Shared with the watchers of kube waits ([`Run::wait_watcher`]).
    reporter: std::sync::Arc<Mutex<Box<dyn Reporter>>>,
    /// This attempt's events replayed: the end-of-run summary.
    summary: Mutex<Replay>,
    reports: Mutex<Vec<String>>,
    checks: Mutex<Vec<crate::report::CheckResult>>,
    fatal: Mutex<Option<StateError>>,
    has_fatal: AtomicBool,
    started: Instant,
    /// This attempt resumes an earlier one (`run_resumed`): its duration is not the run's.
    resumed: bool,
}

impl Run {
    /// Journals events, then reports them. A batch that `must_sync` (it has the end of a step
    /// that is not a read: the scheduler knows which) is fsync'd first, after the other levels
    /// of the run had a turn to write what they decided meanwhile, so that one fsync covers them
    /// all (group commit); any other batch (starts, the ends of reads, which a resume runs
    /// again whatever the journal says) is written and reported at once, and reaches the disk
    /// with the next fsync. docs/RELIABILITY.md, "When the journal reaches the disk".
    pub async fn emit(&self, kinds: Vec<EventKind>, must_sync: bool) -> Result<(), StateError> {
        let Some((events, batch, end)) = self.write(kinds, must_sync)? else {
            return Ok(());
        };
        if end {
            tokio::task::yield_now().await;
            self.lock_journal()?.sync_through(batch)?;
        }
        self.report(events);
        Ok(())
    }

    /// The last batch of a level: written now, made durable and reported by the next batch
    /// with an end (the calling step's outcome, or `run_finished`). Nothing acts in between.
    pub fn emit_last(&self, kinds: Vec<EventKind>) -> Result<(), StateError> {
        if let Some((events, _, _)) = self.write(kinds, false)? {
            // The end-of-run summary counts them now: `run_finished`'s emit reports them.
            self.note_summary(&events);
            if let Ok(mut d) = self.deferred.lock() {
                d.extend(events);
            }
        }
        Ok(())
    }

    /// [`Run::emit`] without waiting for other levels: for the run's first and last events.
    fn emit_now(&self, kinds: Vec<EventKind>) -> Result<(), StateError> {
        let must_sync = kinds.iter().any(EventKind::is_end);
        let Some((events, batch, end)) = self.write(kinds, must_sync)? else {
            return Ok(());
        };
        if end {
            self.lock_journal()?.sync_through(batch)?;
        }
        self.report(events);
        Ok(())
    }

    /// Writes a batch (no fsync): the events, the batch's number, and whether it must be
    /// fsync'd before it is reported (`must_sync`: it has an end that is not a read's, or it
    /// follows a deferred end).
    fn write(
        &self,
        kinds: Vec<EventKind>,
        must_sync: bool,
    ) -> Result<Option<(Vec<Event>, u64, bool)>, StateError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let ts = crate::journal::now();
        let events: Vec<Event> = kinds
            .into_iter()
            .map(|kind| Event {
                ts: ts.clone(),
                kind,
            })
            .collect();
        let mut j = self.lock_journal()?;
        for e in &events {
            j.push(e);
        }
        let batch = j.write()?;
        let deferred = self.deferred.lock().is_ok_and(|d| !d.is_empty());
        let end = deferred || must_sync;
        Ok(Some((events, batch, end)))
    }

    fn lock_journal(&self) -> Result<std::sync::MutexGuard<'_, Journal>, StateError> {
        self.journal.lock().map_err(|_| poisoned())
    }

    /// Hands durable events to the summary and the reporter, after any deferred ones (which
    /// the summary has already).
    fn report(&self, events: Vec<Event>) {
        self.note_summary(&events);
        let mut all = self
            .deferred
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        all.extend(events);
        if let Ok(mut r) = self.reporter.lock() {
            for e in &all {
                r.event(e);
            }
        }
    }

    fn note_summary(&self, events: &[Event]) {
        if let Ok(mut s) = self.summary.lock() {
            for e in events {
                s.apply(e);
            }
        }
    }

    pub fn tick(&self) {
        if let Ok(mut r) = self.reporter.lock() {
            r.tick();
        }
    }

    /// Hands what a kube wait of step `key` sees to the reporter (the live display).
    pub fn wait_watcher(&self, key: &str) -> crate::kube::WaitWatcher {
        let reporter = self.reporter.clone();
        let key = key.to_string();
        std::sync::Arc::new(move |seen: &crate::kube::WaitSeen| {
            if let Ok(mut r) = reporter.lock() {
                r.waiting(&key, seen);
            }
        })
    }

    pub fn wants_ticks(&self) -> bool {
        self.reporter
            .lock()
            .map(|r| r.wants_ticks())
            .unwrap_or(false)
    }

    /// The journal cannot be written: stop starting steps, fail the run.
    pub fn fatal(&self, e: StateError) {
        if let Ok(mut f) = self.fatal.lock()
            && f.is_none()
        {
            *f = Some(e);
        }
        self.has_fatal.store(true, Ordering::SeqCst);
        self.cancel_token().cancel();
    }

    /// The token that stops the steps running now (Ctrl-C, SIGTERM, a journal failure).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel
            .lock()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// A fresh token for the steps that run after the main ones were interrupted (`finally`).
    fn renew_cancel_token(&self) -> CancellationToken {
        let token = CancellationToken::new();
        match self.cancel.lock() {
            Ok(mut t) => *t = token.clone(),
            Err(p) => *p.into_inner() = token.clone(),
        }
        token
    }

    pub fn is_fatal(&self) -> bool {
        self.has_fatal.load(Ordering::SeqCst)
    }

    /// Keeps the outcome of a check step for the summary.
    pub fn add_check(&self, check: crate::report::CheckResult) {
        if let Ok(mut c) = self.checks.lock() {
            c.push(check);
        }
    }

    /// Keeps the text of a `print` step, shown again at the end of the run.
    pub fn add_report(&self, text: String) {
        if let Ok(mut r) = self.reports.lock() {
            r.push(text);
        }
    }
}

impl Run {
    /// Which steps of `wf` are sensitive ([`crate::secrets::effective_sensitivity`]), once per
    /// workflow of the run: a `for_each` over a nested workflow would work it out per instance.
    pub(crate) fn sensitivity_of(
        &self,
        wf: &crate::workflow::step::ValidWorkflow,
        sensitive_params: &[String],
    ) -> Arc<[bool]> {
        let compute = || -> Arc<[bool]> {
            crate::secrets::effective_sensitivity(&wf.steps, &wf.vars, sensitive_params).into()
        };
        let Ok(mut cache) = self.sensitivity.lock() else {
            return compute();
        };
        cache
            .entry(std::ptr::from_ref(wf) as usize)
            .or_insert_with(compute)
            .clone()
    }

    /// The run's config as a template value.
    pub(crate) fn config_value(&self) -> minijinja::Value {
        self.config_value
            .get_or_init(|| crate::workflow::template::value_of(&self.config.value))
            .clone()
    }
}

fn poisoned() -> StateError {
    StateError::Io {
        what: "journal lock poisoned",
        path: String::new(),
        source: std::io::Error::other("poisoned"),
    }
}

/// A run ready to execute, new or resumed.
struct Setup {
    bundle: Bundle,
    config: Config,
    run_id: String,
    /// Open (and, in the local store, locked).
    journal: Journal,
    /// The run key's lock.
    key_lock: KeyLock,
    /// `run_started` or `run_resumed`.
    first_event: EventKind,
    /// Steps done in earlier attempts of the run.
    done: HashMap<String, Option<StepRecord>>,
    params: serde_json::Value,
}

async fn execute(
    setup: Setup,
    opts: RunOptions,
    reporter: Box<dyn Reporter>,
) -> Result<RunSummary, Error> {
    let Setup {
        bundle,
        config,
        run_id,
        journal,
        key_lock,
        first_event,
        done,
        params,
    } = setup;
    let linkerd = LinkerdBin::choose(opts.linkerd.as_deref(), &config.value);
    let journal_path = journal.location();
    let run_dir = journal.attempts_dir(&run_id);
    let attempts = crate::journal::AttemptLog::new(&run_dir);
    let run = Run {
        started_at: crate::journal::now(),
        permits: std::sync::Arc::new(tokio::sync::Semaphore::new(opts.max_parallel as usize)),
        bundle,
        config,
        run_id: run_id.clone(),
        opts,
        linkerd,
        kube: tokio::sync::OnceCell::new(),
        redactor: Redactor::default(),
        cancel: Mutex::new(CancellationToken::new()),
        done,
        sensitivity: Mutex::new(HashMap::new()),
        config_value: std::sync::OnceLock::new(),
        journal: Mutex::new(journal),
        deferred: Mutex::new(Vec::new()),
        attempts,
        run_dir,
        key_lock,
        reporter: std::sync::Arc::new(Mutex::new(reporter)),
        summary: Mutex::new(Replay::new()),
        reports: Mutex::new(Vec::new()),
        checks: Mutex::new(Vec::new()),
        fatal: Mutex::new(None),
        has_fatal: AtomicBool::new(false),
        started: Instant::now(),
        resumed: matches!(first_event, EventKind::RunResumed { .. }),
    };
    run.key_lock.on_lost(run.cancel_token());
    run.emit_now(vec![first_event]).map_err(state_err)?;
    if let Ok(mut r) = run.reporter.lock()
        && r.wants_outline()
    {
        r.begin(&crate::report::Outline::of(
            &run.bundle,
            &params,
            &run.config.value,
        ));
    }
    let interrupts = crate::interrupt::listen(run.cancel_token());
    let outcome = run_level(&run, &run.bundle.root, params.clone(), String::new(), false).await;
    interrupts.abort();
    if let Some(e) = run.fatal.lock().ok().and_then(|mut f| f.take()) {
        return Err(state_err(e));
    }
    if let Some(why) = run.key_lock.lost() {
        return Err(Error::State(format!("run {run_id} stopped: {why}")));
    }
    let status = finally::run_finally(&run, params, status_of(outcome)).await;
    if let Some(e) = run.fatal.lock().ok().and_then(|mut f| f.take()) {
        return Err(state_err(e));
    }
    let summary = run.finish(status, journal_path)?;
    if let Ok(mut r) = run.reporter.lock() {
        r.finish(&summary);
    }
    match status {
        RunStatus::Succeeded => Ok(summary),
        RunStatus::Failed => Err(Error::StepFailed),
        RunStatus::Interrupted => Err(Error::Interrupted),
    }
}

fn status_of(outcome: LevelOutcome) -> RunStatus {
    match outcome {
        LevelOutcome::Succeeded => RunStatus::Succeeded,
        LevelOutcome::Failed => RunStatus::Failed,
        LevelOutcome::Interrupted => RunStatus::Interrupted,
    }
}

impl Run {
    /// Journals `run_finished` and makes the summary: this attempt's steps, replayed.
    fn finish(&self, status: RunStatus, journal: String) -> Result<RunSummary, Error> {
        let history = self
            .summary
            .lock()
            .map(|s| s.history().clone())
            .unwrap_or_default();
        let count = |pred: fn(StepStatus) -> bool| history.count(pred) as u32;
        let finished = EventKind::RunFinished {
            status,
            duration_ms: self.started.elapsed().as_millis() as u64,
            succeeded: count(StepStatus::is_success),
            failed: count(|s| s == StepStatus::Failed),
            skipped: count(|s| s == StepStatus::Skipped),
        };
        self.emit_now(vec![finished]).map_err(state_err)?;
        Ok(RunSummary {
            reports: self.reports.lock().map(|r| r.clone()).unwrap_or_default(),
            checks: self.checks.lock().map(|c| c.clone()).unwrap_or_default(),
            run_id: self.run_id.clone(),
            workflow: self.bundle.root.name.clone(),
            status,
            duration: self.started.elapsed(),
            resumed: self.resumed,
            journal,
            // Steps still running when the run ended were cut short: they did not run to an
            // end.
            steps: history
                .steps
                .into_iter()
                .map(|(k, mut s)| {
                    if s.status == StepStatus::Running {
                        s.status = StepStatus::NotRun;
                    }
                    (k, s)
                })
                .collect(),
        })
    }
}

pub(crate) fn state_err(e: crate::journal::StateError) -> Error {
    Error::State(e.to_string())
}
