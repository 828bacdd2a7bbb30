//! `linkerd multicluster link` and `link-gen`: what they read on the hub, in upstream's order,
//! with upstream's error texts, and what they print.
//!
//! Upstream: multicluster/cmd/link.go @edge-24.11.8 (2.17 `link`), link.go and link-gen.go
//! @edge-25.4.4 (identical @edge-25.10.7), pkg/multicluster/link.go `ExtractProbeSpec`
//! @edge-24.11.8. Nothing is printed on stdout unless every read succeeds; errors go to stderr
//! as cobra prints them, exit 1. (Verified against the real CLIs: sim/tests/rig_linkerd.rs.)

use std::process::ExitCode;

use base64::Engine;
use mcflow_sim::LinkerdVersion;
use mcflow_sim::client::KubeContext;
use mcflow_sim::scenario::fixtures;
use serde_json::Value;

use crate::{Cli, LinkArgs, cobra_error, context};

/// Which command runs: their texts differ in capitals (`Gateway …` in `link`, `gateway …` in
/// `link-gen`) and in what they print.
#[derive(Clone, Copy, PartialEq)]
enum Command {
    Link,
    LinkGen,
}

impl Command {
    fn words(self) -> &'static str {
        match self {
            Command::Link => "multicluster link",
            Command::LinkGen => "multicluster link-gen",
        }
    }
    fn gateway(self) -> &'static str {
        match self {
            Command::Link => "Gateway",
            Command::LinkGen => "gateway",
        }
    }
}

/// `multicluster link`: deprecated from 2.18 (cobra prints the notice and runs it).
pub fn link(cli: &Cli, args: &LinkArgs, version: &str, release: LinkerdVersion) -> ExitCode {
    if release.has_link_gen() {
        eprintln!("Command \"link\" is deprecated, please use `multicluster link-gen` instead.");
    } else if !args.excluded_labels.is_empty() {
        return cobra_error("multicluster link", "unknown flag: --excluded-labels");
    }
    run(cli, args, Command::Link, version, release)
}

/// `multicluster link-gen` (2.18+; before, cobra does not know the word, see
/// [`link_gen_before_2_18`]).
pub fn link_gen(cli: &Cli, args: &LinkArgs, version: &str, release: LinkerdVersion) -> ExitCode {
    if !release.has_link_gen() {
        eprintln!("{}", link_gen_before_2_18());
        return ExitCode::FAILURE;
    }
    // link-gen.go's flags have no `--set` or `--log-level` (link's Helm values are gone).
    if !args.set.is_empty() {
        return cobra_error("multicluster link-gen", "unknown flag: --set");
    }
    if args.log_level.is_some() {
        return cobra_error("multicluster link-gen", "unknown flag: --log-level");
    }
    run(cli, args, Command::LinkGen, version, release)
}

