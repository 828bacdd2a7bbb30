//! Where runs are kept, behind one interface: the local store (the state directory, `.mcflow`,
//! the default) or the kube store (`--state kube:<context>/<namespace>`: a namespace of the hub
//! cluster, so a run outlives the machine that started it). The runner, `resume`, `runs` and
//! `show` use a [`Store`] and do not care which.
//!
//! A [`Store`] gives a run's [`Journal`] (written before the step it records acts: fsync'd
//! locally, acknowledged by the API server in the kube store) and the run-key lock
//! ([`KeyLock`]): two runs of the same workflow on the same target never run at once.

pub mod holder;
pub mod kube;
mod local_lock;
mod run_key;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::journal::{Event, JournalRead, JournalWriter, StateDir, StateError};
pub use run_key::RunKey;

/// Which store, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// The state directory.
    Local(PathBuf),
    /// `kube:<context>/<namespace>`.
    Kube { context: String, namespace: String },
}

impl StateLocation {
    /// Parses `local` or `kube:<context>/<namespace>` (`state_dir` is the local store's place).
    pub fn parse(spec: &str, state_dir: &Path) -> Result<StateLocation, String> {
        let spec = spec.trim();
        if spec == "local" {
            return Ok(StateLocation::Local(state_dir.to_path_buf()));
        }
        let bad =
            || format!("state store {spec:?}: expected `local` or `kube:<context>/<namespace>`");
        let rest = spec.strip_prefix("kube:").ok_or_else(bad)?;
        // A context name may hold `/` (EKS ARNs do); the namespace cannot.
        let (context, namespace) = rest.rsplit_once('/').ok_or_else(bad)?;
        let ns_ok = !namespace.is_empty()
            && namespace.len() <= 63
            && namespace
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if context.is_empty() || !ns_ok {
            return Err(bad());
        }
        Ok(StateLocation::Kube {
            context: context.to_string(),
            namespace: namespace.to_string(),
        })
    }

    /// The store to use: `--state`/`MCFLOW_STATE`, else the config's `state:`, else local.
    pub fn choose(
        flag: Option<&str>,
        config: &serde_json::Value,
        state_dir: &Path,
    ) -> Result<StateLocation, String> {
        let from_config = config.get("state").and_then(|s| s.as_str());
        match flag.or(from_config) {
            Some(spec) => StateLocation::parse(spec, state_dir),
            None => Ok(StateLocation::Local(state_dir.to_path_buf())),
        }
    }
}

/// A store of runs.
#[derive(Clone)]
pub enum Store {
    Local(StateDir),
    Kube(Arc<kube::KubeStore>),
}

impl Store {
    /// Opens the store (for the kube store: its client; nothing is requested yet).
    pub fn open(location: &StateLocation, kubeconfig: Option<&Path>) -> Result<Store, StateError> {
        Ok(match location {
            StateLocation::Local(dir) => Store::Local(StateDir::new(dir)),
            StateLocation::Kube { context, namespace } => {
                Store::Kube(kube::KubeStore::connect(kubeconfig, context, namespace)?)
            }
        })
    }

    /// The store in words: the state directory's path, or `kube:<context>/<namespace>`.
    pub fn describe(&self) -> String {
        match self {
            Store::Local(s) => s.root().display().to_string(),
            Store::Kube(k) => k.describe(),
        }
    }

    /// A fresh run id (sortable by time).
    pub fn new_run_id(&self) -> String {
        StateDir::new(Path::new(".")).new_run_id()
    }

