//! `list`: every object of a kind in a namespace, redacted (Secret data masked, `managedFields`
//! dropped), as `object.items`; `outputs.count` is how many. Used by the diagnostics bundle
//! (`workflows/gather.yaml`: the Events of `linkerd-multicluster`).

use std::collections::BTreeMap;

use ::kube::api::ListParams;
use serde_json::{Value, json};

use super::action::ListOp;
use super::client::ContextClient;
use super::error::KubeError;
use super::retry::RequestRetry;
use super::{KubeOutcome, Scoped, object};

/// Lists `op`'s objects.
pub(crate) async fn list(cc: &ContextClient, op: &ListOp) -> Result<KubeOutcome, KubeError> {
    let scoped = Scoped::new(
        cc,
        &op.kind,
        op.api_version.as_deref(),
        op.namespace.as_deref(),
    )
    .await?;
    let selector = op.selector.as_deref().unwrap_or_default();
    let what = format!("list {} on context {}", scoped.all(), cc.name);
    let lp = ListParams::default().labels(selector);
    let found = RequestRetry::default()
        .run(&what, || async {
            scoped.api.list(&lp).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| e.context(&what))?;
    let items: Vec<Value> = found
        .items
        .iter()
        .map(|o| object::redact(scoped.json(o)))
        .collect();
    let count = items.len();
    Ok(KubeOutcome {
        summary: format!("read {count} {}", scoped.all()),
        changed: false,
        object: Some(json!({ "items": items })),
        outputs: BTreeMap::from([("count".to_string(), Value::from(count))]),
    })
}
