//! Errors of kube steps, classified for the runner: usage or not, transient or not.
//!
//! The message is what the operator reads. For API errors it is the API server's own `Status`
//! message (`secrets "x" not found`, `Unauthorized`), prefixed by what was being done; messages
//! about objects that carry `data`/`stringData` are rebuilt from field names only (see
//! [`KubeError::redacted_for`]) so that a rejected Secret is never echoed.

use std::fmt;
use std::time::Duration;

/// What went wrong, coarse enough for the runner to pick an exit code and a retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeErrorKind {
    /// No kubeconfig, or one that cannot be read or used. A usage error (exit code 2).
    Config,
    /// The step names a context the kubeconfig does not have. A usage error (exit code 2).
    UnknownContext,
    /// The step itself is wrong: a bad manifest, a missing `where` match, a capture pointer that
    /// points nowhere, a kind that is not served. The step fails (exit code 1).
    Invalid,
    /// 401: the credentials were refused.
    Unauthorized,
    /// 403: the credentials may not do this.
    Forbidden,
    /// 404: no such object (or no such resource type).
    NotFound,
    /// 409: a conflict, e.g. a server-side apply field conflict without `force`.
    Conflict,
    /// 422: the API server rejected the object.
    Rejected,
    /// 429 or 5xx: the server could not answer now.
    Server,
    /// The connection failed, was reset, or timed out.
    Connection,
    /// A `wait` gave up (its own `timeout`).
    Timeout,
    /// Any other failure.
    Other,
}

impl KubeErrorKind {
    /// Whether the runner should treat this as a usage error (exit code 2) rather than a failed step.
    pub fn is_usage(self) -> bool {
        matches!(self, KubeErrorKind::Config | KubeErrorKind::UnknownContext)
    }
}

/// A failed kube operation. `message` never holds a secret value.
#[derive(Debug, Clone)]
pub struct KubeError {
    /// What went wrong, for exit codes and retry decisions.
    pub kind: KubeErrorKind,
    /// One line for the operator.
    pub message: String,
    /// Whether trying again may succeed (429, 5xx, resets, timeouts).
    pub transient: bool,
    /// How long the server asked us to wait (429/503 `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for KubeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KubeError {}

impl KubeError {
    /// A non-transient error of `kind`.
    pub fn new(kind: KubeErrorKind, message: impl Into<String>) -> Self {
        KubeError {
            kind,
            message: message.into(),
            transient: false,
            retry_after: None,
        }
    }

    /// An error about the step itself (bad manifest, missing match, bad pointer).
    pub fn invalid(message: impl Into<String>) -> Self {
        KubeError::new(KubeErrorKind::Invalid, message)
    }

    /// The same error with `what` (e.g. "get Secret argocd/x on context internal") in front.
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Classifies an API status code and the server's message.
    pub fn from_status(
        code: u16,
        reason: &str,
        message: &str,
        retry_after: Option<Duration>,
    ) -> Self {
        let kind = match code {
            401 => KubeErrorKind::Unauthorized,
            403 => KubeErrorKind::Forbidden,
            404 => KubeErrorKind::NotFound,
            409 => KubeErrorKind::Conflict,
            422 => KubeErrorKind::Rejected,
            429 | 500..=599 => KubeErrorKind::Server,
            _ => KubeErrorKind::Other,
        };
        let transient = matches!(code, 429 | 500 | 502 | 503 | 504);
        let text = match (message.trim(), reason.trim()) {
            ("", "") => format!("HTTP {code}"),
            ("", reason) => format!("{reason} (HTTP {code})"),
            (message, _) => format!("{message} (HTTP {code})"),
        };
        KubeError {
            kind,
            message: text,
            transient,
            retry_after,
        }
    }

    /// For errors about an object that holds `data`/`stringData` (a Secret from a manifest):
    /// the server's message may quote the object, so rebuild it from the reason and field
    /// names only (`fields`, from the Status's causes). `secrets` are values to scrub from any
    /// message that is kept.
    pub(crate) fn redacted_for(
        mut self,
        holds_data: bool,
        fields: &[String],
        secrets: &[String],
    ) -> Self {
        let echoing = matches!(
            self.kind,
            KubeErrorKind::Rejected | KubeErrorKind::Conflict | KubeErrorKind::Other
        );
        if holds_data && echoing {
            let mut text =
                "the server refused the object (its message is withheld: the object holds data)"
                    .to_string();
            if !fields.is_empty() {
                text.push_str(&format!("; fields: {}", fields.join(", ")));
            }
            self.message = text;
        }
        self.message = super::object::scrub(&self.message, secrets);
        self
    }
}

/// Parses a `Retry-After` header value given in seconds.
pub(crate) fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl From<::kube::Error> for KubeError {
    fn from(err: ::kube::Error) -> Self {
        use ::kube::Error as E;
        match err {
            E::Api(status) => {
                let retry_after = status
                    .details
                    .as_ref()
                    .map(|d| u64::from(d.retry_after_seconds))
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs);
                KubeError::from_status(status.code, &status.reason, &status.message, retry_after)
            }
            E::HyperError(e) => connection(format!("connection failed: {e}")),
            E::Service(e) => connection(format!("request failed: {}", error_chain(e.as_ref()))),
            E::ReadEvents(e) => connection(format!("reading the watch stream failed: {e}")),
            E::Auth(e) => KubeError::new(
                KubeErrorKind::Unauthorized,
                format!("authentication failed: {e}"),
            ),
            E::InferKubeconfig(e) => {
                KubeError::new(KubeErrorKind::Config, format!("kubeconfig: {e}"))
            }
            E::RustlsTls(e) => {
                KubeError::new(KubeErrorKind::Config, format!("TLS setup failed: {e}"))
            }
            E::SerdeError(e) => {
                KubeError::new(KubeErrorKind::Other, format!("unexpected response: {e}"))
            }
            other => KubeError::new(KubeErrorKind::Other, other.to_string()),
        }
    }
}

