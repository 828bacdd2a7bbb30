//! The kube store: runs kept in a namespace of the hub cluster, so that any machine with the
//! kubeconfig can list, show and resume them.
//!
//! What is stored where, and why:
//! - each run's journal, in the journal's own event schema (JSON lines), in **Secrets**
//!   `mcflow-run-<run-id>-<chunk>` (type `mcflow.io/journal`): `step_succeeded` events carry
//!   step output (stdout, captured objects, outputs), and clusters commonly grant read access to
//!   ConfigMaps far more widely than to Secrets (the built-in `view` ClusterRole reads ConfigMaps
//!   and not Secrets). Sensitive values are not in them: they are never journaled at all. A
//!   chunk takes batches as data keys `000000`, `000001`, … until it holds [`CHUNK_BYTES`], well
//!   under the API server's 1 MiB limit on a Secret's data; then the next chunk starts;
//! - each run's index, in a **ConfigMap** `mcflow-run-<run-id>` (workflow name, run key, start
//!   time, who started it: no step output), which `runs` lists and pruning reads;
//! - the run-key lock, in a `coordination.k8s.io/v1` **Lease** (see [`lease`]).
//!
//! Every journal write is a merge patch carrying the resourceVersion last seen, so the API
//! server applies it only to that version (409 otherwise), and it is acknowledged before the
//! step it records acts. Each chunk names its writer in an annotation; a runner that takes a
//! run over first rewrites it (the takeover record), so the old writer's next write conflicts,
//! reads the new writer's name and stops (fencing; [`journal`]).

mod admin;
mod bridge;
pub mod journal;
pub mod lease;

use std::path::Path;
use std::sync::Arc;

use ::kube::Client;
use ::kube::api::{Api, ListParams};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::journal::StateError;
use crate::kube::{KubeError, KubeErrorKind};
use bridge::Bridge;

pub use journal::KubeJournal;
pub use lease::LeaseGuard;

/// The journal bytes one chunk takes before the next starts: far under the API's 1 MiB, and
/// small because every write's answer carries the whole chunk back.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Labels every stored object carries.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const RUN_ID: &str = "mcflow.io/run-id";
pub const WORKFLOW: &str = "mcflow.io/workflow";
pub const CHUNK: &str = "mcflow.io/chunk";
/// Annotation: who writes a chunk (the takeover record rewrites it).
pub const WRITER: &str = "mcflow.io/writer";

/// Every (API group, resource, verbs) the store uses: deploy/mcflow-state-rbac.yaml grants
/// exactly these (a test compares them).
pub const VERBS: &[(&str, &str, &[&str])] = &[
    ("", "configmaps", &["create", "delete", "list"]),
    ("", "secrets", &["create", "delete", "get", "list", "patch"]),
    (
        "coordination.k8s.io",
        "leases",
        &["create", "get", "update"],
    ),
];

/// What every async operation needs, cheap to clone into a task.
#[derive(Clone)]
pub struct Inner {
    pub client: Client,
    pub context: String,
    pub namespace: String,
    /// This process as a holder and writer ([`crate::state::holder::identity`]).
    pub me: String,
}

/// A connection to the kube store (`kube:<context>/<namespace>`).
pub struct KubeStore {
    bridge: Bridge,
    inner: Inner,
}

impl KubeStore {
    /// Connects to the store's context (nothing is requested yet).
    pub fn connect(
        kubeconfig: Option<&Path>,
        context: &str,
        namespace: &str,
    ) -> Result<Arc<KubeStore>, StateError> {
        let bridge = Bridge::new().map_err(|m| store_err(context, namespace, m))?;
        let kubeconfig = kubeconfig.map(Path::to_path_buf);
        let ctx = context.to_string();
        let client = bridge.block(async move {
            crate::kube::client_for(kubeconfig.as_deref(), &ctx)
                .await
                .map_err(|e| StateError::Store {
                    store: format!("kube:{ctx}"),
                    message: e.message,
                })
        })?;
        Ok(Arc::new(KubeStore {
            bridge,
            inner: Inner {
                client,
                context: context.to_string(),
                namespace: namespace.to_string(),
                me: super::holder::identity(),
            },
        }))
    }

