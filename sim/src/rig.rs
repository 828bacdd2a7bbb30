//! The real-cluster rig: real Kubernetes control planes on 127.0.0.1, from the binaries that
//! `rig/build.sh` builds (README, "The real-cluster rig"), with the interface of
//! [`crate::Simulator`] so that a test runs the same inputs against both ([`Backend`]).
//!
//! One etcd is shared; each cluster is a kube-apiserver with its own `--etcd-prefix`, a static
//! bearer token, a serving certificate for 127.0.0.1 and service-account signing keys, plus a
//! kube-controller-manager (Deployments get ReplicaSets and Pods), a kube-scheduler (Pods get a
//! node) and kwok with its default stages (a fake node; Pods become Running, so Deployments
//! become Available). Every process is killed and the temporary directory removed on drop.
//!
//! ```no_run
//! use mcflow_sim::rig::RealClusters;
//! if let Err(why) = RealClusters::available() {
//!     eprintln!("rig skipped: {why}");
//!     return;
//! }
//! let rig = RealClusters::builder().cluster("internal").cluster("production").start_blocking().unwrap();
//! let c = rig.cluster("production");
//! c.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n").unwrap();
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use rand::Rng;
use rcgen::KeyPair;
use serde_json::{Value, json};

use crate::client::{KubeContext, Kubeconfig};
use crate::cluster::{Cluster, SETUP_MANAGER, parse_yaml_documents};
use crate::error::ApiError;
use crate::kubeconfig;
use crate::simulator::Simulator;

/// The programs a rig needs, in `bin_dir()` (the first two are enough for
/// [`RealClustersBuilder::api_only`]).
pub const REQUIRED_BINARIES: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
];

/// The fake node kwok manages in every cluster.
pub const NODE_NAME: &str = "kwok-node-0";

/// Where the rig's binaries are: `$MCFLOW_RIG_BIN`, else `<workspace>/target/rig/bin`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MCFLOW_RIG_BIN").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let sim = Path::new(env!("CARGO_MANIFEST_DIR"));
    sim.parent()
        .unwrap_or(sim)
        .join("target")
        .join("rig")
        .join("bin")
}

/// The real `linkerd` CLI of a release (`"2.17"`, `"2.18"`, `"2.19"`), when the rig has it.
pub fn linkerd_bin(release: &str) -> Option<PathBuf> {
    let p = bin_dir().join(format!("linkerd-{release}"));
    p.is_file().then_some(p)
}

/// One running process of the rig, with its log file.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// The last `n` lines of its log.
    fn tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Why it is no longer running, if it is not.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited ({status})", self.name)),
            Ok(None) => None,
            Err(e) => Some(format!("{}: {e}", self.name)),
        }
    }
}

/// Configures and starts [`RealClusters`], like [`crate::SimulatorBuilder`].
#[derive(Debug, Clone)]
pub struct RealClustersBuilder {
    clusters: Vec<String>,
    kubeconfig_path: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
    start_timeout: Duration,
    workloads: bool,
}

impl Default for RealClustersBuilder {
    fn default() -> Self {
        RealClustersBuilder {
            clusters: Vec::new(),
            kubeconfig_path: None,
            bin_dir: None,
            start_timeout: Duration::from_secs(120),
            workloads: true,
        }
    }
}

impl RealClustersBuilder {
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

    /// Write the kubeconfig here instead of in the rig's temporary directory.
    pub fn kubeconfig_path(mut self, p: impl Into<PathBuf>) -> Self {
        self.kubeconfig_path = Some(p.into());
        self
    }

    /// Take the binaries from this directory instead of [`bin_dir`].
    pub fn bin_dir(mut self, p: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(p.into());
        self
    }

    /// How long starting may take before it fails with the logs' tails (default 120 s).
    pub fn start_timeout(mut self, d: Duration) -> Self {
        self.start_timeout = d;
        self
    }

    /// Without kube-controller-manager, kube-scheduler and kwok (API servers only; Deployments
    /// then never get Pods). Default: with.
    pub fn api_only(mut self) -> Self {
        self.workloads = false;
        self
    }