    /// Run ids, oldest first.
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        match self {
            Store::Local(s) => s.list(),
            Store::Kube(k) => k.list(),
        }
    }

    /// The newest run.
    pub fn last(&self) -> Result<String, StateError> {
        self.list()?
            .pop()
            .ok_or_else(|| StateError::NoRuns(self.describe()))
    }

    /// A run id that names an existing run.
    pub fn existing(&self, run_id: &str) -> Result<String, StateError> {
        match self {
            Store::Local(s) => s.existing(run_id),
            Store::Kube(_) if self.list()?.iter().any(|id| id == run_id) => Ok(run_id.to_string()),
            Store::Kube(_) => Err(StateError::NoSuchRun(run_id.to_string())),
        }
    }

    /// Reads a run's journal.
    /// Where run `run_id`'s attempt log is on this machine (see [`Journal::attempts_dir`]).
    pub fn attempts_dir(&self, run_id: &str) -> PathBuf {
        match self {
            Store::Local(s) => s.run_dir(run_id),
            Store::Kube(_) => std::env::temp_dir().join(format!("mcflow-run-{run_id}")),
        }
    }

    pub fn read(&self, run_id: &str) -> Result<JournalRead, StateError> {
        match self {
            Store::Local(s) => crate::journal::read(&s.journal_path(run_id)),
            Store::Kube(k) => {
                let bytes = k
                    .read(run_id)?
                    .ok_or_else(|| StateError::NoSuchRun(run_id.to_string()))?;
                crate::journal::parse(&bytes, &format!("{} run {run_id}", k.describe()))
            }
        }
    }

    /// Creates a new run's journal.
    pub fn create(&self, run_id: &str, key: &RunKey) -> Result<Journal, StateError> {
        Ok(match self {
            Store::Local(s) => Journal::Local(JournalWriter::create(s, run_id)?),
            Store::Kube(k) => Journal::Kube(kube::KubeJournal::create(
                k.clone(),
                run_id,
                key,
                &key.workflow,
            )?),
        })
    }

    /// Opens an existing run's journal for appending (in the kube store: taking it over).
    pub fn open_run(&self, run_id: &str, workflow: &str) -> Result<Journal, StateError> {
        Ok(match self {
            Store::Local(s) => Journal::Local(JournalWriter::open(s, run_id)?),
            Store::Kube(k) => Journal::Kube(kube::KubeJournal::open(k.clone(), run_id, workflow)?),
        })
    }

    /// Takes the run-key lock for `run_id`, waiting up to `wait` for the holder; without a
    /// wait, a held lock is [`StateError::KeyLocked`] naming the holder. In the kube store, a
    /// lock taken over from an expired holder fences that holder's run first.
    pub fn lock_key(
        &self,
        key: &RunKey,
        run_id: &str,
        wait: Option<Duration>,
    ) -> Result<KeyLock, StateError> {
        match self {
            Store::Local(s) => {
                s.ensure()?;
                Ok(KeyLock::Local(local_lock::lock(
                    s.root(),
                    key,
                    run_id,
                    wait,
                )?))
            }
            Store::Kube(k) => {
                let (kk, id) = (key.clone(), run_id.to_string());
                let acquired =
                    k.block(
                        move |i| async move { kube::lease::acquire(&i, &kk, &id, wait).await },
                    )?;
                if let Some(old) = acquired.taken_from.clone().filter(|old| old != run_id) {
                    match kube::KubeJournal::open(k.clone(), &old, &key.workflow) {
                        Ok(_) | Err(StateError::NoSuchRun(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(KeyLock::Kube(kube::LeaseGuard::hold(
                    k.clone(),
                    key,
                    acquired,
                )))
            }
        }
    }
}

impl Store {
    /// Whether run `run_id` is running now: its journal's lock is held (local), or its run
    /// key's Lease is held for it (kube).
    pub fn running(&self, run_id: &str) -> Result<bool, StateError> {
        match self {
            Store::Local(s) => match JournalWriter::open(s, run_id) {
                Ok(_) => Ok(false),
                Err(StateError::Locked { .. }) => Ok(true),
                Err(e) => Err(e),
            },
            Store::Kube(k) => k.running(run_id),
        }
    }

    /// Deletes a run (the caller checks that it is not running).
    pub fn delete(&self, run_id: &str) -> Result<(), StateError> {
        match self {
            Store::Local(s) => {
                let dir = s.run_dir(&s.existing(run_id)?);
                // Held while the directory goes: a resume starting now waits for it, then
                // finds no run.
                let _held = JournalWriter::open(s, run_id)?;
                std::fs::remove_dir_all(&dir).map_err(|source| StateError::Io {
                    what: "cannot delete run",
                    path: dir.display().to_string(),
                    source,
                })
            }
            Store::Kube(k) => k.delete(run_id),
        }
    }

    /// Writes a run read from another store into this one, under its own id.
    pub fn import(&self, run_id: &str, events: &[Event]) -> Result<(), StateError> {
        let Some(crate::journal::EventKind::RunStarted {
            workflow_name,
            params,
            masked_params,
            target_params,
            ..
        }) = events.first().map(|e| &e.kind)
        else {
            return Err(StateError::Corrupt {
                path: format!("run {run_id}"),
                line: 1,
                reason: "the journal does not start with run_started".into(),
            });
        };
        let key = RunKey::new(workflow_name, params, masked_params, target_params);
        let mut journal = self.create(run_id, &key)?;
        // Batches of whole events of about 64 KiB, each well under a kube chunk.
        let mut bytes = 0;
        for e in events {
            journal.push(e);
            bytes += serde_json::to_vec(e).map_or(0, |v| v.len());
            if bytes >= 64 * 1024 {
                journal.sync()?;
                bytes = 0;
            }
        }
        journal.sync()
    }
}

/// Says once that this run queues for a lock (`--wait-lock`), on the log channel (stderr).
fn tell_waiting(key: &RunKey, holder: &str, left: Duration) {
    tracing::warn!(
        "waiting up to {} for `{key}`, which {holder} is running",
        humantime::format_duration(Duration::from_secs(left.as_secs().max(1)))
    );
}

/// A run's journal open for appending.
pub enum Journal {
    Local(JournalWriter),
    Kube(kube::KubeJournal),
}

impl Journal {
    /// Adds an event to the batch.
    pub fn push(&mut self, event: &Event) {
        match self {
            Journal::Local(j) => j.push(event),
            Journal::Kube(j) => j.push(event),
        }
    }

    /// Writes the batch: fsync'd, or acknowledged by the API server. Act only after this.
    pub fn sync(&mut self) -> Result<(), StateError> {
        match self {
            Journal::Local(j) => j.sync(),
            Journal::Kube(j) => j.sync(),
        }
    }

    /// Writes the batch and returns its number; the local store makes it durable later, at
    /// [`Journal::sync_through`] (group commit, docs/RELIABILITY.md). The kube store has no
    /// such step: its write is acknowledged by the API server now, so every batch is durable
    /// when this returns.
    pub fn write(&mut self) -> Result<u64, StateError> {
        match self {
            Journal::Local(j) => j.write(),
            Journal::Kube(j) => j.sync().map(|()| 0),
        }
    }

    /// Makes every batch up to `batch` durable (one fdatasync for all of them, local).
    pub fn sync_through(&mut self, batch: u64) -> Result<(), StateError> {
        match self {
            Journal::Local(j) => j.sync_through(batch),
            Journal::Kube(_) => Ok(()),
        }
    }

    /// fdatasyncs of the local journal so far (the kube store makes none).
    pub fn fsyncs(&self) -> u64 {
        match self {
            Journal::Local(j) => j.fsyncs(),
            Journal::Kube(_) => 0,
        }
    }

    /// Where the run's attempt log (every program attempt's redacted output, for `show --step`)
    /// is kept: the run's directory; with the kube store a directory on this machine, since
    /// program output is not stored in the cluster.
    pub fn attempts_dir(&self, run_id: &str) -> PathBuf {
        match self {
            Journal::Local(j) => j.path().parent().unwrap_or(Path::new(".")).to_path_buf(),
            Journal::Kube(_) => std::env::temp_dir().join(format!("mcflow-run-{run_id}")),
        }
    }

    /// Where it is, for the end-of-run summary.
    pub fn location(&self) -> String {
        match self {
            Journal::Local(j) => j.path().display().to_string(),
            Journal::Kube(j) => j.location(),
        }
    }
}

/// A held run-key lock: released when dropped.
pub enum KeyLock {
    Local(local_lock::LocalKeyLock),
    Kube(kube::LeaseGuard),
}

impl KeyLock {
    /// Cancels `token` if the lock is lost (the kube store's Lease taken over or not renewed).
    pub fn on_lost(&self, token: CancellationToken) {
        if let KeyLock::Kube(g) = self {
            g.on_lost(token);
        }
    }

    /// Why the lock was lost, if it was.
    pub fn lost(&self) -> Option<String> {
        match self {
            KeyLock::Local(_) => None,
            KeyLock::Kube(g) => g.lost(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_store_specs() {
        let dir = Path::new(".mcflow");
        assert_eq!(
            StateLocation::parse("kube:internal/mcflow", dir),
            Ok(StateLocation::Kube {
                context: "internal".into(),
                namespace: "mcflow".into()
            })
        );
        assert_eq!(
            StateLocation::parse("kube:arn:aws:eks:r:1:cluster/x/mcflow-state", dir),
            Ok(StateLocation::Kube {
                context: "arn:aws:eks:r:1:cluster/x".into(),
                namespace: "mcflow-state".into()
            })
        );
        assert_eq!(
            StateLocation::parse("local", dir),
            Ok(StateLocation::Local(dir.into()))
        );
        for bad in ["kube:internal", "kube:/ns", "kube:c/Bad_NS", "s3://x", ""] {
            assert!(StateLocation::parse(bad, dir).is_err(), "{bad}");
        }
        let config = serde_json::json!({"state": "kube:hub/runs"});
        assert_eq!(
            StateLocation::choose(None, &config, dir),
            StateLocation::parse("kube:hub/runs", dir)
        );
        assert_eq!(
            StateLocation::choose(Some("local"), &config, dir),
            Ok(StateLocation::Local(dir.into()))
        );
    }
}
