//! The Events the simulated controllers record, as client-go's recorder shapes them: the
//! deployment controller's `ScalingReplicaSet` for a new Deployment generation.

use std::time::Duration;

use mcflow_sim::Simulator;
use serde_json::json;

#[test]
fn a_new_deployment_gets_the_deployment_controllers_scaling_event() {
    let sim = Simulator::builder()
        .cluster("c")
        .deployment_ready_delay(Duration::from_millis(20))
        .start_blocking()
        .expect("simulator");
    let c = sim.cluster("c");
    c.apply(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "default" },
        "spec": { "replicas": 2, "selector": { "matchLabels": { "app": "web" } },
                  "template": { "metadata": { "labels": { "app": "web" } },
                                "spec": { "containers": [{ "name": "web", "image": "nginx" }] } } }
    }))
    .expect("deployment");
    let event = |c: &mcflow_sim::Cluster| {
        c.list("v1", "Event", Some("default"), "")
            .unwrap_or_default()
            .into_iter()
            .find(|e| e["reason"] == "ScalingReplicaSet")
    };
    let seen = c.wait_until(Duration::from_secs(10), |c| event(c).is_some());
    assert!(
        seen,
        "no event: {:?} {:?}",
        c.list("v1", "Event", None, ""),
        c.get("apps/v1", "Deployment", "default", "web")
    );
    let e = event(&c).unwrap();
    assert_eq!(e["involvedObject"]["kind"], "Deployment");
    assert_eq!(e["involvedObject"]["name"], "web");
    assert_eq!(e["type"], "Normal");
    assert_eq!(e["source"]["component"], "deployment-controller");
    assert_eq!(e["count"], 1);
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with("Scaled up replica set web-") && message.ends_with(" from 0 to 2"),
        "{message}"
    );
    assert!(e["metadata"]["name"].as_str().unwrap().starts_with("web."));
}
