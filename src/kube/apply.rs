//! `apply`: server-side apply (field manager `mcflow`) of every document of a manifest, in order.
//!
//! One request per object (`PATCH ...?fieldManager=mcflow`, `application/apply-patch+yaml`),
//! plus the discovery of custom group-versions (see discovery.rs). A kind that is not served yet
//! because its CustomResourceDefinition was applied a moment ago, earlier in the same manifest,
//! refreshes discovery once; if the kind is still not served, the apply watches that CRD until
//! it is `Established` (at most 30 s, then a transient error for the step's retry policy) and
//! resolves the kind again.
//!
//! Created / configured / unchanged, still with one request per object:
//! - created: the API server answered `201 Created`;
//! - unchanged: the `mcflow` Apply entry of `managedFields` has a time earlier than the second
//!   of the response's `Date` header (both are the server's clock; a no-op apply writes nothing,
//!   so that time stays where the last real change put it);
//! - configured: anything else. An object last changed within the same second is counted as
//!   configured: the report errs towards "changed", never towards "unchanged".

use std::collections::BTreeMap;

use ::kube::api::{Patch, PatchParams};
use ::kube::core::{DynamicObject, Resource, Status};
use serde_json::Value;
use time::OffsetDateTime;

use super::action::{ApplyOp, ConditionIs, WaitFor, WaitOp, object_ref};
use super::client::ContextClient;
use super::error::{KubeError, KubeErrorKind, parse_retry_after};
use super::manifest::{self, ManifestObject};
use super::retry::RequestRetry;
use super::{ExecOptions, KubeOutcome, object};

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "mcflow";

/// What one object's apply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    Created,
    Configured,
    Unchanged,
}

/// Applies every object of `op`'s manifest.
pub(crate) async fn apply(
    cc: &ContextClient,
    op: &ApplyOp,
    opts: &ExecOptions,
    changes: Option<&super::diff::ChangeSink>,
) -> Result<KubeOutcome, KubeError> {
    let text = match (&op.manifest, &op.file) {
        (Some(text), _) => text.clone(),
        (None, Some(file)) => {
            let path = opts.base_dir.join(file);
            std::fs::read_to_string(&path).map_err(|e| {
                KubeError::invalid(format!("apply: cannot read {}: {e}", path.display()))
            })?
        }
        (None, None) => return Err(KubeError::invalid("apply needs `manifest` or `file`")),
    };
    let objects = manifest::parse(&text).map_err(|e| KubeError::invalid(format!("apply: {e}")))?;
    let mut params = PatchParams::apply(FIELD_MANAGER);
    // A diff applies with force: its result is then the object as mcflow would leave it even
    // where another manager took a field over (the diff says that a real run would conflict).
    params.force = op.force || changes.is_some();
    params.dry_run = opts.dry_run;

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut names = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        let (target, result) = apply_one(cc, obj, &objects[..i], op, &params, changes).await?;
        let key = match result {
            Applied::Created => "created",
            Applied::Configured => "configured",
            Applied::Unchanged => "unchanged",
        };
        *counts.entry(key).or_default() += 1;
        names.push(Value::String(target));
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    let changed = count("created") + count("configured") > 0;
    let verb = if opts.dry_run {
        "would apply"
    } else {
        "applied"
    };
    let noun = if objects.len() == 1 {
        "object"
    } else {
        "objects"
    };
    let parts: Vec<String> = ["created", "configured", "unchanged"]
        .iter()
        .filter(|k| count(k) > 0)
        .map(|k| format!("{} {k}", count(k)))
        .collect();
    let summary = if parts.is_empty() {
        format!("{verb} {} {noun}", objects.len())
    } else {
        format!("{verb} {} {noun} ({})", objects.len(), parts.join(", "))
    };
    let mut outputs: BTreeMap<String, Value> = ["created", "configured", "unchanged"]
        .iter()
        .map(|k| (k.to_string(), Value::from(count(k))))
        .collect();
    outputs.insert("objects".to_string(), Value::Array(names));
    Ok(KubeOutcome {
        summary,
        changed,
        object: None,
        outputs,
    })
}

