//! `wait`: watch one object until a condition holds.
//!
//! A watch, not polling: one LIST and one WATCH (`fieldSelector=metadata.name=<name>`), then
//! every change of the object arrives as an event and is checked against the condition (each
//! condition is one small function of the object, or of its absence). A transient failure of the
//! watch (503, a dropped connection) re-establishes it after a short backoff; a permanent one
//! (401, 403, a kind that is not served) fails the step at once.
//!
//! The step's timeout drops this future; a `timeout` inside the op ends the wait here instead,
//! with the last state seen in the message ("Deployment x: Available=False
//! (MinimumReplicasUnavailable)").

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::kube::runtime::watcher::{self, Event};
use futures::StreamExt;
use serde_json::Value;

use super::action::{WaitFor, WaitOp};
use super::client::{ContextClient, MAX_WATCHES_PER_CLUSTER};
use super::error::{KubeError, KubeErrorKind};
use super::{KubeOutcome, Scoped, object};
use crate::backoff::Backoff;

/// Pauses before a failed watch is started again.
const WATCH_BACKOFF: Backoff =
    Backoff::doubling(Duration::from_millis(200), Duration::from_millis(3200));
/// The longest pause before watching again, whatever the server's Retry-After says.
const MAX_WATCH_PAUSE: Duration = Duration::from_secs(5);

/// What a wait has seen so far, for the live display ("waiting for Deployment x on hub: last
/// seen Available=False, 4m 12s left").
#[derive(Debug, Clone)]
pub struct WaitSeen {
    /// `Deployment linkerd/linkerd-gateway on hub` (the object and its context).
    pub target: String,
    /// The last state seen in words (`Available=False (MinimumReplicasUnavailable)`).
    pub state: String,
    pub started: Instant,
    /// When the wait gives up, if it has a limit.
    pub deadline: Option<Instant>,
}

/// Who hears what waits see: the runner sets one around a step's future (a task-local, so that
/// the kube layer needs no handle on the reporter).
pub type WaitWatcher = Arc<dyn Fn(&WaitSeen) + Send + Sync>;

tokio::task_local! {
    pub static WAIT_WATCHER: WaitWatcher;
}

impl WaitSeen {
    /// Records a new state and tells the watcher, if there is one.
    fn set(&mut self, state: String) {
        self.state = state;
        let _ = WAIT_WATCHER.try_with(|w| w(self));
    }
}

/// Watches `op`'s object until its condition holds.
pub(crate) async fn wait(
    cc: &ContextClient,
    op: &WaitOp,
    step_timeout: Option<Duration>,
) -> Result<KubeOutcome, KubeError> {
    let scoped = Scoped::new(
        cc,
        &op.kind,
        op.api_version.as_deref(),
        op.namespace.as_deref(),
    )
    .await?;
    let target = scoped.name(&op.name);
    let what = format!(
        "wait for {target} to be {} on context {}",
        op.for_.describe(),
        cc.name
    );
    let own = match op.timeout.as_deref().map(humantime::parse_duration) {
        None => None,
        Some(Ok(limit)) => Some(limit),
        Some(Err(e)) => return Err(KubeError::invalid(format!("{what}: timeout: {e}"))),
    };
    let limit = match (own, step_timeout) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let started = Instant::now();
    let mut seen = WaitSeen {
        target: format!("{target} on {}", cc.name),
        state: String::new(),
        started,
        deadline: limit.map(|l| started + l),
    };
    seen.set("not seen yet".to_string());
    let watched = match limit {
        None => watch_in_a_slot(cc, &scoped, op, &mut seen).await,
        Some(limit) => {
            match tokio::time::timeout(limit, watch_in_a_slot(cc, &scoped, op, &mut seen)).await {
                Ok(result) => result,
                Err(_) => {
                    let limit = humantime::format_duration(limit);
                    // Not retried: the wait used its whole timeout, and another attempt would only
                    // wait as long again (bootstrap's 5-minute waits became 15 minutes); a longer
                    // wait is a longer `timeout`. Errors of the watch itself stay transient.
                    let mut e = KubeError::new(
                        KubeErrorKind::Timeout,
                        format!(
                            "{what}: gave up after {limit}; last seen: {target}: {} (not retried: give the step a longer timeout to wait longer)",
                            seen.state
                        ),
                    );
                    e.transient = false;
                    return Err(e);
                }
            }
        }
    };
    let obj = watched.map_err(|e| e.context(&what))?;
    let summary = match op.for_ {
        WaitFor::Exists => format!("{target} exists"),
        WaitFor::Deleted => format!("{target} is gone"),
        _ => format!("{target} is {}", op.for_.describe()),
    };
    Ok(KubeOutcome {
        summary,
        changed: false,
        object: obj.map(object::redact),
        outputs: Default::default(),
    })
}

