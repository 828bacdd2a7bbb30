//! kube-rs (the client mcflow uses) against the simulator: discovery, errors, conflicts,
//! server-side apply, dry runs, watches (410 Gone, bookmarks) and the service-mirror reactor.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{ApiResource, Discovery};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config};
use mcflow_sim::{Fault, Simulator, scenario::fixtures};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

async fn sim() -> Simulator {
    Simulator::builder()
        .clusters(["internal", "production"])
        .deployment_ready_delay(Duration::from_millis(50))
        .start()
        .await
        .expect("simulator starts")
}

async fn client(sim: &Simulator, context: &str) -> Client {
    let kc = Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let opts = KubeConfigOptions {
        context: Some(context.into()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kc, &opts).await.unwrap();
    Client::try_from(config).unwrap()
}

fn err_code(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}),
    )
    .unwrap()
}

#[tokio::test]
async fn discovery_legacy_and_aggregated_include_crds() {
    let sim = sim().await;
    sim.cluster("production")
        .apply_yaml(fixtures::CRDS)
        .unwrap();
    let c = client(&sim, "production").await;
    let info = c.apiserver_version().await.unwrap();
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "32"));
    for aggregated in [false, true] {
        let d = Discovery::new(c.clone());
        let d = if aggregated {
            d.run_aggregated().await.unwrap()
        } else {
            d.run().await.unwrap()
        };
        let links = d.get("multicluster.linkerd.io").expect("links group");
        assert_eq!(links.preferred_version_or_latest(), "v1alpha3");
        let (ar, caps) = links.recommended_kind("Link").unwrap();
        assert_eq!(ar.plural, "links");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        assert!(d.get("apps").is_some() && d.get("rbac.authorization.k8s.io").is_some());
    }
}