    /// Start every process and wait until each cluster is ready: `/readyz` answers `ok`, the
    /// `default` ServiceAccount exists and the kwok node is Ready (unless [`Self::api_only`]).
    pub fn start_blocking(self) -> anyhow::Result<RealClusters> {
        anyhow::ensure!(
            !self.clusters.is_empty(),
            "a rig needs at least one cluster"
        );
        let mut names = self.clusters.clone();
        names.sort();
        names.dedup();
        anyhow::ensure!(
            names.len() == self.clusters.len(),
            "cluster names must be unique"
        );
        let bins = self.bin_dir.clone().unwrap_or_else(bin_dir);
        let needed = if self.workloads {
            &REQUIRED_BINARIES[..]
        } else {
            &REQUIRED_BINARIES[..2]
        };
        check_binaries(&bins, needed).map_err(|e| anyhow!(e))?;
        // `free_port` lets go of the port it found before the server binds it, so another
        // process (a test running beside) can take it meanwhile: such a start is tried again,
        // on new ports.
        let mut attempt = 1;
        loop {
            match self.boot_once(&bins) {
                Err(e) if attempt < 3 && format!("{e:#}").contains("address already in use") => {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// One start of the rig, in a directory of its own.
    fn boot_once(&self, bins: &Path) -> anyhow::Result<RealClusters> {
        let dir = std::env::temp_dir().join(format!(
            "mcflow-rig-{}-{:08x}",
            std::process::id(),
            rand::rng().random::<u32>()
        ));
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = self
            .kubeconfig_path
            .clone()
            .unwrap_or_else(|| dir.join("kubeconfig"));
        // From here on, dropping `rig` (on any error) stops what was started.
        let mut rig = RealClusters {
            dir,
            procs: Vec::new(),
            clusters: Vec::new(),
            kubeconfig,
            ca_pem: String::new(),
        };
        rig.boot(self, bins)?;
        Ok(rig)
    }
}

/// Err(reason) when one of `needed` is missing from `dir`.
fn check_binaries(dir: &Path, needed: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not in {} (build them with `just rig`, or set MCFLOW_RIG_BIN)",
            missing.join(", "),
            dir.display()
        ))
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// PEM files of the rig's certificate authority, serving certificate and service-account key.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    sa_key_pem: String,
    sa_pub_pem: String,
}

fn generate_pki() -> anyhow::Result<Pki> {
    let crate::tls::ServerPki { ca_cert, cert, key } = crate::tls::ca_and_server_cert(
        "mcflow-rig-ca",
        &[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
        ],
    )?;
    // ECDSA P-256: the private key in PKCS#8 for signing, its public key (PKIX) for checking.
    let sa_key = KeyPair::generate()?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        sa_key_pem: sa_key.serialize_pem(),
        sa_pub_pem: sa_key.public_key_pem(),
    })
}

