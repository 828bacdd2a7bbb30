//! The record of requests a cluster served.

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The raw query string (may be empty).
    pub query: String,
    /// The status answered (0 when the connection was dropped by a fault).
    pub status: u16,
    /// Whether it was a watch.
    pub watch: bool,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Whether an injected fault (other than latency) answered it.
    pub faulted: bool,
}