#[tokio::test]
async fn errors_are_kubernetes_statuses() {
    let sim = sim().await;
    let c = client(&sim, "internal").await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let (code, reason, msg) = err_code(cms.get("nope").await.unwrap_err());
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (404, "NotFound", "configmaps \"nope\" not found")
    );

    cms.create(&PostParams::default(), &cm("a", json!({"k": "v"})))
        .await
        .unwrap();
    let (code, reason, _) = err_code(
        cms.create(&PostParams::default(), &cm("a", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let (code, reason, msg) = err_code(
        cms.create(&PostParams::default(), &cm("Not_Valid", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        msg.starts_with("ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value"),
        "{msg}"
    );

    let missing: Api<ConfigMap> = Api::namespaced(c.clone(), "nowhere");
    let (code, _, msg) = err_code(
        missing
            .create(&PostParams::default(), &cm("a", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, msg.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );

    // Stale resourceVersion on update: 409 Conflict.
    let mut first = cms.get("a").await.unwrap();
    let mut second = first.clone();
    first.data = Some([("k".to_string(), "1".to_string())].into());
    cms.replace("a", &PostParams::default(), &first)
        .await
        .unwrap();
    second.data = Some([("k".to_string(), "2".to_string())].into());
    let (code, reason, msg) = err_code(
        cms.replace("a", &PostParams::default(), &second)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(msg.contains("the object has been modified"), "{msg}");

    // dryRun=All changes nothing but shows the result.
    let rv = sim.cluster("internal").resource_version();
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let out = cms
        .create(&dry, &cm("dry", json!({"x": "y"})))
        .await
        .unwrap();
    assert_eq!(out.data.unwrap()["x"], "y");
    assert!(cms.get_opt("dry").await.unwrap().is_none());
    assert_eq!(sim.cluster("internal").resource_version(), rv);

    // A wrong token: 401.
    let mut config = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(sim.kubeconfig_path()).unwrap(),
        &KubeConfigOptions {
            context: Some("internal".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    config.auth_info.token = Some("wrong".to_string().into());
    let bad: Api<ConfigMap> = Api::namespaced(Client::try_from(config).unwrap(), "default");
    let (code, reason, _) = err_code(bad.get("a").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (401, "Unauthorized"));

    // An injected 500 reaches the client as a Status.
    sim.cluster("internal")
        .inject_fault(Fault::status("/configmaps/a$", 500).times(1));
    let (code, reason, _) = err_code(cms.get("a").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (500, "InternalError"));
    cms.get("a").await.unwrap();
}

#[tokio::test]
async fn server_side_apply_through_kube() {
    let sim = sim().await;
    let c = client(&sim, "internal").await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let mine = PatchParams::apply("mcflow");
    let applied = cms
        .patch(
            "s",
            &mine,
            &Patch::Apply(cm("s", json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    let rv = applied.metadata.resource_version.clone();
    let again = cms
        .patch(
            "s",
            &mine,
            &Patch::Apply(cm("s", json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version, rv,
        "identical apply changes nothing"
    );
    // Dropping a field removes it.
    let fewer = cms
        .patch("s", &mine, &Patch::Apply(cm("s", json!({"a": "1"}))))
        .await
        .unwrap();
    assert_eq!(fewer.data.unwrap().len(), 1);
    // Another manager changing an owned field: 409 unless forced.
    let theirs = PatchParams::apply("someone-else");
    let (code, reason, msg) = err_code(
        cms.patch("s", &theirs, &Patch::Apply(cm("s", json!({"a": "9"}))))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    // An applier is named without "using <apiVersion>" (that is for updaters), as the API
    // server words it: shown by tests/rig_kubectl.rs.
    assert_eq!(
        msg,
        "Apply failed with 1 conflict: conflict with \"mcflow\": .data.a"
    );
    let forced = cms
        .patch(
            "s",
            &theirs.force(),
            &Patch::Apply(cm("s", json!({"a": "9"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["a"], "9");
    // Merge and JSON patches.
    let merged = cms
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.unwrap()["m"], "1");
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/j", "value": "2"}])).unwrap();
    let patched = cms
        .patch("s", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["j"], "2");
    let sm = cms
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"m": null}})),
        )
        .await
        .unwrap();
    assert!(!sm.data.unwrap().contains_key("m"));
}

#[tokio::test]
async fn watch_from_a_compacted_version_is_gone_and_bookmarks_flow() {
    let sim = Simulator::builder()
        .cluster("internal")
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let c = client(&sim, "internal").await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("w", json!({})))
        .await
        .unwrap();
    let old_rv = first.metadata.resource_version.unwrap();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "1"}})),
    )
    .await
    .unwrap();

    // Resuming from the old version replays the change.
    let mut s = cms
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(ev, WatchEvent::Modified(ref o) if o.data.as_ref().unwrap()["a"] == "1"));

    // After a compaction: 410 Gone as an ERROR event.
    sim.cluster("internal").compact();
    let mut s = cms
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {other:?}"),
    }

    // Bookmarks.
    let wp = WatchParams {
        bookmarks: true,
        ..WatchParams::default()
    };
    let rv = sim.cluster("internal").resource_version().to_string();
    let mut s = cms.watch(&wp, &rv).await.unwrap().boxed();
    let ev = tokio::time::timeout(WAIT, s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(ev, WatchEvent::Bookmark(_)), "{ev:?}");
}

#[tokio::test]
async fn service_mirror_shows_up_through_a_watch() {
    let sim = sim().await;
    let (hub, spoke) = (sim.cluster("internal"), sim.cluster("production"));
    spoke.apply_yaml(fixtures::CRDS).unwrap();
    hub.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n")
        .unwrap();
    spoke.apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd-multicluster}\n").unwrap();

    let hub_client = client(&sim, "internal").await;
    let spoke_client = client(&sim, "production").await;
    let hub_svcs: Api<Service> = Api::namespaced(hub_client, "web");
    hub_svcs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "frontend", "labels": {"mirror.linkerd.io/exported": "true"}},
                "spec": {"ports": [{"name": "http", "port": 8080}]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    // Watch the spoke's services with kube-rs's watcher.
    let spoke_svcs: Api<Service> = Api::namespaced(spoke_client.clone(), "web");
    let mut events = watcher(spoke_svcs.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();

    // Apply a Link (v1alpha3) on the spoke through the API.
    let ar = ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
        "multicluster.linkerd.io",
        "v1alpha3",
        "Link",
    ));
    let links: Api<DynamicObject> =
        Api::namespaced_with(spoke_client.clone(), "linkerd-multicluster", &ar);
    let link: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "multicluster.linkerd.io/v1alpha3", "kind": "Link",
        "metadata": {"name": "internal", "namespace": "linkerd-multicluster"},
        "spec": {"targetClusterName": "internal", "selector": {"matchLabels": {"mirror.linkerd.io/exported": "true"}}}
    }))
    .unwrap();
    links
        .patch(
            "internal",
            &PatchParams::apply("mcflow"),
            &Patch::Apply(&link),
        )
        .await
        .unwrap();

    let mirror = tokio::time::timeout(WAIT, async {
        while let Some(svc) = events.try_next().await.unwrap() {
            if svc.metadata.name.as_deref() == Some("frontend-internal") {
                return svc;
            }
        }
        panic!("watch ended");
    })
    .await
    .expect("the mirror appears within the deadline");
    let labels = mirror.metadata.labels.unwrap();
    assert_eq!(labels["mirror.linkerd.io/mirrored-service"], "true");
    assert_eq!(labels["mirror.linkerd.io/cluster-name"], "internal");
    assert_eq!(mirror.spec.unwrap().ports.unwrap()[0].port, 8080);

    // Unexport: the mirror goes away.
    hub_svcs
        .patch(
            "frontend",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"mirror.linkerd.io/exported": null}}})),
        )
        .await
        .unwrap();
    assert!(
        spoke
            .wait_until_async(WAIT, |c| c
                .get("v1", "Service", "web", "frontend-internal")
                .is_none())
            .await
    );
    // Re-export, then delete the Link: its mirrors stay, as upstream's do (linkerd2
    // multicluster/cmd/service-mirror/main.go `cleanupWorkers`: `Stop(false)`, "the `unlink`
    // command will take care of that").
    hub.merge_patch(
        "v1",
        "Service",
        "web",
        "frontend",
        json!({"metadata": {"labels": {"mirror.linkerd.io/exported": "true"}}}),
    )
    .unwrap();
    assert!(
        spoke
            .wait_until_async(WAIT, |c| c
                .get("v1", "Service", "web", "frontend-internal")
                .is_some())
            .await
    );
    links.delete("internal", &Default::default()).await.unwrap();
    // Another hub event for the mirror to react to, and time for it to do so.
    hub.merge_patch(
        "v1",
        "Service",
        "web",
        "frontend",
        json!({"metadata": {"labels": {"touched": "yes"}}}),
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        spoke
            .get("v1", "Service", "web", "frontend-internal")
            .is_some(),
        "the mirror went with its Link"
    );

    let _: Api<Namespace> = Api::all(spoke_client);
}
