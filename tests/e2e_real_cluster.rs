//! End-to-end against real clusters (kind + Linkerd), skipped unless `MCFLOW_E2E_KUBECONFIG`
//! names a kubeconfig with the contexts of `config/clusters.yaml` (`internal`, `production`,
//! `nonproduction`) and a real `linkerd` CLI is on PATH (or `MCFLOW_LINKERD`).
//!
//!     MCFLOW_E2E_KUBECONFIG=~/.kube/kind.yaml cargo test --test e2e_real_cluster -- --nocapture

use assert_cmd::Command;

fn e2e_kubeconfig() -> Option<String> {
    match std::env::var("MCFLOW_E2E_KUBECONFIG") {
        Ok(k) if !k.is_empty() => Some(k),
        _ => {
            eprintln!("skipped: set MCFLOW_E2E_KUBECONFIG to run against real clusters");
            None
        }
    }
}

#[test]
fn bootstrap_then_verify_on_real_clusters() {
    let Some(kubeconfig) = e2e_kubeconfig() else {
        return;
    };
    let state = tempfile::tempdir().expect("tempdir");
    for workflow in ["workflows/bootstrap.yaml", "workflows/verify.yaml"] {
        Command::cargo_bin("mcflow")
            .expect("mcflow binary")
            .args([
                "run",
                workflow,
                "--kubeconfig",
                &kubeconfig,
                "--output",
                "plain",
            ])
            .arg("--state-dir")
            .arg(state.path())
            .assert()
            .success();
    }
}
