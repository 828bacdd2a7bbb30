//! A new run: the kube contexts checked before anything runs, the journal created, the
//! `run_started` event with the files' hashes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::{RunOptions, Setup, execute, state_err};
use crate::config::{Config, sha256_hex};
use crate::error::Error;
use crate::journal::{EventKind, FileRef};
use crate::prepare::Prepared;
use crate::report::{Reporter, RunSummary};
use crate::secrets::MASK;
use crate::state::{RunKey, Store};
use crate::workflow::bundle::Bundle;
use crate::workflow::template;

/// Starts a new run of a prepared workflow.
pub async fn start(
    prepared: Prepared,
    opts: RunOptions,
    reporter: Box<dyn Reporter>,
) -> Result<RunSummary, Error> {
    check_contexts(
        &prepared.bundle,
        &prepared.params,
        &prepared.config,
        opts.kubeconfig.as_deref(),
    )?;
    let linkerd =
        super::executor::LinkerdBin::choose(opts.linkerd.as_deref(), &prepared.config.value);
    super::linkerd_cli::check(&prepared.bundle, &linkerd).await?;
    let root = &prepared.bundle.root;
    let store = Store::open(&opts.state, opts.kubeconfig.as_deref()).map_err(state_err)?;
    let run_id = store.new_run_id();
    let sensitive = root.sensitive_params();
    let target: Vec<String> = root
        .params
        .iter()
        .filter(|(_, spec)| spec.target)
        .map(|(name, _)| name.clone())
        .collect();
    let key = RunKey::new(&root.name, &prepared.params, &sensitive, &target);
    let key_lock = store
        .lock_key(&key, &run_id, opts.wait_lock)
        .map_err(state_err)?;
    let journal = store.create(&run_id, &key).map_err(state_err)?;
    let mut masked = Vec::new();
    let params: BTreeMap<String, serde_json::Value> = prepared
        .params
        .iter()
        .map(|(k, v)| {
            if root.params.get(k).is_some_and(|s| s.sensitive) {
                masked.push(k.clone());
                (k.clone(), serde_json::json!(MASK))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let started_event = EventKind::RunStarted {
        run_id: run_id.clone(),
        workflow: absolute(root.path()).display().to_string(),
        workflow_name: root.name.clone(),
        files: file_hashes(&prepared.bundle),
        config: match (&prepared.config.path, &prepared.config.sha256) {
            (Some(p), Some(h)) => Some(FileRef {
                path: absolute(p).display().to_string(),
                sha256: h.clone(),
            }),
            _ => None,
        },
        params,
        masked_params: masked,
        target_params: target,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        dry_run: opts.dry_run,
    };
    let params = serde_json::to_value(&prepared.params).unwrap_or_default();
    let setup = Setup {
        bundle: prepared.bundle,
        config: prepared.config,
        run_id,
        journal,
        key_lock,
        first_event: started_event,
        done: HashMap::new(),
        params,
    };
    execute(setup, opts, reporter).await
}

/// The kube contexts a run will use that can be known before it starts (not those computed from
/// step outputs).
fn static_contexts(steps: &[crate::plan::PlannedStep], out: &mut BTreeSet<String>) {
    for s in steps {
        if s.action == crate::workflow::step::ActionKind::Kube
            && let Some(ctx) = s.rendered.get("context").and_then(|c| c.as_str())
            && !ctx.contains('<')
            && !ctx.contains(MASK)
            && !template::is_template(ctx)
        {
            out.insert(ctx.to_string());
        }
        static_contexts(&s.steps, out);
    }
}

/// Before anything runs: every kube context the workflow names must be in the kubeconfig
/// (a usage error, exit 2, listing the available ones), like kubectl. The run reads the
/// kubeconfig again at its first kube step: a step before it may have added a context.
fn check_contexts(
    bundle: &Bundle,
    params: &crate::params::ParamValues,
    config: &Config,
    kubeconfig: Option<&Path>,
) -> Result<(), Error> {
    let Ok(steps) = crate::plan::contexts_only(bundle, params, &config.value) else {
        return Ok(());
    };
    let mut contexts = BTreeSet::new();
    static_contexts(&steps, &mut contexts);
    if contexts.is_empty() {
        return Ok(());
    }
    let runtime = crate::kube::KubeRuntime::new(kubeconfig.map(Path::to_path_buf))
        .map_err(|e| Error::Usage(e.to_string()))?;
    let available = runtime.contexts();
    let missing: Vec<&String> = contexts.iter().filter(|c| !available.contains(c)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.iter().map(|c| format!("\"{c}\"")).collect();
    Err(Error::Usage(format!(
        "context {} {} not in the kubeconfig; available contexts: {}",
        names.join(", "),
        if missing.len() == 1 { "is" } else { "are" },
        available.join(", ")
    )))
}

/// sha256 of every workflow file, by absolute path (a resume may start in another directory).
pub(super) fn file_hashes(bundle: &Bundle) -> BTreeMap<String, String> {
    bundle
        .files()
        .into_iter()
        .map(|f| {
            (
                absolute(&f.path).display().to_string(),
                sha256_hex(f.text.as_bytes()),
            )
        })
        .collect()
}

/// `path` made absolute against the current directory, so that the journal's paths still
/// name the files when `resume` runs elsewhere.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
