//! Why a program failed, in one line, and what to do about it: the line of its output that says
//! what failed, whether another attempt could change anything, and a next step for the errors
//! mcflow knows.
//!
//! Nothing here prints or redacts: the scheduler puts the line through the redactor, and shows
//! a sensitive step's stderr only (its stdout is the secret).

/// Markers of the line that says what failed: `×` (a failed `linkerd check`), `Error:` (cobra,
/// so the linkerd CLI and kubectl), `error:` (kubectl, Rust and Go tools), `fatal:`.
const FAILURE_MARKERS: [&str; 5] = ["×", "Error:", "error:", "ERROR:", "fatal:"];

/// The line that says what failed: the first marked line of stderr, then of stdout (when it may
/// be shown), else the last non-empty line of stderr, then of stdout. A `×` line takes the
/// detail line below it (`linkerd check` indents it): `× name: detail`.
pub fn reason_line(stderr: &str, stdout: Option<&str>) -> Option<String> {
    let streams: Vec<&str> = std::iter::once(stderr).chain(stdout).collect();
    for text in &streams {
        if let Some(line) = marked_line(text) {
            return Some(line);
        }
    }
    streams
        .iter()
        .find_map(|t| t.lines().rev().map(str::trim).find(|l| !l.is_empty()))
        .map(String::from)
}

fn marked_line(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| {
        let l = l.trim_start();
        FAILURE_MARKERS.iter().any(|m| l.starts_with(m))
    })?;
    let line = lines[at].trim();
    if !line.starts_with('×') {
        return Some(line.to_string());
    }
    // `linkerd check`: `× <check>`, then the error indented under it, then the hint URL.
    let detail = lines
        .get(at + 1)
        .filter(|d| d.starts_with(' ') || d.starts_with('\t'))
        .map(|d| d.trim())
        .filter(|d| !d.is_empty() && !d.starts_with("see https://"));
    Some(match detail {
        Some(d) => format!("{line}: {d}"),
        None => line.to_string(),
    })
}

/// Does the output say something another attempt cannot change? A usage error (the program
/// does not take these arguments: `--linkerd kubectl`), a missing object, refused or
/// insufficient credentials, an invalid object: Kubernetes' 4xx as the CLIs print them (409
/// Conflict and 429 TooManyRequests can pass on a later attempt, so they are retried).
pub fn cannot_change(stderr: &str, stdout: &str) -> bool {
    const USAGE: [&str; 6] = [
        "unknown flag",
        "unknown shorthand flag",
        "unknown command",
        "flag provided but not defined",
        "required flag(s)",
        "accepts at most",
    ];
    let error_lines = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .filter(|l| FAILURE_MARKERS.iter().any(|m| l.starts_with(m)));
    for line in error_lines {
        if USAGE.iter().any(|u| line.contains(u)) || is_api_client_error(line) {
            return true;
        }
    }
    false
}

/// `Error: services "x" not found`, `... is forbidden: User ...`, `Unauthorized`, `... is
/// invalid: ...`: the API server's 404, 403, 401 and 422 messages (k8s.io/apimachinery
/// pkg/api/errors/errors.go: NewNotFound, NewForbidden, NewUnauthorized, NewInvalid).
fn is_api_client_error(line: &str) -> bool {
    let quoted_not_found = line.ends_with(" not found")
        && line.matches('"').count() >= 2
        && !line.contains("command not found");
    quoted_not_found
        || line.contains(" is forbidden: ")
        || line.contains("Unauthorized")
        || line.contains("must be logged in to the server")
        || (line.contains(" is invalid: ") && line.matches('"').count() >= 2)
}

/// A next step for a failure mcflow knows, from the program's output and the context it ran
/// against (`server`: that context's API server, from the kubeconfig).
pub fn hint(text: &str, context: Option<&str>, server: Option<&str>) -> Option<String> {
    if text.contains(r#"services "linkerd-gateway" not found"#) {
        return Some(
            "run bootstrap first (workflows/bootstrap.yaml): the hub has no multicluster gateway"
                .to_string(),
        );
    }
    if is_unreachable(text) {
        return Some(unreachable_hint(context, server));
    }
    None
}