/// A `--dry-run`'s wait: one look instead of a watch. The writes before it were dry runs, so
/// what it waits for may never come: it says "would wait for …" with what it sees now.
pub(crate) async fn look_once(cc: &ContextClient, op: &WaitOp) -> Result<KubeOutcome, KubeError> {
    let scoped = Scoped::new(
        cc,
        &op.kind,
        op.api_version.as_deref(),
        op.namespace.as_deref(),
    )
    .await?;
    let target = scoped.name(&op.name);
    let what = format!(
        "{target} to be {} on context {}",
        op.for_.describe(),
        cc.name
    );
    let current = scoped
        .api
        .get_opt(&op.name)
        .await
        .map_err(|e| KubeError::from(e).context(&format!("wait for {what}")))?
        .map(|o| scoped.json(&o));
    let summary = if holds(&op.for_, current.as_ref()) {
        format!("{target} is {} already (dry run)", op.for_.describe())
    } else {
        let now = state(&op.for_, current.as_ref());
        format!("would wait for {what} (dry run: not waited for; now: {now})")
    };
    Ok(KubeOutcome {
        summary,
        changed: false,
        object: current.map(object::redact),
        outputs: Default::default(),
    })
}

/// [`watch`] once one of the cluster's watch slots is free (kube/client.rs,
/// `MAX_WATCHES_PER_CLUSTER`); the wait's timeout counts the time queued.
async fn watch_in_a_slot(
    cc: &ContextClient,
    scoped: &Scoped,
    op: &WaitOp,
    seen: &mut WaitSeen,
) -> Result<Option<Value>, KubeError> {
    let _slot = match cc.watch_slots.try_acquire() {
        Ok(slot) => slot,
        Err(_) => {
            seen.set(format!(
                "queued: {MAX_WATCHES_PER_CLUSTER} other waits are watching {}",
                cc.name
            ));
            cc.watch_slots
                .acquire()
                .await
                .map_err(|_| KubeError::new(KubeErrorKind::Other, "the client was closed"))?
        }
    };
    watch(scoped, op, seen).await
}

/// Follows the object's events until the condition holds; `seen` is kept up to date with the
/// state seen, for the timeout message and the live display.
async fn watch(
    scoped: &Scoped,
    op: &WaitOp,
    seen: &mut WaitSeen,
) -> Result<Option<Value>, KubeError> {
    let config = watcher::Config::default().fields(&format!("metadata.name={}", op.name));
    let mut events = std::pin::pin!(watcher::watcher(scoped.api.clone(), config));
    // Whether the object was listed in the current (re)list: if not, it does not exist.
    let mut listed = false;
    let mut failures = 0u32;
    while let Some(event) = events.next().await {
        let current = match event {
            Ok(Event::Init) => {
                listed = false;
                continue;
            }
            Ok(Event::InitApply(obj)) => {
                listed = true;
                Some(scoped.json(&obj))
            }
            Ok(Event::InitDone) if listed => continue,
            Ok(Event::InitDone) | Ok(Event::Delete(_)) => None,
            Ok(Event::Apply(obj)) => Some(scoped.json(&obj)),
            Err(e) => {
                let e = KubeError::from(e);
                if !e.transient {
                    return Err(e);
                }
                failures += 1;
                let state = format!(
                    "{} (watch failing: {})",
                    strip_last_error(&seen.state),
                    e.message
                );
                seen.set(state);
                let pause = e
                    .retry_after
                    .unwrap_or_else(|| WATCH_BACKOFF.base(failures));
                tracing::debug!(
                    ?pause,
                    "watch of {} failed: {}; watching again",
                    op.name,
                    e.message
                );
                tokio::time::sleep(pause.min(MAX_WATCH_PAUSE)).await;
                continue;
            }
        };
        failures = 0;
        seen.set(state(&op.for_, current.as_ref()));
        tracing::debug!("watching {}: {}", op.name, seen.state);
        if holds(&op.for_, current.as_ref()) {
            return Ok(current);
        }
        if let Some(why) = cannot_hold(&op.for_, current.as_ref()) {
            return Err(KubeError::new(KubeErrorKind::Other, why));
        }
    }
    let mut ended = KubeError::new(KubeErrorKind::Connection, "the watch ended unexpectedly");
    ended.transient = true;
    Err(ended)
}

fn strip_last_error(last: &str) -> &str {
    last.split(" (watch failing:").next().unwrap_or(last)
}

