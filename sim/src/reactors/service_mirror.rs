//! The service mirror: for every Link on a spoke whose `spec.targetClusterName` names a
//! simulated cluster (the hub), every Service on the hub matching the Link's `spec.selector`
//! (default `mirror.linkerd.io/exported=true`) is mirrored on the spoke as `<svc>-<hub>` in the
//! same namespace (when that namespace exists on the spoke, and as soon as it appears). While the
//! Link exists, mirrors follow the hub: new exports appear, unexported or deleted services
//! disappear. When the Link is deleted its mirrors stay, as upstream's do; `unlink` (or whoever
//! deletes the Link) removes them.
//!
//! Upstream, linkerd2 @edge-24.11.8, @edge-25.4.4 and @edge-25.10.7:
//! - mirroring into a namespace only once it exists, and as soon as it appears:
//!   multicluster/service-mirror/cluster_watcher.go `handleRemoteServiceExported` ("Skipping
//!   mirroring of service …: namespace … does not exist") and the local Namespace informer's
//!   `OnLocalNamespaceAdded` → `handleLocalNamespaceAdded`;
//! - unexported or deleted remote services: `handleRemoteServiceUnexported` /
//!   `cleanupOrphanedServices` (selector `mirror.linkerd.io/mirrored-service=true,
//!   mirror.linkerd.io/cluster-name=<target>`), i.e. only the mirrors of a Link that is there;
//! - Link deleted: multicluster/cmd/service-mirror/main.go `cleanupWorkers` calls
//!   `clusterWatcher.Stop(false)` ("release, but do not clean-up services created / the `unlink`
//!   command will take care of that"): mirrors, their Endpoints and the probe Endpoints remain.

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::selector::LabelSelector;
use crate::simulator::Clusters;

/// The field manager of mirror writes.
pub const MANAGER: &str = "linkerd-service-mirror";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// The Links on a cluster, whatever their served version.
fn links(c: &Cluster) -> Vec<Value> {
    let types = c.state.types();
    let Some(rt) = types
        .iter()
        .find(|t| t.group == "multicluster.linkerd.io" && t.plural == "links")
    else {
        return vec![];
    };
    let av = rt.api_version(&rt.versions[0]);
    c.list(&av, "Link", None, "").unwrap_or_default()
}

/// The mirror a hub Service should have on a spoke.
fn desired_mirror(hub: &str, svc: &Value) -> Value {
    let name = s(svc, "/metadata/name");
    let ns = s(svc, "/metadata/namespace");
    let mut labels = svc
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    if let Some(m) = labels.as_object_mut() {
        m.remove("mirror.linkerd.io/exported");
    }
    labels["mirror.linkerd.io/mirrored-service"] = json!("true");
    labels["mirror.linkerd.io/cluster-name"] = json!(hub);
    let ports: Vec<Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let mut q = json!({"port": p["port"], "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
            // The remote ports as they are, targetPort included (what the real service mirror
            // writes: tests/rig_service_mirror.rs).
            for k in ["name", "targetPort"] {
                if let Some(v) = p.get(k) {
                    q[k] = v.clone();
                }
            }
            q
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": format!("{name}-{hub}"),
            "namespace": ns,
            "labels": labels,
            "annotations": {
                "mirror.linkerd.io/remote-svc-fq-name": format!("{name}.{ns}.svc.cluster.local"),
                "mirror.linkerd.io/remote-resource-version": s(svc, "/metadata/resourceVersion"),
            }
        },
        "spec": {"type": "ClusterIP", "ports": ports}
    })
}

/// The gateway of a Link as the service mirror sees it: its resolved addresses and ports.
struct Gateway {
    identity: String,
    addresses: Vec<String>,
    port: Value,
    probe_port: Value,
}

