//! The HTTP stack under each context's `kube::Client`: HTTP/2 when the API server offers it, so
//! that one connection (one TLS handshake) carries every request to a cluster, as client-go's
//! does.
//!
//! kube-rs builds an HTTP/1.1-only stack (kube-rs/kube#1923: HTTP/2 would break the websocket
//! upgrades of its `ws` feature, which mcflow does not use). Over HTTP/1.1 each request in flight
//! holds a connection of its own, so a Deployment wait (a watch) and a read of the same spoke
//! cost two TLS handshakes (docs/PERFORMANCE.md, figure 5c). The layers above the connection are
//! kube's own (`ConfigExt`): the base URI, credentials (tokens, exec plugins, client
//! certificates) and extra headers (impersonation); the TLS configuration is kube's with ALPN
//! offering `h2` and `http/1.1`. A server that answers `http/1.1` (an HTTP/1.1-only proxy in
//! front of it) is spoken to as before, and `DISABLE_HTTP2=1` offers HTTP/1.1 alone, as kubectl.
//!
//! With a proxy (`proxy-url`, `HTTPS_PROXY`) the client is kube's own, HTTP/1.1 through a
//! CONNECT tunnel, as before.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ::kube::Client;
use ::kube::client::{Body, ClientBuilder, ConfigExt};
use http::{Request, Response};
use hyper_util::client::legacy::connect::{Connected, HttpConnector, capture_connection};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower::{BoxError, Service, ServiceBuilder};

use super::error::{KubeError, KubeErrorKind};

/// At most this many requests to one cluster at once, per run (the others queue, in order). A
/// request counts until its response starts: a watch holds no slot while its events stream.
/// client-go bounds a client too, by rate (`rest.Config` QPS and Burst, k8s.io/client-go
/// `rest/config.go`). Over HTTP/1.1 (a server or proxy without HTTP/2) it also bounds the
/// connections: linking 50 spokes, 100 reads of the hub started together and opened 30 to 60
/// connections to it without the bound (docs/PERFORMANCE.md, figure 5c).
const MAX_REQUESTS_IN_FLIGHT: usize = 8;

/// HTTP/2 pings on a connection that has been silent this long, and the connection is given up
/// when a ping is not answered within [`PING_TIMEOUT`]: client-go's defaults
/// (k8s.io/apimachinery `pkg/util/net/http.go`, `readIdleTimeout` 30 s and `pingTimeout` 15 s,
/// v0.33.13), so that a watch on a connection the network silently dropped fails instead of
/// waiting for ever.
const PING_AFTER_SILENCE: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// The client of one context, from its kube `Config`.
pub(crate) fn client(config: ::kube::Config, context: &str) -> Result<Client, KubeError> {
    let limit = tower::limit::ConcurrencyLimitLayer::new(MAX_REQUESTS_IN_FLIGHT);
    let setup = |e: ::kube::Error| KubeError::from(e).context(&format!("context {context}"));
    if config.proxy_url.is_some() {
        return Ok(ClientBuilder::try_from(config)
            .map_err(setup)?
            .with_layer(&limit)
            .build());
    }

    let mut tls = config.rustls_client_config().map_err(setup)?;
    // hyper-rustls sets the protocols it offers from what is enabled below.
    tls.alpn_protocols.clear();
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    // Go sets TCP_NODELAY on every TCP connection (net/tcpsock_posix.go, newTCPConn); HTTP/2
    // writes small frames that Nagle's algorithm would otherwise hold back.
    tcp.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let https = match &config.tls_server_name {
        Some(name) => {
            let name = rustls_pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                KubeError::new(
                    KubeErrorKind::Config,
                    format!("context {context}: tls-server-name {name:?}: {e}"),
                )
            })?;
            https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => https,
    };
    let https = if http2_disabled() {
        https.enable_http1().wrap_connector(tcp)
    } else {
        https.enable_all_versions().wrap_connector(tcp)
    };
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);

    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(PING_AFTER_SILENCE)
        .http2_keep_alive_timeout(PING_TIMEOUT)
        .build::<_, Body>(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().map_err(setup)?)
        .layer(config.extra_headers_layer().map_err(setup)?)
        .map_err(BoxError::from)
        .service(FirstConnection::new(http, context));
    Ok(ClientBuilder::new(service, config.default_namespace)
        .with_layer(&limit)
        .build())
}

/// kubectl's switch, for a proxy or load balancer that mishandles HTTP/2: `DISABLE_HTTP2` set to
/// anything speaks HTTP/1.1 only (client-go: k8s.io/apimachinery `pkg/util/net/http.go`,
/// `SetTransportDefaults`, v0.33.13).
fn http2_disabled() -> bool {
    std::env::var_os("DISABLE_HTTP2").is_some_and(|v| !v.is_empty())
}

/// Lets the first request to a cluster go alone, the others waiting until its connection is up
/// (or it failed): requests that start together would otherwise each open a connection (and pay
/// a TLS handshake) before the first one has learnt that the server speaks HTTP/2 and one
/// connection would carry them all. After that, requests are not held. After a lost connection
/// (an API server restarting), requests that start together may again open one each; hyper-util
/// keeps one of them and closes the rest.
#[derive(Clone)]
struct FirstConnection<S> {
    inner: S,
    opened: Arc<Gate>,
}

