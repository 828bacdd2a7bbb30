//! Reading and redacting Kubernetes objects held as JSON: field paths, `where` matching with
//! Secret data decoding, captures by JSON pointer, and the redaction of secret values.

use std::collections::BTreeMap;

#[cfg(test)]
use base64::Engine as _;
use serde_json::Value;

/// What replaces a secret value in anything mcflow returns or prints.
pub use crate::secrets::MASK as REDACTED;
use crate::secrets::decode_base64;

/// The annotation `kubectl apply` (client-side) writes: a full copy of the object, data included.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A scalar as text (`"a"` → `a`, `3` → `3`, `true` → `true`); other values as compact JSON.
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Turns a dotted path (`data.name`, `status.conditions.0.type`) into a JSON pointer; a path
/// that already starts with `/` is returned as is. Dotted keys cannot contain dots: use a
/// pointer (`/metadata/labels/app.kubernetes.io~1name`) for those.
pub(crate) fn to_pointer(path: &str) -> String {
    if path.starts_with('/') || path.is_empty() {
        return path.to_string();
    }
    path.split('.')
        .map(|seg| format!("/{}", seg.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Whether the object is a core `Secret`.
pub(crate) fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// The value at `path` (pointer or dotted). For Secrets, a value under `/data/` is
/// base64-decoded (when it decodes to UTF-8), so it compares with the readable text.
pub(crate) fn lookup(obj: &Value, path: &str) -> Option<Value> {
    let pointer = to_pointer(path);
    let value = obj.pointer(&pointer)?;
    if is_secret(obj)
        && pointer.starts_with("/data/")
        && let Some(decoded) = value.as_str().and_then(decode_base64)
    {
        return Some(Value::String(decoded));
    }
    Some(value.clone())
}

/// Whether the object's field equals the wanted value, compared as text.
pub(crate) fn field_equals(obj: &Value, path: &str, equals: &Value) -> bool {
    lookup(obj, path).is_some_and(|v| scalar_text(&v) == scalar_text(equals))
}

/// The object as mcflow returns it: `managedFields` dropped, and for Secrets every `data` and
/// `stringData` value and the last-applied annotation replaced by [`REDACTED`].
pub(crate) fn redact(mut obj: Value) -> Value {
    let secret = is_secret(&obj);
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if secret
            && let Some(Value::Object(annotations)) = meta.get_mut("annotations")
            && let Some(v) = annotations.get_mut(LAST_APPLIED)
        {
            *v = Value::String(REDACTED.to_string());
        }
    }
    if secret {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(map)) = obj.get_mut(field) {
                for v in map.values_mut() {
                    *v = Value::String(REDACTED.to_string());
                }
            }
        }
    }
    obj
}

/// Whether the object carries `data` or `stringData` (whose values must never be echoed).
pub(crate) fn holds_data(obj: &Value) -> bool {
    ["data", "stringData", "binaryData"]
        .iter()
        .any(|f| obj.get(f).is_some_and(|v| !v.is_null()))
}

/// Every `data`/`stringData` value of a manifest object, raw and base64-decoded, to scrub from
/// messages. Very short values are left out: scrubbing `"1"` would mangle every message.
pub(crate) fn secret_values(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for field in ["data", "stringData"] {
        let Some(Value::Object(map)) = obj.get(field) else {
            continue;
        };
        for v in map.values().filter_map(Value::as_str) {
            out.push(v.to_string());
            if field == "data"
                && let Some(decoded) = decode_base64(v)
            {
                out.extend(decoded.lines().map(str::trim).map(str::to_string));
                out.push(decoded);
            }
        }
    }
    out.retain(|v| v.len() >= 6);
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out.dedup();
    out
}

/// `message` with every one of `secrets` replaced by [`REDACTED`].
pub(crate) fn scrub(message: &str, secrets: &[String]) -> String {
    let mut text = message.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    text
}

