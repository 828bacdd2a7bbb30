//! When the cluster is not kind, through mcflow's library API and through the binary: a
//! flaky cluster (503s and latency) that apply and wait get through by retrying, transient
//! failures retried and persistent ones marked transient, a wrong token (Unauthorized), a
//! context missing from the kubeconfig (a usage error naming the available ones), an object
//! the API server rejects (422 with the server's message, never a Secret's data), and a
//! `KUBECONFIG` list with missing paths.

mod support;

use std::time::Duration;

use mcflow::kube::{KubeErrorKind, KubeRuntime};
use mcflow_sim::Fault;
use serde_json::json;
use support::clusters::{
    CANARY, config_maps, link_manifest, start, start_blocking, wrong_token_kubeconfig,
};
use support::kube::{action, opts, run_workflow, runtime};
use support::{Outcome, Workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_cluster_apply_and_wait_succeed_through_retries() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("production");
    cluster.inject_fault(Fault::status("^/", 503).probability(0.2));
    cluster.inject_fault(Fault::latency("^/", Duration::from_millis(200)));
    let apply =
        action(json!({"context": "production", "apply": {"manifest": link_manifest("internal")}}));
    rt.execute(&apply, &opts(dir.path()))
        .await
        .expect("apply through 503s");
    let wait = action(
        json!({"context": "production", "wait": {"kind": "Deployment", "namespace": "linkerd-multicluster",
        "name": "linkerd-service-mirror-internal", "for": "available", "timeout": "60s"}}),
    );
    rt.execute(&wait, &opts(dir.path()))
        .await
        .expect("wait through 503s");
    let log = cluster.request_log();
    assert!(
        log.iter().any(|r| r.faulted),
        "no fault fired: the test tests nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_persistent_ones_marked_transient() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("production");
    let step =
        action(json!({"context": "production", "apply": {"manifest": config_maps(1, "default")}}));
    // Connections each try opened: the first fault's request opens the run's connection; a
    // dropped connection (every stream on it, over HTTP/2 too) makes the retry open a new one.
    let mut opened = Vec::new();
    for fault in [
        Fault::too_many_requests("/configmaps/", 1),
        Fault::drop_connection("/configmaps/"),
        Fault::status("/configmaps/", 500),
        Fault::status("/configmaps/", 502),
    ] {
        let before = cluster.connection_count();
        cluster.clear_request_log();
        cluster.inject_fault(fault.clone().method("PATCH").times(1));
        rt.execute(&step, &opts(dir.path()))
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e:?}"));
        let log = cluster.request_log();
        let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
        assert_eq!(statuses.len(), 2, "{fault:?}: {log:?}");
        assert!(log[0].faulted && statuses[1] < 300, "{fault:?}: {log:?}");
        opened.push(cluster.connection_count() - before);
    }
    assert_eq!(opened, [1, 1, 0, 0]);

    cluster.clear_faults();
    cluster.inject_fault(Fault::status("/configmaps/", 503).method("GET"));
    let get = action(
        json!({"context": "production", "get": {"kind": "ConfigMap", "namespace": "default", "name": "cm-0"}}),
    );
    let err = rt.execute(&get, &opts(dir.path())).await.unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::Server);
    assert!(err.transient, "{err:?}");
    assert!(err.message.contains("503"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_missing_context_and_rejected_object_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["internal", "production"]).await;

    let wrong = KubeRuntime::new(Some(wrong_token_kubeconfig(&sim, dir.path()))).unwrap();
    let get = action(
        json!({"context": "production", "get": {"kind": "ConfigMap", "namespace": "default", "name": "x"}}),
    );
    let err = wrong.execute(&get, &opts(dir.path())).await.unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::Unauthorized);
    assert!(!err.transient);
    assert!(err.message.contains("Unauthorized"), "{}", err.message);
    assert!(!err.message.contains("not-the-token"), "{}", err.message);

    let rt = runtime(&sim);
    let elsewhere =
        action(json!({"context": "staging", "get": {"kind": "ConfigMap", "name": "x"}}));
    let err = rt.execute(&elsewhere, &opts(dir.path())).await.unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::UnknownContext);
    assert!(err.kind.is_usage());
    assert!(
        err.message.contains("internal, production"),
        "{}",
        err.message
    );

    // A name the API server refuses: 422 with the server's message.
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Name, namespace: default}\n";
    let err = rt
        .execute(
            &action(json!({"context": "production", "apply": {"manifest": bad}})),
            &opts(dir.path()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::Rejected);
    assert!(!err.transient);
    assert!(
        err.message
            .contains("apply ConfigMap default/Not_A_Name on context production"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("Not_A_Name") && err.message.contains("422"),
        "{}",
        err.message
    );

    // The same for a Secret that carries the token: the message names it, never its data.
    let bad_secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: Bad_Secret, namespace: default}}\nstringData: {{token: {CANARY}}}\n"
    );
    let err = rt
        .execute(
            &action(json!({"context": "production", "apply": {"manifest": bad_secret}})),
            &opts(dir.path()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::Rejected);
    assert!(!err.message.contains(CANARY), "{}", err.message);
    assert!(
        err.message.contains("Secret default/Bad_Secret"),
        "{}",
        err.message
    );
}

