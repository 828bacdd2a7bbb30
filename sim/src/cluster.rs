//! [`Cluster`]: a test's direct handle on one simulated cluster (no HTTP involved).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::faults::Fault;
use crate::patch::PatchKind;
use crate::request_log::RequestRecord;
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::{ClusterState, Scope, WriteOpts, lock};
use crate::store::StoreEvent;

/// The field manager used by the direct-access API.
pub const SETUP_MANAGER: &str = "mcflow-sim";

/// A handle on one simulated cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) state: Arc<ClusterState>,
    pub(crate) handle: tokio::runtime::Handle,
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

/// Parse a multi-document YAML stream into objects (empty documents are skipped).
pub fn parse_yaml_documents(yaml: &str) -> Result<Vec<Value>, ApiError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml)
        .map_err(|e| ApiError::bad_request(format!("invalid YAML: {e}")))?;
    Ok(docs.into_iter().filter(|d| d.is_object()).collect())
}

impl Cluster {
    /// The cluster's name (also its kubeconfig context name).
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        lock(&self.state.url).clone()
    }

    /// The bearer token the cluster accepts.
    pub fn token(&self) -> &str {
        &self.state.token
    }

    fn ns_for(obj: &Value) -> String {
        let ns = meta(obj, "namespace");
        if ns.is_empty() { "default".into() } else { ns }
    }

    /// Server-side apply every document of a YAML stream (field manager `mcflow-sim`, forced).
    /// Namespaced objects without a namespace go to `default`. Returns the stored objects.
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

    /// Server-side apply one object as `manager` (forced). Applying identical content changes
    /// nothing (no new resourceVersion, no watch event).
    pub fn apply_as(&self, obj: Value, manager: &str) -> Result<Value, ApiError> {
        let (rt, version) = self
            .state
            .find_kind(str_of(&obj, "apiVersion")?, str_of(&obj, "kind")?)?;
        let opts = WriteOpts {
            dry_run: false,
            field_manager: Some(manager.into()),
            force: true,
        };
        self.state.patch(
            Scope::new(&rt, &version, &Self::ns_for(&obj)),
            &meta(&obj, "name"),
            PatchKind::Apply,
            &obj,
            &opts,
        )
    }

    /// Create an object (409 if it exists, 404 if its namespace does not).
    pub fn create(&self, obj: Value) -> Result<Value, ApiError> {
        let (rt, version) = self
            .state
            .find_kind(str_of(&obj, "apiVersion")?, str_of(&obj, "kind")?)?;
        let opts = WriteOpts {
            dry_run: false,
            field_manager: Some(SETUP_MANAGER.into()),
            force: false,
        };
        self.state
            .create(Scope::new(&rt, &version, &Self::ns_for(&obj)), obj, &opts)
    }

    /// Replace an object (PUT semantics, resourceVersion checked when present).
    pub fn update(&self, obj: Value) -> Result<Value, ApiError> {
        let (rt, version) = self
            .state
            .find_kind(str_of(&obj, "apiVersion")?, str_of(&obj, "kind")?)?;
        let opts = WriteOpts {
            dry_run: false,
            field_manager: Some(SETUP_MANAGER.into()),
            force: false,
        };
        let name = meta(&obj, "name");
        self.state.update(
            Scope::new(&rt, &version, &Self::ns_for(&obj)),
            &name,
            obj,
            &opts,
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
        self.setup_merge(api_version, kind, ns, name, &patch, false)
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
        self.setup_merge(
            api_version,
            kind,
            ns,
            name,
            &json!({ "status": status }),
            true,
        )
    }

    /// A merge patch by the setup field manager, of the object or of its status.
    fn setup_merge(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
        patch: &Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let (rt, version) = self.state.find_kind(api_version, kind)?;
        let opts = WriteOpts {
            dry_run: false,
            field_manager: Some(SETUP_MANAGER.into()),
            force: false,
        };
        self.state.patch(
            Scope::new(&rt, &version, ns).status_only(status_only),
            name,
            PatchKind::Merge,
            patch,
            &opts,
        )
    }

    /// Get an object (`ns` is ignored for cluster-scoped kinds).
    pub fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let (rt, version) = self.state.find_kind(api_version, kind).ok()?;
        self.state.get(Scope::new(&rt, &version, ns), name).ok()
    }

    /// List objects in a namespace (or all with `None`), filtered by a label selector string.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let (rt, version) = self.state.find_kind(api_version, kind)?;
        let labels = LabelSelector::parse(label_selector)?;
        Ok(self
            .state
            .list(&rt, &version, ns, &labels, &FieldSelector::default())
            .0)
    }

    /// Delete an object (404 if missing).
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let (rt, version) = self.state.find_kind(api_version, kind)?;
        self.state
            .delete(Scope::new(&rt, &version, ns), name, &WriteOpts::default())
    }

    /// Pin a Deployment's availability: `true` makes it Available now, `false` makes it
    /// unavailable and keeps it so until pinned again (the ready-delay reactor then leaves it).
    pub fn set_deployment_available(
        &self,
        ns: &str,
        name: &str,
        available: bool,
    ) -> Result<Value, ApiError> {
        lock(&self.state.pinned_availability).insert((ns.to_string(), name.to_string()), available);
        let d = self
            .get("apps/v1", "Deployment", ns, name)
            .ok_or_else(|| ApiError::not_found("apps", "deployments", name))?;
        let status = crate::reactors::deployment::status_for(&d, available);
        self.patch_status("apps/v1", "Deployment", ns, name, status)
    }

    /// Set an Argo CD Application's `status.sync.status` and `status.health.status`
    /// (creating a minimal Application if it does not exist).
    pub fn set_argo_application(
        &self,
        ns: &str,
        name: &str,
        sync: &str,
        health: &str,
    ) -> Result<Value, ApiError> {
        crate::reactors::argocd::set_application(self, ns, name, sync, health)
    }

    /// Inject a fault into this cluster's HTTP API.
    pub fn inject_fault(&self, fault: Fault) {
        if let Err(e) = lock(&self.state.faults).add(fault) {
            panic!("invalid fault path regex: {e}");
        }
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// Every HTTP request served so far, oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.state.log).clone()
    }

    /// How many TLS connections clients opened (each one handshake).
    pub fn connection_count(&self) -> usize {
        self.state
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many HTTP requests were served.
    pub fn request_count(&self) -> usize {
        lock(&self.state.log).len()
    }

    /// Forget the request log.
    pub fn clear_request_log(&self) {
        lock(&self.state.log).clear();
    }

    /// The current resourceVersion of the cluster.
    pub fn resource_version(&self) -> u64 {
        lock(&self.state.store).rv
    }

    /// Drop the watch history (like an etcd compaction): a watch from an older resourceVersion
    /// gets 410 Gone.
    pub fn compact(&self) {
        lock(&self.state.store).compact();
    }

    /// Subscribe to every change in this cluster (for tests that wait on state).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<StoreEvent>> {
        lock(&self.state.store).tx.subscribe()
    }

    /// Block until `cond` holds or `timeout` passes, re-checking on every change in this
    /// cluster (no fixed sleeps). For plain `#[test]` functions: it must not be called from
    /// inside an async runtime (use [`Cluster::wait_until_async`] there).
    pub fn wait_until(
        &self,
        timeout: std::time::Duration,
        cond: impl FnMut(&Cluster) -> bool,
    ) -> bool {
        self.handle.block_on(self.wait_until_async(timeout, cond))
    }

    /// Wait until `cond` holds or `timeout` passes, re-checking on every change in this cluster.
    pub async fn wait_until_async(
        &self,
        timeout: std::time::Duration,
        mut cond: impl FnMut(&Cluster) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.subscribe();
        loop {
            if cond(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => return cond(self),
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return cond(self),
                Ok(_) => {}
            }
        }
    }
}
