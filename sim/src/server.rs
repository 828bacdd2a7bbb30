//! The HTTPS server of one cluster: TLS, auth, faults, the request log and REST routing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::discovery;
use crate::error::ApiError;
use crate::faults::FaultKind;
use crate::patch::PatchKind;
use crate::request_log::RequestRecord;
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::{ClusterState, Scope, WriteOpts, lock};
use crate::table;
use crate::watch::{self, WatchRequest};

/// The response body type.
pub type Body = BoxBody<Bytes, Infallible>;

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DropConnection {}

/// Streams one HTTP/2 connection may have open at once, as kube-apiserver allows.
const MAX_STREAMS_PER_CONNECTION: u32 = 100;

/// Serve a cluster on a bound listener until the task is aborted.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, cluster: Arc<ClusterState>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // Watch events are small writes on a long-lived response: without TCP_NODELAY, Nagle's
        // algorithm holds each one back until the previous segment is acknowledged (tens of ms).
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            cluster
                .connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // An injected "drop the connection" fault closes the whole connection, every
            // stream on it included: over HTTP/2 hyper would otherwise reset only the stream
            // whose handler failed, and the connection loss the fault stands for (an API server
            // restarting, a load balancer cutting) would go untested.
            let dropped = Arc::new(tokio::sync::Notify::new());
            let on_drop = dropped.clone();
            let svc = service_fn(move |req| {
                let (cluster, on_drop) = (cluster.clone(), on_drop.clone());
                async move {
                    let response = handle(cluster, req).await;
                    if response.is_err() {
                        on_drop.notify_one();
                    }
                    response
                }
            });
            let io = TokioIo::new(tls);
            let conn: std::pin::Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>> =
                if io.inner().get_ref().1.alpn_protocol() == Some(b"h2") {
                    // kube-apiserver's limit (k8s.io/apiserver pkg/server/secure_serving.go,
                    // `MaxConcurrentStreams = 100` unless --http2-max-streams-per-connection,
                    // v0.33.13).
                    Box::pin(
                        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
                            .serve_connection(io, svc),
                    )
                } else {
                    Box::pin(
                        hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(io, svc),
                    )
                };
            tokio::select! {
                _ = conn => {}
                () = dropped.notified() => {}
            }
        });
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a query string into a map (last value wins).
pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn truthy(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("true") | Some("1"))
}

fn fault_response(code: u16, retry_after: Option<u64>) -> Response<Body> {
    let (reason, message) = match code {
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later"
                .to_string(),
        ),
        500 => (
            "InternalError",
            "Internal error occurred: injected fault".to_string(),
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request".to_string(),
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted".to_string(),
        ),
        _ => ("InternalError", format!("injected fault: HTTP {code}")),
    };
    let mut e = ApiError::new(code, reason, message);
    if let Some(s) = retry_after {
        e.details = Some(json!({"retryAfterSeconds": s}));
    }
    let mut r = error_response(&e);
    if let Some(s) = retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

async fn handle(
    cluster: Arc<ClusterState>,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let params = parse_query(&query);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut record = RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        status: 0,
        watch: truthy(params.get("watch")),
        user_agent: user_agent.clone(),
        faulted: false,
    };
    let fired = lock(&cluster.faults).fire(method.as_str(), &path);
    for f in &fired {
        if let FaultKind::Latency(d) = f {
            tokio::time::sleep(*d).await;
        }
    }
    let drop_answer = fired.contains(&FaultKind::DropAnswer);
    for f in &fired {
        match f {
            FaultKind::Latency(_) | FaultKind::DropAnswer => {}
            FaultKind::Drop => {
                record.faulted = true;
                lock(&cluster.log).push(record);
                return Err(DropConnection);
            }
            FaultKind::Status { code, retry_after } => {
                record.faulted = true;
                record.status = *code;
                lock(&cluster.log).push(record);
                return Ok(fault_response(*code, *retry_after));
            }
        }
    }
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", cluster.token));
    let resp = if !authorized {
        error_response(&ApiError::unauthorized())
    } else {
        let headers = req.headers().clone();
        match req.into_body().collect().await {
            Ok(b) => {
                let ctx = Ctx {
                    cluster: cluster.clone(),
                    method,
                    path,
                    params,
                    headers,
                    body: b.to_bytes(),
                    user_agent,
                };
                ctx.route().unwrap_or_else(|e| error_response(&e))
            }
            Err(_) => error_response(&ApiError::bad_request("could not read the request body")),
        }
    };
    record.status = resp.status().as_u16();
    record.faulted |= drop_answer;
    lock(&cluster.log).push(record);
    if drop_answer {
        return Err(DropConnection);
    }
    Ok(resp)
}

