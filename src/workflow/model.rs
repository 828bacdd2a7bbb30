//! The workflow file format: serde types that mirror the YAML one to one.
//!
//! These types are deliberately plain (strings for durations, expressions and templates): the
//! validator checks what they mean and points at the YAML when something is wrong, the planner
//! turns them into something runnable. The JSON Schema printed by `mcflow schema` is generated
//! from these types, so a doc comment here is also the editor's hover text.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A workflow file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Short name of the workflow, shown in progress output and in `mcflow runs`.
    pub name: String,
    /// What the workflow does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Parameters, set with `--set name=value`, `--values file.yaml` or a parent's `with:`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub params: IndexMap<String, ParamSpec>,
    /// Values named once and read by templates as `vars.<name>`: each a value or a template
    /// over `params`, `config`, `run`, the vars above it and `steps` (a step reading a var that
    /// reads `steps.<id>` must run after `<id>`). A string that is one `{{ expr }}` keeps the
    /// expression's type. A var reading a sensitive param is sensitive.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub vars: IndexMap<String, serde_json::Value>,
    /// Defaults for every step.
    #[serde(default, skip_serializing_if = "Defaults::is_empty")]
    pub defaults: Defaults,
    /// The steps. Each waits for the step above it unless it says `needs`.
    pub steps: Vec<Step>,
    /// Steps that run once after `steps`, whether they succeeded, failed or were interrupted
    /// (Ctrl-C, SIGTERM), once per attempt of the run (a resume runs them again). They read
    /// `run.status` (`succeeded`, `failed`, `interrupted`) and `run.failed_steps`; their `needs`
    /// name other `finally` steps only. Their failure never hides the main steps' failure.
    /// Only the run's root workflow runs its `finally` steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finally: Vec<Step>,
}

/// A workflow parameter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Shown by `mcflow plan` and in errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The run is refused when a required param has no value.
    #[serde(default)]
    pub required: bool,
    /// Value used when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// The allowed values: a list, or a template over `config` that yields a list.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub choices: Option<Choices>,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Mask this param's value in plans, progress lines and the journal.
    #[serde(default)]
    pub sensitive: bool,
    /// This param picks what the run acts on (`spoke`): two runs of the workflow with the same
    /// values of its `target` params never run at once (the run-key lock). Without any
    /// `target` param, every param is part of the key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub target: bool,
}

/// The allowed values of a param.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a list of values or a template string that yields a list"
)]
pub enum Choices {
    List(Vec<serde_json::Value>),
    Template(String),
}

/// Defaults that apply to every step that does not set its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Time limit of one attempt, a humantime duration (`30s`, `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
}

impl Defaults {
    fn is_empty(&self) -> bool {
        self.timeout.is_none() && self.retry.is_none()
    }
}

/// How a failed attempt is retried. Only failures that can pass on a new attempt are retried
/// (not an invalid template, a missing binary or a rejected object).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Total attempts, the first one included.
    pub attempts: u32,
    /// Wait before the second attempt (default `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// Factor the delay grows by after each attempt (default 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<f64>,
    /// Upper bound of the delay (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<String>,
    /// Random spread of each delay, as a fraction of it (0.0 to 1.0, default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

/// One step: exactly one action (`kube`, `linkerd`, `run`, `assert` or `workflow`) plus
/// common fields.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id, `[a-z][a-z0-9_]*`, so that `steps.<id>.stdout` works in templates.
    pub id: String,
    /// Human name for progress output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Steps that must succeed first. Without it a step waits for the step above it;
    /// `needs: []` starts at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<String>>,
    /// An expression; the step is skipped when it is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Run the step once per item of a list (a list, or an expression that yields one);
    /// `item` holds the item in templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEach>,
    /// How many `for_each` instances run at once (default: all, bounded by `--max-parallel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Retry policy; overrides `defaults.retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Time limit of one attempt; overrides `defaults.timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// A failure of this step does not fail the run nor stop its dependents.
    #[serde(default)]
    pub continue_on_error: bool,
    /// The step's output holds a secret: never written to the journal or printed.
    #[serde(default)]
    pub sensitive: bool,
    /// The step only reads (`linkerd check`, `linkerd version`, a `run` that queries): a resume
    /// runs it again, so that it reports the clusters as they are now, instead of reusing its
    /// earlier success. kube `get` and `wait`, `assert` and `print` are read-only without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// The step is a check of a cluster: its outcome is listed in the run's JSON summary as
    /// `checks: [{cluster, check, ok, reason, hint}]` (verify's checks, as data for CI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckSpec>,
    /// Named values taken from the step's output, as `steps.<id>.outputs.<name>`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, OutputSpec>,

    /// A native Kubernetes operation (apply, label, annotate, get, wait, delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::kube::KubeAction>")]
    pub kube: Option<serde_json::Value>,
    /// A `linkerd` CLI invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkerd: Option<LinkerdAction>,
    /// Any program, as an argv list: never through a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunAction>,
    /// An expression that must be true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assert: Option<AssertAction>,
    /// Another workflow file, relative to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowCall>,
    /// A text (a template) shown in the run's output, e.g. a report built from earlier steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print: Option<String>,
    /// A text (a template) written to a file of the run's `diagnostics/` directory, with every
    /// secret the run has seen masked (the diagnostics bundle, `workflows/gather.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save: Option<SaveAction>,
    /// A TCP connection from the machine mcflow runs on: the host resolves and the port accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectAction>,
}

