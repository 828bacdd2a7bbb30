//! Kubeconfig loading and the clients of one run: one `kube::Client` per context, built on first
//! use and reused, each with its own discovery cache.
//!
//! Where the kubeconfig comes from, as kubectl does it: an explicit path (`--kubeconfig`), else
//! `KUBECONFIG` (several paths, `:`-separated, merged: the first file to set a value wins; files
//! that do not exist are skipped, as kubectl skips them), else `~/.kube/config`. No kubeconfig
//! content (servers aside) ever goes into a message: it holds tokens.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ::kube::Client;
use ::kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use super::discovery::DiscoveryCache;
use super::error::{KubeError, KubeErrorKind};

/// The kubeconfig of a run, merged from its files.
pub(crate) struct KubeconfigSource {
    pub config: Kubeconfig,
    /// The files it was read from, for messages.
    pub paths: Vec<PathBuf>,
}

impl KubeconfigSource {
    /// Reads the kubeconfig: `explicit`, else `KUBECONFIG`, else `~/.kube/config`.
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Self, KubeError> {
        let env = std::env::var_os("KUBECONFIG");
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::load_from(explicit, env.as_deref(), home.as_deref())
    }

    /// [`KubeconfigSource::load`] with the environment passed in (for tests).
    pub(crate) fn load_from(
        explicit: Option<&Path>,
        env: Option<&std::ffi::OsStr>,
        home: Option<&Path>,
    ) -> Result<Self, KubeError> {
        if let Some(path) = explicit {
            if !path.exists() {
                return Err(config_error(format!(
                    "kubeconfig {} does not exist",
                    path.display()
                )));
            }
            return Ok(KubeconfigSource {
                config: read(path)?,
                paths: vec![path.to_path_buf()],
            });
        }
        let from_env: Vec<PathBuf> = env
            .map(|v| {
                std::env::split_paths(v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if !from_env.is_empty() {
            let existing: Vec<PathBuf> = from_env.iter().filter(|p| p.exists()).cloned().collect();
            if existing.is_empty() {
                let names: Vec<String> = from_env.iter().map(|p| p.display().to_string()).collect();
                return Err(config_error(format!(
                    "no kubeconfig found: KUBECONFIG names {}, and none of them exists",
                    names.join(", ")
                )));
            }
            let mut merged = Kubeconfig::default();
            for path in &existing {
                merged = merged
                    .merge(read(path)?)
                    .map_err(|e| config_error(format!("kubeconfig {}: {e}", path.display())))?;
            }
            return Ok(KubeconfigSource {
                config: merged,
                paths: existing,
            });
        }
        let Some(default) = home.map(|h| h.join(".kube").join("config")) else {
            return Err(config_error(
                "no kubeconfig: give --kubeconfig or set KUBECONFIG (HOME is not set)".to_string(),
            ));
        };
        if !default.exists() {
            return Err(config_error(format!(
                "no kubeconfig found: --kubeconfig not given, KUBECONFIG not set, and {} does not exist",
                default.display()
            )));
        }
        Ok(KubeconfigSource {
            config: read(&default)?,
            paths: vec![default],
        })
    }

    /// The context names, in file order.
    pub(crate) fn contexts(&self) -> Vec<String> {
        self.config
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// The cluster names, in file order, for an error that lists them.
    fn cluster_listing(&self) -> String {
        let names: Vec<&str> = self
            .config
            .clusters
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    }

    fn unknown_context(&self, name: &str) -> KubeError {
        let known = self.contexts();
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        let listing = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        KubeError::new(
            KubeErrorKind::UnknownContext,
            format!(
                "context {name:?} is not in the kubeconfig ({}); available contexts: {listing}",
                paths.join(", ")
            ),
        )
    }
}

fn config_error(message: String) -> KubeError {
    KubeError::new(KubeErrorKind::Config, message)
}

fn read(path: &Path) -> Result<Kubeconfig, KubeError> {
    Kubeconfig::read_from(path).map_err(|e| {
        config_error(format!(
            "kubeconfig {}: {}",
            path.display(),
            describe_config_error(&e)
        ))
    })
}

/// A kubeconfig error in words that never quote the file (its parse errors could).
fn describe_config_error(err: &KubeconfigError) -> String {
    match err {
        KubeconfigError::Parse(e) => match e.location() {
            Some(l) => format!("not valid YAML (line {}, column {})", l.line(), l.column()),
            None => "not valid YAML".to_string(),
        },
        KubeconfigError::ReadConfig(e, _) => format!("cannot read it: {e}"),
        // kube's own words ("failed to load the cluster of context: <cluster>") name the
        // cluster as if it were the context.
        KubeconfigError::LoadClusterOfContext(cluster) => {
            format!("its cluster `{cluster}` is not in the kubeconfig")
        }
        KubeconfigError::LoadContext(context) => {
            format!("context `{context}` is not in the kubeconfig")
        }
        other => other.to_string(),
    }
}

/// One context's client and discovery cache.
pub(crate) struct ContextClient {
    pub name: String,
    pub client: Client,
    pub discovery: DiscoveryCache,
    /// Slots for the watches of `wait` steps on this cluster (see [`MAX_WATCHES_PER_CLUSTER`]).
    pub watch_slots: tokio::sync::Semaphore,
}

/// At most this many `wait` steps watch one cluster at once; more wait for a slot. Over HTTP/2
/// one connection carries every request to a cluster, and a watch holds one of its streams for
/// as long as it runs. kube-apiserver allows 100 streams per connection (k8s.io/apiserver
/// `pkg/server/secure_serving.go`, `MaxConcurrentStreams`, v0.33.13), and hyper's client, unlike
/// Go's, does not open a second connection when they are taken: without this bound, 100 waits
/// would leave no stream for the request that makes them come true.
pub(crate) const MAX_WATCHES_PER_CLUSTER: usize = 64;

/// The clients of a run, built lazily, one per context.
pub(crate) struct Clients {
    source: KubeconfigSource,
    built: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<ContextClient>>>>>,
}

impl Clients {
    pub(crate) fn new(source: KubeconfigSource) -> Self {
        Clients {
            source,
            built: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn contexts(&self) -> Vec<String> {
        self.source.contexts()
    }

    /// The API server `context` points at.
    pub(crate) fn server_of(&self, context: &str) -> Option<String> {
        servers(&self.source).remove(context)
    }

    /// The client of `context`, built on first use; an unknown context is a usage error that
    /// lists the known ones.
    pub(crate) async fn get(&self, context: &str) -> Result<Arc<ContextClient>, KubeError> {
        if !self
            .source
            .config
            .contexts
            .iter()
            .any(|c| c.name == context)
        {
            return Err(self.source.unknown_context(context));
        }
        let cell = {
            let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
            built.entry(context.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| self.build(context)).await.cloned()
    }

    async fn build(&self, context: &str) -> Result<Arc<ContextClient>, KubeError> {
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            cluster: None,
            user: None,
        };
        let mut config = ::kube::Config::from_custom_kubeconfig(
            only_context(&self.source.config, context),
            &options,
        )
        .await
        .map_err(|e| {
            let mut message = format!("context {context}: {}", describe_config_error(&e));
            if let KubeconfigError::LoadClusterOfContext(_) = e {
                message.push_str(&format!(
                    " (its clusters: {})",
                    self.source.cluster_listing()
                ));
            }
            config_error(message)
        })?;
        // Retries are ours (see retry.rs): bounded, and extended to 500/502 and resets.
        config.default_retry = false;
        // An `HTTPS_PROXY` from the environment applies as kubectl applies it (proxy.rs); a
        // kubeconfig's own `proxy-url` always does.
        if config.proxy_url.is_some() && !self.kubeconfig_names_a_proxy(context) {
            let host = config.cluster_url.host().unwrap_or_default();
            let port = config.cluster_url.port_u16().unwrap_or(443);
            if !super::proxy::env_proxy_applies(host, port, &super::proxy::no_proxy_from_env()) {
                config.proxy_url = None;
            }
        }
        let client = super::http::client(config, context)?;
        Ok(Arc::new(ContextClient {
            name: context.to_string(),
            client,
            discovery: DiscoveryCache::default(),
            watch_slots: tokio::sync::Semaphore::new(MAX_WATCHES_PER_CLUSTER),
        }))
    }
}

impl Clients {
    /// Whether the cluster of `context` has a `proxy-url` of its own in the kubeconfig.
    fn kubeconfig_names_a_proxy(&self, context: &str) -> bool {
        let config = &self.source.config;
        let cluster = config
            .contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.as_str());
        config
            .clusters
            .iter()
            .filter(|c| Some(c.name.as_str()) == cluster)
            .any(|c| c.cluster.as_ref().is_some_and(|c| c.proxy_url.is_some()))
    }
}

/// The part of `config` that kube's loader reads for `context` (kube-client 5.0
/// `config/file_loader.rs`, `load_from_kubeconfig`: the first context of that name, the first
/// cluster and user of the names it gives). Each context's client was built from a copy of the
/// whole kubeconfig: with a context per spoke, linking 50 spokes copied it 51 times.
fn only_context(config: &Kubeconfig, context: &str) -> Kubeconfig {
    let named = config.contexts.iter().find(|c| c.name == context);
    let inner = named.and_then(|c| c.context.as_ref());
    let cluster = inner.map(|c| c.cluster.as_str());
    let user = inner.and_then(|c| c.user.as_deref());
    Kubeconfig {
        contexts: named.cloned().into_iter().collect(),
        clusters: (config.clusters.iter())
            .find(|c| Some(c.name.as_str()) == cluster)
            .cloned()
            .into_iter()
            .collect(),
        auth_infos: (config.auth_infos.iter())
            .find(|u| Some(u.name.as_str()) == user)
            .cloned()
            .into_iter()
            .collect(),
        current_context: Some(context.to_string()),
        ..Kubeconfig::default()
    }
}

/// Context name → server URL, for diagnostics that help an operator tell clusters apart.
pub(crate) fn servers(source: &KubeconfigSource) -> BTreeMap<String, String> {
    source
        .config
        .contexts
        .iter()
        .filter_map(|c| {
            let cluster = c.context.as_ref()?.cluster.clone();
            let server = source
                .config
                .clusters
                .iter()
                .find(|n| n.name == cluster)?
                .cluster
                .as_ref()?
                .server
                .clone()?;
            Some((c.name.clone(), server))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG_A: &str = "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: a\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: a\n  user: {token: CANARY-TOKEN-A}\ncontexts:\n- name: a\n  context: {cluster: a, user: a}\n";
    const CONFIG_B: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster: {server: 'https://127.0.0.1:2'}\nusers:\n- name: b\n  user: {token: CANARY-TOKEN-B}\ncontexts:\n- name: b\n  context: {cluster: b, user: b}\n- name: a\n  context: {cluster: b, user: b}\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn merges_kubeconfig_paths_first_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", CONFIG_A);
        let b = write(dir.path(), "b", CONFIG_B);
        let missing = dir.path().join("missing");
        let env = std::env::join_paths([missing, a, b]).unwrap();
        let source = KubeconfigSource::load_from(None, Some(&env), None).unwrap();
        assert_eq!(source.contexts(), vec!["a", "b"]);
        assert_eq!(servers(&source)["a"], "https://127.0.0.1:1");
        assert_eq!(source.paths.len(), 2);
    }

    #[test]
    fn explicit_path_wins_and_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", CONFIG_A);
        let b = write(dir.path(), "b", CONFIG_B);
        let env = std::env::join_paths([&b]).unwrap();
        let source = KubeconfigSource::load_from(Some(&a), Some(&env), None).unwrap();
        assert_eq!(source.contexts(), vec!["a"]);

        let nowhere = dir.path().join("nowhere");
        let err = KubeconfigSource::load_from(Some(&nowhere), None, None)
            .err()
            .unwrap();
        assert_eq!(err.kind, KubeErrorKind::Config);
        assert!(err.message.contains("nowhere"), "{}", err.message);

        let env = std::env::join_paths([dir.path().join("x"), dir.path().join("y")]).unwrap();
        let err = KubeconfigSource::load_from(None, Some(&env), None)
            .err()
            .unwrap();
        assert!(
            err.message.contains("x") && err.message.contains("y"),
            "{}",
            err.message
        );

        let err = KubeconfigSource::load_from(None, None, Some(dir.path()))
            .err()
            .unwrap();
        assert!(err.message.contains(".kube/config"), "{}", err.message);
    }

    #[test]
    fn parse_errors_do_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(
            dir.path(),
            "bad",
            "users:\n- name: a\n  user: {token: \"CANARY-TOKEN-A\n",
        );
        let err = KubeconfigSource::load_from(Some(&bad), None, None)
            .err()
            .unwrap();
        assert!(!err.message.contains("CANARY"), "{}", err.message);
        assert!(err.message.contains("not valid YAML"), "{}", err.message);
    }

    #[tokio::test]
    async fn unknown_context_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let b = write(dir.path(), "b", CONFIG_B);
        let clients = Clients::new(KubeconfigSource::load_from(Some(&b), None, None).unwrap());
        let err = clients.get("prod").await.err().unwrap();
        assert_eq!(err.kind, KubeErrorKind::UnknownContext);
        assert!(err.kind.is_usage());
        assert!(
            err.message.contains("\"prod\"") && err.message.contains("b, a"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("CANARY"));
        // A known context builds once and is reused.
        let first = clients.get("b").await.unwrap();
        let second = clients.get("b").await.unwrap();
        assert!(Arc::ptr_eq(&first, &second));
    }
    #[tokio::test]
    async fn a_context_loads_the_same_from_its_part_of_the_kubeconfig() {
        // Shared clusters and users, duplicate names (the first wins in kube's loader), a
        // user-less context, a missing user and a missing cluster, a namespace, a proxy, an
        // exec plugin given its cluster's details.
        let text = "\
clusters:
- {name: ca, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}
- {name: cb, cluster: {server: 'https://127.0.0.2:2', tls-server-name: b.example}}
- {name: ca, cluster: {server: 'https://127.0.0.9:9'}}
- {name: cp, cluster: {server: 'https://127.0.0.3:3', proxy-url: 'http://127.0.0.4:3128'}}
users:
- {name: ua, user: {token: CANARY-TOKEN-A}}
- {name: ub, user: {username: u, password: CANARY-PASSWORD}}
- {name: ua, user: {token: CANARY-TOKEN-OTHER}}
- name: ue
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true, provideClusterInfo: true}
contexts:
- {name: a, context: {cluster: ca, user: ua, namespace: ns-a}}
- {name: b, context: {cluster: cb}}
- {name: c, context: {cluster: ca, user: ub}}
- {name: d, context: {cluster: cb, user: nobody}}
- {name: e, context: {cluster: cp, user: ue}}
- {name: f, context: {cluster: gone, user: ua}}
- {name: a, context: {cluster: cb, user: ub}}
current-context: b
";
        let full: Kubeconfig = serde_saphyr::from_str(text).unwrap();
        // Debug hides the credentials; their serialized form shows them. A failure is
        // compared by the message mcflow makes of it.
        let seen = |c: Result<::kube::Config, KubeconfigError>| match c {
            Ok(c) => {
                let user = serde_json::to_string(&c.auth_info).unwrap();
                format!("{c:?} {user}")
            }
            Err(e) => format!("error: {}", describe_config_error(&e)),
        };
        for context in ["a", "b", "c", "d", "e", "f"] {
            let options = KubeConfigOptions {
                context: Some(context.to_string()),
                cluster: None,
                user: None,
            };
            let from_full = ::kube::Config::from_custom_kubeconfig(full.clone(), &options).await;
            let part = only_context(&full, context);
            assert_eq!(part.contexts.len(), 1);
            let from_part = ::kube::Config::from_custom_kubeconfig(part, &options).await;
            let (from_full, from_part) = (seen(from_full), seen(from_part));
            assert_eq!(from_full, from_part, "{context}");
            match context {
                "e" => assert!(
                    from_part.contains("127.0.0.4:3128") && from_part.contains("127.0.0.3:3"),
                    "{from_part}"
                ),
                "f" => assert_eq!(
                    from_part,
                    "error: its cluster `gone` is not in the kubeconfig"
                ),
                _ => assert!(!from_part.starts_with("error: "), "{from_part}"),
            }
        }
    }
    #[tokio::test]
    async fn a_context_whose_cluster_is_missing_names_it_and_the_clusters_there_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "kc",
            "clusters:\n- {name: hub, cluster: {server: 'https://127.0.0.1:1'}}\n\
             - {name: spoke, cluster: {server: 'https://127.0.0.1:2'}}\n\
             users:\n- {name: u, user: {token: CANARY-TOKEN}}\n\
             contexts:\n- {name: prod, context: {cluster: production, user: u}}\n",
        );
        let clients = Clients::new(KubeconfigSource::load_from(Some(&path), None, None).unwrap());
        let err = clients.get("prod").await.err().unwrap();
        assert_eq!(err.kind, KubeErrorKind::Config);
        assert_eq!(
            err.message,
            "context prod: its cluster `production` is not in the kubeconfig (its clusters: hub, spoke)"
        );
    }
}