/// Whether `cond` holds for the object (`None`: it does not exist).
pub(crate) fn holds(cond: &WaitFor, obj: Option<&Value>) -> bool {
    let Some(obj) = obj else {
        return matches!(cond, WaitFor::Deleted);
    };
    match cond {
        WaitFor::Exists => true,
        WaitFor::Deleted => false,
        WaitFor::Available => {
            condition_status(obj, "Available").is_some_and(|(status, _)| status == "True")
        }
        WaitFor::Condition(c) => {
            condition_status(obj, &c.type_).is_some_and(|(status, _)| status == c.status)
        }
        WaitFor::Healthy => text_at(obj, "/status/health/status") == Some("Healthy"),
        WaitFor::Synced => text_at(obj, "/status/sync/status") == Some("Synced"),
        WaitFor::Field(f) => object::field_equals(obj, &f.path, &f.equals),
    }
}

/// Why `cond` will not come to hold without someone fixing something, when the object says so:
/// an Argo CD Application with an error condition, or whose last sync operation failed, is
/// never going to be `synced` or `healthy` by waiting.
///
/// Argo CD (controller/state.go @v3.2.12): when the target state cannot be loaded (a chart
/// version or values file that cannot be had) the Application gets a `ComparisonError`
/// condition, sync status `Unknown` and health `Healthy`, and auto-sync skips it
/// (controller/appcontroller.go: "Skipping auto-sync: application status is Unknown"). Condition
/// types ending in `Error` are the error ones (pkg/apis/application/v1alpha1/types.go:
/// DeletionError, InvalidSpecError, ComparisonError, SyncError, UnknownError); an operation
/// phase `Failed` or `Error` is a sync that ended badly (`status.operationState`).
pub(crate) fn cannot_hold(cond: &WaitFor, obj: Option<&Value>) -> Option<String> {
    if !matches!(cond, WaitFor::Synced | WaitFor::Healthy) {
        return None;
    }
    let obj = obj?;
    let errors: Vec<String> = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let type_ = c.get("type").and_then(Value::as_str)?;
            type_.ends_with("Error").then(|| {
                let message = c.get("message").and_then(Value::as_str).unwrap_or_default();
                format!("{type_}: {message}")
            })
        })
        .collect();
    if !errors.is_empty() {
        return Some(format!(
            "{} (sync is {}, health is {}); fix the Application's source and let Argo CD compare again",
            errors.join("; "),
            text_at(obj, "/status/sync/status").unwrap_or("unknown"),
            text_at(obj, "/status/health/status").unwrap_or("unknown"),
        ));
    }
    let phase = text_at(obj, "/status/operationState/phase")?;
    matches!(phase, "Failed" | "Error").then(|| {
        format!(
            "the last sync operation ended {phase}: {}",
            text_at(obj, "/status/operationState/message").unwrap_or("no message")
        )
    })
}

/// The object's state as far as `cond` is concerned, in words; never a Secret's data value.
pub(crate) fn state(cond: &WaitFor, obj: Option<&Value>) -> String {
    let Some(obj) = obj else {
        return "does not exist".to_string();
    };
    let condition = |type_: &str| match condition_status(obj, type_) {
        Some((status, "")) => format!("{type_}={status}"),
        Some((status, reason)) => format!("{type_}={status} ({reason})"),
        None => format!("no {type_} condition yet"),
    };
    match cond {
        WaitFor::Exists | WaitFor::Deleted => "exists".to_string(),
        WaitFor::Available => condition("Available"),
        WaitFor::Condition(c) => condition(&c.type_),
        WaitFor::Healthy => format!(
            "health is {}",
            text_at(obj, "/status/health/status").unwrap_or("unknown")
        ),
        WaitFor::Synced => format!(
            "sync is {}",
            text_at(obj, "/status/sync/status").unwrap_or("unknown")
        ),
        WaitFor::Field(f) => {
            let pointer = object::to_pointer(&f.path);
            let secret_data = object::is_secret(obj)
                && (pointer.starts_with("/data/") || pointer.starts_with("/stringData/"));
            match object::lookup(obj, &f.path) {
                None => format!("{} is not set", f.path),
                Some(_) if secret_data => format!("{} is {}", f.path, object::REDACTED),
                Some(v) => format!("{} is {}", f.path, object::scalar_text(&v)),
            }
        }
    }
}

