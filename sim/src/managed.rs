//! `metadata.managedFields`: who owns which field, and server-side apply on top of it.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::fieldpath::{self, FieldSet};
use crate::patch::apply_merge;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Manager {
    /// The field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the fields were written with.
    pub api_version: String,
    /// When the entry last changed (RFC 3339).
    pub time: String,
    /// The owned fields.
    pub fields: FieldSet,
    /// `status` for entries written through the status subresource.
    pub subresource: Option<String>,
}

/// The current time as the API server formats it.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// Read the `managedFields` of an object.
pub fn read(obj: &Value) -> Vec<Manager> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| Manager {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or("Update").to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: e["time"].as_str().unwrap_or_default().to_string(),
            fields: fieldpath::from_fields_v1(&e["fieldsV1"]),
            subresource: e["subresource"].as_str().map(String::from),
        })
        .collect()
}

/// Write `managedFields` back (entries with no fields are dropped).
pub fn write(obj: &mut Value, managers: &[Manager]) {
    let list: Vec<Value> = managers
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fieldpath::to_fields_v1(&m.fields),
            });
            if let Some(s) = &m.subresource {
                e["subresource"] = json!(s);
            }
            e
        })
        .collect();
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            md.remove("managedFields");
        } else {
            md.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn strip_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
    }
    v
}