/// A plain-HTTP GET on 127.0.0.1 (etcd's `/health`): the body, or None when nothing answers.
fn http_get_plain(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// Running real clusters. Dropping it kills every process and removes its temporary directory
/// (set `MCFLOW_RIG_KEEP=1` to keep the directory, with the logs, for a look afterwards).
pub struct RealClusters {
    dir: PathBuf,
    procs: Vec<Proc>,
    clusters: Vec<RealCluster>,
    kubeconfig: PathBuf,
    ca_pem: String,
}

impl RealClusters {
    /// A builder.
    pub fn builder() -> RealClustersBuilder {
        RealClustersBuilder::default()
    }

    /// Ok(the binaries' directory) when a rig can start here, Err(why not) otherwise: tests
    /// print `rig skipped: <why>` and return.
    pub fn available() -> Result<PathBuf, String> {
        let dir = bin_dir();
        check_binaries(&dir, &REQUIRED_BINARIES)?;
        Ok(dir)
    }

    /// The kubeconfig listing every cluster as a context (context name = cluster name).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The cluster with this name. Panics if there is none (a test bug).
    pub fn cluster(&self, name: &str) -> RealCluster {
        self.try_cluster(name)
            .unwrap_or_else(|| panic!("no rig cluster named {name:?}"))
    }

    /// The cluster with this name, if any.
    pub fn try_cluster(&self, name: &str) -> Option<RealCluster> {
        self.clusters.iter().find(|c| c.name == name).cloned()
    }

    /// All clusters, in the order they were added.
    pub fn clusters(&self) -> &[RealCluster] {
        &self.clusters
    }

    /// The CA certificate (PEM) the API servers' serving certificate is signed by.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The rig's temporary directory (logs as `<process>.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Each process's name and pid (to measure the rig).
    pub fn processes(&self) -> Vec<(String, u32)> {
        self.procs
            .iter()
            .map(|p| (p.name.clone(), p.child.id()))
            .collect()
    }

    fn spawn(&mut self, name: &str, bin: &Path, args: &[String]) -> anyhow::Result<usize> {
        let log = self.dir.join(format!("{name}.log"));
        let out = File::create(&log)?;
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.procs.push(Proc {
            name: name.to_string(),
            child,
            log,
        });
        Ok(self.procs.len() - 1)
    }

    /// Poll `ready` until it holds or `deadline` passes; fails early when process `proc`
    /// exits, and the error carries the tail of its log.
    fn await_ready(
        &mut self,
        what: &str,
        proc: usize,
        deadline: Instant,
        mut ready: impl FnMut() -> bool,
    ) -> anyhow::Result<()> {
        loop {
            if ready() {
                return Ok(());
            }
            let exited = self.procs[proc].exited();
            if exited.is_some() || Instant::now() >= deadline {
                let p = &self.procs[proc];
                bail!(
                    "rig: {what}: {}; last lines of {}:\n{}",
                    exited.unwrap_or_else(|| "not ready before the deadline".into()),
                    p.log.display(),
                    p.tail(30)
                );
            }
            // Poll interval of a readiness check with a deadline, not a wait for a result.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn boot(&mut self, b: &RealClustersBuilder, bins: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + b.start_timeout;
        let files = self.write_pki()?;
        let client = self.start_etcd(bins, deadline)?;
        let entries = self.start_apiservers(&b.clusters, bins, &files, client, deadline)?;
        if b.workloads {
            for (i, entry) in entries.iter().enumerate() {
                self.start_workloads(i, entry, bins, &files, deadline)?;
            }
        }
        Ok(())
    }

    /// The CA, the serving certificate and the service-account keys, as files.
    fn write_pki(&mut self) -> anyhow::Result<PkiFiles> {
        let pki = generate_pki()?;
        let dir = self.dir.join("pki");
        std::fs::create_dir_all(&dir)?;
        let files = PkiFiles {
            ca: dir.join("ca.crt"),
            cert: dir.join("apiserver.crt"),
            key: dir.join("apiserver.key"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
        };
        std::fs::write(&files.ca, &pki.ca_pem)?;
        std::fs::write(&files.cert, &pki.cert_pem)?;
        std::fs::write(&files.key, &pki.key_pem)?;
        std::fs::write(&files.sa_key, &pki.sa_key_pem)?;
        std::fs::write(&files.sa_pub, &pki.sa_pub_pem)?;
        self.ca_pem = pki.ca_pem;
        Ok(files)
    }

    /// The shared etcd; returns its client port once `/health` says so.
    fn start_etcd(&mut self, bins: &Path, deadline: Instant) -> anyhow::Result<u16> {
        let (client, peer) = (free_port()?, free_port()?);
        let etcd = self.spawn(
            "etcd",
            &bins.join("etcd"),
            &[
                "--name=rig".into(),
                format!("--data-dir={}", p(&self.dir.join("etcd"))),
                format!("--listen-client-urls=http://127.0.0.1:{client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-cluster=rig=http://127.0.0.1:{peer}"),
                // A throw-away store: no fsync (it would dominate a test's writes).
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
        )?;
        self.await_ready("etcd", etcd, deadline, || {
            http_get_plain(client, "/health").is_some_and(|b| b.contains("\"health\":\"true\""))
        })?;
        Ok(client)
    }

    /// One kube-apiserver for cluster `name`; returns its token, port and process index.
    fn spawn_apiserver(
        &mut self,
        name: &str,
        bins: &Path,
        files: &PkiFiles,
        etcd: u16,
    ) -> anyhow::Result<(String, u16, usize)> {
        let cdir = self.dir.join(name);
        std::fs::create_dir_all(&cdir)?;
        let token = format!("rig-{name}-{:016x}", rand::rng().random::<u64>());
        let tokens = cdir.join("tokens.csv");
        std::fs::write(
            &tokens,
            format!("{token},{name}-admin,{name}-admin,\"system:masters\"\n"),
        )?;
        let port = free_port()?;
        let idx = self.spawn(
            &format!("kube-apiserver-{name}"),
            &bins.join("kube-apiserver"),
            &[
                format!("--etcd-servers=http://127.0.0.1:{etcd}"),
                format!("--etcd-prefix=/registry-{name}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={port}"),
                format!("--cert-dir={}", p(&cdir.join("certs"))),
                format!("--tls-cert-file={}", p(&files.cert)),
                format!("--tls-private-key-file={}", p(&files.key)),
                format!("--client-ca-file={}", p(&files.ca)),
                format!("--token-auth-file={}", p(&tokens)),
                "--authorization-mode=Node,RBAC".into(),
                format!("--service-account-key-file={}", p(&files.sa_pub)),
                format!("--service-account-signing-key-file={}", p(&files.sa_key)),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                "--service-cluster-ip-range=10.96.0.0/16".into(),
                "--allow-privileged=true".into(),
                // The kubernetes Service's Endpoints would need a non-loopback address.
                "--endpoint-reconciler-type=none".into(),
                "--profiling=false".into(),
            ],
        )?;
        Ok((token, port, idx))
    }

    /// Every cluster's kube-apiserver, started together; writes the kubeconfig and waits for
    /// each `/readyz`. Returns the kubeconfig entries.
    fn start_apiservers(
        &mut self,
        names: &[String],
        bins: &Path,
        files: &PkiFiles,
        etcd: u16,
        deadline: Instant,
    ) -> anyhow::Result<Vec<Entry>> {
        let mut servers = Vec::new();
        for name in names {
            let (token, port, idx) = self.spawn_apiserver(name, bins, files, etcd)?;
            servers.push((name.clone(), token, port, idx));
        }
        let entries: Vec<Entry> = servers
            .iter()
            .map(|(n, t, port, _)| (n.clone(), format!("https://127.0.0.1:{port}"), t.clone()))
            .collect();
        let all = render_kubeconfig(&entries, &self.ca_pem);
        if let Some(parent) = self
            .kubeconfig
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&self.kubeconfig, &all)?;
        let kc = Kubeconfig::from_text(all);
        for (name, token, port, idx) in &servers {
            let cluster = RealCluster {
                name: name.clone(),
                url: format!("https://127.0.0.1:{port}"),
                token: token.clone(),
                ctx: kc.context(Some(name))?,
            };
            let probe = cluster.clone();
            self.await_ready(&format!("kube-apiserver of {name}"), *idx, deadline, || {
                matches!(probe.ctx.request("GET", "/readyz"), Ok((200, _)))
            })?;
            self.clusters.push(cluster);
        }
        Ok(entries)
    }

    /// kube-controller-manager, kube-scheduler and kwok for cluster `i`, each with a
    /// kubeconfig of that cluster only; waits for the `default` ServiceAccount and the node.
    fn start_workloads(
        &mut self,
        i: usize,
        entry: &Entry,
        bins: &Path,
        files: &PkiFiles,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        let name = &entry.0;
        let own = self.dir.join(name).join("kubeconfig");
        std::fs::write(
            &own,
            render_kubeconfig(std::slice::from_ref(entry), &self.ca_pem),
        )?;
        let own = p(&own);
        let kcm = self.spawn(
            &format!("kube-controller-manager-{name}"),
            &bins.join("kube-controller-manager"),
            &[
                format!("--kubeconfig={own}"),
                "--secure-port=0".into(),
                "--leader-elect=false".into(),
                "--use-service-account-credentials=false".into(),
                format!("--service-account-private-key-file={}", p(&files.sa_key)),
                format!("--root-ca-file={}", p(&files.ca)),
                format!("--cluster-name={name}"),
                "--profiling=false".into(),
            ],
        )?;
        self.spawn(
            &format!("kube-scheduler-{name}"),
            &bins.join("kube-scheduler"),
            &[
                format!("--kubeconfig={own}"),
                "--secure-port=0".into(),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
            ],
        )?;
        let kwok = self.spawn(
            &format!("kwok-{name}"),
            &bins.join("kwok"),
            &[
                format!("--kubeconfig={own}"),
                "--manage-all-nodes=false".into(),
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
                "--node-ip=10.244.0.1".into(),
                "--cidr=10.244.0.0/24".into(),
                "--node-lease-duration-seconds=40".into(),
            ],
        )?;
        let c = self.clusters[i].clone();
        c.apply(node_object(name))
            .map_err(|e| anyhow!("creating the kwok node in {name}: {e}"))?;
        self.await_ready(
            &format!("kube-controller-manager of {name} (the default ServiceAccount)"),
            kcm,
            deadline,
            || {
                c.get("v1", "ServiceAccount", "default", "default")
                    .is_some()
            },
        )?;
        self.await_ready(
            &format!("kwok of {name} (node {NODE_NAME} Ready)"),
            kwok,
            deadline,
            || node_ready(&c),
        )
    }
}

/// Paths of the PKI files the processes read.
struct PkiFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    sa_key: PathBuf,
    sa_pub: PathBuf,
}

/// A kubeconfig entry: cluster name, server URL, token.
type Entry = (String, String, String);

fn p(x: &Path) -> String {
    x.display().to_string()
}

fn render_kubeconfig(entries: &[Entry], ca_pem: &str) -> String {
    let es: Vec<kubeconfig::Entry<'_>> = entries
        .iter()
        .map(|(n, s, t)| kubeconfig::Entry {
            name: n,
            server: s,
            token: t,
        })
        .collect();
    kubeconfig::render(&es, ca_pem)
}

/// The fake node kwok takes over (the annotation is its selector).
fn node_object(cluster: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": cluster,
            },
        },
    })
}

