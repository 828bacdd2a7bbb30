//! Multi-document YAML manifests, read into JSON objects.
//!
//! Parse errors name the document and position only: the text may hold a token, so no part of it
//! is ever quoted back.

use std::fmt;

/// One object of a manifest, with the identity fields every later stage needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ManifestObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub body: serde_json::Value,
}

/// Why a manifest could not be read. Never holds manifest text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ManifestError(pub String);

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads every non-empty document of `text` as a Kubernetes object.
pub(crate) fn parse(text: &str) -> Result<Vec<ManifestObject>, ManifestError> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| {
        // The parser's message may quote the offending text; keep only where it is.
        let place = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        ManifestError(format!("the manifest is not valid YAML{place}"))
    })?;
    docs.into_iter()
        .filter(|doc| !doc.is_null())
        .enumerate()
        .map(|(i, doc)| object(i + 1, doc))
        .collect()
}

fn object(index: usize, body: serde_json::Value) -> Result<ManifestObject, ManifestError> {
    let text = |pointer: &str| {
        body.pointer(pointer)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let missing =
        |what: &str| ManifestError(format!("document {index} of the manifest has no {what}"));
    if !body.is_object() {
        return Err(ManifestError(format!(
            "document {index} of the manifest is not a mapping"
        )));
    }
    let api_version = text("/apiVersion").ok_or_else(|| missing("apiVersion"))?;
    let kind = text("/kind").ok_or_else(|| missing("kind"))?;
    let name = text("/metadata/name").ok_or_else(|| missing("metadata.name"))?;
    let namespace = text("/metadata/namespace").filter(|ns| !ns.is_empty());
    Ok(ManifestObject {
        api_version,
        kind,
        name,
        namespace,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_documents_and_skips_empty_ones() {
        let objects = parse("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n\n---\n# only a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b, namespace: x}\n").unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].kind, "ConfigMap");
        assert_eq!(objects[0].namespace, None);
        assert_eq!(objects[1].api_version, "apps/v1");
        assert_eq!(objects[1].namespace.as_deref(), Some("x"));
    }

    #[test]
    fn errors_do_not_quote_the_text() {
        let err = parse("apiVersion: v1\nkind: Secret\ndata: {token: \"CANARY-abc\n").unwrap_err();
        assert!(!err.0.contains("CANARY"), "{err}");
        assert!(err.0.contains("not valid YAML"), "{err}");
        let err =
            parse("kind: Secret\nmetadata: {name: x}\ndata: {token: CANARY-abc}\n").unwrap_err();
        assert_eq!(err.0, "document 1 of the manifest has no apiVersion");
        let err = parse("- CANARY-abc\n").unwrap_err();
        assert_eq!(err.0, "document 1 of the manifest is not a mapping");
    }

    #[test]
    fn reads_the_linkerd_link_fixture() {
        // The simulator crate keeps a copy of the shared Linkerd fixtures.
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sim/fixtures/link-2.17.yaml"
        ))
        .expect("the link fixture");
        let objects = parse(&text).unwrap();
        let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds[..3], ["Secret", "Secret", "Link"]);
        assert!(kinds.contains(&"Deployment") && kinds.contains(&"Service"));
    }
}
