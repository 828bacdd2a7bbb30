//! [`Simulator`]: starts several simulated clusters on 127.0.0.1 and writes their kubeconfig.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::cluster::Cluster;
use crate::kubeconfig;
use crate::reactors;
use crate::scenario::Scenario;
use crate::state::{ClusterConfig, ClusterState, lock};
use crate::tls;

/// Configures and starts a [`Simulator`].
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    clusters: Vec<String>,
    deployment_ready_delay: Duration,
    bookmark_interval: Duration,
    seed: u64,
    scenario: Option<Scenario>,
    kubeconfig_path: Option<PathBuf>,
    http1_only: bool,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        SimulatorBuilder {
            clusters: Vec::new(),
            deployment_ready_delay: Duration::from_millis(300),
            bookmark_interval: Duration::from_secs(1),
            seed: 42,
            scenario: None,
            kubeconfig_path: None,
            http1_only: false,
        }
    }
}

impl SimulatorBuilder {
    /// Add a cluster; its name is also its kubeconfig context name.
    pub fn cluster(mut self, name: &str) -> Self {
        self.clusters.push(name.to_string());
        self
    }

    /// Add several clusters.
    pub fn clusters<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.clusters
            .extend(names.into_iter().map(|n| n.as_ref().to_string()));
        self
    }

    /// Serve HTTP/1.1 only, as an API server behind an HTTP/1.1-only proxy (by default the
    /// servers offer HTTP/2 too, as kube-apiserver does).
    pub fn http1_only(mut self, yes: bool) -> Self {
        self.http1_only = yes;
        self
    }

    /// How long after a create/update a Deployment becomes Available (default 300 ms).
    pub fn deployment_ready_delay(mut self, d: Duration) -> Self {
        self.deployment_ready_delay = d;
        self
    }

    /// How often watches that allow bookmarks get one (default 1 s).
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }

    /// Seed for probabilistic faults and uids (default 42).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Seed the clusters with a scenario (see [`Scenario`]).
    pub fn scenario(mut self, s: Scenario) -> Self {
        self.scenario = Some(s);
        self
    }

    /// Write the kubeconfig here instead of a fresh temporary directory.
    pub fn kubeconfig_path(mut self, p: impl Into<PathBuf>) -> Self {
        self.kubeconfig_path = Some(p.into());
        self
    }

    /// Start on the current tokio runtime.
    pub async fn start(self) -> anyhow::Result<Simulator> {
        self.start_on(tokio::runtime::Handle::current()).await
    }

    /// Start on a runtime the simulator owns (2 worker threads), for plain `#[test]` functions
    /// and binaries without their own runtime.
    pub fn start_blocking(self) -> anyhow::Result<Simulator> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mcflow-sim")
            .enable_all()
            .build()?;
        let mut sim = rt.block_on(self.start_on(rt.handle().clone()))?;
        sim.runtime = Some(rt);
        Ok(sim)
    }

    async fn start_on(self, handle: tokio::runtime::Handle) -> anyhow::Result<Simulator> {
        anyhow::ensure!(
            !self.clusters.is_empty(),
            "a simulator needs at least one cluster"
        );
        // Sorted first: `dedup` only drops neighbours, and `[a, b, a]` must be refused too.
        let mut names = self.clusters.clone();
        names.sort();
        names.dedup();
        anyhow::ensure!(
            names.len() == self.clusters.len(),
            "cluster names must be unique"
        );
        let tls = tls::generate(self.http1_only)?;
        let acceptor = TlsAcceptor::from(tls.server_config.clone());
        let (clusters, mut tasks) = self.serve_clusters(&handle, &acceptor).await?;
        for c in &clusters {
            crate::scenario::base(c)?;
        }
        tasks.extend(reactors::spawn_all(
            &handle,
            &clusters,
            self.scenario.as_ref(),
        ));
        if let Some(s) = &self.scenario {
            s.seed(&clusters)?;
        }
        let (kubeconfig, dir) = self.write_kubeconfig(&clusters, &tls.ca_pem)?;
        Ok(Simulator {
            clusters,
            kubeconfig,
            dir,
            tasks,
            runtime: None,
            ca_pem: tls.ca_pem,
        })
    }

    /// Make each cluster's state, bind it a port on 127.0.0.1 and spawn its server.
    async fn serve_clusters(
        &self,
        handle: &tokio::runtime::Handle,
        acceptor: &TlsAcceptor,
    ) -> anyhow::Result<(Vec<Cluster>, Vec<JoinHandle<()>>)> {
        let config = ClusterConfig {
            deployment_ready_delay: self.deployment_ready_delay,
            bookmark_interval: self.bookmark_interval,
        };
        let mut clusters = Vec::new();
        let mut tasks = Vec::new();
        for (i, name) in self.clusters.iter().enumerate() {
            let token = format!("sim-{name}-{:016x}", rand::rng().random::<u64>());
            let state = ClusterState::new(
                name,
                &token,
                self.seed.wrapping_add(i as u64),
                config.clone(),
            );
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            let port = listener.local_addr()?.port();
            *lock(&state.url) = format!("https://127.0.0.1:{port}");
            tasks.push(handle.spawn(crate::server::serve(
                listener,
                acceptor.clone(),
                state.clone(),
            )));
            clusters.push(Cluster {
                state,
                handle: handle.clone(),
            });
        }
        Ok((clusters, tasks))
    }

    /// Write the kubeconfig (at the configured path, or in a fresh temporary directory, also
    /// returned so that dropping the simulator removes it).
    fn write_kubeconfig(
        &self,
        clusters: &[Cluster],
        ca_pem: &str,
    ) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
        let (kubeconfig, dir) = match &self.kubeconfig_path {
            Some(p) => (p.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "mcflow-sim-{}-{:08x}",
                    std::process::id(),
                    rand::rng().random::<u32>()
                ));
                std::fs::create_dir_all(&dir)?;
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        let urls: Vec<String> = clusters.iter().map(Cluster::url).collect();
        let entries: Vec<kubeconfig::Entry<'_>> = clusters
            .iter()
            .zip(&urls)
            .map(|(c, u)| kubeconfig::Entry {
                name: c.name(),
                server: u,
                token: c.token(),
            })
            .collect();
        if let Some(parent) = kubeconfig.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&kubeconfig, kubeconfig::render(&entries, ca_pem))?;
        Ok((kubeconfig, dir))
    }
}

