//! `linkerd multicluster check`, as linkerd2 multicluster/cmd/check.go runs it at each release
//! (@edge-24.11.8 for 2.17, @edge-25.4.4 for 2.18, @edge-25.10.7 for 2.19), printed as
//! pkg/healthcheck/healthcheck_output.go prints it.
//!
//! One category, `linkerd-multicluster` (no `kubernetes-api` section: the command enables only
//! its own category). Everything is found by labels, not names. A check whose subject does not
//! exist (no Links, no mirrors) is skipped and not printed (`SkipError`). What needs running
//! pods, port-forwards or the network (proxy health, the gateway metrics behind the probe
//! check, the version check) is decided from what the simulator has: the probe check passes when
//! the probe Service's Endpoints have addresses (the service mirror resolved the gateway), the
//! proxy checks pass.

use std::process::ExitCode;

use mcflow_sim::LinkerdVersion;
use mcflow_sim::client::KubeContext;
use serde_json::Value;

use crate::{Cli, context};

/// `available` as a Deployment's status says it.
pub fn available(d: &Value) -> bool {
    d["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Available" && c["status"] == "True")
}

/// One category of checks and what they printed.
pub struct Section {
    title: &'static str,
    lines: Vec<String>,
    pub ok: bool,
}

impl Section {
    pub fn new(title: &'static str) -> Self {
        Section {
            title,
            lines: vec![],
            ok: true,
        }
    }
    /// A passing check, with its `\t* <item>` lines (VerboseSuccess).
    pub fn pass(&mut self, name: &str, items: &[String]) {
        self.lines.push(format!("√ {name}"));
        for i in items {
            self.lines.push(format!("\t* {i}"));
        }
    }
    fn result(&mut self, mark: char, name: &str, detail: &str, hint: &str) {
        self.lines.push(format!("{mark} {name}"));
        self.lines.push(format!("    {detail}"));
        self.lines.push(format!(
            "    see https://linkerd.io/2/checks/#{hint} for hints"
        ));
    }
    /// A failed check (×): the error indented four spaces, then the hint.
    pub fn fail(&mut self, name: &str, detail: &str, hint: &str) {
        self.ok = false;
        self.result('×', name, detail, hint);
    }
    /// A warning (‼): shown, but the result stays √.
    pub fn warn(&mut self, name: &str, detail: &str, hint: &str) {
        self.result('‼', name, detail, hint);
    }
    fn render(&self) -> String {
        let mut s = format!("{}\n{}\n", self.title, "-".repeat(self.title.len()));
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// Print the categories and the verdict; exit 1 when a check (not a warning) failed.
pub fn finish(sections: &[Section]) -> ExitCode {
    let ok = sections.iter().all(|s| s.ok);
    let body: Vec<String> = sections.iter().map(Section::render).collect();
    println!("{}", body.join("\n"));
    println!("Status check results are {}", if ok { "√" } else { "×" });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A Link as the checks need it.
pub struct Link {
    pub target: String,
    namespace: String,
    credentials: String,
    created_by: String,
    has_probe: bool,
    probe_port: String,
}

pub fn links(ctx: &KubeContext, api_version: &str) -> anyhow::Result<Vec<Link>> {
    Ok(ctx
        .list(&format!("/apis/{api_version}/links"))?
        .iter()
        .map(|l| {
            let target = l["spec"]["targetClusterName"].as_str().unwrap_or_default();
            Link {
                target: target.to_string(),
                namespace: l["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                credentials: l["spec"]["clusterCredentialsSecret"]
                    .as_str()
                    .map_or(format!("cluster-credentials-{target}"), String::from),
                created_by: l["metadata"]["annotations"]["linkerd.io/created-by"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                has_probe: l["spec"]["gatewayAddress"]
                    .as_str()
                    .is_some_and(|a| !a.is_empty())
                    && l["spec"]["probeSpec"]["path"].is_string(),
                probe_port: match &l["spec"]["probeSpec"]["port"] {
                    Value::String(p) => p.clone(),
                    other => other.to_string(),
                },
            }
        })
        .collect())
}

/// Labels in a query string.
pub fn q(selector: &str) -> String {
    selector
        .replace('%', "%25")
        .replace(',', "%2C")
        .replace('!', "%21")
        .replace('=', "%3D")
        .replace('/', "%2F")
        .replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

pub fn multicluster_check(cli: &Cli, version: &str, release: LinkerdVersion) -> ExitCode {
    let ctx = match context(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // check.go: the extension's namespace, found by label, before any check; an API error or
    // no such namespace ends the command with that error and upstream's install advice.
    let extension = ctx.list(&format!(
        "/api/v1/namespaces?labelSelector={}",
        q("linkerd.io/extension=multicluster")
    ));
    let missing = match extension {
        Ok(list) if !list.is_empty() => None,
        Ok(_) => Some(
            "namespace with label \"linkerd.io/extension: multicluster\" not found".to_string(),
        ),
        Err(e) => Some(e.to_string()),
    };
    if let Some(e) = missing {
        eprintln!("{e}; install by running `linkerd multicluster install | kubectl apply -f -`");
        return ExitCode::FAILURE;
    }
    let mut mc = Section::new("linkerd-multicluster");
    // `Link CRD exists` (fatal): the Link version this CLI reads must be served.
    let api_version = release.link_api_version();
    if let Err(detail) = link_crd_served(&ctx, api_version) {
        mc.fail(
            "Link CRD exists",
            &detail,
            "l5d-multicluster-link-crd-exists",
        );
        return finish(&[mc]);
    }
    mc.pass("Link CRD exists", &[]);
    let links = match links(&ctx, api_version) {
        Ok(l) => l,
        Err(e) => {
            mc.fail(
                "Link resources are valid",
                &e.to_string(),
                "l5d-multicluster-links-are-valid",
            );
            return finish(&[mc]);
        }
    };
    if !links.is_empty() {
        link_checks(&ctx, &links, version, release, &mut mc);
    }
    mirror_checks(&ctx, &links, &mut mc);
    mc.pass("multicluster extension proxies are healthy", &[]);
    mc.pass("multicluster extension proxies are up-to-date", &[]);
    mc.pass("multicluster extension proxies and cli versions match", &[]);
    finish(&[mc])
}

/// Whether the API serves Links at `api_version` (discovery of that group-version, as
/// check.go's `checkLinkCRD` asks for it).
fn link_crd_served(ctx: &KubeContext, api_version: &str) -> Result<(), String> {
    match ctx.get(&format!("/apis/{api_version}")) {
        Ok(Some(list)) if list["resources"].as_array().is_some_and(|r| r.iter().any(|r| r["kind"] == "Link")) => Ok(()),
        Ok(_) => Err("multicluster.linkerd.io/Link CRD is missing: the server could not find the requested resource".into()),
        Err(e) => Err(format!("multicluster.linkerd.io/Link CRD is missing: {e}")),
    }
}

/// The checks about each Link, in check.go's order.
fn link_checks(
    ctx: &KubeContext,
    links: &[Link],
    version: &str,
    release: LinkerdVersion,
    mc: &mut Section,
) {
    let targets: Vec<String> = links.iter().map(|l| l.target.clone()).collect();
    mc.pass("Link resources are valid", &targets);
    let mismatched: Vec<String> = links
        .iter()
        .filter(|l| l.created_by != format!("linkerd/cli {version}"))
        .map(|l| match l.created_by.strip_prefix("linkerd/cli ") {
            Some(v) => format!(
                "* {}: CLI version is {version} but Link version is {v}",
                l.target
            ),
            None => format!("* {}: unable to determine version", l.target),
        })
        .collect();
    if mismatched.is_empty() {
        mc.pass("Link and CLI versions match", &targets);
    } else {
        mc.warn(
            "Link and CLI versions match",
            &mismatched.join("\n    "),
            "l5d-multicluster-links-version",
        );
    }
    let missing: Vec<String> = links
        .iter()
        .filter(|l| {
            !matches!(
                ctx.get(&format!(
                    "/api/v1/namespaces/{}/secrets/{}",
                    l.namespace, l.credentials
                )),
                Ok(Some(_))
            )
        })
        .map(|l| {
            format!(
                "* secret: [{}/{}]: secrets \"{}\" not found",
                l.namespace, l.credentials, l.credentials
            )
        })
        .collect();
    if missing.is_empty() {
        mc.pass("remote cluster access credentials are valid", &targets);
    } else {
        mc.fail(
            "remote cluster access credentials are valid",
            &missing.join("\n    "),
            "l5d-smc-target-clusters-access",
        );
    }
    mc.pass("clusters share trust anchors", &targets);
    mc.pass(
        "service mirror controller has required permissions",
        &targets,
    );
    controller_checks(ctx, links, release, mc);
    probe_check(ctx, links, mc);
}

/// `service mirror controllers are running` and, from 2.18, `extension is managing
/// controllers`: Deployments found by `component` and `mirror.linkerd.io/cluster-name` labels
/// (check.go `serviceMirrorComponentsSelector`: `component=service-mirror` in 2.17,
/// `component in (service-mirror, controller)` from 2.18).
fn controller_checks(ctx: &KubeContext, links: &[Link], release: LinkerdVersion, mc: &mut Section) {
    let components = if release.has_link_gen() {
        "component in (service-mirror, controller)"
    } else {
        "component=service-mirror"
    };
    let mut errors = Vec::new();
    let mut legacy = Vec::new();
    for l in links {
        let selector = q(&format!(
            "{components},mirror.linkerd.io/cluster-name={}",
            l.target
        ));
        let found = ctx
            .list(&format!(
                "/apis/apps/v1/deployments?labelSelector={selector}"
            ))
            .unwrap_or_default();
        match found.as_slice() {
            [] => errors.push(format!(
                "* no service mirror controller deployment for Link {}",
                l.target
            )),
            [d] if !available(d) => errors.push(format!(
                "* service mirror controller is not available: {}/{}",
                d["metadata"]["namespace"].as_str().unwrap_or_default(),
                d["metadata"]["name"].as_str().unwrap_or_default()
            )),
            [d] => {
                if d["metadata"]["labels"]["component"] == "service-mirror" {
                    legacy.push(format!(
                        "* using legacy service mirror controller for Link: {}",
                        l.target
                    ));
                }
            }
            _ => errors.push(format!(
                "* too many service mirror controller deployments for Link {}",
                l.target
            )),
        }
    }
    let targets: Vec<String> = links.iter().map(|l| l.target.clone()).collect();
    if errors.is_empty() {
        mc.pass("service mirror controllers are running", &targets);
    } else {
        mc.fail(
            "service mirror controllers are running",
            &errors.join("\n    "),
            "l5d-multicluster-service-mirror-running",
        );
    }
    if release.has_link_gen() {
        if legacy.is_empty() {
            mc.pass("extension is managing controllers", &targets);
        } else {
            mc.warn(
                "extension is managing controllers",
                &legacy.join("\n    "),
                "l5d-multicluster-managed-controllers",
            );
        }
    }
}

/// `probe services able to communicate with all gateway mirrors`, per Link with a probe.
fn probe_check(ctx: &KubeContext, links: &[Link], mc: &mut Section) {
    let errors: Vec<String> = links
        .iter()
        .filter(|l| l.has_probe)
        .filter_map(|l| match gateway_alive(ctx, l) {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
            Err(e) => Some(e.to_string()),
        })
        .collect();
    let targets: Vec<String> = links
        .iter()
        .filter(|l| l.has_probe)
        .map(|l| l.target.clone())
        .collect();
    if errors.is_empty() {
        mc.pass(
            "probe services able to communicate with all gateway mirrors",
            &targets,
        );
    } else {
        mc.fail(
            "probe services able to communicate with all gateway mirrors",
            &errors.join("\n    "),
            "l5d-multicluster-gateways-endpoints",
        );
    }
}

/// Whether the Link's gateway answers its probes: exactly one Service labelled
/// `mirror.linkerd.io/mirrored-gateway` for the Link, whose Endpoints have addresses (the
/// service mirror resolved the gateway address), and, where the cluster's proxies refuse
/// connections to undeclared ports (2.19: edge-25.7.1, linkerd2 #14149, the failure of #14451),
/// that Service declares the Link's probe port. Upstream then reads the lease holder's
/// `gateway_alive` metric through a port-forward (check.go, gateways.go); the simulator has no
/// pods, so these conditions stand for it.
///
/// The outer error is the API's (the command fails with it), the inner one why the gateway is
/// not alive.
pub fn gateway_alive(ctx: &KubeContext, l: &Link) -> anyhow::Result<Result<(), String>> {
    let selector = q(&format!(
        "mirror.linkerd.io/mirrored-gateway,mirror.linkerd.io/cluster-name={}",
        l.target
    ));
    let probes = ctx.list(&format!("/api/v1/services?labelSelector={selector}"))?;
    let [probe] = probes.as_slice() else {
        return Ok(Err(format!(
            "wrong number ({}) of probe gateways for target cluster {}",
            probes.len(),
            l.target
        )));
    };
    let (ns, name) = (
        probe["metadata"]["namespace"].as_str().unwrap_or_default(),
        probe["metadata"]["name"].as_str().unwrap_or_default(),
    );
    if !has_addresses(ctx, ns, name)? {
        return Ok(Err(format!(
            "{name}.{ns} mirrored from cluster [{}] has no endpoints",
            l.target
        )));
    }
    let declared = probe["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| {
            p["port"]
                .as_u64()
                .is_some_and(|n| n.to_string() == l.probe_port)
        });
    if cluster_release(ctx).probe_port_rule() && !declared {
        return Ok(Err(format!("liveness checks failed for {}", l.target)));
    }
    Ok(Ok(()))
}

/// The release of the cluster's control plane (`linkerdVersion` in linkerd-config's values).
fn cluster_release(ctx: &KubeContext) -> LinkerdVersion {
    ctx.get("/api/v1/namespaces/linkerd/configmaps/linkerd-config")
        .ok()
        .flatten()
        .and_then(|c| {
            c["data"]["values"].as_str()?.lines().find_map(|l| {
                l.strip_prefix("linkerdVersion:")
                    .and_then(|v| LinkerdVersion::parse(v.trim()))
            })
        })
        .unwrap_or(LinkerdVersion::NEWEST)
}

/// Whether the Endpoints `ns/name` have at least one address.
fn has_addresses(ctx: &KubeContext, ns: &str, name: &str) -> anyhow::Result<bool> {
    let endpoints = ctx.get(&format!("/api/v1/namespaces/{ns}/endpoints/{name}"))?;
    Ok(endpoints.is_some_and(|e| {
        e["subsets"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["addresses"].as_array().is_some_and(|a| !a.is_empty()))
        })
    }))
}

/// `all mirror services have endpoints` and `all mirror services are part of a Link` (‼): the
/// mirrors that exist on this cluster, found by label in every namespace (selector
/// `mirror.linkerd.io/mirrored-service, !mirror.linkerd.io/mirrored-gateway,
/// !multicluster.linkerd.io/remote-discovery`). Never the hub's exports; no mirror → skipped.
fn mirror_checks(ctx: &KubeContext, links: &[Link], mc: &mut Section) {
    let selector = q(
        "mirror.linkerd.io/mirrored-service,!mirror.linkerd.io/mirrored-gateway,!multicluster.linkerd.io/remote-discovery",
    );
    let mirrors = match ctx.list(&format!("/api/v1/services?labelSelector={selector}")) {
        Ok(m) if m.is_empty() => return,
        Ok(m) => m,
        Err(e) => {
            let hint = "l5d-multicluster-services-endpoints";
            return mc.fail("all mirror services have endpoints", &e.to_string(), hint);
        }
    };
    let name = |m: &Value| {
        (
            m["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            m["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            m["metadata"]["labels"]["mirror.linkerd.io/cluster-name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let empty: Vec<String> = mirrors
        .iter()
        .map(name)
        .filter(|(n, ns, _)| !matches!(has_addresses(ctx, ns, n), Ok(true)))
        .map(|(n, ns, c)| format!("{n}.{ns} mirrored from cluster [{c}]"))
        .collect();
    if empty.is_empty() {
        mc.pass("all mirror services have endpoints", &[]);
    } else {
        mc.fail(
            "all mirror services have endpoints",
            &format!(
                "Some mirror services do not have endpoints:\n    {}",
                empty.join("\n    ")
            ),
            "l5d-multicluster-services-endpoints",
        );
    }
    let orphans: Vec<String> = mirrors
        .iter()
        .map(name)
        .filter(|(_, _, c)| !c.is_empty() && !links.iter().any(|l| &l.target == c))
        .map(|(n, ns, _)| format!("mirror service {n}.{ns} is not part of any Link"))
        .collect();
    if orphans.is_empty() {
        mc.pass("all mirror services are part of a Link", &[]);
    } else {
        mc.warn(
            "all mirror services are part of a Link",
            &orphans.join("\n    "),
            "l5d-multicluster-orphaned-services",
        );
    }
}
