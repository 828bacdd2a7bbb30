//! Deployments become Available a configurable delay after each create or spec change.

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::managed::now;
use crate::state::lock;
use crate::store::EventType;

const KEY: &str = "apps/deployments";

/// The `status` of a Deployment that is (or is not) available.
pub fn status_for(d: &Value, available: bool) -> Value {
    let replicas = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let generation = d
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let name = d
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let t = now();
    let progressing = json!({
        "type": "Progressing", "status": "True",
        "reason": if available { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
        "message": format!("ReplicaSet \"{name}-5d4b8c7f9\" {}", if available { "has successfully progressed." } else { "is progressing." }),
        "lastUpdateTime": t, "lastTransitionTime": t,
    });
    if available {
        json!({
            "observedGeneration": generation,
            "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": t, "lastTransitionTime": t},
                progressing,
            ]
        })
    } else {
        json!({
            "observedGeneration": generation,
            "replicas": replicas, "updatedReplicas": replicas, "unavailableReplicas": replicas,
            "readyReplicas": null, "availableReplicas": null,
            "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                 "message": "Deployment does not have minimum availability.", "lastUpdateTime": t, "lastTransitionTime": t},
                progressing,
            ]
        })
    }
}

fn generation(d: &Value) -> i64 {
    d.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn observed(d: &Value) -> Option<i64> {
    d.pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
}

fn write_status(c: &Cluster, ns: &str, name: &str, available: bool) {
    if let Some(d) = c.get("apps/v1", "Deployment", ns, name) {
        let _ = c.patch_status("apps/v1", "Deployment", ns, name, status_for(&d, available));
    }
}

/// The deployment controller's Event for a new generation: it scales the generation's new
/// ReplicaSet up (kubernetes pkg/controller/deployment/sync.go `getNewReplicaSet`:
/// `Eventf(d, Normal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", ...)`).
fn record_scaling(c: &Cluster, d: &Value, name: &str) {
    let replicas = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let note = crate::events::EventNote {
        kind: "Normal",
        reason: "ScalingReplicaSet",
        message: format!("Scaled up replica set {name}-5d4b8c7f9 from 0 to {replicas}"),
        component: "deployment-controller",
    };
    crate::events::record(c, d, &note);
}

/// Watch the cluster's Deployments and drive their status.
/// Subscribes at once (when the future is made, not when it first runs), so that a Deployment
/// created right after the simulator starts is not missed.
pub fn run(c: Cluster) -> impl std::future::Future<Output = ()> {
    let rx = c.subscribe();
    drive(c, rx)
}

async fn drive(
    c: Cluster,
    mut rx: tokio::sync::broadcast::Receiver<std::sync::Arc<crate::store::StoreEvent>>,
) {
    let delay = c.state.config.deployment_ready_delay;
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        if ev.type_key != KEY || ev.kind == EventType::Deleted {
            continue;
        }
        let d = &ev.object;
        let seen = generation(d);
        if observed(d) == Some(seen) {
            continue;
        }
        let ns = d
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = d
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let pinned = lock(&c.state.pinned_availability)
            .get(&(ns.clone(), name.clone()))
            .copied();
        // The status first: a client that applied the Deployment may read it right away; the
        // Event (which nobody waits for) after.
        if delay.is_zero() || pinned == Some(false) {
            write_status(&c, &ns, &name, pinned.unwrap_or(true));
            record_scaling(&c, d, &name);
            continue;
        }
        write_status(&c, &ns, &name, false);
        record_scaling(&c, d, &name);
        let c2 = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(d) = c2.get("apps/v1", "Deployment", &ns, &name) else {
                return;
            };
            let pinned = lock(&c2.state.pinned_availability)
                .get(&(ns.clone(), name.clone()))
                .copied();
            if generation(&d) == seen && pinned != Some(false) {
                write_status(&c2, &ns, &name, true);
            }
        });
    }
}
