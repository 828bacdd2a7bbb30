//! The kube state store on a simulated hub: a workspace whose mcflow keeps its runs in
//! namespace `mcflow-state` of cluster `hub` (`MCFLOW_STATE=kube:hub/mcflow-state`, so that
//! `--state local` can still pick the local store), short Leases
//! (`MCFLOW_LEASE_DURATION`), and reads of what the store holds in the cluster.

use std::path::Path;

use base64::Engine as _;
use mcflow_sim::Simulator;
use serde_json::Value;

use super::clusters;
use super::workspace::Workspace;

/// The store's namespace.
pub const NAMESPACE: &str = "mcflow-state";

/// A simulated hub with the store's namespace, and a workspace using it.
pub struct KubeStore {
    pub sim: Simulator,
    pub ws: Workspace,
}

impl KubeStore {
    /// A hub and a workspace (Leases of `lease` duration, e.g. "2s").
    pub fn new(lease: &str) -> KubeStore {
        let ws = Workspace::new().no_color();
        let sim = clusters::bare(ws.path(), &["hub"]);
        sim.cluster("hub")
            .apply_yaml(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"
            ))
            .expect("the store's namespace");
        let ws = ws
            .kubeconfig(sim.kubeconfig_path())
            .env("MCFLOW_STATE", format!("kube:hub/{NAMESPACE}"))
            .env("MCFLOW_LEASE_DURATION", lease);
        KubeStore { sim, ws }
    }

    /// Every object of `kind` in the store's namespace.
    pub fn objects(&self, kind: &str) -> Vec<Value> {
        let api_version = if kind == "Lease" {
            "coordination.k8s.io/v1"
        } else {
            "v1"
        };
        self.sim
            .cluster("hub")
            .list(api_version, kind, Some(NAMESPACE), "")
            .expect("list")
    }

    /// The events of run `run_id` as the store holds them (chunks and batches in order).
    pub fn events(&self, run_id: &str) -> Vec<Value> {
        let mut chunks: Vec<Value> = self
            .objects("Secret")
            .into_iter()
            .filter(|s| s.pointer("/metadata/labels/mcflow.io~1run-id") == Some(&run_id.into()))
            .collect();
        chunks.sort_by_key(|s| {
            s["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        let mut text = String::new();
        for c in chunks {
            if let Some(data) = c["data"].as_object() {
                for v in data.values() {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v.as_str().unwrap_or_default())
                        .expect("base64 data");
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The run ids in the store, oldest first.
    pub fn runs(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .objects("ConfigMap")
            .iter()
            .filter_map(|c| c.pointer("/metadata/labels/mcflow.io~1run-id")?.as_str())
            .map(String::from)
            .collect();
        ids.sort();
        ids
    }

    /// Whether run `run_id` has journaled event `event` for `step`.
    pub fn has(&self, run_id: &str, event: &str, step: &str) -> bool {
        self.events(run_id)
            .iter()
            .any(|e| e["event"] == event && e["step"] == step)
    }

    /// The run key's Lease.
    pub fn lease(&self, name: &str) -> Option<Value> {
        self.sim
            .cluster("hub")
            .get("coordination.k8s.io/v1", "Lease", NAMESPACE, name)
    }

    /// Every object in every namespace of the hub, as text, Secret data decoded as well.
    pub fn everything(&self) -> String {
        let mut text = String::new();
        for (v, kind) in [
            ("v1", "Secret"),
            ("v1", "ConfigMap"),
            ("coordination.k8s.io/v1", "Lease"),
        ] {
            for o in self
                .sim
                .cluster("hub")
                .list(v, kind, None, "")
                .expect("list")
            {
                text.push_str(&o.to_string());
                for d in o["data"].as_object().into_iter().flat_map(|m| m.values()) {
                    if let Ok(b) = base64::engine::general_purpose::STANDARD
                        .decode(d.as_str().unwrap_or_default())
                    {
                        text.push_str(&String::from_utf8_lossy(&b));
                    }
                }
            }
        }
        text
    }
}

/// An empty directory elsewhere: another runner's checkout-less working directory.
pub fn empty_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// `path` as text.
pub fn text(path: &Path) -> String {
    path.display().to_string()
}
