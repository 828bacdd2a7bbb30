//! The Linkerd world on real control planes (issue 13, item 4): the rig's three clusters
//! (internal, production, nonproduction: kube-apiserver + etcd + kube-controller-manager +
//! kube-scheduler + kwok, `mcflow_sim::rig`), seeded as a real install would be, with Argo CD's
//! part played by a thread of this process and Linkerd's real service mirror run as a local
//! process for every Link, and the real `mcflow` run from the repository root with the real
//! `linkerd` CLI of one release.
//!
//! Seed, per cluster: the CRDs of the real `linkerd install --crds` of the release (policy,
//! ServiceProfile, ExternalWorkload), Argo CD's Application and ApplicationSet CRDs
//! (sim/fixtures/crds.yaml, without its Link CRD: the real chart renders that), the `linkerd`
//! namespace with the control plane's ConfigMaps from the fixtures (one shared trust anchor,
//! sim/fixtures/trust-roots.yaml, also as linkerd-config's identityTrustAnchorsPEM) and its three
//! Deployments (kwok makes them Available). On the hub: namespace `argocd` with a cluster Secret
//! per spoke (`argocd cluster add` names them `cluster-<name>-<hash>`; the server is the spoke's
//! API server), and `monitoring/alloy` (Service and Deployment) to export.
//!
//! Argo CD ([`ArgoCd`]): the ApplicationSet of deploy/applicationset.yaml, whose cluster
//! generator selects the cluster Secrets labelled `spydersoft.io/linkerd-multicluster=true`
//! (argo-cd applicationset/generators/cluster.go @v2.14.11: `name` and `server` from the
//! Secret's data; `in-cluster` is the local cluster), each becoming Application
//! `linkerd-multicluster-<name>` (applicationset/controllers/applicationset_controller.go); its
//! automated sync (controller/appcontroller.go) applies the chart rendered with that cluster's
//! values file (the ApplicationSet's `valueFiles`: `config/in-cluster-local-values.yaml` for
//! `in-cluster`, else `config/<name>-values.yaml`), here rendered by the real `linkerd
//! multicluster install --ignore-cluster --values <file>` of the release, and sets
//! `status.sync.status: Synced`; health is `Healthy` once every Deployment it applied is
//! Available (gitops-engine pkg/health/health_deployment.go: Progressing until the rollout's
//! available replicas are updated), `Progressing` before.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use mcflow_sim::rig::{RealCluster, RealClusters, bin_dir};
use serde_json::{Value, json};

use super::clusters::{CLUSTERS, SPOKES};
use super::workspace::{Outcome, Workspace, repo_root};

/// The releases the rig builds: (release, tag, chart version on helm.linkerd.io/edge).
pub const RELEASES: [(&str, &str, &str); 3] = [
    ("2.19", "edge-25.10.7", "2025.10.7"),
    ("2.18", "edge-25.4.4", "2025.4.4"),
    ("2.17", "edge-24.11.8", "2024.11.8"),
];

/// The field manager of the rig's Argo CD writes.
const ARGOCD: &str = "argocd-controller";
const APP_API: &str = "argoproj.io/v1alpha1";

/// Ok((CLI, controller)) when the rig and this release's linkerd binaries are here; else the
/// reason for the one `rig skipped:` line.
pub fn available(release: &str) -> Result<(PathBuf, PathBuf), String> {
    RealClusters::available()?;
    let cli = bin_dir().join(format!("linkerd-{release}"));
    let controller = bin_dir().join(format!("linkerd-controller-{release}"));
    if !cli.is_file() || !controller.is_file() {
        return Err(format!(
            "linkerd-{release} or linkerd-controller-{release} not in {} (rig/build.sh with LINKERD2_SRC)",
            bin_dir().display()
        ));
    }
    Ok((cli, controller))
}

/// The real CLI with every outbound HTTP(S) request but the API servers' (loopback, which Go
/// never proxies) sent to a closed port, so that version checks fail at once.
pub fn linkerd(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9");
    c
}

