//! What a write would change, for `mcflow diff`: the live object against the server-side dry
//! run's result, field by field, limited to the fields mcflow's field manager sets.
//!
//! The fields come from `metadata.managedFields` (`fieldsV1`, the structured-merge-diff field
//! set: `f:<field>`, `k:<json keys>` for a list item found by its keys, `v:<json>` for a set
//! member, `.` for the node itself). A field is compared when the `mcflow` entry of the live
//! object or of the dry-run result lists it, so a field mcflow set and would now remove shows
//! up too. A Secret's `data`/`stringData` values are compared by SHA-256 and never returned.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::secrets::MASK;

/// One field a write would change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// `spec.gatewayAddress`, `metadata.labels["mirror.linkerd.io/exported"]`,
    /// `spec.ports[name=mc-gateway].port`.
    pub path: String,
    /// The live value (absent: the field is not set). A Secret value is `***`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after the write (absent: the write removes the field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// What a write would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectAction {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// One object a step writes, and what would change in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectChange {
    pub context: String,
    /// `Kind namespace/name`.
    pub object: String,
    pub action: ObjectAction,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// What is worth knowing and is not a change (a regenerated token, a field another manager
    /// owns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ObjectChange {
    /// Would the write change the object?
    pub fn changes(&self) -> bool {
        self.action != ObjectAction::Unchanged
    }
}

/// What a diff run found: the changes, by step key, in the order they were found; and, for a
/// level run as a diff (a `workflow:` call with `diff: true`), its steps that failed.
#[derive(Debug, Clone, Default)]
pub struct ChangeLog {
    changes: Arc<Mutex<Vec<(String, ObjectChange)>>>,
    failures: Arc<Mutex<Vec<FailedStep>>>,
}

/// A step of a level run as a diff that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedStep {
    /// Its key (`drift_link[production].remote_access[ServiceAccount]`).
    pub key: String,
    /// Its error, as the journal has it (redacted).
    pub error: String,
    /// It is a write (what it would change is not known).
    pub is_write: bool,
    /// The ids of the level's other writes that need it, directly or through other steps:
    /// what they would change is not known either.
    pub writes_needing: Vec<String>,
}

impl FailedStep {
    /// Does its failure leave a write's drift unknown?
    pub fn hides_drift(&self) -> bool {
        self.is_write || !self.writes_needing.is_empty()
    }
}

impl ChangeLog {
    /// Records a failed step (see [`FailedStep`]).
    pub fn step_failed(&self, failed: FailedStep) {
        if let Ok(mut f) = self.failures.lock() {
            f.push(failed);
        }
    }

    /// The failed steps recorded so far, in the order they failed.
    pub fn failures(&self) -> Vec<FailedStep> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Where the kube steps of step `key` record their changes.
    pub fn for_step(&self, key: &str) -> ChangeSink {
        ChangeSink {
            step: key.to_string(),
            log: self.clone(),
        }
    }

    /// Everything recorded so far.
    pub fn entries(&self) -> Vec<(String, ObjectChange)> {
        self.changes.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// A step's handle on the [`ChangeLog`].
#[derive(Debug, Clone)]
pub struct ChangeSink {
    step: String,
    log: ChangeLog,
}

impl ChangeSink {
    pub fn record(&self, change: ObjectChange) {
        if let Ok(mut l) = self.log.changes.lock() {
            l.push((self.step.clone(), change));
        }
    }
}

/// One segment of a managed field's path.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Field(String),
    /// A list item found by the values of its keys (`k:{"name":"mc-gateway"}`).
    Item(Map<String, Value>),
    /// A member of a set-like list (`v:"value"`).
    Member(Value),
}

/// The leaf paths of a `fieldsV1` set.
fn leaves(fields: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    let Some(map) = fields.as_object() else {
        return;
    };
    let children: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| *k != ".").collect();
    if children.is_empty() {
        out.push(prefix.clone());
        return;
    }
    for (k, child) in children {
        let seg = if let Some(name) = k.strip_prefix("f:") {
            Seg::Field(name.to_string())
        } else if let Some(keys) = k.strip_prefix("k:") {
            match serde_json::from_str::<Value>(keys) {
                Ok(Value::Object(m)) => Seg::Item(m),
                _ => continue,
            }
        } else if let Some(v) = k.strip_prefix("v:") {
            match serde_json::from_str::<Value>(v) {
                Ok(v) => Seg::Member(v),
                Err(_) => continue,
            }
        } else {
            continue;
        };
        prefix.push(seg);
        leaves(child, prefix, out);
        prefix.pop();
    }
}