fn node_ready(c: &RealCluster) -> bool {
    c.get("v1", "Node", "", NODE_NAME)
        .and_then(|n| {
            n.pointer("/status/conditions")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .unwrap_or(false)
}

impl Drop for RealClusters {
    fn drop(&mut self) {
        // Last started first: kwok, scheduler and controllers, then API servers, then etcd.
        for p in self.procs.iter_mut().rev() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        if std::env::var_os("MCFLOW_RIG_KEEP").is_some() {
            eprintln!("rig: kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A handle on one real cluster: the simulator [`Cluster`]'s direct helpers, over HTTPS.
#[derive(Clone)]
pub struct RealCluster {
    name: String,
    url: String,
    token: String,
    ctx: KubeContext,
}

fn meta(obj: &Value, field: &str) -> String {
    obj.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn str_of<'a>(obj: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    obj.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(format!("Object '{field}' is missing")))
}

/// Percent-encoding of a query value (label selectors).
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RealCluster {
    /// The cluster's name (also its kubeconfig context name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The bearer token the cluster accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// One request; a JSON answer, or the server's `Status` as an [`ApiError`].
    pub fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &Value)>,
    ) -> Result<Value, ApiError> {
        let bytes = body.map(|(ct, v)| (ct, v.to_string().into_bytes()));
        let (status, out) = self
            .ctx
            .request_with_body(
                method,
                path,
                bytes.as_ref().map(|(ct, b)| (*ct, b.as_slice())),
            )
            .map_err(|e| ApiError::new(503, "ServiceUnavailable", format!("{e:#}")))?;
        let v: Value = serde_json::from_slice(&out)
            .unwrap_or_else(|_| json!({"message": String::from_utf8_lossy(&out).into_owned()}));
        if (200..300).contains(&status) {
            return Ok(v);
        }
        Err(ApiError {
            code: status,
            reason: v["reason"].as_str().unwrap_or("Unknown").to_string(),
            message: v["message"].as_str().unwrap_or_default().to_string(),
            details: v.get("details").cloned(),
        })
    }

    /// The resource (plural) and scope of a kind, from discovery.
    fn resource(&self, api_version: &str, kind: &str) -> Result<(String, bool), ApiError> {
        let path = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let no_match = || {
            ApiError::new(
                404,
                "NotFound",
                format!("no matches for kind \"{kind}\" in version \"{api_version}\""),
            )
        };
        let list = self
            .http("GET", &path, None)
            .map_err(|e| if e.code == 404 { no_match() } else { e })?;
        list["resources"]
            .as_array()
            .and_then(|rs| {
                rs.iter().find(|r| {
                    r["kind"] == kind && r["name"].as_str().is_some_and(|n| !n.contains('/'))
                })
            })
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["namespaced"].as_bool().unwrap_or(false),
                )
            })
            .ok_or_else(no_match)
    }

    /// The collection path of a kind (in `ns` when namespaced; all namespaces with `None`).
    fn collection(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
    ) -> Result<String, ApiError> {
        let (plural, namespaced) = self.resource(api_version, kind)?;
        let root = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        Ok(match ns {
            Some(ns) if namespaced => format!("{root}/namespaces/{ns}/{plural}"),
            _ => format!("{root}/{plural}"),
        })
    }

    fn object_path(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<String, ApiError> {
        let ns = if ns.is_empty() { "default" } else { ns };
        Ok(format!(
            "{}/{name}",
            self.collection(api_version, kind, Some(ns))?
        ))
    }

    fn path_of(&self, obj: &Value) -> Result<String, ApiError> {
        self.object_path(
            str_of(obj, "apiVersion")?,
            str_of(obj, "kind")?,
            &meta(obj, "namespace"),
            &meta(obj, "name"),
        )
    }

    /// Server-side apply every document of a YAML stream (field manager `mcflow-sim`, forced).
    pub fn apply_yaml(&self, yaml: &str) -> Result<Vec<Value>, ApiError> {
        parse_yaml_documents(yaml)?
            .into_iter()
            .map(|d| self.apply(d))
            .collect()
    }

    /// Server-side apply one object (field manager `mcflow-sim`, forced).
    pub fn apply(&self, obj: Value) -> Result<Value, ApiError> {
        self.apply_as(obj, SETUP_MANAGER)
    }

    /// Server-side apply one object as `manager` (forced).
    pub fn apply_as(&self, obj: Value, manager: &str) -> Result<Value, ApiError> {
        let path = self.path_of(&obj)?;
        self.http(
            "PATCH",
            &format!("{path}?fieldManager={}&force=true", query_escape(manager)),
            Some(("application/apply-patch+yaml", &obj)),
        )
    }

    /// Create an object.
    pub fn create(&self, obj: Value) -> Result<Value, ApiError> {
        let ns = meta(&obj, "namespace");
        let path = self.collection(
            str_of(&obj, "apiVersion")?,
            str_of(&obj, "kind")?,
            Some(if ns.is_empty() { "default" } else { &ns }),
        )?;
        self.http(
            "POST",
            &format!("{path}?fieldManager={SETUP_MANAGER}"),
            Some(("application/json", &obj)),
        )
    }

    /// Replace an object (PUT).
    pub fn update(&self, obj: Value) -> Result<Value, ApiError> {
        let path = self.path_of(&obj)?;
        self.http(
            "PUT",
            &format!("{path}?fieldManager={SETUP_MANAGER}"),
            Some(("application/json", &obj)),
        )
    }

    /// JSON-merge-patch an object.
    pub fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        patch: Value,
    ) -> Result<Value, ApiError> {
        let path = self.object_path(api_version, kind, ns, name)?;
        self.http(
            "PATCH",
            &format!("{path}?fieldManager={SETUP_MANAGER}"),
            Some(("application/merge-patch+json", &patch)),
        )
    }

    /// Merge-patch the status subresource of an object.
    pub fn patch_status(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        status: Value,
    ) -> Result<Value, ApiError> {
        let path = self.object_path(api_version, kind, ns, name)?;
        self.http(
            "PATCH",
            &format!("{path}/status?fieldManager={SETUP_MANAGER}"),
            Some(("application/merge-patch+json", &json!({ "status": status }))),
        )
    }

    /// Get an object (`ns` is ignored for cluster-scoped kinds).
    pub fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let path = self.object_path(api_version, kind, ns, name).ok()?;
        self.http("GET", &path, None).ok()
    }

    /// List objects in a namespace (or all with `None`), filtered by a label selector string.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let path = self.collection(api_version, kind, ns)?;
        let path = if label_selector.is_empty() {
            path
        } else {
            format!("{path}?labelSelector={}", query_escape(label_selector))
        };
        let list = self.http("GET", &path, None)?;
        let item_kind = kind.to_string();
        Ok(list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut o| {
                // A list's items carry no apiVersion/kind on a real server; the simulator's
                // helpers return them complete, and so do these.
                o["apiVersion"] = json!(api_version);
                o["kind"] = json!(item_kind);
                o
            })
            .collect())
    }

    /// Delete an object (404 if missing). Deletion is graceful on a real server: an object
    /// with finalizers (a Namespace) stays until they are done.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let path = self.object_path(api_version, kind, ns, name)?;
        self.http("DELETE", &path, None)
    }

    /// Poll `cond` until it holds or `timeout` passes.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(&RealCluster) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Poll interval of a condition with a deadline.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The simulator ([`Simulator`]).
    Sim,
    /// Real control planes ([`RealClusters`]).
    Real,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Sim => "sim",
            BackendKind::Real => "real",
        })
    }
}

