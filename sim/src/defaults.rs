//! What the API server fills in on write: per-kind defaults and validation of names.

use base64::Engine;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::resources::ResourceType;
use crate::store::Store;

/// Whether `s` is a lowercase RFC 1123 subdomain.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Whether `s` is a lowercase RFC 1123 label.
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && is_dns_subdomain(s)
}

/// Secrets and ConfigMaps hold at most 1 MiB of data, as the API server's validation says
/// (kubernetes pkg/apis/core/types.go `MaxSecretSize = 1 * 1024 * 1024`; the checks in
/// pkg/apis/core/validation/validation.go ValidateSecret, over `data`, and ValidateConfigMap,
/// over `data` and `binaryData`, with field.TooLong's message "may not be more than N bytes").
pub fn validate_size(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    const MAX_SECRET_SIZE: usize = 1024 * 1024;
    if !rt.group.is_empty() {
        return Ok(());
    }
    let decoded = |v: &Value| {
        let s = v.as_str().unwrap_or_default();
        let pad = s.bytes().rev().take_while(|b| *b == b'=').count();
        (s.len() / 4 * 3).saturating_sub(pad)
    };
    let sum = |field: &str, f: &dyn Fn(&Value) -> usize| {
        obj.get(field)
            .and_then(Value::as_object)
            .map_or(0, |m| m.values().map(f).sum::<usize>())
    };
    let (total, field) = match rt.plural.as_str() {
        "secrets" => (sum("data", &decoded), "data"),
        "configmaps" => {
            let text = |v: &Value| v.as_str().map_or(0, str::len);
            (sum("data", &text) + sum("binaryData", &decoded), "")
        }
        _ => return Ok(()),
    };
    if total <= MAX_SECRET_SIZE {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(ApiError::invalid(
        &rt.group,
        &rt.kind,
        name,
        &[(
            field,
            format!("Too long: may not be more than {MAX_SECRET_SIZE} bytes"),
        )],
    ))
}

/// Check the name of a new object (422 Invalid like the API server).
pub fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let label_only = matches!(rt.plural.as_str(), "namespaces" | "services");
    if label_only && !is_dns_label(name) {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            &[(
                "metadata.name",
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                ),
            )],
        ));
    }
    // RBAC names may contain ':' (system:...).
    let rbac = rt.group == "rbac.authorization.k8s.io";
    let ok = if rbac {
        !name.is_empty() && !name.contains('/') && name != "." && name != ".."
    } else {
        is_dns_subdomain(name)
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            &[(
                "metadata.name",
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                ),
            )],
        ))
    }
}

/// Fill in server-side defaults for a kind. `old` is the previous state on update.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value, old: Option<&Value>, store: &Store) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            obj["spec"]["finalizers"] = json!(["kubernetes"]);
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "secrets") => {
            if let Some(sd) = obj.get("stringData").and_then(Value::as_object).cloned() {
                for (k, v) in sd {
                    let enc = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or_default());
                    obj["data"][k] = json!(enc);
                }
                obj.as_object_mut().map(|m| m.remove("stringData"));
            }
            if obj
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
            {
                obj["type"] = json!("Opaque");
            }
        }
        ("", "services") => default_service(obj, old, store),
        ("apps", "deployments") if obj.get("spec").is_some_and(Value::is_object) => {
            default_deployment(obj)
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let stored: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect();
            obj["status"] = json!({
                "acceptedNames": names,
                "storedVersions": stored,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": crate::managed::now()},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": crate::managed::now()}
                ]
            });
        }
        _ => {}
    }
}

/// Set `obj[key]` to `value` when absent.
fn or_default(obj: &mut Value, key: &str, value: Value) {
    if obj.get(key).is_none()
        && let Some(m) = obj.as_object_mut()
    {
        m.insert(key.to_string(), value);
    }
}

/// A Deployment's defaults, as SetDefaults_Deployment (pkg/apis/apps/v1/defaults.go) and the pod
/// template's, as SetDefaults_PodSpec, SetDefaults_Container and SetDefaults_ContainerPort
/// (pkg/apis/core/v1/defaults.go) fill them in.
fn default_deployment(obj: &mut Value) {
    let spec = &mut obj["spec"];
    or_default(spec, "replicas", json!(1));
    or_default(spec, "revisionHistoryLimit", json!(10));
    or_default(spec, "progressDeadlineSeconds", json!(600));
    or_default(spec, "strategy", json!({}));
    or_default(&mut spec["strategy"], "type", json!("RollingUpdate"));
    if spec["strategy"]["type"] == "RollingUpdate" {
        or_default(&mut spec["strategy"], "rollingUpdate", json!({}));
        let ru = &mut spec["strategy"]["rollingUpdate"];
        or_default(ru, "maxUnavailable", json!("25%"));
        or_default(ru, "maxSurge", json!("25%"));
    }
    // The template's ObjectMeta is a struct whose zero creationTimestamp Go serialises as
    // `null` (metav1.Time has no omitzero in 1.33): a real server always shows it.
    if spec.get("template").is_some_and(Value::is_object) {
        or_default(&mut spec["template"], "metadata", json!({}));
        or_default(
            &mut spec["template"]["metadata"],
            "creationTimestamp",
            Value::Null,
        );
    }
    let Some(pod) = spec.pointer_mut("/template/spec").filter(|p| p.is_object()) else {
        return;
    };
    or_default(pod, "restartPolicy", json!("Always"));
    or_default(pod, "terminationGracePeriodSeconds", json!(30));
    or_default(pod, "dnsPolicy", json!("ClusterFirst"));
    or_default(pod, "securityContext", json!({}));
    or_default(pod, "schedulerName", json!("default-scheduler"));
    for list in ["initContainers", "containers"] {
        for c in pod
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            // IfNotPresent, unless the image has no tag or the tag `latest` (and no digest).
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let last = image.rsplit('/').next().unwrap_or(image);
            let pull = if !image.contains('@')
                && last.split_once(':').is_none_or(|(_, tag)| tag == "latest")
            {
                "Always"
            } else {
                "IfNotPresent"
            };
            or_default(c, "imagePullPolicy", json!(pull));
            or_default(c, "terminationMessagePath", json!("/dev/termination-log"));
            or_default(c, "terminationMessagePolicy", json!("File"));
            or_default(c, "resources", json!({}));
            for p in c
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                or_default(p, "protocol", json!("TCP"));
            }
        }
    }
}

