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

/// Resolve and connect; the output names the address that accepted.
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
    let unresolved = |why: String| {
        StepError::transient(format!("{host} does not resolve from this machine: {why}"))
    };
    let addresses: Vec<SocketAddr> =
        tokio::time::timeout(per_try, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| {
                unresolved(format!(
                    "no answer within {}",
                    humantime::format_duration(per_try)
                ))
            })?
            .map_err(|e| unresolved(e.to_string()))?
            .collect();
    let mut refused = Vec::new();
    for addr in &addresses {
        match tokio::time::timeout(per_try, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => {
                let summary = format!("{host}:{port} accepts TCP from this machine ({addr})");
                let mut record = StepRecord {
                    stdout: format!("{addr}\n"),
                    ..Default::default()
                };
                record
                    .outputs
                    .insert("address".into(), addr.to_string().into());
                return Ok(StepOutput {
                    record,
                    summary: Some(summary),
                });
            }
            Ok(Err(e)) => refused.push(format!("{addr}: {e}")),
            Err(_) => refused.push(format!(
                "{addr}: no answer within {}",
                humantime::format_duration(per_try)
            )),
        }
    }
    Err(StepError::transient(format!(
        "{host}:{port} does not accept TCP from this machine ({})",
        refused.join("; ")
    )))
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
        let e = connect(&action("127.0.0.1", PortSpec::Number(port)), None)
            .await
            .unwrap_err();
        assert!(
            e.message.starts_with(&format!(
                "127.0.0.1:{port} does not accept TCP from this machine (127.0.0.1:{port}: "
            )),
            "{}",
            e.message
        );
        let e = connect(&action("gateway.invalid", PortSpec::Number(30143)), None)
            .await
            .unwrap_err();
        assert!(
            e.message
                .starts_with("gateway.invalid does not resolve from this machine: "),
            "{}",
            e.message
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
