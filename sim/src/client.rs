//! A tiny blocking HTTPS client for the fake `linkerd` (and tests): reads a kubeconfig context
//! and issues GET requests with its bearer token, verifying the server against its CA.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

/// One kubeconfig context, resolved.
#[derive(Debug, Clone)]
pub struct KubeContext {
    /// Context name.
    pub name: String,
    /// API server URL.
    pub server: String,
    /// CA bundle (PEM), from `certificate-authority-data`.
    pub ca_pem: String,
    /// Bearer token.
    pub token: String,
}

/// Read a context (`None`: the current context) from a kubeconfig file.
pub fn load_context(path: &std::path::Path, context: Option<&str>) -> anyhow::Result<KubeContext> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let kc: Value =
        serde_saphyr::from_str(&text).map_err(|e| anyhow!("invalid kubeconfig: {e}"))?;
    let name = match context {
        Some(c) => c.to_string(),
        None => kc["current-context"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    let find = |list: &str, n: &str| -> Option<Value> {
        kc[list]
            .as_array()?
            .iter()
            .find(|e| e["name"] == n)
            .cloned()
    };
    let ctx =
        find("contexts", &name).ok_or_else(|| anyhow!("context \"{name}\" does not exist"))?;
    let cluster = find(
        "clusters",
        ctx["context"]["cluster"].as_str().unwrap_or_default(),
    )
    .ok_or_else(|| anyhow!("cluster of context \"{name}\" not found"))?;
    let user =
        find("users", ctx["context"]["user"].as_str().unwrap_or_default()).unwrap_or(Value::Null);
    let ca = cluster["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap_or_default();
    let ca_pem = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca)?)?;
    Ok(KubeContext {
        name,
        server: cluster["cluster"]["server"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        ca_pem,
        token: user["user"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

impl KubeContext {
    /// GET `path`; `Ok(None)` on 404, an error on other failures.
    pub fn get(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let (status, body) = self.request("GET", path)?;
        match status {
            200 => Ok(Some(serde_json::from_slice(&body)?)),
            404 => Ok(None),
            _ => {
                let msg = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(String::from))
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
                bail!("{msg} (HTTP {status})")
            }
        }
    }

    /// The items of a list at `path` (empty when the resource is not served).
    pub fn list(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .get(path)?
            .and_then(|v| v["items"].as_array().cloned())
            .unwrap_or_default())
    }

    /// One HTTPS request; returns status and body.
    pub fn request(&self, method: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let rest = self
            .server
            .strip_prefix("https://")
            .ok_or_else(|| anyhow!("only https servers are supported: {}", self.server))?;
        let hostport = rest.split('/').next().unwrap_or(rest);
        let host = hostport
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(hostport)
            .to_string();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(host.clone())?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
        let tcp = TcpStream::connect(hostport)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nUser-Agent: linkerd/fake\r\nConnection: close\r\n\r\n",
            self.token
        );
        tls.write_all(req.as_bytes())?;
        let mut raw = Vec::new();
        match tls.read_to_end(&mut raw) {
            Ok(_) => {}
            // The server closing without close_notify is fine once we have the response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(e.into()),
        }
        parse_response(&raw)
    }
}

fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("malformed status line"))?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = &b[(end + 2).min(b.len())..];
    }
    out
}
