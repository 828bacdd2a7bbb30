//! A run's journal in Secrets: chunks `mcflow-run-<run-id>-NNNN`, each batch one data key,
//! every write a merge patch conditional on the chunk's resourceVersion.
//!
//! Fencing: each chunk names its writer (annotation [`WRITER`]). A runner that opens a run
//! (resume, or a takeover after the lease expired) first rewrites the tail chunk's writer: the
//! takeover record. The old writer's next write carries a stale resourceVersion, gets 409,
//! reads the chunk, finds another writer and stops with [`StateError::Fenced`]. When its write
//! did land and only the answer was lost (a dropped connection), the chunk shows its own batch
//! under its own name, and the write counts as made.

use std::collections::BTreeMap;
use std::sync::Arc;

use ::kube::api::{ListParams, Patch, PatchParams, PostParams};
use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::json;

use super::{CHUNK, CHUNK_BYTES, Inner, KubeStore, MANAGED_BY, RUN_ID, WORKFLOW, WRITER};
use crate::journal::{Event, StateError};
use crate::kube::{KubeError, KubeErrorKind, RequestRetry};
use crate::state::RunKey;

/// The chunk this process appends to, as last seen.
#[derive(Debug, Clone)]
pub struct Tail {
    chunk: u32,
    resource_version: String,
    bytes: usize,
    next_key: u64,
}

fn chunk_name(run_id: &str, chunk: u32) -> String {
    format!("mcflow-run-{run_id}-{chunk:04}")
}

/// A label value from any text: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn label_value(text: &str) -> String {
    let v: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn tail_of(secret: &Secret) -> Tail {
    let data = secret.data.clone().unwrap_or_default();
    let chunk = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CHUNK))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Tail {
        chunk,
        resource_version: secret.metadata.resource_version.clone().unwrap_or_default(),
        bytes: data.values().map(|v| v.0.len()).sum(),
        next_key: data
            .keys()
            .filter_map(|k| k.parse::<u64>().ok())
            .max()
            .map_or(0, |k| k + 1),
    }
}

fn writer_of(secret: &Secret) -> String {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(WRITER))
        .cloned()
        .unwrap_or_else(|| "an unknown writer".into())
}

/// A run's chunks, in order.
async fn chunks(i: &Inner, run_id: &str) -> Result<Vec<Secret>, StateError> {
    let lp = ListParams::default().labels(&format!("{MANAGED_BY}=mcflow,{RUN_ID}={run_id}"));
    let api = i.secrets();
    let list = RequestRetry::default()
        .run("list secrets", || async {
            api.list(&lp).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| i.err("list", "secrets", e))?;
    let mut items = list.items;
    items.sort_by_key(|s| tail_of(s).chunk);
    Ok(items)
}

/// A run's journal bytes, chunks and batches in order; `None` when it has no chunk.
pub async fn read(i: &Inner, run_id: &str) -> Result<Option<Vec<u8>>, StateError> {
    let items = chunks(i, run_id).await?;
    if items.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for s in items {
        // BTreeMap: keys in order, and the keys are zero-padded sequence numbers.
        for v in s.data.unwrap_or_default().values() {
            out.extend_from_slice(&v.0);
        }
    }
    Ok(Some(out))
}

fn labels(run_id: &str, workflow: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), "mcflow".to_string()),
        (RUN_ID.to_string(), run_id.to_string()),
        (WORKFLOW.to_string(), label_value(workflow)),
    ])
}

/// Creates a run: its index ConfigMap and its first, empty chunk written by this process.
pub async fn create(
    i: &Inner,
    run_id: &str,
    key: &RunKey,
    workflow: &str,
) -> Result<Tail, StateError> {
    let index: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": format!("mcflow-run-{run_id}"), "labels": labels(run_id, workflow)},
        "data": {
            "workflow": workflow, "run_key": key.to_string(), "lock": key.object_name(),
            "started_by": i.me, "started": crate::journal::now(),
        },
    }))
    .map_err(|e| super::store_err(&i.context, &i.namespace, e.to_string()))?;
    let api = i.config_maps();
    let made = RequestRetry::default()
        .run("create configmap", || async {
            api.create(&PostParams::default(), &index)
                .await
                .map_err(KubeError::from)
        })
        .await;
    match made {
        // A retried create whose first try landed: the run ids are unique, so it is ours.
        Ok(_) => {}
        Err(e) if e.kind == KubeErrorKind::Conflict => {}
        Err(e) => return Err(i.err("create", "configmaps", e)),
    }
    create_chunk(i, run_id, workflow, 0).await
}