/// Simulated or real clusters behind one interface: `Backend::start(kind, &["internal"])`.
pub enum Backend {
    /// The simulator.
    Sim(Simulator),
    /// The rig.
    Real(RealClusters),
}

impl Backend {
    /// Start `clusters` on the chosen backend (the simulator with its default settings).
    pub fn start(kind: BackendKind, clusters: &[&str]) -> anyhow::Result<Backend> {
        Ok(match kind {
            BackendKind::Sim => Backend::Sim(
                Simulator::builder()
                    .clusters(clusters.iter().copied())
                    .start_blocking()?,
            ),
            BackendKind::Real => Backend::Real(
                RealClusters::builder()
                    .clusters(clusters.iter().copied())
                    .start_blocking()?,
            ),
        })
    }

    /// Which one this is.
    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Sim(_) => BackendKind::Sim,
            Backend::Real(_) => BackendKind::Real,
        }
    }

    /// The kubeconfig (one context per cluster, context = cluster name).
    pub fn kubeconfig_path(&self) -> &Path {
        match self {
            Backend::Sim(s) => s.kubeconfig_path(),
            Backend::Real(r) => r.kubeconfig_path(),
        }
    }

    /// The cluster with this name. Panics if there is none (a test bug).
    pub fn cluster(&self, name: &str) -> AnyCluster {
        match self {
            Backend::Sim(s) => AnyCluster::Sim(s.cluster(name)),
            Backend::Real(r) => AnyCluster::Real(r.cluster(name)),
        }
    }
}

