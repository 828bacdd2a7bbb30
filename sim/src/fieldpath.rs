//! Field paths and field sets in the `FieldsV1` form used by `metadata.managedFields`.
//!
//! A path is a list of elements written as `FieldsV1` keys: `f:<field>` for a map field,
//! `k:{"name":"x"}` for an item of an associative list (found by its key fields), and `.` for
//! "this list item itself". Lists that are not associative are atomic: one leaf.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// One path in an object.
pub type Path = Vec<String>;
/// A set of owned paths.
pub type FieldSet = BTreeSet<Path>;

/// The key fields of an associative list, by the list's field name (built-in kinds' merge keys;
/// custom resources are treated the same way, a simplification).
pub fn list_keys(field: &str, items: &[Value]) -> Option<Vec<&'static str>> {
    let keys: Vec<&'static str> = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "volumeMounts"
        | "imagePullSecrets"
        | "volumeDevices" => vec!["name"],
        "conditions" => vec!["type"],
        "ports" => {
            if items.iter().all(|i| i.get("containerPort").is_some()) {
                vec!["containerPort"]
            } else {
                vec!["port"]
            }
        }
        _ => return None,
    };
    let all_keyed = items
        .iter()
        .all(|i| i.is_object() && keys.iter().all(|k| i.get(*k).is_some()));
    all_keyed.then_some(keys)
}

/// The `k:{...}` element naming a list item.
pub fn item_key(item: &Value, keys: &[&str]) -> String {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = item.get(*k) {
            m.insert((*k).to_string(), v.clone());
        }
    }
    format!("k:{}", Value::Object(m))
}

/// Identity and server-set metadata never counted as owned fields.
fn skipped(path: &[String]) -> bool {
    match path {
        [a] => a == "f:apiVersion" || a == "f:kind" || a == "f:status",
        [m, f] if m == "f:metadata" => matches!(
            f.as_str(),
            "f:name"
                | "f:namespace"
                | "f:uid"
                | "f:resourceVersion"
                | "f:generation"
                | "f:creationTimestamp"
                | "f:managedFields"
                | "f:selfLink"
                | "f:deletionTimestamp"
        ),
        _ => false,
    }
}

/// Every leaf path of `obj` with its value (`Value::Null` for `.` item markers).
/// `status` is not included: it belongs to the status subresource.
pub fn leaves(obj: &Value) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    walk(obj, &mut Vec::new(), &mut out);
    out
}

fn walk(v: &Value, path: &mut Path, out: &mut BTreeMap<Path, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(format!("f:{k}"));
                if !skipped(path) {
                    walk(child, path, out);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let field = path
                .last()
                .and_then(|p| p.strip_prefix("f:"))
                .unwrap_or_default()
                .to_string();
            match list_keys(&field, items) {
                Some(keys) if !items.is_empty() => {
                    for item in items {
                        path.push(item_key(item, &keys));
                        path.push(".".into());
                        out.insert(path.clone(), Value::Null);
                        path.pop();
                        walk(item, path, out);
                        path.pop();
                    }
                }
                _ => {
                    out.insert(path.clone(), v.clone());
                }
            }
        }
        _ => {
            out.insert(path.clone(), v.clone());
        }
    }
}

fn find_item(items: &[Value], key: &str) -> Option<usize> {
    let want: Value = serde_json::from_str(key.strip_prefix("k:")?).ok()?;
    let want = want.as_object()?;
    items
        .iter()
        .position(|i| want.iter().all(|(k, v)| i.get(k) == Some(v)))
}

/// The value at `path`, if present (`.` resolves to the list item).
pub fn get_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for el in path {
        if el == "." {
            continue;
        }
        cur = if let Some(f) = el.strip_prefix("f:") {
            cur.get(f)?
        } else {
            let items = cur.as_array()?;
            &items[find_item(items, el)?]
        };
    }
    Some(cur)
}

/// Remove the field or list item at `path`; returns whether something was removed.
pub fn remove_at(obj: &mut Value, path: &[String]) -> bool {
    let (last, parent_path) = match path.split_last() {
        Some((l, p)) if l == "." => match p.split_last() {
            Some((k, pp)) => (k, pp),
            None => return false,
        },
        Some((l, p)) => (l, p),
        None => return false,
    };
    let mut cur = obj;
    for el in parent_path {
        let next = if let Some(f) = el.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            match cur.as_array() {
                Some(items) => match find_item(items, el) {
                    Some(i) => cur.get_mut(i),
                    None => None,
                },
                None => None,
            }
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        cur.as_object_mut().and_then(|m| m.remove(f)).is_some()
    } else if let Some(items) = cur.as_array_mut() {
        match find_item(items, last) {
            Some(i) => {
                items.remove(i);
                true
            }
            None => false,
        }
    } else {
        false
    }
}

/// Render a field set as a `fieldsV1` tree.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for path in set {
        let mut cur = &mut root;
        for el in path {
            cur = cur
                .as_object_mut()
                .map(|m| {
                    m.entry(el.clone())
                        .or_insert_with(|| Value::Object(Map::new()))
                })
                .expect("fieldsV1 nodes are objects");
        }
    }
    root
}

/// Read a `fieldsV1` tree back into a field set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn rec(v: &Value, path: &mut Path, out: &mut FieldSet) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    rec(child, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    rec(v, &mut Vec::new(), &mut out);
    out
}

/// A path as the API server prints it in conflict messages: `.spec.containers[name="x"].image`.
pub fn display(path: &[String]) -> String {
    let mut s = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_and_round_trip() {
        let o = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"a": "1"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}, "args": ["a"]}
        });
        let l = leaves(&o);
        let set: FieldSet = l.keys().cloned().collect();
        assert!(set.contains(&vec![
            "f:metadata".to_string(),
            "f:labels".into(),
            "f:a".into()
        ]));
        assert!(
            !set.iter()
                .any(|p| p.last().unwrap() == "f:name" && p.len() == 2)
        );
        let c = vec![
            "f:spec".to_string(),
            "f:template".into(),
            "f:spec".into(),
            "f:containers".into(),
            r#"k:{"name":"c"}"#.into(),
            "f:image".into(),
        ];
        assert!(set.contains(&c));
        assert_eq!(get_at(&o, &c), Some(&json!("i")));
        assert_eq!(
            display(&c),
            r#".spec.template.spec.containers[name="c"].image"#
        );
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
        let mut o2 = o.clone();
        assert!(remove_at(
            &mut o2,
            &c[..5]
                .iter()
                .cloned()
                .chain([".".to_string()])
                .collect::<Vec<_>>()
        ));
        assert_eq!(
            o2.pointer("/spec/template/spec/containers"),
            Some(&json!([]))
        );
    }
}
