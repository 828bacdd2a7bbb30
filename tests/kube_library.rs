//! The kube actions through mcflow's library API ([`KubeRuntime::execute`]) against simulated
//! clusters: every action, request costs, watches, faults, errors, and secrets that never leak.

mod kube_common;

use std::path::Path;
use std::time::Duration;

use kube_common::{
    CANARY, config_maps, is_discovery, link_manifest, object_requests, start,
    wrong_token_kubeconfig,
};
use mcflow::kube::{ExecOptions, KubeAction, KubeErrorKind, KubeOutcome, KubeRuntime};
use mcflow_sim::{Fault, Simulator};
use serde_json::{Value, json};

fn action(value: Value) -> KubeAction {
    serde_json::from_value(value).expect("a valid kube action")
}

fn opts(dir: &Path) -> ExecOptions {
    ExecOptions {
        dry_run: false,
        base_dir: dir.to_path_buf(),
        timeout: None,
    }
}

fn runtime(sim: &Simulator) -> KubeRuntime {
    KubeRuntime::new(Some(sim.kubeconfig_path().to_path_buf())).expect("kubeconfig")
}

fn assert_no_canary(outcome: &KubeOutcome) {
    let text = format!("{outcome:?}");
    assert!(!text.contains(CANARY), "the token leaked: {text}");
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_output_applies_in_one_step_and_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["internal", "production"]).await;
    let rt = runtime(&sim);
    let spoke = sim.cluster("production");
    let step =
        action(json!({"context": "production", "apply": {"manifest": link_manifest("internal")}}));

    let first = rt
        .execute(&step, &opts(dir.path()))
        .await
        .expect("first apply");
    assert_no_canary(&first);
    assert!(first.changed);
    assert!(
        first.summary.starts_with("applied 10 objects (10 created"),
        "{}",
        first.summary
    );
    let link = spoke
        .get(
            "multicluster.linkerd.io/v1alpha2",
            "Link",
            "linkerd-multicluster",
            "internal",
        )
        .expect("Link");
    assert_eq!(link["spec"]["gatewayAddress"], "tfx-internal.gerega.net");
    let secret = spoke
        .get("v1", "Secret", "linkerd", "cluster-credentials-internal")
        .expect("Secret");
    assert_eq!(
        secret["metadata"]["labels"]["multicluster.linkerd.io/cluster-name"],
        "internal"
    );

    let versions = |names: &[(&str, &str, &str, &str)]| -> Vec<Value> {
        names
            .iter()
            .map(|(v, k, ns, n)| {
                spoke.get(v, k, ns, n).unwrap()["metadata"]["resourceVersion"].clone()
            })
            .collect()
    };
    let objects = [
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
    let before = versions(&objects);
    spoke.clear_request_log();

    let second = rt
        .execute(&step, &opts(dir.path()))
        .await
        .expect("second apply");
    assert_no_canary(&second);
    assert!(!second.summary.contains("created"), "{}", second.summary);
    println!("second apply: {}", second.summary);
    assert_eq!(versions(&objects), before, "a second apply changed objects");
    let log = spoke.request_log();
    assert!(
        log.iter().all(|r| r.status < 400),
        "errors on the second apply: {log:?}"
    );
    assert_eq!(
        log.len(),
        10,
        "one request per object, discovery cached: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_n_objects_costs_one_request_each_plus_at_most_one_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("production");
    cluster.clear_request_log();
    let n = 25;
    let manifest = format!(
        "{}---\n{}",
        config_maps(n, "default"),
        link_manifest("internal")
    );
    let step = action(json!({"context": "production", "apply": {"manifest": manifest}}));
    rt.execute(&step, &opts(dir.path())).await.expect("apply");
    let log = cluster.request_log();
    let discovery: Vec<_> = log.iter().filter(|r| is_discovery(r)).collect();
    let objects = object_requests(&log);
    let total_objects = n + 10;
    println!(
        "applied {total_objects} objects with {} requests: {} object requests, {} discovery requests",
        log.len(),
        objects.len(),
        discovery.len()
    );
    assert_eq!(objects.len(), total_objects, "{objects:?}");
    assert!(
        discovery.len() <= 1,
        "more than one discovery request: {discovery:?}"
    );

    // A later step of the same run on the same cluster discovers nothing again.
    cluster.clear_request_log();
    let again =
        action(json!({"context": "production", "apply": {"manifest": link_manifest("other-hub")}}));
    rt.execute(&again, &opts(dir.path())).await.expect("apply");
    let log = cluster.request_log();
    assert_eq!(log.iter().filter(|r| is_discovery(r)).count(), 0, "{log:?}");
    assert_eq!(log.len(), 10);
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_finds_argocd_cluster_secret_by_decoded_name() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["internal"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("internal");
    for name in ["production", "nonproduction"] {
        cluster
            .apply(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("cluster-{name}-7f3a"), "namespace": "argocd",
                             "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
                "data": {"name": b64(name), "server": b64(&format!("https://{name}:6443")),
                         "config": b64(&format!("{{\"bearerToken\":\"{CANARY}\"}}"))}}))
            .unwrap();
    }
    let step = action(json!({"context": "internal", "label": {
        "target": {"kind": "Secret", "namespace": "argocd", "selector": "argocd.argoproj.io/secret-type=cluster",
                   "where": {"path": "data.name", "equals": "production"}},
        "set": {"spydersoft.io/linkerd-multicluster": "true"}}}));
    let first = rt.execute(&step, &opts(dir.path())).await.expect("label");
    assert_eq!(
        first.summary,
        "labelled Secret argocd/cluster-production-7f3a"
    );
    assert!(first.changed);
    assert_no_canary(&first);
    let labels =
        |n: &str| cluster.get("v1", "Secret", "argocd", n).unwrap()["metadata"]["labels"].clone();
    assert_eq!(
        labels("cluster-production-7f3a")["spydersoft.io/linkerd-multicluster"],
        "true"
    );
    assert!(
        labels("cluster-nonproduction-7f3a")
            .get("spydersoft.io/linkerd-multicluster")
            .is_none()
    );

    let again = rt
        .execute(&step, &opts(dir.path()))
        .await
        .expect("label again");
    assert!(!again.changed);
    assert_eq!(
        again.summary,
        "Secret argocd/cluster-production-7f3a already labelled"
    );

    let none = action(json!({"context": "internal", "label": {
        "target": {"kind": "Secret", "namespace": "argocd", "selector": "argocd.argoproj.io/secret-type=cluster",
                   "where": {"path": "data.name", "equals": "staging"}},
        "set": {"a": "b"}}}));
    let err = rt.execute(&none, &opts(dir.path())).await.unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::NotFound);
    assert!(
        err.message.contains("where data.name = staging"),
        "{}",
        err.message
    );

    // Annotate by name, then remove; a dry run changes nothing.
    let annotate = action(json!({"context": "internal", "annotate": {
        "target": {"kind": "Secret", "namespace": "argocd", "name": "cluster-production-7f3a"},
        "set": {"mcflow.io/linked": "yes"}}}));
    let dry = ExecOptions {
        dry_run: true,
        ..opts(dir.path())
    };
    assert_eq!(
        rt.execute(&annotate, &dry).await.unwrap().summary,
        "would annotate Secret argocd/cluster-production-7f3a"
    );
    let annotations = || {
        cluster
            .get("v1", "Secret", "argocd", "cluster-production-7f3a")
            .unwrap()["metadata"]["annotations"]
            .clone()
    };
    assert!(annotations().get("mcflow.io/linked").is_none());
    rt.execute(&annotate, &opts(dir.path())).await.unwrap();
    assert_eq!(annotations()["mcflow.io/linked"], "yes");
    let remove = action(json!({"context": "internal", "annotate": {
        "target": {"kind": "Secret", "namespace": "argocd", "name": "cluster-production-7f3a"},
        "remove": ["mcflow.io/linked"]}}));
    assert!(
        rt.execute(&remove, &opts(dir.path()))
            .await
            .unwrap()
            .changed
    );
    assert!(annotations().get("mcflow.io/linked").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_captures_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    rt.execute(
        &action(json!({"context": "production", "apply": {"manifest": link_manifest("internal")}})),
        &opts(dir.path()),
    )
    .await
    .unwrap();
    let get = action(json!({"context": "production", "get": {
        "kind": "Link", "namespace": "linkerd-multicluster", "name": "internal",
        "capture": {"gateway": "/spec/gatewayAddress", "port": "/spec/gatewayPort"}}}));
    let outcome = rt.execute(&get, &opts(dir.path())).await.unwrap();
    assert_eq!(outcome.outputs["gateway"], "tfx-internal.gerega.net");
    assert_eq!(outcome.outputs["port"], "30143");
    assert_eq!(outcome.outputs["exists"], true);

    let secret = action(json!({"context": "production", "get": {
        "kind": "Secret", "namespace": "linkerd", "name": "cluster-credentials-internal",
        "capture": {"kubeconfig": "/data/kubeconfig"}}}));
    let outcome = rt.execute(&secret, &opts(dir.path())).await.unwrap();
    assert_no_canary(&outcome);
    assert_eq!(outcome.outputs["kubeconfig"], mcflow::kube::REDACTED);
    assert!(
        !format!("{outcome:?}").contains(&b64("apiVersion")[..8]),
        "base64 data leaked"
    );

    let missing = action(
        json!({"context": "production", "get": {"kind": "ConfigMap", "namespace": "default", "name": "nope",
        "capture": {"x": "/data/x"}}}),
    );
    let err = rt.execute(&missing, &opts(dir.path())).await.unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::NotFound);
    assert!(
        err.message.contains("ConfigMap default/nope not found"),
        "{}",
        err.message
    );
    let optional = action(
        json!({"context": "production", "get": {"kind": "ConfigMap", "namespace": "default", "name": "nope",
        "optional": true, "capture": {"x": "/data/x"}}}),
    );
    let outcome = rt.execute(&optional, &opts(dir.path())).await.unwrap();
    assert_eq!(outcome.outputs["exists"], false);
    assert_eq!(outcome.outputs["x"], Value::Null);

    let bad_pointer = action(
        json!({"context": "production", "get": {"kind": "Link", "namespace": "linkerd-multicluster",
        "name": "internal", "capture": {"x": "/spec/nowhere"}}}),
    );
    let err = rt
        .execute(&bad_pointer, &opts(dir.path()))
        .await
        .unwrap_err();
    assert!(err.message.contains("/spec/nowhere"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_by_name_and_selector() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("production");
    rt.execute(
        &action(json!({"context": "production", "apply": {"manifest": link_manifest("internal")}})),
        &opts(dir.path()),
    )
    .await
    .unwrap();
    let by_name = action(json!({"context": "production", "delete": {
        "kind": "Link", "namespace": "linkerd-multicluster", "name": "internal"}}));
    let dry = ExecOptions {
        dry_run: true,
        ..opts(dir.path())
    };
    assert_eq!(
        rt.execute(&by_name, &dry).await.unwrap().summary,
        "would delete Link linkerd-multicluster/internal"
    );
    assert!(
        cluster
            .get(
                "multicluster.linkerd.io/v1alpha2",
                "Link",
                "linkerd-multicluster",
                "internal"
            )
            .is_some()
    );
    let done = rt.execute(&by_name, &opts(dir.path())).await.unwrap();
    assert_eq!(done.summary, "deleted Link linkerd-multicluster/internal");
    assert!(
        cluster
            .get(
                "multicluster.linkerd.io/v1alpha2",
                "Link",
                "linkerd-multicluster",
                "internal"
            )
            .is_none()
    );
    let again = rt.execute(&by_name, &opts(dir.path())).await.unwrap();
    assert!(!again.changed);
    let strict = action(json!({"context": "production", "delete": {
        "kind": "Link", "namespace": "linkerd-multicluster", "name": "internal", "ignore_missing": false}}));
    let err = rt.execute(&strict, &opts(dir.path())).await.unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::NotFound);

    let by_selector = action(json!({"context": "production", "delete": {
        "kind": "ClusterRole", "selector": "mirror.linkerd.io/cluster-name=internal"}}));
    let done = rt.execute(&by_selector, &opts(dir.path())).await.unwrap();
    assert_eq!(
        done.summary,
        "deleted ClusterRole linkerd-service-mirror-access-local-resources-internal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_apply_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let dry = ExecOptions {
        dry_run: true,
        ..opts(dir.path())
    };
    let step =
        action(json!({"context": "production", "apply": {"manifest": config_maps(3, "default")}}));
    let outcome = rt.execute(&step, &dry).await.unwrap();
    assert!(
        outcome.summary.starts_with("would apply 3 objects"),
        "{}",
        outcome.summary
    );
    assert!(
        sim.cluster("production")
            .get("v1", "ConfigMap", "default", "cm-0")
            .is_none()
    );
    let log = sim.cluster("production").request_log();
    assert!(
        log.iter()
            .filter(|r| r.method == "PATCH")
            .all(|r| r.query.contains("dryRun=All")),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_from_a_file_with_namespace_defaulting() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    std::fs::write(
        dir.path().join("objects.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
    )
    .unwrap();
    let step = action(
        json!({"context": "production", "apply": {"file": "objects.yaml", "namespace": "apps"}}),
    );
    let outcome = rt.execute(&step, &opts(dir.path())).await.unwrap();
    assert_eq!(
        outcome.outputs["objects"],
        json!(["Namespace apps", "ConfigMap apps/plain"])
    );
    assert!(
        sim.cluster("production")
            .get("v1", "ConfigMap", "apps", "plain")
            .is_some()
    );
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_defined_earlier_in_the_same_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("production");
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 3}\n";
    // Before its CRD exists, the kind is not served: a clear error, and the (empty) answer is cached.
    let err = rt
        .execute(
            &action(json!({"context": "production", "apply": {"manifest": widget}})),
            &opts(dir.path()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, KubeErrorKind::NotFound);
    assert!(
        err.message
            .contains("does not serve kind Widget in example.com/v1"),
        "{}",
        err.message
    );
    let crd = [
        "apiVersion: apiextensions.k8s.io/v1",
        "kind: CustomResourceDefinition",
        "metadata: {name: widgets.example.com}",
        "spec:",
        "  group: example.com",
        "  scope: Namespaced",
        "  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}",
        "  versions:",
        "  - name: v1",
        "    served: true",
        "    storage: true",
        "    schema:",
        "      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}",
        "",
    ]
    .join("\n");
    let manifest = format!("{crd}---\n{widget}");
    cluster.clear_request_log();
    let outcome = rt
        .execute(
            &action(json!({"context": "production", "apply": {"manifest": manifest}})),
            &opts(dir.path()),
        )
        .await
        .expect("CRD then its object");
    assert!(
        outcome.summary.starts_with("applied 2 objects"),
        "{}",
        outcome.summary
    );
    let w = cluster
        .get("example.com/v1", "Widget", "default", "w1")
        .expect("the Widget");
    assert_eq!(w["spec"]["size"], 3);
    // One refresh of the stale group-version, then one request per object.
    let log = cluster.request_log();
    assert_eq!(log.iter().filter(|r| is_discovery(r)).count(), 1, "{log:?}");
    assert_eq!(log.len(), 3, "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_persistent_ones_marked_transient() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(dir.path(), &["production"]).await;
    let rt = runtime(&sim);
    let cluster = sim.cluster("production");
    let step =
        action(json!({"context": "production", "apply": {"manifest": config_maps(1, "default")}}));
    for fault in [
        Fault::too_many_requests("/configmaps/", 1),
        Fault::drop_connection("/configmaps/"),
        Fault::status("/configmaps/", 500),
        Fault::status("/configmaps/", 502),
    ] {
        cluster.clear_request_log();
        cluster.inject_fault(fault.clone().method("PATCH").times(1));
        rt.execute(&step, &opts(dir.path()))
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e:?}"));
        let log = cluster.request_log();
        let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
        assert_eq!(statuses.len(), 2, "{fault:?}: {log:?}");
        assert!(log[0].faulted && statuses[1] < 300, "{fault:?}: {log:?}");
    }

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