impl From<::kube::runtime::watcher::Error> for KubeError {
    fn from(err: ::kube::runtime::watcher::Error) -> Self {
        use ::kube::runtime::watcher::Error as W;
        match err {
            W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => e.into(),
            W::WatchError(status) => {
                // 410 Gone: the watch fell behind; the watcher re-lists by itself.
                let mut e =
                    KubeError::from_status(status.code, &status.reason, &status.message, None);
                e.transient |= status.code == 410;
                e
            }
            W::NoResourceVersion => KubeError::new(
                KubeErrorKind::Other,
                "the server does not support watching this kind",
            ),
        }
    }
}

fn connection(message: String) -> KubeError {
    KubeError {
        kind: KubeErrorKind::Connection,
        message,
        transient: true,
        retry_after: None,
    }
}

/// `a: b: c` from an error and its sources, each level once.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> ::kube::Error {
        let mut s = ::kube::core::Status::failure(message, reason).with_code(code);
        s.reason = reason.to_string();
        ::kube::Error::Api(s.boxed())
    }

    #[test]
    fn classifies_statuses() {
        for (code, kind, transient) in [
            (401, KubeErrorKind::Unauthorized, false),
            (403, KubeErrorKind::Forbidden, false),
            (404, KubeErrorKind::NotFound, false),
            (409, KubeErrorKind::Conflict, false),
            (422, KubeErrorKind::Rejected, false),
            (429, KubeErrorKind::Server, true),
            (500, KubeErrorKind::Server, true),
            (502, KubeErrorKind::Server, true),
            (503, KubeErrorKind::Server, true),
            (504, KubeErrorKind::Server, true),
            (501, KubeErrorKind::Server, false),
            (400, KubeErrorKind::Other, false),
        ] {
            let e = KubeError::from(status(code, "Reason", "msg"));
            assert_eq!((e.kind, e.transient), (kind, transient), "HTTP {code}");
        }
    }

    #[test]
    fn keeps_the_servers_message() {
        let e = KubeError::from(status(404, "NotFound", "secrets \"x\" not found"));
        assert_eq!(e.message, "secrets \"x\" not found (HTTP 404)");
        let e =
            KubeError::from(status(401, "Unauthorized", "")).context("get Secret a/b on context p");
        assert_eq!(
            e.message,
            "get Secret a/b on context p: Unauthorized (HTTP 401)"
        );
    }

    #[test]
    fn honours_retry_after() {
        let mut s = ::kube::core::Status::failure("slow down", "TooManyRequests").with_code(429);
        s.details = Some(
            serde_json::from_value(serde_json::json!({"retryAfterSeconds": 3}))
                .expect("status details"),
        );
        let e = KubeError::from(::kube::Error::Api(s.boxed()));
        assert!(e.transient);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
    }

    #[test]
    fn usage_kinds() {
        assert!(KubeErrorKind::UnknownContext.is_usage());
        assert!(KubeErrorKind::Config.is_usage());
        assert!(!KubeErrorKind::Rejected.is_usage());
    }

    #[test]
    fn redaction_withholds_messages_about_data() {
        let e = KubeError::from_status(
            422,
            "Invalid",
            "Secret \"c\" is invalid: data[token]: Invalid value: \"CANARY\"",
            None,
        )
        .redacted_for(true, &["data[token]".to_string()], &[]);
        assert!(!e.message.contains("CANARY"), "{}", e.message);
        assert!(e.message.contains("fields: data[token]"), "{}", e.message);
        let e = KubeError::from_status(
            422,
            "Invalid",
            "ConfigMap \"c\" is invalid: CANARY-TOKEN",
            None,
        )
        .redacted_for(false, &[], &["CANARY-TOKEN".to_string()]);
        assert!(!e.message.contains("CANARY"), "{}", e.message);
        assert!(e.message.contains("is invalid"), "{}", e.message);
    }
}