    /// `kube:<context>/<namespace>`.
    pub fn describe(&self) -> String {
        self.inner.describe()
    }

    pub(crate) fn block<T: Send + 'static, F>(
        &self,
        f: impl FnOnce(Inner) -> F + Send + 'static,
    ) -> Result<T, StateError>
    where
        F: std::future::Future<Output = Result<T, StateError>> + Send + 'static,
    {
        let inner = self.inner.clone();
        self.bridge.block(async move { f(inner).await })
    }

    /// Run ids, oldest first (ids sort by time).
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        self.block(|i| async move { i.list_runs().await })
    }

    /// A run's journal bytes, chunks in order; `None` when there is no such run.
    pub fn read(&self, run_id: &str) -> Result<Option<Vec<u8>>, StateError> {
        let id = run_id.to_string();
        self.block(|i| async move { journal::read(&i, &id).await })
    }
}

impl KubeStore {
    /// Whether run `run_id` is running now (its run key's Lease held for it).
    pub fn running(&self, run_id: &str) -> Result<bool, StateError> {
        let id = run_id.to_string();
        self.block(|i| async move { admin::running(&i, &id).await })
    }

    /// Deletes run `run_id`'s objects.
    pub fn delete(&self, run_id: &str) -> Result<(), StateError> {
        let id = run_id.to_string();
        self.block(|i| async move { admin::delete(&i, &id).await })
    }
}

impl Inner {
    pub fn describe(&self) -> String {
        format!("kube:{}/{}", self.context, self.namespace)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// A failed request as a state error: a 403 names the verb and resource the store's Role
    /// must grant.
    pub fn err(&self, verb: &str, resource: &str, e: KubeError) -> StateError {
        let missing_ns = format!("namespaces \"{}\" not found", self.namespace);
        let message = if e.kind == KubeErrorKind::NotFound && e.message.contains(&missing_ns) {
            format!(
                "namespace {ns} does not exist in context {ctx}; create it first: kubectl --context {ctx} create namespace {ns} (and apply deploy/mcflow-state-rbac.yaml there)",
                ns = self.namespace,
                ctx = self.context
            )
        } else if e.kind == KubeErrorKind::Forbidden {
            format!(
                "forbidden: cannot {verb} {resource} in namespace {}; the Role in deploy/mcflow-state-rbac.yaml grants what the store needs ({})",
                self.namespace, e.message
            )
        } else {
            format!("{verb} {resource}: {}", e.message)
        };
        StateError::Store {
            store: self.describe(),
            message,
        }
    }

    async fn list_runs(&self) -> Result<Vec<String>, StateError> {
        let lp = ListParams::default().labels(&format!("{MANAGED_BY}=mcflow,{RUN_ID}"));
        let api = self.config_maps();
        let list = crate::kube::RequestRetry::default()
            .run("list configmaps", || async {
                api.list(&lp).await.map_err(KubeError::from)
            })
            .await
            .map_err(|e| self.err("list", "configmaps", e))?;
        let mut ids: Vec<String> = list
            .items
            .iter()
            .filter_map(|cm| cm.metadata.labels.as_ref()?.get(RUN_ID).cloned())
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

pub(crate) fn store_err(context: &str, namespace: &str, message: String) -> StateError {
    StateError::Store {
        store: format!("kube:{context}/{namespace}"),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_role_grants_exactly_the_verbs_the_store_uses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mcflow-state-rbac.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let role = text.split("\n---\n").next().unwrap();
        let role: serde_json::Value = serde_saphyr::from_str(role).unwrap();
        let granted: Vec<(String, String, Vec<String>)> = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
                let verbs = r["verbs"].as_array().unwrap().iter().map(s).collect();
                (s(&r["apiGroups"][0]), s(&r["resources"][0]), verbs)
            })
            .collect();
        let used: Vec<(String, String, Vec<String>)> = VERBS
            .iter()
            .map(|(g, r, v)| {
                (
                    g.to_string(),
                    r.to_string(),
                    v.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(granted, used);
    }
}
