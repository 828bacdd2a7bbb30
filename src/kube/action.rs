//! The serde types of a workflow step's `kube:` block, after template rendering.
//!
//! These types only describe *what* to do; the files beside this one do it. [`KubeAction::validate`]
//! checks the shape rules serde cannot express, and [`KubeAction::describe`] gives the lines
//! `mcflow plan` prints (never a secret value: a manifest may hold a service-account token).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::manifest;

/// The `kube:` block of a workflow step, after template rendering (all strings final).
///
/// Exactly one of the operations must be set (see [`KubeAction::validate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct KubeAction {
    /// The kubeconfig context to act on.
    pub context: String,
    /// Server-side apply one or many YAML documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyOp>,
    /// Set or remove labels on objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelOp>,
    /// Set or remove annotations on objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotate: Option<LabelOp>,
    /// Read one object, capturing values from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get: Option<GetOp>,
    /// Watch one object until a condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitOp>,
    /// Delete objects by name or label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<DeleteOp>,
    /// Read every object of a kind in a namespace (optionally by label selector), redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<ListOp>,
}

/// `list`: every object of a kind in one namespace (all namespaces without one for a
/// cluster-scoped kind), as `object.items`, Secret data redacted and `managedFields` dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ListOp {
    /// The kind, e.g. `Event`.
    pub kind: String,
    /// `group/version` (or `v1`); looked up from the kind when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The namespace of a namespaced kind (else the context's, else `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A label selector (`app=x,tier!=y`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// `apply`: server-side apply (field manager `mcflow`) of every document of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ApplyOp {
    /// The YAML text: one or many documents separated by `---`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// A YAML file, relative to the workflow file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The namespace for namespaced objects that name none (else the context's namespace,
    /// else `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Take ownership of fields another field manager owns (server-side apply `force`).
    #[serde(default)]
    pub force: bool,
}

/// Which objects a `label`, `annotate` or `delete` acts on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Target {
    /// The kind, e.g. `Secret`.
    pub kind: String,
    /// `group/version` (or `v1`); looked up from the kind when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The namespace of namespaced kinds (else the context's namespace, else `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// One object by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Objects by label selector, e.g. `argocd.argoproj.io/secret-type=cluster`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Keep only the objects whose field equals a value.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_: Option<FieldEquals>,
}

/// A field of an object compared with a value.
///
/// `path` is a JSON pointer (`/data/name`) or a dotted path (`data.name`). For Secrets, values
/// under `data` are base64-decoded before the comparison, so an Argo CD cluster secret is found
/// by its readable `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FieldEquals {
    /// A JSON pointer or a dotted path.
    pub path: String,
    /// The value, compared as text (so `"3"` equals `3` and `"true"` equals `true`).
    pub equals: serde_json::Value,
}

/// `label` / `annotate`: set and remove keys with a JSON merge patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct LabelOp {
    /// The objects to change.
    pub target: Target,
    /// Keys to set, with their values.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Keys to remove.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Succeed when no object matches (default: zero matches is an error).
    #[serde(default)]
    pub allow_none: bool,
}

/// `get`: read one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct GetOp {
    /// The kind, e.g. `ConfigMap`.
    pub kind: String,
    /// `group/version` (or `v1`); looked up from the kind when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The namespace of namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// Output name → JSON pointer into the object (`/data/ca-bundle.crt`).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// A missing object is a success with output `exists: false` (captures are then null).
    #[serde(default)]
    pub optional: bool,
}

/// `wait`: watch one object until a condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct WaitOp {
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// `group/version` (or `v1`); looked up from the kind when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The namespace of namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// The condition to wait for.
    #[serde(rename = "for")]
    pub for_: WaitFor,
    /// Give up after this long (humantime, e.g. `2m`) with the last state seen; without it the
    /// step's own timeout applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// What a `wait` waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum WaitFor {
    /// The object exists.
    Exists,
    /// The object does not exist.
    Deleted,
    /// A Deployment (or anything with conditions) has condition `Available=True`.
    Available,
    /// Argo CD: `status.health.status == Healthy`.
    Healthy,
    /// Argo CD: `status.sync.status == Synced`.
    Synced,
    /// `status.conditions[type] .status == status`.
    Condition(ConditionIs),
    /// A field (JSON pointer or dotted path) equals a value.
    Field(FieldEquals),
}

