//! One simulated cluster's state and the API operations on it (shared by the HTTP server, the
//! direct-access handle and the reactors).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};

use crate::defaults;
use crate::error::ApiError;
use crate::faults::FaultSet;
use crate::managed;
use crate::patch::{self, PatchKind};
use crate::request_log::RequestRecord;
use crate::resources::{self, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{EventType, ObjKey, Store, StoreEvent};

const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Options of a write request.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`: validate and compute, store nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `force` (server-side apply).
    pub force: bool,
}

impl WriteOpts {
    fn manager(&self) -> String {
        self.field_manager
            .clone()
            .unwrap_or_else(|| "unknown".into())
    }
}

/// Where a request goes: a type at one of its served versions, a namespace (ignored for
/// cluster-scoped types), and whether a write addresses the status subresource.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The resource type.
    pub rt: &'a ResourceType,
    /// The version the request uses (objects are rendered at it).
    pub version: &'a str,
    /// The namespace, `""` for none.
    pub ns: &'a str,
    /// The write goes to the `status` subresource.
    pub status_only: bool,
}

impl<'a> Scope<'a> {
    /// A scope on the object itself (not its status).
    pub fn new(rt: &'a ResourceType, version: &'a str, ns: &'a str) -> Self {
        Scope {
            rt,
            version,
            ns,
            status_only: false,
        }
    }

    /// The same scope, on the status subresource when `status_only`.
    pub fn status_only(self, status_only: bool) -> Self {
        Scope {
            status_only,
            ..self
        }
    }
}

/// Per-cluster settings.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Delay before a Deployment becomes Available.
    pub deployment_ready_delay: Duration,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
}

/// A simulated cluster.
pub struct ClusterState {
    /// Cluster (and context) name.
    pub name: String,
    /// The bearer token clients must send.
    pub token: String,
    /// The `https://127.0.0.1:<port>` URL, set once bound.
    pub url: Mutex<String>,
    /// The objects.
    pub store: Mutex<Store>,
    /// Injected faults.
    pub faults: Mutex<FaultSet>,
    /// Every request served.
    pub log: Mutex<Vec<RequestRecord>>,
    /// TLS connections accepted (each a client's handshake).
    pub connections: std::sync::atomic::AtomicUsize,
    /// Settings.
    pub config: ClusterConfig,
    /// Deployments whose availability a test pinned: `(namespace, name) -> available`.
    pub pinned_availability: Mutex<std::collections::BTreeMap<(String, String), bool>>,
    /// The served types, and the CRDs (name, resourceVersion) they were made from.
    types_cache: Mutex<Option<TypesCache>>,
}

struct TypesCache {
    crds: Vec<(String, String)>,
    types: Arc<Vec<ResourceType>>,
}

/// Lock a mutex, ignoring poisoning (a panicking test thread must not wedge the simulator).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(rt: &ResourceType, ns: &str, name: &str) -> ObjKey {
    let ns = if rt.namespaced { ns } else { "" };
    (rt.key(), ns.to_string(), name.to_string())
}

/// Set an object's apiVersion to the requested version.
pub fn render(mut obj: Value, rt: &ResourceType, version: &str) -> Value {
    obj["apiVersion"] = json!(rt.api_version(version));
    obj["kind"] = json!(rt.kind);
    obj
}

