//! Discovery documents: `/version`, `/api`, `/apis`, group versions and aggregated discovery.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::resources::{ResourceType, api_resource};

/// The Kubernetes version the simulator claims to be.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "emulationMajor": "1",
        "emulationMinor": "32",
        "gitVersion": "v1.32.4",
        "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:02:27Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// Groups with their versions in preference order.
fn groups(types: &[ResourceType]) -> Vec<(String, Vec<String>)> {
    let mut order: Vec<String> = Vec::new();
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        if !order.contains(&t.group) {
            order.push(t.group.clone());
        }
        let vs = versions.entry(t.group.clone()).or_default();
        for v in &t.versions {
            if !vs.contains(v) {
                vs.push(v.clone());
            }
        }
    }
    order
        .into_iter()
        .map(|g| {
            let mut vs = versions.remove(&g).unwrap_or_default();
            vs.sort_by(|a, b| kube_aware_cmp(b, a));
            (g, vs)
        })
        .collect()
}

/// Kubernetes' version priority (GA > beta > alpha, then the higher major, then the higher
/// minor; a name that is not `vN[alpha|betaM]` after all of them, alphabetically):
/// k8s.io/apimachinery/pkg/version/helpers.go `CompareKubeAwareVersionStrings` @v0.33.13. A
/// group's preferred version is the first of its served versions in that order, whatever the
/// storage version: k8s.io/apiextensions-apiserver/pkg/apiserver/
/// customresource_discovery_controller.go `sortGroupDiscoveryByKubeAwareVersion` @v0.33.13.
pub fn kube_aware_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    // (stability: 2 GA, 1 beta, 0 alpha; major; minor)
    fn key(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: u64 = rest[..digits].parse().ok()?;
        if major == 0 {
            return None;
        }
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((2, major, 0));
        }
        let (stability, minor) = if let Some(m) = tail.strip_prefix("beta") {
            (1, m)
        } else {
            (0, tail.strip_prefix("alpha")?)
        };
        Some((stability, major, minor.parse().ok()?))
    }
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Greater,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (None, None) => b.cmp(a),
    }
}

/// `/apis`.
pub fn group_list(types: &[ResourceType]) -> Value {
    let groups: Vec<Value> = groups(types)
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0].clone()})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>` (an `APIGroup`), if the group exists.
pub fn group(types: &[ResourceType], group: &str) -> Option<Value> {
    let gl = group_list(types);
    let g = gl["groups"]
        .as_array()?
        .iter()
        .find(|g| g["name"] == group)?
        .clone();
    let mut g = g;
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

/// `/api/v1` or `/apis/<group>/<version>` (an `APIResourceList`), if served.
pub fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for t in types
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
    {
        resources.push(api_resource(t));
        if t.has_status(version) {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn discovery_resource(t: &ResourceType, version: &str) -> Value {
    let mut r = json!({
        "resource": t.plural,
        "responseKind": {"group": t.group, "version": version, "kind": t.kind},
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": t.verbs(),
    });
    if !t.short_names.is_empty() {
        r["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        r["categories"] = json!(t.categories);
    }
    if t.has_status(version) {
        r["subresources"] = json!([{
            "subresource": "status",
            "responseKind": {"group": t.group, "version": version, "kind": t.kind},
            "verbs": ["get", "patch", "update"]
        }]);
    }
    r
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`) for `/api`
/// (`core = true`) or `/apis`.
pub fn aggregated(types: &[ResourceType], core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = if core {
        let resources: Vec<Value> = types
            .iter()
            .filter(|t| t.group.is_empty())
            .map(|t| discovery_resource(t, "v1"))
            .collect();
        vec![json!({
            "metadata": {"creationTimestamp": null},
            "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}]
        })]
    } else {
        groups(types)
            .into_iter()
            .map(|(g, vs)| {
                let versions: Vec<Value> = vs
                    .iter()
                    .map(|v| {
                        let resources: Vec<Value> = types
                            .iter()
                            .filter(|t| t.group == g && t.versions.contains(v))
                            .map(|t| discovery_resource(t, v))
                            .collect();
                        json!({"version": v, "resources": resources, "freshness": "Current"})
                    })
                    .collect();
                json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
            })
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items
    })
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of group-version documents.
pub fn openapi_v3_root(types: &[ResourceType]) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs: Vec<(String, String)> = Vec::new();
    for t in types {
        for v in &t.versions {
            let gv = (t.group.clone(), v.clone());
            if !gvs.contains(&gv) {
                gvs.push(gv);
            }
        }
    }
    for (g, v) in gvs {
        let p = gv_path(&g, &v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=0000000000000000")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<gv path>`: a minimal OpenAPI document for one group version, with the PATCH
/// operations and their query parameters (what kubectl reads to know that the server validates
/// fields itself) and open object schemas.
pub fn openapi_v3_gv(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    let served: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .collect();
    if served.is_empty() {
        return None;
    }
    let prefix = format!("/{}", gv_path(group, version));
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
    ]);
    for t in served {
        let gvk = json!({"group": t.group, "version": version, "kind": t.kind});
        let schema_name = if t.group.is_empty() {
            format!("io.k8s.api.core.{version}.{}", t.kind)
        } else {
            let rev: Vec<&str> = t.group.split('.').rev().collect();
            format!("{}.{version}.{}", rev.join("."), t.kind)
        };
        schemas.insert(
            schema_name.clone(),
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-group-version-kind": [gvk]}),
        );
        let item = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let op = |verb: &str| {
            json!({
                "operationId": format!("{verb}{}", t.kind),
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}}}}
            })
        };
        paths.insert(item, json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.4"},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}

#[cfg(test)]
mod tests {
    use super::kube_aware_cmp;

    #[test]
    fn versions_sort_as_kubernetes_sorts_them() {
        // The example of apimachinery/pkg/version/helpers.go @v0.33.13.
        let mut vs = vec![
            "foo10",
            "v11alpha2",
            "v1",
            "v12alpha1",
            "v3beta1",
            "v10beta3",
            "foo1",
            "v2",
            "v11beta2",
            "v10",
        ];
        vs.sort_by(|a, b| kube_aware_cmp(b, a));
        assert_eq!(
            vs,
            [
                "v10",
                "v2",
                "v1",
                "v11beta2",
                "v10beta3",
                "v3beta1",
                "v12alpha1",
                "v11alpha2",
                "foo1",
                "foo10"
            ]
        );
    }
}