impl Gateway {
    fn of(link: &Value, dns: &Dns) -> Gateway {
        let port = |v: Option<&Value>| match v {
            Some(Value::String(p)) => p.parse::<u64>().map_or(json!(p), |n| json!(n)),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        Gateway {
            identity: s(link, "/spec/gatewayIdentity").to_string(),
            addresses: dns.resolve_all(s(link, "/spec/gatewayAddress")),
            port: port(link.pointer("/spec/gatewayPort")),
            probe_port: port(link.pointer("/spec/probeSpec/port")),
        }
    }

    /// Endpoints subsets sending every named port to `port` at the gateway's addresses; none
    /// when no address resolved.
    fn subsets(&self, ports: &[(Value, Value)], port: &Value) -> Value {
        if self.addresses.is_empty() {
            return json!([]);
        }
        let addresses: Vec<Value> = self.addresses.iter().map(|ip| json!({"ip": ip})).collect();
        let ports: Vec<Value> = ports
            .iter()
            .map(|(name, protocol)| json!({"name": name, "port": port, "protocol": protocol}))
            .collect();
        json!([{"addresses": addresses, "ports": ports}])
    }
}

/// Name resolution for gateway addresses, as `net.LookupIP` does it: an IP literal is itself, a
/// name is looked up (here in the scenario's table), anything else, such as `host:port`, is no
/// host at all (multicluster/service-mirror/cluster_watcher.go `resolveGatewayAddress`
/// @edge-25.10.7, same @edge-24.11.8; seen with the real service mirror: "lookup
/// tfx-internal.gerega.net:30143: no such host").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dns(pub std::collections::BTreeMap<String, Vec<String>>);

impl Dns {
    /// The addresses of one entry, or upstream's error.
    pub fn resolve(&self, entry: &str) -> Result<Vec<String>, String> {
        let entry = entry.trim();
        if entry.parse::<std::net::IpAddr>().is_ok() {
            return Ok(vec![entry.to_string()]);
        }
        let known = if entry == "localhost" {
            Some(vec!["127.0.0.1".to_string()])
        } else {
            self.0.get(entry).cloned()
        };
        known.ok_or_else(|| format!("lookup {entry}: no such host"))
    }

    /// Every address of a comma-separated list; entries that do not resolve are skipped (the
    /// service mirror logs them and uses the rest).
    pub fn resolve_all(&self, list: &str) -> Vec<String> {
        list.split(',')
            .filter(|e| !e.trim().is_empty())
            .filter_map(|e| self.resolve(e).ok())
            .flatten()
            .collect()
    }
}

/// The Endpoints of a mirror, as the real service mirror makes them (cluster_watcher.go
/// `createRemoteServiceEndpoints` / `RepairEndpoints`): the mirror's labels, the gateway
/// identity and the remote name as annotations, and every port sent to the Link's gateway port
/// at the gateway's resolved addresses, once the exported Service has ready endpoints on the hub
/// (`exported service … is empty` until then; no subsets either when no address resolved).
/// Held to the real 2.19 service mirror by sim/tests/rig_service_mirror.rs.
fn mirror_endpoints(mirror: &Value, gateway: &Gateway, remote_ready: bool) -> Value {
    let ports: Vec<(Value, Value)> = mirror["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["name"].clone(), p["protocol"].clone()))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": mirror["metadata"]["name"],
            "namespace": mirror["metadata"]["namespace"],
            "labels": mirror["metadata"]["labels"],
            "annotations": {
                "mirror.linkerd.io/remote-gateway-identity": gateway.identity,
                "mirror.linkerd.io/remote-svc-fq-name": mirror["metadata"]["annotations"]["mirror.linkerd.io/remote-svc-fq-name"],
            }
        },
        "subsets": if remote_ready { gateway.subsets(&ports, &gateway.port) } else { json!(null) }
    })
}

/// Whether the hub's Endpoints of `svc` have a ready address.
fn ready(hub: &Cluster, svc: &Value) -> bool {
    let (ns, name) = (s(svc, "/metadata/namespace"), s(svc, "/metadata/name"));
    hub.get("v1", "Endpoints", ns, name).is_some_and(|e| {
        e["subsets"].as_array().is_some_and(|subsets| {
            subsets
                .iter()
                .any(|s| s["addresses"].as_array().is_some_and(|a| !a.is_empty()))
        })
    })
}

/// The probe Endpoints of a Link: the Endpoints of the spoke's probe Service (labelled
/// `mirror.linkerd.io/mirrored-gateway`, `probe-<hub>` from the chart's `controllers` or
/// `probe-gateway-<hub>` from a 2.17 `link`), port `mc-probe` = the Link's probe port at the
/// gateway's addresses (probe_worker.go / cluster_watcher.go `createOrUpdateGatewayEndpoints`).
fn probe_endpoints(spoke: &Cluster, hub: &str, gateway: &Gateway) -> Option<Value> {
    let probe = spoke
        .list(
            "v1",
            "Service",
            None,
            &format!("mirror.linkerd.io/mirrored-gateway,mirror.linkerd.io/cluster-name={hub}"),
        )
        .ok()?
        .into_iter()
        .next()?;
    Some(json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": probe["metadata"]["name"],
            "namespace": probe["metadata"]["namespace"],
            "labels": {"mirror.linkerd.io/cluster-name": hub}
        },
        "subsets": gateway.subsets(&[(json!("mc-probe"), json!("TCP"))], &gateway.probe_port)
    }))
}

