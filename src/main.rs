// Structure held by CI: no function over 80 lines (clippy.toml), no function with more than
// seven arguments; an `allow` only with a one-line reason beside it.
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]
use std::process::ExitCode;

use clap::Parser;
use mcflow::cli::{Cli, Command};
use mcflow::commands;
use mcflow::error::Error;

// mimalloc: loading and planning a workflow is mostly small allocations, where it is faster
// than glibc's malloc (docs/PERFORMANCE.md, figure 2). Declared by the binary, not the
// library, so that tests and other users of the library keep their own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `COMPLETE=<shell> mcflow …`: answer the shell's completion request and exit.
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command).complete();
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    let result = match &cli.command {
        Command::Validate(a) => commands::validate_files(&cli.global, &a.files),
        Command::Plan(a) => commands::plan_cmd(&cli.global, &a.workflow, &a.params),
        Command::Graph(a) => commands::graph_cmd(&a.workflow),
        Command::Diff(a) => commands::diff_cmd(&cli.global, a),
        Command::Params(args) => commands::params_cmd(&cli.global, &args.workflow),
        Command::Schema(args) => commands::schema_cmd(args.events),
        Command::Completions { shell } => commands::completions_cmd(*shell),
        Command::Run(a) => commands::run_cmd(&cli.global, a),
        Command::Resume(a) => commands::resume_cmd(&cli.global, a),
        Command::Runs(a) => commands::runs_cmd(&cli.global, a.limit),
        Command::Show(a) => commands::show_cmd(&cli.global, a),
        Command::State(a) => mcflow::state_cmd::state_cmd(&cli.global, a),
    };
    log_cpu();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

/// The CPU this process used (all its threads, not the programs it ran), at debug level under
/// its own target: the fan-out bench reads it with `RUST_LOG=mcflow::cpu=debug` to tell
/// mcflow's CPU from its linkerd processes'.
fn log_cpu() {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    if let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) {
        let user_us = usage.user_time().num_microseconds();
        let sys_us = usage.system_time().num_microseconds();
        tracing::debug!(
            target: "mcflow::cpu",
            cpu_us = user_us + sys_us,
            user_us,
            sys_us,
            "process CPU"
        );
    }
}

fn report(e: &Error) {
    match e {
        Error::Invalid(problems) => {
            eprint!("{}", problems.render(mcflow::report::color_on_stderr()))
        }
        reported if reported.is_reported() => {}
        other => eprintln!("error: {other}"),
    }
}

/// Logs (tracing) go to stderr: warnings by default, `-v` info, `-vv` debug; RUST_LOG wins.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("mcflow={level},kube=warn"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only for a person at a terminal: a CI log or a file gets plain text.
        .with_ansi(mcflow::report::color_on_stderr())
        .with_writer(mcflow::report::LogWriter)
        .with_target(false)
        .try_init();
}
