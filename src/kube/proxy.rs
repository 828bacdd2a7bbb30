//! Whether a context's requests go through the proxy that `HTTPS_PROXY` names, by kubectl's rule.
//!
//! kube-rs (5.0, `config/file_loader.rs` `proxy_url`) takes `HTTPS_PROXY` for every cluster and
//! checks `NO_PROXY` against the proxy's own address, not the cluster's. kubectl (client-go, over
//! Go's `net/http.ProxyFromEnvironment`) decides per request host, in
//! golang.org/x/net/http/httpproxy/proxy.go (`useProxy`, `matchHost`, `matchIP`): never for
//! `localhost` or a loopback address, never when `NO_PROXY` is `*`, and not for a host that a
//! `NO_PROXY` entry names (an IP, a CIDR, a domain and its subdomains, with an optional port).
//! An operator whose kubectl reaches the clusters expects mcflow to reach them the same way.
//! A `proxy-url` in the kubeconfig's cluster entry is always used, as kubectl does.

use std::net::IpAddr;

/// True when a request to `host:port` takes the environment's proxy, given `no_proxy` (the
/// value of `NO_PROXY`, else `no_proxy`).
pub(crate) fn env_proxy_applies(host: &str, port: u16, no_proxy: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host == "localhost" {
        return false;
    }
    let ip = host.parse::<IpAddr>().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    !no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| excludes(entry, &host, ip, port))
}

/// Does one `NO_PROXY` entry name this host?
fn excludes(entry: &str, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    let entry = entry.to_ascii_lowercase();
    if let Some((net, bits)) = entry.split_once('/') {
        return ip.is_some_and(|ip| in_cidr(ip, net, bits));
    }
    if let Ok(e) = entry
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return ip == Some(e);
    }
    // `host:port` entries match that port only (Go: `matchHost.port`).
    let (name, entry_port) = match entry.rsplit_once(':') {
        Some((n, p)) if p.parse::<u16>().is_ok() => (n, p.parse::<u16>().ok()),
        _ => (entry.as_str(), None),
    };
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    // `.example.com` and `*.example.com` match subdomains only; `example.com` matches itself
    // and its subdomains.
    let name = name.strip_prefix('*').unwrap_or(name);
    match name.strip_prefix('.') {
        Some(suffix) => host.ends_with(&format!(".{suffix}")),
        None => host == name || host.ends_with(&format!(".{name}")),
    }
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `NO_PROXY`, else `no_proxy` (Go reads both spellings, the upper case first).
pub(crate) fn no_proxy_from_env() -> String {
    std::env::var("NO_PROXY")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var("no_proxy").ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::env_proxy_applies as applies;

    #[test]
    fn loopback_is_never_proxied() {
        assert!(!applies("127.0.0.1", 6443, ""));
        assert!(!applies("127.1.2.3", 6443, ""));
        assert!(!applies("[::1]", 6443, ""));
        assert!(!applies("localhost", 6443, ""));
        assert!(applies("10.0.0.1", 6443, ""));
    }

    #[test]
    fn no_proxy_entries_match_like_go() {
        let np = "corp.example, .svc.local, 10.1.0.0/16, 192.168.1.5, api.other:6443";
        assert!(!applies("corp.example", 443, np));
        assert!(!applies("k8s.corp.example", 443, np));
        assert!(applies("notcorp.example", 443, np));
        assert!(!applies("api.svc.local", 443, np));
        assert!(applies("svc.local", 443, np));
        assert!(!applies("10.1.200.3", 6443, np));
        assert!(applies("10.2.0.1", 6443, np));
        assert!(!applies("192.168.1.5", 6443, np));
        assert!(!applies("api.other", 6443, np));
        assert!(applies("api.other", 443, np));
        assert!(!applies("anything", 1, "*"));
        assert!(!applies("k8s.corp.example", 443, "*.corp.example"));
        assert!(applies("host", 443, "garbage/99, ,"));
    }
}