/// The paths `manager` owns in `obj` (every operation: Apply and Update).
fn managed_by(obj: &Value, manager: &str) -> Vec<Vec<Seg>> {
    let mut out = Vec::new();
    for entry in obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e["manager"] == manager && e.get("subresource").is_none_or(Value::is_null))
    {
        leaves(&entry["fieldsV1"], &mut Vec::new(), &mut out);
    }
    out
}

/// Other managers owning `path` in `obj`.
fn other_owners(obj: &Value, manager: &str, path: &[Seg]) -> Vec<String> {
    let mut owners = Vec::new();
    for entry in obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e["manager"] != manager)
    {
        let mut paths = Vec::new();
        leaves(&entry["fieldsV1"], &mut Vec::new(), &mut paths);
        if paths.iter().any(|p| p == path)
            && let Some(m) = entry["manager"].as_str()
            && !owners.iter().any(|o| o == m)
        {
            owners.push(m.to_string());
        }
    }
    owners
}

fn lookup<'v>(obj: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    let mut node = obj;
    for seg in path {
        node = match seg {
            Seg::Field(name) => node.get(name)?,
            Seg::Item(keys) => node
                .as_array()?
                .iter()
                .find(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)))?,
            Seg::Member(v) => node.as_array()?.iter().find(|item| *item == v)?,
        };
    }
    Some(node)
}

