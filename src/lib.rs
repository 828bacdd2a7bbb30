//! mcflow: run YAML workflows that set up and check Linkerd multicluster.
pub mod yaml;
pub mod workflow;
pub mod config;
pub mod params;