/// `save`: a file of the run's diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveAction {
    /// The file, relative to the run's `diagnostics/` directory (no `..`, not absolute).
    pub path: String,
    /// Its text (a template).
    pub content: String,
}

/// The names of the action fields, in the order they are documented.
pub const ACTIONS: [&str; 8] = [
    "kube", "linkerd", "run", "assert", "workflow", "print", "save", "connect",
];

/// `connect`: resolve `host` and open a TCP connection to `port` from this machine, then close it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectAction {
    /// A host name or IP address.
    pub host: String,
    /// The port: a number, or a template yielding one.
    pub port: PortSpec,
}

/// A port number, or a template that renders to one.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "a port number, or a template yielding one")]
pub enum PortSpec {
    Number(u16),
    Template(String),
}

impl Step {
    /// The action fields this step sets.
    pub fn actions(&self) -> Vec<&'static str> {
        let set = [
            self.kube.is_some(),
            self.linkerd.is_some(),
            self.run.is_some(),
            self.assert.is_some(),
            self.workflow.is_some(),
            self.print.is_some(),
            self.save.is_some(),
            self.connect.is_some(),
        ];
        ACTIONS
            .iter()
            .zip(set)
            .filter(|(_, s)| *s)
            .map(|(a, _)| *a)
            .collect()
    }
}

/// The items of a `for_each`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "a list, or an expression that yields a list")]
pub enum ForEach {
    List(Vec<serde_json::Value>),
    Expr(String),
}

/// Where a named output is read from.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    #[default]
    Stdout,
    Stderr,
}

/// What a check step checks (templates: they may read `item`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The cluster checked (`"{{ item.name }}"`).
    pub cluster: String,
    /// What is checked (`multicluster check`, `Link internal`).
    pub name: String,
    /// What to do when the check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A named output: a regex capture or a JSON pointer over the step's output.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Which stream to read (default `stdout`).
    #[serde(default)]
    pub from: Stream,
    /// A regular expression; the output is its first capture group (or the whole match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// A JSON pointer (`/a/b/0`) into the stream parsed as JSON, or into a kube step's object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
}

/// A `linkerd` CLI invocation: `<linkerd> --context <context> <args...>`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkerdAction {
    /// The kubeconfig context passed as `--context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Arguments after the global flags.
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Text written to the process's standard input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

/// A program run directly (argv, no shell).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a program path, an argv list, or a map with `argv` (and optional `env`, `stdin`, `cwd`)"
)]
pub enum RunAction {
    Program(String),
    Argv(Vec<String>),
    Full(RunSpec),
}

/// The long form of `run`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Text written to the process's standard input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Working directory, relative to the workflow file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

impl RunAction {
    /// The long form, whichever form was written.
    pub fn spec(&self) -> RunSpec {
        match self {
            RunAction::Program(p) => RunSpec {
                argv: vec![p.clone()],
                env: BTreeMap::new(),
                stdin: None,
                cwd: None,
            },
            RunAction::Argv(argv) => RunSpec {
                argv: argv.clone(),
                env: BTreeMap::new(),
                stdin: None,
                cwd: None,
            },
            RunAction::Full(spec) => spec.clone(),
        }
    }
}

/// An assertion.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "an expression, or a map with `that` (and optional `message`)"
)]
pub enum AssertAction {
    Expr(String),
    Full(AssertSpec),
}

/// The long form of `assert`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertSpec {
    /// The expression that must be true.
    pub that: String,
    /// The error shown when it is not (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl AssertAction {
    pub fn spec(&self) -> AssertSpec {
        match self {
            AssertAction::Expr(e) => AssertSpec {
                that: e.clone(),
                message: None,
            },
            AssertAction::Full(s) => s.clone(),
        }
    }
}

/// A nested workflow.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowCall {
    /// Path of the workflow file, relative to the calling file.
    pub path: String,
    /// Its params.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub with: IndexMap<String, serde_json::Value>,
    /// Run it as `mcflow diff` does (reads for real, kube writes as server-side dry runs,
    /// nothing retried, waits bounded) and succeed with what it would change as outputs:
    /// `changed` (true/false) and `changes` (each object with its `context`, `object`,
    /// `action` and changed field `paths`). verify's drift rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub diff: bool,
}
