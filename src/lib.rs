//! mcflow: run YAML workflows that set up and check Linkerd multicluster.

// mimalloc for everything that links mcflow (the binary, its benches and tests alike): loading
// and planning a workflow is mostly small allocations, where it takes a third less time than
// glibc's malloc (docs/PERFORMANCE.md, figure 2).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod history;
pub mod interrupt;
pub mod journal;
pub mod kube;
pub mod params;
pub mod plan;
pub mod report;
pub mod run;
pub mod workflow;
pub mod yaml;
