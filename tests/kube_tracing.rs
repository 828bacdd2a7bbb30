//! No token in any tracing event, at any level, from mcflow or from kube-rs, while a link
//! manifest carrying one is applied, read back, rejected and waited on.
//!
//! Its own test binary: it installs a process-wide subscriber that records everything.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use mcflow::kube::{ExecOptions, KubeRuntime};
use serde_json::json;
use support::clusters::{CANARY, link_manifest, start};
use support::kube::action;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_in_trace_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["internal", "production"]).await;
    let rt = KubeRuntime::new(Some(sim.kubeconfig_path().to_path_buf())).unwrap();
    let opts = ExecOptions {
        dry_run: false,
        base_dir: dir.path().to_path_buf(),
        timeout: None,
    };
    let manifest = link_manifest("internal");
    rt.execute(
        &action(json!({"context": "production", "apply": {"manifest": manifest}})),
        &opts,
    )
    .await
    .unwrap();
    rt.execute(
        &action(
            json!({"context": "production", "get": {"kind": "Secret", "namespace": "linkerd",
            "name": "cluster-credentials-internal", "capture": {"k": "/data/kubeconfig"}}}),
        ),
        &opts,
    )
    .await
    .unwrap();
    rt.execute(
        &action(json!({"context": "production", "wait": {"kind": "Secret", "namespace": "linkerd",
            "name": "cluster-credentials-internal", "for": {"field": {"path": "data.kubeconfig", "equals": "x"}},
            "timeout": "200ms"}})),
        &opts,
    )
    .await
    .unwrap_err();
    let bad = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: Bad_Name, namespace: linkerd}}\nstringData: {{token: {CANARY}}}\n"
    );
    let err = rt
        .execute(
            &action(json!({"context": "production", "apply": {"manifest": bad}})),
            &opts,
        )
        .await
        .unwrap_err();
    assert!(!err.message.contains(CANARY));

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        !logs.is_empty(),
        "nothing was logged: the test tests nothing"
    );
    assert!(!logs.contains(CANARY), "the token is in the logs");
    let encoded = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("kubeconfig: "))
        .expect("the link manifest's kubeconfig data");
    assert!(!logs.contains(encoded), "the Secret's data is in the logs");
    for c in sim.clusters() {
        assert!(
            !logs.contains(c.token()),
            "a kubeconfig token is in the logs"
        );
    }
}
