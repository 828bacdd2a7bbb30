//! mcflow: run YAML workflows that set up and check Linkerd multicluster.
pub mod yaml;
pub mod workflow;
pub mod config;
pub mod params;
pub mod plan;
pub mod error;
pub mod cli;
pub mod commands;
pub mod kube;
pub mod journal;
