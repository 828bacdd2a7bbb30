//! Argo CD: Applications whose sync and health a test sets, and (scenario option) the
//! ApplicationSet that installs linkerd-multicluster on a cluster when its Argo CD cluster secret
//! gets the label `spydersoft.io/linkerd-multicluster=true`.
//!
//! The ApplicationSet reactor runs on the scenario's hub (the cluster running Argo CD). For each
//! labelled secret in namespace `argocd` (label `argocd.argoproj.io/secret-type=cluster`), with
//! `data.name` naming a simulated cluster (`in-cluster` means the hub), it creates Application
//! `linkerd-multicluster-<name>` (OutOfSync/Progressing), then after the Deployment ready delay
//! installs into the target: namespace `linkerd-multicluster`; on the hub the Deployment and the
//! NodePort Service `linkerd-gateway` (mc-gateway 4143→30143, mc-probe 4191→the scenario's probe
//! nodePort); on spokes, when the scenario says the chart's `controllers` value is set, the
//! Deployment `controller-<hub>`; and marks the Application Synced/Healthy.
//!
//! A chart the scenario names that does not exist ([`CHARTS`]) is what Argo CD reports for it:
//! a `ComparisonError` condition, sync `Unknown`, health `Healthy`, nothing installed, never
//! synced (see [`comparison_error`]).

use base64::Engine;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::error::ApiError;
use crate::scenario::Scenario;
use crate::simulator::Clusters;

const APP_API: &str = "argoproj.io/v1alpha1";
/// Argo CD's resources finalizer (pkg/apis/application/v1alpha1/application_defaults.go).
const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// The field manager of Argo CD writes.
pub const MANAGER: &str = "argocd-controller";

/// The linkerd-multicluster charts that exist, as `(repo, version)`. Since edge-24.3.1 the chart
/// is published on the edge repo only, versioned `YYYY.M.N` after the edge tag
/// (linkerd2 bin/helm-bump-edge and bin/helm-build @edge-25.4.4): 2.17 = 2024.11.8
/// (edge-24.11.8), 2.18 = 2025.4.4, 2.19 = 2025.10.7. Before that: the last open-source stable
/// chart 30.11.11 (stable-2.14.10, multicluster/charts/linkerd-multicluster/Chart.yaml) and the
/// edge pre-release 30.12.2-edge (edge-23.10.2). There is no `30.12.2`.
pub const CHARTS: &[(&str, &str)] = &[
    ("https://helm.linkerd.io/edge", "2024.11.8"),
    ("https://helm.linkerd.io/edge", "2025.4.4"),
    ("https://helm.linkerd.io/edge", "2025.10.7"),
    ("https://helm.linkerd.io/edge", "30.12.2-edge"),
    ("https://helm.linkerd.io/stable", "30.11.11"),
];

/// Whether the chart `version` can be fetched from `repo`.
pub fn chart_exists(repo: &str, version: &str) -> bool {
    let repo = repo.trim_end_matches('/');
    CHARTS.iter().any(|(r, v)| *r == repo && *v == version)
}

/// What Argo CD says of an Application whose chart cannot be fetched. controller/state.go
/// @v3.2.12 (≈597-603, v2.14.11 line 540): `"Failed to load target state: " + err`, with
/// GetRepoObjs wrapping `failed to generate manifest for source %d of %d` (state.go:330), the
/// repo server's `error fetching chart` (util/helm/client.go) around `helm pull`'s failure
/// (util/helm/cmd.go `Fetch`; helm's own stderr wording is not verified); then sync `Unknown`
/// (`if failedToLoadObjs`), health `Healthy` (controller/health.go starts from Healthy and
/// there are no resources), no auto-sync (appcontroller.go skips a status other than
/// OutOfSync), so no `operationState`. Argo CD waits out a repo-error grace period (~3 min,
/// `--repo-error-grace-period-seconds`) before setting the condition; the simulator does not.
pub fn comparison_error(repo: &str, version: &str) -> Value {
    let message = format!(
        "Failed to load target state: failed to generate manifest for source 1 of 2: rpc error: code = Unknown desc = error fetching chart: failed to get command args to log: `helm pull --destination /tmp/1736412 --version {version} --repo {repo} linkerd-multicluster` failed exit status 1: Error: chart \"linkerd-multicluster\" version \"{version}\" not found in {repo} repository"
    );
    json!({
        "sync": {"status": "Unknown", "comparedTo": {"destination": {}, "sources": []}},
        "health": {"status": "Healthy"},
        "conditions": [{"type": "ComparisonError", "message": message, "lastTransitionTime": crate::managed::now()}]
    })
}

