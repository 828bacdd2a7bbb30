//! The newcomer demo: three simulated clusters (`internal`, `production`, `nonproduction`) with
//! Linkerd and Argo CD but no multicluster yet, the fake `linkerd` CLI, and
//! `mcflow run workflows/bootstrap.yaml` against them with the live progress display.
//!
//!     cargo run --example demo
//!     cargo run --example demo -- --output json     # global flags go before `run`
//!
//! Everything runs on 127.0.0.1; the journal lands in `.mcflow/` like any run, so
//! `mcflow runs` / `mcflow show --last` work afterwards (the clusters are gone by then).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mcflow::cli::{Cli, Command};
use mcflow_sim::{Scenario, Simulator};

fn main() -> ExitCode {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("demo: cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let kubeconfig = dir.path().join("kubeconfig");
    eprintln!("demo: starting simulated clusters internal, production, nonproduction …");
    let sim = match Simulator::builder()
        .clusters(["internal", "production", "nonproduction"])
        .scenario(Scenario::linkerd_fresh())
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
    eprintln!("demo: building the fake linkerd CLI …");
    let linkerd = mcflow_sim::fake_linkerd_bin();
    eprintln!("demo: kubeconfig {}", sim.kubeconfig_path().display());
    eprintln!("demo: mcflow run workflows/bootstrap.yaml\n");

    // Global flags given to the demo (`--output plain`, `-v`) go before `run`.
    let flags = std::env::args().skip(1);
    let cli = Cli::parse_from(
        std::iter::once("mcflow".to_string())
            .chain(flags)
            .chain(run_args(&sim, &linkerd)),
    );
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

/// `run workflows/bootstrap.yaml` against the simulated clusters with the fake `linkerd`.
fn run_args(sim: &Simulator, linkerd: &std::path::Path) -> Vec<String> {
    vec![
        "run".into(),
        "workflows/bootstrap.yaml".into(),
        "--kubeconfig".into(),
        sim.kubeconfig_path().display().to_string(),
        "--linkerd".into(),
        linkerd.display().to_string(),
    ]
}