/// A Deployment's spec checks that a real API server makes and the simulator follows: the
/// selector must match the template's labels (ValidateDeploymentSpec in
/// pkg/apis/apps/validation/validation.go), else 422 with its wording.
pub fn validate_deployment(obj: &Value) -> Result<(), ApiError> {
    let Some(selector) = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Go's %#v of a map[string]string: keys sorted, `"k":"v"` joined by ", ".
    let shown: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{:?}:{:?}", k, v.as_str().unwrap_or_default()))
        .collect();
    let mut shown = shown;
    shown.sort();
    Err(ApiError::invalid(
        "apps",
        "Deployment",
        name,
        &[(
            "spec.template.metadata.labels",
            format!(
                "Invalid value: map[string]string{{{}}}: `selector` does not match template `labels`",
                shown.join(", ")
            ),
        )],
    ))
}

fn default_service(obj: &mut Value, old: Option<&Value>, store: &Store) {
    if !obj.get("spec").is_some_and(Value::is_object) {
        obj["spec"] = json!({});
    }
    // SetDefaults_Service (pkg/apis/core/v1/defaults.go) and the IP family defaults the
    // service REST storage fills in for a single-stack IPv4 cluster
    // (pkg/registry/core/service/storage/alloc.go); status.loadBalancer is always present.
    if obj
        .pointer("/status/loadBalancer")
        .is_none_or(|lb| !lb.is_object())
    {
        if !obj.get("status").is_some_and(Value::is_object) {
            obj["status"] = json!({});
        }
        obj["status"]["loadBalancer"] = json!({});
    }
    let spec = &mut obj["spec"];
    if spec["type"] != "ExternalName" {
        or_default(spec, "internalTrafficPolicy", json!("Cluster"));
        // A headless Service without a selector: RequireDualStack (alloc.go initIPFamilyFields).
        let headless_no_selector = spec["clusterIP"] == "None" && spec.get("selector").is_none();
        let policy = if headless_no_selector {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        or_default(spec, "ipFamilyPolicy", json!(policy));
        or_default(spec, "ipFamilies", json!(["IPv4"]));
    }
    if spec.get("type").is_none() {
        spec["type"] = json!("ClusterIP");
    }
    if spec.get("sessionAffinity").is_none() {
        spec["sessionAffinity"] = json!("None");
    }
    if spec.get("clusterIP").is_none() {
        let ip = old
            .and_then(|o| o.pointer("/spec/clusterIP").cloned())
            .unwrap_or_else(|| json!(allocate_cluster_ip(store)));
        spec["clusterIP"] = ip.clone();
        spec["clusterIPs"] = json!([ip]);
    }
    let needs_node_port = matches!(
        spec["type"].as_str(),
        Some("NodePort") | Some("LoadBalancer")
    );
    let mut used = used_node_ports(store);
    let old_ports: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            if p.get("protocol").is_none() {
                p["protocol"] = json!("TCP");
            }
            if p.get("targetPort").is_none()
                && let Some(port) = p.get("port").cloned()
            {
                p["targetPort"] = port;
            }
            if needs_node_port && p.get("nodePort").is_none() {
                let prev = old_ports
                    .iter()
                    .find(|o| o.get("port") == p.get("port"))
                    .and_then(|o| o.get("nodePort"))
                    .and_then(Value::as_u64);
                let np = prev.unwrap_or_else(|| {
                    let n = (30000..32768).find(|n| !used.contains(n)).unwrap_or(32767);
                    used.push(n);
                    n
                });
                p["nodePort"] = json!(np);
            }
        }
    }
}

fn allocate_cluster_ip(store: &Store) -> String {
    let n = store
        .objects
        .keys()
        .filter(|(t, _, _)| t == "/services")
        .count()
        + 10;
    format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 1)
}

fn used_node_ports(store: &Store) -> Vec<u64> {
    store
        .objects
        .iter()
        .filter(|((t, _, _), _)| t == "/services")
        .flat_map(|(_, o)| {
            o.pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
        .collect()
}
