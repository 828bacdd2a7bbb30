//! `meta.k8s.io/v1` `Table` responses, which `kubectl get` asks for to print its columns.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// How much of each object a row carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// From the query parameter.
    pub fn parse(v: Option<&str>) -> Self {
        match v {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

fn col(name: &str, ty: &str, format: &str, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": 0})
}

fn s<'a>(o: &'a Value, ptr: &str) -> &'a str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn n(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// `5s`, `3m`, `2h`, `4d` like kubectl's `HumanDuration` (simplified).
fn age(o: &Value) -> String {
    let created = s(o, "/metadata/creationTimestamp");
    let parsed =
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339);
    let Ok(t) = parsed else {
        return "<unknown>".into();
    };
    let secs = (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0);
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// Evaluate a simple `.a.b.c` JSON path (as used by CRD printer columns).
fn json_path<'a>(o: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = o;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn scalar(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => json!(s),
        Some(Value::Number(n)) => json!(n),
        Some(Value::Bool(b)) => json!(b.to_string()),
        Some(other) if !other.is_null() => json!(other.to_string()),
        _ => json!("<none>"),
    }
}

/// Turns an object into the cells of its row.
type RowFn = Box<dyn Fn(&Value) -> Vec<Value>>;

/// Column definitions and a row function for a type (`crd`: its definition, for CRs).
fn columns(rt: &ResourceType, crd: Option<&Value>, version: &str) -> (Vec<Value>, RowFn) {
    let name = col(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
    );
    let age_col = col(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments") => (
            vec![
                name,
                col("Ready", "string", "", "Number of the pod with ready state"),
                col(
                    "Up-to-date",
                    "string",
                    "",
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                ),
                col(
                    "Available",
                    "string",
                    "",
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                age_col,
            ],
            Box::new(|o| {
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(format!(
                        "{}/{}",
                        n(o, "/status/readyReplicas"),
                        o.pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    )),
                    json!(n(o, "/status/updatedReplicas")),
                    json!(n(o, "/status/availableReplicas")),
                    json!(age(o)),
                ]
            }),
        ),
        ("", "services") => (
            vec![
                name,
                col("Type", "string", "", "The type of service."),
                col("Cluster-IP", "string", "", "The cluster IP of the service."),
                col(
                    "External-IP",
                    "string",
                    "",
                    "The external IP of the service.",
                ),
                col("Port(s)", "string", "", "The ports of the service."),
                age_col,
            ],
            Box::new(|o| {
                let ports: Vec<String> = o
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                        match p.get("nodePort").and_then(Value::as_i64) {
                            Some(np) => format!("{}:{np}/{proto}", p["port"]),
                            None => format!("{}/{proto}", p["port"]),
                        }
                    })
                    .collect();
                let ports = if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                };
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(s(o, "/spec/type")),
                    json!(s(o, "/spec/clusterIP")),
                    json!("<none>"),
                    json!(ports),
                    json!(age(o)),
                ]
            }),
        ),
        ("", "namespaces") => (
            vec![
                name,
                col("Status", "string", "", "The status of the namespace"),
                age_col,
            ],
            Box::new(|o| {
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(s(o, "/status/phase")),
                    json!(age(o)),
                ]
            }),
        ),
        ("", "secrets") => (
            vec![
                name,
                col("Type", "string", "", "The type of the secret"),
                col("Data", "integer", "", "The number of entries in the secret"),
                age_col,
            ],
            Box::new(|o| {
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(s(o, "/type")),
                    json!(
                        o.get("data")
                            .and_then(Value::as_object)
                            .map_or(0, |m| m.len())
                    ),
                    json!(age(o)),
                ]
            }),
        ),
        ("", "configmaps") => (
            vec![
                name,
                col("Data", "integer", "", "Number of entries in the ConfigMap"),
                age_col,
            ],
            Box::new(|o| {
                vec![
                    json!(s(o, "/metadata/name")),
                    json!(
                        o.get("data")
                            .and_then(Value::as_object)
                            .map_or(0, |m| m.len())
                            + o.get("binaryData")
                                .and_then(Value::as_object)
                                .map_or(0, |m| m.len())
                    ),
                    json!(age(o)),
                ]
            }),
        ),
        _ => {
            let printer: Vec<Value> = crd
                .and_then(|c| c.pointer("/spec/versions"))
                .and_then(Value::as_array)
                .and_then(|vs| vs.iter().find(|v| v["name"] == version))
                .and_then(|v| v.get("additionalPrinterColumns"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut defs = vec![name];
            defs.extend(
                printer
                    .iter()
                    .map(|p| col(s(p, "/name"), s(p, "/type"), "", s(p, "/description"))),
            );
            defs.push(age_col);
            let paths: Vec<String> = printer
                .iter()
                .map(|p| s(p, "/jsonPath").to_string())
                .collect();
            (
                defs,
                Box::new(move |o| {
                    let mut cells = vec![json!(s(o, "/metadata/name"))];
                    cells.extend(paths.iter().map(|p| scalar(json_path(o, p))));
                    cells.push(json!(age(o)));
                    cells
                }),
            )
        }
    }
}

/// A Table of `objects`.
pub fn table(
    rt: &ResourceType,
    crd: Option<&Value>,
    version: &str,
    objects: &[Value],
    resource_version: Option<u64>,
    include: IncludeObject,
) -> Value {
    let (defs, row) = columns(rt, crd, version);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut r = json!({"cells": row(o)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Object => r["object"] = o.clone(),
                IncludeObject::Metadata => {
                    r["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"].clone()});
                }
            }
            r
        })
        .collect();
    let mut md = json!({});
    if let Some(rv) = resource_version {
        md["resourceVersion"] = json!(rv.to_string());
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md, "columnDefinitions": defs, "rows": rows})
}
