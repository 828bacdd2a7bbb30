//! Step executors: a step's action, its templates rendered, run once. Executors do not print and
//! do not retry; they return what happened and whether trying again could help.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::failure;
use super::outputs;
use super::process::{self, ProcessError, ProcessOutput, ProcessSpec};
use crate::journal::StepRecord;
use crate::workflow::model::{LinkerdAction, RunSpec};
use crate::workflow::step::{Action, StepSpec};
use crate::workflow::template;

/// What a successful attempt produced.
#[derive(Debug, Clone, Default)]
pub struct StepOutput {
    pub record: StepRecord,
    /// One line for the progress display ("applied 7 objects").
    pub summary: Option<String>,
}

/// Why an attempt failed.
#[derive(Debug, Clone)]
pub struct StepError {
    pub message: String,
    /// Could another attempt pass? (Not for an invalid template, a missing binary, a rejected
    /// object.)
    pub retryable: bool,
    /// The server asked to wait at least this long (429 Retry-After).
    pub retry_after: Option<Duration>,
    /// What a program that ran and failed left (`message` is then `linkerd exited with 1`):
    /// the scheduler shows the line of it that says what failed (from stderr only when the
    /// step is sensitive) and keeps all of it, redacted, in the run directory.
    pub output: Option<Box<ProcessOutput>>,
    /// What to do about a known error ("run bootstrap first").
    pub hint: Option<String>,
}

impl StepError {
    pub fn permanent(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: false,
            retry_after: None,
            output: None,
            hint: None,
        }
    }
    pub fn transient(message: impl Into<String>) -> StepError {
        StepError {
            retryable: true,
            ..StepError::permanent(message)
        }
    }
}

/// What executors need from the run.
pub struct ExecEnv<'a> {
    pub kubeconfig: Option<&'a Path>,
    pub linkerd: &'a LinkerdBin,
    pub kube: &'a tokio::sync::OnceCell<Result<crate::kube::KubeRuntime, String>>,
    pub dry_run: bool,
    pub base_dir: PathBuf,
    pub timeout: Option<Duration>,
    /// The run's `diagnostics/` directory (`save`).
    pub diagnostics: PathBuf,
    /// Every secret the run has seen (`save` masks them).
    pub redactor: &'a crate::secrets::Redactor,
    /// `mcflow diff`: where this step's kube writes record what they would change.
    pub changes: Option<crate::kube::diff::ChangeSink>,
}

/// Where the linkerd CLI comes from: `--linkerd`, `MCFLOW_LINKERD`, `config.linkerd.bin`, then
/// `linkerd` on PATH.
#[derive(Debug, Clone)]
pub struct LinkerdBin {
    pub program: PathBuf,
    pub source: &'static str,
}

impl LinkerdBin {
    pub fn choose(flag: Option<&Path>, config: &serde_json::Value) -> LinkerdBin {
        if let Some(p) = flag {
            return LinkerdBin {
                program: p.to_path_buf(),
                source: "--linkerd",
            };
        }
        if let Some(p) = std::env::var_os("MCFLOW_LINKERD").filter(|v| !v.is_empty()) {
            return LinkerdBin {
                program: p.into(),
                source: "MCFLOW_LINKERD",
            };
        }
        if let Some(p) = config.pointer("/linkerd/bin").and_then(|v| v.as_str()) {
            return LinkerdBin {
                program: p.into(),
                source: "config linkerd.bin",
            };
        }
        LinkerdBin {
            program: "linkerd".into(),
            source: "default",
        }
    }
}

fn render_typed<T: serde::Serialize + DeserializeOwned>(
    value: &T,
    ctx: &minijinja::Value,
) -> Result<T, StepError> {
    let json = serde_json::to_value(value).map_err(|e| StepError::permanent(e.to_string()))?;
    let rendered = template::render_json(&json, ctx)
        .map_err(|e| StepError::permanent(format!("template: {e}")))?;
    serde_json::from_value(rendered).map_err(|e| StepError::permanent(e.to_string()))
}

