//! `delete`: remove objects by name or by label selector.

use ::kube::api::{Api, DeleteParams, DynamicObject, ListParams};

use super::action::DeleteOp;
use super::client::ContextClient;
use super::error::{KubeError, KubeErrorKind};
use super::retry::RequestRetry;
use super::{ExecOptions, KubeOutcome, Scoped};

/// The `(namespace, name)`s `op` targets in every namespace (`all_namespaces`).
async fn targets_everywhere(
    cc: &ContextClient,
    scoped: &Scoped,
    selector: &str,
) -> Result<Vec<(String, String)>, KubeError> {
    let kind = &scoped.resolved.resource.kind;
    let what = format!(
        "list {kind} in all namespaces with labels {selector} on context {}",
        cc.name
    );
    let api: Api<DynamicObject> = Api::all_with(cc.client.clone(), &scoped.resolved.resource);
    let lp = ListParams::default().labels(selector);
    let list = RequestRetry::default()
        .run(&what, || async {
            api.list(&lp).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| e.context(&what))?;
    Ok(list
        .items
        .iter()
        .filter_map(|o| Some((o.metadata.namespace.clone()?, o.metadata.name.clone()?)))
        .collect())
}

/// The names `op` targets: its `name`, or the objects its `selector` matches now.
async fn target_names(
    cc: &ContextClient,
    scoped: &Scoped,
    op: &DeleteOp,
) -> Result<Vec<String>, KubeError> {
    let selector = match (&op.name, &op.selector) {
        (Some(name), _) => return Ok(vec![name.clone()]),
        (None, Some(selector)) => selector,
        (None, None) => return Err(KubeError::invalid("delete needs `name` or `selector`")),
    };
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
    Ok(list
        .items
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .collect())
}

/// Deletes `op`'s objects. A missing object (or no match for a selector) is a success unless
/// `ignore_missing: false`.
pub(crate) async fn delete(
    cc: &ContextClient,
    op: &DeleteOp,
    opts: &ExecOptions,
    changes: Option<&super::diff::ChangeSink>,
) -> Result<KubeOutcome, KubeError> {
    let scoped = Scoped::new(
        cc,
        &op.kind,
        op.api_version.as_deref(),
        op.namespace.as_deref(),
    )
    .await?;
    if op.all_namespaces && scoped.resolved.namespaced {
        return delete_everywhere(cc, &scoped, op, opts, changes).await;
    }
    let names = target_names(cc, &scoped, op).await?;
    if names.is_empty() {
        let sel = op.selector.as_deref().unwrap_or_default();
        let message = format!(
            "no {} matches labels {sel} on context {}",
            scoped.all(),
            cc.name
        );
        if !op.ignore_missing {
            return Err(KubeError::new(KubeErrorKind::NotFound, message));
        }
        return Ok(outcome(message, false));
    }
    let dp = DeleteParams {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut deleted = Vec::new();
    let mut absent = Vec::new();
    for name in &names {
        let target = scoped.name(name);
        let what = format!("delete {target} on context {}", cc.name);
        let result = RequestRetry::default()
            .run(&what, || async {
                scoped.api.delete(name, &dp).await.map_err(KubeError::from)
            })
            .await;
        match result {
            Ok(_) => {
                if let Some(sink) = changes {
                    sink.record(super::diff::deletion(&cc.name, target.clone()));
                }
                deleted.push(target);
            }
            Err(e) if e.kind == KubeErrorKind::NotFound && op.ignore_missing => absent.push(target),
            Err(e) => return Err(e.context(&what)),
        }
    }
    Ok(summarize(opts, deleted, absent))
}

/// `all_namespaces`: deletes what the selector matches in every namespace, each object in its own.
async fn delete_everywhere(
    cc: &ContextClient,
    scoped: &Scoped,
    op: &DeleteOp,
    opts: &ExecOptions,
    changes: Option<&super::diff::ChangeSink>,
) -> Result<KubeOutcome, KubeError> {
    let selector = op.selector.as_deref().unwrap_or_default();
    let kind = scoped.resolved.resource.kind.clone();
    let targets = targets_everywhere(cc, scoped, selector).await?;
    if targets.is_empty() {
        let message = format!(
            "no {kind} in any namespace matches labels {selector} on context {}",
            cc.name
        );
        if !op.ignore_missing {
            return Err(KubeError::new(KubeErrorKind::NotFound, message));
        }
        return Ok(outcome(message, false));
    }
    let dp = DeleteParams {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut deleted = Vec::new();
    let mut absent = Vec::new();
    for (ns, name) in &targets {
        let api: Api<DynamicObject> =
            Api::namespaced_with(cc.client.clone(), ns, &scoped.resolved.resource);
        let target = super::action::object_ref(&kind, Some(ns), name);
        let what = format!("delete {target} on context {}", cc.name);
        let result = RequestRetry::default()
            .run(&what, || async {
                api.delete(name, &dp).await.map_err(KubeError::from)
            })
            .await;
        match result {
            Ok(_) => {
                if let Some(sink) = changes {
                    sink.record(super::diff::deletion(&cc.name, target.clone()));
                }
                deleted.push(target);
            }
            Err(e) if e.kind == KubeErrorKind::NotFound && op.ignore_missing => absent.push(target),
            Err(e) => return Err(e.context(&what)),
        }
    }
    Ok(summarize(opts, deleted, absent))
}

fn summarize(opts: &ExecOptions, deleted: Vec<String>, absent: Vec<String>) -> KubeOutcome {
    let verb = if opts.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut summary = match deleted.as_slice() {
        [] => String::new(),
        [one] => format!("{verb} {one}"),
        many => format!("{verb} {} objects: {}", many.len(), many.join(", ")),
    };
    if !absent.is_empty() {
        let gone = format!("{} already absent", absent.join(", "));
        summary = if summary.is_empty() {
            gone
        } else {
            format!("{summary}; {gone}")
        };
    }
    outcome(summary, !deleted.is_empty())
}

fn outcome(summary: String, changed: bool) -> KubeOutcome {
    KubeOutcome {
        summary,
        changed,
        object: None,
        outputs: Default::default(),
    }
}