/// Bring every spoke's mirrors in line with the hubs' exported services.
/// The one Event the service mirror records: on the hub's Service, when the spoke lacks its
/// namespace (linkerd2 multicluster/service-mirror/cluster_watcher.go @edge-25.10.7
/// `handleRemoteServiceExported`: `recorder.Event(remoteService, Normal,
/// "ServiceMirroringSkipped", "Skipped mirroring service: namespace does not exist")`, recorder
/// source `linkerd-service-mirror-<target>`, written to the target cluster). Mirror creation
/// records no Event upstream, so none here.
fn record_skipped(hub: &Cluster, svc: &Value, hub_name: &str) {
    let (ns, name) = (s(svc, "/metadata/namespace"), s(svc, "/metadata/name"));
    if crate::events::recorded(hub, ns, name, "ServiceMirroringSkipped") {
        return;
    }
    let component = format!("linkerd-service-mirror-{hub_name}");
    let mut regarding = svc.clone();
    regarding["apiVersion"] = json!("v1");
    regarding["kind"] = json!("Service");
    let note = crate::events::EventNote {
        kind: "Normal",
        reason: "ServiceMirroringSkipped",
        message: "Skipped mirroring service: namespace does not exist".to_string(),
        component: &component,
    };
    crate::events::record(hub, &regarding, &note);
}

pub fn reconcile(clusters: &[Cluster], dns: &Dns) {
    for spoke in clusters {
        let mut desired: Vec<(Value, Value)> = Vec::new();
        let mut probes: Vec<Value> = Vec::new();
        for link in links(spoke) {
            let hub_name = s(&link, "/spec/targetClusterName").to_string();
            let Some(hub) = clusters.iter().find(|c| c.name() == hub_name) else {
                continue;
            };
            let gateway = Gateway::of(&link, dns);
            probes.extend(probe_endpoints(spoke, &hub_name, &gateway));
            let selector = match link.pointer("/spec/selector") {
                Some(sel) if sel.is_object() => LabelSelector::from_object(sel),
                _ => LabelSelector::parse("mirror.linkerd.io/exported=true").unwrap_or_default(),
            };
            for svc in hub.list("v1", "Service", None, "").unwrap_or_default() {
                if selector.0.is_empty() || !selector.matches(&svc) {
                    continue;
                }
                let ns = s(&svc, "/metadata/namespace");
                if spoke.get("v1", "Namespace", "", ns).is_some() {
                    let mirror = desired_mirror(&hub_name, &svc);
                    let endpoints = mirror_endpoints(&mirror, &gateway, ready(hub, &svc));
                    desired.push((mirror, endpoints));
                } else {
                    record_skipped(hub, &svc, &hub_name);
                }
            }
        }
        remove_unwanted(spoke, &desired);
        for (mirror, endpoints) in desired {
            let _ = spoke.apply_as(mirror, MANAGER);
            let _ = spoke.apply_as(endpoints, MANAGER);
        }
        for p in probes {
            let _ = spoke.apply_as(p, MANAGER);
        }
    }
}

/// Delete the mirrors of a Link that is there whose hub Service is no longer exported. Only the
/// mirrors of the Links that are there are followed; a Link that went leaves its mirrors behind
/// (main.go `cleanupWorkers`, `Stop(false)`).
fn remove_unwanted(spoke: &Cluster, desired: &[(Value, Value)]) {
    let linked: Vec<String> = links(spoke)
        .iter()
        .map(|l| s(l, "/spec/targetClusterName").to_string())
        .collect();
    let existing = spoke
        .list(
            "v1",
            "Service",
            None,
            "mirror.linkerd.io/mirrored-service=true",
        )
        .unwrap_or_default();
    for m in existing {
        let (ns, name) = (s(&m, "/metadata/namespace"), s(&m, "/metadata/name"));
        let hub = s(&m, "/metadata/labels/mirror.linkerd.io~1cluster-name");
        if !linked.iter().any(|l| l == hub) {
            continue;
        }
        let keep = desired
            .iter()
            .any(|(d, _)| s(d, "/metadata/namespace") == ns && s(d, "/metadata/name") == name);
        if !keep {
            let _ = spoke.delete("v1", "Service", ns, name);
            let _ = spoke.delete("v1", "Endpoints", ns, name);
        }
    }
}

fn relevant(type_key: &str) -> bool {
    matches!(
        type_key,
        "/services" | "/endpoints" | "/namespaces" | "multicluster.linkerd.io/links"
    )
}

/// Reconcile whenever a Service, Namespace or Link changes anywhere.
pub async fn run(clusters: Clusters, dns: Dns) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for c in clusters.iter() {
        let mut sub = c.subscribe();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Ok(ev) if relevant(&ev.type_key) => {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(());
                    }
                    Err(_) => return,
                }
            }
        });
    }
    drop(tx);
    while rx.recv().await.is_some() {
        while rx.try_recv().is_ok() {}
        reconcile(&clusters, &dns);
    }
}
