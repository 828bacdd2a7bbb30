//! A fake `linkerd` CLI for tests and the demo, reading the simulated clusters over HTTPS.
//!
//! Environment: `FAKE_LINKERD_VERSION` (default `edge-25.4.4`), `FAKE_LINKERD_TOKEN` (the
//! service account token put in link manifests; default a random canary), `FAKE_LINKERD_FAIL`
//! (`"<subcommand words>:N"`, several separated by `;`) with `FAKE_LINKERD_STATE_DIR` holding
//! the counters, `KUBECONFIG`.

// Structure held by CI: no function over 80 lines (clippy.toml), no function with more than
// seven arguments; an `allow` only with a one-line reason beside it.
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::{Args, Parser, Subcommand};
use mcflow_sim::client::{KubeContext, Kubeconfig};
use mcflow_sim::scenario::fixtures;
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "linkerd",
    about = "linkerd manages the Linkerd service mesh (fake, for tests)"
)]
struct Cli {
    /// Name of the kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
    /// Path to the kubeconfig file.
    #[arg(long, global = true, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace in which Linkerd is installed.
    #[arg(short = 'L', long, global = true, default_value = "linkerd")]
    linkerd_namespace: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the client and server version information.
    Version {
        /// Print the client version only.
        #[arg(long)]
        client: bool,
        /// Print the version number(s) only.
        #[arg(long)]
        short: bool,
    },
    /// Check the Linkerd installation for potential problems.
    Check {
        /// Only run data-plane checks.
        #[arg(long)]
        proxy: bool,
        /// Output format.
        #[arg(short, long)]
        output: Option<String>,
        /// Wait this long for checks to pass.
        #[arg(long)]
        wait: Option<String>,
        /// Namespace to check proxies in.
        #[arg(short, long)]
        namespace: Option<String>,
    },
    /// Manages the multicluster setup for Linkerd.
    Multicluster {
        #[command(subcommand)]
        command: Multicluster,
    },
}

#[derive(Args, Clone)]
struct LinkArgs {
    /// The name of the target cluster.
    #[arg(long)]
    cluster_name: String,
    /// Comma-separated addresses of the target cluster's gateway.
    #[arg(long)]
    gateway_addresses: Option<String>,
    /// The gateway port.
    #[arg(long)]
    gateway_port: Option<u32>,
    /// The service account the remote access token belongs to.
    #[arg(long, default_value = "linkerd-service-mirror-remote-access-default")]
    service_account_name: String,
    /// The multicluster namespace.
    #[arg(long, default_value = "linkerd-multicluster")]
    namespace: String,
    /// The API server address embedded in the kubeconfig.
    #[arg(long)]
    api_server_address: Option<String>,
    /// Helm-style values (accepted and ignored).
    #[arg(long)]
    set: Vec<String>,
    /// Log level (accepted and ignored).
    #[arg(long)]
    log_level: Option<String>,
}

#[derive(Subcommand)]
enum Multicluster {
    /// Outputs resources that allow another cluster to mirror services from this one (up to 2.17;
    /// deprecated from 2.18).
    Link(LinkArgs),
    /// Outputs a Link and its credentials (2.18+).
    LinkGen(LinkArgs),
    /// Outputs the resources to remove a link (pipe into `kubectl delete -f -`).
    Unlink {
        /// The name of the target cluster.
        #[arg(long)]
        cluster_name: String,
        /// The multicluster namespace.
        #[arg(long, default_value = "linkerd-multicluster")]
        namespace: String,
    },
    /// Check the multicluster extension for potential problems.
    Check {
        /// Wait this long for checks to pass.
        #[arg(long)]
        wait: Option<String>,
        /// Timeout per check.
        #[arg(long)]
        timeout: Option<String>,
        /// Output format.
        #[arg(short, long)]
        output: Option<String>,
    },
}

fn version() -> String {
    std::env::var("FAKE_LINKERD_VERSION").unwrap_or_else(|_| "edge-25.4.4".to_string())
}