/// Record an `Update` operation (create, PUT, non-apply PATCH) by `manager`: it takes ownership
/// of every field whose value changed; fields that disappeared are owned by nobody.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
) {
    let mut managers = old.map(read).unwrap_or_default();
    let new_leaves = fieldpath::leaves(new);
    let old_leaves = old.map(fieldpath::leaves).unwrap_or_default();
    let changed: FieldSet = new_leaves
        .iter()
        .filter(|(p, v)| old_leaves.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    let gone: FieldSet = old_leaves
        .keys()
        .filter(|p| !new_leaves.contains_key(*p))
        .cloned()
        .collect();
    if changed.is_empty() && gone.is_empty() {
        write(new, &managers);
        return;
    }
    for m in &mut managers {
        m.fields
            .retain(|p| !changed.contains(p) && !gone.contains(p));
    }
    let idx = managers.iter().position(|m| {
        m.manager == manager && m.operation == "Update" && m.subresource.as_deref() == subresource
    });
    let entry = match idx {
        Some(i) => &mut managers[i],
        None => {
            managers.push(Manager {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: String::new(),
                fields: FieldSet::new(),
                subresource: subresource.map(String::from),
            });
            managers.last_mut().expect("just pushed")
        }
    };
    entry.fields.extend(changed);
    entry.time = now();
    entry.api_version = api_version.to_string();
    write(new, &managers);
}

/// Server-side apply of `applied` by `manager` onto `live` (`None` creates). Returns the new
/// object; when nothing changes, it is equal to `live` (same managedFields, same everything).
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
) -> Result<Value, ApiError> {
    let mut managers = live.map(read).unwrap_or_default();
    let applied_leaves = fieldpath::leaves(applied);
    let new_set: FieldSet = applied_leaves.keys().cloned().collect();
    let base = live.cloned().unwrap_or_else(|| json!({}));

    // Conflicts: a field another manager owns, applied with a different value.
    let mut conflicts: Vec<(String, fieldpath::Path)> = Vec::new();
    let mut shown: Vec<(String, fieldpath::Path)> = Vec::new();
    for (path, value) in &applied_leaves {
        if path.last().map(String::as_str) == Some(".") {
            continue;
        }
        let live_value = fieldpath::get_at(&base, path);
        if live_value == Some(value) {
            continue;
        }
        for m in &managers {
            let same = m.manager == manager && m.operation == "Apply";
            if !same && m.subresource.is_none() && m.fields.contains(path) {
                conflicts.push((m.manager.clone(), path.clone()));
                shown.push((print_manager(m), path.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&shown));
    }
    for (owner, path) in &conflicts {
        for m in managers.iter_mut().filter(|m| &m.manager == owner) {
            m.fields.remove(path);
        }
    }

    let mut result = base.clone();
    let idx = managers
        .iter()
        .position(|m| m.manager == manager && m.operation == "Apply" && m.subresource.is_none());
    // Fields this manager applied before and dropped now: removed unless someone else owns them.
    if let Some(i) = idx {
        let dropped: Vec<_> = managers[i].fields.difference(&new_set).cloned().collect();
        let mut sorted = dropped;
        // Remove deepest paths first so list item markers do not hide their fields.
        sorted.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in sorted {
            let owned_elsewhere = managers
                .iter()
                .enumerate()
                .any(|(j, m)| j != i && m.fields.contains(&p));
            if !owned_elsewhere {
                fieldpath::remove_at(&mut result, &p);
            }
        }
    }
    apply_merge(&mut result, &strip_managed(applied), "");

    let unchanged_fields = idx.map(|i| managers[i].fields == new_set).unwrap_or(false);
    if live.is_some() && unchanged_fields && strip_managed(&result) == strip_managed(&base) {
        return Ok(base);
    }
    match idx {
        // Like the API server, the entry's time only moves when what it records changes: an
        // identical re-apply whose merged result differs from the live object only in what the
        // server rewrites on write (defaults, Secret stringData) must leave managedFields as
        // they are, or the write is no longer a no-op.
        Some(i) if unchanged_fields && managers[i].api_version == api_version => {}
        Some(i) => {
            managers[i].fields = new_set;
            managers[i].time = now();
            managers[i].api_version = api_version.to_string();
        }
        None => managers.push(Manager {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: now(),
            fields: new_set,
            subresource: None,
        }),
    }
    write(&mut result, &managers);
    Ok(result)
}

/// How the API server names a conflicting manager: `"name"` for an applier, `"name" using
/// <apiVersion>` for an updater (k8s.io/apimachinery pkg/util/managedfields/internal/conflict.go,
/// printManager; the manager identifier it prints carries no time).
fn print_manager(m: &Manager) -> String {
    let mut s = format!("{:?}", m.manager);
    if let Some(sub) = &m.subresource {
        s = format!("{s} with subresource {sub:?}");
    }
    if m.operation == "Update" {
        s = format!("{s} using {}", m.api_version);
    }
    s
}

/// The 409 of a conflicting apply, worded as getConflictMessage and NewConflictError word it
/// (k8s.io/apimachinery pkg/util/managedfields/internal/conflict.go): one conflict on one line,
/// several grouped by manager in sorted order. `conflicts` holds (printed manager, path).
fn conflict_error(conflicts: &[(String, fieldpath::Path)]) -> ApiError {
    let n = conflicts.len();
    let message = if n == 1 {
        let (m, p) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with {m}: {}",
            fieldpath::display(p)
        )
    } else {
        let mut by_manager: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (m, p) in conflicts {
            by_manager
                .entry(m.as_str())
                .or_default()
                .push(fieldpath::display(p));
        }
        let mut lines = Vec::new();
        for (m, paths) in by_manager {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(paths.into_iter().map(|p| format!("- {p}")));
        }
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {m}"),
                "field": fieldpath::display(p),
            })
        })
        .collect();
    ApiError {
        details: Some(json!({ "causes": causes })),
        ..ApiError::new(409, "Conflict", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"}, "data": data})
    }

    #[test]
    fn apply_creates_and_records_fields() {
        let o = apply(None, &cm(json!({"a": "1"})), "mgr", false, "v1").unwrap();
        let ms = read(&o);
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].operation, "Apply");
        assert!(
            ms[0]
                .fields
                .contains(&vec!["f:data".to_string(), "f:a".into()])
        );
    }

    #[test]
    fn identical_reapply_changes_nothing() {
        let o = apply(None, &cm(json!({"a": "1"})), "mgr", false, "v1").unwrap();
        let again = apply(Some(&o), &cm(json!({"a": "1"})), "mgr", false, "v1").unwrap();
        assert_eq!(o, again);
    }

    #[test]
    fn unchanged_ownership_keeps_the_entry_time() {
        // The live object lacks an applied field (the server rewrote it, like Secret stringData):
        // the merge differs from live, but the manager's entry must stay as it was.
        let mut o = apply(None, &cm(json!({"a": "1"})), "mgr", false, "v1").unwrap();
        o["metadata"]["managedFields"][0]["time"] = json!("2000-01-01T00:00:00Z");
        o["data"] = json!({"b": "1"});
        let again = apply(Some(&o), &cm(json!({"a": "1"})), "mgr", false, "v1").unwrap();
        assert_eq!(
            again["metadata"]["managedFields"],
            o["metadata"]["managedFields"]
        );
    }

    #[test]
    fn dropped_fields_are_removed() {
        let o = apply(None, &cm(json!({"a": "1", "b": "2"})), "mgr", false, "v1").unwrap();
        let o = apply(Some(&o), &cm(json!({"a": "1"})), "mgr", false, "v1").unwrap();
        assert_eq!(o["data"], json!({"a": "1"}));
    }

    #[test]
    fn dropped_field_owned_by_another_manager_stays() {
        let o = apply(None, &cm(json!({"a": "1", "b": "2"})), "one", false, "v1").unwrap();
        let o = apply(Some(&o), &cm(json!({"b": "2"})), "two", false, "v1").unwrap();
        let o = apply(Some(&o), &cm(json!({"a": "1"})), "one", false, "v1").unwrap();
        assert_eq!(o["data"], json!({"a": "1", "b": "2"}));
    }

    #[test]
    fn conflicting_apply_is_refused_unless_forced() {
        let o = apply(None, &cm(json!({"a": "1"})), "one", false, "v1").unwrap();
        let err = apply(Some(&o), &cm(json!({"a": "2"})), "two", false, "v1").unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"one\": .data.a"
        );
        let o = apply(Some(&o), &cm(json!({"a": "2"})), "two", true, "v1").unwrap();
        assert_eq!(o["data"]["a"], "2");
        let ms = read(&o);
        assert!(
            ms.iter().all(|m| m.manager != "one"),
            "one lost its only field"
        );
    }

    #[test]
    fn update_then_apply_conflicts() {
        let mut o = cm(json!({"a": "1"}));
        record_update(None, &mut o, "kubectl-edit", "v1", None);
        let err = apply(Some(&o), &cm(json!({"a": "9"})), "mgr", false, "v1").unwrap_err();
        assert_eq!(err.code, 409);
        // Same value: shared ownership, no conflict.
        apply(Some(&o), &cm(json!({"a": "1"})), "mgr", false, "v1").unwrap();
    }
}
