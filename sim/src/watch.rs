//! Watch streams: initial events, replay from a resourceVersion, live events, bookmarks, 410.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiError;
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::{ClusterState, lock, render};
use crate::store::{EventType, StoreEvent};

/// What a watch asks for.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// The type.
    pub rt: ResourceType,
    /// The version to render objects in.
    pub version: String,
    /// Namespace, or all.
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// Send objects as one-row Tables (`Accept: ...;as=Table`): the CRD, if any, and what rows carry.
    pub table: Option<(Option<Value>, crate::table::IncludeObject)>,
}

impl WatchRequest {
    fn matches(&self, ev: &StoreEvent, obj: &Value) -> bool {
        if ev.type_key != self.rt.key() {
            return false;
        }
        if let Some(ns) = &self.namespace
            && self.rt.namespaced
            && obj.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns.as_str())
        {
            return false;
        }
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The watch event type this store event becomes for this watch, if any (an object that
    /// stops matching the selectors is DELETED for the watcher; one that starts is ADDED).
    fn translate(&self, ev: &StoreEvent) -> Option<&'static str> {
        let now = self.matches(ev, &ev.object);
        match ev.kind {
            EventType::Added => now.then_some("ADDED"),
            EventType::Deleted => now.then_some("DELETED"),
            EventType::Modified => {
                let before = ev.old.as_ref().is_some_and(|o| self.matches(ev, o));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        }
    }

    fn line(&self, kind: &str, obj: Value) -> Bytes {
        let obj = match (&self.table, kind) {
            (Some((crd, include)), "ADDED" | "MODIFIED" | "DELETED") => crate::table::table(
                &self.rt,
                crd.as_ref(),
                &self.version,
                &[obj],
                None,
                *include,
            ),
            _ => obj,
        };
        let mut s =
            serde_json::to_string(&json!({"type": kind, "object": obj})).unwrap_or_default();
        s.push('\n');
        Bytes::from(s)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut md = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.line(
            "BOOKMARK",
            json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(&self.version), "metadata": md}),
        )
    }
}

/// Start a watch; the receiver yields newline-delimited JSON watch events until the timeout, a
/// lagging consumer, or the client going away.
pub fn start(
    cluster: Arc<ClusterState>,
    req: WatchRequest,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial = Vec::new();
    let (sub, start_rv) = {
        let store = lock(&cluster.store);
        let rv_param = req.resource_version.clone().unwrap_or_default();
        let from_now = rv_param.is_empty() || rv_param == "0";
        let want_initial = req.send_initial_events.unwrap_or(from_now);
        if from_now || want_initial {
            if want_initial {
                for ((t, _, _), o) in store.objects.iter() {
                    let fake = StoreEvent {
                        rv: 0,
                        type_key: t.clone(),
                        kind: EventType::Added,
                        object: o.clone(),
                        old: None,
                    };
                    if req.matches(&fake, o) {
                        initial.push(req.line("ADDED", render(o.clone(), &req.rt, &req.version)));
                    }
                }
            }
            if req.send_initial_events == Some(true) {
                initial.push(req.bookmark(store.rv, true));
            }
        } else {
            let rv: u64 = rv_param.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {rv_param}"))
            })?;
            if rv < store.oldest_watchable {
                let err = ApiError::expired(rv, store.oldest_watchable);
                initial.push(req.line("ERROR", err.to_status()));
                let _ = tx.try_send(initial.remove(0));
                return Ok(rx);
            }
            for ev in store.history.iter().filter(|e| e.rv > rv) {
                if let Some(t) = req.translate(ev) {
                    initial.push(req.line(t, render(ev.object.clone(), &req.rt, &req.version)));
                }
            }
        }
        (store.tx.subscribe(), store.rv)
    };
    tokio::spawn(run(cluster, req, tx, sub, initial, start_rv));
    Ok(rx)
}

async fn run(
    cluster: Arc<ClusterState>,
    req: WatchRequest,
    tx: mpsc::Sender<Bytes>,
    mut sub: broadcast::Receiver<Arc<StoreEvent>>,
    initial: Vec<Bytes>,
    start_rv: u64,
) {
    for line in initial {
        if tx.send(line).await.is_err() {
            return;
        }
    }
    let deadline = req.timeout.map(|t| tokio::time::Instant::now() + t);
    let interval = cluster.config.bookmark_interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut last_rv = start_rv;
    loop {
        let sleep_until =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            ev = sub.recv() => match ev {
                Ok(ev) => {
                    if ev.rv <= start_rv { continue; }
                    last_rv = ev.rv;
                    if let Some(t) = req.translate(&ev) {
                        let line = req.line(t, render(ev.object.clone(), &req.rt, &req.version));
                        if tx.send(line).await.is_err() { return; }
                    }
                }
                Err(_) => return,
            },
            _ = tick.tick(), if req.bookmarks => {
                if tx.send(req.bookmark(last_rv, false)).await.is_err() { return; }
            }
            _ = tx.closed() => return,
            _ = tokio::time::sleep_until(sleep_until), if deadline.is_some() => return,
        }
    }
}
