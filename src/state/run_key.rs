//! The run key: what two runs must not do at the same time. It is the workflow's name and the
//! values of its params (sensitive ones left out), so `link-spoke` with `spoke=production` and
//! `link-spoke` with `spoke=nonproduction` run side by side, and two of the first do not.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// A workflow and the params that pick its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    pub workflow: String,
    /// Param values as text, by name (sorted), sensitive params excluded.
    pub params: BTreeMap<String, String>,
}

impl RunKey {
    /// The key of a workflow run with these params: those in `target` (all when it is empty),
    /// less those in `sensitive`.
    pub fn new<'a>(
        workflow: &str,
        params: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>,
        sensitive: &[String],
        target: &[String],
    ) -> RunKey {
        let params = params
            .into_iter()
            .filter(|(k, _)| !sensitive.contains(k))
            .filter(|(k, _)| target.is_empty() || target.contains(k))
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect();
        RunKey {
            workflow: workflow.to_string(),
            params,
        }
    }

    /// A name usable as a Kubernetes object name and a file name: `mcflow-<workflow>-<params>`
    /// in lowercase alphanumerics and `-`, at most 63 characters; a long or lossy key ends with a
    /// hash of the whole key, so that two keys never share a name.
    pub fn object_name(&self) -> String {
        let mut slug = format!("mcflow-{}", self.workflow);
        for (k, v) in &self.params {
            slug.push('-');
            slug.push_str(k);
            slug.push('-');
            slug.push_str(v);
        }
        let clean: String = slug
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' | '-' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '-',
            })
            .collect();
        let lossless = clean == slug && clean.len() <= 63;
        if lossless {
            return clean;
        }
        let hash = hex::encode(&Sha256::digest(self.to_string().as_bytes())[..5]);
        let head: String = clean.chars().take(63 - 11).collect();
        format!("{}-{hash}", head.trim_end_matches('-'))
    }
}

impl std::fmt::Display for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.workflow)?;
        for (k, v) in &self.params {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(params: &[(&str, serde_json::Value)], sensitive: &[&str]) -> RunKey {
        let map: BTreeMap<String, serde_json::Value> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let sensitive: Vec<String> = sensitive.iter().map(|s| s.to_string()).collect();
        RunKey::new("link-spoke", &map, &sensitive, &[])
    }

    #[test]
    fn names_are_readable_valid_and_distinct() {
        let k = key(&[("spoke", "production".into())], &[]);
        assert_eq!(k.to_string(), "link-spoke spoke=production");
        assert_eq!(k.object_name(), "mcflow-link-spoke-spoke-production");
        // Lossy (an underscore, an upper-case letter) or long: a hash keeps them apart.
        let a = key(&[("spoke", "Prod_1".into())], &[]).object_name();
        let b = key(&[("spoke", "prod-1".into())], &[]).object_name();
        assert_ne!(a, b);
        let long = key(&[("spoke", "x".repeat(200).into())], &[]).object_name();
        assert!(long.len() <= 63, "{long}");
        for name in [a, b, long] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !name.ends_with('-'),
                "{name}"
            );
        }
    }

    #[test]
    fn target_params_make_the_key_when_there_are_some() {
        let map: BTreeMap<String, serde_json::Value> = [
            ("spoke".to_string(), "production".into()),
            ("mode".to_string(), "link".into()),
        ]
        .into();
        let k = RunKey::new("link-spoke", &map, &[], &["spoke".to_string()]);
        assert_eq!(k.to_string(), "link-spoke spoke=production");
    }

    #[test]
    fn sensitive_params_are_not_part_of_the_key() {
        let k = key(
            &[("spoke", "production".into()), ("token", "CANARY".into())],
            &["token"],
        );
        assert!(!k.to_string().contains("CANARY"));
        assert!(!k.object_name().contains("canary"));
    }
}
