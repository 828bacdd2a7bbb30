//! Workflows and steps as validation hands them on: each step with exactly one typed action,
//! its dependencies resolved to indices, and its retry policy and timeout parsed once (the
//! workflow's `defaults` already applied). The planner, the scheduler and the executors take
//! these; nothing after validation parses a duration or asks which action field is set.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use super::diagnostic::SourceFile;
use super::duration::parse_duration;
use super::graph::dependencies;
use super::load::LoadedWorkflow;
use super::model::{
    AssertSpec, Defaults, ForEach, LinkerdAction, OutputSpec, ParamSpec, RetrySpec, RunSpec,
    SaveAction, Step, WorkflowCall,
};
use super::vars::VarSpec;
use crate::backoff::{Backoff, RetryPolicy};

/// A validated workflow file.
#[derive(Debug, Clone)]
pub struct ValidWorkflow {
    pub file: Arc<SourceFile>,
    /// The workflow's `name`.
    pub name: String,
    pub params: IndexMap<String, ParamSpec>,
    /// `vars:`, in order.
    pub vars: Arc<[VarSpec]>,
    pub steps: Vec<StepSpec>,
    /// `finally:` steps, their `needs` as indices into this list.
    pub finally: Vec<StepSpec>,
}

impl ValidWorkflow {
    /// The names of its params marked `sensitive: true`, in the order the file writes them.
    pub fn sensitive_params(&self) -> Vec<String> {
        self.params
            .iter()
            .filter(|(_, spec)| spec.sensitive)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The directory relative paths in this file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// The typed form of a workflow that validation found no problem in. Fails (naming the
    /// step) only where validation would have reported a problem.
    pub fn from_loaded(wf: &LoadedWorkflow) -> Result<ValidWorkflow, String> {
        let model = &wf.workflow;
        let typed = |steps: &[Step]| {
            steps
                .iter()
                .zip(dependencies(steps))
                .map(|(step, needs)| {
                    StepSpec::new(step, needs, &model.defaults)
                        .map_err(|e| format!("step `{}`: {e}", step.id))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let steps = typed(&model.steps)?;
        let finally = typed(&model.finally)?;
        Ok(ValidWorkflow {
            file: wf.file.clone(),
            name: model.name.clone(),
            params: model.params.clone(),
            vars: super::vars::specs(&super::vars::in_written_order(wf)).into(),
            steps,
            finally,
        })
    }
}

/// One validated step.
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub id: String,
    /// The human name shown in progress output.
    pub name: Option<String>,
    /// Indices of the steps it waits for: its `needs`, or the step above it.
    pub needs: Vec<usize>,
    pub when: Option<String>,
    pub for_each: Option<ForEach>,
    pub concurrency: Option<u32>,
    pub retry: RetryPolicy,
    /// The time limit of one attempt.
    pub timeout: Option<Duration>,
    pub continue_on_error: bool,
    /// Declared `sensitive: true` (readers of its output are found by `secrets`).
    pub sensitive: bool,
    /// Runs again on resume (see [`StepSpec::is_read_only`]).
    pub read_only: bool,
    /// Listed in the run's summary as a check.
    pub check: Option<crate::workflow::model::CheckSpec>,
    pub outputs: IndexMap<String, OutputSpec>,
    pub action: Action,
}

impl StepSpec {
    fn new(step: &Step, needs: Vec<usize>, defaults: &Defaults) -> Result<StepSpec, String> {
        let timeout = step
            .timeout
            .as_deref()
            .or(defaults.timeout.as_deref())
            .map(|t| parse_duration(t).map_err(|e| format!("timeout: {e}")))
            .transpose()?;
        let retry = retry_policy(step.retry.as_ref().or(defaults.retry.as_ref()))?;
        Ok(StepSpec {
            id: step.id.clone(),
            name: step.name.clone(),
            needs,
            when: step.when.clone(),
            for_each: step.for_each.clone(),
            concurrency: step.concurrency,
            retry,
            timeout,
            continue_on_error: step.continue_on_error,
            sensitive: step.sensitive,
            read_only: step.read_only,
            check: step.check.clone(),
            outputs: step.outputs.clone(),
            action: Action::of(step)?,
        })
    }
}

impl StepSpec {
    /// Does the step only read? A resume runs such a step again (a read is cheap and shows
    /// the clusters as they are now); a write keeps its earlier success. kube `get` and `wait`,
    /// `assert`, `print` and `connect` only read; a `run` or `linkerd` step when marked
    /// `read_only`.
    pub fn is_read_only(&self) -> bool {
        match &self.action {
            Action::Kube(k) => k.get("get").is_some() || k.get("wait").is_some(),
            // `save` writes only this machine's diagnostics: again on resume, as they are now.
            Action::Assert(_) | Action::Print(_) | Action::Connect(_) | Action::Save(_) => true,
            Action::Run(_) | Action::Linkerd(_) => self.read_only,
            Action::Workflow(_) => false,
        }
    }
}

/// A `retry:` as a policy: its own values, the defaults of [`RetryPolicy`] for the rest.
fn retry_policy(spec: Option<&RetrySpec>) -> Result<RetryPolicy, String> {
    let d = RetryPolicy::default();
    let Some(s) = spec else { return Ok(d) };
    let duration = |field: &str, text: Option<&str>, default: Duration| {
        text.map(|t| parse_duration(t).map_err(|e| format!("retry.{field}: {e}")))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    Ok(RetryPolicy {
        attempts: s.attempts.max(1),
        backoff: Backoff {
            first: duration("delay", s.delay.as_deref(), d.backoff.first)?,
            factor: s.backoff.unwrap_or(d.backoff.factor),
            max: duration("max_delay", s.max_delay.as_deref(), d.backoff.max)?,
            jitter: s.jitter.unwrap_or(d.backoff.jitter).clamp(0.0, 1.0),
        },
    })
}

/// What a step does: exactly one of six actions.
#[derive(Debug, Clone)]
pub enum Action {
    /// A program, never through a shell.
    Run(RunSpec),
    /// A `linkerd` CLI invocation.
    Linkerd(LinkerdAction),
    /// A Kubernetes operation, still holding its templates (typed as [`crate::kube::KubeAction`]
    /// once rendered).
    Kube(serde_json::Value),
    Assert(AssertSpec),
    /// Another workflow file.
    Workflow(WorkflowCall),
    /// A text (a template) shown in the run's output.
    Print(String),
    /// A text (a template) written to the run's diagnostics.
    Save(SaveAction),
    /// A TCP connection from this machine.
    Connect(crate::workflow::model::ConnectAction),
}

/// The kind of an [`Action`], as plans and JSON name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Run,
    Linkerd,
    Kube,
    Assert,
    Workflow,
    Print,
    Save,
    Connect,
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActionKind::Run => "run",
            ActionKind::Linkerd => "linkerd",
            ActionKind::Kube => "kube",
            ActionKind::Assert => "assert",
            ActionKind::Workflow => "workflow",
            ActionKind::Print => "print",
            ActionKind::Save => "save",
            ActionKind::Connect => "connect",
        })
    }
}