/// Applies one object; returns its name (`Kind ns/name`) and what happened.
async fn apply_one(
    cc: &ContextClient,
    obj: &ManifestObject,
    earlier: &[ManifestObject],
    op: &ApplyOp,
    params: &PatchParams,
    changes: Option<&super::diff::ChangeSink>,
) -> Result<(String, Applied), KubeError> {
    let resolved = match cc
        .discovery
        .resolve(&cc.client, &cc.name, Some(&obj.api_version), &obj.kind)
        .await
    {
        Ok(r) => r,
        Err(e) if e.kind == KubeErrorKind::NotFound => match defining_crd(earlier, obj) {
            Some(crd) => served_after_established(cc, crd, obj).await?,
            None => {
                return Err(e.context(&format!("apply {} on context {}", target_of(obj), cc.name)));
            }
        },
        Err(e) => {
            return Err(e.context(&format!("apply {} on context {}", target_of(obj), cc.name)));
        }
    };
    let namespace = resolved.namespaced.then(|| {
        obj.namespace
            .clone()
            .or_else(|| op.namespace.clone())
            .unwrap_or_else(|| cc.client.default_namespace().to_string())
    });
    let mut body = obj.body.clone();
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        match &namespace {
            Some(ns) => meta.insert("namespace".to_string(), Value::String(ns.clone())),
            None => meta.remove("namespace"),
        };
    }
    let target = object_ref(&obj.kind, namespace.as_deref(), &obj.name);
    let what = format!("apply {target} on context {}", cc.name);
    let url = DynamicObject::url_path(&resolved.resource, namespace.as_deref());
    let holds_data = object::holds_data(&body);
    let secrets = object::secret_values(&body);
    let live = match changes {
        Some(_) => live_object(cc, &url, &obj.name)
            .await
            .map_err(|e| e.context(&what))?,
        None => None,
    };
    let (result, applied) = RequestRetry::default()
        .run(&what, || async {
            let request = ::kube::core::Request::new(url.as_str())
                .patch(&obj.name, params, &Patch::Apply(&body))
                .map_err(|e| KubeError::invalid(e.to_string()))?;
            send(cc, request)
                .await
                .map_err(|(e, fields)| e.redacted_for(holds_data, &fields, &secrets))
        })
        .await
        .map_err(|e| e.context(&what))?;
    if let Some(sink) = changes {
        sink.record(super::diff::compare_applied(
            (&cc.name, target.clone()),
            live.as_ref(),
            &applied,
            FIELD_MANAGER,
            op.force,
        ));
    }
    Ok((target, result))
}

fn target_of(obj: &ManifestObject) -> String {
    object_ref(&obj.kind, obj.namespace.as_deref(), &obj.name)
}

/// The name of a CRD earlier in the manifest that defines `obj`'s group and kind.
fn defining_crd<'a>(earlier: &'a [ManifestObject], obj: &ManifestObject) -> Option<&'a str> {
    let group = obj
        .api_version
        .split_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    earlier
        .iter()
        .find(|e| {
            e.kind == "CustomResourceDefinition"
                && e.body.pointer("/spec/group").and_then(Value::as_str) == Some(group)
                && e.body.pointer("/spec/names/kind").and_then(Value::as_str)
                    == Some(obj.kind.as_str())
        })
        .map(|e| e.name.as_str())
}

/// How long an apply waits for a CRD it just applied to be established.
const ESTABLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits (by watch) for the CRD `crd`, applied earlier in this manifest, to be `Established`,
/// then resolves `obj`'s kind again. Past [`ESTABLISH_TIMEOUT`] the error is transient, for the
/// step's retry policy.
async fn served_after_established(
    cc: &ContextClient,
    crd: &str,
    obj: &ManifestObject,
) -> Result<super::discovery::Resolved, KubeError> {
    let what = format!("apply {} on context {}", target_of(obj), cc.name);
    let established = WaitOp {
        kind: "CustomResourceDefinition".to_string(),
        api_version: None,
        namespace: None,
        name: crd.to_string(),
        for_: WaitFor::Condition(ConditionIs {
            type_: "Established".to_string(),
            status: "True".to_string(),
        }),
        timeout: None,
    };
    let waited = super::wait::wait(cc, &established, Some(ESTABLISH_TIMEOUT)).await;
    if let Err(e) = waited {
        return Err(e.context(&format!("{what}: waiting for its CustomResourceDefinition")));
    }
    cc.discovery
        .resolve(&cc.client, &cc.name, Some(&obj.api_version), &obj.kind)
        .await
        .map_err(|mut e| {
            e.transient = true;
            e.context(&what)
        })
}

/// Sends one apply and reads what it did. Errors come with the field names of the Status's
/// causes (never their messages, which may quote values).
/// The object as it is now (None: it does not exist), for a diff.
async fn live_object(
    cc: &ContextClient,
    url: &str,
    name: &str,
) -> Result<Option<Value>, KubeError> {
    let what = format!("get {url}/{name} on context {}", cc.name);
    RequestRetry::default()
        .run(&what, || async {
            let request = ::kube::core::Request::new(url)
                .get(name, &Default::default())
                .map_err(|e| KubeError::invalid(e.to_string()))?;
            match cc.client.request::<Value>(request).await {
                Ok(v) => Ok(Some(v)),
                Err(e) => match KubeError::from(e) {
                    e if e.kind == KubeErrorKind::NotFound => Ok(None),
                    e => Err(e),
                },
            }
        })
        .await
}

