//! The resource types a simulated cluster serves: built-in kinds plus custom resources from CRDs.

use serde_json::{Value, json};

/// One served resource type (for all its served versions).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    /// Served versions; the first is the preferred (storage) version.
    pub versions: Vec<String>,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names such as `deploy`.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Versions that have a `status` subresource.
    pub status_versions: Vec<String>,
    /// Only get/list/watch are served (e.g. Pods: nothing runs here).
    pub read_only: bool,
}

impl ResourceType {
    /// The storage key of this type: `<group>/<plural>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// `apiVersion` for a version of this type.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// Whether `version` has a status subresource.
    pub fn has_status(&self, version: &str) -> bool {
        self.status_versions.iter().any(|v| v == version)
    }

    /// Verbs as discovery lists them.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.read_only {
            vec!["get", "list", "watch"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

/// A built-in kind, served at `v1` of its group.
struct Builtin {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    /// In the `all` category.
    all: bool,
    /// Has a `status` subresource.
    status: bool,
    /// Only get/list/watch are served.
    read_only: bool,
}

impl Builtin {
    const fn new(group: &'static str, kind: &'static str, plural: &'static str) -> Self {
        Builtin {
            group,
            kind,
            plural,
            namespaced: true,
            short_names: &[],
            all: false,
            status: false,
            read_only: false,
        }
    }

    const fn cluster_scoped(self) -> Self {
        Builtin {
            namespaced: false,
            ..self
        }
    }

    const fn short(self, short_names: &'static [&'static str]) -> Self {
        Builtin {
            short_names,
            ..self
        }
    }

    const fn in_all(self) -> Self {
        Builtin { all: true, ..self }
    }

    const fn with_status(self) -> Self {
        Builtin {
            status: true,
            ..self
        }
    }

    const fn read_only(self) -> Self {
        Builtin {
            read_only: true,
            ..self
        }
    }

    fn resource_type(&self) -> ResourceType {
        let version = "v1".to_string();
        ResourceType {
            group: self.group.into(),
            versions: vec![version.clone()],
            kind: self.kind.into(),
            plural: self.plural.into(),
            singular: self.kind.to_lowercase(),
            namespaced: self.namespaced,
            short_names: self.short_names.iter().map(|s| s.to_string()).collect(),
            categories: if self.all { vec!["all".into()] } else { vec![] },
            status_versions: if self.status { vec![version] } else { vec![] },
            read_only: self.read_only,
        }
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";

/// The built-in kinds, in the order discovery lists them.
const BUILTINS: &[Builtin] = &[
    Builtin::new("", "Namespace", "namespaces")
        .cluster_scoped()
        .short(&["ns"])
        .with_status(),
    Builtin::new("", "ConfigMap", "configmaps").short(&["cm"]),
    Builtin::new("", "Secret", "secrets"),
    Builtin::new("", "Service", "services")
        .short(&["svc"])
        .in_all()
        .with_status(),
    Builtin::new("", "ServiceAccount", "serviceaccounts").short(&["sa"]),
    Builtin::new("", "Endpoints", "endpoints").short(&["ep"]),
    Builtin::new("", "Event", "events").short(&["ev"]),
    Builtin::new("", "Pod", "pods")
        .short(&["po"])
        .in_all()
        .with_status()
        .read_only(),
    Builtin::new("apps", "Deployment", "deployments")
        .short(&["deploy"])
        .in_all()
        .with_status(),
    Builtin::new(RBAC, "ClusterRole", "clusterroles").cluster_scoped(),
    Builtin::new(RBAC, "ClusterRoleBinding", "clusterrolebindings").cluster_scoped(),
    Builtin::new(RBAC, "Role", "roles"),
    Builtin::new(RBAC, "RoleBinding", "rolebindings"),
    Builtin::new("coordination.k8s.io", "Lease", "leases"),
    Builtin::new(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    )
    .cluster_scoped()
    .short(&["crd", "crds"])
    .with_status(),
];

/// The built-in kinds every simulated cluster serves.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS.iter().map(Builtin::resource_type).collect()
}

/// The resource type a CRD object defines, if it is well formed.
pub fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let all_versions = spec.get("versions")?.as_array()?;
    let served: Vec<&Value> = all_versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .collect();
    // Preferred version first: the storage version, then the rest in order.
    let mut versions: Vec<String> = served
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name")?.as_str().map(String::from))
        .collect();
    for v in &served {
        if let Some(n) = v.get("name").and_then(Value::as_str)
            && !versions.iter().any(|x| x == n)
        {
            versions.push(n.to_string());
        }
    }
    if versions.is_empty() {
        return None;
    }
    let status_versions = served
        .iter()
        .filter(|v| v.pointer("/subresources/status").is_some())
        .filter_map(|v| v.get("name")?.as_str().map(String::from))
        .collect();
    let kind = names.get("kind")?.as_str()?.to_string();
    Some(ResourceType {
        group: spec.get("group")?.as_str()?.to_string(),
        versions,
        singular: names
            .get("singular")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| kind.to_lowercase()),
        kind,
        plural: names.get("plural")?.as_str()?.to_string(),
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        status_versions,
        read_only: false,
    })
}

/// The `APIResource` entry discovery lists for a type.
pub fn api_resource(rt: &ResourceType) -> Value {
    let mut r = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": rt.verbs(),
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    r
}
