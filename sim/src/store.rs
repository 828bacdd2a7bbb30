//! A cluster's object store: objects, the resourceVersion counter and the event history that
//! watches resume from.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

/// `(type key, namespace, name)`; the namespace is `""` for cluster-scoped objects.
pub type ObjKey = (String, String, String);

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted (the object is its last state).
    Deleted,
}

impl EventType {
    /// The watch event `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to the store.
#[derive(Debug, Clone)]
pub struct StoreEvent {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// The type key (`<group>/<plural>`).
    pub type_key: String,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for Deleted: its last state, with the new rv).
    pub object: Value,
    /// The object before the change, if any.
    pub old: Option<Value>,
}

/// The store itself. Lives behind a `std::sync::Mutex` in the cluster state.
pub struct Store {
    /// The last resourceVersion handed out.
    pub rv: u64,
    /// All objects, stored with the storage version's apiVersion.
    pub objects: BTreeMap<ObjKey, Value>,
    /// Recent events, oldest first.
    pub history: VecDeque<Arc<StoreEvent>>,
    /// How many events the history keeps.
    pub history_limit: usize,
    /// Watches from a resourceVersion below this get 410 Gone.
    pub oldest_watchable: u64,
    /// Live event feed for watches and reactors.
    pub tx: broadcast::Sender<Arc<StoreEvent>>,
    uid_counter: u64,
    seed: u64,
}

impl Store {
    /// An empty store whose resourceVersions start after `start_rv`.
    pub fn new(start_rv: u64, seed: u64) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Store {
            rv: start_rv,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: 10_000,
            oldest_watchable: start_rv,
            tx,
            uid_counter: 0,
            seed,
        }
    }

    /// A fresh unique uid (deterministic for a seed).
    pub fn new_uid(&mut self) -> String {
        self.uid_counter += 1;
        let a = self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.uid_counter;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            (self.uid_counter >> 12) & 0xfff,
            self.uid_counter & 0xfff,
            self.seed.wrapping_add(self.uid_counter) & 0xffff_ffff_ffff
        )
    }

    /// Take the next resourceVersion.
    pub fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Record an event in the history and send it to watchers.
    pub fn emit(&mut self, ev: StoreEvent) {
        let ev = Arc::new(ev);
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.oldest_watchable = old.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Forget all history (like an etcd compaction): watches from older versions get 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest_watchable = self.rv;
    }
}
