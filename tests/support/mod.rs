//! The one support module of the integration tests. Every test file says `mod support;` and
//! takes what it needs:
//!
//! - [`workspace`]: a temporary directory with workflow files and side files, the real `mcflow`
//!   binary run in it with its own `--state-dir` ([`Workspace::mcflow`] → [`Outcome`]) or in
//!   the background ([`Workspace::spawn`]), and the shell snippets steps use;
//! - [`journal`]: the newest run's journal as JSON events or through the reader `resume` uses,
//!   the run ids, every state file;
//! - [`process`]: waits on conditions with a deadline (never fixed sleeps), exit codes, kill -9,
//!   signals;
//! - [`clusters`]: simulated clusters, fixtures (the link manifest with a canary token),
//!   request-log queries, and the Linkerd world (three clusters and the fake `linkerd`);
//! - [`kube`]: kube actions through the library API, and a workflow run against a kubeconfig;
//! - [`kube_store`]: the kube state store on a simulated hub, and what it holds there;
//! - [`rig`]: the Linkerd world on real control planes (the rig, Argo CD played by a thread,
//!   Linkerd's real service mirror as local processes, the real `linkerd` CLI);
//! - [`terminal`]: a tmux pseudo-terminal for the live display;
//! - [`seed`]: sizes from the environment and seeded randomness that replays;
//! - [`events`]: every event a test produces checked against the published event schema.

#![allow(dead_code, unused_imports)]

pub mod clusters;
pub mod events;
pub mod journal;
pub mod kube;
pub mod kube_store;
pub mod process;
pub mod rig;
pub mod seed;
pub mod terminal;
pub mod workspace;

pub use journal::events_of;
pub use process::{
    DEADLINE, exit_code, exit_or, kill_9, kill_strays, process_gone, signal, wait_until,
};
pub use seed::{env_u64, env_usize, seeded};
pub use workspace::{Outcome, Workspace, fail_until, wait_for_file};
