//! Server-side apply against simulated clusters, through mcflow's library API
//! ([`mcflow::kube::KubeRuntime::execute`]) and through the binary: the Linkerd link output
//! applied in one step and again without a change, the cost in requests (one per object, at
//! most one discovery), a custom resource defined earlier in the same manifest, a manifest
//! from a file with namespace defaulting, and dry runs that write nothing.

mod support;

use mcflow::kube::{ExecOptions, KubeErrorKind};
use serde_json::{Value, json};
use support::Workspace;
use support::clusters::{
    CANARY, config_maps, is_discovery, link_manifest, object_requests, start, start_blocking,
};
use support::kube::{
    LINK_OBJECTS, action, assert_no_canary, opts, resource_version, run_workflow, runtime,
};

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
    let objects = LINK_OBJECTS;
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

const APPLY_LINK: &str = r#"
name: apply-link
steps:
  - id: apply_link
    kube:
      context: production
      apply: { file: link.yaml }
"#;

#[test]
fn link_output_applied_twice_changes_nothing_the_second_time() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["internal", "production"]);
    ws.write("link.yaml", &link_manifest("internal"));
    run_workflow(&ws, APPLY_LINK, sim.kubeconfig_path(), &[])
        .assert_code(0)
        .lacks(CANARY);
    let objects = LINK_OBJECTS;
    let before: Vec<Value> = objects
        .iter()
        .map(|o| resource_version(&sim, "production", *o))
        .collect();
    let spoke = sim.cluster("production");
    spoke.clear_request_log();
    let second = run_workflow(&ws, APPLY_LINK, sim.kubeconfig_path(), &[]);
    second.assert_code(0).lacks(CANARY);
    let after: Vec<Value> = objects
        .iter()
        .map(|o| resource_version(&sim, "production", *o))
        .collect();
    assert_eq!(before, after, "the second run changed objects");
    let log = spoke.request_log();
    assert!(log.iter().all(|r| r.status < 400), "errors: {log:?}");
    // A new process: one discovery (the Link's group-version) plus one request per object.
    let patches = log.iter().filter(|r| r.method == "PATCH").count();
    assert_eq!(patches, 10, "{log:?}");
    assert!(
        log.len() <= 11,
        "{} requests for 10 objects: {log:?}",
        log.len()
    );
}

#[test]
fn dry_run_writes_nothing() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["internal", "production"]);
    ws.write("link.yaml", &link_manifest("internal"));
    let out = run_workflow(&ws, APPLY_LINK, sim.kubeconfig_path(), &["--dry-run"]);
    out.assert_code(0).lacks(CANARY);
    assert!(
        out.all().contains("would apply 10 objects"),
        "{}",
        out.all()
    );
    assert!(
        sim.cluster("production")
            .get(
                "multicluster.linkerd.io/v1alpha2",
                "Link",
                "linkerd-multicluster",
                "internal"
            )
            .is_none()
    );
}
