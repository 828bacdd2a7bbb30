//! Label, annotate, get and delete on simulated clusters through mcflow's library API (an
//! Argo CD cluster secret found by its decoded name, captures with Secret data redacted, delete
//! by name and by selector, dry runs), and every kube action in one workflow through the
//! binary.

mod support;

use mcflow::kube::{ExecOptions, KubeErrorKind};
use serde_json::{Value, json};
use support::Workspace;
use support::clusters::{CANARY, link_manifest, start, start_blocking};
use support::kube::{action, assert_no_canary, b64, opts, run_workflow, runtime};

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

const EVERY_ACTION: &str = r#"
name: every-kube-action
steps:
  - id: link_manifest
    run: { argv: [cat, link.yaml] }
    sensitive: true
  - id: apply_link
    kube:
      context: production
      apply: { manifest: "{{ steps.link_manifest.stdout }}" }
  - id: mirror_ready
    kube:
      context: production
      wait: { kind: Deployment, namespace: linkerd-multicluster, name: linkerd-service-mirror-internal, for: available }
    timeout: 30s
  - id: link
    kube:
      context: production
      get: { kind: Link, namespace: linkerd-multicluster, name: internal,
             capture: { gateway: /spec/gatewayAddress } }
  - id: check_gateway
    assert:
      that: "steps.link.outputs.gateway == 'tfx-internal.gerega.net'"
  - id: label_secret
    kube:
      context: production
      label:
        target: { kind: Secret, namespace: linkerd, selector: "multicluster.linkerd.io/cluster-name=internal" }
        set: { mcflow.io/checked: "yes" }
  - id: annotate_link
    kube:
      context: production
      annotate:
        target: { kind: Link, namespace: linkerd-multicluster, name: internal }
        set: { mcflow.io/linked-by: mcflow }
  - id: delete_probe
    kube:
      context: production
      delete: { kind: Service, namespace: linkerd-multicluster, name: probe-gateway-internal }
  - id: probe_gone
    kube:
      context: production
      wait: { kind: Service, namespace: linkerd-multicluster, name: probe-gateway-internal, for: deleted }
    timeout: 30s
"#;

#[test]
fn every_kube_action_through_the_binary() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["internal", "production"]);
    ws.write("link.yaml", &link_manifest("internal"));
    let out = run_workflow(&ws, EVERY_ACTION, sim.kubeconfig_path(), &["-v"]);
    out.assert_code(0).lacks(CANARY);
    let spoke = sim.cluster("production");
    let secret = spoke
        .get("v1", "Secret", "linkerd", "cluster-credentials-internal")
        .unwrap();
    assert_eq!(secret["metadata"]["labels"]["mcflow.io/checked"], "yes");
    let link = spoke
        .get(
            "multicluster.linkerd.io/v1alpha2",
            "Link",
            "linkerd-multicluster",
            "internal",
        )
        .unwrap();
    assert_eq!(
        link["metadata"]["annotations"]["mcflow.io/linked-by"],
        "mcflow"
    );
    assert!(
        spoke
            .get(
                "v1",
                "Service",
                "linkerd-multicluster",
                "probe-gateway-internal"
            )
            .is_none()
    );
    // The wait on the Deployment was completed by a watch, not by polling.
    let log = spoke.request_log();
    let on_deployment: Vec<_> = log
        .iter()
        .filter(|r| r.path.contains("/deployments") && r.method == "GET")
        .collect();
    assert!(
        on_deployment.iter().any(|r| r.watch),
        "no watch: {on_deployment:?}"
    );
    assert!(
        on_deployment.iter().filter(|r| !r.watch).count() <= 1,
        "polled: {on_deployment:?}"
    );
}

/// Forty reads of one cluster started at once, as link-spoke's first steps start them for many
/// spokes: over HTTP/2 (the simulator offers it, as kube-apiserver does) one connection carries
/// them all, the first request going alone until the server has said it speaks HTTP/2
/// (kube/http.rs); each would otherwise open a connection of its own and pay a TLS handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_of_one_cluster_share_one_connection() {
    let opened = forty_concurrent_reads(false).await;
    assert_eq!(opened, 1, "40 concurrent reads opened {opened} connections");
}

/// The same against a server that speaks HTTP/1.1 only (behind an HTTP/1.1 proxy): every read
/// succeeds, and at most 8 requests in flight per cluster bound the connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_over_http1_share_a_few_connections() {
    let opened = forty_concurrent_reads(true).await;
    assert!(
        (2..=16).contains(&opened),
        "40 concurrent reads opened {opened} connections"
    );
}

async fn forty_concurrent_reads(http1_only: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let sim = mcflow_sim::Simulator::builder()
        .cluster("internal")
        .kubeconfig_path(dir.path().join("kubeconfig"))
        .http1_only(http1_only)
        .start()
        .await
        .expect("simulator starts");
    support::clusters::prepare(&sim);
    let rt = runtime(&sim);
    let cluster = sim.cluster("internal");
    let reads = (0..40).map(|i| {
        let step = action(json!({"context": "internal", "get": {
            "kind": "ConfigMap", "namespace": "default", "name": format!("cm-{i}"), "optional": true}}));
        let rt = &rt;
        let opts = opts(dir.path());
        async move { rt.execute(&step, &opts).await }
    });
    let before = cluster.connection_count();
    for outcome in futures::future::join_all(reads).await {
        outcome.expect("get");
    }
    cluster.connection_count() - before
}

/// The protocol a run speaks to a server that offers both: HTTP/2, or HTTP/1.1 with
/// `DISABLE_HTTP2` set (kubectl's switch, for a middlebox that mishandles HTTP/2). The run's
/// `-vv` line names it.
#[test]
fn disable_http2_speaks_http1_as_kubectl_does() {
    const GET: &str = "name: get\nsteps:\n  - id: ns\n    kube:\n      context: internal\n      get: { kind: Namespace, name: default }\n";
    let ws = Workspace::new()
        .no_color()
        .env("RUST_LOG", "warn,mcflow::kube::http=debug");
    let sim = start_blocking(ws.path(), &["internal"]);
    ws.write("workflow.yaml", GET);
    let kubeconfig = sim.kubeconfig_path().display().to_string();
    let args = ["--kubeconfig", &kubeconfig, "run", "workflow.yaml"];
    for (disable, protocol) in [("", "protocol=HTTP/2.0"), ("1", "protocol=HTTP/1.1")] {
        let before = sim.cluster("internal").connection_count();
        let mut cmd = ws.command(&args);
        cmd.env("DISABLE_HTTP2", disable);
        let out = ws.run(cmd);
        out.assert_code(0).stderr_has(protocol);
        assert_eq!(sim.cluster("internal").connection_count() - before, 1);
    }
}