/// Runs one attempt of `step`'s action (not `workflow`, which the scheduler handles).
pub async fn execute(
    step: &StepSpec,
    ctx: &minijinja::Value,
    env: &ExecEnv<'_>,
) -> Result<StepOutput, StepError> {
    let mut out = match &step.action {
        Action::Run(run) => run_program(render_typed(run, ctx)?, env).await?,
        Action::Linkerd(l) => run_linkerd(render_typed(l, ctx)?, env).await?,
        Action::Assert(a) => assert(a, ctx)?,
        Action::Kube(k) => run_kube(k, ctx, env).await?,
        Action::Connect(c) => super::connect::connect(&render_typed(c, ctx)?, env.timeout).await?,
        Action::Print(text) => {
            let rendered = template::render(text, ctx)
                .map_err(|e| StepError::permanent(format!("template: {e}")))?;
            StepOutput {
                record: StepRecord {
                    stdout: rendered.clone(),
                    ..Default::default()
                },
                summary: Some(rendered.trim_end().to_string()),
            }
        }
        Action::Save(spec) => {
            let spec = render_typed(spec, ctx)?;
            super::save::save(&spec, &env.diagnostics, env.redactor)?
        }
        Action::Workflow(_) => {
            return Err(StepError::permanent(
                "a nested workflow runs in the scheduler, not as one action",
            ));
        }
    };
    if !step.outputs.is_empty() {
        let extracted = outputs::extract(
            &step.outputs,
            &out.record.stdout,
            &out.record.stderr,
            out.record.object.as_ref(),
        )
        .map_err(StepError::transient)?;
        out.record.outputs.extend(extracted);
    }
    Ok(out)
}

fn process_error(e: ProcessError) -> StepError {
    // A missing program, one that cannot start or one whose output cannot be read will not
    // come right by retrying.
    StepError::permanent(e.to_string())
}

async fn run_program(spec: RunSpec, env: &ExecEnv<'_>) -> Result<StepOutput, StepError> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(StepError::permanent("`run` has an empty argv"));
    };
    let mut envs = spec.env.clone();
    if let Some(k) = env.kubeconfig {
        envs.entry("KUBECONFIG".into())
            .or_insert_with(|| k.display().to_string());
    }
    let p = ProcessSpec {
        program: PathBuf::from(program),
        args: args.to_vec(),
        env: envs,
        stdin: spec.stdin,
        cwd: spec.cwd.map(|c| env.base_dir.join(c)),
    };
    finish_process(p, program).await
}

async fn run_linkerd(spec: LinkerdAction, env: &ExecEnv<'_>) -> Result<StepOutput, StepError> {
    let mut args = Vec::new();
    if let Some(k) = env.kubeconfig {
        args.push("--kubeconfig".to_string());
        args.push(k.display().to_string());
    }
    if let Some(c) = &spec.context {
        args.push("--context".to_string());
        args.push(c.clone());
    }
    args.extend(spec.args);
    let program = process::resolve(&env.linkerd.program).map_err(|e| {
        StepError::permanent(format!(
            "linkerd CLI not found: {e} (chosen by {}; set --linkerd, MCFLOW_LINKERD or config linkerd.bin)",
            env.linkerd.source
        ))
    })?;
    let p = ProcessSpec {
        program,
        args,
        env: spec.env,
        stdin: spec.stdin,
        cwd: None,
    };
    let mut result = finish_process(p, "linkerd").await;
    if let Err(e) = &mut result
        && let Some(out) = &e.output
        && failure::is_unreachable(&out.stderr)
    {
        // Name the cluster that did not answer: its context and, from the kubeconfig, server.
        let server = match (&spec.context, kube_runtime(env).await) {
            (Some(c), Ok(rt)) => rt.server_of(c),
            _ => None,
        };
        e.hint = Some(failure::unreachable_hint(
            spec.context.as_deref(),
            server.as_deref(),
        ));
    }
    result
}