/// The objects `args` make the real CLI print (no cluster: `--ignore-cluster` renders).
fn render(cli: &Path, args: &[&str]) -> Vec<Value> {
    let out = linkerd(cli)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .args(args)
        .output()
        .expect("linkerd runs");
    assert!(
        out.status.success(),
        "linkerd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    mcflow_sim::cluster::parse_yaml_documents(&String::from_utf8_lossy(&out.stdout))
        .expect("linkerd renders YAML")
}

/// Server-side apply of `objs` as `manager`, CRDs first and then until each kind is served.
fn apply_all(c: &RealCluster, objs: &[Value], manager: &str) {
    try_apply_all(c, objs, manager).unwrap_or_else(|e| panic!("{e}"));
}

fn try_apply_all(c: &RealCluster, objs: &[Value], manager: &str) -> Result<(), String> {
    let (crds, rest): (Vec<&Value>, Vec<&Value>) = objs
        .iter()
        .partition(|o| o["kind"] == "CustomResourceDefinition");
    for o in crds {
        c.apply_as(o.clone(), manager)
            .map_err(|e| format!("{}: {e}", c.name()))?;
    }
    for o in rest {
        // A CRD just created is served a moment later: only its 404 "no matches" is retried.
        let mut last = None;
        let ok = c.wait_until(Duration::from_secs(30), |c| {
            match c.apply_as(o.clone(), manager) {
                Ok(_) => true,
                Err(e) if e.code == 404 => false,
                Err(e) => {
                    last = Some(e);
                    true
                }
            }
        });
        if let Some(e) = last {
            return Err(format!("{}: {e}: {o}", c.name()));
        }
        if !ok {
            return Err(format!("{}: the kind of {o} is never served", c.name()));
        }
    }
    Ok(())
}

/// The Linkerd world on real clusters at one release.
pub struct RigLinkerd {
    pub release: String,
    pub rig: RealClusters,
    pub ws: Workspace,
    pub cli: PathBuf,
    argo: ArgoCd,
    mirrors: Mirrors,
}

impl RigLinkerd {
    /// Starts and seeds the rig, Argo CD's thread and the service-mirror watcher; mcflow runs
    /// from the repository root with `--linkerd <the real CLI>` and a config naming the
    /// release's chart (config/clusters.yaml and deploy/applicationset.yaml say 2025.10.7).
    pub fn start(release: &str) -> RigLinkerd {
        let (cli, controller) = available(release).expect("checked by the test");
        let (_, tag, chart) = RELEASES
            .iter()
            .find(|r| r.0 == release)
            .copied()
            .expect("a known release");
        let ws = Workspace::new();
        let rig = RealClusters::builder()
            .clusters(CLUSTERS)
            .kubeconfig_path(ws.file("kubeconfig"))
            .start_blocking()
            .expect("the rig starts");
        seed(&rig, &cli, tag);
        let argo = ArgoCd::start(&rig, &cli);
        let mirrors = Mirrors::start(&rig, &controller, release);
        let config = edited_config(&ws, chart);
        let wrapper = check_wait_wrapper(&ws, &cli);
        let ws = ws
            .kubeconfig(rig.kubeconfig_path())
            .global(&[
                "--linkerd",
                &wrapper.display().to_string(),
                "--output",
                "plain",
                "--config",
                &config.display().to_string(),
            ])
            .in_repo_root()
            .no_color()
            .timeout(Duration::from_secs(900));
        RigLinkerd {
            release: release.to_string(),
            rig,
            ws,
            cli,
            argo,
            mirrors,
        }
    }

    /// `mcflow <args>` against the world.
    pub fn mcflow(&self, args: &[&str]) -> Outcome {
        self.ws.mcflow(args)
    }

    pub fn cluster(&self, name: &str) -> RealCluster {
        self.rig.cluster(name)
    }

    /// The Links a service mirror runs for, as `<spoke>/<hub>`.
    pub fn mirrored_links(&self) -> Vec<String> {
        self.mirrors.running()
    }

    /// What went wrong in the background, for a failing test's message.
    pub fn background_errors(&self) -> Vec<String> {
        self.argo.errors.lock().expect("lock").clone()
    }

    /// The service mirrors' logs.
    pub fn mirror_logs(&self) -> String {
        self.mirrors.logs()
    }
}

/// The real CLI behind a small script that sends its outbound requests to a closed port (as
/// [`linkerd`]: only the CLI, since mcflow's kube client refuses a proxy it was built
/// without) and gives `multicluster check` `--wait=10s`
/// (default 5m): its "multicluster extension proxies are healthy" check looks for pods with a
/// `linkerd-proxy` container in linkerd-multicluster and retries until that deadline
/// (multicluster/cmd/check.go `WithRetryDeadline` @edge-24.11.8..@edge-25.10.7); the rig has no
/// proxy injector, so every check would wait out the five minutes. Every other command reaches
/// the CLI unchanged.
fn check_wait_wrapper(ws: &Workspace, cli: &Path) -> PathBuf {
    let cli = cli.display();
    let path = ws.write(
        "linkerd",
        &format!(
            "#!/bin/sh
case \" $* \" in *\" multicluster check \"*) exec '{cli}' \"$@\" --wait=10s ;; esac
exec '{cli}' \"$@\"
"
        ),
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// config/clusters.yaml and deploy/applicationset.yaml in the workspace with the release's
/// chart version (bootstrap's chart_source check holds them to each other); the config's path.
fn edited_config(ws: &Workspace, chart: &str) -> PathBuf {
    let read = |p: &str| std::fs::read_to_string(repo_root().join(p)).expect("repo file");
    let appset = read("deploy/applicationset.yaml").replace(
        "targetRevision: 2025.10.7",
        &format!("targetRevision: {chart}"),
    );
    let appset_path = ws.write("applicationset.yaml", &appset);
    let config = read("config/clusters.yaml")
        .replace("version: 2025.10.7", &format!("version: {chart}"))
        .replace(
            "applicationset: deploy/applicationset.yaml",
            &format!("applicationset: {}", appset_path.display()),
        );
    ws.write("clusters.yaml", &config)
}

/// The seed a real install leaves before bootstrap (see the module documentation).
fn seed(rig: &RealClusters, cli: &Path, tag: &str) {
    let crds = render(cli, &["install", "--crds", "--ignore-cluster"]);
    let argo_crds: Vec<Value> =
        mcflow_sim::cluster::parse_yaml_documents(mcflow_sim::scenario::fixtures::CRDS)
            .expect("fixture")
            .into_iter()
            .filter(|o| o["metadata"]["name"] != "links.multicluster.linkerd.io")
            .collect();
    for c in rig.clusters() {
        apply_all(c, &crds, "linkerd");
        apply_all(c, &argo_crds, "argocd");
        apply_all(c, &control_plane(tag), "linkerd");
    }
    apply_all(&rig.cluster(CLUSTERS[0]), &hub_seed(rig), "argocd");
}

/// Linkerd's control plane as the seed has it: the namespace, the two ConfigMaps from the
/// fixtures with the shared anchor, and the three Deployments bootstrap waits for.
fn control_plane(tag: &str) -> Vec<Value> {
    let roots =
        mcflow_sim::cluster::parse_yaml_documents(mcflow_sim::scenario::fixtures::TRUST_ROOTS)
            .expect("fixture");
    let pem = roots[0]["data"]["ca-bundle.crt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pem_block: String = pem.lines().map(|l| format!("  {l}\n")).collect();
    let mut objs = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "linkerd",
        "labels": {"linkerd.io/is-control-plane": "true", "config.linkerd.io/admission-webhooks": "disabled", "linkerd.io/control-plane-ns": "linkerd"}}}),
    ];
    objs.extend(roots);
    objs.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "linkerd-config", "namespace": "linkerd", "labels": {"linkerd.io/control-plane-component": "controller"}},
        "data": {"values": format!("clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nidentityTrustAnchorsPEM: |\n{pem_block}linkerdVersion: {tag}\n")}}));
    for component in ["identity", "destination", "proxy-injector"] {
        objs.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": format!("linkerd-{component}"), "namespace": "linkerd",
                "labels": {"linkerd.io/control-plane-component": component, "linkerd.io/control-plane-ns": "linkerd"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"linkerd.io/control-plane-component": component}},
                "template": {"metadata": {"labels": {"linkerd.io/control-plane-component": component}},
                    "spec": {"containers": [{"name": component, "image": format!("cr.l5d.io/linkerd/controller:{tag}")}]}}}}));
    }
    objs
}

