//! Resuming a run: the checks that refuse a resume, what changed since the run started, the
//! steps already done.

use std::collections::BTreeMap;
use std::path::Path;

use super::launch::file_hashes;
use super::{RunOptions, Setup, execute, state_err};
use crate::config::Config;
use crate::error::Error;
use crate::journal::{Event, EventKind, FileRef, JournalRead, RunStatus};
use crate::report::{Reporter, RunSummary};
use crate::state::{Journal, KeyLock, RunKey, Store};
use crate::workflow::bundle::Bundle;
use crate::workflow::validate::load_and_validate;

/// Resumes run `run_id`: succeeded steps are skipped, the rest run again.
pub async fn resume(
    run_id: &str,
    allow_changed: bool,
    opts: RunOptions,
    reporter: Box<dyn Reporter>,
) -> Result<RunSummary, Error> {
    let store = Store::open(&opts.state, opts.kubeconfig.as_deref()).map_err(state_err)?;
    let run_id = store.existing(run_id).map_err(state_err)?;
    let (key_lock, journal, read) = lock_and_open(&store, &run_id, opts.wait_lock)?;
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
            journal.location()
        )));
    };
    refuse_unresumable(&run_id, &read.events, dry_run, opts.dry_run, &masked_params)?;
    let cfg = Config::load(
        Some(Path::new(
            &config.as_ref().map(|c| c.path.clone()).unwrap_or_default(),
        ))
        .filter(|p| !p.as_os_str().is_empty()),
    )
    .map_err(|p| Error::State(format!("cannot reload the run's config: {}", p.message)))?;
    let bundle = load_and_validate(Path::new(&workflow), Some(&cfg.value))?;
    let changed = changed_since(&bundle, &files, config.as_ref(), &cfg);
    if !changed.is_empty() && !allow_changed {
        return Err(Error::State(format!(
            "run {run_id} cannot resume: changed since it started: {}; pass --allow-changed to resume anyway",
            changed.join(", ")
        )));
    }
    // The latest outcome of a step wins: a success that a later attempt replaced (started
    // again, then failed or cut short) is not done any more.
    let done = crate::journal::replay::replay(&read.events).done();
    let linkerd = super::executor::LinkerdBin::choose(opts.linkerd.as_deref(), &cfg.value);
    super::linkerd_cli::check(&bundle, &linkerd).await?;
    let mut reporter = reporter;
    if read.torn_tail {
        reporter.note(&format!(
            "warning: {}: the last line was cut short (a crash mid-write) and was ignored",
            journal.location()
        ));
    }
    let setup = Setup {
        bundle,
        config: cfg,
        first_event: EventKind::RunResumed {
            run_id: run_id.clone(),
            pid: std::process::id(),
            changed,
        },
        run_id,
        journal,
        key_lock,
        done,
        params: serde_json::to_value(&params).unwrap_or_default(),
    };
    execute(setup, opts, reporter).await
}

/// Takes the run's key lock (a second resume, or a new run of the same key, fails here naming
/// the holder), then opens its journal for appending (the local run lock; in the kube store the
/// takeover record), then reads it: what it says once no one else can write to it.
fn lock_and_open(
    store: &Store,
    run_id: &str,
    wait: Option<std::time::Duration>,
) -> Result<(KeyLock, Journal, JournalRead), Error> {
    let before = store.read(run_id).map_err(state_err)?;
    let Some(EventKind::RunStarted {
        workflow_name,
        params,
        masked_params,
        target_params,
        ..
    }) = before.events.first().map(|e| &e.kind)
    else {
        return Err(Error::State(format!(
            "run {run_id}: the journal does not start with run_started"
        )));
    };
    let key = RunKey::new(workflow_name, params, masked_params, target_params);
    // Locally the run's own lock comes first, so that a second resume of a running run names
    // its pid; in the kube store the Lease must be held before the takeover record is written.
    let (key_lock, journal) = match store {
        Store::Local(_) => {
            let journal = store.open_run(run_id, workflow_name).map_err(state_err)?;
            (
                store.lock_key(&key, run_id, wait).map_err(state_err)?,
                journal,
            )
        }
        Store::Kube(_) => {
            let key_lock = store.lock_key(&key, run_id, wait).map_err(state_err)?;
            (
                key_lock,
                store.open_run(run_id, workflow_name).map_err(state_err)?,
            )
        }
    };
    let read = store.read(run_id).map_err(state_err)?;
    Ok((key_lock, journal, read))
}

/// A run that cannot be resumed as asked: it succeeded, it was a dry run (or was not), or it
/// has sensitive params that were never journaled.
fn refuse_unresumable(
    run_id: &str,
    events: &[Event],
    dry_run: bool,
    now_dry_run: bool,
    masked_params: &[String],
) -> Result<(), Error> {
    if let Some(EventKind::RunFinished {
        status: RunStatus::Succeeded,
        ..
    }) = events.last().map(|e| &e.kind)
    {
        return Err(Error::State(format!(
            "run {run_id} already succeeded; nothing to resume"
        )));
    }
    if dry_run != now_dry_run {
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
    Ok(())
}

/// What changed since the run started: its workflow files and its config.
fn changed_since(
    bundle: &Bundle,
    files: &BTreeMap<String, String>,
    config: Option<&FileRef>,
    cfg: &Config,
) -> Vec<String> {
    let mut changed = Vec::new();
    let now = file_hashes(bundle);
    for (path, sha) in files {
        if now.get(path) != Some(sha) {
            changed.push(format!("workflow file {path}"));
        }
    }
    for path in now.keys() {
        if !files.contains_key(path) {
            changed.push(format!("workflow file {path} (new)"));
        }
    }
    if let Some(c) = config
        && cfg.sha256.as_deref() != Some(c.sha256.as_str())
    {
        changed.push(format!("config {}", c.path));
    }
    changed
}