/// The cluster did not answer: refused, unknown host, timeouts, TLS handshake timeout (Go's
/// net and net/http messages, and hyper's).
pub fn is_unreachable(text: &str) -> bool {
    const SIGNS: [&str; 8] = [
        "connection refused",
        "Connection refused",
        "no such host",
        "i/o timeout",
        "TLS handshake timeout",
        "no route to host",
        "No route to host",
        "network is unreachable",
    ];
    SIGNS.iter().any(|s| text.contains(s))
}

/// `cluster of context X (server Y) cannot be reached: ...`.
pub fn unreachable_hint(context: Option<&str>, server: Option<&str>) -> String {
    let which = match (context, server) {
        (Some(c), Some(s)) => format!("the cluster of context `{c}` (server {s})"),
        (Some(c), None) => format!("the cluster of context `{c}`"),
        (None, Some(s)) => format!("the current context's cluster (server {s})"),
        (None, None) => "the current context's cluster".to_string(),
    };
    format!("{which} cannot be reached: is it up, and reachable from here (VPN, firewall)?")
}

/// A request that went through the proxy `HTTPS_PROXY` names and failed there (hyper-http-proxy
/// says `tunnel error`). The proxy's address is not shown: it may carry credentials.
pub fn proxy_hint(context: &str, server: Option<&str>) -> String {
    let server = server.map(|s| format!(" (server {s})")).unwrap_or_default();
    format!(
        "the request to the cluster of context `{context}`{server} went through the proxy that \
         HTTPS_PROXY names and failed there: is the proxy up, or should NO_PROXY name this server?"
    )
}

/// `message → hint`: the form every output shows a next step in, on the error's own line.
pub fn with_hint(message: &str, hint: Option<&str>) -> String {
    match hint {
        Some(h) => format!("{message} → {h}"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_is_reported_by_its_cross_line_not_a_passing_one() {
        let stdout = "linkerd-multicluster\n--------------------\n√ Link CRD exists\n\
                      × remote cluster access credentials are valid\n        * bad token\n    \
                      see https://linkerd.io/2/checks/#l5d-smc-target-clusters-access for hints\n\
                      √ all mirror services are part of a Link\n\nStatus check results are ×\n";
        assert_eq!(
            reason_line("", Some(stdout)).unwrap(),
            "× remote cluster access credentials are valid: * bad token"
        );
    }

    #[test]
    fn stderr_error_lines_come_first_then_the_last_line() {
        assert_eq!(
            reason_line(
                "Command \"link\" is deprecated\nError: services \"linkerd-gateway\" not found\n",
                Some("")
            )
            .unwrap(),
            "Error: services \"linkerd-gateway\" not found"
        );
        assert_eq!(
            reason_line("warming up\nsomething broke\n\n", Some("out")).unwrap(),
            "something broke"
        );
        assert_eq!(
            reason_line("", Some("only stdout\n")).unwrap(),
            "only stdout"
        );
        // A sensitive step's stdout is not read.
        assert_eq!(reason_line("", None), None);
        assert_eq!(reason_line("  \n", Some("Error: x")).unwrap(), "Error: x");
    }

    #[test]
    fn usage_and_client_errors_cannot_change() {
        assert!(cannot_change(
            "Error: unknown flag: --context\nUsage:\n",
            ""
        ));
        assert!(cannot_change("error: unknown command \"multicluster\"", ""));
        assert!(cannot_change(
            "Error: services \"linkerd-gateway\" not found",
            ""
        ));
        assert!(cannot_change(
            "Error: secrets is forbidden: User \"x\" cannot list",
            ""
        ));
        assert!(!cannot_change("Error: the server is currently unable", ""));
        assert!(!cannot_change("× control plane pods are ready", ""));
        assert!(!cannot_change("sh: foo: command not found", ""));
        assert!(!cannot_change("unknown flag mentioned in passing", ""));
    }

    #[test]
    fn known_errors_have_a_next_step() {
        let h = hint("Error: services \"linkerd-gateway\" not found", None, None).unwrap();
        assert!(h.starts_with("run bootstrap first"), "{h}");
        let h = hint(
            "Error: Get \"https://10.0.0.1:6443/version\": dial tcp 10.0.0.1:6443: connect: connection refused",
            Some("internal"),
            Some("https://10.0.0.1:6443"),
        )
        .unwrap();
        assert!(
            h.contains("context `internal` (server https://10.0.0.1:6443) cannot be reached"),
            "{h}"
        );
        assert_eq!(hint("Error: something else", None, None), None);
    }
}
