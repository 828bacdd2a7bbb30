//! `label` and `annotate`: set and remove metadata keys on objects found by name or selector,
//! optionally filtered by a field (`where`).
//!
//! Changes go as a JSON merge patch of `metadata.labels` (or `annotations`), and only to objects
//! that need them: an object already in the wanted state costs no write, and the step reports
//! `changed: false`. A merge patch rather than server-side apply because these objects belong to
//! someone else (Argo CD's cluster secrets, a chart's Services): a merge patch touches exactly
//! the named keys and can remove a key whoever set it, where an apply under its own field manager
//! could only remove keys that manager had set.

use std::collections::BTreeMap;

use ::kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Map, Value, json};

use super::action::LabelOp;
use super::client::ContextClient;
use super::error::{KubeError, KubeErrorKind};
use super::retry::RequestRetry;
use super::{ExecOptions, KubeOutcome, Scoped, object};

/// Which metadata map a [`LabelOp`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Labels,
    Annotations,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Labels => "labels",
            Field::Annotations => "annotations",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Field::Labels => "label",
            Field::Annotations => "annotate",
        }
    }

    fn done(self, dry_run: bool) -> &'static str {
        match (self, dry_run) {
            (Field::Labels, false) => "labelled",
            (Field::Labels, true) => "would label",
            (Field::Annotations, false) => "annotated",
            (Field::Annotations, true) => "would annotate",
        }
    }
}