/// Whether a version is 2.18 or later (`stable-2.18.x`, `enterprise-2.18.x`, `edge-25.4.x`+).
fn is_2_18_plus(v: &str) -> bool {
    let nums: Vec<u32> = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    if v.starts_with("edge-") {
        matches!(nums.as_slice(), [y, m, ..] if (*y, *m) >= (25, 4))
    } else {
        matches!(nums.as_slice(), [2, minor, ..] if *minor >= 18)
    }
}

fn words(cmd: &Command) -> &'static str {
    match cmd {
        Command::Version { .. } => "version",
        Command::Check { .. } => "check",
        Command::Multicluster { command } => match command {
            Multicluster::Link(_) => "multicluster link",
            Multicluster::LinkGen(_) => "multicluster link-gen",
            Multicluster::Unlink { .. } => "multicluster unlink",
            Multicluster::Check { .. } => "multicluster check",
        },
    }
}

/// `FAKE_LINKERD_FAIL="multicluster link:2"`: fail the first N invocations of those words.
fn should_fail(words: &str) -> bool {
    let Ok(spec) = std::env::var("FAKE_LINKERD_FAIL") else {
        return false;
    };
    let Some(n) = spec
        .split(';')
        .filter_map(|s| s.trim().rsplit_once(':'))
        .find(|(w, _)| w.trim() == words)
        .and_then(|(_, n)| n.trim().parse::<u32>().ok())
    else {
        return false;
    };
    let dir = std::env::var_os("FAKE_LINKERD_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("fake-linkerd-{}.count", words.replace(' ', "-")));
    let done: u32 = std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if done >= n {
        return false;
    }
    let _ = std::fs::write(&file, (done + 1).to_string());
    true
}

/// The kubeconfig, read once per process.
fn kubeconfig(cli: &Cli) -> anyhow::Result<&'static Kubeconfig> {
    static KUBECONFIG: std::sync::OnceLock<Result<Kubeconfig, String>> = std::sync::OnceLock::new();
    KUBECONFIG
        .get_or_init(|| {
            let path = cli
                .kubeconfig
                .clone()
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
                .ok_or_else(|| "no kubeconfig".to_string())?;
            Kubeconfig::load(&path).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The context of `--context` (else the current one).
fn context(cli: &Cli) -> anyhow::Result<KubeContext> {
    kubeconfig(cli)?.context(cli.context.as_deref())
}

fn canary() -> String {
    std::env::var("FAKE_LINKERD_TOKEN").unwrap_or_else(|_| {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("fake-linkerd-canary-token-{:x}{:x}", n, std::process::id())
    })
}

fn link(cli: &Cli, args: &LinkArgs, link_gen: bool) -> anyhow::Result<String> {
    let ctx = context(cli)?;
    let gw_path = format!(
        "/api/v1/namespaces/{}/services/linkerd-gateway",
        args.namespace
    );
    let gateway = ctx
        .get(&gw_path)?
        .ok_or_else(|| anyhow::anyhow!("services \"linkerd-gateway\" not found"))?;
    // For a NodePort gateway the Link gets the ports' nodePorts, else their ports: linkerd2
    // multicluster/cmd/link-gen.go `extractPort`/`extractGatewayPort` @edge-25.4.4 (identical
    // @edge-25.10.7) and multicluster/cmd/link.go @edge-24.11.8 (`if spec.Type == "NodePort"
    // { return uint32(p.NodePort) }`). `--gateway-port` overrides only the gateway port, never
    // the probe's. (A real apiserver always allocates a nodePort; the simulator does not, so a
    // NodePort port without one falls back to its port.)
    let node_port = gateway["spec"]["type"] == "NodePort";
    let port_of = |name: &str| -> Option<u64> {
        let p = gateway["spec"]["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)?;
        let node = if node_port {
            p["nodePort"].as_u64()
        } else {
            None
        };
        node.or_else(|| p["port"].as_u64())
    };
    let gateway_port = args
        .gateway_port
        .map(u64::from)
        .or_else(|| port_of("mc-gateway"))
        .unwrap_or(4143);
    let probe_port = port_of("mc-probe").unwrap_or(4191);
    let addresses = match &args.gateway_addresses {
        Some(a) => a.clone(),
        None => {
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
            if ingress.is_empty() {
                anyhow::bail!(
                    "linkerd-gateway.{} service has no external IP; use --gateway-addresses",
                    args.namespace
                );
            }
            ingress.join(",")
        }
    };
    let server = args
        .api_server_address
        .clone()
        .unwrap_or_else(|| ctx.server.clone());
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let v = version();
    let kubeconfig = fixtures::KUBECONFIG_IN_SECRET
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("__HUB__", &args.cluster_name)
        .replace("__SERVER__", &server)
        .replace("__CA_DATA__", &b64(&ctx.ca_pem))
        .replace("__SA__", &args.service_account_name)
        .replace("__TOKEN__", &canary());
    let template = if link_gen {
        fixtures::LINK_GEN_2_18
    } else {
        fixtures::LINK_2_17
    };
    Ok(template
        .replace("__KUBECONFIG_B64__", &b64(&kubeconfig))
        .replace("__HUB__", &args.cluster_name)
        .replace("__GATEWAY_ADDRESS__", &addresses)
        .replace("__GATEWAY_PORT__", &gateway_port.to_string())
        .replace("__PROBE_PORT__", &probe_port.to_string())
        .replace("__SA__", &args.service_account_name)
        .replace("__VERSION__", &v))
}

fn available(d: &Value) -> bool {
    d["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Available" && c["status"] == "True")
}

struct Section {
    title: &'static str,
    lines: Vec<String>,
    ok: bool,
}

impl Section {
    fn new(title: &'static str) -> Self {
        Section {
            title,
            lines: vec![],
            ok: true,
        }
    }
    fn pass(&mut self, name: &str, items: &[String]) {
        self.lines.push(format!("√ {name}"));
        for i in items {
            self.lines.push(format!("\t* {i}"));
        }
    }
    fn fail(&mut self, name: &str, detail: &str, hint: &str) {
        self.ok = false;
        self.lines.push(format!("× {name}"));
        self.lines.push(format!("        {detail}"));
        self.lines.push(format!(
            "    see https://linkerd.io/2/checks/#{hint} for hints"
        ));
    }
    /// A warning (‼): shown, but the check still passes.
    fn warn(&mut self, name: &str, detail: &str, hint: &str) {
        self.lines.push(format!("‼ {name}"));
        self.lines.push(format!("        {detail}"));
        self.lines.push(format!(
            "    see https://linkerd.io/2/checks/#{hint} for hints"
        ));
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

fn finish(sections: &[Section]) -> ExitCode {
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

fn multicluster_check(cli: &Cli) -> ExitCode {
    let (api, ctx) = kubernetes_api(&context(cli));
    let Some(ctx) = ctx else {
        return finish(&[api]);
    };
    let mut mc = Section::new("linkerd-multicluster");
    if !link_crd_exists(&ctx, &mut mc) {
        return finish(&[api, mc]);
    }
    let links = ctx
        .list("/apis/multicluster.linkerd.io/v1alpha3/links")
        .unwrap_or_default();
    let hubs: Vec<String> = links
        .iter()
        .filter_map(|l| l["spec"]["targetClusterName"].as_str().map(String::from))
        .collect();
    mc.pass("Link resources are valid", &hubs);
    let creds_missing = missing_credentials(&ctx, &links);
    if creds_missing.is_empty() {
        mc.pass("remote cluster access credentials are valid", &hubs);
    } else {
        mc.fail(
            "remote cluster access credentials are valid",
            &format!("missing credentials secrets: {}", creds_missing.join(", ")),
            "l5d-smc-target-clusters-access",
        );
    }
    mc.pass("clusters share trust anchors", &hubs);
    mc.pass("service mirror controller has required permissions", &hubs);
    let not_running = hubs_without_service_mirror(&ctx, &hubs);
    if not_running.is_empty() {
        mc.pass("service mirror controllers are running", &hubs);
    } else {
        mc.fail(
            "service mirror controllers are running",
            &format!(
                "Service mirror controller is not present or not running for: {}",
                not_running.join(", ")
            ),
            "l5d-multicluster-service-mirror-running",
        );
    }
    mc.pass(
        "probe services able to communicate with all gateway mirrors",
        &hubs,
    );
    mirror_checks(&ctx, &hubs, &mut mc);
    mc.pass("multicluster extension proxies are healthy", &[]);
    mc.pass("multicluster extension proxies are up-to-date", &[]);
    mc.pass("multicluster extension proxies and cli versions match", &[]);
    finish(&[api, mc])
}

/// Check that the Link CRD exists; whether it does.
fn link_crd_exists(ctx: &KubeContext, mc: &mut Section) -> bool {
    let crd = ctx.get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/links.multicluster.linkerd.io",
    );
    let detail = match crd {
        Ok(Some(_)) => {
            mc.pass("Link CRD exists", &[]);
            return true;
        }
        Ok(None) => "multicluster.linkerd.io/Link CRD is missing".to_string(),
        Err(e) => e.to_string(),
    };
    mc.fail(
        "Link CRD exists",
        &detail,
        "l5d-multicluster-link-crd-exists",
    );
    false
}

/// The credentials secrets of `links` that do not exist, as `<secret> (<hub>)`.
fn missing_credentials(ctx: &KubeContext, links: &[Value]) -> Vec<String> {
    let mut missing = Vec::new();
    for l in links {
        let hub = l["spec"]["targetClusterName"].as_str().unwrap_or_default();
        let ns = l["metadata"]["namespace"]
            .as_str()
            .unwrap_or("linkerd-multicluster");
        let secret = l["spec"]["clusterCredentialsSecret"]
            .as_str()
            .map(String::from)
            .unwrap_or(format!("cluster-credentials-{hub}"));
        if !matches!(
            ctx.get(&format!("/api/v1/namespaces/{ns}/secrets/{secret}")),
            Ok(Some(_))
        ) {
            missing.push(format!("{secret} ({hub})"));
        }
    }
    missing
}

/// The hubs with no available service mirror controller Deployment.
fn hubs_without_service_mirror(ctx: &KubeContext, hubs: &[String]) -> Vec<String> {
    let running = |hub: &String| {
        [
            format!("linkerd-service-mirror-{hub}"),
            format!("controller-{hub}"),
        ]
        .iter()
        .any(|n| {
            matches!(ctx.get(&format!("/apis/apps/v1/namespaces/linkerd-multicluster/deployments/{n}")), Ok(Some(d)) if available(&d))
        })
    };
    hubs.iter().filter(|h| !running(h)).cloned().collect()
}

/// The mirror checks: `all mirror services have endpoints` and `all mirror services are part
/// of a Link`.
fn mirror_checks(ctx: &KubeContext, hubs: &[String], mc: &mut Section) {
    // The mirrors that exist on this cluster, found by label in every namespace, as upstream's
    // `all mirror services have endpoints` finds them (multicluster/cmd/check.go @edge-24.11.8,
    // same at edge-25.4.4 and edge-25.10.7: selector `mirror.linkerd.io/mirrored-service,
    // !mirror.linkerd.io/mirrored-gateway, !multicluster.linkerd.io/remote-discovery`). It never
    // looks at the hub's exported Services, and with no mirror at all the check is skipped
    // (SkipError: not printed). The simulated mirror makes no Endpoints, so the fake does not
    // judge them: a mirror that exists passes.
    let mirrors = ctx
        .list("/api/v1/services?labelSelector=mirror.linkerd.io%2Fmirrored-service%2C%21mirror.linkerd.io%2Fmirrored-gateway%2C%21multicluster.linkerd.io%2Fremote-discovery")
        .unwrap_or_default();
    if !mirrors.is_empty() {
        mc.pass("all mirror services have endpoints", &[]);
        // `all mirror services are part of a Link` (a warning, ‼; same file and tags): a mirror
        // whose `mirror.linkerd.io/cluster-name` no Link targets, e.g. one left behind by a Link
        // deleted without `unlink` (the service mirror does not delete its mirrors then).
        let orphans: Vec<String> = mirrors
            .iter()
            .filter(|m| {
                m["metadata"]["labels"]["mirror.linkerd.io/cluster-name"]
                    .as_str()
                    .is_some_and(|c| !hubs.iter().any(|h| h == c))
            })
            .map(|m| {
                format!(
                    "mirror service {}.{} is not part of any Link",
                    m["metadata"]["name"].as_str().unwrap_or_default(),
                    m["metadata"]["namespace"].as_str().unwrap_or_default()
                )
            })
            .collect();
        if orphans.is_empty() {
            mc.pass("all mirror services are part of a Link", &[]);
        } else {
            mc.warn(
                "all mirror services are part of a Link",
                &orphans.join("\n        "),
                "l5d-multicluster-orphaned-services",
            );
        }
    }
}

fn proxy_check(cli: &Cli) -> ExitCode {
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

fn unlink(cluster_name: &str, namespace: &str) -> String {
    fixtures::LINK_2_17
        .split("\n---\n")
        .map(|doc| {
            doc.replace("__HUB__", cluster_name).replace(
                "namespace: linkerd-multicluster",
                &format!("namespace: {namespace}"),
            )
        })
        .map(|doc| {
            // Names and kinds only: what `kubectl delete -f -` needs.
            let keep: Vec<&str> = doc
                .lines()
                .take_while(|l| {
                    !l.starts_with("spec:")
                        && !l.starts_with("rules:")
                        && !l.starts_with("roleRef:")
                        && !l.starts_with("data:")
                        && !l.starts_with("subjects:")
                })
                .filter(|l| !l.starts_with("type:"))
                .collect();
            keep.join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let w = words(&cli.command);
    if should_fail(w) {
        let server = context(&cli)
            .map(|c| c.server)
            .unwrap_or_else(|_| "https://127.0.0.1:6443".into());
        eprintln!(
            "Error: Get \"{server}/api/v1/namespaces/linkerd-multicluster/services/linkerd-gateway\": net/http: TLS handshake timeout"
        );
        return ExitCode::FAILURE;
    }
    let v = version();
    match &cli.command {
        Command::Version { client, short } => {
            if *short {
                println!("{v}");
            } else {
                println!("Client version: {v}");
            }
            if !client {
                let server = context(&cli)
                    .ok()
                    .and_then(|c| {
                        c.get(&format!(
                            "/apis/apps/v1/namespaces/{}/deployments/linkerd-destination",
                            cli.linkerd_namespace
                        ))
                        .ok()
                        .flatten()
                    })
                    .and_then(|d| {
                        d["metadata"]["labels"]["app.kubernetes.io/version"]
                            .as_str()
                            .map(String::from)
                    })
                    .unwrap_or_else(|| "unavailable".into());
                if *short {
                    println!("{server}")
                } else {
                    println!("Server version: {server}")
                }
            }
            ExitCode::SUCCESS
        }
        Command::Check { proxy: _, .. } => proxy_check(&cli),
        Command::Multicluster { command } => match command {
            Multicluster::Link(args) => {
                if is_2_18_plus(&v) {
                    // cobra's deprecation notice, as the real 2.18 and 2.19 print it (seen by
                    // tests/rig_linkerd.rs).
                    eprintln!(
                        "Command \"link\" is deprecated, please use `multicluster link-gen` instead."
                    );
                }
                emit(link(&cli, args, false))
            }
            Multicluster::LinkGen(args) => {
                if !is_2_18_plus(&v) {
                    eprintln!("{}", link_gen_before_2_18());
                    return ExitCode::FAILURE;
                }
                emit(link(&cli, args, true))
            }
            Multicluster::Unlink {
                cluster_name,
                namespace,
            } => {
                println!("{}", unlink(cluster_name, namespace));
                ExitCode::SUCCESS
            }
            Multicluster::Check { .. } => multicluster_check(&cli),
        },
    }
}

fn emit(r: anyhow::Result<String>) -> ExitCode {
    match r {
        Ok(s) => {
            print!("{s}");
            if !s.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_2_18_plus("edge-25.4.4"));
        assert!(is_2_18_plus("stable-2.18.0"));
        assert!(is_2_18_plus("enterprise-2.19.1"));
        assert!(!is_2_18_plus("edge-24.11.8"));
        assert!(!is_2_18_plus("stable-2.14.10"));
        assert!(!is_2_18_plus("stable-2.17.1"));
    }
}
