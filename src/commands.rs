//! One function per subcommand: parse nothing, print results, return an [`Error`] to exit with.

use std::io::{IsTerminal, Write};
use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, GlobalArgs, OutputMode, ParamArgs};
use crate::config::Config;
use crate::error::Error;
use crate::params::{self, ParamValues};
use crate::plan;
use crate::workflow::validate::{Bundle, load_and_validate};
use crate::workflow::{Problem, ProblemKind, Problems};

/// A workflow ready to run or plan: validated, with its params bound and its config.
pub struct Prepared {
    pub bundle: Bundle,
    pub params: ParamValues,
    pub config: Config,
}

/// Whether diagnostics are printed in colour (a terminal, and NO_COLOR unset).
pub fn color_on_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// load → validate → bind params.
pub fn prepare(global: &GlobalArgs, workflow: &Path, args: &ParamArgs) -> Result<Prepared, Error> {
    let config = Config::load(global.config.as_deref())?;
    let bundle = load_and_validate(workflow, Some(&config.value))?;
    let mut values = ParamValues::new();
    let mut problems = Problems::default();
    for file in &args.values {
        match params::read_values_file(file) {
            Ok(v) => values.extend(v),
            Err(p) => problems.push(p),
        }
    }
    for s in &args.set {
        match params::parse_set(s) {
            Ok((k, v)) => {
                values.insert(k, serde_json::Value::String(v));
            }
            Err(e) => problems.push(Problem::new(ProblemKind::UnknownParam, e)),
        }
    }
    if !problems.is_empty() {
        return Err(problems.into());
    }
    let origin = format!("workflow `{}`", bundle.root.workflow.name);
    let params = params::bind(
        &bundle.root.workflow.params,
        &values,
        &config.value,
        &origin,
    )?;
    Ok(Prepared {
        bundle,
        params,
        config,
    })
}