/// Named values from the object by JSON pointer; a pointer that points nowhere is an error
/// naming it. Reads the object it is given, so captures from a redacted Secret are redacted.
pub(crate) fn capture(
    obj: &Value,
    capture: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Value>, String> {
    capture
        .iter()
        .map(|(out, pointer)| match obj.pointer(pointer) {
            Some(v) => Ok((out.clone(), v.clone())),
            None => Err(format!(
                "capture {out:?}: nothing at JSON pointer {pointer:?} in the object"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn argocd_secret(name: &str) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("cluster-{name}"), "namespace": "argocd",
                         "labels": {"argocd.argoproj.io/secret-type": "cluster"},
                         "managedFields": [{"manager": "x"}],
                         "annotations": {LAST_APPLIED: "{\"data\":{\"config\":\"CANARY\"}}"}},
            "data": {"name": b64(name), "server": b64("https://prod:6443"), "config": b64("{\"bearerToken\":\"CANARY-TOKEN-42\"}")}
        })
    }

    #[test]
    fn dotted_paths_become_pointers() {
        assert_eq!(to_pointer("data.name"), "/data/name");
        assert_eq!(to_pointer("/data/name"), "/data/name");
        assert_eq!(
            to_pointer("status.conditions.0.type"),
            "/status/conditions/0/type"
        );
        assert_eq!(to_pointer("a/b.c"), "/a~1b/c");
    }

    #[test]
    fn where_decodes_secret_data() {
        let secret = argocd_secret("production");
        assert!(field_equals(&secret, "data.name", &json!("production")));
        assert!(field_equals(&secret, "/data/name", &json!("production")));
        assert!(!field_equals(&secret, "data.name", &json!("nonproduction")));
        assert!(!field_equals(&secret, "data.missing", &json!("production")));
        assert!(field_equals(
            &secret,
            "metadata.namespace",
            &json!("argocd")
        ));
        // A ConfigMap's data is plain text: not decoded.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"n": "cHJvZA=="}});
        assert!(field_equals(&cm, "data.n", &json!("cHJvZA==")));
    }

    #[test]
    fn compares_as_text() {
        let obj = json!({"spec": {"replicas": 3, "paused": false}});
        assert!(field_equals(&obj, "spec.replicas", &json!("3")));
        assert!(field_equals(&obj, "spec.replicas", &json!(3)));
        assert!(field_equals(&obj, "spec.paused", &json!("false")));
    }

    #[test]
    fn redacts_secrets_only() {
        let out = redact(argocd_secret("production"));
        let text = out.to_string();
        assert!(!text.contains("CANARY"), "{text}");
        assert!(!text.contains("managedFields"));
        assert_eq!(out["data"]["name"], REDACTED);
        assert_eq!(
            out["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
            "cluster"
        );
        let cm = redact(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}),
        );
        assert_eq!(cm["data"]["k"], "v");
    }

    #[test]
    fn secret_values_include_decoded_text() {
        let values = secret_values(&argocd_secret("production"));
        assert!(values.iter().any(|v| v.contains("CANARY-TOKEN-42")));
        assert!(values.iter().any(|v| v == "https://prod:6443"));
        let msg = "rejected {\"bearerToken\":\"CANARY-TOKEN-42\"} here";
        assert!(!scrub(msg, &values).contains("CANARY"));
    }

    #[test]
    fn captures_by_pointer() {
        let obj =
            json!({"data": {"ca-bundle.crt": "PEM"}, "spec": {"ports": [{"nodePort": 30143}]}});
        let wanted = BTreeMap::from([
            ("ca".to_string(), "/data/ca-bundle.crt".to_string()),
            ("port".to_string(), "/spec/ports/0/nodePort".to_string()),
        ]);
        let got = capture(&obj, &wanted).unwrap();
        assert_eq!(got["ca"], json!("PEM"));
        assert_eq!(got["port"], json!(30143));
        let missing = BTreeMap::from([("x".to_string(), "/spec/nope".to_string())]);
        let err = capture(&obj, &missing).unwrap_err();
        assert!(
            err.contains("/spec/nope") && err.contains("\"x\""),
            "{}",
            err
        );
    }
}
