//! mcflow: run YAML workflows that set up and check Linkerd multicluster.

pub mod backoff;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod interrupt;
pub mod journal;
pub mod kube;
pub mod params;
pub mod plan;
pub mod prepare;
pub mod report;
pub mod run;
pub mod secrets;
pub mod workflow;
pub mod yaml;
