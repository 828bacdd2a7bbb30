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

/// The columns a built-in kind has between Name and Age, and the cells of an object for them.
struct BuiltinColumns {
    group: &'static str,
    plural: &'static str,
    /// `(name, type, description)` of each column.
    columns: &'static [(&'static str, &'static str, &'static str)],
    cells: fn(&Value) -> Vec<Value>,
}

const BUILTIN_COLUMNS: &[BuiltinColumns] = &[
    BuiltinColumns {
        group: "apps",
        plural: "deployments",
        columns: &[
            ("Ready", "string", "Number of the pod with ready state"),
            (
                "Up-to-date",
                "string",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            (
                "Available",
                "string",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
        ],
        cells: deployment_cells,
    },
    BuiltinColumns {
        group: "",
        plural: "services",
        columns: &[
            ("Type", "string", "The type of service."),
            ("Cluster-IP", "string", "The cluster IP of the service."),
            ("External-IP", "string", "The external IP of the service."),
            ("Port(s)", "string", "The ports of the service."),
        ],
        cells: service_cells,
    },
    BuiltinColumns {
        group: "",
        plural: "namespaces",
        columns: &[("Status", "string", "The status of the namespace")],
        cells: |o| vec![json!(s(o, "/status/phase"))],
    },
    BuiltinColumns {
        group: "",
        plural: "secrets",
        columns: &[
            ("Type", "string", "The type of the secret"),
            ("Data", "integer", "The number of entries in the secret"),
        ],
        cells: |o| vec![json!(s(o, "/type")), json!(entries(o, "data"))],
    },
    BuiltinColumns {
        group: "",
        plural: "configmaps",
        columns: &[("Data", "integer", "Number of entries in the ConfigMap")],
        cells: |o| vec![json!(entries(o, "data") + entries(o, "binaryData"))],
    },
];

/// The number of entries in the map at `o[field]`.
fn entries(o: &Value, field: &str) -> usize {
    o.get(field)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

fn deployment_cells(o: &Value) -> Vec<Value> {
    vec![
        json!(format!(
            "{}/{}",
            n(o, "/status/readyReplicas"),
            o.pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        )),
        json!(n(o, "/status/updatedReplicas")),
        json!(n(o, "/status/availableReplicas")),
    ]
}

fn service_cells(o: &Value) -> Vec<Value> {
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
        json!(s(o, "/spec/type")),
        json!(s(o, "/spec/clusterIP")),
        json!("<none>"),
        json!(ports),
    ]
}

/// A custom resource's columns from its CRD's `additionalPrinterColumns` for `version`.
fn printer_columns(crd: Option<&Value>, version: &str) -> (Vec<Value>, RowFn) {
    let printer: Vec<Value> = crd
        .and_then(|c| c.pointer("/spec/versions"))
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v["name"] == version))
        .and_then(|v| v.get("additionalPrinterColumns"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let defs = printer
        .iter()
        .map(|p| col(s(p, "/name"), s(p, "/type"), "", s(p, "/description")))
        .collect();
    let paths: Vec<String> = printer
        .iter()
        .map(|p| s(p, "/jsonPath").to_string())
        .collect();
    (
        defs,
        Box::new(move |o| paths.iter().map(|p| scalar(json_path(o, p))).collect()),
    )
}

/// Column definitions and a row function for a type (`crd`: its definition, for CRs): Name, the
/// type's own columns, Age.
fn columns(rt: &ResourceType, crd: Option<&Value>, version: &str) -> (Vec<Value>, RowFn) {
    let builtin = BUILTIN_COLUMNS
        .iter()
        .find(|b| b.group == rt.group && b.plural == rt.plural);
    let (own, own_cells): (Vec<Value>, RowFn) = match builtin {
        Some(b) => (
            b.columns
                .iter()
                .map(|(name, ty, description)| col(name, ty, "", description))
                .collect(),
            Box::new(b.cells),
        ),
        None => printer_columns(crd, version),
    };
    let mut defs = vec![col(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
    )];
    defs.extend(own);
    defs.push(col(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    ));
    let row = move |o: &Value| {
        let mut cells = vec![json!(s(o, "/metadata/name"))];
        cells.extend(own_cells(o));
        cells.push(json!(age(o)));
        cells
    };
    (defs, Box::new(row))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    fn rows(plural: &str, obj: Value) -> (Vec<Value>, Vec<Value>) {
        let rt = builtins().into_iter().find(|t| t.plural == plural).unwrap();
        let t = table(&rt, None, "v1", &[obj], None, IncludeObject::None);
        let names = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        (names, t["rows"][0]["cells"].as_array().unwrap().clone())
    }

    #[test]
    fn builtin_rows_are_name_the_kinds_columns_and_age() {
        let (cols, cells) = rows(
            "services",
            json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "clusterIP": "10.0.0.1",
                "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}}),
        );
        assert_eq!(
            cols,
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age"
            ]
        );
        assert_eq!(
            cells[..5],
            [
                json!("web"),
                json!("NodePort"),
                json!("10.0.0.1"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP")
            ]
        );
        let (cols, cells) = rows(
            "configmaps",
            json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}),
        );
        assert_eq!(cols, ["Name", "Data", "Age"]);
        assert_eq!(cells[..2], [json!("c"), json!(3)]);
        let (cols, _) = rows("leases", json!({"metadata": {"name": "l"}}));
        assert_eq!(cols, ["Name", "Age"]);
    }
}
