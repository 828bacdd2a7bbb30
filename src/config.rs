//! The topology file (`config/clusters.yaml`), exposed to templates as `config`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::workflow::{Problem, ProblemKind, SourceFile};

/// The file used when `--config` is not given, if it exists (relative to the working directory).
pub const DEFAULT_PATH: &str = "config/clusters.yaml";

/// A loaded config file.
#[derive(Debug, Clone)]
pub struct Config {
    /// None when no config file is in use (`config` is then an empty mapping).
    pub path: Option<PathBuf>,
    pub sha256: Option<String>,
    pub value: serde_json::Value,
}

impl Config {
    /// No config file: templates see an empty `config`.
    pub fn empty() -> Config {
        Config {
            path: None,
            sha256: None,
            value: serde_json::Value::Object(Default::default()),
        }
    }

    /// Loads `explicit`, or the default file when it exists.
    pub fn load(explicit: Option<&Path>) -> Result<Config, Problem> {
        match explicit {
            Some(p) => Config::read(p),
            None if Path::new(DEFAULT_PATH).is_file() => Config::read(Path::new(DEFAULT_PATH)),
            None => Ok(Config::empty()),
        }
    }

    /// One problem instead of one per `config.*` a workflow reads, when it reads the config and
    /// no config file is in use (the default file is not in this directory).
    pub fn missing_for(&self, workflow: &Path) -> Option<Problem> {
        if self.path.is_some() {
            return None;
        }
        let text = std::fs::read_to_string(workflow).ok()?;
        let names = config_names(&text);
        if names.is_empty() {
            return None;
        }
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| ".".into());
        let shown: Vec<String> = names.iter().take(3).map(|n| format!("`{n}`")).collect();
        let more = if names.len() > 3 { ", …" } else { "" };
        Some(
            Problem::new(
                ProblemKind::Io,
                format!(
                    "no config file: {} reads {}{more}, and {DEFAULT_PATH} does not exist in {cwd}",
                    workflow.display(),
                    shown.join(", ")
                ),
            )
            .help(format!(
                "pass --config <file> (or set MCFLOW_CONFIG), or run mcflow from the directory \
                 that holds {DEFAULT_PATH}"
            )),
        )
    }

    fn read(path: &Path) -> Result<Config, Problem> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problem::new(
                ProblemKind::Io,
                format!("cannot read config file {}: {e}", path.display()),
            )
            .help("--config (or MCFLOW_CONFIG) names the config file; check the path")
        })?;
        let value: serde_json::Value = crate::yaml::from_str(&text).map_err(|e| {
            let at = e
                .loc
                .map(|l| format!(":{}:{}", l.line, l.column))
                .unwrap_or_default();
            Problem::new(
                ProblemKind::BadConfig,
                format!("config {}{at}: {}", path.display(), e.message),
            )
        })?;
        let value = match value {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            v @ serde_json::Value::Object(_) => v,
            _ => {
                return Err(Problem::new(
                    ProblemKind::BadConfig,
                    format!("config {} must be a mapping", path.display()),
                ));
            }
        };
        check_gateway_addresses(path, &text)?;
        Ok(Config {
            path: Some(path.to_path_buf()),
            sha256: Some(sha256_hex(text.as_bytes())),
            value,
        })
    }
}

/// The `config.<key>` names a workflow's text reads, in order, each once.
fn config_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("config.") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "config.".len()..];
        let key: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let word_start = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if word_start && !key.is_empty() && !names.contains(&format!("config.{key}")) {
            names.push(format!("config.{key}"));
        }
        rest = after;
    }
    names
}

/// Refuses a `hub.gateway_addresses` entry that is not a bare host name or IP address.
///
/// The value goes verbatim into the Link's `spec.gatewayAddress` (`--gateway-addresses`, copied
/// without validation by linkerd2 multicluster/cmd/link.go @edge-24.11.8 and
/// multicluster/cmd/link-gen.go @edge-25.4.4/@edge-25.10.7), and the service mirror resolves each
/// comma-separated entry with `net.LookupIP` (`resolveGatewayAddress`,
/// multicluster/service-mirror/cluster_watcher.go at the same tags): `host:port` resolves to
/// nothing, so no gateway endpoints are ever made. The port is the gateway Service's
/// `mc-gateway` nodePort (or `--gateway-port`), never part of the address.
fn check_gateway_addresses(path: &Path, text: &str) -> Result<(), Problem> {
    let Ok(root) = crate::yaml::parse(text) else {
        return Ok(());
    };
    let Some(node) = root.get("hub").and_then(|h| h.get("gateway_addresses")) else {
        return Ok(());
    };
    let Some(value) = node.as_str() else {
        return Ok(());
    };
    let Some((entry, why)) = value
        .split(',')
        .find_map(|e| gateway_address_problem(e).map(|why| (e, why)))
    else {
        return Ok(());
    };
    let file = SourceFile::new(path, text);
    Err(Problem::new(
        ProblemKind::BadConfig,
        format!("config hub.gateway_addresses entry `{entry}` {why}"),
    )
    .at(&file, node.loc)
    .label("not a host name or IP address")
    .help(
        "the service mirror resolves each comma-separated entry with net.LookupIP, so give hosts \
         or IPs only; the port comes from the hub gateway Service's mc-gateway nodePort \
         (hub.gateway_node_port)",
    ))
}

/// Why one `gateway_addresses` entry is not a host name or IP address, if it is not.
fn gateway_address_problem(entry: &str) -> Option<String> {
    if entry.is_empty() {
        return Some("is empty (a stray comma?)".to_string());
    }
    if entry.trim() != entry {
        return Some("has spaces around it, which net.LookupIP does not trim".to_string());
    }
    if entry.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if let Some((host, port)) = entry.rsplit_once(':')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        return Some(format!(
            "has a port: `{port}` does not belong in the address; use `{host}` \
             (the port is the gateway's mc-gateway nodePort)"
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let host = entry.strip_suffix('.').unwrap_or(entry);
    if host.len() <= 253 && host.split('.').all(label_ok) {
        None
    } else {
        Some("is neither a host name nor an IP address".to_string())
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_addresses_are_hosts_or_ips() {
        for ok in [
            "tfx-internal.gerega.net",
            "10.0.0.1",
            "fd00::1",
            "a.example.",
            "localhost",
        ] {
            assert_eq!(gateway_address_problem(ok), None, "{ok}");
        }
        let port = gateway_address_problem("tfx-internal.gerega.net:30143").unwrap();
        assert!(port.contains("has a port"), "{port}");
        assert!(port.contains("use `tfx-internal.gerega.net`"), "{port}");
        assert!(gateway_address_problem("[fd00::1]:4143").is_some());
        assert!(gateway_address_problem("10.0.0.1:4143").is_some());
        assert!(gateway_address_problem(" 10.0.0.1").is_some());
        assert!(gateway_address_problem("").is_some());
        assert!(gateway_address_problem("https://gw").is_some());
    }
}
