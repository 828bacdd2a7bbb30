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

/// A kubeconfig file, read once; [`Kubeconfig::context`] resolves its contexts.
///
/// The simulator's kubeconfig lists every cluster (51 in the fan-out bench, ~50 kB), and the
/// YAML parser takes ~0.7 ms for all of it, in every `linkerd` process. So a context is first
/// looked up in a line index of the file, parsing only the three list entries it needs; a file
/// the index does not understand (anchors, block scalars, comments, flow-style lists...), or a
/// name it does not find, goes to the full parse, which is also where every error comes from.
pub struct Kubeconfig {
    text: String,
    doc: std::sync::OnceLock<Result<Value, String>>,
}

impl Kubeconfig {
    /// Read a kubeconfig file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Self::from_text(text))
    }

    /// A kubeconfig from its text.
    pub fn from_text(text: String) -> Self {
        Kubeconfig {
            text,
            doc: std::sync::OnceLock::new(),
        }
    }

    /// The whole document, parsed on first use.
    fn doc(&self) -> anyhow::Result<&Value> {
        self.doc
            .get_or_init(|| {
                serde_saphyr::from_str(&self.text).map_err(|e| format!("invalid kubeconfig: {e}"))
            })
            .as_ref()
            .map_err(|e| anyhow!("{e}"))
    }

    /// A context (`None`: the current context).
    pub fn context(&self, context: Option<&str>) -> anyhow::Result<KubeContext> {
        let (name, cluster, user) = match Index::new(&self.text).and_then(|i| i.resolve(context)) {
            Some(found) => found,
            None => self.resolve(context)?,
        };
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

    /// The context's name, cluster entry and user entry (`Null` if none), from the full parse.
    fn resolve(&self, context: Option<&str>) -> anyhow::Result<(String, Value, Value)> {
        let kc = self.doc()?;
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
        .ok_or_else(|| anyhow!("cluster of context \"{name}\" not found"))?
        .clone();
        let user = find("users", ctx["context"]["user"].as_str().unwrap_or_default())
            .cloned()
            .unwrap_or(Value::Null);
        Ok((name, cluster, user))
    }
}

/// The top-level keys of a plain block-style kubeconfig and their lines: enough to find one
/// list entry by name and parse only it.
struct Index<'a> {
    sections: std::collections::HashMap<&'a str, (&'a str, Vec<&'a str>)>,
}