struct Gate {
    /// Set once the first request's connection is up (or the request ended without one): the
    /// gate stays open from then on.
    open: AtomicBool,
    first: tokio::sync::Mutex<()>,
    /// The context, for the debug line that names the protocol the server chose.
    context: String,
}

impl<S> FirstConnection<S> {
    fn new(inner: S, context: &str) -> Self {
        FirstConnection {
            inner,
            opened: Arc::new(Gate {
                open: AtomicBool::new(false),
                first: tokio::sync::Mutex::new(()),
                context: context.to_string(),
            }),
        }
    }
}

type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, R> Service<Request<B>> for FirstConnection<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.opened.open.load(Ordering::Acquire) {
            return Box::pin(self.inner.call(request));
        }
        // The service made ready by `poll_ready` goes into the future; a clone stays (tower's
        // usual way to call a service from a future that outlives `&mut self`).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.opened.clone();
        Box::pin(async move {
            let first = gate.first.lock().await;
            if gate.open.load(Ordering::Acquire) {
                drop(first);
                return inner.call(request).await;
            }
            let mut request = request;
            let mut connection = capture_connection(&mut request);
            let response = inner.call(request);
            tokio::pin!(response);
            // The gate opens once the connection is up (a shared HTTP/2 connection is in the
            // pool by then, for the waiting requests to take), or when the request ends
            // without one: not when the response comes, which a slow request (an admission
            // webhook, a large list) would hold back. The connection is looked at first: on a
            // busy machine both can be ready by the next poll, and a random pick of the response
            // lost the line that names the protocol.
            let http2 = tokio::select! {
                biased;
                connected = connection.wait_for_connection_metadata() => {
                    connected.as_ref().map(Connected::is_negotiated_h2)
                }
                response = &mut response => {
                    gate.open.store(true, Ordering::Release);
                    return response;
                }
            };
            gate.open.store(true, Ordering::Release);
            drop(first);
            if let Some(http2) = http2 {
                // `-vv` shows it (and a test reads it): which HTTP the API server chose.
                let protocol = if http2 { "HTTP/2.0" } else { "HTTP/1.1" };
                tracing::debug!(context = %gate.context, protocol = %protocol, "connected to the API server");
            }
            response.await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A service that counts the requests in flight and answers when told.
    #[derive(Clone)]
    struct Held {
        in_flight: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        release: Arc<tokio::sync::Notify>,
        fail: bool,
    }

    impl Service<Request<()>> for Held {
        type Response = Response<()>;
        type Error = &'static str;
        type Future = ResponseFuture<Response<()>, &'static str>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<()>) -> Self::Future {
            let held = self.clone();
            Box::pin(async move {
                // Kept until answered, as hyper-util keeps a request until it is sent: the
                // gate's connection capture ends with it (no connection is made here, so the
                // gate opens when the first request ends).
                let _request = request;
                let now = held.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                held.most.fetch_max(now, Ordering::SeqCst);
                held.release.notified().await;
                held.in_flight.fetch_sub(1, Ordering::SeqCst);
                if held.fail {
                    Err("refused")
                } else {
                    Ok(Response::new(()))
                }
            })
        }
    }

    fn held(fail: bool) -> Held {
        Held {
            in_flight: Arc::default(),
            most: Arc::default(),
            release: Arc::default(),
            fail,
        }
    }

    async fn run_three(service: &Held) -> Vec<bool> {
        let mut gate = FirstConnection::new(service.clone(), "test");
        let calls: Vec<_> = (0..3)
            .map(|_| tokio::spawn(gate.call(Request::new(()))))
            .collect();
        let release = service.release.clone();
        let in_flight = service.in_flight.clone();
        let releaser = tokio::spawn(async move {
            // Answer whatever is in flight until every call is done.
            loop {
                tokio::task::yield_now().await;
                if in_flight.load(Ordering::SeqCst) > 0 {
                    release.notify_waiters();
                }
            }
        });
        let mut ok = Vec::new();
        for call in calls {
            ok.push(call.await.unwrap().is_ok());
        }
        releaser.abort();
        ok
    }

    #[tokio::test]
    async fn the_first_request_goes_alone_then_the_rest_together() {
        let service = held(false);
        let mut gate = FirstConnection::new(service.clone(), "test");
        let first = tokio::spawn(gate.call(Request::new(())));
        let second = tokio::spawn(gate.call(Request::new(())));
        let third = tokio::spawn(gate.call(Request::new(())));
        // Only the first reaches the server until it is answered.
        while service.in_flight.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(service.in_flight.load(Ordering::SeqCst), 1);
        service.release.notify_waiters();
        first.await.unwrap().unwrap();
        // The other two are then let through together.
        while service.in_flight.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        service.release.notify_waiters();
        second.await.unwrap().unwrap();
        third.await.unwrap().unwrap();
        assert_eq!(service.most.load(Ordering::SeqCst), 2);
        // Later requests are not held.
        let fourth = tokio::spawn(gate.call(Request::new(())));
        let fifth = tokio::spawn(gate.call(Request::new(())));
        while service.in_flight.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        service.release.notify_waiters();
        fourth.await.unwrap().unwrap();
        fifth.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_failed_first_request_opens_the_gate_too() {
        // A server that cannot be reached must not make the requests queue one by one, each
        // waiting out its own connect timeout.
        let service = held(true);
        let outcomes = run_three(&service).await;
        assert_eq!(outcomes, vec![false, false, false]);
        assert_eq!(service.most.load(Ordering::SeqCst), 2);
    }
}