/// Set an Application's sync and health status, creating it if missing.
pub fn set_application(
    c: &Cluster,
    ns: &str,
    name: &str,
    sync: &str,
    health: &str,
) -> Result<Value, ApiError> {
    if c.get(APP_API, "Application", ns, name).is_none() {
        c.create(json!({
            "apiVersion": APP_API, "kind": "Application",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc"}, "source": {}}
        }))?;
    }
    c.merge_patch(
        APP_API,
        "Application",
        ns,
        name,
        json!({
            "status": {"sync": {"status": sync}, "health": {"status": health}}
        }),
    )
}

fn decode(v: Option<&Value>) -> Option<String> {
    let b = base64::engine::general_purpose::STANDARD
        .decode(v?.as_str()?)
        .ok()?;
    String::from_utf8(b).ok()
}

/// What the ApplicationSet's sync installs in `target` (also called by the rig's differential
/// test, which holds it to the real `linkerd multicluster install`).
pub fn install(hub: &Cluster, target: &Cluster, scenario: &Scenario) -> Result<(), ApiError> {
    let ns = "linkerd-multicluster";
    target.apply_as(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"linkerd.io/extension": "multicluster"}}}), MANAGER)?;
    let deployment = |name: &str, component: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"linkerd.io/extension": "multicluster", "component": component, "app.kubernetes.io/managed-by": "argocd"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": component, "image": format!("cr.l5d.io/linkerd/{component}:{}", scenario.linkerd_version)}]}}
            }
        })
    };
    // Every cluster gets the chart's local service mirror (templates/local-service-mirror.yaml,
    // rendered by the real `multicluster install` at 2.17, 2.18 and 2.19: tests/rig_linkerd.rs).
    target.apply_as(
        deployment("linkerd-local-service-mirror", "local-service-mirror"),
        MANAGER,
    )?;
    if target.name() == hub.name() {
        target.apply_as(deployment("linkerd-gateway", "gateway"), MANAGER)?;
        target.apply_as(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "linkerd-gateway", "namespace": ns, "labels": {"linkerd.io/extension": "multicluster"},
                         "annotations": {"component": "gateway", "mirror.linkerd.io/multicluster-gateway": "true", "mirror.linkerd.io/gateway-identity": "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local", "mirror.linkerd.io/probe-path": "/ready", "mirror.linkerd.io/probe-period": "3"}},
            "spec": {"type": "NodePort", "selector": {"app": "linkerd-gateway"}, "ports": [
                {"name": "mc-gateway", "port": 4143, "protocol": "TCP", "targetPort": 4143, "nodePort": 30143},
                {"name": "mc-probe", "port": 4191, "protocol": "TCP", "targetPort": 4191, "nodePort": scenario.probe_node_port}
            ]}
        }), MANAGER)?;
    } else if scenario.mirror_controllers {
        controllers(hub.name(), target, scenario, deployment)?;
    }
    Ok(())
}

