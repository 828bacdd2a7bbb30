//! Keeps secrets out of everything mcflow writes: every string that leaves a run (journal,
//! progress, JSON events, errors) passes through a [`Redactor`] that knows the sensitive values
//! seen so far.

use std::sync::{Arc, RwLock};

#[cfg(test)]
use base64::Engine;

use super::MASK;

/// Values shorter than this are not registered: masking "true" everywhere helps nobody.
const MIN_SECRET_LEN: usize = 8;

/// The set of secret strings of a run.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Secrets>>,
}

/// The secrets, longest first, and an index that tells in one pass over a text whether any of
/// them may occur in it: most texts hold none, and searching each for every secret of a run (50
/// linked spokes leave ~300) was most of the redactor's time (docs/PERFORMANCE.md, issue 18).
#[derive(Debug, Default)]
struct Secrets {
    list: Vec<String>,
    /// The first [`PREFIX`] bytes of every secret at least that long, sorted.
    prefixes: Vec<u64>,
    /// A bit per hash of those prefixes ([`prefix_hash`]): a text position whose bit is clear
    /// starts no secret.
    bits: Vec<u64>,
    /// The secrets shorter than [`PREFIX`] (sensitive params, `add_exact`), searched for as
    /// they are.
    short: Vec<String>,
}

/// Length of the indexed prefix of a secret (= [`MIN_SECRET_LEN`]).
const PREFIX: usize = 8;
/// log2 of the bits of the prefix filter (8 KiB).
const FILTER_BITS: u32 = 16;

fn prefix_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; PREFIX];
    b.copy_from_slice(&bytes[..PREFIX]);
    u64::from_le_bytes(b)
}

fn prefix_hash(prefix: u64) -> usize {
    (prefix.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FILTER_BITS)) as usize
}

impl Secrets {
    fn push(&mut self, secret: String) {
        if self.list.contains(&secret) {
            return;
        }
        if secret.len() >= PREFIX {
            let p = prefix_of(secret.as_bytes());
            if let Err(at) = self.prefixes.binary_search(&p) {
                self.prefixes.insert(at, p);
            }
            if self.bits.is_empty() {
                self.bits = vec![0; (1 << FILTER_BITS) / 64];
            }
            let h = prefix_hash(p);
            self.bits[h / 64] |= 1 << (h % 64);
        } else {
            self.short.push(secret.clone());
        }
        self.list.push(secret);
        // Longest first, so that a secret containing another is masked whole.
        self.list.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }

    /// Whether some secret may occur in `text`: never `false` when one does (every occurrence
    /// starts with its prefix, or is a short secret), rarely `true` when none does.
    fn may_occur(&self, text: &str) -> bool {
        if self.short.iter().any(|s| text.contains(s.as_str())) {
            return true;
        }
        if self.prefixes.is_empty() {
            return false;
        }
        text.as_bytes().windows(PREFIX).any(|w| {
            let p = prefix_of(w);
            let h = prefix_hash(p);
            self.bits[h / 64] & (1 << (h % 64)) != 0 && self.prefixes.binary_search(&p).is_ok()
        })
    }
}

impl Redactor {
    /// Registers a secret text: itself, each of its lines, and what base64 lines in it decode to
    /// (a link manifest holds a token inside a base64 kubeconfig).
    pub fn add(&self, text: &str) {
        let mut found = Found::default();
        collect(text, &mut found, 0);
        if found.secrets.is_empty() {
            return;
        }
        if let Ok(mut s) = self.secrets.write() {
            for f in found.secrets {
                s.push(f);
            }
        }
    }

    /// Registers a secret value as it is, however short (a sensitive param: the workflow
    /// author said it is secret).
    pub fn add_exact(&self, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        if let Ok(mut s) = self.secrets.write() {
            s.push(value.to_string());
        }
    }

    /// `text` with every known secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let Ok(secrets) = self.secrets.read() else {
            return MASK.to_string();
        };
        let mut out = text.to_string();
        if !secrets.may_occur(text) {
            return out;
        }
        for s in secrets.list.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// Redacts every string inside a JSON value.
    pub fn redact_json(&self, v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => serde_json::Value::String(self.redact(s)),
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.iter().map(|x| self.redact_json(x)).collect())
            }
            serde_json::Value::Object(o) => serde_json::Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.redact_json(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets
            .read()
            .map(|s| s.list.is_empty())
            .unwrap_or(false)
    }
}

