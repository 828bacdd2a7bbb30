//! `delete`: remove objects by name or by label selector.

use ::kube::api::{DeleteParams, ListParams};

use super::action::DeleteOp;
use super::client::ContextClient;
use super::error::{KubeError, KubeErrorKind};
use super::retry::RequestRetry;
use super::{ExecOptions, KubeOutcome, Scoped};

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
) -> Result<KubeOutcome, KubeError> {
    let scoped = Scoped::new(
        cc,
        &op.kind,
        op.api_version.as_deref(),
        op.namespace.as_deref(),
    )
    .await?;
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
            Ok(_) => deleted.push(target),
            Err(e) if e.kind == KubeErrorKind::NotFound && op.ignore_missing => absent.push(target),
            Err(e) => return Err(e.context(&what)),
        }
    }
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
    Ok(outcome(summary, !deleted.is_empty()))
}

fn outcome(summary: String, changed: bool) -> KubeOutcome {
    KubeOutcome {
        summary,
        changed,
        object: None,
        outputs: Default::default(),
    }
}