/// What the chart's `controllers` value (2.18+) renders on a spoke for the hub: Deployment
/// `controller-<hub>` (labels `component: controller`, `mirror.linkerd.io/cluster-name`) and the
/// probe Service `probe-<hub>` declaring `controllers[].gateway.probe.port`
/// (multicluster/charts/linkerd-multicluster/templates/controller/deployment.yaml and
/// probe-svc.yaml @edge-25.10.7, same @edge-25.4.4).
fn controllers(
    hub: &str,
    target: &Cluster,
    scenario: &Scenario,
    deployment: impl Fn(&str, &str) -> Value,
) -> Result<(), ApiError> {
    let ns = "linkerd-multicluster";
    let mut d = deployment(&format!("controller-{hub}"), "controller");
    d["metadata"]["labels"]["mirror.linkerd.io/cluster-name"] = json!(hub);
    target.apply_as(d, MANAGER)?;
    target.apply_as(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": format!("probe-{hub}"), "namespace": ns, "labels": {
            "linkerd.io/extension": "multicluster", "component": "probe-gateway",
            "mirror.linkerd.io/mirrored-gateway": "true", "mirror.linkerd.io/cluster-name": hub}},
        "spec": {"ports": [{"name": "mc-probe", "port": scenario.spoke_probe_port, "protocol": "TCP"}]}
    }), MANAGER)?;
    Ok(())
}

/// The hub's remote-access accounts, one per spoke, with their token Secrets, as the chart's
/// `remoteMirrorServiceAccountName` list renders them (templates/remote-access-service-mirror-
/// rbac.yaml @edge-25.10.7: ServiceAccount `<name>`, Secret `<name>-token` of type
/// `kubernetes.io/service-account-token`); the token controller reactor fills the token in.
pub fn remote_access(hub: &Cluster, spokes: &[&str]) -> Result<(), ApiError> {
    let ns = "linkerd-multicluster";
    for spoke in spokes {
        let name = format!("linkerd-service-mirror-remote-access-{spoke}");
        hub.apply_as(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "labels": {"linkerd.io/extension": "multicluster"}}}), MANAGER)?;
        hub.apply_as(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": format!("{name}-token"), "namespace": ns, "labels": {"linkerd.io/extension": "multicluster"},
                "annotations": {"kubernetes.io/service-account.name": name}},
            }), MANAGER)?;
    }
    Ok(())
}

/// The Applications the ApplicationSet generates (one per labelled cluster secret) and, for the
/// ones whose cluster is no longer labelled, their deletion.
fn reconcile(
    argo: &Cluster,
    clusters: &[Cluster],
    scenario: &Scenario,
    started: &mut std::collections::BTreeMap<String, String>,
) {
    let secrets = argo
        .list(
            "v1",
            "Secret",
            Some("argocd"),
            "argocd.argoproj.io/secret-type=cluster,spydersoft.io/linkerd-multicluster=true",
        )
        .unwrap_or_default();
    let mut labelled = Vec::new();
    for sec in &secrets {
        let Some(name) = decode(sec.pointer("/data/name")) else {
            continue;
        };
        let target_name = if name == "in-cluster" {
            argo.name().to_string()
        } else {
            name.clone()
        };
        let Some(target) = clusters.iter().find(|c| c.name() == target_name).cloned() else {
            continue;
        };
        let app = format!("linkerd-multicluster-{name}");
        labelled.push(app.clone());
        if started
            .insert(app.clone(), target.name().to_string())
            .is_none()
        {
            create_application(argo, &app, &name, scenario);
            sync_later(argo, clusters, scenario, app, target);
        }
    }
    let gone: Vec<(String, String)> = started
        .iter()
        .filter(|(app, _)| !labelled.contains(app))
        .map(|(a, t)| (a.clone(), t.clone()))
        .collect();
    for (app, target) in gone {
        started.remove(&app);
        if let Some(target) = clusters.iter().find(|c| c.name() == target) {
            delete_application(argo, target, &app);
        }
    }
}