/// What [`collect`] found in one text.
#[derive(Default)]
struct Found {
    secrets: Vec<String>,
    /// The base64 values decoded so far, with the least depth they were read at: a link
    /// manifest holds the same kubeconfig in two Secrets (`linkerd` and `linkerd-multicluster`
    /// namespaces), read once.
    decoded: std::collections::HashMap<String, u8>,
}

/// The secret strings in a sensitive output. Kubernetes manifests (the link output) are read
/// precisely: every Secret's `data`/`stringData` value, its base64 decoding, and inside a decoded
/// kubeconfig the credentials (`token`, `client-key-data`, `password`, ...). Names, namespaces and
/// other fields stay readable, so that `cluster-credentials-internal` is not masked in every later
/// line. Any other output is secret as a whole, line by line.
fn collect(text: &str, out: &mut Found, depth: u8) {
    let t = text.trim();
    if t.len() >= MIN_SECRET_LEN {
        out.secrets.push(t.to_string());
    }
    if depth > 3 {
        return;
    }
    if let Ok(docs) = crate::yaml::parse_documents(t)
        && !docs.is_empty()
        && docs.iter().all(|d| d.is_object())
    {
        for doc in &docs {
            collect_structured(doc, out, depth);
        }
        return;
    }
    for line in t.lines() {
        let line = line.trim();
        if line.len() >= MIN_SECRET_LEN && line != t {
            out.secrets.push(line.to_string());
        }
        // `token: x`, `password=x`: the value alone is secret too (an error may quote it).
        if let Some(value) = credential_value(line) {
            out.secrets.push(value.to_string());
        }
    }
}

/// The value of a `key: value` or `key=value` line whose key names a credential.
fn credential_value(line: &str) -> Option<&str> {
    let (key, value) = line.split_once([':', '='])?;
    let key = key.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    let value = value.trim().trim_matches(['"', '\'']);
    let names_credential = CREDENTIAL_KEYS.contains(&key.as_str())
        || ["token", "password", "secret"]
            .iter()
            .any(|k| key.ends_with(k));
    (names_credential && value.len() >= MIN_SECRET_LEN).then_some(value)
}

/// Keys whose values are credentials wherever they appear.
const CREDENTIAL_KEYS: [&str; 8] = [
    "token",
    "password",
    "client-key-data",
    "client-certificate-data",
    "id-token",
    "refresh-token",
    "secret",
    "kubeconfig",
];

fn collect_structured(doc: &serde_json::Value, out: &mut Found, depth: u8) {
    let is_secret = doc.get("kind").and_then(|k| k.as_str()) == Some("Secret");
    if is_secret {
        for field in ["data", "stringData"] {
            if let Some(map) = doc.get(field).and_then(|d| d.as_object()) {
                for v in map.values().filter_map(|v| v.as_str()) {
                    add_value(v, field == "data", out, depth);
                }
            }
        }
    }
    walk_credentials(doc, out, depth);
}

fn add_value(v: &str, base64_encoded: bool, out: &mut Found, depth: u8) {
    let v = v.trim();
    if v.len() >= MIN_SECRET_LEN {
        out.secrets.push(v.to_string());
    }
    // Read again only from less deep than before: deeper reads stop sooner (`collect`).
    if base64_encoded
        && out.decoded.get(v).is_none_or(|&d| depth < d)
        && let Some(decoded) = super::decode_base64(v)
    {
        out.decoded.insert(v.to_string(), depth);
        collect(&decoded, out, depth + 1);
    }
}