fn text_at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// `(status, reason)` of the condition `type_` in `status.conditions`.
fn condition_status<'a>(obj: &'a Value, type_: &str) -> Option<(&'a str, &'a str)> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| {
            (
                c.get("status").and_then(Value::as_str).unwrap_or("Unknown"),
                c.get("reason").and_then(Value::as_str).unwrap_or(""),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::action::{ConditionIs, FieldEquals};
    use serde_json::json;

    fn deployment(status: &str, reason: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "status": {"conditions": [
                   {"type": "Progressing", "status": "True"},
                   {"type": "Available", "status": status, "reason": reason}]}})
    }

    #[test]
    fn available() {
        assert!(holds(
            &WaitFor::Available,
            Some(&deployment("True", "MinimumReplicasAvailable"))
        ));
        let not_yet = deployment("False", "MinimumReplicasUnavailable");
        assert!(!holds(&WaitFor::Available, Some(&not_yet)));
        assert_eq!(
            state(&WaitFor::Available, Some(&not_yet)),
            "Available=False (MinimumReplicasUnavailable)"
        );
        assert_eq!(
            state(&WaitFor::Available, Some(&json!({}))),
            "no Available condition yet"
        );
        assert!(!holds(&WaitFor::Available, None));
        assert_eq!(state(&WaitFor::Available, None), "does not exist");
    }

    #[test]
    fn exists_and_deleted() {
        let obj = json!({"metadata": {"name": "x"}});
        assert!(holds(&WaitFor::Exists, Some(&obj)));
        assert!(!holds(&WaitFor::Exists, None));
        assert!(holds(&WaitFor::Deleted, None));
        assert!(!holds(&WaitFor::Deleted, Some(&obj)));
    }

    #[test]
    fn conditions_and_argo() {
        let ready = WaitFor::Condition(ConditionIs {
            type_: "Progressing".into(),
            status: "True".into(),
        });
        assert!(holds(&ready, Some(&deployment("False", ""))));
        let app =
            json!({"status": {"health": {"status": "Progressing"}, "sync": {"status": "Synced"}}});
        assert!(!holds(&WaitFor::Healthy, Some(&app)));
        assert!(holds(&WaitFor::Synced, Some(&app)));
        assert_eq!(
            state(&WaitFor::Healthy, Some(&app)),
            "health is Progressing"
        );
    }

    #[test]
    fn an_argo_error_condition_ends_the_wait_with_its_message() {
        let app = json!({"status": {
            "sync": {"status": "Unknown"}, "health": {"status": "Healthy"},
            "conditions": [{"type": "ComparisonError", "message": "Failed to load target state: boom"}]}});
        assert!(!holds(&WaitFor::Synced, Some(&app)));
        let why = cannot_hold(&WaitFor::Synced, Some(&app)).expect("fails fast");
        assert!(
            why.starts_with("ComparisonError: Failed to load target state: boom (sync is Unknown"),
            "{why}"
        );
        assert!(cannot_hold(&WaitFor::Healthy, Some(&app)).is_some());
        assert!(cannot_hold(&WaitFor::Exists, Some(&app)).is_none());
        let warning = json!({"status": {"sync": {"status": "OutOfSync"},
            "conditions": [{"type": "SharedResourceWarning", "message": "w"}]}});
        assert!(cannot_hold(&WaitFor::Synced, Some(&warning)).is_none());
        let failed = json!({"status": {"sync": {"status": "OutOfSync"},
            "operationState": {"phase": "Failed", "message": "one or more objects failed to apply"}}});
        assert_eq!(
            cannot_hold(&WaitFor::Synced, Some(&failed)).as_deref(),
            Some("the last sync operation ended Failed: one or more objects failed to apply")
        );
        let running = json!({"status": {"operationState": {"phase": "Running"}}});
        assert!(cannot_hold(&WaitFor::Synced, Some(&running)).is_none());
    }

    #[test]
    fn fields_and_secret_redaction() {
        let svc = json!({"spec": {"ports": [{"nodePort": 30143}]}});
        let port = WaitFor::Field(FieldEquals {
            path: "spec.ports.0.nodePort".into(),
            equals: json!("30143"),
        });
        assert!(holds(&port, Some(&svc)));
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "data": {"token": "Q0FOQVJZ"}});
        let token = WaitFor::Field(FieldEquals {
            path: "data.token".into(),
            equals: json!("other"),
        });
        assert!(!holds(&token, Some(&secret)));
        let said = state(&token, Some(&secret));
        assert!(
            !said.contains("CANARY") && !said.contains("Q0FOQVJZ"),
            "{said}"
        );
        let ok = WaitFor::Field(FieldEquals {
            path: "data.token".into(),
            equals: json!("CANARY"),
        });
        assert!(holds(&ok, Some(&secret)));
    }
}