/// The Application for cluster `name`, as deploy/applicationset.yaml's template makes it: the
/// chart, then the values repo; the resources finalizer unless the ApplicationSet preserves
/// resources on deletion (applicationset/utils/utils.go @v3.2.12, same @v2.14.11).
fn create_application(argo: &Cluster, app: &str, name: &str, scenario: &Scenario) {
    let finalizers: Vec<&str> = if scenario.preserve_resources_on_deletion {
        vec![]
    } else {
        vec![RESOURCES_FINALIZER]
    };
    let _ = argo.create(json!({
        "apiVersion": APP_API, "kind": "Application",
        "metadata": {"name": app, "namespace": "argocd", "finalizers": finalizers,
            "labels": {"app.kubernetes.io/part-of": "linkerd-multicluster"}},
        "spec": {
            "project": "default",
            "sources": [
                {"repoURL": scenario.chart_repo, "chart": "linkerd-multicluster", "targetRevision": scenario.chart_version},
                {"repoURL": "https://git.example.com/platform/mcflow.git", "targetRevision": "main", "ref": "values"}
            ],
            "destination": {"name": name, "namespace": "linkerd-multicluster"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
        }
    }));
    let _ = set_application(argo, "argocd", app, "OutOfSync", "Progressing");
}

/// A cluster that stopped matching the ApplicationSet's selector loses its Application
/// (applicationset/controllers/applicationset_controller.go `deleteInCluster` @v3.2.12, with the
/// default `sync` policy). With the resources finalizer Argo CD first deletes what the
/// Application deployed: the extension's namespace and the chart's Link CRD, and with the CRD
/// every Link (the failure `preserveResourcesOnDeletion: true` prevents); without it everything
/// stays.
fn delete_application(argo: &Cluster, target: &Cluster, app: &str) {
    let finalized = argo
        .get(APP_API, "Application", "argocd", app)
        .is_some_and(|a| {
            a["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == RESOURCES_FINALIZER))
        });
    if finalized {
        let _ = target.delete("v1", "Namespace", "", "linkerd-multicluster");
        let _ = target.delete(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            "links.multicluster.linkerd.io",
        );
    }
    let _ = argo.delete(APP_API, "Application", "argocd", app);
}

/// After the Deployment ready delay, what Argo CD's sync does: install the chart into `target`
/// and mark the Application Synced/Healthy, or, for a chart that cannot be had, the
/// `ComparisonError` it reports.
fn sync_later(
    argo: &Cluster,
    clusters: &[Cluster],
    scenario: &Scenario,
    app: String,
    target: Cluster,
) {
    let (argo, clusters, scenario) = (argo.clone(), clusters.to_vec(), scenario.clone());
    let delay = argo.state.config.deployment_ready_delay;
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if !chart_exists(&scenario.chart_repo, &scenario.chart_version) {
            let status = comparison_error(&scenario.chart_repo, &scenario.chart_version);
            let _ = argo.merge_patch(
                APP_API,
                "Application",
                "argocd",
                &app,
                json!({"status": status}),
            );
            return;
        }
        let hub = clusters
            .iter()
            .find(|c| c.name() == scenario.hub)
            .cloned()
            .unwrap_or(argo.clone());
        let spokes: Vec<&str> = clusters
            .iter()
            .map(Cluster::name)
            .filter(|n| *n != hub.name())
            .collect();
        let installed = install(&hub, &target, &scenario).and_then(|()| {
            if target.name() == hub.name() {
                remote_access(&hub, &spokes)
            } else {
                Ok(())
            }
        });
        if installed.is_ok() {
            let _ = set_application(&argo, "argocd", &app, "Synced", "Healthy");
        }
    });
}

/// Watch the Argo CD cluster's secrets and install linkerd-multicluster where asked.
pub async fn run_applicationset(argo: Cluster, clusters: Clusters, scenario: Scenario) {
    let mut rx = argo.subscribe();
    let mut started = std::collections::BTreeMap::new();
    reconcile(&argo, &clusters, &scenario, &mut started);
    loop {
        match rx.recv().await {
            Ok(ev) if ev.type_key == "/secrets" => {
                reconcile(&argo, &clusters, &scenario, &mut started)
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                reconcile(&argo, &clusters, &scenario, &mut started)
            }
            Err(_) => return,
        }
    }
}