/// Sends an apply; what it did and the object the server returned.
async fn send(
    cc: &ContextClient,
    request: ::http::Request<Vec<u8>>,
) -> Result<(Applied, Value), (KubeError, Vec<String>)> {
    let response = cc
        .client
        .send(request.map(::kube::client::Body::from))
        .await
        .map_err(|e| (KubeError::from(e), Vec::new()))?;
    let code = response.status().as_u16();
    let (date, retry_after) = {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (
            header("date"),
            parse_retry_after(header("retry-after").as_deref()),
        )
    };
    let bytes = response
        .into_body()
        .collect_bytes()
        .await
        .map_err(|e| (KubeError::from(e), Vec::new()))?;
    if code >= 400 {
        return Err(status_error(code, &bytes, retry_after));
    }
    let applied: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if code == 201 {
        return Ok((Applied::Created, applied));
    }
    Ok((classify(&applied, date.as_deref()), applied))
}

fn status_error(
    code: u16,
    bytes: &[u8],
    retry_after: Option<std::time::Duration>,
) -> (KubeError, Vec<String>) {
    match serde_json::from_slice::<Status>(bytes) {
        Ok(status) => {
            let fields = status
                .details
                .as_ref()
                .map(|d| {
                    d.causes
                        .iter()
                        .filter(|c| !c.field.is_empty())
                        .map(|c| c.field.clone())
                        .collect()
                })
                .unwrap_or_default();
            let retry_after = retry_after.or_else(|| {
                status
                    .details
                    .as_ref()
                    .map(|d| u64::from(d.retry_after_seconds))
                    .filter(|s| *s > 0)
                    .map(std::time::Duration::from_secs)
            });
            (
                KubeError::from_status(code, &status.reason, &status.message, retry_after),
                fields,
            )
        }
        // Not a Status (a proxy's page, a bare 503): its text says nothing about the object.
        Err(_) => (
            KubeError::from_status(code, "", "", retry_after),
            Vec::new(),
        ),
    }
}

/// Configured or unchanged, from the `mcflow` Apply time and the response's `Date`.
fn classify(applied: &Value, date: Option<&str>) -> Applied {
    let entry_time = applied
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .and_then(|entries| {
            entries.iter().find(|e| {
                e.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
            })
        })
        .and_then(|e| e.get("time").and_then(Value::as_str))
        .and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        });
    let now = date.and_then(parse_http_date);
    match (entry_time, now) {
        (Some(t), Some(now)) if t.unix_timestamp() < now.unix_timestamp() => Applied::Unchanged,
        _ => Applied::Configured,
    }
}

/// An HTTP `Date` header (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(text.trim(), format)
        .ok()
        .map(|t| t.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_apply_time(time: &str) -> Value {
        json!({"metadata": {"managedFields": [
            {"manager": "kubectl", "operation": "Update", "time": "2030-01-01T00:00:00Z"},
            {"manager": "mcflow", "operation": "Apply", "time": time}
        ]}})
    }

    #[test]
    fn unchanged_when_the_apply_time_is_older_than_the_response() {
        let date = Some("Tue, 03 Jun 2025 10:00:05 GMT");
        assert_eq!(
            classify(&with_apply_time("2025-06-03T09:59:00Z"), date),
            Applied::Unchanged
        );
        assert_eq!(
            classify(&with_apply_time("2025-06-03T10:00:05Z"), date),
            Applied::Configured
        );
        assert_eq!(
            classify(&with_apply_time("2025-06-03T09:59:00Z"), None),
            Applied::Configured
        );
        assert_eq!(
            classify(&json!({"metadata": {}}), date),
            Applied::Configured
        );
    }

    #[test]
    fn parses_http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.unix_timestamp(), 784111777);
        assert!(parse_http_date("yesterday").is_none());
    }

    #[test]
    fn status_errors_keep_cause_fields_only() {
        let body = json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422, "reason": "Invalid",
            "message": "Secret \"c\" is invalid: data[token]: Invalid value: \"CANARY\"",
            "details": {"name": "c", "kind": "Secret", "causes": [
                {"reason": "FieldValueInvalid", "message": "Invalid value: \"CANARY\"", "field": "data[token]"}
            ]}
        });
        let (err, fields) = status_error(422, body.to_string().as_bytes(), None);
        assert_eq!(fields, vec!["data[token]".to_string()]);
        let err = err.redacted_for(true, &fields, &[]);
        assert!(!err.message.contains("CANARY"), "{}", err.message);
        assert_eq!(err.kind, KubeErrorKind::Rejected);
        let (err, _) = status_error(
            503,
            b"upstream unavailable",
            Some(std::time::Duration::from_secs(1)),
        );
        assert!(err.transient);
        assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(1)));
    }

    #[test]
    fn finds_crds_defined_earlier() {
        let crd = manifest::parse(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: links.multicluster.linkerd.io}\nspec: {group: multicluster.linkerd.io, names: {kind: Link}}\n",
        )
        .unwrap();
        let link = manifest::parse(
            "apiVersion: multicluster.linkerd.io/v1alpha2\nkind: Link\nmetadata: {name: x}\n",
        )
        .unwrap();
        assert_eq!(
            defining_crd(&crd, &link[0]),
            Some("links.multicluster.linkerd.io")
        );
        assert_eq!(defining_crd(&[], &link[0]), None);
    }
}
