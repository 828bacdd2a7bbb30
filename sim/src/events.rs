//! core/v1 Events the simulated controllers record, shaped as client-go's recorder makes them
//! (k8s.io/client-go tools/record/event.go `makeEvent`: name `<object>.<unix nanos in hex>`,
//! `involvedObject`, `reason`, `message`, `firstTimestamp` = `lastTimestamp`, `count: 1`,
//! `type`, `source.component`, `reportingComponent`), in the object's namespace.

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::managed::now;

/// What an Event says about an object.
pub struct EventNote<'a> {
    /// `Normal` or `Warning`.
    pub kind: &'a str,
    pub reason: &'a str,
    pub message: String,
    /// The recording controller (`deployment-controller`, `linkerd-service-mirror-<hub>`).
    pub component: &'a str,
}

/// Records `note` about `regarding` on `c`. Best effort, like client-go's recorder: an Event
/// that cannot be written is dropped.
pub fn record(c: &Cluster, regarding: &Value, note: &EventNote<'_>) {
    let meta = &regarding["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    let namespace = meta["namespace"].as_str().unwrap_or("default");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let t = now();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": { "name": format!("{name}.{nanos:x}"), "namespace": namespace },
        "involvedObject": {
            "apiVersion": regarding["apiVersion"], "kind": regarding["kind"],
            "namespace": namespace, "name": name, "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
        },
        "reason": note.reason,
        "message": note.message,
        "source": { "component": note.component },
        "firstTimestamp": t,
        "lastTimestamp": t,
        "count": 1,
        "type": note.kind,
        "eventTime": null,
        "reportingComponent": note.component,
        "reportingInstance": "",
    });
    let _ = c.create(event);
}

/// Has `c` an Event with `reason` about the object `namespace/name` already? (client-go's
/// recorder aggregates repeats into one Event; the simulator records the first only.)
pub fn recorded(c: &Cluster, namespace: &str, name: &str, reason: &str) -> bool {
    c.list("v1", "Event", Some(namespace), "")
        .unwrap_or_default()
        .iter()
        .any(|e| e["involvedObject"]["name"] == name && e["reason"] == reason)
}
