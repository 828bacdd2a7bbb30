//! Resolving a kind to its REST resource (plural, scope), cached per context for a run.
//!
//! Cost model, because every request counts against a busy API server:
//! - Built-in kinds (Secret, Deployment, ClusterRole, CustomResourceDefinition, ...) are resolved
//!   from k8s-openapi's static metadata: no request at all.
//! - Any other kind is resolved from its group-version's resource list
//!   (`GET /apis/<group>/<version>`), fetched once per context per run and cached; a kind missing
//!   from a cached list (a CRD applied a moment ago) refreshes that list once.
//! - A kind named without `api_version` that is not built in is looked up in a small table of
//!   well-known custom kinds (Linkerd's Link, Argo CD's Application...), whose group's preferred
//!   version costs one more cached request (`GET /apis`).
//!
//! So applying N objects costs, per cluster, one resource-list request per custom group-version
//! named in the manifest (typically one, for the Link) plus one request per object.

use std::collections::HashMap;
use std::sync::Arc;

use ::kube::Client;
use ::kube::core::{ApiResource, GroupVersionKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;

use super::error::{KubeError, KubeErrorKind};
use super::retry::RequestRetry;

/// A kind resolved to what requests need: its REST resource and whether it is namespaced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// The discovery cache of one context for one run.
#[derive(Default)]
pub(crate) struct DiscoveryCache {
    lists: tokio::sync::Mutex<HashMap<String, Arc<Vec<Resolved>>>>,
    preferred: tokio::sync::Mutex<HashMap<String, String>>,
}

trait ScopeFlag {
    const NAMESPACED: bool;
}
impl ScopeFlag for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl ScopeFlag for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}

fn typed<T>() -> Resolved
where
    T: k8s_openapi::Resource,
    T::Scope: ScopeFlag,
{
    Resolved {
        resource: ApiResource {
            group: T::GROUP.to_string(),
            version: T::VERSION.to_string(),
            api_version: T::API_VERSION.to_string(),
            kind: T::KIND.to_string(),
            plural: T::URL_PATH_SEGMENT.to_string(),
        },
        namespaced: <T::Scope as ScopeFlag>::NAMESPACED,
    }
}

/// Kinds every conformant API server serves, resolved without asking it.
fn builtin() -> &'static [Resolved] {
    use k8s_openapi::api::{
        admissionregistration::v1 as adm, apps::v1 as apps, autoscaling::v2 as hpa,
        batch::v1 as batch, coordination::v1 as coord, core::v1 as core, discovery::v1 as disc,
        networking::v1 as net, policy::v1 as policy, rbac::v1 as rbac,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    static TABLE: std::sync::OnceLock<Vec<Resolved>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        vec![
            typed::<core::ConfigMap>(),
            typed::<core::Secret>(),
            typed::<core::Service>(),
            typed::<core::ServiceAccount>(),
            typed::<core::Namespace>(),
            typed::<core::Pod>(),
            typed::<core::Endpoints>(),
            typed::<core::PersistentVolumeClaim>(),
            typed::<core::PersistentVolume>(),
            typed::<core::Node>(),
            typed::<core::Event>(),
            typed::<core::LimitRange>(),
            typed::<core::ResourceQuota>(),
            typed::<apps::Deployment>(),
            typed::<apps::StatefulSet>(),
            typed::<apps::DaemonSet>(),
            typed::<apps::ReplicaSet>(),
            typed::<rbac::Role>(),
            typed::<rbac::RoleBinding>(),
            typed::<rbac::ClusterRole>(),
            typed::<rbac::ClusterRoleBinding>(),
            typed::<batch::Job>(),
            typed::<batch::CronJob>(),
            typed::<net::Ingress>(),
            typed::<net::NetworkPolicy>(),
            typed::<disc::EndpointSlice>(),
            typed::<policy::PodDisruptionBudget>(),
            typed::<coord::Lease>(),
            typed::<hpa::HorizontalPodAutoscaler>(),
            typed::<adm::ValidatingWebhookConfiguration>(),
            typed::<adm::MutatingWebhookConfiguration>(),
            typed::<apiext::CustomResourceDefinition>(),
        ]
    })
}

/// Custom kinds mcflow's workflows name, with their group, for steps that omit `api_version`.
const WELL_KNOWN_GROUPS: &[(&str, &str)] = &[
    ("Link", "multicluster.linkerd.io"),
    ("Application", "argoproj.io"),
    ("ApplicationSet", "argoproj.io"),
    ("AppProject", "argoproj.io"),
    ("Server", "policy.linkerd.io"),
    ("ServerAuthorization", "policy.linkerd.io"),
    ("AuthorizationPolicy", "policy.linkerd.io"),
    ("MeshTLSAuthentication", "policy.linkerd.io"),
    ("ServiceProfile", "linkerd.io"),
];

fn find_builtin(api_version: Option<&str>, kind: &str) -> Option<Resolved> {
    builtin()
        .iter()
        .find(|r| {
            r.resource.kind == kind && api_version.is_none_or(|v| v == r.resource.api_version)
        })
        .or_else(|| {
            builtin().iter().find(|r| {
                r.resource.kind.eq_ignore_ascii_case(kind)
                    && api_version.is_none_or(|v| v == r.resource.api_version)
            })
        })
        .cloned()
}

fn parse_list(list: &APIResourceList) -> Vec<Resolved> {
    let (group, version) = match list.group_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", list.group_version.as_str()),
    };
    let gvk = |kind: &str| -> Option<GroupVersionKind> {
        Some(GroupVersionKind::gvk(group, version, kind))
    };
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .filter_map(|r| {
            let gvk = gvk(&r.kind)?;
            Some(Resolved {
                resource: ApiResource::from_gvk_with_plural(&gvk, &r.name),
                namespaced: r.namespaced,
            })
        })
        .collect()
}