fn name_of(obj: &Value) -> String {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn rv_str(obj: &Value) -> &str {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn rv_of(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(String::from)
}

/// The object without the fields the server owns, to tell whether a write changed anything.
fn content(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("resourceVersion");
        md.remove("managedFields");
        md.remove("generation");
    }
    o
}

/// Whether the API server keeps `metadata.generation` for a kind: only the kinds whose registry
/// strategy sets it (pkg/registry/apps/deployment/strategy.go PrepareForCreate, the CRD and
/// custom resource strategies in k8s.io/apiextensions-apiserver); ConfigMaps, Services,
/// Secrets, Namespaces, RBAC objects and Leases have none.
fn has_generation(rt: &ResourceType) -> bool {
    static BUILTINS: std::sync::OnceLock<Vec<ResourceType>> = std::sync::OnceLock::new();
    let builtin = BUILTINS
        .get_or_init(resources::builtins)
        .iter()
        .any(|b| b.group == rt.group && b.plural == rt.plural);
    !builtin || rt.group == "apps" || rt.group == "apiextensions.k8s.io"
}

fn spec_like(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}

impl ClusterState {
    /// A new, empty cluster.
    pub fn new(name: &str, token: &str, seed: u64, config: ClusterConfig) -> Arc<Self> {
        Arc::new(ClusterState {
            name: name.to_string(),
            token: token.to_string(),
            url: Mutex::new(String::new()),
            store: Mutex::new(Store::new(100, seed)),
            faults: Mutex::new(FaultSet::new(seed)),
            log: Mutex::new(Vec::new()),
            connections: Default::default(),
            config,
            pinned_availability: Mutex::new(Default::default()),
            types_cache: Mutex::new(None),
        })
    }

    /// Every served resource type: built-ins plus established CRDs. Made again only when a CRD
    /// was created, changed or deleted since the last call (every request resolves its type).
    pub fn types(&self) -> Arc<Vec<ResourceType>> {
        let store = lock(&self.store);
        let start = (CRD_KEY.to_string(), String::new(), String::new());
        let crds = || {
            store
                .objects
                .range(start.clone()..)
                .take_while(|((t, _, _), _)| t == CRD_KEY)
                .map(|((_, _, name), crd)| (name, rv_str(crd)))
        };
        let mut cache = lock(&self.types_cache);
        if let Some(c) = cache.as_ref()
            && c.crds.len() == crds().count()
            && c.crds
                .iter()
                .zip(crds())
                .all(|((n, rv), (n2, rv2))| n == n2 && rv == rv2)
        {
            return c.types.clone();
        }
        let mut all = resources::builtins();
        for ((t, _, _), crd) in store.objects.range(start.clone()..) {
            if t != CRD_KEY {
                break;
            }
            if let Some(rt) = resources::from_crd(crd) {
                all.push(rt);
            }
        }
        let types = Arc::new(all);
        *cache = Some(TypesCache {
            crds: crds().map(|(n, rv)| (n.clone(), rv.to_string())).collect(),
            types: types.clone(),
        });
        types
    }

    /// The CRD object defining a custom resource type, if it is one.
    pub fn crd_for(&self, rt: &ResourceType) -> Option<Value> {
        let k = (
            CRD_KEY.to_string(),
            String::new(),
            format!("{}.{}", rt.plural, rt.group),
        );
        lock(&self.store).objects.get(&k).cloned()
    }

    /// The type served at `/apis/<group>/<version>/<plural>`.
    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types()
            .iter()
            .find(|t| {
                t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version)
            })
            .cloned()
    }

    /// The type for an `apiVersion` and `kind`, and the version.
    pub fn find_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ResourceType, String), ApiError> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.types()
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
            .map(|t| (t.clone(), version.to_string()))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    format!("no matches for kind \"{kind}\" in version \"{api_version}\""),
                )
            })
    }

    /// Get one object.
    pub fn get(&self, at: Scope<'_>, name: &str) -> Result<Value, ApiError> {
        let store = lock(&self.store);
        store
            .objects
            .get(&key(at.rt, at.ns, name))
            .map(|o| render(o.clone(), at.rt, at.version))
            .ok_or_else(|| ApiError::not_found(&at.rt.group, &at.rt.plural, name))
    }

    /// List objects (all namespaces when `ns` is `None`) and the list's resourceVersion.
    pub fn list(
        &self,
        rt: &ResourceType,
        version: &str,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> (Vec<Value>, u64) {
        let store = lock(&self.store);
        let tk = rt.key();
        let items = store
            .objects
            .iter()
            .filter(|((t, n, _), _)| *t == tk && ns.is_none_or(|want| !rt.namespaced || want == n))
            .filter(|(_, o)| labels.matches(o) && fields.matches(o))
            .map(|(_, o)| render(o.clone(), rt, version))
            .collect();
        (items, store.rv)
    }

    fn check_namespace(&self, store: &Store, rt: &ResourceType, ns: &str) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        if ns.is_empty() {
            return Err(ApiError::bad_request(
                "an empty namespace may not be set during creation",
            ));
        }
        let nk = ("/namespaces".to_string(), String::new(), ns.to_string());
        if store.objects.contains_key(&nk) {
            Ok(())
        } else {
            Err(ApiError::not_found("", "namespaces", ns))
        }
    }

    /// Check the identity fields of a request body against the URL.
    fn normalize(&self, at: Scope<'_>, obj: &mut Value) -> Result<(), ApiError> {
        let Scope {
            rt, version, ns, ..
        } = at;
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was in an unknown format",
            ));
        }
        if let Some(k) = obj.get("kind").and_then(Value::as_str)
            && k != rt.kind
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({})",
                obj.get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                rt.api_version(version)
            )));
        }
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        if rt.namespaced {
            match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => obj["metadata"]["namespace"] = json!(ns),
            }
        } else if let Some(md) = obj["metadata"].as_object_mut() {
            md.remove("namespace");
        }
        obj["apiVersion"] = json!(rt.api_version(rt.versions[0].as_str()));
        obj["kind"] = json!(rt.kind);
        Ok(())
    }

    /// Create an object.
    pub fn create(
        &self,
        at: Scope<'_>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        if at.rt.read_only {
            return Err(ApiError::method_not_allowed());
        }
        self.normalize(at, &mut obj)?;
        let mut store = lock(&self.store);
        self.create_locked(&mut store, at, obj, opts, false)
    }

    /// Create under the store lock. With `applied`, `obj` is the result of a server-side apply
    /// and keeps the managedFields it carries (none when the apply owns no field); otherwise an
    /// `Update` entry is recorded.
    fn create_locked(
        &self,
        store: &mut Store,
        at: Scope<'_>,
        mut obj: Value,
        opts: &WriteOpts,
        applied: bool,
    ) -> Result<Value, ApiError> {
        let Scope {
            rt, version, ns, ..
        } = at;
        generate_name(store, rt, &mut obj)?;
        let name = name_of(&obj);
        defaults::validate_name(rt, &name)?;
        if rt.group == "apps" && rt.plural == "deployments" {
            defaults::validate_deployment(&obj)?;
        }
        self.check_namespace(store, rt, ns)?;
        let k = key(rt, ns, &name);
        if store.objects.contains_key(&k) {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        defaults::apply_defaults(rt, &mut obj, None, store);
        defaults::validate_size(rt, &obj)?;
        obj["metadata"]["uid"] = json!(store.new_uid());
        obj["metadata"]["creationTimestamp"] = json!(managed::now());
        if has_generation(rt) {
            obj["metadata"]["generation"] = json!(1);
        }
        let carried = obj["metadata"].as_object_mut().and_then(|md| {
            md.remove("resourceVersion");
            md.remove("managedFields")
        });
        if applied {
            // Absent stays absent: storing `null` would differ from what the next identical
            // apply computes and bump the resourceVersion once.
            if let Some(m) = carried.filter(|m| !m.is_null()) {
                obj["metadata"]["managedFields"] = m;
            }
        } else {
            managed::record_update(
                None,
                &mut obj,
                &opts.manager(),
                &rt.api_version(version),
                None,
            );
        }
        // dryRun=All: the object as created, uid and creationTimestamp filled, not stored, no
        // resourceVersion, no watch event (a name that exists was refused above with 409).
        // Kubernetes: staging/src/k8s.io/apiserver/pkg/registry/generic/registry/dryrun.go
        // `DryRunnableStorage.Create` (copyInto instead of storage.Create) after store.go's
        // `rest.BeforeCreate`.
        if opts.dry_run {
            return Ok(render(obj, rt, version));
        }
        self.commit(store, rt, k, None, obj.clone(), EventType::Added);
        let stored = store
            .objects
            .get(&key(rt, ns, &name))
            .cloned()
            .unwrap_or(obj);
        Ok(render(stored, rt, version))
    }

    /// Store `obj` under `k` with a new resourceVersion and emit the event.
    fn commit(
        &self,
        store: &mut Store,
        rt: &ResourceType,
        k: ObjKey,
        old: Option<Value>,
        mut obj: Value,
        kind: EventType,
    ) {
        let rv = store.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        store.objects.insert(k, obj.clone());
        store.emit(StoreEvent {
            rv,
            type_key: rt.key(),
            kind,
            object: obj,
            old,
        });
    }

    /// Finish an update: keep server-owned fields, bump generation, record managed fields
    /// (unless `managed_done`: a server-side apply computed them), store unless nothing changed.
    fn finish_update(
        &self,
        store: &mut Store,
        at: Scope<'_>,
        old: &Value,
        new: Value,
        opts: &WriteOpts,
        managed_done: bool,
    ) -> Result<Value, ApiError> {
        let Scope {
            rt,
            version,
            status_only,
            ..
        } = at;
        let mut new = keep_identity(old, new)?;
        if rt.group == "apps" && rt.plural == "deployments" && !status_only {
            defaults::validate_deployment(&new)?;
        }
        keep_status(at, old, &mut new);
        defaults::apply_defaults(rt, &mut new, Some(old), store);
        defaults::validate_size(rt, &new)?;
        if has_generation(rt) {
            new["metadata"]["generation"] = json!(next_generation(old, &new));
        } else if let Some(md) = new["metadata"].as_object_mut() {
            md.remove("generation");
        }
        if !managed_done {
            if let Some(m) = old.pointer("/metadata/managedFields") {
                new["metadata"]["managedFields"] = m.clone();
            }
            let sub = at.status_only.then_some("status");
            managed::record_update(
                Some(old),
                &mut new,
                &opts.manager(),
                &rt.api_version(version),
                sub,
            );
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if content(&new) == content(old)
            && new.pointer("/metadata/managedFields") == old.pointer("/metadata/managedFields")
        {
            return Ok(render(old.clone(), rt, version));
        }
        // dryRun=All: the updated object (managedFields as the field manager computed them, since
        // the apply/patch handler runs it before storage: staging/src/k8s.io/apiserver/pkg/
        // endpoints/handlers/patch.go), the old resourceVersion, nothing stored. Kubernetes:
        // staging/src/k8s.io/apiserver/pkg/registry/generic/registry/dryrun.go
        // `DryRunnableStorage.GuaranteedUpdate` (tryUpdate on the stored object, then copyInto).
        if opts.dry_run {
            return Ok(render(new, rt, version));
        }
        let ns = old
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let k = key(rt, ns, &name_of(old));
        self.commit(
            store,
            rt,
            k.clone(),
            Some(old.clone()),
            new,
            EventType::Modified,
        );
        Ok(render(store.objects[&k].clone(), rt, version))
    }

    /// Replace an object (PUT), checking resourceVersion.
    pub fn update(
        &self,
        at: Scope<'_>,
        name: &str,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let rt = at.rt;
        if rt.read_only {
            return Err(ApiError::method_not_allowed());
        }
        self.normalize(at, &mut obj)?;
        let mut store = lock(&self.store);
        let old = store
            .objects
            .get(&key(rt, at.ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if let Some(want) = rv_of(&obj)
            && Some(&want) != rv_of(&old).as_ref()
        {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        if let Some(md) = obj["metadata"].as_object_mut() {
            md.remove("managedFields");
        }
        self.finish_update(&mut store, at, &old, obj, opts, false)
    }

    /// Patch an object; server-side apply creates it when missing.
    pub fn patch(
        &self,
        at: Scope<'_>,
        name: &str,
        kind: PatchKind,
        body: &Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let rt = at.rt;
        if rt.read_only {
            return Err(ApiError::method_not_allowed());
        }
        let mut store = lock(&self.store);
        let Some(old) = store.objects.get(&key(rt, at.ns, name)).cloned() else {
            if kind != PatchKind::Apply {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            }
            return self.apply_create(&mut store, at, name, body, opts);
        };
        let mut new = old.clone();
        match kind {
            PatchKind::Merge => patch::merge_patch(&mut new, body),
            PatchKind::Strategic => patch::strategic_merge(&mut new, body),
            PatchKind::Json => patch::json_patch(&mut new, body)?,
            PatchKind::Apply => {
                let mut applied = body.clone();
                self.normalize(at, &mut applied)?;
                let applied = strip_status(at, &applied);
                new = managed::apply(
                    Some(&old),
                    &applied,
                    &apply_manager(opts)?,
                    opts.force,
                    &rt.api_version(at.version),
                )?;
                return self.finish_update(&mut store, at, &old, new, opts, true);
            }
        }
        if let Some(want) = rv_of(&new)
            && Some(&want) != rv_of(&old).as_ref()
        {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        self.finish_update(&mut store, at, &old, new, opts, false)
    }

    /// A server-side apply of an object that does not exist: create it.
    fn apply_create(
        &self,
        store: &mut Store,
        at: Scope<'_>,
        name: &str,
        body: &Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let mut applied = body.clone();
        self.normalize(at, &mut applied)?;
        if name_of(&applied) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&applied)
            )));
        }
        let created = managed::apply(
            None,
            &strip_status(at, &applied),
            &apply_manager(opts)?,
            opts.force,
            &at.rt.api_version(at.version),
        )?;
        self.create_locked(store, at, created, opts, true)
    }

    /// Delete an object (and, for a Namespace or a CRD, everything in it).
    pub fn delete(&self, at: Scope<'_>, name: &str, opts: &WriteOpts) -> Result<Value, ApiError> {
        let Scope {
            rt, version, ns, ..
        } = at;
        if rt.read_only {
            return Err(ApiError::method_not_allowed());
        }
        let mut store = lock(&self.store);
        let k = key(rt, ns, name);
        let old = store
            .objects
            .get(&k)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        // dryRun=All: the object as it is, after the existence check; nothing deleted. Kubernetes:
        // staging/src/k8s.io/apiserver/pkg/registry/generic/registry/dryrun.go
        // `DryRunnableStorage.Delete` (Get, preconditions, deleteValidation; no storage.Delete).
        if opts.dry_run {
            return Ok(render(old, rt, version));
        }
        let children: Vec<ObjKey> = if rt.key() == "/namespaces" {
            store
                .objects
                .keys()
                .filter(|(_, n, _)| n == name)
                .cloned()
                .collect()
        } else if rt.key() == CRD_KEY {
            let prefix = resources::from_crd(&old).map(|t| t.key());
            store
                .objects
                .keys()
                .filter(|(t, _, _)| Some(t) == prefix.as_ref())
                .cloned()
                .collect()
        } else {
            vec![]
        };
        for ck in children {
            remove(&mut store, ck);
        }
        let last = remove(&mut store, k).unwrap_or(old);
        Ok(render(last, rt, version))
    }
}

