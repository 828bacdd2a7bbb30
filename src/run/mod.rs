//! Running a workflow: a new run or the resume of an earlier one. The scheduler decides, the
//! executors act, the journal records (first) and the reporter prints (second).

pub mod executor;
pub mod outputs;
pub mod process;
pub mod scheduler;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, sha256_hex};
use crate::error::Error;
use crate::journal::{
    Event, EventKind, FileRef, JournalWriter, RunStatus, StateDir, StateError, StepRecord,
};
use crate::journal::{Replay, StepStatus};
use crate::prepare::Prepared;
use crate::report::{Reporter, RunSummary};
use crate::secrets::MASK;
use crate::secrets::Redactor;
use crate::workflow::bundle::Bundle;
use crate::workflow::template;
use crate::workflow::validate::load_and_validate;
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
    pub state_dir: PathBuf,
    pub max_parallel: u32,
    pub dry_run: bool,
    pub kubeconfig: Option<PathBuf>,
    pub linkerd: Option<PathBuf>,
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
    pub cancel: CancellationToken,
    /// Steps done in earlier attempts of this run (resume): their records, None if sensitive.
    pub done: HashMap<String, Option<StepRecord>>,
    journal: Mutex<JournalWriter>,
    reporter: Mutex<Box<dyn Reporter>>,
    /// This attempt's events replayed: the end-of-run summary.
    summary: Mutex<Replay>,
    reports: Mutex<Vec<String>>,
    fatal: Mutex<Option<StateError>>,
    has_fatal: AtomicBool,
    started: Instant,
}

impl Run {
    /// Writes events to the journal (one write, one fsync), then hands them to the reporter.
    pub fn emit(&self, kinds: Vec<EventKind>) -> Result<(), StateError> {
        if kinds.is_empty() {
            return Ok(());
        }
        let ts = crate::journal::now();
        let events: Vec<Event> = kinds
            .into_iter()
            .map(|kind| Event {
                ts: ts.clone(),
                kind,
            })
            .collect();
        {
            let mut j = self.journal.lock().map_err(|_| poisoned())?;
            for e in &events {
                j.push(e);
            }
            j.sync()?;
        }
        self.note_summary(&events);
        if let Ok(mut r) = self.reporter.lock() {
            for e in &events {
                r.event(e);
            }
        }
        Ok(())
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
        self.cancel.cancel();
    }

    pub fn is_fatal(&self) -> bool {
        self.has_fatal.load(Ordering::SeqCst)
    }

    /// Keeps the text of a `print` step, shown again at the end of the run.
    pub fn add_report(&self, text: String) {
        if let Ok(mut r) = self.reports.lock() {
            r.push(text);
        }
    }
}

fn poisoned() -> StateError {
    StateError::Io {
        what: "journal lock poisoned",
        path: String::new(),
        source: std::io::Error::other("poisoned"),
    }
}

/// sha256 of every workflow file, by absolute path (a resume may start in another directory).
fn file_hashes(bundle: &Bundle) -> BTreeMap<String, String> {
    bundle
        .files()
        .into_iter()
        .map(|f| {
            (
                absolute(&f.path).display().to_string(),
                sha256_hex(f.text.as_bytes()),
            )
        })
        .collect()
}

/// `path` made absolute against the current directory, so that the journal's paths still
/// name the files when `resume` runs elsewhere.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn state_err(e: StateError) -> Error {
    Error::State(e.to_string())
}

/// The kube contexts a run will use that can be known before it starts (not those computed from
/// step outputs).
fn static_contexts(steps: &[crate::plan::PlannedStep], out: &mut BTreeSet<String>) {
    for s in steps {
        if s.action == crate::workflow::step::ActionKind::Kube
            && let Some(ctx) = s.rendered.get("context").and_then(|c| c.as_str())
            && !ctx.contains('<')
            && !ctx.contains(MASK)
            && !template::is_template(ctx)
        {
            out.insert(ctx.to_string());
        }
        static_contexts(&s.steps, out);
    }
}

