//! `connect`: can this machine reach `host:port`? Resolve the host, then open (and close) a TCP
//! connection to each of its addresses until one accepts. What a user checks by hand with
//! `nc -vz host port` before trusting a NodePort, worded as what it is: a fact about the machine
//! mcflow runs on, not about the cluster's own network.

use std::net::SocketAddr;
use std::time::Duration;

use super::executor::{StepError, StepOutput};
use crate::journal::StepRecord;
use crate::workflow::model::{ConnectAction, PortSpec};

/// How long one connection attempt may take when the step sets no timeout.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The port of a rendered action.
fn port(spec: &PortSpec) -> Result<u16, StepError> {
    match spec {
        PortSpec::Number(n) => Ok(*n),
        PortSpec::Template(t) => t
            .trim()
            .parse()
            .map_err(|_| StepError::permanent(format!("connect: port {t:?} is not a port number"))),
    }
}

/// Resolve and connect. The step succeeds either way, with what it found as outputs:
/// `reachable` (true or false), `address` (the one that accepted) or `reason` (short: "does not
/// resolve here", "refuses TCP here", …), the details on its stdout. Whether that is a
/// failure is the workflow's to say (an `assert`, or verify's warning row): from where mcflow
/// runs is not from where the clusters connect.
pub async fn connect(
    action: &ConnectAction,
    timeout: Option<Duration>,
) -> Result<StepOutput, StepError> {
    let port = port(&action.port)?;
    let host = action.host.trim();
    if host.is_empty() {
        return Err(StepError::permanent("connect: the host is empty"));
    }
    let per_try = timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let within = humantime::format_duration(per_try);
    let addresses: Vec<SocketAddr> =
        match tokio::time::timeout(per_try, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(found)) => found.collect(),
            Ok(Err(e)) => {
                return Ok(unreachable(
                    host,
                    port,
                    "does not resolve here",
                    &e.to_string(),
                ));
            }
            Err(_) => {
                let detail = format!("no answer within {within}");
                return Ok(unreachable(host, port, "does not resolve here", &detail));
            }
        };
    let mut refused = Vec::new();
    for addr in &addresses {
        match tokio::time::timeout(per_try, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => return Ok(reachable(host, port, addr)),
            Ok(Err(e)) => refused.push(format!("{addr}: {e}")),
            Err(_) => refused.push(format!("{addr}: no answer within {within}")),
        }
    }
    Ok(unreachable(
        host,
        port,
        "refuses TCP here",
        &refused.join("; "),
    ))
}

fn reachable(host: &str, port: u16, addr: &SocketAddr) -> StepOutput {
    let mut record = StepRecord {
        stdout: format!("{host}:{port} accepts TCP from this machine at {addr}\n"),
        ..Default::default()
    };
    record.outputs.insert("reachable".into(), true.into());
    record
        .outputs
        .insert("address".into(), addr.to_string().into());
    StepOutput {
        record,
        summary: Some(format!(
            "{host}:{port} accepts TCP from this machine ({addr})"
        )),
    }
}

fn unreachable(host: &str, port: u16, reason: &str, detail: &str) -> StepOutput {
    let mut record = StepRecord {
        stdout: format!("{host}:{port} {reason}: {detail}\n"),
        ..Default::default()
    };
    record.outputs.insert("reachable".into(), false.into());
    record.outputs.insert("reason".into(), reason.into());
    StepOutput {
        record,
        summary: Some(format!("{host}:{port} {reason} (this machine only)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(host: &str, port: PortSpec) -> ConnectAction {
        ConnectAction {
            host: host.into(),
            port,
        }
    }

    #[tokio::test]
    async fn connects_to_a_listening_port_and_names_the_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let out = connect(
            &action("localhost", PortSpec::Template(port.to_string())),
            None,
        )
        .await
        .unwrap();
        assert!(
            out.summary
                .unwrap()
                .contains("accepts TCP from this machine")
        );
        assert_eq!(
            out.record.outputs["address"],
            serde_json::json!(format!("127.0.0.1:{port}"))
        );
    }

    #[tokio::test]
    async fn a_closed_port_and_a_name_that_does_not_resolve_say_so() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let out = connect(&action("127.0.0.1", PortSpec::Number(port)), None)
            .await
            .unwrap();
        assert_eq!(out.record.outputs["reachable"], serde_json::json!(false));
        assert_eq!(
            out.record.outputs["reason"],
            serde_json::json!("refuses TCP here")
        );
        assert!(
            out.record.stdout.starts_with(&format!(
                "127.0.0.1:{port} refuses TCP here: 127.0.0.1:{port}: "
            )),
            "{}",
            out.record.stdout
        );
        let out = connect(&action("gateway.invalid", PortSpec::Number(30143)), None)
            .await
            .unwrap();
        assert_eq!(out.record.outputs["reachable"], serde_json::json!(false));
        assert_eq!(
            out.record.outputs["reason"],
            serde_json::json!("does not resolve here")
        );
        let e = connect(
            &action("localhost", PortSpec::Template("http".into())),
            None,
        )
        .await
        .unwrap_err();
        assert!(
            !e.retryable && e.message.contains("not a port number"),
            "{}",
            e.message
        );
    }
}
