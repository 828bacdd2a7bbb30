//! Patches: JSON merge patch, JSON patch, strategic merge patch, and the merge used by
//! server-side apply.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::fieldpath::list_keys;

/// The patch types the simulator accepts, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// The patch kind for a request's `Content-Type`.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Apply a JSON patch document to `target`.
pub fn json_patch(target: &mut Value, body: &Value) -> Result<(), ApiError> {
    let p: json_patch::Patch = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::bad_request(format!("json: cannot unmarshal patch: {e}")))?;
    let mut copy = target.clone();
    json_patch::patch(&mut copy, &p).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })?;
    *target = copy;
    Ok(())
}

/// Apply an RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Apply a strategic merge patch: like a merge patch, but lists with a merge key (containers,
/// ports, env, conditions...) are merged item by item, and `$patch: delete` removes an item.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    strategic(target, patch, "");
}

fn strategic(target: &mut Value, patch: &Value, field: &str) {
    match patch {
        Value::Object(pm) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let tm = target.as_object_mut().expect("just made an object");
            for (k, pv) in pm {
                if k.starts_with('$') {
                    continue;
                }
                if pv.is_null() {
                    tm.remove(k);
                    continue;
                }
                let entry = tm.entry(k.clone()).or_insert(Value::Null);
                strategic(entry, pv, k);
            }
        }
        Value::Array(items) => {
            let existing = target.as_array().cloned().unwrap_or_default();
            let keys = list_keys(field, items).or_else(|| {
                // `$patch: delete` items may lack non-key fields; look at the live list.
                (!existing.is_empty())
                    .then(|| list_keys(field, &existing))
                    .flatten()
            });
            let Some(keys) = keys else {
                *target = patch.clone();
                return;
            };
            let mut out = existing;
            for item in items {
                let pos = out
                    .iter()
                    .position(|e| keys.iter().all(|k| e.get(*k) == item.get(*k)));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => strategic(&mut out[i], item, ""),
                    (None, false) => {
                        let mut fresh = Value::Null;
                        strategic(&mut fresh, item, "");
                        out.push(fresh);
                    }
                }
            }
            *target = Value::Array(out);
        }
        other => *target = other.clone(),
    }
}

/// Merge an applied configuration into a live object (server-side apply): maps merge field by
/// field, associative lists item by item, everything else is replaced.
pub fn apply_merge(target: &mut Value, applied: &Value, field: &str) {
    match (target.is_object(), applied) {
        (_, Value::Null) => {}
        (true, Value::Object(am)) => {
            let tm = target.as_object_mut().expect("checked");
            for (k, av) in am {
                let entry = tm.entry(k.clone()).or_insert(Value::Null);
                apply_merge(entry, av, k);
            }
        }
        (false, Value::Object(_)) => {
            *target = Value::Object(Map::new());
            apply_merge(target, applied, field);
        }
        (_, Value::Array(items)) => match (list_keys(field, items), target.as_array_mut()) {
            (Some(keys), Some(live)) => {
                for item in items {
                    match live
                        .iter()
                        .position(|e| keys.iter().all(|k| e.get(*k) == item.get(*k)))
                    {
                        Some(i) => apply_merge(&mut live[i], item, ""),
                        None => live.push(item.clone()),
                    }
                }
            }
            _ => *target = applied.clone(),
        },
        (_, other) => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"containers": [{"name": "b", "image": "3"}, {"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "b", "image": "3"}]}})
        );
    }

    #[test]
    fn merge_patch_removes_nulls() {
        let mut t = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        merge_patch(
            &mut t,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        );
        assert_eq!(t, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"a": [1, 2]});
        json_patch(&mut t, &json!([{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b", "value": 1}]))
            .unwrap_err();
        json_patch(&mut t, &json!([{"op": "add", "path": "/a/-", "value": 3}])).unwrap();
        assert_eq!(t, json!({"a": [1, 2, 3]}));
    }
}
