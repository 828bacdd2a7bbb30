//! The newcomer demo: three simulated clusters (`internal`, `production`, `nonproduction`) with
//! Linkerd and Argo CD but no multicluster yet, the fake `linkerd` CLI, and
//! `mcflow run workflows/bootstrap.yaml` against them with the live progress display.
//!
//!     cargo run --example demo
//!     cargo run --example demo -- --linkerd-version 2.17    # or MCFLOW_DEMO_LINKERD=2.17
//!     cargo run --example demo -- --output plain            # or json: mcflow's --output
//!
//! The clusters, their charts and the fake CLI are Linkerd 2.19 unless told otherwise; for another
//! release the demo runs with a copy of config/clusters.yaml and deploy/applicationset.yaml whose
//! chart is that release's, as a user of that release would have them.
//!
//! Everything runs on 127.0.0.1; the journal lands in `.mcflow/` like any run, so
//! `mcflow runs` / `mcflow show --last` work afterwards (the clusters are gone by then).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mcflow::cli::{Cli, Command};
use mcflow_sim::{LinkerdVersion, Scenario, Simulator};

/// The demo's own flags.
#[derive(Parser)]
#[command(
    name = "demo",
    about = "mcflow's bootstrap on three simulated clusters"
)]
struct DemoArgs {
    /// The Linkerd release of the simulated clusters and the fake CLI: 2.17, 2.18 or 2.19.
    #[arg(long, env = "MCFLOW_DEMO_LINKERD", default_value = LinkerdVersion::NEWEST.release(), value_parser = release)]
    linkerd_version: LinkerdVersion,
    /// mcflow's `--output`: auto (the live display on a terminal), plain or json.
    #[arg(long, short = 'o', value_enum, default_value = "auto")]
    output: mcflow::cli::OutputMode,
}

fn release(s: &str) -> Result<LinkerdVersion, String> {
    LinkerdVersion::parse(s)
        .ok_or_else(|| format!("unsupported Linkerd version {s:?} (supported: 2.17, 2.18, 2.19)"))
}

/// For a release other than the one the repository's config names: copies of the config and the
/// ApplicationSet in `dir` with that release's chart; the config's path.
fn config_for(version: LinkerdVersion, dir: &std::path::Path) -> std::io::Result<Option<String>> {
    let newest = LinkerdVersion::NEWEST.chart();
    if version.chart() == newest {
        return Ok(None);
    }
    let appset =
        std::fs::read_to_string("deploy/applicationset.yaml")?.replace(newest, version.chart());
    let appset_path = dir.join("applicationset.yaml");
    std::fs::write(&appset_path, appset)?;
    let config = std::fs::read_to_string("config/clusters.yaml")?
        .replace(
            &format!("version: {newest}"),
            &format!("version: {}", version.chart()),
        )
        .replace(
            "applicationset: deploy/applicationset.yaml",
            &format!("applicationset: {}", appset_path.display()),
        );
    let config_path = dir.join("clusters.yaml");
    std::fs::write(&config_path, config)?;
    Ok(Some(config_path.display().to_string()))
}

fn main() -> ExitCode {
    let demo = DemoArgs::parse();
    // SAFETY: no other thread exists yet (the simulator starts below); the fake linkerd the run
    // spawns inherits the variable and behaves as this release's CLI.
    unsafe { std::env::set_var("FAKE_LINKERD_VERSION", demo.linkerd_version.tag()) };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("demo: cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match config_for(demo.linkerd_version, dir.path()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo: run it from the repository's root (config/, deploy/): {e}");
            return ExitCode::FAILURE;
        }
    };
    let kubeconfig = dir.path().join("kubeconfig");
    eprintln!("demo: starting simulated clusters internal, production, nonproduction …");
    let sim = match Simulator::builder()
        .clusters(["internal", "production", "nonproduction"])
        .scenario(Scenario::linkerd_fresh().version(demo.linkerd_version))
        .deployment_ready_delay(Duration::from_millis(1200))
        .kubeconfig_path(&kubeconfig)
        .start_blocking()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: the simulator did not start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "demo: building the fake linkerd CLI, Linkerd {} …",
        demo.linkerd_version
    );
    let linkerd = mcflow_sim::fake_linkerd_bin();
    eprintln!("demo: kubeconfig {}", sim.kubeconfig_path().display());
    eprintln!("demo: mcflow run workflows/bootstrap.yaml\n");

    let mut argv: Vec<String> = vec!["mcflow".into(), "--output".into()];
    argv.push(
        clap::ValueEnum::to_possible_value(&demo.output)
            .map(|v| v.get_name().to_string())
            .unwrap_or_else(|| "auto".into()),
    );
    if let Some(config) = config {
        eprintln!(
            "demo: config {config} (chart {})",
            demo.linkerd_version.chart()
        );
        argv.extend(["--config".into(), config]);
    }
    argv.extend([
        "run".into(),
        "workflows/bootstrap.yaml".into(),
        "--kubeconfig".into(),
        sim.kubeconfig_path().display().to_string(),
        "--linkerd".into(),
        linkerd.display().to_string(),
    ]);
    let cli = Cli::parse_from(argv);
    let Command::Run(args) = &cli.command else {
        return ExitCode::FAILURE;
    };
    match mcflow::commands::run_cmd(&cli.global, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !matches!(e, mcflow::error::Error::StepFailed) {
                eprintln!("error: {e}");
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
