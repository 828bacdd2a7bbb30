//! Reactors: small stand-ins for the controllers a real cluster runs.
//!
//! - [`deployment`]: Deployments become Available after the configured delay.
//! - [`service_mirror`]: Linkerd's service mirror, across simulated clusters.
//! - [`token_controller`]: service-account token Secrets get their token.
//! - [`argocd`]: Argo CD Applications, and the ApplicationSet that installs
//!   linkerd-multicluster when a cluster secret is labelled (scenario option).

pub mod argocd;
pub mod deployment;
pub mod service_mirror;
pub mod token_controller;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::cluster::Cluster;
use crate::scenario::Scenario;

/// Start every reactor; returns their tasks.
pub fn spawn_all(
    handle: &tokio::runtime::Handle,
    clusters: &[Cluster],
    scenario: Option<&Scenario>,
) -> Vec<JoinHandle<()>> {
    let all = Arc::new(clusters.to_vec());
    let mut tasks: Vec<JoinHandle<()>> = clusters
        .iter()
        .flat_map(|c| {
            [
                handle.spawn(deployment::run(c.clone())),
                handle.spawn(token_controller::run(c.clone())),
            ]
        })
        .collect();
    let dns = scenario.map(|s| s.dns.clone()).unwrap_or_default();
    tasks.push(handle.spawn(service_mirror::run(all.clone(), dns)));
    if let Some(s) = scenario.filter(|s| s.applicationset)
        && let Some(argo) = clusters.iter().find(|c| c.name() == s.hub)
    {
        tasks.push(handle.spawn(argocd::run_applicationset(argo.clone(), all, s.clone())));
    }
    tasks
}
