//! One function per subcommand: parse nothing, print results, return an [`Error`] to exit with.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, GlobalArgs, OutputMode, ParamArgs};
use crate::config::Config;
use crate::error::Error;
use crate::plan;
use crate::prepare::prepare;
use crate::workflow::validate::load_and_validate;
use crate::workflow::{Problem, Problems};

pub fn validate_files(global: &GlobalArgs, files: &[std::path::PathBuf]) -> Result<(), Error> {
    let config = Config::load(global.config.as_deref())?;
    let mut problems = Problems::default();
    let mut ok = Vec::new();
    let mut without_config = Vec::new();
    for f in files {
        if let Some(missing) = config.missing_for(f) {
            // One problem for every file that reads the config: the cause is the same.
            if without_config.is_empty() {
                problems.push(missing);
            }
            without_config.push(f.display().to_string());
            continue;
        }
        match load_and_validate(f, Some(&config.value)) {
            Ok(b) => ok.push((f, b.root.steps.len())),
            Err(p) => problems.extend(p),
        }
    }
    if let (Some(first), [_, more @ ..]) = (
        problems
            .0
            .iter_mut()
            .find(|p| p.message.starts_with("no config file")),
        &without_config[..],
    ) && !more.is_empty()
    {
        first
            .message
            .push_str(&format!(" (so do {})", more.join(", ")));
    }
    problems.sort();
    if global.output == OutputMode::Json {
        let report = serde_json::json!({
            "valid": problems.is_empty(),
            "problems": problems.0.iter().map(Problem::to_json).collect::<Vec<_>>(),
        });
        crate::report::stdout(&format!("{report}\n"));
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidReported)
        };
    }
    if !global.quiet {
        for (f, n) in &ok {
            crate::report::stdout(&format!("✓ {} ({n} steps)\n", f.display()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into())
    }
}

pub fn plan_cmd(global: &GlobalArgs, workflow: &Path, args: &ParamArgs) -> Result<(), Error> {
    let prepared = prepare(global.config.as_deref(), workflow, &args.values, &args.set)?;
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

pub fn params_cmd(global: &GlobalArgs, workflow: &Path) -> Result<(), Error> {
    let config = Config::load(global.config.as_deref())?;
    // Templates are not checked against the config here: listing params needs none of them.
    let bundle = load_and_validate(workflow, None)?;
    let params = crate::params::describe(&bundle.root.params, &config.value);
    let text = if global.output == OutputMode::Json {
        serde_json::to_string_pretty(&params).unwrap_or_default() + "\n"
    } else {
        crate::report::render_params(&bundle.root.name, &workflow.display().to_string(), &params)
    };
    crate::report::stdout(&text);
    Ok(())
}

pub fn graph_cmd(workflow: &Path) -> Result<(), Error> {
    let bundle = load_and_validate(workflow, None)?;
    crate::report::stdout(&plan::mermaid(&bundle.root));
    Ok(())
}

pub fn schema_cmd(events: bool) -> Result<(), Error> {
    let schema = if events {
        crate::journal::events_schema()
    } else {
        serde_json::to_value(schemars::schema_for!(crate::workflow::Workflow))
            .map_err(|e| Error::Usage(e.to_string()))?
    };
    let text = serde_json::to_string_pretty(&schema).map_err(|e| Error::Usage(e.to_string()))?;
    crate::report::stdout(&format!("{text}\n"));
    Ok(())
}

pub fn completions_cmd(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut cmd = Cli::command();
    // Into a buffer first: clap_complete panics when it cannot write (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mcflow", &mut script);
    crate::report::stdout(&String::from_utf8_lossy(&script));
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

/// The state store: `--state`/`MCFLOW_STATE`, else `config`'s `state:` (the config file is
/// read when not given), else the local state directory.
fn state_location(
    global: &GlobalArgs,
    config: Option<&serde_json::Value>,
) -> Result<crate::state::StateLocation, Error> {
    let loaded;
    let config = match (config, &global.state) {
        (Some(c), _) => c,
        (None, Some(_)) => &serde_json::Value::Null,
        (None, None) => {
            loaded = Config::load(global.config.as_deref())?;
            &loaded.value
        }
    };
    crate::state::StateLocation::choose(global.state.as_deref(), config, &global.state_dir)
        .map_err(Error::Usage)
}

/// The store `runs`, `show` and `resume` read.
pub(crate) fn open_store(global: &GlobalArgs) -> Result<crate::state::Store, Error> {
    let location = state_location(global, None)?;
    crate::state::Store::open(&location, global.kubeconfig.as_deref())
        .map_err(|e| Error::State(e.to_string()))
}

fn run_options(
    global: &GlobalArgs,
    exec: &crate::cli::ExecArgs,
    state: crate::state::StateLocation,
) -> crate::run::RunOptions {
    crate::run::RunOptions {
        state,
        wait_lock: exec.wait_lock,
        max_parallel: exec.max_parallel,
        dry_run: exec.dry_run,
        kubeconfig: global.kubeconfig.clone(),
        linkerd: global.linkerd.clone(),
        changes: None,
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
    let prepared = prepare(
        global.config.as_deref(),
        &args.workflow,
        &args.params.values,
        &args.params.set,
    )?;
    let state = state_location(global, Some(&prepared.config.value))?;
    let opts = run_options(global, &args.exec, state);
    let rt = runtime()?;
    let result = rt.block_on(crate::run::start(prepared, opts, reporter(global)));
    finish_runtime(rt);
    result.map(|_| ())
}

/// `mcflow diff`: exit 0 when nothing would change, 1 when something would (or a check fails).
pub fn diff_cmd(global: &GlobalArgs, args: &crate::cli::DiffArgs) -> Result<(), Error> {
    let prepared = prepare(
        global.config.as_deref(),
        &args.workflow,
        &args.params.values,
        &args.params.set,
    )?;
    let exec = crate::cli::ExecArgs {
        max_parallel: 8,
        dry_run: true,
        wait_lock: None,
    };
    // A diff's journal stays on this machine, apart from the runs (`runs`, `resume` never see
    // it), whatever store runs use.
    let diffs = crate::state::StateLocation::Local(global.state_dir.join("diffs"));
    let opts = run_options(global, &exec, diffs);
    let rt = runtime()?;
    let result = rt.block_on(crate::diff::diff(prepared, opts));
    finish_runtime(rt);
    let report = result?;
    let text = if global.output == OutputMode::Json {
        crate::diff::render_json(&report)
    } else {
        crate::diff::render_text(
            &report,
            global.output == OutputMode::Auto && crate::report::color_enabled(),
        )
    };
    crate::report::stdout(&text);
    if report.differs() {
        Err(Error::StepFailed)
    } else {
        Ok(())
    }
}

pub fn resume_cmd(global: &GlobalArgs, args: &crate::cli::ResumeArgs) -> Result<(), Error> {
    let location = state_location(global, None)?;
    let run_id = match &args.run_id {
        Some(id) => id.clone(),
        None => last_unfinished(&open_store(global)?, global.quiet)?,
    };
    let opts = run_options(global, &args.exec, location);
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

/// `resume --last`: the newest run that did not succeed (another workflow run since, to fix the
/// cause, does not hide it), named on stderr when it is not the newest run.
fn last_unfinished(state: &crate::state::Store, quiet: bool) -> Result<String, Error> {
    let newest = state.last().map_err(|e| Error::State(e.to_string()))?;
    let ids = state.list().map_err(|e| Error::State(e.to_string()))?;
    for id in ids.iter().rev() {
        let (history, _) = read_history(state, id)?;
        if history.status == Some(crate::journal::RunStatus::Succeeded) {
            continue;
        }
        if *id != newest && !quiet {
            eprintln!(
                "resuming run {id} ({}, {}): the newest run that did not succeed",
                history.workflow,
                history.status_text()
            );
        }
        return Ok(id.clone());
    }
    Err(Error::State(format!(
        "nothing to resume: every run in {} already succeeded (newest: {newest})",
        state.describe()
    )))
}

/// A run read back from its journal, with whether its last line was torn.
fn read_history(
    state: &crate::state::Store,
    run_id: &str,
) -> Result<(crate::journal::RunHistory, bool), Error> {
    let read = state
        .read(run_id)
        .map_err(|e| Error::State(e.to_string()))?;
    let mut history = crate::journal::replay::replay(&read.events);
    if history.run_id.is_empty() {
        history.run_id = run_id.to_string();
    }
    Ok((history, read.torn_tail))
}

pub fn runs_cmd(global: &GlobalArgs, limit: usize) -> Result<(), Error> {
    let state = open_store(global)?;
    let ids = state.list().map_err(|e| Error::State(e.to_string()))?;
    let mut rows = Vec::new();
    for id in ids.iter().rev().take(limit) {
        rows.push(read_history(&state, id)?.0);
    }
    if global.output == OutputMode::Json {
        for r in &rows {
            let line = serde_json::to_string(&crate::report::run_json(r)).unwrap_or_default();
            crate::report::stdout(&format!("{line}\n"));
        }
        return Ok(());
    }
    if rows.is_empty() {
        crate::report::stdout(&format!("no runs in {}\n", state.describe()));
        return Ok(());
    }
    crate::report::stdout(&crate::report::runs_table(&rows));
    Ok(())
}

pub fn show_cmd(global: &GlobalArgs, args: &crate::cli::ShowArgs) -> Result<(), Error> {
    let state = open_store(global)?;
    let run_id = match &args.run_id {
        Some(id) => state
            .existing(id)
            .map_err(|e| Error::State(e.to_string()))?,
        None => state.last().map_err(|e| Error::State(e.to_string()))?,
    };
    if let Some(step) = &args.step {
        return show_step(global, &state, &run_id, step, args.attempt);
    }
    let (history, torn_tail) = read_history(&state, &run_id)?;
    if let Some(out) = &args.bundle {
        return bundle_cmd(global, &state, &run_id, &history, out);
    }
    if global.output == OutputMode::Json {
        let text =
            serde_json::to_string_pretty(&crate::report::run_json(&history)).unwrap_or_default();
        crate::report::stdout(&format!("{text}\n"));
    } else {
        crate::report::stdout(&crate::report::render_run(&history, torn_tail));
    }
    Ok(())
}

/// `mcflow show <run> --bundle FILE`: packs the run's diagnostics, summary and journal.
fn bundle_cmd(
    global: &GlobalArgs,
    state: &crate::state::Store,
    run_id: &str,
    history: &crate::journal::RunHistory,
    out: &Path,
) -> Result<(), Error> {
    let summary = crate::report::render_run(history, false);
    let packed = crate::diagnostics::pack(&state.attempts_dir(run_id), run_id, &summary, out)
        .map_err(|e| Error::State(format!("cannot write {}: {e}", out.display())))?;
    if !global.quiet {
        let note = if packed.gathered {
            ""
        } else {
            " (no diagnostics were gathered: the run did not fail, or its workflow has no gather step)"
        };
        crate::report::stdout(&format!(
            "wrote {}: {} files{note}\n",
            out.display(),
            packed.files
        ));
    }
    Ok(())
}

/// `show <run> --step <id> [--attempt N]`: the step's attempts with their whole output.
fn show_step(
    global: &GlobalArgs,
    state: &crate::state::Store,
    run_id: &str,
    wanted: &str,
    number: Option<usize>,
) -> Result<(), Error> {
    let read = state
        .read(run_id)
        .map_err(|e| Error::State(e.to_string()))?;
    let history = crate::journal::replay::replay(&read.events);
    let keys = crate::report::matching_steps(history.steps.keys().map(String::as_str), wanted);
    if keys.is_empty() {
        let known: Vec<&str> = history.steps.keys().map(String::as_str).collect();
        return Err(Error::Usage(format!(
            "run {run_id} has no step `{wanted}`; its steps: {}",
            known.join(", ")
        )));
    }
    let log = crate::journal::read_attempts(&state.attempts_dir(run_id));
    let mut attempts: Vec<crate::report::StepAttempt> = keys
        .iter()
        .flat_map(|k| crate::report::step_attempts(&read.events, &log, k))
        .collect();
    if let Some(n) = number {
        attempts.retain(|a| a.number == n);
        if attempts.is_empty() {
            return Err(Error::Usage(format!(
                "step `{wanted}` of run {run_id} has no attempt {n}"
            )));
        }
    }
    if global.output == OutputMode::Json {
        let text = serde_json::to_string_pretty(&attempts).unwrap_or_default();
        crate::report::stdout(&format!("{text}\n"));
    } else {
        crate::report::stdout(&crate::report::render_attempts(&attempts));
    }
    Ok(())
}
