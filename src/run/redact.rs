//! Keeps secrets out of everything mcflow writes: every string that leaves a run (journal,
//! progress, JSON events, errors) passes through a [`Redactor`] that knows the sensitive values
//! seen so far.

use std::sync::{Arc, RwLock};

use base64::Engine;

use crate::plan::MASK;

/// Values shorter than this are not registered: masking "true" everywhere helps nobody.
const MIN_SECRET_LEN: usize = 8;

/// The set of secret strings of a run.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    /// Registers a secret text: itself, each of its lines, and what base64 lines in it decode to
    /// (a link manifest holds a token inside a base64 kubeconfig).
    pub fn add(&self, text: &str) {
        let mut found = Vec::new();
        collect(text, &mut found, 0);
        if found.is_empty() {
            return;
        }
        if let Ok(mut s) = self.secrets.write() {
            for f in found {
                if !s.contains(&f) {
                    s.push(f);
                }
            }
            // Longest first, so that a secret containing another is masked whole.
            s.sort_by_key(|x| std::cmp::Reverse(x.len()));
        }
    }

    /// `text` with every known secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let Ok(secrets) = self.secrets.read() else {
            return MASK.to_string();
        };
        let mut out = text.to_string();
        for s in secrets.iter() {
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
        self.secrets.read().map(|s| s.is_empty()).unwrap_or(false)
    }
}

fn collect(text: &str, out: &mut Vec<String>, depth: u8) {
    let t = text.trim();
    if t.len() >= MIN_SECRET_LEN {
        out.push(t.to_string());
    }
    if depth > 2 {
        return;
    }
    for line in t.lines() {
        let line = line.trim();
        if line.len() >= MIN_SECRET_LEN && line != t {
            out.push(line.to_string());
        }
        // `key: value` lines: the value alone, and its base64 decoding.
        let value = line
            .split_once(": ")
            .map_or(line, |(_, v)| v)
            .trim()
            .trim_matches('"');
        if value.len() >= MIN_SECRET_LEN {
            out.push(value.to_string());
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(value)
                && let Ok(decoded) = String::from_utf8(bytes)
            {
                collect(&decoded, out, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