fn remove(store: &mut Store, k: ObjKey) -> Option<Value> {
    let mut obj = store.objects.remove(&k)?;
    let rv = store.next_rv();
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    store.emit(StoreEvent {
        rv,
        type_key: k.0.clone(),
        kind: EventType::Deleted,
        object: obj.clone(),
        old: None,
    });
    Some(obj)
}

/// Give a nameless object a name from its `generateName` (422 without one).
fn generate_name(store: &mut Store, rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if !name_of(obj).is_empty() {
        return Ok(());
    }
    let Some(prefix) = obj
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
    else {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            "",
            &[(
                "metadata.name",
                "Required value: name or generateName is required".into(),
            )],
        ));
    };
    let suffix: String = store
        .new_uid()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(5)
        .collect();
    obj["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
    Ok(())
}

/// The updated object with the name checked against the old one and the identity the server
/// owns (uid, creationTimestamp, namespace, apiVersion, kind) carried over.
fn keep_identity(old: &Value, mut new: Value) -> Result<Value, ApiError> {
    let name = name_of(old);
    if name_of(&new) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            name_of(&new)
        )));
    }
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    for f in ["uid", "creationTimestamp", "namespace"] {
        match old["metadata"].get(f) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                new["metadata"].as_object_mut().map(|m| m.remove(f));
            }
        }
    }
    new["apiVersion"] = old["apiVersion"].clone();
    new["kind"] = old["kind"].clone();
    Ok(new)
}