async fn create_chunk(
    i: &Inner,
    run_id: &str,
    workflow: &str,
    chunk: u32,
) -> Result<Tail, StateError> {
    let mut l = labels(run_id, workflow);
    l.insert(CHUNK.to_string(), chunk.to_string());
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": chunk_name(run_id, chunk), "labels": l,
                     "annotations": {WRITER: i.me}},
        "type": "mcflow.io/journal",
    }))
    .map_err(|e| super::store_err(&i.context, &i.namespace, e.to_string()))?;
    let api = i.secrets();
    let made = RequestRetry::default()
        .run("create secret", || async {
            api.create(&PostParams::default(), &secret)
                .await
                .map_err(KubeError::from)
        })
        .await;
    match made {
        Ok(s) => Ok(tail_of(&s)),
        Err(e) if e.kind == KubeErrorKind::Conflict => {
            // Made by our own first try, or by another writer: the chunk says which.
            let current = get_chunk(i, run_id, chunk).await?;
            if writer_of(&current) == i.me {
                Ok(tail_of(&current))
            } else {
                Err(fenced(run_id, &current))
            }
        }
        Err(e) => Err(i.err("create", "secrets", e)),
    }
}

async fn get_chunk(i: &Inner, run_id: &str, chunk: u32) -> Result<Secret, StateError> {
    let api = i.secrets();
    let name = chunk_name(run_id, chunk);
    RequestRetry::default()
        .run("get secret", || async {
            api.get(&name).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| i.err("get", "secrets", e))
}

fn fenced(run_id: &str, current: &Secret) -> StateError {
    StateError::Fenced {
        run_id: run_id.to_string(),
        holder: writer_of(current),
    }
}

/// A merge patch of a chunk, applied only to `resource_version`.
async fn patch_chunk(
    i: &Inner,
    run_id: &str,
    tail: &Tail,
    patch: serde_json::Value,
) -> Result<Secret, KubeError> {
    let mut patch = patch;
    patch["metadata"]["resourceVersion"] = json!(tail.resource_version);
    let api = i.secrets();
    let name = chunk_name(run_id, tail.chunk);
    RequestRetry::default()
        .run("patch secret", || async {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(KubeError::from)
        })
        .await
}

/// Opens a run for writing: rewrites its tail chunk's writer to this process (the takeover
/// record), so that any other writer's next write is refused.
pub async fn claim(i: &Inner, run_id: &str) -> Result<Tail, StateError> {
    for _ in 0..10 {
        let items = chunks(i, run_id).await?;
        let Some(last) = items.last() else {
            return Err(StateError::NoSuchRun(run_id.to_string()));
        };
        let tail = tail_of(last);
        let patch = json!({"metadata": {"annotations": {WRITER: i.me}}});
        match patch_chunk(i, run_id, &tail, patch).await {
            Ok(s) => return Ok(tail_of(&s)),
            // Written meanwhile (the old writer's last batch): read again and claim that.
            Err(e) if e.kind == KubeErrorKind::Conflict => continue,
            Err(e) => return Err(i.err("patch", "secrets", e)),
        }
    }
    Err(super::store_err(
        &i.context,
        &i.namespace,
        format!("run {run_id}: its journal kept changing while this process took it over"),
    ))
}

/// Appends one batch (whole JSON lines) and returns the new tail.
pub async fn append(
    i: &Inner,
    run_id: &str,
    workflow: &str,
    tail: Tail,
    batch: Vec<u8>,
) -> Result<Tail, StateError> {
    let mut tail = tail;
    if tail.bytes > 0 && tail.bytes + batch.len() > CHUNK_BYTES {
        tail = roll(i, run_id, workflow, &tail).await?;
    }
    let key = format!("{:06}", tail.next_key);
    let value = base64::engine::general_purpose::STANDARD.encode(&batch);
    let patch = json!({"data": {key.clone(): value}});
    match patch_chunk(i, run_id, &tail, patch).await {
        Ok(s) => Ok(tail_of(&s)),
        Err(e) if e.kind == KubeErrorKind::Conflict => {
            let current = get_chunk(i, run_id, tail.chunk).await?;
            let landed = current
                .data
                .as_ref()
                .and_then(|d| d.get(&key))
                .is_some_and(|v| v.0 == batch);
            if writer_of(&current) == i.me && landed {
                Ok(tail_of(&current))
            } else {
                Err(fenced(run_id, &current))
            }
        }
        Err(e) => Err(i.err("patch", "secrets", e)),
    }
}

/// The tail chunk is full: mark it (a conditional write, so a takeover is noticed here too)
/// and start the next.
async fn roll(i: &Inner, run_id: &str, workflow: &str, tail: &Tail) -> Result<Tail, StateError> {
    let patch = json!({"metadata": {"annotations": {"mcflow.io/full": "true"}}});
    match patch_chunk(i, run_id, tail, patch).await {
        Ok(_) => {}
        Err(e) if e.kind == KubeErrorKind::Conflict => {
            let current = get_chunk(i, run_id, tail.chunk).await?;
            if writer_of(&current) != i.me
                || current
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("mcflow.io/full"))
                    .is_none()
            {
                return Err(fenced(run_id, &current));
            }
        }
        Err(e) => return Err(i.err("patch", "secrets", e)),
    }
    create_chunk(i, run_id, workflow, tail.chunk + 1).await
}