fn run(
    cli: &Cli,
    args: &LinkArgs,
    cmd: Command,
    version: &str,
    release: LinkerdVersion,
) -> ExitCode {
    match generate(cli, args, cmd, version, release) {
        Ok(s) => {
            print!("{s}");
            if !s.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(msg) => cobra_error(cmd.words(), &msg),
    }
}

/// What the hub has that the Link is made of.
struct Hub {
    trust_domain: String,
    cluster_domain: String,
    token: String,
    addresses: String,
    identity: String,
    probe_path: String,
    probe_period: String,
    gateway_port: u64,
    probe_port: u64,
}

fn generate(
    cli: &Cli,
    args: &LinkArgs,
    cmd: Command,
    version: &str,
    release: LinkerdVersion,
) -> Result<String, String> {
    let Some(cluster_name) = args.cluster_name.as_deref().filter(|c| !c.is_empty()) else {
        return Err(match cmd {
            Command::Link => "You need to specify cluster name".into(),
            Command::LinkGen => "you need to specify cluster name".into(),
        });
    };
    let ctx = context(cli).map_err(|e| e.to_string())?;
    let hub = read_hub(&ctx, cli, args, cmd, release)?;
    let server = args
        .api_server_address
        .clone()
        .unwrap_or_else(|| ctx.server.clone());
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // Tests put a canary in place of the token Secret's token, to follow it through mcflow.
    let token = std::env::var("FAKE_LINKERD_TOKEN").unwrap_or(hub.token.clone());
    let kubeconfig = fixtures::KUBECONFIG_IN_SECRET
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("__HUB__", cluster_name)
        .replace("__SERVER__", &server)
        .replace("__CA_DATA__", &b64(&ctx.ca_pem))
        .replace("__SA__", &args.service_account_name)
        .replace("__TOKEN__", &token);
    let template = match cmd {
        Command::LinkGen => fixtures::LINK_GEN_2_18,
        Command::Link => fixtures::LINK_2_17,
    };
    let mut out = template
        .replace("__KUBECONFIG_B64__", &b64(&kubeconfig))
        .replace("__HUB__", cluster_name)
        .replace("__GATEWAY_ADDRESS__", &hub.addresses)
        .replace("__GATEWAY_PORT__", &hub.gateway_port.to_string())
        .replace("__PROBE_PORT__", &hub.probe_port.to_string())
        .replace("__SA__", &args.service_account_name)
        .replace("__VERSION__", version)
        .replace(
            "linkerd-gateway.linkerd-multicluster.serviceaccount.identity.linkerd.cluster.local",
            &hub.identity,
        )
        .replace(
            "    path: /ready\n",
            &format!("    path: {}\n", hub.probe_path),
        )
        .replace(
            "    period: 3s\n",
            &format!("    period: {}\n", hub.probe_period),
        )
        .replace(
            "multicluster.linkerd.io/trust-domain: cluster.local",
            &format!("multicluster.linkerd.io/trust-domain: {}", hub.trust_domain),
        )
        .replace(
            "multicluster.linkerd.io/cluster-domain: cluster.local",
            &format!(
                "multicluster.linkerd.io/cluster-domain: {}",
                hub.cluster_domain
            ),
        )
        // The Link version the CLI's types have (2.18+'s deprecated `link` writes v1alpha3 too).
        .replace(
            "apiVersion: multicluster.linkerd.io/v1alpha2",
            &format!("apiVersion: {}", release.link_api_version()),
        )
        .replace(
            "apiVersion: multicluster.linkerd.io/v1alpha3",
            &format!("apiVersion: {}", release.link_api_version()),
        );
    if !args.excluded_labels.is_empty() {
        let list: String = args
            .excluded_labels
            .iter()
            .map(|l| format!("  - {l}\n"))
            .collect();
        out = out.replace(
            "  gatewayAddress:",
            &format!("  excludedLabels:\n{list}  gatewayAddress:"),
        );
    }
    Ok(out)
}

/// Read what the Link needs from the hub, in upstream's order; the first missing thing is the
/// error.
fn read_hub(
    ctx: &KubeContext,
    cli: &Cli,
    args: &LinkArgs,
    cmd: Command,
    release: LinkerdVersion,
) -> Result<Hub, String> {
    let get = |path: &str| ctx.get(path).map_err(|e| e.to_string());
    let config = get(&format!(
        "/api/v1/namespaces/{}/configmaps/linkerd-config",
        cli.linkerd_namespace
    ))?
    .ok_or("you need Linkerd to be installed on a cluster in order to get its credentials")?;
    let values = config["data"]["values"].as_str().unwrap_or_default();
    let value_of = |key: &str| {
        values
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{key}:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| "cluster.local".into())
    };
    let (ns, sa) = (&args.namespace, &args.service_account_name);
    get(&format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}"))?
        .ok_or(format!("serviceaccounts \"{sa}\" not found"))?;
    let token = service_account_token(ctx, ns, sa)?;
    let gateway = get(&format!("/api/v1/namespaces/{ns}/services/linkerd-gateway"))?
        .ok_or("services \"linkerd-gateway\" not found")?;
    let addresses = match &args.gateway_addresses {
        Some(a) => a.clone(),
        None => ingress(&gateway).ok_or(format!(
            "{} linkerd-gateway.{ns} has no ingress addresses",
            cmd.gateway()
        ))?,
    };
    let annotation = |k: &str| {
        gateway["metadata"]["annotations"][k]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let identity = annotation("mirror.linkerd.io/gateway-identity");
    if identity.is_empty() {
        return Err(format!(
            "{} linkerd-gateway.{ns} has no mirror.linkerd.io/gateway-identity annotation",
            cmd.gateway()
        ));
    }
    let probe_path = annotation("mirror.linkerd.io/probe-path");
    if probe_path.is_empty() {
        return Err("probe path is empty".into());
    }
    let probe_port = port(&gateway, "mc-probe").ok_or("could not find port with name mc-probe")?;
    let probe_period = probe_period(&annotation("mirror.linkerd.io/probe-period"), release)?;
    let gateway_port = match args.gateway_port {
        Some(p) => u64::from(p),
        None => port(&gateway, "mc-gateway")
            .ok_or("gateway service linkerd-gateway has no gateway port named mc-gateway")?,
    };
    Ok(Hub {
        trust_domain: value_of("identityTrustDomain"),
        cluster_domain: value_of("clusterDomain"),
        token,
        addresses,
        identity,
        probe_path,
        probe_period,
        gateway_port,
        probe_port,
    })
}

/// The token of `sa`: the Secret in `ns` of type `kubernetes.io/service-account-token` whose
/// `kubernetes.io/service-account.name` annotation names it (link-gen.go `extractSAToken`; the
/// list is asked with the field selector `type=kubernetes.io/service-account-token`).
fn service_account_token(ctx: &KubeContext, ns: &str, sa: &str) -> Result<String, String> {
    let secrets = ctx
        .list(&format!("/api/v1/namespaces/{ns}/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token"))
        .map_err(|e| e.to_string())?;
    let secret = secrets
        .iter()
        .find(|s| s["metadata"]["annotations"]["kubernetes.io/service-account.name"] == sa)
        .ok_or(format!(
            "could not find service account token secret for {sa}"
        ))?;
    let token = secret["data"]["token"]
        .as_str()
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .and_then(|t| String::from_utf8(t).ok())
        .filter(|t| !t.is_empty());
    token.ok_or(format!(
        "could not find the token data in service account secret {}",
        secret["metadata"]["name"].as_str().unwrap_or_default()
    ))
}

/// The gateway's LoadBalancer ingress addresses, comma-separated.
fn ingress(gateway: &Value) -> Option<String> {
    let ingress: Vec<String> = gateway["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i["ip"]
                .as_str()
                .or(i["hostname"].as_str())
                .map(String::from)
        })
        .collect();
    (!ingress.is_empty()).then(|| ingress.join(","))
}

