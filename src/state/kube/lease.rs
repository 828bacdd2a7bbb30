//! The run-key lock in the kube store: a `coordination.k8s.io/v1` Lease named after the run key
//! ([`RunKey::object_name`]), held as client-go's leader election holds one
//! (k8s.io/client-go tools/leaderelection/leaderelection.go, tryAcquireOrRenew): a free or
//! expired Lease is taken with an update conditional on its resourceVersion (409: someone else
//! was faster, look again), the holder renews it every third of its duration, and lets it go
//! at the end by clearing `holderIdentity`.
//!
//! Expiry is judged from the Lease's `renewTime` plus `leaseDurationSeconds` against this
//! machine's clock (client-go judges from when it first saw the record, which suits a
//! long-lived candidate, not a one-shot CLI); clocks of CI runners are NTP-synced, and the
//! fencing of the journal (see [`super::journal`]) holds even when a clock is off.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::kube::api::{Api, PostParams};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Inner, KubeStore, MANAGED_BY};
use crate::journal::StateError;
use crate::kube::{KubeError, KubeErrorKind, RequestRetry};
use crate::state::RunKey;

/// Annotation: the run that holds the Lease.
const HOLDER_RUN: &str = "mcflow.io/run-id";
/// Annotation: the run key in words.
const RUN_KEY: &str = "mcflow.io/run-key";

/// How long a Lease lives unrenewed: `MCFLOW_LEASE_DURATION` (humantime), default 30 s.
pub fn lease_duration() -> Duration {
    std::env::var("MCFLOW_LEASE_DURATION")
        .ok()
        .and_then(|v| humantime::parse_duration(v.trim()).ok())
        .filter(|d| *d >= Duration::from_secs(1))
        .unwrap_or(Duration::from_secs(30))
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap_or(i64::MAX)
}

fn holder_of(l: &Lease) -> Option<String> {
    l.spec
        .as_ref()?
        .holder_identity
        .clone()
        .filter(|h| !h.is_empty())
}

fn annotation(l: &Lease, key: &str) -> Option<String> {
    l.metadata.annotations.as_ref()?.get(key).cloned()
}

/// When an unrenewed Lease expires, in milliseconds since the epoch.
fn expires_ms(l: &Lease) -> i64 {
    let spec = l.spec.as_ref();
    let renew = spec
        .and_then(|s| s.renew_time.as_ref().or(s.acquire_time.as_ref()))
        .map_or(0, |t| t.0.as_millisecond());
    let secs = spec
        .and_then(|s| s.lease_duration_seconds)
        .map_or(0, i64::from);
    renew + secs * 1000
}

