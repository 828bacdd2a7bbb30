//! Command-line definitions. Every flag is documented where it is defined; `--help`,
//! completions and the README's usage come from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  mcflow run workflows/bootstrap.yaml
  mcflow run workflows/link-spoke.yaml --set spoke=nonproduction
  mcflow resume --last                       # after a failure, a crash or Ctrl-C
  mcflow run workflows/verify.yaml --output json   # a CI pipeline stage
  mcflow plan workflows/link-spoke.yaml --set spoke=production
  mcflow validate workflows/*.yaml

Exit codes: 0 success, 1 a step failed, 2 invalid usage or workflow,
3 state error (locked, nothing to resume, corrupt journal), 130 interrupted.";

/// Set up and check Linkerd multicluster by running YAML workflows: retries, parallel steps,
/// live progress and a journal that makes every run resumable.
#[derive(Debug, Parser)]
#[command(name = "mcflow", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// How to report: progress bars on a terminal and plain lines otherwise (auto), plain
    /// timestamped lines (plain), or one JSON object per event on stdout (json). The last one
    /// given wins (a wrapper's `-o plain` can be overridden).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputMode::Auto, global = true, overrides_with = "output")]
    pub output: OutputMode,
    /// Print only errors and the final summary.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail: -v shows step output tails and retries, -vv debug logs.
    #[arg(long, short, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Where runs are journaled.
    #[arg(
        long,
        env = "MCFLOW_STATE_DIR",
        default_value = ".mcflow",
        global = true
    )]
    pub state_dir: PathBuf,
    /// Where runs are kept: `local` (the state directory) or `kube:<context>/<namespace>` (the
    /// hub cluster: any machine with the kubeconfig can list, show and resume them)
    /// [default: the config's `state:`, then local].
    #[arg(long, env = "MCFLOW_STATE", value_name = "STORE", global = true)]
    pub state: Option<String>,
    /// The topology file exposed to templates as `config` [default: config/clusters.yaml when it exists].
    #[arg(long, env = "MCFLOW_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Kubeconfig file [default: $KUBECONFIG (several paths merged), then ~/.kube/config].
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The linkerd CLI [default: $MCFLOW_LINKERD, then config.linkerd.bin, then `linkerd` on PATH].
    #[arg(long, global = true)]
    pub linkerd: Option<PathBuf>,
}

/// Output modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    Auto,
    Plain,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow.
    Run(RunArgs),
    /// Resume a run that failed, crashed or was interrupted: succeeded steps are skipped.
    Resume(ResumeArgs),
    /// List runs, newest first.
    Runs(RunsArgs),
    /// Show a run: each step's status, attempts, duration and error (`--step` for one step's
    /// attempts with their whole output).
    Show(ShowArgs),
    /// Check workflow files without running anything (exit 0 when valid, 2 when not).
    Validate(ValidateArgs),
    /// Print the steps a run would take, in order, with dependencies and rendered arguments.
    Plan(PlanArgs),
    /// Show what a workflow would change: reads run for real, every kube write as a server-side
    /// dry run, a field-level diff per object (exit 0: nothing would change, 1: something would
    /// or a check fails, 2: usage error).
    Diff(DiffArgs),
    /// List a workflow's params: description, default, allowed values, pattern.
    Params(GraphArgs),
    /// Print a Mermaid flowchart of a workflow's steps.
    Graph(GraphArgs),
    /// Print the JSON Schema of the workflow format (for editor completion and checks), or with
    /// `--events` of the journal's events (what `--output json` prints, one per line).
    Schema(SchemaArgs),
    /// The state store: move runs between stores (export, import) and prune old runs.
    #[command(subcommand)]
    State(StateCommand),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Params of a workflow.
#[derive(Debug, Args, Clone, Default)]
pub struct ParamArgs {
    /// Set a param: `--set name=value` (repeatable). Values never pass through a shell.
    #[arg(long = "set", value_name = "NAME=VALUE",
          add = clap_complete::ArgValueCompleter::new(crate::complete::param_sets))]
    pub set: Vec<String>,
    /// Read params from a YAML file (a mapping); `--set` wins over it.
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow file.
    pub workflow: PathBuf,
    #[command(flatten)]
    pub params: ParamArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// How steps are executed.
#[derive(Debug, Args, Clone)]
pub struct ExecArgs {
    /// How many steps run at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_parallel: u32,
    /// Server-side dry runs for kube writes (apply, label, annotate, delete); other steps run.
    #[arg(long)]
    pub dry_run: bool,
    /// Queue for up to this long (`10m`) when another run of the same workflow and params
    /// holds the run key's lock, instead of exiting 3.
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub wait_lock: Option<std::time::Duration>,
}

fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    crate::workflow::duration::parse_duration(text)
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to resume (see `mcflow runs`).
    #[arg(required_unless_present = "last", conflicts_with = "last",
          add = clap_complete::ArgValueCandidates::new(crate::complete::run_ids))]
    pub run_id: Option<String>,
    /// Resume the newest run.
    #[arg(long)]
    pub last: bool,
    /// Resume even if a workflow or config file changed since the run started.
    #[arg(long)]
    pub allow_changed: bool,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Show at most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run (see `mcflow runs`).
    #[arg(required_unless_present = "last", conflicts_with = "last",
          add = clap_complete::ArgValueCandidates::new(crate::complete::run_ids))]
    pub run_id: Option<String>,
    /// Show the newest run.
    #[arg(long)]
    pub last: bool,
    /// Pack the run's diagnostics (what workflows/gather.yaml saved when it failed), its
    /// summary and its journal into a .tar.gz to attach to a ticket.
    #[arg(long, value_name = "FILE.tar.gz")]
    pub bundle: Option<PathBuf>,
    /// Show every attempt of this step (its key, or its id to match every instance) with
    /// the whole output it printed (redacted; a sensitive step's stdout is never kept).
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,
    /// Only the Nth attempt of the step, counted over the whole run (resumes included).
    #[arg(long, value_name = "N", requires = "step")]
    pub attempt: Option<usize>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The schema of the events (journal lines, `--output json` lines) instead.
    #[arg(long)]
    pub events: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Workflow files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The workflow file.
    pub workflow: PathBuf,
    #[command(flatten)]
    pub params: ParamArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The workflow file.
    pub workflow: PathBuf,
    #[command(flatten)]
    pub params: ParamArgs,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The workflow file.
    pub workflow: PathBuf,
}

/// What `mcflow state` does.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print runs of the store (`--state`) as JSON lines, one run a line (all runs when none
    /// is named): `mcflow --state local state export | mcflow --state kube:hub/ns state import -`.
    Export {
        /// The runs (see `mcflow runs`).
        run_ids: Vec<String>,
    },
    /// Add runs printed by `state export` to the store (`--state`); runs it has are skipped.
    Import {
        /// The file, or `-` for stdin.
        file: PathBuf,
    },
    /// Delete old runs; a running run is never deleted.
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).multiple(true).args(["keep", "older_than"]))]
pub struct PruneArgs {
    /// Keep the newest N runs.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Delete only runs that started longer ago than this (`30d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub older_than: Option<std::time::Duration>,
    /// Say what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