fn find_in(list: &[Resolved], kind: &str) -> Option<Resolved> {
    list.iter()
        .find(|r| r.resource.kind == kind)
        .or_else(|| {
            list.iter()
                .find(|r| r.resource.kind.eq_ignore_ascii_case(kind))
        })
        .cloned()
}

impl DiscoveryCache {
    /// Resolves `kind` in `api_version` (or, without one, from the built-in and well-known
    /// tables). `context` is only for messages.
    pub(crate) async fn resolve(
        &self,
        client: &Client,
        context: &str,
        api_version: Option<&str>,
        kind: &str,
    ) -> Result<Resolved, KubeError> {
        if let Some(found) = find_builtin(api_version, kind) {
            return Ok(found);
        }
        let api_version = match api_version {
            Some(v) => v.to_string(),
            None => self.preferred_version_of(client, context, kind).await?,
        };
        let (list, fresh) = self.list(client, context, &api_version, false).await?;
        if let Some(found) = find_in(&list, kind) {
            return Ok(found);
        }
        let list = if fresh {
            list
        } else {
            self.list(client, context, &api_version, true).await?.0
        };
        find_in(&list, kind).ok_or_else(|| unknown_kind(context, &api_version, kind))
    }

    /// The resource list of `api_version`, from the cache unless `refresh`; and whether it was
    /// fetched just now.
    async fn list(
        &self,
        client: &Client,
        context: &str,
        api_version: &str,
        refresh: bool,
    ) -> Result<(Arc<Vec<Resolved>>, bool), KubeError> {
        // Held across the fetch, so parallel steps on one context never fetch a list twice.
        let mut lists = self.lists.lock().await;
        if !refresh && let Some(list) = lists.get(api_version) {
            return Ok((list.clone(), false));
        }
        let what = format!("discover {api_version} on context {context}");
        let fetched = RequestRetry::default()
            .run(&what, || async {
                let res = if api_version.contains('/') {
                    client.list_api_group_resources(api_version).await
                } else {
                    client.list_core_api_resources(api_version).await
                };
                res.map_err(KubeError::from)
            })
            .await;
        let list = match fetched {
            Ok(list) => Arc::new(parse_list(&list)),
            // A group-version nobody serves (yet): an empty list, cached like any other answer.
            Err(e) if e.kind == KubeErrorKind::NotFound => Arc::new(Vec::new()),
            Err(e) => return Err(e.context(&what)),
        };
        lists.insert(api_version.to_string(), list.clone());
        Ok((list, true))
    }

    async fn preferred_version_of(
        &self,
        client: &Client,
        context: &str,
        kind: &str,
    ) -> Result<String, KubeError> {
        let Some((_, group)) = WELL_KNOWN_GROUPS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(kind))
        else {
            return Err(KubeError::invalid(format!(
                "{kind} is not a built-in kind: give its `api_version` (e.g. example.com/v1)"
            )));
        };
        let mut preferred = self.preferred.lock().await;
        if let Some(v) = preferred.get(*group) {
            return Ok(v.clone());
        }
        if preferred.is_empty() {
            let what = format!("discover API groups on context {context}");
            let groups = RequestRetry::default()
                .run(&what, || async {
                    client.list_api_groups().await.map_err(KubeError::from)
                })
                .await
                .map_err(|e| e.context(&what))?;
            for g in groups.groups {
                let version = g
                    .preferred_version
                    .map(|v| v.group_version)
                    .or_else(|| g.versions.first().map(|v| v.group_version.clone()));
                if let Some(version) = version {
                    preferred.insert(g.name, version);
                }
            }
        }
        preferred
            .get(*group)
            .cloned()
            .ok_or_else(|| unknown_kind(context, group, kind))
    }
}

fn unknown_kind(context: &str, api_version: &str, kind: &str) -> KubeError {
    KubeError::new(
        KubeErrorKind::NotFound,
        format!(
            "context {context} does not serve kind {kind} in {api_version} (is its CustomResourceDefinition installed?)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_resolve_without_requests() {
        let secret = find_builtin(None, "Secret").unwrap();
        assert_eq!(secret.resource.plural, "secrets");
        assert_eq!(secret.resource.api_version, "v1");
        assert!(secret.namespaced);
        let crb = find_builtin(Some("rbac.authorization.k8s.io/v1"), "ClusterRoleBinding").unwrap();
        assert!(!crb.namespaced);
        assert_eq!(crb.resource.plural, "clusterrolebindings");
        let deploy = find_builtin(None, "deployment").unwrap();
        assert_eq!(deploy.resource.api_version, "apps/v1");
        // A different version of a built-in kind goes to discovery.
        assert!(find_builtin(Some("apps/v1beta1"), "Deployment").is_none());
        assert!(find_builtin(None, "Link").is_none());
    }

    #[test]
    fn parses_resource_lists() {
        let list: APIResourceList = serde_json::from_value(serde_json::json!({
            "groupVersion": "multicluster.linkerd.io/v1alpha2",
            "resources": [
                {"name": "links", "singularName": "link", "namespaced": true, "kind": "Link", "verbs": ["get"]},
                {"name": "links/status", "singularName": "", "namespaced": true, "kind": "Link", "verbs": ["get"]}
            ]
        }))
        .unwrap();
        let parsed = parse_list(&list);
        assert_eq!(parsed.len(), 1);
        let link = find_in(&parsed, "Link").unwrap();
        assert_eq!(link.resource.group, "multicluster.linkerd.io");
        assert_eq!(link.resource.version, "v1alpha2");
        assert_eq!(link.resource.plural, "links");
        assert!(link.namespaced);
    }
}