pub fn validate_files(global: &GlobalArgs, files: &[std::path::PathBuf]) -> Result<(), Error> {
    let config = Config::load(global.config.as_deref())?;
    let mut problems = Problems::default();
    let mut ok = Vec::new();
    for f in files {
        match load_and_validate(f, Some(&config.value)) {
            Ok(b) => ok.push((f, b.root.workflow.steps.len())),
            Err(p) => problems.extend(p),
        }
    }
    if global.output == OutputMode::Json {
        let report = serde_json::json!({
            "valid": problems.is_empty(),
            "problems": problems.0.iter().map(|p| serde_json::json!({
                "kind": format!("{:?}", p.kind),
                "message": p.message,
                "file": p.file.as_ref().map(|f| f.name()),
                "line": p.loc.map(|l| l.line),
                "column": p.loc.map(|l| l.column),
                "help": p.help,
            })).collect::<Vec<_>>(),
        });
        println!("{report}");
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Usage(String::new()))
        };
    }
    if !global.quiet {
        for (f, n) in &ok {
            println!("✓ {} ({n} steps)", f.display());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

pub fn plan_cmd(global: &GlobalArgs, workflow: &Path, args: &ParamArgs) -> Result<(), Error> {
    let prepared = prepare(global, workflow, args)?;
    let plan = plan::build(&prepared.bundle, &prepared.params, &prepared.config.value)
        .map_err(Error::Usage)?;
    let mut out = std::io::stdout().lock();
    let text = if global.output == OutputMode::Json {
        serde_json::to_string_pretty(&plan).map_err(|e| Error::Usage(e.to_string()))? + "\n"
    } else {
        plan::render_text(&plan)
    };
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

pub fn graph_cmd(workflow: &Path) -> Result<(), Error> {
    let bundle = load_and_validate(workflow, None)?;
    print!("{}", plan::mermaid(&bundle.root));
    Ok(())
}

pub fn schema_cmd() -> Result<(), Error> {
    let schema = schemars::schema_for!(crate::workflow::Workflow);
    let text = serde_json::to_string_pretty(&schema).map_err(|e| Error::Usage(e.to_string()))?;
    println!("{text}");
    Ok(())
}

pub fn completions_cmd(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "mcflow", &mut std::io::stdout());
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::State(format!("cannot start the async runtime: {e}")))
}

/// Stops the runtime without waiting long for blocking tasks: an output reader can stay blocked
/// on a pipe that a step's escaped daemon (`setsid`) still holds open, and mcflow must still exit.
fn finish_runtime(rt: tokio::runtime::Runtime) {
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
}

fn run_options(global: &GlobalArgs, exec: &crate::cli::ExecArgs) -> crate::run::RunOptions {
    crate::run::RunOptions {
        state_dir: global.state_dir.clone(),
        max_parallel: exec.max_parallel,
        dry_run: exec.dry_run,
        kubeconfig: global.kubeconfig.clone(),
        linkerd: global.linkerd.clone(),
    }
}

fn reporter(global: &GlobalArgs) -> Box<dyn crate::report::Reporter> {
    crate::report::for_mode(
        global.output,
        crate::report::ReportOptions {
            quiet: global.quiet,
            verbose: global.verbose,
            color: crate::report::color_enabled(),
        },
    )
}

pub fn run_cmd(global: &GlobalArgs, args: &crate::cli::RunArgs) -> Result<(), Error> {
    let prepared = prepare(global, &args.workflow, &args.params)?;
    let opts = run_options(global, &args.exec);
    let rt = runtime()?;
    let result = rt.block_on(crate::run::start(prepared, opts, reporter(global)));
    finish_runtime(rt);
    result.map(|_| ())
}

pub fn resume_cmd(global: &GlobalArgs, args: &crate::cli::ResumeArgs) -> Result<(), Error> {
    let state = crate::journal::StateDir::new(&global.state_dir);
    let run_id = match &args.run_id {
        Some(id) => id.clone(),
        None => state.last().map_err(|e| Error::State(e.to_string()))?,
    };
    let opts = run_options(global, &args.exec);
    let rt = runtime()?;
    let result = rt.block_on(crate::run::resume(
        &run_id,
        args.allow_changed,
        opts,
        reporter(global),
    ));
    finish_runtime(rt);
    result.map(|_| ())
}

pub fn runs_cmd(global: &GlobalArgs, limit: usize) -> Result<(), Error> {
    let state = crate::journal::StateDir::new(&global.state_dir);
    let ids = state.list().map_err(|e| Error::State(e.to_string()))?;
    let mut rows = Vec::new();
    for id in ids.iter().rev().take(limit) {
        let info =
            crate::history::RunInfo::read(&state, id).map_err(|e| Error::State(e.to_string()))?;
        rows.push(info);
    }
    if global.output == OutputMode::Json {
        for r in &rows {
            println!(
                "{}",
                serde_json::to_string(&r.to_json()).unwrap_or_default()
            );
        }
        return Ok(());
    }
    if rows.is_empty() {
        println!("no runs in {}", global.state_dir.display());
        return Ok(());
    }
    println!(
        "{:<22}  {:<20}  {:<12}  {:>6}  STARTED",
        "RUN", "WORKFLOW", "STATUS", "STEPS"
    );
    for r in rows {
        println!(
            "{:<22}  {:<20}  {:<12}  {:>6}  {}",
            r.run_id,
            r.workflow,
            r.status,
            format!("{}/{}", r.succeeded, r.steps.len()),
            r.started.get(..19).unwrap_or(&r.started)
        );
    }
    Ok(())
}

pub fn show_cmd(global: &GlobalArgs, args: &crate::cli::ShowArgs) -> Result<(), Error> {
    let state = crate::journal::StateDir::new(&global.state_dir);
    let run_id = match &args.run_id {
        Some(id) => state
            .existing(id)
            .map_err(|e| Error::State(e.to_string()))?,
        None => state.last().map_err(|e| Error::State(e.to_string()))?,
    };
    let info =
        crate::history::RunInfo::read(&state, &run_id).map_err(|e| Error::State(e.to_string()))?;
    if global.output == OutputMode::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", info.render());
    }
    Ok(())
}