/// Before anything runs: every kube context the workflow names must be in the kubeconfig
/// (a usage error, exit 2, listing the available ones), like kubectl.
fn check_contexts(
    bundle: &Bundle,
    params: &crate::params::ParamValues,
    config: &Config,
    kubeconfig: Option<&Path>,
) -> Result<(), Error> {
    let Ok(plan) = crate::plan::build(bundle, params, &config.value) else {
        return Ok(());
    };
    let mut contexts = BTreeSet::new();
    static_contexts(&plan.steps, &mut contexts);
    if contexts.is_empty() {
        return Ok(());
    }
    let runtime = crate::kube::KubeRuntime::new(kubeconfig.map(Path::to_path_buf))
        .map_err(|e| Error::Usage(e.to_string()))?;
    let available = runtime.contexts();
    let missing: Vec<&String> = contexts.iter().filter(|c| !available.contains(c)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.iter().map(|c| format!("\"{c}\"")).collect();
    Err(Error::Usage(format!(
        "context {} {} not in the kubeconfig; available contexts: {}",
        names.join(", "),
        if missing.len() == 1 { "is" } else { "are" },
        available.join(", ")
    )))
}

/// Starts a new run of a prepared workflow.
pub async fn start(
    prepared: Prepared,
    opts: RunOptions,
    reporter: Box<dyn Reporter>,
) -> Result<RunSummary, Error> {
    check_contexts(
        &prepared.bundle,
        &prepared.params,
        &prepared.config,
        opts.kubeconfig.as_deref(),
    )?;
    let state = StateDir::new(&opts.state_dir);
    let run_id = state.new_run_id();
    let journal = JournalWriter::create(&state, &run_id).map_err(state_err)?;
    let root = &prepared.bundle.root;
    let mut masked = Vec::new();
    let params: BTreeMap<String, serde_json::Value> = prepared
        .params
        .iter()
        .map(|(k, v)| {
            if root.params.get(k).is_some_and(|s| s.sensitive) {
                masked.push(k.clone());
                (k.clone(), serde_json::json!(MASK))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let started_event = EventKind::RunStarted {
        run_id: run_id.clone(),
        workflow: absolute(root.path()).display().to_string(),
        workflow_name: root.name.clone(),
        files: file_hashes(&prepared.bundle),
        config: match (&prepared.config.path, &prepared.config.sha256) {
            (Some(p), Some(h)) => Some(FileRef {
                path: absolute(p).display().to_string(),
                sha256: h.clone(),
            }),
            _ => None,
        },
        params,
        masked_params: masked,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        dry_run: opts.dry_run,
    };
    let params = serde_json::to_value(&prepared.params).unwrap_or_default();
    execute(
        prepared.bundle,
        prepared.config,
        run_id,
        opts,
        journal,
        reporter,
        started_event,
        HashMap::new(),
        params,
    )
    .await
}

/// Resumes run `run_id`: succeeded steps are skipped, the rest run again.
pub async fn resume(
    run_id: &str,
    allow_changed: bool,
    opts: RunOptions,
    reporter: Box<dyn Reporter>,
) -> Result<RunSummary, Error> {
    let state = StateDir::new(&opts.state_dir);
    let run_id = state.existing(run_id).map_err(state_err)?;
    // Lock first: a second resume fails here, naming the holder.
    let journal = JournalWriter::open(&state, &run_id).map_err(state_err)?;
    let read = crate::journal::read(journal.path()).map_err(state_err)?;
    let Some(EventKind::RunStarted {
        workflow,
        files,
        config,
        params,
        masked_params,
        dry_run,
        ..
    }) = read.events.first().map(|e| e.kind.clone())
    else {
        return Err(Error::State(format!(
            "{}: the journal does not start with run_started",
            journal.path().display()
        )));
    };
    if let Some(EventKind::RunFinished {
        status: RunStatus::Succeeded,
        ..
    }) = read.events.last().map(|e| &e.kind)
    {
        return Err(Error::State(format!(
            "run {run_id} already succeeded; nothing to resume"
        )));
    }
    if dry_run != opts.dry_run {
        let (was, now) = if dry_run {
            ("a --dry-run run", "without --dry-run")
        } else {
            ("a real run", "with --dry-run")
        };
        return Err(Error::State(format!(
            "run {run_id} was {was}; it cannot be resumed {now} (its steps did {} change the clusters); start a new run",
            if dry_run { "not" } else { "really" }
        )));
    }
    if !masked_params.is_empty() {
        return Err(Error::State(format!(
            "run {run_id} has sensitive params ({}) that were not journaled; start a new run",
            masked_params.join(", ")
        )));
    }
    let cfg = Config::load(
        Some(Path::new(
            &config.as_ref().map(|c| c.path.clone()).unwrap_or_default(),
        ))
        .filter(|p| !p.as_os_str().is_empty()),
    )
    .map_err(|p| Error::State(format!("cannot reload the run's config: {}", p.message)))?;
    let bundle = load_and_validate(Path::new(&workflow), Some(&cfg.value))?;
    let mut changed = Vec::new();
    let now = file_hashes(&bundle);
    for (path, sha) in &files {
        if now.get(path) != Some(sha) {
            changed.push(format!("workflow file {path}"));
        }
    }
    for path in now.keys() {
        if !files.contains_key(path) {
            changed.push(format!("workflow file {path} (new)"));
        }
    }
    if let Some(c) = &config
        && cfg.sha256.as_deref() != Some(c.sha256.as_str())
    {
        changed.push(format!("config {}", c.path));
    }
    if !changed.is_empty() && !allow_changed {
        return Err(Error::State(format!(
            "run {run_id} cannot resume: changed since it started: {}; pass --allow-changed to resume anyway",
            changed.join(", ")
        )));
    }
    // The latest outcome of a step wins: a success that a later attempt replaced (started
    // again, then failed or cut short) is not done any more.
    let done = crate::journal::replay::replay(&read.events).done();
    let mut reporter = reporter;
    if read.torn_tail {
        reporter.note(&format!(
            "warning: {}: the last line was cut short (a crash mid-write) and was ignored",
            journal.path().display()
        ));
    }
    let event = EventKind::RunResumed {
        run_id: run_id.clone(),
        pid: std::process::id(),
        changed,
    };
    let params = serde_json::to_value(&params).unwrap_or_default();
    execute(
        bundle, cfg, run_id, opts, journal, reporter, event, done, params,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    bundle: Bundle,
    config: Config,
    run_id: String,
    opts: RunOptions,
    journal: JournalWriter,
    reporter: Box<dyn Reporter>,
    first_event: EventKind,
    done: HashMap<String, Option<StepRecord>>,
    params: serde_json::Value,
) -> Result<RunSummary, Error> {
    let journal_path = journal.path().display().to_string();
    let linkerd = LinkerdBin::choose(opts.linkerd.as_deref(), &config.value);
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
        cancel: CancellationToken::new(),
        done,
        journal: Mutex::new(journal),
        reporter: Mutex::new(reporter),
        summary: Mutex::new(Replay::new()),
        reports: Mutex::new(Vec::new()),
        fatal: Mutex::new(None),
        has_fatal: AtomicBool::new(false),
        started: Instant::now(),
    };
    run.emit(vec![first_event]).map_err(state_err)?;
    let interrupts = crate::interrupt::listen(run.cancel.clone());
    let outcome = run_level(&run, &run.bundle.root, params, String::new(), false).await;
    interrupts.abort();
    if let Some(e) = run.fatal.lock().ok().and_then(|mut f| f.take()) {
        return Err(state_err(e));
    }
    let status = match outcome {
        LevelOutcome::Succeeded => RunStatus::Succeeded,
        LevelOutcome::Failed => RunStatus::Failed,
        LevelOutcome::Interrupted => RunStatus::Interrupted,
    };
    let history = run
        .summary
        .lock()
        .map(|s| s.history().clone())
        .unwrap_or_default();
    let count = |pred: fn(StepStatus) -> bool| history.count(pred) as u32;
    let finished = EventKind::RunFinished {
        status,
        duration_ms: run.started.elapsed().as_millis() as u64,
        succeeded: count(StepStatus::is_success),
        failed: count(|s| s == StepStatus::Failed),
        skipped: count(|s| s == StepStatus::Skipped),
    };
    run.emit(vec![finished]).map_err(state_err)?;
    let reports = run.reports.lock().map(|r| r.clone()).unwrap_or_default();
    let summary = RunSummary {
        reports,
        run_id,
        workflow: run.bundle.root.name.clone(),
        status,
        duration: run.started.elapsed(),
        journal: journal_path,
        // Steps still running when the run ended were cut short: they did not run to an end.
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
    };
    if let Ok(mut r) = run.reporter.lock() {
        r.finish(&summary);
    }
    match status {
        RunStatus::Succeeded => Ok(summary),
        RunStatus::Failed => Err(Error::StepFailed),
        RunStatus::Interrupted => Err(Error::Interrupted),
    }
}
