//! mcflow: run YAML workflows that set up and check Linkerd multicluster.

// Structure held by CI: no function over 80 lines (clippy.toml), no function with more than
// seven arguments; an `allow` only with a one-line reason beside it.
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

pub mod backoff;
pub mod cli;
pub mod commands;
pub mod complete;
pub mod config;
pub mod diagnostics;
pub mod diff;
pub mod error;
pub mod interrupt;
pub mod journal;
pub mod kube;
pub mod params;
pub mod plan;
pub mod prepare;
pub mod regexes;
pub mod report;
pub mod run;
pub mod secrets;
pub mod state;
pub mod state_cmd;
pub mod workflow;
pub mod yaml;