async fn finish_process(p: ProcessSpec, shown: &str) -> Result<StepOutput, StepError> {
    let out = process::run(p).await.map_err(process_error)?;
    match out.exit_code {
        Some(0) => Ok(StepOutput {
            record: StepRecord {
                stdout: out.stdout,
                stderr: out.stderr,
                exit_code: Some(0),
                ..Default::default()
            },
            summary: None,
        }),
        code => {
            let status = code.map_or("was killed by a signal".to_string(), |c| {
                format!("exited with {c}")
            });
            // The line that says what failed is picked by the scheduler, which knows whether
            // the step's stdout may be shown.
            Err(StepError {
                retryable: !failure::cannot_change(&out.stderr, &out.stdout),
                hint: failure::hint(&format!("{}\n{}", out.stderr, out.stdout), None, None),
                output: Some(Box::new(out)),
                ..StepError::permanent(format!("{shown} {status}"))
            })
        }
    }
}

fn assert(
    spec: &crate::workflow::model::AssertSpec,
    ctx: &minijinja::Value,
) -> Result<StepOutput, StepError> {
    let ok = template::eval_bool(&spec.that, ctx)
        .map_err(|e| StepError::permanent(format!("assert: {e}")))?;
    if ok {
        return Ok(StepOutput {
            summary: Some("assertion holds".into()),
            ..Default::default()
        });
    }
    let message = match &spec.message {
        Some(m) => template::render(m, ctx).unwrap_or_else(|_| m.clone()),
        None => format!("assertion failed: {}", spec.that),
    };
    Err(StepError::permanent(message))
}

async fn run_kube(
    raw: &serde_json::Value,
    ctx: &minijinja::Value,
    env: &ExecEnv<'_>,
) -> Result<StepOutput, StepError> {
    let rendered = template::render_json(raw, ctx)
        .map_err(|e| StepError::permanent(format!("template: {e}")))?;
    let action: crate::kube::KubeAction =
        serde_json::from_value(rendered).map_err(|e| StepError::permanent(e.to_string()))?;
    let runtime = kube_runtime(env).await?;
    let opts = crate::kube::ExecOptions {
        dry_run: env.dry_run,
        base_dir: env.base_dir.clone(),
        timeout: env.timeout,
    };
    // A diff's changes pass through the redactor: a value a sensitive step produced (a field
    // of an object built from it) is masked like everywhere else.
    let local = env
        .changes
        .as_ref()
        .map(|_| crate::kube::diff::ChangeLog::default());
    let sink = local.as_ref().map(|l| l.for_step(""));
    let result = runtime
        .execute_recording(&action, &opts, sink.as_ref())
        .await;
    if let (Some(local), Some(out)) = (local, &env.changes) {
        for (_, change) in local.entries() {
            out.record(redacted_change(change, env.redactor));
        }
    }
    match result {
        Ok(outcome) => Ok(StepOutput {
            record: StepRecord {
                outputs: outcome.outputs.into_iter().collect(),
                object: outcome.object,
                ..Default::default()
            },
            summary: Some(outcome.summary),
        }),
        Err(e) => {
            // A cluster that does not answer is named by its context and server.
            let hint = (e.kind == crate::kube::KubeErrorKind::Connection).then(|| {
                let server = runtime.server_of(&action.context);
                if e.to_string().contains("tunnel error") {
                    failure::proxy_hint(&action.context, server.as_deref())
                } else {
                    failure::unreachable_hint(Some(&action.context), server.as_deref())
                }
            });
            Err(StepError {
                retryable: e.transient,
                retry_after: e.retry_after,
                hint,
                ..StepError::permanent(e.to_string())
            })
        }
    }
}

/// `change` with every secret the run has seen masked.
fn redacted_change(
    change: crate::kube::diff::ObjectChange,
    redactor: &crate::secrets::Redactor,
) -> crate::kube::diff::ObjectChange {
    let Ok(json) = serde_json::to_value(&change) else {
        return change;
    };
    serde_json::from_value(redactor.redact_json(&json)).unwrap_or(change)
}

/// The run's Kubernetes clients, built on first use.
async fn kube_runtime<'e>(env: &'e ExecEnv<'_>) -> Result<&'e crate::kube::KubeRuntime, StepError> {
    env.kube
        .get_or_init(|| async {
            crate::kube::KubeRuntime::new(env.kubeconfig.map(Path::to_path_buf))
                .map_err(|e| e.to_string())
        })
        .await
        .as_ref()
        .map_err(|e| StepError::permanent(e.clone()))
}
