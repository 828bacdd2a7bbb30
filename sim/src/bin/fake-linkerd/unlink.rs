//! `linkerd multicluster unlink`: the objects to pipe into `kubectl delete -f -`, names and
//! kinds only, after reading the Link (multicluster/cmd/unlink.go @edge-24.11.8 and
//! @edge-25.4.4, same @edge-25.10.7; outputs of the real CLIs in sim/tests/rig_linkerd.rs).

use std::process::ExitCode;

use mcflow_sim::LinkerdVersion;

use crate::{Cli, cobra_error, context};

/// `(apiVersion, kind, namespace, name)` of one object to delete.
type Object = (String, &'static str, Option<String>, String);

pub fn unlink(
    cli: &Cli,
    hub: &str,
    ns: &str,
    only_controller: bool,
    release: LinkerdVersion,
) -> ExitCode {
    if release.has_link_gen() {
        eprintln!(
            "Command \"unlink\" is deprecated, only use for removing service mirror resources created by the (also deprecated) 'linkerd multicluster link' command (Linkerd 2.17 and earlier), using the flag --only-controller"
        );
    }
    let ctx = match context(cli) {
        Ok(c) => c,
        Err(e) => return cobra_error("multicluster unlink", &e.to_string()),
    };
    let link_api = release.link_api_version();
    let link = match ctx.get(&format!("/apis/{link_api}/namespaces/{ns}/links/{hub}")) {
        Ok(Some(link)) => link,
        Ok(None) => {
            return cobra_error(
                "multicluster unlink",
                &format!("links.multicluster.linkerd.io \"{hub}\" not found"),
            );
        }
        Err(e) => return cobra_error("multicluster unlink", &e.to_string()),
    };
    // The probe-gateway Service only for a Link that probes (`if l.Spec.ProbeSpec.Path != ""`).
    let probes = link["spec"]["probeSpec"]["path"]
        .as_str()
        .is_some_and(|p| !p.is_empty());
    let mut objects = objects(
        &ctx,
        hub,
        ns,
        &cli.linkerd_namespace,
        only_controller,
        release,
    );
    if !probes {
        objects.retain(|o| o.3 != format!("probe-gateway-{hub}"));
    }
    let docs: Vec<String> = objects.iter().map(render).collect();
    println!("{}", docs.join("---\n").trim_end());
    ExitCode::SUCCESS
}

// The objects of a `link`'s service mirror: (apiVersion, kind, namespaced, name prefix).
const CONTROLLER: [(&str, &str, bool, &str); 7] = [
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        false,
        "linkerd-service-mirror-access-local-resources-",
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        false,
        "linkerd-service-mirror-access-local-resources-",
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "Role",
        true,
        "linkerd-service-mirror-read-remote-creds-",
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        true,
        "linkerd-service-mirror-read-remote-creds-",
    ),
    ("v1", "ServiceAccount", true, "linkerd-service-mirror-"),
    ("apps/v1", "Deployment", true, "linkerd-service-mirror-"),
    ("v1", "Service", true, "probe-gateway-"),
];

/// What to delete, in the order the real CLI of `release` prints it.
fn objects(
    ctx: &mcflow_sim::client::KubeContext,
    hub: &str,
    ns: &str,
    linkerd_ns: &str,
    only_controller: bool,
    release: LinkerdVersion,
) -> Vec<Object> {
    let link_api = release.link_api_version();
    let at = |av: &str, kind, namespace: Option<&str>, name: String| -> Object {
        (av.to_string(), kind, namespace.map(String::from), name)
    };
    let controller: Vec<Object> = CONTROLLER
        .iter()
        .map(|(av, kind, namespaced, prefix)| {
            at(av, kind, namespaced.then_some(ns), format!("{prefix}{hub}"))
        })
        .collect();
    let credentials = at(
        "v1",
        "Secret",
        Some(ns),
        format!("cluster-credentials-{hub}"),
    );
    let link = at(link_api, "Link", Some(ns), hub.to_string());
    let lease = at(
        "coordination.k8s.io/v1",
        "Lease",
        Some(ns),
        format!("service-mirror-write-{hub}"),
    );
    let linkerd_secret = by_label(
        ctx,
        &format!("/api/v1/namespaces/{linkerd_ns}/secrets"),
        "Secret",
        &format!("multicluster.linkerd.io%2Fcluster-name%3D{hub}"),
    );
    let mirrors = by_label(
        ctx,
        "/api/v1/services",
        "Service",
        &format!(
            "mirror.linkerd.io%2Fmirrored-service%3Dtrue%2Cmirror.linkerd.io%2Fcluster-name%3D{hub}"
        ),
    );
    if release.has_link_gen() {
        if only_controller {
            controller
        } else {
            let mut all = controller;
            all.extend([credentials, link, lease]);
            all.extend(mirrors);
            all.extend(linkerd_secret);
            all
        }
    } else {
        let mut all = vec![credentials, link];
        let (probe, rest) = controller.split_last().expect("seven controller objects");
        all.extend(rest.iter().cloned());
        all.push(lease);
        all.push(probe.clone());
        all.extend(mirrors);
        all.extend(linkerd_secret);
        all
    }
}

fn render((api_version, kind, namespace, name): &Object) -> String {
    let ns = namespace
        .as_ref()
        .map(|n| format!("  namespace: {n}\n"))
        .unwrap_or_default();
    format!("apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}")
}

/// The objects of `kind` a label selector finds under `path` (unlink.go `getServiceMirrors`,
/// `getDestinationCredentials`): the mirror Services in every namespace, the linkerd
/// namespace's credentials Secrets.
fn by_label(
    ctx: &mcflow_sim::client::KubeContext,
    path: &str,
    kind: &'static str,
    selector: &str,
) -> Vec<Object> {
    ctx.list(&format!("{path}?labelSelector={selector}"))
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let (ns, name) = (
                m["metadata"]["namespace"].as_str(),
                m["metadata"]["name"].as_str(),
            );
            (
                "v1".to_string(),
                kind,
                ns.map(String::from),
                name.unwrap_or_default().to_string(),
            )
        })
        .collect()
}
