//! Seeded cluster contents: the base every cluster has, and the Linkerd scenario for the
//! multicluster workflows and the demo.

use base64::Engine;
use serde_json::{Value, json};

use crate::cluster::{Cluster, parse_yaml_documents};
use crate::error::ApiError;
use crate::linkerd_version::LinkerdVersion;

/// The fixtures embedded in the crate (copies of `shared/fixtures/linkerd`).
pub mod fixtures {
    /// Link, Application and ApplicationSet CRDs.
    pub const CRDS: &str = include_str!("../fixtures/crds.yaml");
    /// The shared trust roots ConfigMap.
    pub const TRUST_ROOTS: &str = include_str!("../fixtures/trust-roots.yaml");
    /// A different trust roots ConfigMap (a foreign trust anchor).
    pub const TRUST_ROOTS_OTHER: &str = include_str!("../fixtures/trust-roots-other.yaml");
    /// `linkerd multicluster link` output up to 2.17.
    pub const LINK_2_17: &str = include_str!("../fixtures/link-2.17.yaml");
    /// `linkerd multicluster link-gen` output from 2.18.
    pub const LINK_GEN_2_18: &str = include_str!("../fixtures/link-gen-2.18.yaml");
    /// The kubeconfig embedded in the credentials secrets.
    pub const KUBECONFIG_IN_SECRET: &str = include_str!("../fixtures/kubeconfig-in-secret.yaml");
    /// `linkerd multicluster check` passing.
    pub const CHECK_OK: &str = include_str!("../fixtures/multicluster-check-ok.txt");
    /// `linkerd multicluster check` failing.
    pub const CHECK_FAIL: &str = include_str!("../fixtures/multicluster-check-fail.txt");
}

/// What every simulated cluster starts with: the namespaces `default`, `kube-system`,
/// `kube-public`, `kube-node-lease` and the Service `default/kubernetes`.
pub fn base(c: &Cluster) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))?;
    }
    c.create(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
    }))?;
    Ok(())
}

/// The Linkerd multicluster scenario ([`Scenario::linkerd_fresh`]): Linkerd's control plane on
/// every cluster, Argo CD on the hub with a cluster secret per spoke, no links yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The cluster running Argo CD and the multicluster gateway (default `internal`).
    pub hub: String,
    /// Clusters whose `linkerd-identity-trust-roots` holds a different (foreign) anchor.
    pub foreign_trust_roots: Vec<String>,
    /// Clusters whose `linkerd-config` `identityTrustAnchorsPEM` is not the anchor of their
    /// `linkerd-identity-trust-roots` (an external CA: the chart renders that ConfigMap only
    /// without `identity.externalCA`, linkerd2 charts/linkerd-control-plane/templates/identity.yaml
    /// @edge-25.4.4, so the two can drift; linkerd2 #11668).
    pub config_anchor_differs: Vec<String>,
    /// Label `monitoring/alloy` on the hub `mirror.linkerd.io/exported=true` (default false).
    pub export_alloy: bool,
    /// Run the ApplicationSet reactor on the hub (default true).
    pub applicationset: bool,
    /// The ApplicationSet's `spec.syncPolicy.preserveResourcesOnDeletion` (default true, as
    /// deploy/applicationset.yaml sets it): false gives its Applications Argo CD's resources
    /// finalizer, so unlabelling a cluster deletes the extension there, its Link CRD and Links.
    pub preserve_resources_on_deletion: bool,
    /// The chart's `controllers` value is set (2.18+ link-gen flow): spokes get Deployment
    /// `controller-<hub>` when linkerd-multicluster is installed (default true, matching the
    /// fake linkerd's default 2.18+ version).
    pub mirror_controllers: bool,
    /// The gateway Service's mc-probe nodePort (default 30191).
    pub probe_node_port: u16,
    /// The Linkerd release of the clusters: their Link CRD, control plane and chart (default
    /// [`LinkerdVersion::NEWEST`]; set with [`Scenario::version`]).
    pub version: LinkerdVersion,
    /// The Linkerd version of the control plane images (default the version's tag).
    pub linkerd_version: String,
    /// The linkerd-multicluster chart version in Applications (default the version's chart).
    pub chart_version: String,
    /// What the hub's gateway host names resolve to for the simulated service mirror (default
    /// `tfx-internal.gerega.net` → 192.0.2.10, the name config/clusters.yaml gives; IP literals
    /// and `localhost` resolve without it). A name not here does not resolve, nor does
    /// `host:port`.
    pub dns: crate::reactors::service_mirror::Dns,
    /// The probe port the spokes' `probe-<hub>` Services declare, made by the chart's
    /// `controllers` (2.18+): `controllers[].gateway.probe.port` of the spokes' values files
    /// (default 30191, the hub's probe nodePort, as config/*-values.yaml pin it; the chart's own
    /// default is 4191).
    pub spoke_probe_port: u16,
    /// The Helm repository of that chart in Applications (default `https://helm.linkerd.io/edge`).
    /// A repo/version pair that is not in [`crate::reactors::argocd::CHARTS`] cannot be had: the
    /// Application gets a `ComparisonError` and never syncs.
    pub chart_repo: String,
}