impl Action {
    /// The action a model step sets (validation has checked there is exactly one).
    fn of(step: &Step) -> Result<Action, String> {
        let action = match step.actions().as_slice() {
            ["kube"] => Action::Kube(step.kube.clone().unwrap_or_default()),
            ["linkerd"] => step.linkerd.clone().map(Action::Linkerd).ok_or("")?,
            ["run"] => step.run.as_ref().map(|r| Action::Run(r.spec())).ok_or("")?,
            ["assert"] => step
                .assert
                .as_ref()
                .map(|a| Action::Assert(a.spec()))
                .ok_or("")?,
            ["workflow"] => step.workflow.clone().map(Action::Workflow).ok_or("")?,
            ["print"] => step.print.clone().map(Action::Print).ok_or("")?,
            ["save"] => step.save.clone().map(Action::Save).ok_or("")?,
            ["connect"] => step.connect.clone().map(Action::Connect).ok_or("")?,
            _ => return Err("a step needs exactly one action".into()),
        };
        Ok(action)
    }

    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Run(_) => ActionKind::Run,
            Action::Linkerd(_) => ActionKind::Linkerd,
            Action::Kube(_) => ActionKind::Kube,
            Action::Assert(_) => ActionKind::Assert,
            Action::Workflow(_) => ActionKind::Workflow,
            Action::Print(_) => ActionKind::Print,
            Action::Save(_) => ActionKind::Save,
            Action::Connect(_) => ActionKind::Connect,
        }
    }

    /// The action as JSON, in its long form (what plans render and show).
    pub fn to_json(&self) -> serde_json::Value {
        let json = |v: &dyn erased::Ser| v.json();
        match self {
            Action::Run(r) => json(r),
            Action::Linkerd(l) => json(l),
            Action::Kube(k) => k.clone(),
            Action::Assert(a) => json(a),
            Action::Workflow(w) => json(w),
            Action::Print(p) => serde_json::json!({ "text": p }),
            Action::Save(s) => json(s),
            Action::Connect(c) => json(c),
        }
    }

    /// The expressions the action evaluates (not templates: an assert's `that`).
    pub fn expressions(&self) -> Option<&str> {
        match self {
            Action::Assert(a) => Some(&a.that),
            _ => None,
        }
    }
}

mod erased {
    /// Serialize-to-JSON without generics at the call site.
    pub trait Ser {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(yaml: &str) -> Vec<StepSpec> {
        let wf = crate::workflow::load_str(Path::new("w.yaml"), yaml).expect("loads");
        ValidWorkflow::from_loaded(&wf).expect("typed").steps
    }

    #[test]
    fn defaults_apply_and_durations_are_parsed_once() {
        let s = steps(
            "name: w\ndefaults: { timeout: 2m, retry: { attempts: 3, delay: 2s } }\nsteps:\n  - id: a\n    run: /bin/true\n  - id: b\n    timeout: 5s\n    retry: { attempts: 1 }\n    print: hi\n",
        );
        assert_eq!(s[0].timeout, Some(Duration::from_secs(120)));
        assert_eq!(s[0].retry.attempts, 3);
        assert_eq!(s[0].retry.backoff.first, Duration::from_secs(2));
        assert_eq!(s[1].timeout, Some(Duration::from_secs(5)));
        assert_eq!(s[1].retry.attempts, 1);
        assert_eq!(s[1].needs, [0]);
        assert_eq!(s[0].action.kind(), ActionKind::Run);
        assert_eq!(s[1].action.kind(), ActionKind::Print);
    }

    #[test]
    fn an_unparsable_duration_is_an_error_not_no_timeout() {
        let wf = crate::workflow::load_str(
            Path::new("w.yaml"),
            "name: w\nsteps:\n  - id: a\n    timeout: soon\n    run: /bin/true\n",
        )
        .expect("loads");
        let err = ValidWorkflow::from_loaded(&wf).expect_err("bad timeout");
        assert!(err.contains("step `a`: timeout"), "{err}");
    }
}