struct Ctx {
    cluster: Arc<ClusterState>,
    method: Method,
    path: String,
    params: HashMap<String, String>,
    headers: http::HeaderMap,
    body: Bytes,
    user_agent: String,
}

/// A parsed resource URL.
struct Target {
    rt: ResourceType,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    /// Where in the cluster's state the request goes.
    fn scope(&self) -> Scope<'_> {
        let ns = self.namespace.as_deref().unwrap_or_default();
        Scope::new(&self.rt, &self.version, ns).status_only(self.subresource.is_some())
    }
}

impl Ctx {
    fn accept(&self) -> String {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// Which aggregated discovery version the client accepts, if any.
    fn aggregated(&self) -> Option<&'static str> {
        let accept = self.accept();
        for part in accept.split(',') {
            if part.contains("as=APIGroupDiscoveryList") && part.contains("g=apidiscovery.k8s.io") {
                if part.contains("v=v2beta1") {
                    return Some("v2beta1");
                }
                if part.contains("v=v2") {
                    return Some("v2");
                }
            }
        }
        None
    }

    fn aggregated_response(&self, core: bool, v: &str) -> Response<Body> {
        let types = self.cluster.types();
        let body = discovery::aggregated(&types, core, &format!("apidiscovery.k8s.io/{v}"));
        let mut r = json_response(200, &body);
        if let Ok(ct) = HeaderValue::from_str(&format!(
            "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
        )) {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        r
    }

    fn route(&self) -> Result<Response<Body>, ApiError> {
        let segs: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        let get = self.method == Method::GET;
        match segs.as_slice() {
            ["version"] if get => Ok(json_response(200, &discovery::version())),
            ["healthz" | "livez" | "readyz"] if get => {
                let mut r = Response::new(full("ok"));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                Ok(r)
            }
            ["api"] if get => Ok(match self.aggregated() {
                Some(v) => self.aggregated_response(true, v),
                None => {
                    let addr = lock(&self.cluster.url)
                        .trim_start_matches("https://")
                        .to_string();
                    json_response(200, &discovery::core_versions(&addr))
                }
            }),
            ["apis"] if get => Ok(match self.aggregated() {
                Some(v) => self.aggregated_response(false, v),
                None => json_response(200, &discovery::group_list(&self.cluster.types())),
            }),
            ["api", "v1"] if get => discovery::resource_list(&self.cluster.types(), "", "v1")
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::no_route),
            ["apis", g] if get => discovery::group(&self.cluster.types(), g)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::no_route),
            ["apis", g, v] if get => discovery::resource_list(&self.cluster.types(), g, v)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::no_route),
            ["openapi", "v3"] if get => Ok(json_response(
                200,
                &discovery::openapi_v3_root(&self.cluster.types()),
            )),
            ["openapi", "v3", "api", v] if get => {
                discovery::openapi_v3_gv(&self.cluster.types(), "", v)
                    .map(|v| json_response(200, &v))
                    .ok_or_else(ApiError::no_route)
            }
            ["openapi", "v3", "apis", g, v] if get => {
                discovery::openapi_v3_gv(&self.cluster.types(), g, v)
                    .map(|v| json_response(200, &v))
                    .ok_or_else(ApiError::no_route)
            }
            ["api", v, rest @ ..] => self.resource(self.target("", v, rest)?),
            ["apis", g, v, rest @ ..] => self.resource(self.target(g, v, rest)?),
            _ => Err(ApiError::no_route()),
        }
    }

    fn target(&self, group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
        let (ns, plural, name, sub) = match rest {
            ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => (
                Some(ns.to_string()),
                *plural,
                tail.first().copied(),
                tail.get(1).copied(),
            ),
            [plural, tail @ ..] => (None, *plural, tail.first().copied(), tail.get(1).copied()),
            [] => return Err(ApiError::no_route()),
        };
        let rt = self
            .cluster
            .find_type(group, version, plural)
            .ok_or_else(ApiError::no_route)?;
        if ns.is_some() && !rt.namespaced {
            return Err(ApiError::no_route());
        }
        if let Some(s) = sub
            && !(s == "status" && rt.has_status(version))
        {
            return Err(ApiError::no_route());
        }
        Ok(Target {
            rt,
            version: version.to_string(),
            namespace: ns,
            name: name.map(String::from),
            subresource: sub.map(String::from),
        })
    }

    fn body_json(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        let ct = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if ct.contains("protobuf")
            && let Some(v) = crate::protobuf::decode(&self.body)
        {
            return Ok(v);
        }
        if ct.contains("protobuf") || ct.contains("cbor") {
            // Simplification: the simulator speaks JSON (and YAML) only.
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (the simulator does not decode {ct})"
                ),
            ));
        }
        match serde_json::from_slice(&self.body) {
            Ok(v) => Ok(v),
            Err(e) => {
                let text = String::from_utf8_lossy(&self.body);
                serde_saphyr::from_str::<Value>(&text).map_err(|_| {
                    ApiError::bad_request(format!(
                        "the body of the request was in an unknown format: {e}"
                    ))
                })
            }
        }
    }

    fn write_opts(&self) -> WriteOpts {
        let body_dry = self
            .body_json()
            .ok()
            .and_then(|b| b.get("dryRun").cloned())
            .is_some_and(|d| d.as_array().is_some_and(|a| a.iter().any(|x| x == "All")));
        let default_manager = self
            .user_agent
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown");
        WriteOpts {
            dry_run: self.params.get("dryRun").is_some_and(|d| d == "All") || body_dry,
            field_manager: Some(
                self.params
                    .get("fieldManager")
                    .cloned()
                    .unwrap_or_else(|| default_manager.to_string()),
            ),
            force: truthy(self.params.get("force")),
        }
    }

    fn resource(&self, t: Target) -> Result<Response<Body>, ApiError> {
        match (&self.method, &t.name) {
            (&Method::GET, None) => self.list(t),
            (&Method::GET, Some(name)) => self.get_one(&t, name),
            (&Method::POST, None) => self.create(&t),
            (&Method::PUT, Some(name)) => self.replace(&t, name),
            (&Method::PATCH, Some(name)) => self.patch(&t, name),
            (&Method::DELETE, Some(name)) => self.delete_one(&t, name),
            (&Method::DELETE, None) => self.delete_collection(&t),
            _ => Err(ApiError::method_not_allowed()),
        }
    }

    /// The `labelSelector` and `fieldSelector` parameters.
    fn selectors(&self, t: &Target) -> Result<(LabelSelector, FieldSelector), ApiError> {
        let param = |k: &str| self.params.get(k).map(String::as_str).unwrap_or_default();
        Ok((
            LabelSelector::parse(param("labelSelector"))?,
            FieldSelector::parse_for(param("fieldSelector"), &t.rt.kind)?,
        ))
    }

    /// GET on a collection: a list (or a Table of it), or a watch.
    fn list(&self, t: Target) -> Result<Response<Body>, ApiError> {
        let (labels, fields) = self.selectors(&t)?;
        if truthy(self.params.get("watch")) {
            return self.watch(t, labels, fields);
        }
        let (rt, version) = (&t.rt, t.version.as_str());
        let (items, rv) = self
            .cluster
            .list(rt, version, t.namespace.as_deref(), &labels, &fields);
        if let Some(include) = self.table() {
            let crd = self.cluster.crd_for(rt);
            let t = table::table(rt, crd.as_ref(), version, &items, Some(rv), include);
            return Ok(json_response(200, &t));
        }
        Ok(json_response(
            200,
            &json!({
                "kind": format!("{}List", rt.kind),
                "apiVersion": rt.api_version(version),
                "metadata": {"resourceVersion": rv.to_string()},
                "items": items,
            }),
        ))
    }

    /// GET on an object (or a Table of it) or its status.
    fn get_one(&self, t: &Target, name: &str) -> Result<Response<Body>, ApiError> {
        let obj = self.cluster.get(t.scope(), name)?;
        match self.table() {
            Some(include) if t.subresource.is_none() => {
                let crd = self.cluster.crd_for(&t.rt);
                Ok(json_response(
                    200,
                    &table::table(&t.rt, crd.as_ref(), &t.version, &[obj], None, include),
                ))
            }
            _ => Ok(json_response(200, &obj)),
        }
    }

    /// POST on a collection.
    fn create(&self, t: &Target) -> Result<Response<Body>, ApiError> {
        let body = self.body_json()?;
        let created = self.cluster.create(t.scope(), body, &self.write_opts())?;
        Ok(json_response(201, &created))
    }

    /// PUT on an object or its status.
    fn replace(&self, t: &Target, name: &str) -> Result<Response<Body>, ApiError> {
        let body = self.body_json()?;
        let updated = self
            .cluster
            .update(t.scope(), name, body, &self.write_opts())?;
        Ok(json_response(200, &updated))
    }

    /// PATCH on an object or its status: 201 when a server-side apply created it.
    fn patch(&self, t: &Target, name: &str) -> Result<Response<Body>, ApiError> {
        let ct = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let kind = PatchKind::from_content_type(ct).ok_or_else(|| {
            ApiError::new(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        })?;
        let body = self.body_json()?;
        let existed = self.cluster.get(t.scope(), name).is_ok();
        let out = self
            .cluster
            .patch(t.scope(), name, kind, &body, &self.write_opts())?;
        Ok(json_response(if existed { 200 } else { 201 }, &out))
    }

    /// DELETE on an object: a `Success` Status.
    fn delete_one(&self, t: &Target, name: &str) -> Result<Response<Body>, ApiError> {
        let rt = &t.rt;
        let obj = self.cluster.delete(t.scope(), name, &self.write_opts())?;
        let mut details = json!({"name": name, "kind": rt.plural, "uid": obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)});
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        Ok(json_response(
            200,
            &json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details
            }),
        ))
    }

    /// DELETE on a collection: every selected object, listed as it was deleted.
    fn delete_collection(&self, t: &Target) -> Result<Response<Body>, ApiError> {
        let (rt, version) = (&t.rt, t.version.as_str());
        let (labels, fields) = self.selectors(t)?;
        let (items, _) = self
            .cluster
            .list(rt, version, t.namespace.as_deref(), &labels, &fields);
        let mut deleted = Vec::new();
        for it in items {
            let n = it
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ins = it
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let at = Scope::new(rt, version, ins);
            if let Ok(o) = self.cluster.delete(at, n, &self.write_opts()) {
                deleted.push(o);
            }
        }
        Ok(json_response(
            200,
            &json!({
                "kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(version),
                "metadata": {}, "items": deleted
            }),
        ))
    }

    /// Whether the client asked for a Table, and what rows should carry.
    fn table(&self) -> Option<table::IncludeObject> {
        table::wants_table(&self.accept()).then(|| {
            table::IncludeObject::parse(self.params.get("includeObject").map(String::as_str))
        })
    }

    fn watch(
        &self,
        t: Target,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> Result<Response<Body>, ApiError> {
        let table = self.table().map(|i| (self.cluster.crd_for(&t.rt), i));
        let req = WatchRequest {
            table,
            rt: t.rt,
            version: t.version,
            namespace: t.namespace,
            labels,
            fields,
            resource_version: self.params.get("resourceVersion").cloned(),
            bookmarks: truthy(self.params.get("allowWatchBookmarks")),
            send_initial_events: self.params.get("sendInitialEvents").map(|v| v == "true"),
            timeout: self
                .params
                .get("timeoutSeconds")
                .and_then(|s| s.parse::<u64>().ok())
                .map(Duration::from_secs),
        };
        let rx = watch::start(self.cluster.clone(), req)?;
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
        });
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, private"),
        );
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("labelSelector=a%3Db%2Cc+in+%28x%29&watch=1&x");
        assert_eq!(q["labelSelector"], "a=b,c in (x)");
        assert_eq!(q["watch"], "1");
        assert_eq!(q["x"], "");
    }
}
