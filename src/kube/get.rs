//! `get`: read one object and capture values from it by JSON pointer.

use std::collections::BTreeMap;

use serde_json::Value;

use super::action::GetOp;
use super::client::ContextClient;
use super::error::{KubeError, KubeErrorKind};
use super::retry::RequestRetry;
use super::{KubeOutcome, Scoped, object};

/// Reads `op`'s object. A missing one fails, unless `optional` (then `exists: false` and every
/// capture null).
pub(crate) async fn get(cc: &ContextClient, op: &GetOp) -> Result<KubeOutcome, KubeError> {
    let scoped = Scoped::new(
        cc,
        &op.kind,
        op.api_version.as_deref(),
        op.namespace.as_deref(),
    )
    .await?;
    let target = scoped.name(&op.name);
    let what = format!("get {target} on context {}", cc.name);
    let found = RequestRetry::default()
        .run(&what, || async {
            scoped.api.get_opt(&op.name).await.map_err(KubeError::from)
        })
        .await
        .map_err(|e| e.context(&what))?;
    let Some(found) = found else {
        if !op.optional {
            return Err(KubeError::new(
                KubeErrorKind::NotFound,
                format!("{what}: {target} not found"),
            ));
        }
        let mut outputs: BTreeMap<String, Value> = op
            .capture
            .keys()
            .map(|k| (k.clone(), Value::Null))
            .collect();
        outputs.insert("exists".to_string(), Value::Bool(false));
        return Ok(KubeOutcome {
            summary: format!("{target} does not exist"),
            changed: false,
            object: None,
            outputs,
        });
    };
    let obj = object::redact(scoped.json(&found));
    let mut outputs =
        object::capture(&obj, &op.capture).map_err(|e| KubeError::invalid(e).context(&what))?;
    outputs.insert("exists".to_string(), Value::Bool(true));
    let summary = match op.capture.len() {
        0 => format!("read {target}"),
        n => format!("read {target} ({n} captured)"),
    };
    Ok(KubeOutcome {
        summary,
        changed: false,
        object: Some(obj),
        outputs,
    })
}