/// The hub's Argo CD namespace with a cluster Secret per spoke, and `monitoring/alloy`.
fn hub_seed(rig: &RealClusters) -> Vec<Value> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let ca = b64(rig.ca_pem());
    let mut objs = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}),
    ];
    for spoke in SPOKES {
        let c = rig.cluster(spoke);
        let config =
            json!({"bearerToken": c.token(), "tlsClientConfig": {"insecure": false, "caData": ca}})
                .to_string();
        objs.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": mcflow_sim::Scenario::argocd_secret_name(spoke), "namespace": "argocd",
                "labels": {"argocd.argoproj.io/secret-type": "cluster"},
                "annotations": {"managed-by": "argocd.argoproj.io"}},
            "data": {"name": b64(spoke), "server": b64(&c.url()), "config": b64(&config)}}));
    }
    let labels = json!({"app.kubernetes.io/name": "alloy"});
    objs.push(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "alloy", "namespace": "monitoring", "labels": labels},
        "spec": {"selector": labels, "ports": [
            {"name": "http-metrics", "port": 12345, "protocol": "TCP", "targetPort": 12345}]}}));
    objs.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "alloy", "namespace": "monitoring", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                "spec": {"containers": [{"name": "alloy", "image": "grafana/alloy:v1.8.0"}]}}}}));
    objs
}