const APPLY_AND_WAIT: &str = r#"
name: apply-and-wait
defaults:
  retry: { attempts: 5, delay: 100ms, backoff: 2.0, max_delay: 1s }
steps:
  - id: apply_link
    kube:
      context: production
      apply: { file: link.yaml }
  - id: mirror_ready
    kube:
      context: production
      wait: { kind: Deployment, namespace: linkerd-multicluster, name: linkerd-service-mirror-internal, for: available }
    timeout: 60s
"#;

#[test]
fn flaky_cluster_apply_and_wait_still_succeeds() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["internal", "production"]);
    ws.write("link.yaml", &link_manifest("internal"));
    let spoke = sim.cluster("production");
    spoke.inject_fault(Fault::status("^/", 503).probability(0.2));
    spoke.inject_fault(Fault::latency("^/", Duration::from_millis(200)));
    run_workflow(&ws, APPLY_AND_WAIT, sim.kubeconfig_path(), &[])
        .assert_code(0)
        .lacks(CANARY);
    assert!(
        spoke.request_log().iter().any(|r| r.faulted),
        "no fault fired"
    );
    let d = spoke.get(
        "apps/v1",
        "Deployment",
        "linkerd-multicluster",
        "linkerd-service-mirror-internal",
    );
    assert!(d.is_some());
}

const GET_CONFIGMAP: &str = r#"
name: get-one
steps:
  - id: read
    kube:
      context: production
      get: { kind: ConfigMap, namespace: default, name: anything, optional: true }
"#;

#[test]
fn wrong_token_fails_the_step_with_unauthorized() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["production"]);
    let wrong = wrong_token_kubeconfig(&sim, ws.path());
    let out = run_workflow(&ws, GET_CONFIGMAP, &wrong, &[]);
    out.assert_code(1);
    assert!(out.all().contains("Unauthorized"), "{}", out.all());
    assert!(!out.all().contains("not-the-token"), "{}", out.all());
}

const OTHER_CONTEXT: &str = r#"
name: get-elsewhere
steps:
  - id: read
    kube:
      context: staging
      get: { kind: ConfigMap, namespace: default, name: anything }
"#;

#[test]
fn missing_context_names_the_available_ones() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["internal", "production"]);
    let out = run_workflow(&ws, OTHER_CONTEXT, sim.kubeconfig_path(), &[]);
    assert!(
        out.all()
            .contains("context \"staging\" is not in the kubeconfig"),
        "{}",
        out.all()
    );
    assert!(
        out.all()
            .contains("available contexts: internal, production"),
        "{}",
        out.all()
    );
    assert_ne!(out.code, 0);
}

/// An unknown context is a usage error (exit code 2, DESIGN.md section 7), found before any
/// step runs.
#[test]
fn missing_context_is_a_usage_error() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["internal", "production"]);
    run_workflow(&ws, OTHER_CONTEXT, sim.kubeconfig_path(), &[]).assert_code(2);
}

const REJECTED: &str = r#"
name: rejected
steps:
  - id: bad
    kube:
      context: production
      apply:
        manifest: |
          apiVersion: v1
          kind: ConfigMap
          metadata: { name: Not_A_Name, namespace: default }
"#;

#[test]
fn rejected_object_fails_with_the_servers_message() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["production"]);
    let out = run_workflow(&ws, REJECTED, sim.kubeconfig_path(), &[]);
    out.assert_code(1);
    assert!(out.all().contains("Not_A_Name"), "{}", out.all());
    assert!(out.all().contains("422"), "{}", out.all());
}

#[test]
fn kubeconfig_from_the_environment_skips_missing_paths() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["production"]);
    let file = ws.write("workflow.yaml", GET_CONFIGMAP);
    let paths = std::env::join_paths([
        ws.path().join("absent"),
        sim.kubeconfig_path().to_path_buf(),
    ])
    .unwrap();
    let mut cmd = ws.command(&["run", "--output", "plain"]);
    cmd.arg(&file).env("KUBECONFIG", &paths);
    let out = Outcome::of(cmd, Duration::from_secs(60));
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0, "{text}");

    let only_absent =
        std::env::join_paths([ws.path().join("absent-a"), ws.path().join("absent-b")]).unwrap();
    let mut cmd = ws.command(&["run", "--output", "plain"]);
    cmd.arg(&file).env("KUBECONFIG", &only_absent);
    let out = Outcome::of(cmd, Duration::from_secs(60));
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_ne!(out.code, 0, "{text}");
    assert!(
        text.contains("absent-a") && text.contains("absent-b"),
        "{text}"
    );
}
