//! The topology file (`config/clusters.yaml`), exposed to templates as `config`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::workflow::{Problem, ProblemKind};

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

    fn read(path: &Path) -> Result<Config, Problem> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problem::new(
                ProblemKind::Io,
                format!("cannot read config {}: {e}", path.display()),
            )
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
        Ok(Config {
            path: Some(path.to_path_buf()),
            sha256: Some(sha256_hex(text.as_bytes())),
            value,
        })
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