impl<'a> Index<'a> {
    /// `None` unless every line is plain: no blank or comment lines, tabs, anchors, aliases,
    /// block scalars or document markers, and each top-level key once.
    fn new(text: &'a str) -> Option<Self> {
        if text.contains(['&', '*', '|', '>', '\t', '%']) || text.contains("---") {
            return None;
        }
        let mut sections = std::collections::HashMap::new();
        let mut current: Option<&str> = None;
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                return None;
            }
            if trimmed.len() == line.len() && !line.starts_with('-') {
                let (key, rest) = line.split_once(':')?;
                if key.contains(['"', '\'', '{', '[', ' ', '?']) {
                    return None;
                }
                sections
                    .insert(key, (rest.trim(), Vec::new()))
                    .map_or(Some(()), |_| None)?;
                current = Some(key);
            } else {
                sections.get_mut(current?)?.1.push(line);
            }
        }
        Some(Index { sections })
    }

    /// The entries of a block-sequence section, each as its dedented text.
    fn entries(&self, section: &str) -> Option<Vec<String>> {
        let (rest, lines) = self.sections.get(section)?;
        if !rest.is_empty() {
            return None;
        }
        let indent = |l: &str| l.len() - l.trim_start().len();
        let d = indent(lines.first()?);
        let mut entries: Vec<String> = Vec::new();
        for l in lines {
            let i = indent(l);
            if i < d {
                return None;
            }
            if i == d {
                if !l[d..].starts_with('-') {
                    return None;
                }
                entries.push(String::new());
            }
            let e = entries.last_mut()?;
            e.push_str(&l[d..]);
            e.push('\n');
        }
        Some(entries)
    }

    /// The first entry of `section` named `name`, parsing only the entries that mention it.
    fn find(&self, section: &str, name: &str) -> Option<Value> {
        self.entries(section)?
            .iter()
            .filter(|e| e.contains(name))
            .find_map(|e| {
                let mut v: Vec<Value> = serde_saphyr::from_str(e).ok()?;
                (v.len() == 1 && v[0]["name"] == name).then(|| v.remove(0))
            })
    }

    /// Like [`Kubeconfig::resolve`]; `None` when the index cannot tell (the full parse decides).
    fn resolve(&self, context: Option<&str>) -> Option<(String, Value, Value)> {
        let name = match context {
            Some(c) => c.to_string(),
            None => {
                let (rest, lines) = self.sections.get("current-context")?;
                if !lines.is_empty() {
                    return None;
                }
                let v: Value = serde_saphyr::from_str(&format!("v: {rest}")).ok()?;
                v["v"].as_str()?.to_string()
            }
        };
        let ctx = self.find("contexts", &name)?;
        let cluster = self.find("clusters", ctx["context"]["cluster"].as_str()?)?;
        let user = match ctx["context"]["user"].as_str() {
            Some(u) => self.find("users", u)?,
            None => return None,
        };
        Some((name, cluster, user))
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
        self.request_with_body(method, path, None)
    }

    /// Like [`KubeContext::request`], with a body of the given content type (e.g.
    /// `application/apply-patch+yaml`); used by the real-cluster rig's helpers.
    pub fn request_with_body(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nUser-Agent: linkerd/fake\r\n",
            self.hostport()?,
            self.token
        )
        .into_bytes();
        match body {
            Some((content_type, bytes)) => {
                req.extend_from_slice(
                    format!(
                        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                        bytes.len()
                    )
                    .as_bytes(),
                );
                req.extend_from_slice(bytes);
            }
            None => req.extend_from_slice(b"\r\n"),
        }
        let req = req;
        let retryable = method == "GET" || method == "HEAD";
        if let Some(mut stream) = conn.stream.take() {
            match exchange(&mut stream, &req, method == "HEAD") {
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
        match exchange(&mut stream, &req, method == "HEAD") {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The index finds what the full parse finds, and leaves what it cannot read to it.
    #[test]
    fn index_agrees_with_the_full_parse() {
        let ca = base64::engine::general_purpose::STANDARD.encode("CA PEM");
        let sim = crate::kubeconfig::render(
            &[
                crate::kubeconfig::Entry {
                    name: "hub",
                    server: "https://127.0.0.1:1",
                    token: "t-hub",
                },
                crate::kubeconfig::Entry {
                    name: "spoke1",
                    server: "https://127.0.0.1:2",
                    token: "t-spoke1",
                },
                crate::kubeconfig::Entry {
                    name: "spoke",
                    server: "https://127.0.0.1:3",
                    token: "t-spoke",
                },
            ],
            "CA PEM",
        );
        let indented = format!(
            "apiVersion: v1\nkind: Config\npreferences: {{}}\ncurrent-context: 'b'\nclusters:\n  - cluster:\n      server: \"https://127.0.0.1:9\"\n      certificate-authority-data: {ca}\n    name: bc\ncontexts:\n  - name: b\n    context: {{cluster: bc, user: bu}}\nusers:\n  - name: bu\n    user:\n      token: \"t-b\"\n"
        );
        let commented = format!("# a comment\n{indented}");
        for (text, contexts) in [
            (
                &sim,
                &[
                    None,
                    Some("hub"),
                    Some("spoke"),
                    Some("spoke1"),
                    Some("nope"),
                ][..],
            ),
            (&indented, &[None, Some("b"), Some("bc")][..]),
            (&commented, &[None, Some("b")][..]),
        ] {
            let kc = Kubeconfig::from_text(text.clone());
            for c in contexts {
                let quick = Index::new(text).and_then(|i| i.resolve(*c));
                let full = kc.resolve(*c).ok();
                if let Some(q) = &quick {
                    assert_eq!(Some(q), full.as_ref(), "{c:?} in\n{text}");
                }
                let got = kc.context(*c);
                match &full {
                    Some((name, _, user)) => {
                        let got = got.unwrap();
                        assert_eq!(&got.name, name);
                        assert_eq!(got.token, user["user"]["token"].as_str().unwrap());
                        assert_eq!(got.ca_pem, "CA PEM");
                    }
                    None => assert!(got.is_err()),
                }
            }
        }
        // The simulator's own kubeconfig is read by the index.
        let i = Index::new(&sim).expect("the index reads the simulator's kubeconfig");
        assert_eq!(i.resolve(None).unwrap().0, "hub");
        assert_eq!(
            i.resolve(Some("spoke")).unwrap().2["user"]["token"],
            "t-spoke"
        );
        let i = Index::new(&indented).expect("indented lists are read by the index");
        assert_eq!(i.resolve(None).unwrap().0, "b");
        assert!(Index::new(&commented).is_none());
    }
}
