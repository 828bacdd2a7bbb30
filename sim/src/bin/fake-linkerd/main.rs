//! A fake `linkerd` CLI for tests and the demo, reading the simulated clusters over HTTPS.
//!
//! It behaves as the release `FAKE_LINKERD_VERSION` names (default the newest supported,
//! [`LinkerdVersion::NEWEST`]): which commands exist, what they need on the cluster before they
//! print anything, their error texts and their output follow linkerd2 at that release's tag
//! (each module names the upstream files). Other environment: `FAKE_LINKERD_TOKEN` (the service
//! account token put in link manifests instead of the token Secret's, so tests can use a canary),
//! `FAKE_LINKERD_FAIL` (`"<subcommand words>:N"`, several separated by `;`) with
//! `FAKE_LINKERD_STATE_DIR` holding the counters, `KUBECONFIG`.

// Structure held by CI: no function over 80 lines (clippy.toml), no function with more than
// seven arguments; an `allow` only with a one-line reason beside it.
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

mod check;
mod gateways;
mod link;
mod proxy_check;
mod unlink;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mcflow_sim::LinkerdVersion;
use mcflow_sim::client::{KubeContext, Kubeconfig};

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

/// The flags `link` (all versions) and `link-gen` (2.18+) share: multicluster/cmd/link.go
/// @edge-24.11.8 and link-gen.go @edge-25.4.4 (`--set` and `--log-level` are `link`'s only).
#[derive(Args, Clone)]
struct LinkArgs {
    /// The name of the target cluster.
    #[arg(long)]
    cluster_name: Option<String>,
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
    /// Labels the mirrors do not copy (v1alpha3 Links, 2.18+).
    #[arg(long, value_delimiter = ',')]
    excluded_labels: Vec<String>,
    /// Helm-style values (`link` only; accepted and ignored).
    #[arg(long)]
    set: Vec<String>,
    /// Log level (`link` only; accepted and ignored).
    #[arg(long)]
    log_level: Option<String>,
}

#[derive(Subcommand)]
enum Multicluster {
    /// Outputs resources that allow another cluster to mirror services from this one (deprecated
    /// from 2.18).
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
        /// Only the service mirror controller's objects (2.18+).
        #[arg(long)]
        only_controller: bool,
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
    /// Display stats information about the gateways in target clusters.
    Gateways {
        /// Only this target cluster.
        #[arg(long)]
        cluster_name: Option<String>,
        /// Wait this long for the gateways.
        #[arg(short, long)]
        wait: Option<String>,
        /// Output format (`table` or `json`).
        #[arg(short, long)]
        output: Option<String>,
    },
}

/// The version string the CLI reports, and the release whose behaviour it has. A version that
/// is not one of the supported releases behaves as the nearest one (`stable-2.14.10` as 2.17).
fn version() -> (String, LinkerdVersion) {
    let v = std::env::var("FAKE_LINKERD_VERSION")
        .unwrap_or_else(|_| LinkerdVersion::NEWEST.tag().to_string());
    let release = LinkerdVersion::parse(&v).unwrap_or(if newer_than_supported(&v) {
        LinkerdVersion::NEWEST
    } else {
        LinkerdVersion::V2_17
    });
    (v, release)
}

/// Whether an unsupported version is newer than the supported ones (else older).
fn newer_than_supported(v: &str) -> bool {
    let nums: Vec<u32> = v
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    match nums.as_slice() {
        [y, m, ..] if v.starts_with("edge-") => (*y, *m) > (25, 10),
        [2, minor, ..] => *minor > 19,
        _ => false,
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
            Multicluster::Gateways { .. } => "multicluster gateways",
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

/// An error as cobra prints it: `Error: <msg>`, then the command's usage, on stderr; exit 1
/// (spf13/cobra command.go `ExecuteC`, linkerd2 cli/main.go).
fn cobra_error(command: &str, msg: &str) -> ExitCode {
    eprintln!(
        "Error: {msg}\nUsage:\n  linkerd {command} [flags]\n\nUse \"linkerd {command} --help\" for more information."
    );
    ExitCode::FAILURE
}

fn version_cmd(cli: &Cli, client: bool, short: bool) -> ExitCode {
    let (v, _) = version();
    if short {
        println!("{v}");
    } else {
        println!("Client version: {v}");
    }
    if !client {
        let server = context(cli)
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
        if short {
            println!("{server}")
        } else {
            println!("Server version: {server}")
        }
    }
    ExitCode::SUCCESS
}

fn multicluster(cli: &Cli, command: &Multicluster) -> ExitCode {
    let (v, release) = version();
    match command {
        Multicluster::Link(args) => link::link(cli, args, &v, release),
        Multicluster::LinkGen(args) => link::link_gen(cli, args, &v, release),
        Multicluster::Unlink {
            cluster_name,
            namespace,
            only_controller,
        } => unlink::unlink(cli, cluster_name, namespace, *only_controller, release),
        Multicluster::Check { .. } => check::multicluster_check(cli, &v, release),
        Multicluster::Gateways {
            cluster_name,
            output,
            ..
        } => gateways::gateways(cli, cluster_name.as_deref(), output.as_deref()),
    }
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
    match &cli.command {
        Command::Version { client, short } => version_cmd(&cli, *client, *short),
        Command::Check { .. } => proxy_check::proxy_check(&cli),
        Command::Multicluster { command } => multicluster(&cli, command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_versions_behave_as_the_nearest_release() {
        assert!(!newer_than_supported("stable-2.14.10"));
        assert!(!newer_than_supported("edge-23.10.2"));
        assert!(newer_than_supported("stable-2.20.0"));
        assert!(newer_than_supported("edge-26.1.1"));
    }
}