/// One cluster of either backend, with the helpers both have.
#[derive(Clone)]
pub enum AnyCluster {
    /// A simulated cluster.
    Sim(Cluster),
    /// A real one.
    Real(RealCluster),
}

macro_rules! both {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            AnyCluster::Sim($c) => $e,
            AnyCluster::Real($c) => $e,
        }
    };
}

impl AnyCluster {
    /// The cluster's name (also its kubeconfig context name).
    pub fn name(&self) -> &str {
        both!(self, c => c.name())
    }
    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        both!(self, c => c.url())
    }
    /// The bearer token.
    pub fn token(&self) -> &str {
        both!(self, c => c.token())
    }
    /// Server-side apply of a YAML stream (forced, manager `mcflow-sim`).
    pub fn apply_yaml(&self, yaml: &str) -> Result<Vec<Value>, ApiError> {
        both!(self, c => c.apply_yaml(yaml))
    }
    /// Server-side apply of one object (forced, manager `mcflow-sim`).
    pub fn apply(&self, obj: Value) -> Result<Value, ApiError> {
        both!(self, c => c.apply(obj))
    }
    /// Create.
    pub fn create(&self, obj: Value) -> Result<Value, ApiError> {
        both!(self, c => c.create(obj))
    }
    /// Replace (PUT).
    pub fn update(&self, obj: Value) -> Result<Value, ApiError> {
        both!(self, c => c.update(obj))
    }
    /// Merge patch.
    pub fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        patch: Value,
    ) -> Result<Value, ApiError> {
        both!(self, c => c.merge_patch(api_version, kind, ns, name, patch))
    }
    /// Get.
    pub fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        both!(self, c => c.get(api_version, kind, ns, name))
    }
    /// List by label selector.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<Value>, ApiError> {
        both!(self, c => c.list(api_version, kind, ns, label_selector))
    }
    /// Delete.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        both!(self, c => c.delete(api_version, kind, ns, name))
    }
    /// Wait until `cond` holds or `timeout` passes (the simulator re-checks on every change,
    /// the rig polls).
    pub fn wait_until(&self, timeout: Duration, mut cond: impl FnMut(&AnyCluster) -> bool) -> bool {
        let me = self.clone();
        match self {
            AnyCluster::Sim(c) => c.wait_until(timeout, |_| cond(&me)),
            AnyCluster::Real(c) => c.wait_until(timeout, |_| cond(&me)),
        }
    }
}