/// For a type with a status subresource: a write to the object keeps the old status, a write
/// to the status keeps everything else.
fn keep_status(at: Scope<'_>, old: &Value, new: &mut Value) {
    let rt = at.rt;
    if !(rt.has_status(at.version) || rt.status_versions.iter().any(|v| v == &rt.versions[0])) {
        return;
    }
    let status = if at.status_only {
        let status = new.get("status").cloned();
        *new = old.clone();
        status
    } else {
        old.get("status").cloned()
    };
    match status {
        Some(s) => new["status"] = s,
        None => {
            new.as_object_mut().map(|m| m.remove("status"));
        }
    }
}

/// The generation after an update: one more when anything but metadata and status changed.
fn next_generation(old: &Value, new: &Value) -> i64 {
    let generation = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if spec_like(new) != spec_like(old) {
        generation + 1
    } else {
        generation
    }
}

fn apply_manager(opts: &WriteOpts) -> Result<String, ApiError> {
    match opts.field_manager.as_deref() {
        Some(m) if !m.is_empty() => Ok(m.to_string()),
        _ => Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        )),
    }
}

fn strip_status(at: Scope<'_>, applied: &Value) -> Value {
    let mut a = applied.clone();
    if at.rt.has_status(at.version) && !at.status_only {
        a.as_object_mut().map(|m| m.remove("status"));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cluster() -> Arc<ClusterState> {
        let c = ClusterState::new(
            "t",
            "token",
            1,
            ClusterConfig {
                deployment_ready_delay: Duration::ZERO,
                bookmark_interval: Duration::from_secs(1),
            },
        );
        let ns = c.find_type("", "v1", "namespaces").unwrap();
        c.create(
            Scope::new(&ns, "v1", ""),
            json!({"metadata": {"name": "default"}}),
            &WriteOpts::default(),
        )
        .unwrap();
        c
    }

    fn opts() -> WriteOpts {
        WriteOpts {
            field_manager: Some("test".into()),
            ..Default::default()
        }
    }

    #[test]
    fn secrets_and_config_maps_hold_at_most_one_mebibyte() {
        use base64::Engine as _;
        let c = cluster();
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![b'x'; n]);
        let secrets = c.find_type("", "v1", "secrets").unwrap();
        let at = || Scope::new(&secrets, "v1", "default");
        let half = json!({"metadata": {"name": "s"}, "data": {"a": b64(512 * 1024)}});
        c.create(at(), half, &opts()).unwrap();
        // Growing it past 1 MiB by a patch is refused like a create would be.
        let body = json!({"data": {"b": b64(512 * 1024 + 1)}});
        let err = c
            .patch(at(), "s", PatchKind::Merge, &body, &opts())
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
        assert!(
            err.message
                .ends_with("data: Too long: may not be more than 1048576 bytes"),
            "{}",
            err.message
        );
        let body = json!({"data": {"b": b64(512 * 1024)}});
        c.patch(at(), "s", PatchKind::Merge, &body, &opts())
            .unwrap();
        let cms = c.find_type("", "v1", "configmaps").unwrap();
        let big = json!({"metadata": {"name": "c"}, "data": {"a": "y".repeat(1024 * 1024 + 1)}});
        let err = c
            .create(Scope::new(&cms, "v1", "default"), big, &opts())
            .unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn stale_resource_version_conflicts() {
        let c = cluster();
        let rt = c.find_type("", "v1", "configmaps").unwrap();
        let created = c
            .create(
                Scope::new(&rt, "v1", "default"),
                json!({"metadata": {"name": "a"}, "data": {"k": "1"}}),
                &opts(),
            )
            .unwrap();
        let mut first = created.clone();
        first["data"]["k"] = json!("2");
        let updated = c
            .update(Scope::new(&rt, "v1", "default"), "a", first, &opts())
            .unwrap();
        assert_ne!(
            updated["metadata"]["resourceVersion"],
            created["metadata"]["resourceVersion"]
        );
        let mut stale = created.clone();
        stale["data"]["k"] = json!("3");
        let err = c
            .update(Scope::new(&rt, "v1", "default"), "a", stale, &opts())
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
        // A merge patch carrying a stale resourceVersion conflicts too.
        let body = json!({"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"k": "4"}});
        let err = c
            .patch(
                Scope::new(&rt, "v1", "default"),
                "a",
                PatchKind::Merge,
                &body,
                &opts(),
            )
            .unwrap_err();
        assert_eq!(err.code, 409);
        // An update that changes nothing keeps the resourceVersion.
        let same = c
            .update(
                Scope::new(&rt, "v1", "default"),
                "a",
                updated.clone(),
                &opts(),
            )
            .unwrap();
        assert_eq!(
            same["metadata"]["resourceVersion"],
            updated["metadata"]["resourceVersion"]
        );
    }

    #[test]
    fn creates_need_a_valid_name_and_an_existing_namespace() {
        let c = cluster();
        let rt = c.find_type("", "v1", "configmaps").unwrap();
        let err = c
            .create(
                Scope::new(&rt, "v1", "default"),
                json!({"metadata": {}}),
                &opts(),
            )
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
        assert!(
            err.message.contains("metadata.name: Required value"),
            "{}",
            err.message
        );
        let err = c
            .create(
                Scope::new(&rt, "v1", "nope"),
                json!({"metadata": {"name": "x"}}),
                &opts(),
            )
            .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (404, "namespaces \"nope\" not found")
        );
        let err = c
            .create(
                Scope::new(&rt, "v1", "default"),
                json!({"metadata": {"name": "UPPER"}}),
                &opts(),
            )
            .unwrap_err();
        assert_eq!(err.code, 422);
        let dry = WriteOpts {
            dry_run: true,
            ..opts()
        };
        let rv = lock(&c.store).rv;
        c.create(
            Scope::new(&rt, "v1", "default"),
            json!({"metadata": {"name": "dry"}}),
            &dry,
        )
        .unwrap();
        assert_eq!(lock(&c.store).rv, rv);
        assert!(c.get(Scope::new(&rt, "v1", "default"), "dry").is_err());
    }

    /// Server-side apply `body` as `mcflow` (its type served at `v1`).
    fn apply_as_mcflow(c: &ClusterState, plural: &str, ns: &str, body: &Value) -> Value {
        let group = body["apiVersion"]
            .as_str()
            .and_then(|v| v.split_once('/'))
            .map_or("", |(g, _)| g);
        let rt = c.find_type(group, "v1", plural).unwrap();
        let opts = WriteOpts {
            field_manager: Some("mcflow".into()),
            ..Default::default()
        };
        c.patch(
            Scope::new(&rt, "v1", ns),
            &name_of(body),
            PatchKind::Apply,
            body,
            &opts,
        )
        .unwrap()
    }

    /// `(plural, namespace, applied object)` of the idempotent re-apply cases.
    fn reapply_cases() -> Vec<(&'static str, &'static str, Value)> {
        vec![
            // Nothing owned but the name (no managedFields at all), server-set labels, spec, status.
            (
                "namespaces",
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "zzz"}}),
            ),
            (
                "namespaces",
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lbl", "labels": {"a": "b"}}}),
            ),
            // stringData is rewritten into data and never stored.
            (
                "secrets",
                "default",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}),
            ),
            (
                "services",
                "default",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80}]}}),
            ),
            (
                "services",
                "default",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
            ),
            (
                "deployments",
                "default",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dep"}, "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}}}),
            ),
        ]
    }

    fn stored_by_uid(c: &ClusterState, uid: &Value) -> Value {
        lock(&c.store)
            .objects
            .values()
            .find(|o| &o["metadata"]["uid"] == uid)
            .cloned()
            .unwrap()
    }

    /// Age the managedFields times of the stored object, so that a refreshed time cannot hide
    /// within the same second.
    fn age_managed_fields(c: &ClusterState, uid: &Value) {
        let mut store = lock(&c.store);
        let obj = store
            .objects
            .values_mut()
            .find(|o| &o["metadata"]["uid"] == uid)
            .unwrap();
        for e in obj
            .pointer_mut("/metadata/managedFields")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            e["time"] = json!("2000-01-01T00:00:00Z");
        }
    }

    #[test]
    fn identical_reapply_is_a_no_op_from_the_first_reapply() {
        let c = cluster();
        for (plural, ns, body) in reapply_cases() {
            let first = apply_as_mcflow(&c, plural, ns, &body);
            let uid = first["metadata"]["uid"].clone();
            age_managed_fields(&c, &uid);
            let before = stored_by_uid(&c, &uid);
            let cluster_rv = lock(&c.store).rv;
            for round in 2..=3 {
                let again = apply_as_mcflow(&c, plural, ns, &body);
                assert_eq!(
                    again["metadata"]["resourceVersion"],
                    first["metadata"]["resourceVersion"],
                    "{plural}/{}: apply #{round} changed the object",
                    name_of(&body)
                );
                assert_eq!(stored_by_uid(&c, &uid), before);
                assert_eq!(lock(&c.store).rv, cluster_rv, "no write, no watch event");
            }
        }
    }

    #[test]
    fn watch_from_a_compacted_version_is_gone() {
        let c = cluster();
        let rt = c.find_type("", "v1", "configmaps").unwrap();
        c.create(
            Scope::new(&rt, "v1", "default"),
            json!({"metadata": {"name": "a"}}),
            &opts(),
        )
        .unwrap();
        lock(&c.store).compact();
        let req = crate::watch::WatchRequest {
            rt,
            version: "v1".into(),
            namespace: Some("default".into()),
            labels: Default::default(),
            fields: Default::default(),
            resource_version: Some("101".into()),
            bookmarks: false,
            send_initial_events: None,
            timeout: None,
            table: None,
        };
        let mut rx = crate::watch::start(c, req).unwrap();
        let line: Value = serde_json::from_slice(&rx.try_recv().unwrap()).unwrap();
        assert_eq!(line["type"], "ERROR");
        assert_eq!(line["object"]["code"], 410);
        assert_eq!(line["object"]["reason"], "Expired");
    }

    /// A dry-run server-side apply over a field another manager took returns the object as the
    /// apply would leave it (with force: the value back, the field owned by the applier again),
    /// with the stored resourceVersion, and stores nothing.
    #[test]
    fn dry_run_apply_returns_the_result_with_managed_fields_and_stores_nothing() {
        let c = cluster();
        let rt = c.find_type("", "v1", "configmaps").unwrap();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": "default"}, "data": {"a": "1"}});
        apply_as_mcflow(&c, "configmaps", "default", &body);
        let other = WriteOpts {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        };
        c.patch(
            Scope::new(&rt, "v1", "default"),
            "cm",
            PatchKind::Merge,
            &json!({"data": {"a": "2"}}),
            &other,
        )
        .unwrap();
        let stored = c.get(Scope::new(&rt, "v1", "default"), "cm").unwrap();
        let rv = lock(&c.store).rv;
        let dry = WriteOpts {
            dry_run: true,
            force: true,
            field_manager: Some("mcflow".into()),
        };
        let result = c
            .patch(
                Scope::new(&rt, "v1", "default"),
                "cm",
                PatchKind::Apply,
                &body,
                &dry,
            )
            .unwrap();
        assert_eq!(result["data"]["a"], "1");
        assert_eq!(
            result["metadata"]["resourceVersion"],
            stored["metadata"]["resourceVersion"]
        );
        let mcflow = managed::read(&result)
            .into_iter()
            .find(|m| m.manager == "mcflow")
            .unwrap();
        assert!(
            crate::fieldpath::to_fields_v1(&mcflow.fields)
                .to_string()
                .contains("f:a")
        );
        assert_eq!(lock(&c.store).rv, rv, "nothing stored");
        assert_eq!(
            c.get(Scope::new(&rt, "v1", "default"), "cm").unwrap(),
            stored
        );
    }
}
