//! The kube actions, through mcflow's library API ([`KubeRuntime::execute`]) and through the
//! binary: an action from JSON, the options and runtime of a test, a workflow file run against
//! a kubeconfig, resource versions.

use std::path::Path;

use mcflow::kube::{ExecOptions, KubeAction, KubeOutcome, KubeRuntime};
use mcflow_sim::Simulator;
use serde_json::Value;

use super::clusters::CANARY;
use super::workspace::{Outcome, Workspace};

/// A kube action as a workflow step would hold it.
pub fn action(value: Value) -> KubeAction {
    serde_json::from_value(value).expect("a valid kube action")
}

/// Options for a real (not dry) run, files relative to `dir`, no step timeout.
pub fn opts(dir: &Path) -> ExecOptions {
    ExecOptions {
        dry_run: false,
        base_dir: dir.to_path_buf(),
        timeout: None,
    }
}

/// A runtime on the simulator's kubeconfig.
pub fn runtime(sim: &Simulator) -> KubeRuntime {
    KubeRuntime::new(Some(sim.kubeconfig_path().to_path_buf())).expect("kubeconfig")
}

/// No [`CANARY`] anywhere in what an action returned.
pub fn assert_no_canary(outcome: &KubeOutcome) {
    let text = format!("{outcome:?}");
    assert!(!text.contains(CANARY), "the token leaked: {text}");
}

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `mcflow --kubeconfig <kubeconfig> --output plain run workflow.yaml <extra>` in the
/// workspace, the workflow written to `workflow.yaml` first.
pub fn run_workflow(ws: &Workspace, workflow: &str, kubeconfig: &Path, extra: &[&str]) -> Outcome {
    ws.write("workflow.yaml", workflow);
    let kubeconfig = kubeconfig.display().to_string();
    let mut args = vec![
        "--kubeconfig",
        &kubeconfig,
        "--output",
        "plain",
        "run",
        "workflow.yaml",
    ];
    args.extend_from_slice(extra);
    ws.mcflow(&args)
}

/// An object's resource version on `cluster`; the object must exist.
pub fn resource_version(
    sim: &Simulator,
    cluster: &str,
    (api_version, kind, ns, name): (&str, &str, &str, &str),
) -> Value {
    sim.cluster(cluster)
        .get(api_version, kind, ns, name)
        .unwrap_or_else(|| panic!("{kind} {ns}/{name} missing"))["metadata"]["resourceVersion"]
        .clone()
}

/// What the link output creates that a second apply must leave alone (api version, kind,
/// namespace, name).
pub const LINK_OBJECTS: [(&str, &str, &str, &str); 5] = [
    (
        "v1",
        "Secret",
        "linkerd-multicluster",
        "cluster-credentials-internal",
    ),
    ("v1", "Secret", "linkerd", "cluster-credentials-internal"),
    (
        "multicluster.linkerd.io/v1alpha2",
        "Link",
        "linkerd-multicluster",
        "internal",
    ),
    (
        "apps/v1",
        "Deployment",
        "linkerd-multicluster",
        "linkerd-service-mirror-internal",
    ),
    (
        "v1",
        "Service",
        "linkerd-multicluster",
        "probe-gateway-internal",
    ),
];