fn walk_credentials(v: &serde_json::Value, out: &mut Found, depth: u8) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                match x.as_str() {
                    Some(s) if CREDENTIAL_KEYS.contains(&k.to_ascii_lowercase().as_str()) => {
                        add_value(s, k.ends_with("-data"), out, depth);
                    }
                    _ => walk_credentials(x, out, depth),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|x| walk_credentials(x, out, depth))
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index only skips texts: what is masked is what the plain search over every secret
    /// masks, short secrets, overlaps, secrets inside secrets and multi-byte text included.
    #[test]
    fn the_prefix_index_masks_what_the_plain_search_masks() {
        let r = Redactor::default();
        let secrets = [
            "tok-4f9a1c7e2b8d",
            "4f9a1c7e",
            "pw",
            "abcdefgh",
            "x1",
            "abcdefghij-longer",
            "naïve-sécret-ü",
        ];
        for (i, s) in secrets.iter().enumerate() {
            // Short secrets only come exactly (a sensitive param); `add` ignores them.
            if i % 2 == 0 {
                r.add_exact(s);
            } else {
                r.add(s);
            }
        }
        let naive = |text: &str| {
            let mut list: Vec<&str> = secrets.to_vec();
            list.sort_by_key(|x| std::cmp::Reverse(x.len()));
            let mut out = text.to_string();
            for s in list {
                out = out.replace(s, MASK);
            }
            out
        };
        for text in [
            "",
            "p",
            "pw",
            "a pw b",
            "abcdefg",
            "abcdefgh",
            "xabcdefghij-longer!",
            "tok-4f9a1c7e2b8d and 4f9a1c7e",
            "ü naïve-sécret-ü é",
            "nothing secret at all, just a long line of text",
            "x1x1",
            "abcdefg habcdefgh",
        ] {
            assert_eq!(r.redact(text), naive(text), "for {text:?}");
        }
    }

    #[test]
    fn a_credential_line_registers_its_value_alone() {
        let r = Redactor::default();
        r.add("token: tok-4f9a1c7e2b8d\nother line here");
        assert_eq!(r.redact("refused tok-4f9a1c7e2b8d"), "refused ***");
        let r = Redactor::default();
        r.add("name: not-a-secret-value\nmore text");
        assert_eq!(r.redact("x not-a-secret-value"), "x not-a-secret-value");
    }

    #[test]
    fn masks_secrets_and_what_base64_hides() {
        let r = Redactor::default();
        let kubeconfig = "users:\n- name: x\n  user:\n    token: canary-TOKEN-1234567\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
        r.add(&format!("kind: Secret\ndata:\n  kubeconfig: {b64}\n"));
        assert_eq!(
            r.redact("error: canary-TOKEN-1234567 bad"),
            "error: *** bad"
        );
        assert!(!r.redact(&format!("x {b64} y")).contains(&b64));
        assert_eq!(r.redact("nothing secret"), "nothing secret");
    }

    #[test]
    fn a_kubeconfig_held_by_two_secrets_is_read_once_and_found_whole() {
        let kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: internal\n  user:\n    token: canary-TOKEN-1234567\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
        let secret = |ns: &str| {
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {ns}\ndata:\n  kubeconfig: {b64}\n"
            )
        };
        let manifest = format!(
            "{}---\n{}",
            secret("linkerd"),
            secret("linkerd-multicluster")
        );
        let mut found = Found::default();
        collect(&manifest, &mut found, 0);
        assert_eq!(found.decoded.len(), 1);
        for expected in [b64.as_str(), kubeconfig.trim(), "canary-TOKEN-1234567"] {
            assert!(
                found.secrets.iter().any(|s| s == expected),
                "{expected} not found in {:?}",
                found.secrets
            );
        }
        // The same as reading one Secret alone: nothing is missed for the second one.
        let mut one = Found::default();
        collect(&secret("linkerd"), &mut one, 0);
        let set = |f: &Found| {
            f.secrets
                .iter()
                .filter(|s| !s.contains("namespace"))
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(set(&found), set(&one));
    }

    #[test]
    fn names_in_a_link_manifest_stay_readable() {
        let r = Redactor::default();
        let kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: internal\n  user:\n    token: canary-TOKEN-1234567\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
        r.add(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-credentials-internal\n  namespace: linkerd-multicluster\ndata:\n  kubeconfig: {b64}\n---\napiVersion: multicluster.linkerd.io/v1alpha3\nkind: Link\nmetadata:\n  name: internal\nspec:\n  targetClusterName: internal\n"
        ));
        assert_eq!(
            r.redact("Service monitoring/alloy-internal"),
            "Service monitoring/alloy-internal"
        );
        assert_eq!(
            r.redact("cluster-credentials-internal"),
            "cluster-credentials-internal"
        );
        assert_eq!(r.redact("x canary-TOKEN-1234567 y"), "x *** y");
        assert!(!r.redact(&b64).contains(&b64));
    }
}