impl Scenario {
    /// Linkerd installed everywhere, linkerd-multicluster not yet, no links.
    pub fn linkerd_fresh() -> Self {
        Scenario {
            hub: "internal".into(),
            foreign_trust_roots: vec![],
            config_anchor_differs: vec![],
            export_alloy: false,
            applicationset: true,
            preserve_resources_on_deletion: true,
            mirror_controllers: true,
            probe_node_port: 30191,
            version: LinkerdVersion::NEWEST,
            linkerd_version: LinkerdVersion::NEWEST.tag().into(),
            chart_version: LinkerdVersion::NEWEST.chart().into(),
            chart_repo: "https://helm.linkerd.io/edge".into(),
            dns: crate::reactors::service_mirror::Dns(
                [(
                    "tfx-internal.gerega.net".to_string(),
                    vec!["192.0.2.10".to_string()],
                )]
                .into(),
            ),
            spoke_probe_port: 30191,
        }
    }

    /// The probe port of the spokes' `probe-<hub>` Services (their values' probe port).
    pub fn spoke_probe_port(mut self, port: u16) -> Self {
        self.spoke_probe_port = port;
        self
    }

    /// Let the simulated service mirror resolve `host` to `ip`.
    pub fn dns(mut self, host: &str, ip: &str) -> Self {
        self.dns.0.entry(host.into()).or_default().push(ip.into());
        self
    }

    /// Clusters of one Linkerd release: its control plane tag, its chart version (and so
    /// whether the chart runs `controller-<hub>` on spokes) and its Link CRD.
    pub fn version(mut self, version: LinkerdVersion) -> Self {
        self.version = version;
        self.linkerd_version = version.tag().into();
        self.chart_version = version.chart().into();
        self.mirror_controllers = version.chart_controllers();
        self
    }

    /// The linkerd-multicluster chart the Applications ask for.
    pub fn chart(mut self, repo: &str, version: &str) -> Self {
        self.chart_repo = repo.into();
        self.chart_version = version.into();
        self
    }

    /// Set the hub.
    pub fn hub(mut self, name: &str) -> Self {
        self.hub = name.into();
        self
    }

    /// Give `cluster` the foreign trust anchor.
    pub fn foreign_trust_roots(mut self, cluster: &str) -> Self {
        self.foreign_trust_roots.push(cluster.into());
        self
    }

    /// Give `cluster` a `linkerd-config` trust anchor other than its trust-roots ConfigMap's.
    pub fn config_anchor_differs(mut self, cluster: &str) -> Self {
        self.config_anchor_differs.push(cluster.into());
        self
    }

    /// Export `monitoring/alloy` on the hub.
    pub fn export_alloy(mut self, yes: bool) -> Self {
        self.export_alloy = yes;
        self
    }

    /// Turn the ApplicationSet reactor on or off.
    pub fn applicationset(mut self, yes: bool) -> Self {
        self.applicationset = yes;
        self
    }

    /// The ApplicationSet's `preserveResourcesOnDeletion`.
    pub fn preserve_resources_on_deletion(mut self, yes: bool) -> Self {
        self.preserve_resources_on_deletion = yes;
        self
    }

    /// Run `controller-<hub>` on spokes when linkerd-multicluster is installed.
    pub fn mirror_controllers(mut self, yes: bool) -> Self {
        self.mirror_controllers = yes;
        self
    }

    /// Seed the clusters.
    pub fn seed(&self, clusters: &[Cluster]) -> Result<(), ApiError> {
        for c in clusters {
            self.seed_linkerd(c)?;
        }
        if let Some(hub) = clusters.iter().find(|c| c.name() == self.hub) {
            self.seed_hub(hub, clusters)?;
        }
        Ok(())
    }

