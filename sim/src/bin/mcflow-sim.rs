//! `mcflow-sim up`: start simulated clusters, write their kubeconfig, stay up until Ctrl-C.

// Structure held by CI: no function over 80 lines (clippy.toml), no function with more than
// seven arguments; an `allow` only with a one-line reason beside it.
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mcflow_sim::{LinkerdVersion, Scenario, Simulator};

#[derive(Parser)]
#[command(
    name = "mcflow-sim",
    version,
    about = "A multi-cluster Kubernetes API simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start clusters on 127.0.0.1 and serve until Ctrl-C or SIGTERM.
    Up {
        /// Comma-separated cluster names (also the kubeconfig context names).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "internal,production,nonproduction"
        )]
        clusters: Vec<String>,
        /// Where to write the kubeconfig.
        #[arg(long, env = "MCFLOW_SIM_KUBECONFIG")]
        kubeconfig: PathBuf,
        /// Seed the clusters: `linkerd-fresh` (Linkerd everywhere, Argo CD on the hub).
        #[arg(long)]
        scenario: Option<String>,
        /// The scenario's hub (the cluster running Argo CD); default: the first cluster.
        #[arg(long)]
        hub: Option<String>,
        /// Export monitoring/alloy on the hub.
        #[arg(long)]
        export_alloy: bool,
        /// The scenario's Linkerd release: 2.17, 2.18 or 2.19 (default the newest).
        #[arg(long, value_parser = parse_linkerd_version)]
        linkerd_version: Option<LinkerdVersion>,
        /// Delay before Deployments become Available, e.g. `300ms`, `2s`.
        #[arg(long, default_value = "300ms", value_parser = parse_duration)]
        ready_delay: Duration,
    },
}

fn parse_linkerd_version(s: &str) -> Result<LinkerdVersion, String> {
    LinkerdVersion::parse(s).ok_or_else(|| {
        let known: Vec<&str> = LinkerdVersion::ALL.iter().map(|v| v.release()).collect();
        format!(
            "unsupported Linkerd version {s:?} (supported: {})",
            known.join(", ")
        )
    })
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms
            .parse()
            .map(Duration::from_millis)
            .map_err(|e| e.to_string());
    }
    if let Some(secs) = s.strip_suffix('s') {
        return secs
            .parse()
            .map(Duration::from_secs_f64)
            .map_err(|e| e.to_string());
    }
    Err(format!("invalid duration {s:?} (use e.g. 300ms or 2s)"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Command::Up {
        clusters,
        kubeconfig,
        scenario,
        hub,
        export_alloy,
        linkerd_version,
        ready_delay,
    } = cli.command;
    let mut b = Simulator::builder()
        .clusters(&clusters)
        .deployment_ready_delay(ready_delay)
        .kubeconfig_path(&kubeconfig);
    match scenario.as_deref() {
        None => {}
        Some("linkerd-fresh") => {
            let hub = hub.unwrap_or_else(|| clusters[0].clone());
            b = b.scenario(
                Scenario::linkerd_fresh()
                    .version(linkerd_version.unwrap_or(LinkerdVersion::NEWEST))
                    .hub(&hub)
                    .export_alloy(export_alloy),
            );
        }
        Some(other) => anyhow::bail!("unknown scenario {other:?} (known: linkerd-fresh)"),
    }
    let sim = b.start().await?;
    println!("kubeconfig: {}", sim.kubeconfig_path().display());
    for c in sim.clusters() {
        println!("cluster {}: {}", c.name(), c.url());
    }
    println!("export KUBECONFIG={}", sim.kubeconfig_path().display());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("mcflow-sim: shutting down");
    drop(sim);
    Ok(())
}