/// Running simulated clusters. Dropping it stops them and removes its temporary kubeconfig.
pub struct Simulator {
    clusters: Vec<Cluster>,
    kubeconfig: PathBuf,
    dir: Option<PathBuf>,
    tasks: Vec<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    ca_pem: String,
}

impl Simulator {
    /// A builder.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    /// The kubeconfig listing every cluster as a context (context name = cluster name).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The cluster with this name. Panics if there is none (a test bug).
    pub fn cluster(&self, name: &str) -> Cluster {
        self.try_cluster(name)
            .unwrap_or_else(|| panic!("no simulated cluster named {name:?}"))
    }

    /// The cluster with this name, if any.
    pub fn try_cluster(&self, name: &str) -> Option<Cluster> {
        self.clusters.iter().find(|c| c.name() == name).cloned()
    }

    /// All clusters, in the order they were added.
    pub fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }

    /// The CA certificate (PEM) the clusters' server certificates are signed by.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The runtime handle the simulator's tasks run on.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.clusters[0].handle.clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The shared handle type reactors use.
pub(crate) type Clusters = Arc<Vec<Cluster>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_must_be_unique_wherever_the_repeat_is() {
        let err = Simulator::builder()
            .cluster("a")
            .cluster("b")
            .cluster("a")
            .start_blocking()
            .err()
            .expect("a repeated name is refused");
        assert!(err.to_string().contains("unique"), "{err}");
    }
}