fn time_text(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// Whether a live holder has `l` for run `run_id` now.
pub fn held_for(l: &Lease, run_id: &str) -> bool {
    holder_of(l).is_some()
        && annotation(l, HOLDER_RUN).as_deref() == Some(run_id)
        && expires_ms(l) >= Timestamp::now().as_millisecond()
}

/// The Lease as this process holds it (`old` when updating one).
fn held(
    i: &Inner,
    name: &str,
    key: &RunKey,
    run_id: &str,
    old: Option<&Lease>,
) -> Result<Lease, StateError> {
    let now = crate::journal::now();
    let transitions = old
        .and_then(|l| l.spec.as_ref()?.lease_transitions)
        .unwrap_or(0);
    let changed = old.is_some_and(|l| holder_of(l).as_deref() != Some(i.me.as_str()));
    let v = json!({
        "metadata": {
            "name": name,
            "resourceVersion": old.and_then(|l| l.metadata.resource_version.clone()),
            "labels": {MANAGED_BY: "mcflow"},
            "annotations": {HOLDER_RUN: run_id, RUN_KEY: key.to_string()},
        },
        "spec": {
            "holderIdentity": i.me,
            "leaseDurationSeconds": seconds(lease_duration()),
            "acquireTime": now, "renewTime": now,
            "leaseTransitions": transitions + i32::from(changed),
        },
    });
    serde_json::from_value(v).map_err(|e| super::store_err(&i.context, &i.namespace, e.to_string()))
}

/// What taking the Lease found.
pub struct Acquired {
    lease: Lease,
    /// The run whose holder's Lease had expired and was taken over.
    pub taken_from: Option<String>,
}

/// Takes the run key's Lease, waiting up to `wait` for its holder to let go or expire.
pub async fn acquire(
    i: &Inner,
    key: &RunKey,
    run_id: &str,
    wait: Option<Duration>,
) -> Result<Acquired, StateError> {
    let name = key.object_name();
    let api: Api<Lease> = Api::namespaced(i.client.clone(), &i.namespace);
    let deadline = Instant::now() + wait.unwrap_or_default();
    let mut told = false;
    loop {
        let current = RequestRetry::default()
            .run("get lease", || async {
                api.get_opt(&name).await.map_err(KubeError::from)
            })
            .await
            .map_err(|e| i.err("get", "leases.coordination.k8s.io", e))?;
        let now = Timestamp::now().as_millisecond();
        let free = |l: &Lease| holder_of(l).is_none_or(|h| h == i.me) || expires_ms(l) < now;
        let attempt = match &current {
            None => {
                let lease = held(i, &name, key, run_id, None)?;
                api.create(&PostParams::default(), &lease).await
            }
            Some(l) if free(l) => {
                let lease = held(i, &name, key, run_id, Some(l))?;
                api.replace(&name, &PostParams::default(), &lease).await
            }
            Some(l) => {
                let holder = format!(
                    "{} (run {})",
                    holder_of(l).unwrap_or_default(),
                    annotation(l, HOLDER_RUN).unwrap_or_else(|| "?".into())
                );
                let now = Instant::now();
                if now >= deadline {
                    return Err(StateError::KeyLocked {
                        key: key.to_string(),
                        holder,
                        expires: Some(time_text(expires_ms(l))),
                    });
                }
                if !told {
                    crate::state::tell_waiting(key, &holder, deadline - now);
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        match attempt.map_err(KubeError::from) {
            Ok(lease) => {
                let taken_from = current
                    .as_ref()
                    .filter(|l| holder_of(l).is_some_and(|h| h != i.me))
                    .and_then(|l| annotation(l, HOLDER_RUN));
                return Ok(Acquired { lease, taken_from });
            }
            // Another runner was faster, or the API hiccupped: look again.
            Err(e) if e.kind == KubeErrorKind::Conflict || e.transient => continue,
            Err(e) => {
                let verb = if current.is_none() {
                    "create"
                } else {
                    "update"
                };
                return Err(i.err(verb, "leases.coordination.k8s.io", e));
            }
        }
    }
}

/// A held Lease: renewed in the background until dropped, then released.
pub struct LeaseGuard {
    store: Arc<KubeStore>,
    name: String,
    lease: Arc<Mutex<Lease>>,
    stop: CancellationToken,
    lost: Arc<Mutex<Option<String>>>,
    on_lost: Arc<Mutex<Option<CancellationToken>>>,
}

impl LeaseGuard {
    /// Holds `acquired` and starts renewing it.
    pub fn hold(store: Arc<KubeStore>, key: &RunKey, acquired: Acquired) -> LeaseGuard {
        let guard = LeaseGuard {
            store,
            name: key.object_name(),
            lease: Arc::new(Mutex::new(acquired.lease)),
            stop: CancellationToken::new(),
            lost: Arc::new(Mutex::new(None)),
            on_lost: Arc::new(Mutex::new(None)),
        };
        let renewal = Renewal {
            inner: guard.store.inner.clone(),
            name: guard.name.clone(),
            lease: guard.lease.clone(),
            stop: guard.stop.clone(),
            lost: guard.lost.clone(),
            on_lost: guard.on_lost.clone(),
        };
        guard.store.bridge.spawn(renewal.run());
        guard
    }

    /// Cancels `token` when the Lease is lost (taken over, or not renewed in time).
    pub fn on_lost(&self, token: CancellationToken) {
        if let Ok(mut t) = self.on_lost.lock() {
            *t = Some(token);
        }
        if self.lost().is_some()
            && let Ok(t) = self.on_lost.lock()
            && let Some(t) = t.as_ref()
        {
            t.cancel();
        }
    }

    /// Why the Lease was lost, if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        if self.lost().is_some() {
            return;
        }
        let Ok(mut lease) = self.lease.lock().map(|l| l.clone()) else {
            return;
        };
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
        }
        let name = self.name.clone();
        // Best effort: an unreleased Lease expires by itself.
        let _ = self.store.block(move |i| async move {
            let api: Api<Lease> = Api::namespaced(i.client.clone(), &i.namespace);
            let _ = api.replace(&name, &PostParams::default(), &lease).await;
            Ok(())
        });
    }
}

/// The background renewal of a held Lease.
struct Renewal {
    inner: Inner,
    name: String,
    lease: Arc<Mutex<Lease>>,
    stop: CancellationToken,
    lost: Arc<Mutex<Option<String>>>,
    on_lost: Arc<Mutex<Option<CancellationToken>>>,
}

impl Renewal {
    async fn run(self) {
        let duration = lease_duration();
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(duration / 3) => {}
            }
            match self.renew().await {
                Ok(()) => renewed = Instant::now(),
                Err(Some(why)) => return self.lose(why),
                Err(None) if renewed.elapsed() >= duration => {
                    return self.lose(format!(
                        "could not renew the lock Lease {} for {}",
                        self.name,
                        humantime::format_duration(duration)
                    ));
                }
                Err(None) => {}
            }
        }
    }

    /// One renewal: `Err(Some(why))` when the Lease is someone else's now.
    async fn renew(&self) -> Result<(), Option<String>> {
        let api: Api<Lease> = Api::namespaced(self.inner.client.clone(), &self.inner.namespace);
        let Ok(mut lease) = self.lease.lock().map(|l| l.clone()) else {
            return Err(None);
        };
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                Timestamp::now(),
            ));
        }
        match api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(l) => {
                if let Ok(mut held) = self.lease.lock() {
                    *held = l;
                }
                Ok(())
            }
            Err(e) => {
                let e = KubeError::from(e);
                if e.kind != KubeErrorKind::Conflict && e.kind != KubeErrorKind::NotFound {
                    return Err(None);
                }
                let now = api.get_opt(&self.name).await.ok().flatten();
                let holder = now.as_ref().and_then(holder_of);
                match (now, holder) {
                    (Some(l), Some(h)) if h == self.inner.me => {
                        if let Ok(mut held) = self.lease.lock() {
                            *held = l;
                        }
                        Err(None)
                    }
                    (_, h) => Err(Some(format!(
                        "the lock Lease {} was taken over by {}",
                        self.name,
                        h.unwrap_or_else(|| "nobody (it was deleted)".into())
                    ))),
                }
            }
        }
    }

    fn lose(&self, why: String) {
        if let Ok(mut l) = self.lost.lock() {
            *l = Some(why);
        }
        if let Ok(t) = self.on_lost.lock()
            && let Some(t) = t.as_ref()
        {
            t.cancel();
        }
    }
}