    fn seed_linkerd(&self, c: &Cluster) -> Result<(), ApiError> {
        for crd in parse_yaml_documents(fixtures::CRDS)? {
            c.apply(self.served_by_version(crd))?;
        }
        c.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "linkerd",
            "labels": {"linkerd.io/is-control-plane": "true", "config.linkerd.io/admission-webhooks": "disabled", "linkerd.io/control-plane-ns": "linkerd"}}}))?;
        let roots = if self.foreign_trust_roots.iter().any(|n| n == c.name()) {
            fixtures::TRUST_ROOTS_OTHER
        } else {
            fixtures::TRUST_ROOTS
        };
        c.apply_yaml(roots)?;
        // linkerd-config's values carry identityTrustAnchorsPEM, which `linkerd multicluster
        // check` compares (linkerd2 multicluster/cmd/check.go @edge-24.11.8, @edge-25.4.4,
        // @edge-25.10.7); normally the same PEM as the trust-roots ConfigMap.
        let config_roots = if self.config_anchor_differs.iter().any(|n| n == c.name()) {
            if roots == fixtures::TRUST_ROOTS {
                fixtures::TRUST_ROOTS_OTHER
            } else {
                fixtures::TRUST_ROOTS
            }
        } else {
            roots
        };
        let pem = parse_yaml_documents(config_roots)?
            .first()
            .and_then(|d| d.pointer("/data/ca-bundle.crt"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let pem_block: String = pem.lines().map(|l| format!("  {l}\n")).collect();
        c.apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "linkerd-config", "namespace": "linkerd", "labels": {"linkerd.io/control-plane-component": "controller"}},
            "data": {"values": format!("clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nidentityTrustAnchorsPEM: |\n{pem_block}linkerdVersion: {}\n", self.linkerd_version)}}))?;
        for name in [
            "linkerd-identity",
            "linkerd-destination",
            "linkerd-proxy-injector",
        ] {
            let component = name.trim_start_matches("linkerd-");
            c.apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "linkerd", "labels": {"linkerd.io/control-plane-component": component, "linkerd.io/control-plane-ns": "linkerd", "app.kubernetes.io/version": self.linkerd_version}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"linkerd.io/control-plane-component": component}},
                    "template": {"metadata": {"labels": {"linkerd.io/control-plane-component": component}},
                        "spec": {"containers": [{"name": component, "image": format!("cr.l5d.io/linkerd/controller:{}", self.linkerd_version)}]}}}}))?;
            c.set_deployment_available("linkerd", name, true)?;
        }
        Ok(())
    }

    /// The Link CRD as the scenario's chart has it: only the versions its link-crd.yaml serves,
    /// the first of them the storage version (2.17 has no v1alpha3 and stores v1alpha2). Other
    /// CRDs as they are.
    fn served_by_version(&self, mut crd: Value) -> Value {
        if crd.pointer("/metadata/name") != Some(&json!("links.multicluster.linkerd.io")) {
            return crd;
        }
        let served = self.version.link_crd_versions();
        if let Some(versions) = crd
            .pointer_mut("/spec/versions")
            .and_then(Value::as_array_mut)
        {
            versions.retain(|v| v["name"].as_str().is_some_and(|n| served.contains(&n)));
            for v in versions.iter_mut() {
                v["storage"] = json!(v["name"] == served[0]);
            }
        }
        crd
    }

    /// The Argo CD cluster secret name for a cluster: not the cluster's name (like secrets
    /// created by `argocd cluster add`): `cluster-<first 4 letters>-<4 hex>`.
    pub fn argocd_secret_name(cluster: &str) -> String {
        let short: String = cluster
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(4)
            .collect();
        let h = cluster.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ b as u32).wrapping_mul(0x0100_0193)
        });
        format!("cluster-{short}-{:04x}", h & 0xffff)
    }

    fn seed_hub(&self, hub: &Cluster, clusters: &[Cluster]) -> Result<(), ApiError> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        hub.apply(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
        )?;
        for name in [
            "argocd-server",
            "argocd-repo-server",
            "argocd-applicationset-controller",
        ] {
            hub.apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "argocd", "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "argocd"}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                        "spec": {"containers": [{"name": name, "image": "quay.io/argoproj/argocd:v2.14.11"}]}}}}))?;
            hub.set_deployment_available("argocd", name, true)?;
        }
        for c in clusters.iter().filter(|c| c.name() != hub.name()) {
            let config = json!({"bearerToken": c.token(), "tlsClientConfig": {"insecure": false, "caData": ""}}).to_string();
            hub.apply(
                json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": Self::argocd_secret_name(c.name()), "namespace": "argocd",
                    "labels": {"argocd.argoproj.io/secret-type": "cluster"},
                    "annotations": {"managed-by": "argocd.argoproj.io"}},
                "data": {"name": b64(c.name()), "server": b64(&c.url()), "config": b64(&config)}}),
            )?;
        }
        hub.apply(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}),
        )?;
        let mut labels =
            json!({"app.kubernetes.io/name": "alloy", "app.kubernetes.io/instance": "alloy"});
        if self.export_alloy {
            labels["mirror.linkerd.io/exported"] = json!("true");
        }
        hub.apply(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "alloy", "namespace": "monitoring", "labels": labels},
            "spec": {"selector": {"app.kubernetes.io/name": "alloy"}, "ports": [
                {"name": "http-metrics", "port": 12345, "protocol": "TCP", "targetPort": 12345},
                {"name": "otlp-grpc", "port": 4317, "protocol": "TCP", "targetPort": 4317}]}}))?;
        // alloy runs: its Endpoints have a ready address (what the endpoints controller writes
        // for a ready pod), so its mirrors get the gateway as their endpoints.
        hub.apply(json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "alloy", "namespace": "monitoring", "labels": {"app.kubernetes.io/name": "alloy"}},
            "subsets": [{"addresses": [{"ip": "10.244.0.17"}], "ports": [
                {"name": "http-metrics", "port": 12345, "protocol": "TCP"},
                {"name": "otlp-grpc", "port": 4317, "protocol": "TCP"}]}]}))?;
        Ok(())
    }
}

/// Parse a fixture or manifest into objects (re-exported helper).
pub fn documents(yaml: &str) -> Result<Vec<Value>, ApiError> {
    parse_yaml_documents(yaml)
}