/// A condition in `status.conditions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ConditionIs {
    /// The condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The wanted status (default `True`).
    #[serde(default = "condition_true")]
    pub status: String,
}

fn condition_true() -> String {
    "True".to_string()
}

/// `delete`: remove objects by name or selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct DeleteOp {
    /// The kind, e.g. `Secret`.
    pub kind: String,
    /// `group/version` (or `v1`); looked up from the kind when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The namespace of namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// One object by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Objects by label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// With `selector` and no `namespace`: the matching objects of a namespaced kind in every
    /// namespace (default `false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_namespaces: bool,
    /// A missing object is a success (default `true`).
    #[serde(default = "default_true")]
    pub ignore_missing: bool,
}

fn default_true() -> bool {
    true
}

/// The operations of a `kube` step, one of which is set.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operation<'a> {
    Apply(&'a ApplyOp),
    Label(&'a LabelOp),
    Annotate(&'a LabelOp),
    Get(&'a GetOp),
    Wait(&'a WaitOp),
    Delete(&'a DeleteOp),
    List(&'a ListOp),
}

const EXACTLY_ONE: &str =
    "kube step needs exactly one of apply, label, annotate, get, wait, delete, list";

impl KubeAction {
    /// Exactly one operation must be set, and each must be complete; returns the problem otherwise.
    pub fn validate(&self) -> Result<(), String> {
        let op = self.operation()?;
        if self.context.trim().is_empty() {
            return Err("kube step needs a `context`".to_string());
        }
        match op {
            Operation::Apply(apply) => match (&apply.manifest, &apply.file) {
                (Some(_), Some(_)) => Err("apply takes `manifest` or `file`, not both".to_string()),
                (None, None) => Err("apply needs `manifest` or `file`".to_string()),
                _ => Ok(()),
            },
            Operation::Label(op) | Operation::Annotate(op) => {
                validate_selection(
                    "target",
                    op.target.name.as_deref(),
                    op.target.selector.as_deref(),
                )?;
                if op.set.is_empty() && op.remove.is_empty() {
                    return Err("label/annotate needs keys to `set` or `remove`".to_string());
                }
                if let Some(key) = op.remove.iter().find(|k| op.set.contains_key(*k)) {
                    return Err(format!("key {key:?} is both in `set` and in `remove`"));
                }
                Ok(())
            }
            Operation::Get(get) => {
                if let Some((out, pointer)) = get
                    .capture
                    .iter()
                    .find(|(_, p)| !p.is_empty() && !p.starts_with('/'))
                {
                    return Err(format!(
                        "capture {out:?}: {pointer:?} is not a JSON pointer (it starts with `/`)"
                    ));
                }
                Ok(())
            }
            Operation::Wait(wait) => {
                if let Some(timeout) = &wait.timeout {
                    humantime::parse_duration(timeout)
                        .map_err(|e| format!("wait timeout {timeout:?}: {e}"))?;
                }
                Ok(())
            }
            Operation::List(_) => Ok(()),
            Operation::Delete(delete) => {
                validate_selection("delete", delete.name.as_deref(), delete.selector.as_deref())?;
                if delete.all_namespaces
                    && (delete.selector.is_none() || delete.namespace.is_some())
                {
                    return Err(
                        "delete with `all_namespaces` needs a `selector` and no `namespace`"
                            .to_string(),
                    );
                }
                Ok(())
            }
        }
    }

    /// The one operation that is set.
    pub(crate) fn operation(&self) -> Result<Operation<'_>, String> {
        let mut ops = Vec::new();
        if let Some(op) = &self.apply {
            ops.push(Operation::Apply(op));
        }
        if let Some(op) = &self.label {
            ops.push(Operation::Label(op));
        }
        if let Some(op) = &self.annotate {
            ops.push(Operation::Annotate(op));
        }
        if let Some(op) = &self.get {
            ops.push(Operation::Get(op));
        }
        if let Some(op) = &self.wait {
            ops.push(Operation::Wait(op));
        }
        if let Some(op) = &self.delete {
            ops.push(Operation::Delete(op));
        }
        if let Some(op) = &self.list {
            ops.push(Operation::List(op));
        }
        match ops.as_slice() {
            [op] => Ok(*op),
            _ => Err(EXACTLY_ONE.to_string()),
        }
    }

    /// Human lines for `mcflow plan`: what this would touch, without any secret value.
    pub fn describe(&self) -> Vec<String> {
        let ctx = &self.context;
        let Ok(op) = self.operation() else {
            return vec![EXACTLY_ONE.to_string()];
        };
        match op {
            Operation::Apply(apply) => describe_apply(apply, ctx),
            Operation::Label(op) => vec![describe_label("label", op, ctx)],
            Operation::Annotate(op) => vec![describe_label("annotate", op, ctx)],
            Operation::Get(get) => {
                let mut line = format!(
                    "get {} on context {ctx}",
                    object_ref(&get.kind, get.namespace.as_deref(), &get.name)
                );
                if !get.capture.is_empty() {
                    let names: Vec<&str> = get.capture.keys().map(String::as_str).collect();
                    line.push_str(&format!(", capturing {}", names.join(", ")));
                }
                if get.optional {
                    line.push_str(" (may be missing)");
                }
                vec![line]
            }
            Operation::Wait(wait) => vec![format!(
                "wait until {} is {} on context {ctx}{}",
                object_ref(&wait.kind, wait.namespace.as_deref(), &wait.name),
                wait.for_.describe(),
                wait.timeout
                    .as_deref()
                    .map(|t| format!(" (at most {t})"))
                    .unwrap_or_default()
            )],
            Operation::List(list) => vec![format!(
                "list {} on context {ctx}{}",
                list.namespace
                    .as_deref()
                    .map_or(list.kind.clone(), |ns| format!("{} in {ns}", list.kind)),
                list.selector
                    .as_deref()
                    .map(|s| format!(" with labels {s}"))
                    .unwrap_or_default()
            )],
            Operation::Delete(delete) => vec![format!(
                "delete {} on context {ctx}{}",
                if delete.all_namespaces {
                    format!(
                        "{} in all namespaces with labels {}",
                        delete.kind,
                        delete.selector.as_deref().unwrap_or_default()
                    )
                } else {
                    selection(
                        &delete.kind,
                        delete.namespace.as_deref(),
                        delete.name.as_deref(),
                        delete.selector.as_deref(),
                    )
                },
                if delete.ignore_missing {
                    " (if present)"
                } else {
                    ""
                }
            )],
        }
    }
}

fn validate_selection(
    what: &str,
    name: Option<&str>,
    selector: Option<&str>,
) -> Result<(), String> {
    match (name, selector) {
        (Some(_), Some(_)) => Err(format!("{what} takes `name` or `selector`, not both")),
        (None, None) => Err(format!("{what} needs `name` or `selector`")),
        _ => Ok(()),
    }
}

fn describe_apply(apply: &ApplyOp, ctx: &str) -> Vec<String> {
    let text = match (&apply.manifest, &apply.file) {
        (Some(text), _) => text.clone(),
        (None, Some(file)) => return vec![format!("apply the objects of {file} to context {ctx}")],
        (None, None) => return vec!["apply needs `manifest` or `file`".to_string()],
    };
    // `mcflow plan`: a manifest made at run time (a step's output) is shown as a placeholder.
    let trimmed = text.trim();
    if trimmed.starts_with('<') && trimmed.ends_with('>') {
        return vec![format!(
            "apply the manifest {trimmed} to context {ctx} (known at run time)"
        )];
    }
    match manifest::parse(&text) {
        Ok(objects) => {
            let names: Vec<String> = objects
                .iter()
                .map(|o| {
                    object_ref(
                        &o.kind,
                        o.namespace.as_deref().or(apply.namespace.as_deref()),
                        &o.name,
                    )
                })
                .collect();
            let noun = if names.len() == 1 {
                "object"
            } else {
                "objects"
            };
            vec![format!(
                "apply {} {noun} to context {ctx}: {}",
                names.len(),
                names.join(", ")
            )]
        }
        Err(e) => vec![format!("apply a manifest to context {ctx} ({e})")],
    }
}

fn describe_label(verb: &str, op: &LabelOp, ctx: &str) -> String {
    let t = &op.target;
    let mut changes: Vec<String> = op.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    changes.extend(op.remove.iter().map(|k| format!("{k}-")));
    let mut line = format!(
        "{verb} {} on context {ctx}",
        selection(
            &t.kind,
            t.namespace.as_deref(),
            t.name.as_deref(),
            t.selector.as_deref()
        )
    );
    if let Some(w) = &t.where_ {
        line.push_str(&format!(
            " where {} = {}",
            w.path,
            super::object::scalar_text(&w.equals)
        ));
    }
    line.push_str(&format!(": {}", changes.join(" ")));
    line
}

fn selection(
    kind: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    selector: Option<&str>,
) -> String {
    match (name, selector) {
        (Some(name), _) => object_ref(kind, namespace, name),
        (None, Some(sel)) => match namespace {
            Some(ns) => format!("{kind} in {ns} with labels {sel}"),
            None => format!("{kind} with labels {sel}"),
        },
        (None, None) => kind.to_string(),
    }
}

/// `Kind namespace/name`, or `Kind name` for cluster-scoped (or not yet defaulted) objects.
pub(crate) fn object_ref(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

impl WaitFor {
    /// The wanted state in words: "available", "Ready=True", "/status/phase = Bound".
    pub fn describe(&self) -> String {
        match self {
            WaitFor::Exists => "present".to_string(),
            WaitFor::Deleted => "deleted".to_string(),
            WaitFor::Available => "available".to_string(),
            WaitFor::Healthy => "healthy".to_string(),
            WaitFor::Synced => "synced".to_string(),
            WaitFor::Condition(c) => format!("{}={}", c.type_, c.status),
            WaitFor::Field(f) => format!("{} = {}", f.path, super::object::scalar_text(&f.equals)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(value: serde_json::Value) -> KubeAction {
        serde_json::from_value(value).expect("valid kube action")
    }

    #[test]
    fn exactly_one_operation() {
        let none = action(json!({"context": "a"}));
        assert_eq!(none.validate().unwrap_err(), EXACTLY_ONE);
        let two = action(json!({
            "context": "a",
            "get": {"kind": "Secret", "name": "x"},
            "delete": {"kind": "Secret", "name": "x"}
        }));
        assert_eq!(two.validate().unwrap_err(), EXACTLY_ONE);
        let one = action(json!({"context": "a", "get": {"kind": "Secret", "name": "x"}}));
        assert_eq!(one.validate(), Ok(()));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err =
            serde_json::from_value::<KubeAction>(json!({"context": "a", "aply": {}})).unwrap_err();
        assert!(err.to_string().contains("aply"), "{err}");
    }

    #[test]
    fn apply_needs_one_source() {
        let both = action(json!({"context": "a", "apply": {"manifest": "x", "file": "y"}}));
        assert!(both.validate().unwrap_err().contains("not both"));
        let neither = action(json!({"context": "a", "apply": {"namespace": "x"}}));
        assert!(neither.validate().unwrap_err().contains("needs"));
    }

    #[test]
    fn label_needs_a_selection_and_changes() {
        let no_target = action(
            json!({"context": "a", "label": {"target": {"kind": "Secret"}, "set": {"a": "b"}}}),
        );
        assert!(
            no_target
                .validate()
                .unwrap_err()
                .contains("`name` or `selector`")
        );
        let no_change =
            action(json!({"context": "a", "label": {"target": {"kind": "Secret", "name": "x"}}}));
        assert!(no_change.validate().unwrap_err().contains("set"));
        let both = action(json!({"context": "a", "annotate": {
            "target": {"kind": "Secret", "name": "x"}, "set": {"k": "v"}, "remove": ["k"]}}));
        assert!(both.validate().unwrap_err().contains("both"));
    }

    #[test]
    fn delete_in_all_namespaces_needs_a_selector_and_no_namespace() {
        let ok = action(json!({"context": "a", "delete": {"kind": "Service",
            "selector": "a=b", "all_namespaces": true}}));
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            ok.describe()[0],
            "delete Service in all namespaces with labels a=b on context a (if present)"
        );
        let by_name = action(json!({"context": "a", "delete": {"kind": "Service",
            "name": "x", "all_namespaces": true}}));
        assert!(by_name.validate().unwrap_err().contains("all_namespaces"));
        let in_one = action(json!({"context": "a", "delete": {"kind": "Service",
            "namespace": "n", "selector": "a=b", "all_namespaces": true}}));
        assert!(in_one.validate().unwrap_err().contains("no `namespace`"));
    }

    #[test]
    fn wait_for_forms() {
        let simple = action(
            json!({"context": "a", "wait": {"kind": "Deployment", "name": "x", "for": "available"}}),
        );
        assert_eq!(simple.wait.as_ref().unwrap().for_, WaitFor::Available);
        let cond = action(json!({"context": "a", "wait": {"kind": "Pod", "name": "x",
            "for": {"condition": {"type": "Ready"}}}}));
        assert_eq!(
            cond.wait.as_ref().unwrap().for_,
            WaitFor::Condition(ConditionIs {
                type_: "Ready".into(),
                status: "True".into()
            })
        );
        let field = action(json!({"context": "a", "wait": {"kind": "Link", "name": "x",
            "for": {"field": {"path": "status.phase", "equals": "Ready"}}, "timeout": "2s"}}));
        assert_eq!(field.validate(), Ok(()));
        let bad_timeout = action(json!({"context": "a", "wait": {"kind": "Link", "name": "x",
            "for": "exists", "timeout": "soon"}}));
        assert!(bad_timeout.validate().unwrap_err().contains("soon"));
    }

    #[test]
    fn capture_must_be_pointers() {
        let bad = action(
            json!({"context": "a", "get": {"kind": "ConfigMap", "name": "x",
            "capture": {"ca": "data.ca"}}}),
        );
        assert!(bad.validate().unwrap_err().contains("JSON pointer"));
    }

    #[test]
    fn delete_defaults_to_ignore_missing() {
        let del = action(json!({"context": "a", "delete": {"kind": "Secret", "name": "x"}}));
        assert!(del.delete.unwrap().ignore_missing);
    }

    #[test]
    fn describe_apply_lists_objects_without_secret_values() {
        let manifest = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: linkerd}\n\
                        stringData: {token: CANARY-TOKEN-1234}\n---\n---\n\
                        apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: CANARY-TOKEN-1234}\n";
        let a = action(
            json!({"context": "production", "apply": {"manifest": manifest, "namespace": "apps"}}),
        );
        let lines = a.describe();
        assert_eq!(
            lines,
            vec![
                "apply 2 objects to context production: Secret linkerd/creds, ConfigMap apps/cm"
                    .to_string()
            ]
        );
        assert!(!lines.concat().contains("CANARY"));
    }

    #[test]
    fn describe_other_operations() {
        let label = action(json!({"context": "internal", "label": {
            "target": {"kind": "Secret", "namespace": "argocd",
                       "selector": "argocd.argoproj.io/secret-type=cluster",
                       "where": {"path": "data.name", "equals": "production"}},
            "set": {"spydersoft.io/linkerd-multicluster": "true"}, "remove": ["old"]}}));
        assert_eq!(
            label.describe(),
            vec!["label Secret in argocd with labels argocd.argoproj.io/secret-type=cluster on context internal \
                  where data.name = production: spydersoft.io/linkerd-multicluster=true old-"
                .to_string()]
        );
        let wait = action(
            json!({"context": "p", "wait": {"kind": "Deployment", "namespace": "ns", "name": "d",
            "for": "available", "timeout": "5m"}}),
        );
        assert_eq!(
            wait.describe(),
            vec!["wait until Deployment ns/d is available on context p (at most 5m)".to_string()]
        );
    }
}
