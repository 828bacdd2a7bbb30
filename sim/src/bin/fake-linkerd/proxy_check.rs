//! `linkerd check` (the control plane's categories), enough for bootstrap's preflight:
//! kubernetes-api, linkerd-existence, linkerd-identity, linkerd-data-plane (pkg/healthcheck/
//! healthcheck.go @edge-25.4.4 names the categories and checks).

use std::process::ExitCode;

use mcflow_sim::client::KubeContext;

use crate::check::{Section, available, finish};
use crate::{Cli, context};

fn kubernetes_api(ctx: &anyhow::Result<KubeContext>) -> (Section, Option<KubeContext>) {
    let mut s = Section::new("kubernetes-api");
    match ctx {
        Ok(c) => match c.get("/version") {
            Ok(_) => {
                s.pass("can initialize the client", &[]);
                s.pass("can query the Kubernetes API", &[]);
                (s, Some(c.clone()))
            }
            Err(e) => {
                s.pass("can initialize the client", &[]);
                s.fail("can query the Kubernetes API", &e.to_string(), "k8s-api");
                (s, None)
            }
        },
        Err(e) => {
            s.fail("can initialize the client", &e.to_string(), "k8s-api");
            (s, None)
        }
    }
}

pub fn proxy_check(cli: &Cli) -> ExitCode {
    let (api, ctx) = kubernetes_api(&context(cli));
    let Some(ctx) = ctx else {
        return finish(&[api]);
    };
    let ns = &cli.linkerd_namespace;
    let mut ex = Section::new("linkerd-existence");
    let cfg = ctx.get(&format!(
        "/api/v1/namespaces/{ns}/configmaps/linkerd-config"
    ));
    if matches!(cfg, Ok(Some(_))) {
        ex.pass("'linkerd-config' config map exists", &[]);
    } else {
        ex.fail(
            "'linkerd-config' config map exists",
            &format!("configmaps \"linkerd-config\" not found in {ns}"),
            "l5d-existence-linkerd-config",
        );
        return finish(&[api, ex]);
    }
    let deployments = ctx
        .list(&format!("/apis/apps/v1/namespaces/{ns}/deployments"))
        .unwrap_or_default();
    let down: Vec<String> = [
        "linkerd-identity",
        "linkerd-destination",
        "linkerd-proxy-injector",
    ]
    .iter()
    .filter(|n| {
        !deployments
            .iter()
            .any(|d| d["metadata"]["name"] == **n && available(d))
    })
    .map(|n| n.to_string())
    .collect();
    if down.is_empty() {
        ex.pass("control plane replica sets are ready", &[]);
        ex.pass("no unschedulable pods", &[]);
        ex.pass("control plane pods are ready", &[]);
    } else {
        ex.fail(
            "control plane pods are ready",
            &format!("No running pods for {}", down.join(", ")),
            "l5d-api-control-ready",
        );
    }
    let mut id = Section::new("linkerd-identity");
    if matches!(
        ctx.get(&format!(
            "/api/v1/namespaces/{ns}/configmaps/linkerd-identity-trust-roots"
        )),
        Ok(Some(_))
    ) {
        id.pass("certificate config is valid", &[]);
        id.pass("trust anchors are using supported crypto algorithm", &[]);
        id.pass("trust anchors are within their validity period", &[]);
    } else {
        id.fail(
            "certificate config is valid",
            "configmaps \"linkerd-identity-trust-roots\" not found",
            "l5d-identity-cert-config-valid",
        );
    }
    let mut dp = Section::new("linkerd-data-plane");
    dp.pass("data plane namespace exists", &[]);
    dp.pass("data plane proxies are ready", &[]);
    dp.pass("data plane is up-to-date", &[]);
    dp.pass("data plane and cli versions match", &[]);
    finish(&[api, ex, id, dp])
}
