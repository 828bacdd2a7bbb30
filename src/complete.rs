//! Dynamic shell completion (clap_complete's `CompleteEnv`): run ids for `resume` and `show`,
//! param names (and allowed values) for `--set`. Enabled by sourcing what
//! `COMPLETE=bash mcflow` prints (zsh, fish, elvish, powershell alike); `mcflow completions
//! <shell>` still prints the static script.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap_complete::CompletionCandidate;

/// The runs in the state directory (`--state-dir`, `MCFLOW_STATE_DIR`, else `.mcflow`), newest
/// first, each with its workflow and status as help.
pub fn run_ids() -> Vec<CompletionCandidate> {
    let state = crate::journal::StateDir::new(&state_dir());
    let Ok(ids) = state.list() else {
        return Vec::new();
    };
    ids.iter()
        .rev()
        .take(50)
        .map(|id| {
            let help = crate::journal::read(&state.journal_path(id))
                .ok()
                .map(|r| crate::journal::replay::replay(&r.events))
                .map(|h| format!("{} {}", h.workflow, h.status_text()));
            CompletionCandidate::new(id.clone()).help(help.map(Into::into))
        })
        .collect()
}

/// `name=` for each param of the workflow on the command line, and `name=value` for each
/// allowed value of a param with a list `enum`, as the typed text goes.
pub fn param_sets(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let Some(workflow) = workflow_in_args() else {
        return Vec::new();
    };
    let Ok(bundle) = crate::workflow::validate::load_and_validate(&workflow, None) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, spec) in &bundle.root.params {
        let set = format!("{name}=");
        if let Some(rest) = typed.strip_prefix(&set) {
            let _ = rest;
            if let Some(crate::workflow::model::Choices::List(values)) = &spec.choices {
                for v in values {
                    out.push(CompletionCandidate::new(format!(
                        "{set}{}",
                        crate::params::text_of(v)
                    )));
                }
            }
        } else if set.starts_with(typed.as_ref()) {
            out.push(CompletionCandidate::new(set).help(spec.description.clone().map(Into::into)));
        }
    }
    out
}

/// The workflow file on the command line being completed (the first `.yaml`/`.yml` argument
/// that exists).
fn workflow_in_args() -> Option<PathBuf> {
    std::env::args_os().map(PathBuf::from).find(|p| {
        matches!(p.extension().and_then(OsStr::to_str), Some("yaml" | "yml")) && p.is_file()
    })
}

/// `--state-dir DIR` on the command line, else `MCFLOW_STATE_DIR`, else `.mcflow`.
fn state_dir() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    let flag = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--state-dir=")
            .map(String::from)
            .or_else(|| {
                (a == "--state-dir")
                    .then(|| args.get(i + 1).cloned())
                    .flatten()
            })
    });
    flag.map(PathBuf::from)
        .or_else(|| std::env::var_os("MCFLOW_STATE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(".mcflow").to_path_buf())
}