/// The port named `name`: its nodePort for a NodePort gateway, else its port (`extractPort` /
/// `extractGatewayPort`, link-gen.go @edge-25.4.4 and link.go @edge-24.11.8). A NodePort port
/// without a nodePort (the simulator does not allocate one) falls back to its port.
fn port(gateway: &Value, name: &str) -> Option<u64> {
    let p = gateway["spec"]["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?;
    let node = if gateway["spec"]["type"] == "NodePort" {
        p["nodePort"].as_u64()
    } else {
        None
    };
    node.or_else(|| p["port"].as_u64())
}

/// The probe period from the gateway's annotation: seconds as an unsigned integer in 2.17
/// (`strconv.ParseUint`), from 2.18 an integer or a Go duration.
fn probe_period(annotation: &str, release: LinkerdVersion) -> Result<String, String> {
    if let Ok(n) = annotation.parse::<u32>() {
        return Ok(format!("{n}s"));
    }
    if !release.has_link_gen() {
        return Err(format!(
            "strconv.ParseUint: parsing \"{annotation}\": invalid syntax"
        ));
    }
    match humanish_duration(annotation) {
        Some(d) => Ok(d),
        None => Err(format!(
            "could not parse probe period: time: invalid duration \"{annotation}\""
        )),
    }
}

/// A Go duration such as `3s` or `1m30s`, as it is (the fake does not normalise it).
fn humanish_duration(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.split_inclusive(|c: char| c.is_ascii_alphabetic())
            .all(|part| {
                let unit_at = part
                    .find(|c: char| c.is_ascii_alphabetic())
                    .unwrap_or(part.len());
                part[..unit_at].parse::<f64>().is_ok()
                    && ["ns", "us", "ms", "s", "m", "h", ""].contains(&&part[unit_at..])
            });
    ok.then(|| s.to_string())
}

/// What a CLI before 2.18 says to `multicluster link-gen <flags>`: cobra finds no `link-gen`
/// subcommand, so `multicluster` itself parses the flags and stops at the first one it does not
/// know (as the real edge-24.11.8 CLI does; seen by sim/tests/rig_linkerd.rs), then prints its
/// usage.
fn link_gen_before_2_18() -> String {
    const KNOWN: [&str; 10] = [
        "api-addr",
        "as",
        "as-group",
        "context",
        "help",
        "kubeconfig",
        "linkerd-namespace",
        "verbose",
        "cni-namespace",
        "h",
    ];
    let args: Vec<String> = std::env::args().collect();
    let after = args
        .iter()
        .position(|a| a == "link-gen")
        .map_or(&args[..0], |i| &args[i + 1..]);
    let unknown = after.iter().find_map(|a| {
        let name = a.strip_prefix("--")?.split('=').next()?;
        (!KNOWN.contains(&name)).then(|| name.to_string())
    });
    let first = match unknown {
        Some(f) => format!("Error: unknown flag: --{f}"),
        None => "Error: unknown command \"link-gen\" for \"linkerd multicluster\"".to_string(),
    };
    format!(
        "{first}\nUsage:\n  linkerd multicluster [command]\n\nAliases:\n  multicluster, mc\n\nUse \"linkerd multicluster [command] --help\" for more information about a command."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_periods_per_release() {
        assert_eq!(probe_period("3", LinkerdVersion::V2_17).unwrap(), "3s");
        assert_eq!(
            probe_period("3s", LinkerdVersion::V2_17).unwrap_err(),
            "strconv.ParseUint: parsing \"3s\": invalid syntax"
        );
        assert_eq!(
            probe_period("", LinkerdVersion::V2_17).unwrap_err(),
            "strconv.ParseUint: parsing \"\": invalid syntax"
        );
        assert_eq!(probe_period("3s", LinkerdVersion::V2_19).unwrap(), "3s");
        assert_eq!(
            probe_period("", LinkerdVersion::V2_19).unwrap_err(),
            "could not parse probe period: time: invalid duration \"\""
        );
    }
}