/// A background loop, stopped on drop.
struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    fn spawn(mut tick: impl FnMut() + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                tick();
                // The poll interval of a controller loop against the API.
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        Background {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Argo CD's part (see the module documentation).
struct ArgoCd {
    errors: Arc<Mutex<Vec<String>>>,
    _loop: Background,
}

/// One generated Application: its target and the Deployments its sync applied.
struct App {
    target: RealCluster,
    deployments: Vec<(String, String)>,
}

impl ArgoCd {
    fn start(rig: &RealClusters, cli: &Path) -> ArgoCd {
        let hub = rig.cluster(CLUSTERS[0]);
        let clusters: Vec<RealCluster> = rig.clusters().to_vec();
        // The chart rendered once per values file, as the repo server caches its manifests.
        let mut rendered: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for name in ["in-cluster", "production", "nonproduction"] {
            let values = values_file(name);
            let objs = render(
                cli,
                &[
                    "multicluster",
                    "install",
                    "--ignore-cluster",
                    "--values",
                    &values,
                ],
            );
            rendered.insert(name.to_string(), objs);
        }
        let errors = Arc::new(Mutex::new(Vec::new()));
        let errs = errors.clone();
        let mut apps: BTreeMap<String, App> = BTreeMap::new();
        let tick = move || {
            if let Err(e) = reconcile(&hub, &clusters, &rendered, &mut apps) {
                errs.lock().expect("lock").push(e);
            }
        };
        ArgoCd {
            errors,
            _loop: Background::spawn(tick),
        }
    }
}

/// deploy/applicationset.yaml's `valueFiles` entry for a cluster name, from the repository root.
fn values_file(name: &str) -> String {
    let file = if name == "in-cluster" {
        "in-cluster-local".to_string()
    } else {
        name.to_string()
    };
    repo_root()
        .join(format!("config/{file}-values.yaml"))
        .display()
        .to_string()
}

/// One pass of the ApplicationSet controller and the application controller.
fn reconcile(
    hub: &RealCluster,
    clusters: &[RealCluster],
    rendered: &BTreeMap<String, Vec<Value>>,
    apps: &mut BTreeMap<String, App>,
) -> Result<(), String> {
    let secrets = hub
        .list(
            "v1",
            "Secret",
            Some("argocd"),
            "argocd.argoproj.io/secret-type=cluster,spydersoft.io/linkerd-multicluster=true",
        )
        .map_err(|e| format!("argocd: list cluster secrets: {e}"))?;
    for s in &secrets {
        let name = s["data"]["name"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let app = format!("linkerd-multicluster-{name}");
        if apps.contains_key(&app) {
            continue;
        }
        let target_name = if name == "in-cluster" {
            hub.name()
        } else {
            &name
        };
        let Some(target) = clusters.iter().find(|c| c.name() == target_name) else {
            continue;
        };
        let Some(objs) = rendered.get(&name) else {
            continue;
        };
        create_application(hub, &app, &name)?;
        try_apply_all(target, objs, ARGOCD)?;
        let deployments = objs
            .iter()
            .filter(|o| o["kind"] == "Deployment")
            .map(|o| {
                let m = &o["metadata"];
                (
                    m["namespace"]
                        .as_str()
                        .unwrap_or("linkerd-multicluster")
                        .to_string(),
                    m["name"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        apps.insert(
            app,
            App {
                target: target.clone(),
                deployments,
            },
        );
    }
    for (name, app) in apps.iter() {
        let healthy = app
            .deployments
            .iter()
            .all(|(ns, d)| deployment_available(&app.target, ns, d));
        let health = if healthy { "Healthy" } else { "Progressing" };
        set_status(hub, name, "Synced", health)?;
    }
    Ok(())
}

/// Whether a Deployment is Available (its condition), as kwok's pods make it.
fn deployment_available(c: &RealCluster, ns: &str, name: &str) -> bool {
    c.get("apps/v1", "Deployment", ns, name).is_some_and(|d| {
        d["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Available" && c["status"] == "True")
        })
    })
}

/// The Application the ApplicationSet's template makes for cluster `name` (OutOfSync and
/// Progressing until its sync).
fn create_application(hub: &RealCluster, app: &str, name: &str) -> Result<(), String> {
    hub.apply_as(json!({
        "apiVersion": APP_API, "kind": "Application",
        "metadata": {"name": app, "namespace": "argocd",
            "labels": {"app.kubernetes.io/part-of": "linkerd-multicluster"}},
        "spec": {
            "project": "default",
            "sources": [{"repoURL": "https://helm.linkerd.io/edge", "chart": "linkerd-multicluster"},
                {"repoURL": "https://git.example.com/platform/mcflow.git", "targetRevision": "main", "ref": "values"}],
            "destination": {"name": name, "namespace": "linkerd-multicluster"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
        },
        "status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Progressing"}}
    }), ARGOCD)
    .map(|_| ())
    .map_err(|e| format!("argocd: create {app}: {e}"))
}

/// Argo CD's Application CRD has no status subresource: the controller patches the object.
fn set_status(hub: &RealCluster, app: &str, sync: &str, health: &str) -> Result<(), String> {
    let current = hub.get(APP_API, "Application", "argocd", app);
    let same = current.as_ref().is_some_and(|a| {
        a["status"]["sync"]["status"] == sync && a["status"]["health"]["status"] == health
    });
    if same {
        return Ok(());
    }
    hub.merge_patch(
        APP_API,
        "Application",
        "argocd",
        app,
        json!({"status": {"sync": {"status": sync}, "health": {"status": health}}}),
    )
    .map(|_| ())
    .map_err(|e| format!("argocd: status of {app}: {e}"))
}

/// Linkerd's real service mirror (`linkerd-controller-<release> service-mirror <link>`), one
/// local process per Link on a spoke, with that spoke's kubeconfig (the pod's in-cluster
/// credentials), as the chart's `controller-<hub>` (2.18+, templates/controller/deployment.yaml
/// @edge-25.4.4: `-probe-service=probe-<hub>`) or 2.17 `link`'s `linkerd-service-mirror-<hub>`
/// Deployment runs it; stopped when its Link goes, or on drop.
struct Mirrors {
    running: Arc<Mutex<BTreeMap<String, Child>>>,
    logs: PathBuf,
    _loop: Background,
}

impl Mirrors {
    fn start(rig: &RealClusters, controller: &Path, release: &str) -> Mirrors {
        let running: Arc<Mutex<BTreeMap<String, Child>>> = Arc::default();
        let logs = rig.dir().to_path_buf();
        let spokes: Vec<(RealCluster, PathBuf)> = SPOKES
            .iter()
            .map(|s| (rig.cluster(s), rig.dir().join(s).join("kubeconfig")))
            .collect();
        let (r, l, bin, rel) = (
            running.clone(),
            logs.clone(),
            controller.to_path_buf(),
            release.to_string(),
        );
        let tick = move || {
            for (spoke, kubeconfig) in &spokes {
                // v1alpha2 is served by every release's Link CRD; no CRD yet: no Links. An
                // error other than that leaves the mirrors as they are.
                let links = match spoke.list(
                    "multicluster.linkerd.io/v1alpha2",
                    "Link",
                    Some("linkerd-multicluster"),
                    "",
                ) {
                    Ok(l) => l,
                    Err(e) if e.code == 404 => Vec::new(),
                    Err(_) => continue,
                };
                let links: BTreeSet<String> = links
                    .iter()
                    .filter_map(|l| l["metadata"]["name"].as_str().map(String::from))
                    .collect();
                let mut running = r.lock().expect("lock");
                sync_mirrors(spoke.name(), &links, &mut running, |link| {
                    spawn_mirror(
                        &bin,
                        &rel,
                        kubeconfig,
                        link,
                        &l.join(format!("service-mirror-{}-{link}.log", spoke.name())),
                    )
                });
            }
        };
        Mirrors {
            running,
            logs,
            _loop: Background::spawn(tick),
        }
    }

    fn running(&self) -> Vec<String> {
        self.running.lock().expect("lock").keys().cloned().collect()
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.logs)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("service-mirror-") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                out.push_str(&format!("── {name}\n"));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl Drop for Mirrors {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut *self.running.lock().expect("lock")) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Start a mirror for each new Link of `spoke`, stop the ones whose Link is gone.
fn sync_mirrors(
    spoke: &str,
    links: &BTreeSet<String>,
    running: &mut BTreeMap<String, Child>,
    mut spawn: impl FnMut(&str) -> Option<Child>,
) {
    for link in links {
        let key = format!("{spoke}/{link}");
        if !running.contains_key(&key)
            && let Some(child) = spawn(link)
        {
            running.insert(key, child);
        }
    }
    let gone: Vec<String> = running
        .keys()
        .filter(|k| {
            k.split_once('/')
                .is_some_and(|(s, l)| s == spoke && !links.contains(l))
        })
        .cloned()
        .collect();
    for k in gone {
        if let Some(mut c) = running.remove(&k) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_mirror(
    bin: &Path,
    release: &str,
    kubeconfig: &Path,
    link: &str,
    log: &Path,
) -> Option<Child> {
    let out = std::fs::File::create(log).ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut cmd = Command::new(bin);
    cmd.env("HOSTNAME", format!("rig-service-mirror-{link}"))
        .args([
            "service-mirror",
            "-namespace=linkerd-multicluster",
            "-event-requeue-limit=3",
        ])
        .arg(format!("-kubeconfig={}", kubeconfig.display()))
        .arg(format!("-metrics-addr=127.0.0.1:{port}"));
    if release != "2.17" {
        cmd.arg(format!("-probe-service=probe-{link}"));
    }
    cmd.arg(link)
        .stdin(Stdio::null())
        .stdout(out.try_clone().ok()?)
        .stderr(out)
        .spawn()
        .ok()
}