/// Applies `op` to every matching object that needs it.
pub(crate) async fn label(
    cc: &ContextClient,
    op: &LabelOp,
    field: Field,
    opts: &ExecOptions,
    changes: Option<&super::diff::ChangeSink>,
) -> Result<KubeOutcome, KubeError> {
    let t = &op.target;
    let scoped = Scoped::new(
        cc,
        &t.kind,
        t.api_version.as_deref(),
        t.namespace.as_deref(),
    )
    .await?;
    let candidates = find(cc, &scoped, op).await?;
    let matches: Vec<Value> = candidates
        .into_iter()
        .filter(|obj| {
            t.where_
                .as_ref()
                .is_none_or(|w| object::field_equals(obj, &w.path, &w.equals))
        })
        .collect();
    if matches.is_empty() {
        let message = no_match(cc, &scoped, op);
        if op.allow_none {
            return Ok(KubeOutcome {
                summary: message,
                changed: false,
                object: None,
                outputs: BTreeMap::new(),
            });
        }
        return Err(KubeError::new(KubeErrorKind::NotFound, message));
    }
    let patch_params = PatchParams {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let patch = json!({ "metadata": { field.key(): wanted(op) } });
    let mut changed = Vec::new();
    let mut already = Vec::new();
    for obj in &matches {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let target = scoped.name(&name);
        if let (Some(sink), Value::Object(keys)) = (changes, wanted(op)) {
            sink.record(super::diff::compare_keys(
                (&cc.name, target.clone()),
                obj,
                field.key(),
                &keys,
            ));
        }
        if !needs_change(obj, field, op) {
            already.push(target);
            continue;
        }
        let what = format!("{} {target} on context {}", field.verb(), cc.name);
        RequestRetry::default()
            .run(&what, || async {
                scoped
                    .api
                    .patch(&name, &patch_params, &Patch::Merge(&patch))
                    .await
                    .map_err(KubeError::from)
            })
            .await
            .map_err(|e| e.context(&what))?;
        changed.push(target);
    }
    Ok(KubeOutcome {
        summary: summary(field, opts.dry_run, &changed, &already),
        changed: !changed.is_empty(),
        object: None,
        outputs: BTreeMap::from([("matched".to_string(), Value::from(matches.len()))]),
    })
}

async fn find(cc: &ContextClient, scoped: &Scoped, op: &LabelOp) -> Result<Vec<Value>, KubeError> {
    let t = &op.target;
    if let Some(name) = &t.name {
        let what = format!("get {} on context {}", scoped.name(name), cc.name);
        let found = RequestRetry::default()
            .run(&what, || async {
                scoped.api.get_opt(name).await.map_err(KubeError::from)
            })
            .await
            .map_err(|e| e.context(&what))?;
        return Ok(found.iter().map(|o| scoped.json(o)).collect());
    }
    let selector = t.selector.as_deref().unwrap_or_default();
    let what = format!(
        "list {} with labels {selector} on context {}",
        scoped.all(),
        cc.name
    );
    let lp = ListParams::default().labels(selector);
    let list = RequestRetry::default()
        .run(&what, || async {
            scoped.api.list(&lp).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| e.context(&what))?;
    Ok(list.items.iter().map(|o| scoped.json(o)).collect())
}

/// The merge patch body of the metadata map: set keys with their values, removed keys as null.
fn wanted(op: &LabelOp) -> Value {
    let mut map = Map::new();
    for (k, v) in &op.set {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    for k in &op.remove {
        map.insert(k.clone(), Value::Null);
    }
    Value::Object(map)
}

/// Whether the object's labels/annotations differ from what `op` wants.
fn needs_change(obj: &Value, field: Field, op: &LabelOp) -> bool {
    let current = obj
        .pointer(&format!("/metadata/{}", field.key()))
        .and_then(Value::as_object);
    let get = |k: &str| current.and_then(|m| m.get(k)).and_then(Value::as_str);
    op.set.iter().any(|(k, v)| get(k) != Some(v.as_str()))
        || op.remove.iter().any(|k| get(k).is_some())
}

fn no_match(cc: &ContextClient, scoped: &Scoped, op: &LabelOp) -> String {
    let t = &op.target;
    let mut text = match (&t.name, &t.selector) {
        (Some(name), _) => format!("{} not found", scoped.name(name)),
        (None, selector) => format!(
            "no {} with labels {}",
            scoped.all(),
            selector.as_deref().unwrap_or_default()
        ),
    };
    if let Some(w) = &t.where_ {
        // The value is the workflow's own (e.g. a cluster name), not one read from a Secret.
        text.push_str(&format!(
            " where {} = {}",
            w.path,
            object::scalar_text(&w.equals)
        ));
    }
    format!("{text} on context {}", cc.name)
}

fn summary(field: Field, dry_run: bool, changed: &[String], already: &[String]) -> String {
    let done = field.done(dry_run);
    let unchanged = |list: &[String]| match field {
        Field::Labels => format!("{} already labelled", list.join(", ")),
        Field::Annotations => format!("{} already annotated", list.join(", ")),
    };
    match (changed, already) {
        ([], []) => format!("{done} nothing"),
        ([], rest) => unchanged(rest),
        ([one], []) => format!("{done} {one}"),
        (many, []) => format!("{done} {} objects: {}", many.len(), many.join(", ")),
        (many, rest) => format!("{done} {}; {}", many.join(", "), unchanged(rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::action::Target;

    fn op(set: &[(&str, &str)], remove: &[&str]) -> LabelOp {
        LabelOp {
            target: Target {
                kind: "Secret".into(),
                api_version: None,
                namespace: None,
                name: Some("x".into()),
                selector: None,
                where_: None,
            },
            set: set
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            remove: remove.iter().map(|k| k.to_string()).collect(),
            allow_none: false,
        }
    }

    #[test]
    fn only_changes_what_differs() {
        let obj = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        assert!(!needs_change(
            &obj,
            Field::Labels,
            &op(&[("a", "1")], &["c"])
        ));
        assert!(needs_change(&obj, Field::Labels, &op(&[("a", "2")], &[])));
        assert!(needs_change(&obj, Field::Labels, &op(&[], &["b"])));
        assert!(needs_change(
            &obj,
            Field::Annotations,
            &op(&[("a", "1")], &[])
        ));
        let bare = json!({"metadata": {}});
        assert!(!needs_change(&bare, Field::Labels, &op(&[], &["b"])));
    }

    #[test]
    fn patch_sets_and_removes() {
        assert_eq!(
            wanted(&op(&[("a", "1")], &["b"])),
            json!({"a": "1", "b": null})
        );
    }

    #[test]
    fn summaries() {
        let s = |c: &[&str], a: &[&str]| {
            let c: Vec<String> = c.iter().map(|x| x.to_string()).collect();
            let a: Vec<String> = a.iter().map(|x| x.to_string()).collect();
            summary(Field::Labels, false, &c, &a)
        };
        assert_eq!(s(&["Secret argocd/p"], &[]), "labelled Secret argocd/p");
        assert_eq!(
            s(&[], &["Secret argocd/p"]),
            "Secret argocd/p already labelled"
        );
        assert_eq!(s(&["A", "B"], &[]), "labelled 2 objects: A, B");
        assert_eq!(
            summary(Field::Annotations, true, &["A".into()], &[]),
            "would annotate A"
        );
    }
}
