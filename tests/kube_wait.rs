//! Waits on simulated clusters through mcflow's library API: completed by a watch (not by
//! polling), timing out with the last state seen (the wait's own timeout or the step's), and
//! every condition: available, exists, deleted, a field, Argo CD's synced and healthy.

mod support;

use std::time::Duration;

use mcflow::kube::{ExecOptions, KubeErrorKind};
use serde_json::json;
use support::clusters::start;
use support::kube::{action, opts, runtime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_available_is_completed_by_a_watch() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("production");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n\
                      spec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n";
    rt.execute(
        &action(json!({"context": "production", "apply": {"manifest": deployment}})),
        &opts(dir.path()),
    )
    .await
    .expect("apply");
    cluster.clear_request_log();
    let wait = action(json!({"context": "production", "wait": {
        "kind": "Deployment", "namespace": "default", "name": "web", "for": "available", "timeout": "30s"}}));
    let outcome = rt.execute(&wait, &opts(dir.path())).await.expect("wait");
    assert_eq!(outcome.summary, "Deployment default/web is available");
    let object = outcome.object.expect("the object");
    assert!(
        object["status"]["conditions"]
            .to_string()
            .contains("Available")
    );
    let log = cluster.request_log();
    let on_deployments: Vec<_> = log
        .iter()
        .filter(|r| r.path.contains("/deployments"))
        .collect();
    assert!(
        on_deployments.iter().any(|r| r.watch),
        "no watch: {on_deployments:?}"
    );
    let reads = on_deployments.iter().filter(|r| !r.watch).count();
    assert!(reads <= 1, "polled instead of watching: {on_deployments:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_times_out_with_the_last_state_seen() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flag, namespace: default}\ndata: {state: pending}\n";
    rt.execute(
        &action(json!({"context": "production", "apply": {"manifest": cm}})),
        &opts(dir.path()),
    )
    .await
    .unwrap();
    let wait = action(json!({"context": "production", "wait": {
        "kind": "ConfigMap", "namespace": "default", "name": "flag",
        "for": {"field": {"path": "data.state", "equals": "done"}}, "timeout": "300ms"}}));
    let err = rt.execute(&wait, &opts(dir.path())).await.unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::Timeout);
    assert!(
        err.message
            .contains("last seen: ConfigMap default/flag: data.state is pending"),
        "{}",
        err.message
    );
    // A wait that used its whole timeout is not retried: another attempt would only wait as
    // long again (issue 15: bootstrap's 5-minute waits ran three times).
    assert!(!err.transient, "{}", err.message);
    assert!(err.message.contains("not retried"), "{}", err.message);

    // ExecOptions.timeout (the step's) ends it the same way.
    let wait = action(json!({"context": "production", "wait": {
        "kind": "Deployment", "namespace": "default", "name": "missing", "for": "available"}}));
    let step_timeout = ExecOptions {
        timeout: Some(Duration::from_millis(200)),
        ..opts(dir.path())
    };
    let err = rt.execute(&wait, &step_timeout).await.unwrap_err();
    assert!(
        err.message
            .contains("Deployment default/missing: does not exist"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_deleted_exists_field_and_argo_states() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["internal"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("internal");
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone-soon, namespace: default}\n";
    rt.execute(
        &action(json!({"context": "internal", "apply": {"manifest": cm}})),
        &opts(dir.path()),
    )
    .await
    .unwrap();
    let exists = action(
        json!({"context": "internal", "wait": {"kind": "ConfigMap", "namespace": "default", "name": "gone-soon", "for": "exists"}}),
    );
    assert_eq!(
        rt.execute(&exists, &opts(dir.path()))
            .await
            .unwrap()
            .summary,
        "ConfigMap default/gone-soon exists"
    );

    let deleted = action(
        json!({"context": "internal", "wait": {"kind": "ConfigMap", "namespace": "default", "name": "gone-soon", "for": "deleted", "timeout": "30s"}}),
    );
    let waiter = {
        let rt = &rt;
        let deleted = &deleted;
        let base = dir.path().to_path_buf();
        async move { rt.execute(deleted, &opts(&base)).await }
    };
    let deleter = async {
        cluster
            .delete("v1", "ConfigMap", "default", "gone-soon")
            .unwrap();
    };
    let (waited, ()) = tokio::join!(waiter, deleter);
    assert_eq!(
        waited.unwrap().summary,
        "ConfigMap default/gone-soon is gone"
    );

    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: linkerd-multicluster, namespace: argocd}\nspec: {project: default}\n";
    rt.execute(
        &action(json!({"context": "internal", "apply": {"manifest": app}})),
        &opts(dir.path()),
    )
    .await
    .unwrap();
    cluster
        .set_argo_application("argocd", "linkerd-multicluster", "Synced", "Progressing")
        .unwrap();
    let healthy = action(
        json!({"context": "internal", "wait": {"kind": "Application", "namespace": "argocd", "name": "linkerd-multicluster", "for": "healthy", "timeout": "30s"}}),
    );
    let synced = action(
        json!({"context": "internal", "wait": {"kind": "Application", "namespace": "argocd", "name": "linkerd-multicluster", "for": "synced", "timeout": "30s"}}),
    );
    assert!(rt.execute(&synced, &opts(dir.path())).await.is_ok());
    let base = opts(dir.path());
    let (waited, _) = tokio::join!(rt.execute(&healthy, &base), async {
        cluster
            .set_argo_application("argocd", "linkerd-multicluster", "Synced", "Healthy")
            .unwrap();
    });
    assert_eq!(
        waited.unwrap().summary,
        "Application argocd/linkerd-multicluster is healthy"
    );
}

/// More waits on one cluster than the API server allows streams on a connection (100, as
/// kube-apiserver), and the writes that make them come true sent after they started: over
/// HTTP/2 every request to the cluster shares one connection, so without a bound on the
/// watches (kube/client.rs, `MAX_WATCHES_PER_CLUSTER`) the writes would find no stream free
/// and the waits would time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_waits_than_streams_on_one_cluster_all_come_true() {
    const WAITS: usize = 110;
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("production");
    cluster.clear_request_log();
    let waits = (0..WAITS).map(|i| {
        let wait = action(json!({"context": "production", "wait": {
            "kind": "ConfigMap", "namespace": "default", "name": format!("cm-{i}"),
            "for": "exists", "timeout": "60s"}}));
        let (rt, opts) = (&rt, opts(dir.path()));
        async move { rt.execute(&wait, &opts).await }
    });
    let writes = async {
        // Once the watches are up (polled in the simulator's request log: a condition, not a
        // fixed pause), create the ConfigMaps through the same client, one request each.
        while cluster.request_log().iter().filter(|r| r.watch).count() < 64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for i in 0..WAITS {
            let cm = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: default}}\n"
            );
            rt.execute(
                &action(json!({"context": "production", "apply": {"manifest": cm}})),
                &opts(dir.path()),
            )
            .await
            .expect("apply");
        }
    };
    let (outcomes, ()) = tokio::join!(futures::future::join_all(waits), writes);
    for outcome in outcomes {
        outcome.expect("wait");
    }
    assert_eq!(cluster.connection_count(), 1);
}