/// `spec.ports[name=mc-gateway].port`, `metadata.labels["a.b/c"]`.
fn render_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Field(name) if is_plain(name) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(name);
            }
            Seg::Field(name) => s.push_str(&format!("[{}]", Value::String(name.clone()))),
            Seg::Item(keys) => {
                let parts: Vec<String> = keys
                    .iter()
                    .map(|(k, v)| format!("{k}={}", crate::kube::object::scalar_text(v)))
                    .collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Seg::Member(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

fn is_plain(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Is `path` a value of a Secret's `data` or `stringData`?
fn is_secret_value(obj: &Value, path: &[Seg]) -> bool {
    obj["kind"] == "Secret"
        && matches!(path.first(), Some(Seg::Field(f)) if f == "data" || f == "stringData")
}

/// A Secret key that holds a service-account token: `linkerd multicluster link`/`link-gen` put a
/// kubeconfig with the remote-access account's token in `cluster-credentials-<hub>`, and a new
/// token each time on clusters that issue short-lived ones, so a difference there is expected.
fn holds_token(path: &[Seg]) -> bool {
    matches!(path.get(1), Some(Seg::Field(k)) if k == "kubeconfig" || k == "token")
}

fn digest(v: Option<&Value>) -> Option<Vec<u8>> {
    v.map(|v| Sha256::digest(crate::kube::object::scalar_text(v).as_bytes()).to_vec())
}

/// What a server-side apply would change: `live` (None: the object does not exist) against the
/// dry run's `result`, on the fields `manager` sets. `force`: whether the step applies with
/// `force` (else a field another manager owns would conflict).
pub(crate) fn compare_applied(
    (context, object): (&str, String),
    live: Option<&Value>,
    result: &Value,
    manager: &str,
    force: bool,
) -> ObjectChange {
    let mut paths = managed_by(result, manager);
    if let Some(live) = live {
        for p in managed_by(live, manager) {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
    }
    let mut change = ObjectChange {
        context: context.to_string(),
        object,
        action: if live.is_some() {
            ObjectAction::Unchanged
        } else {
            ObjectAction::Create
        },
        fields: Vec::new(),
        notes: Vec::new(),
    };
    let empty = Value::Null;
    let before_obj = live.unwrap_or(&empty);
    for path in paths {
        let (before, after) = (lookup(before_obj, &path), lookup(result, &path));
        let secret = is_secret_value(result, &path);
        let differs = if secret {
            digest(before) != digest(after)
        } else {
            before != after
        };
        if !differs {
            continue;
        }
        let shown = render_path(&path);
        if secret && before.is_some() && after.is_some() && holds_token(&path) {
            change.notes.push(format!(
                "{shown}: a new service-account token (link and link-gen issue one each time): not a change"
            ));
            continue;
        }
        if live.is_some() && !force {
            let owners = other_owners(before_obj, manager, &path);
            if !owners.is_empty() {
                change.notes.push(format!(
                    "{shown} is managed by {} now: a run would conflict (409) unless the step applies with `force: true`",
                    owners.join(", ")
                ));
            }
        }
        let mask =
            |v: Option<&Value>| v.map(|v| if secret { Value::from(MASK) } else { v.clone() });
        change.fields.push(FieldChange {
            path: shown,
            before: mask(before),
            after: mask(after),
        });
    }
    if live.is_some() && !change.fields.is_empty() {
        change.action = ObjectAction::Update;
    }
    change
}

/// A label or annotation write: `field` (`labels`/`annotations`) of `live`, each key of
/// `wanted` (a value, or null to remove it).
pub(crate) fn compare_keys(
    (context, object): (&str, String),
    live: &Value,
    field: &str,
    wanted: &Map<String, Value>,
) -> ObjectChange {
    let mut fields = Vec::new();
    for (k, want) in wanted {
        let before = live
            .pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(k));
        let after = (!want.is_null()).then_some(want);
        if before != after {
            fields.push(FieldChange {
                path: render_path(&[
                    Seg::Field("metadata".into()),
                    Seg::Field(field.into()),
                    Seg::Field(k.clone()),
                ]),
                before: before.cloned(),
                after: after.cloned(),
            });
        }
    }
    ObjectChange {
        context: context.to_string(),
        object,
        action: if fields.is_empty() {
            ObjectAction::Unchanged
        } else {
            ObjectAction::Update
        },
        fields,
        notes: Vec::new(),
    }
}

/// A delete of an object that exists.
pub(crate) fn deletion(context: &str, object: String) -> ObjectChange {
    ObjectChange {
        context: context.to_string(),
        object,
        action: ObjectAction::Delete,
        fields: Vec::new(),
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(gateway: &str, token: &str, manager_fields: Value) -> Value {
        json!({
            "kind": "Link",
            "metadata": { "name": "internal", "managedFields": [
                { "manager": "mcflow", "operation": "Apply", "fieldsV1": manager_fields }
            ]},
            "spec": { "gatewayAddress": gateway, "token": token,
                      "ports": [{ "name": "mc-gateway", "port": 4143 }] }
        })
    }

    #[test]
    fn only_the_managed_fields_are_compared() {
        let fields = json!({ "f:spec": { "f:gatewayAddress": {},
            "f:ports": { "k:{\"name\":\"mc-gateway\"}": { ".": {}, "f:port": {} } } } });
        let live = obj("edited.example", "a", fields.clone());
        let result = obj("tfx-internal.gerega.net", "b", fields);
        let c = compare_applied(
            ("production", "Link x".into()),
            Some(&live),
            &result,
            "mcflow",
            true,
        );
        assert_eq!(c.action, ObjectAction::Update);
        assert_eq!(c.fields.len(), 1, "{c:?}");
        assert_eq!(c.fields[0].path, "spec.gatewayAddress");
        assert_eq!(c.fields[0].before, Some(json!("edited.example")));
    }

    #[test]
    fn list_items_by_key_and_odd_names_render_readably() {
        let path = vec![
            Seg::Field("spec".into()),
            Seg::Field("ports".into()),
            Seg::Item(json!({"name": "mc-gateway"}).as_object().unwrap().clone()),
            Seg::Field("port".into()),
        ];
        assert_eq!(render_path(&path), "spec.ports[name=mc-gateway].port");
        let label = vec![
            Seg::Field("metadata".into()),
            Seg::Field("labels".into()),
            Seg::Field("a.b/c".into()),
        ];
        assert_eq!(render_path(&label), "metadata.labels[\"a.b/c\"]");
    }

    #[test]
    fn secret_values_are_masked_and_a_new_token_is_a_note() {
        let fields = json!({ "f:data": { "f:kubeconfig": {}, "f:other": {} } });
        let secret = |kc: &str, other: &str| {
            json!({ "kind": "Secret", "metadata": { "managedFields": [
            { "manager": "mcflow", "operation": "Apply", "fieldsV1": fields }]},
            "data": { "kubeconfig": kc, "other": other } })
        };
        let c = compare_applied(
            ("p", "Secret s".into()),
            Some(&secret("kc-one", "x")),
            &secret("kc-two", "y"),
            "mcflow",
            false,
        );
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            !text.contains("kc-") && !text.contains("\"x\"") && !text.contains("\"y\""),
            "{text}"
        );
        assert_eq!(c.fields.len(), 1);
        assert_eq!(c.fields[0].before, Some(json!(MASK)));
        assert!(c.notes[0].contains("new service-account token"), "{c:?}");
    }
}
