//! A tiny blocking HTTPS client for the fake `linkerd` (and tests): reads a kubeconfig context
//! and issues GET requests with its bearer token, verifying the server against its CA.
//!
//! Like a real client (client-go's transport), a context keeps its connection alive between
//! requests (HTTP/1.1 keep-alive) and builds its TLS configuration once: a `linkerd multicluster
//! check` makes several requests to one cluster, and each new connection would cost a TLS
//! handshake on both sides. A request that fails on a reused connection before any byte of the
//! answer arrives (the server closed it meanwhile) is sent again once on a new connection, as Go's
//! `net/http` does for idempotent requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

/// A kubeconfig file, read and parsed once; [`Kubeconfig::context`] resolves its contexts.
pub struct Kubeconfig {
    doc: Value,
}

impl Kubeconfig {
    /// Read and parse a kubeconfig file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: Value =
            serde_saphyr::from_str(&text).map_err(|e| anyhow!("invalid kubeconfig: {e}"))?;
        Ok(Kubeconfig { doc })
    }

    /// A context (`None`: the current context).
    pub fn context(&self, context: Option<&str>) -> anyhow::Result<KubeContext> {
        let kc = &self.doc;
        let name = match context {
            Some(c) => c.to_string(),
            None => kc["current-context"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        let find = |list: &str, n: &str| -> Option<&Value> {
            kc[list].as_array()?.iter().find(|e| e["name"] == n)
        };
        let ctx =
            find("contexts", &name).ok_or_else(|| anyhow!("context \"{name}\" does not exist"))?;
        let cluster = find(
            "clusters",
            ctx["context"]["cluster"].as_str().unwrap_or_default(),
        )
        .ok_or_else(|| anyhow!("cluster of context \"{name}\" not found"))?;
        let user = find("users", ctx["context"]["user"].as_str().unwrap_or_default())
            .unwrap_or(&Value::Null);
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
            conn: Arc::default(),
        })
    }
}

/// One kubeconfig context, resolved.
#[derive(Clone)]
pub struct KubeContext {
    /// Context name.
    pub name: String,
    /// API server URL.
    pub server: String,
    /// CA bundle (PEM), from `certificate-authority-data`.
    pub ca_pem: String,
    /// Bearer token.
    pub token: String,
    /// The TLS configuration and the open connection, made on first use (shared by clones).
    conn: Arc<Mutex<Conn>>,
}

impl std::fmt::Debug for KubeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("KubeContext")
            .field("name", &self.name)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

#[derive(Default)]
struct Conn {
    config: Option<Arc<rustls::ClientConfig>>,
    stream: Option<BufReader<TlsStream>>,
}

/// Read a context (`None`: the current context) from a kubeconfig file.
pub fn load_context(path: &std::path::Path, context: Option<&str>) -> anyhow::Result<KubeContext> {
    Kubeconfig::load(path)?.context(context)
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

    fn hostport(&self) -> anyhow::Result<&str> {
        let rest = self
            .server
            .strip_prefix("https://")
            .ok_or_else(|| anyhow!("only https servers are supported: {}", self.server))?;
        Ok(rest.split('/').next().unwrap_or(rest))
    }

    fn tls_config(&self, conn: &mut Conn) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        if let Some(c) = &conn.config {
            return Ok(c.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        conn.config = Some(config.clone());
        Ok(config)
    }

    fn connect(&self, conn: &mut Conn) -> anyhow::Result<BufReader<TlsStream>> {
        let hostport = self.hostport()?;
        let host = hostport
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(hostport)
            .to_string();
        let config = self.tls_config(conn)?;
        let name = ServerName::try_from(host)?;
        let tls = rustls::ClientConnection::new(config, name)?;
        let tcp = TcpStream::connect(hostport)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        // Requests are single small writes; do not let Nagle hold them back.
        tcp.set_nodelay(true)?;
        Ok(BufReader::new(rustls::StreamOwned::new(tls, tcp)))
    }

    /// One HTTPS request on the context's connection (opened if needed); returns status and body.
    pub fn request(&self, method: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nUser-Agent: linkerd/fake\r\n\r\n",
            self.hostport()?,
            self.token
        );
        let retryable = method == "GET" || method == "HEAD";
        if let Some(mut stream) = conn.stream.take() {
            match exchange(&mut stream, req.as_bytes(), method == "HEAD") {
                Ok((answer, keep)) => {
                    if keep {
                        conn.stream = Some(stream);
                    }
                    return Ok(answer);
                }
                // The server closed the idle connection before answering: once more, anew.
                Err(Exchange::NothingRead(_)) if retryable => {}
                Err(Exchange::NothingRead(e) | Exchange::Failed(e)) => return Err(e),
            }
        }
        let mut stream = self.connect(&mut conn)?;
        match exchange(&mut stream, req.as_bytes(), method == "HEAD") {
            Ok((answer, keep)) => {
                if keep {
                    conn.stream = Some(stream);
                }
                Ok(answer)
            }
            Err(Exchange::NothingRead(e) | Exchange::Failed(e)) => Err(e),
        }
    }
}

/// How an exchange failed: before any byte of the answer arrived, or later.
enum Exchange {
    NothingRead(anyhow::Error),
    Failed(anyhow::Error),
}

/// Writes a request and reads its answer: `((status, body), whether the connection stays open)`.
fn exchange(
    stream: &mut BufReader<TlsStream>,
    req: &[u8],
    head_only: bool,
) -> Result<((u16, Vec<u8>), bool), Exchange> {
    let early = |e: std::io::Error| Exchange::NothingRead(e.into());
    let late = |e: std::io::Error| Exchange::Failed(e.into());
    stream.get_mut().write_all(req).map_err(early)?;
    stream.get_mut().flush().map_err(early)?;
    // Status line and headers.
    let mut line = String::new();
    match stream.read_line(&mut line) {
        Ok(0) => {
            return Err(Exchange::NothingRead(anyhow!(
                "connection closed before the answer"
            )));
        }
        Ok(_) => {}
        Err(e) if line.is_empty() => return Err(early(e)),
        Err(e) => return Err(late(e)),
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Exchange::Failed(anyhow!("malformed status line")))?;
    let mut length: Option<usize> = None;
    let (mut chunked, mut close) = (false, line.starts_with("HTTP/1.0"));
    loop {
        line.clear();
        if stream.read_line(&mut line).map_err(late)? == 0 {
            return Err(Exchange::Failed(anyhow!("malformed HTTP response")));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => length = v.parse().ok(),
            "transfer-encoding" => chunked = v.contains("chunked"),
            "connection" => close |= v.contains("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
    } else if chunked {
        loop {
            line.clear();
            stream.read_line(&mut line).map_err(late)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| Exchange::Failed(anyhow!("malformed chunk")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if stream.read_line(&mut line).map_err(late)? == 0 || line.trim_end().is_empty()
                    {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            stream.read_exact(&mut body[start..]).map_err(late)?;
            line.clear();
            stream.read_line(&mut line).map_err(late)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        stream.read_exact(&mut body).map_err(late)?;
    } else {
        // No length: the body ends with the connection.
        match stream.read_to_end(&mut body) {
            Ok(_) => {}
            // The server closing without close_notify is fine once we have the response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(late(e)),
        }
        close = true;
    }
    Ok(((status, body), !close))
}