/// A run's journal in the kube store, open for appending by this process.
pub struct KubeJournal {
    store: Arc<KubeStore>,
    run_id: String,
    workflow: String,
    tail: Tail,
    buf: Vec<u8>,
    /// A write failed or was refused: nothing more is written from this process.
    broken: Option<String>,
}

impl KubeJournal {
    /// Creates a run in the store.
    pub fn create(
        store: Arc<KubeStore>,
        run_id: &str,
        key: &RunKey,
        workflow: &str,
    ) -> Result<KubeJournal, StateError> {
        let (id, k, w) = (run_id.to_string(), key.clone(), workflow.to_string());
        let tail = store.block(move |i| async move { create(&i, &id, &k, &w).await })?;
        Ok(KubeJournal::with(store, run_id, workflow, tail))
    }

    /// Opens an existing run, taking it over (see the module documentation).
    pub fn open(
        store: Arc<KubeStore>,
        run_id: &str,
        workflow: &str,
    ) -> Result<KubeJournal, StateError> {
        let id = run_id.to_string();
        let tail = store.block(move |i| async move { claim(&i, &id).await })?;
        Ok(KubeJournal::with(store, run_id, workflow, tail))
    }

    fn with(store: Arc<KubeStore>, run_id: &str, workflow: &str, tail: Tail) -> KubeJournal {
        KubeJournal {
            store,
            run_id: run_id.to_string(),
            workflow: workflow.to_string(),
            tail,
            buf: Vec::with_capacity(4096),
            broken: None,
        }
    }

    /// Where the journal is, for the end-of-run summary.
    pub fn location(&self) -> String {
        format!(
            "{} secrets/mcflow-run-{}-*",
            self.store.describe(),
            self.run_id
        )
    }

    /// Adds an event to the batch; nothing is sent before [`KubeJournal::sync`].
    pub fn push(&mut self, event: &Event) {
        if serde_json::to_writer(&mut self.buf, event).is_ok() {
            self.buf.push(b'\n');
        }
    }

    /// Sends the batch as one conditional write and waits for the API server's answer.
    pub fn sync(&mut self) -> Result<(), StateError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.buf);
        if let Some(why) = &self.broken {
            return Err(StateError::Store {
                store: self.store.describe(),
                message: format!("journal not writable after an earlier error: {why}"),
            });
        }
        let (id, w, tail) = (
            self.run_id.clone(),
            self.workflow.clone(),
            self.tail.clone(),
        );
        let result = self
            .store
            .block(move |i| async move { append(&i, &id, &w, tail, batch).await });
        match result {
            Ok(tail) => {
                self.tail = tail;
                Ok(())
            }
            Err(e) => {
                self.broken = Some(e.to_string());
                Err(e)
            }
        }
    }
}
