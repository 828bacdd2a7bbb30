//! The installed `kubectl` against the simulator: the simulator must be faithful enough that a
//! real client cannot tell. Skipped (with a printed message) only where kubectl is absent.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mcflow_sim::{Fault, Simulator};
use serde_json::json;

const CONTEXTS: [&str; 3] = ["internal", "production", "nonproduction"];

fn kubectl_present() -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: kubectl is not installed on this machine");
    }
    ok
}

fn sim() -> Simulator {
    Simulator::builder()
        .clusters(CONTEXTS)
        .deployment_ready_delay(Duration::from_millis(300))
        .start_blocking()
        .expect("simulator starts")
}

/// Keep kubectl's discovery cache beside the kubeconfig, not in `~/.kube`.
fn cache_dir(kubeconfig: &Path) -> std::path::PathBuf {
    kubeconfig.parent().unwrap().join("kubectl-cache")
}

fn kubectl(kubeconfig: &Path, context: &str, args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache_dir(kubeconfig))
        .args(["--context", context, "--request-timeout", "20s"])
        .args(args)
        .output()
        .expect("kubectl runs")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "kubectl failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write_manifest(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write manifest");
    p
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
"#;

#[test]
fn kubectl_works_on_every_context() {
    if !kubectl_present() {
        return;
    }
    let sim = sim();
    let kc = sim.kubeconfig_path().to_path_buf();
    let dir = kc.parent().unwrap().to_path_buf();
    let manifest = write_manifest(&dir, "deploy.yaml", DEPLOYMENT);
    let manifest = manifest.to_str().unwrap();
    for ctx in CONTEXTS {
        let c = sim.cluster(ctx);
        // get
        let out = ok(&kubectl(&kc, ctx, &["get", "namespaces", "-o", "name"]));
        assert!(out.contains("namespace/default"), "{out}");

        // create (typed clients send protobuf)
        let out = ok(&kubectl(&kc, ctx, &["create", "namespace", "team-a"]));
        assert_eq!(out.trim(), "namespace/team-a created");
        let out = ok(&kubectl(
            &kc,
            ctx,
            &[
                "create",
                "secret",
                "generic",
                "s",
                "-n",
                "team-a",
                "--from-literal=k=v",
            ],
        ));
        assert_eq!(out.trim(), "secret/s created");
        let s = c.get("v1", "Secret", "team-a", "s").unwrap();
        assert_eq!(
            (s["type"].as_str(), s["data"]["k"].as_str()),
            (Some("Opaque"), Some("dg=="))
        );

        // apply --server-side, twice: the second changes nothing.
        let out = ok(&kubectl(
            &kc,
            ctx,
            &["apply", "--server-side", "-f", manifest],
        ));
        assert_eq!(out.trim(), "deployment.apps/web serverside-applied");

        // wait --for=condition=Available: the Deployment becomes Available after 300 ms.
        let out = ok(&kubectl(
            &kc,
            ctx,
            &[
                "wait",
                "--for=condition=Available",
                "deployment/web",
                "--timeout=20s",
            ],
        ));
        assert_eq!(out.trim(), "deployment.apps/web condition met");

        // Server-side printing (Table): the columns a real cluster shows.
        let out = ok(&kubectl(&kc, ctx, &["get", "deployment", "web"]));
        let header: Vec<&str> = out
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "{out}"
        );
        assert!(
            out.lines().nth(1).unwrap_or_default().starts_with("web"),
            "{out}"
        );
        assert!(out.contains("2/2"), "{out}");

        let rv1 = ok(&kubectl(
            &kc,
            ctx,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ],
        ));
        let cluster_rv = c.resource_version();
        let out = ok(&kubectl(
            &kc,
            ctx,
            &["apply", "--server-side", "-f", manifest],
        ));
        assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
        assert_eq!(
            c.resource_version(),
            cluster_rv,
            "the second apply wrote nothing"
        );
        let rv2 = ok(&kubectl(
            &kc,
            ctx,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ],
        ));
        assert_eq!(
            rv1, rv2,
            "re-applying identical content must not bump resourceVersion"
        );
        let d = c.get("apps/v1", "Deployment", "default", "web").unwrap();
        let managers: Vec<&str> = d["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["manager"].as_str())
            .collect();
        assert!(managers.contains(&"kubectl"), "{managers:?}");

        // label and annotate
        let out = ok(&kubectl(
            &kc,
            ctx,
            &["label", "deployment", "web", "tier=frontend"],
        ));
        assert_eq!(out.trim(), "deployment.apps/web labeled");
        let out = ok(&kubectl(
            &kc,
            ctx,
            &["annotate", "deployment", "web", "owner=platform"],
        ));
        assert_eq!(out.trim(), "deployment.apps/web annotated");
        let d = c.get("apps/v1", "Deployment", "default", "web").unwrap();
        assert_eq!(d["metadata"]["labels"]["tier"], "frontend");
        assert_eq!(d["metadata"]["annotations"]["owner"], "platform");
        let out = ok(&kubectl(
            &kc,
            ctx,
            &[
                "get",
                "deploy",
                "-l",
                "tier in (frontend,backend),app",
                "-o",
                "name",
            ],
        ));
        assert_eq!(out.trim(), "deployment.apps/web");

        // delete
        let out = ok(&kubectl(&kc, ctx, &["delete", "deployment", "web"]));
        assert_eq!(out.trim(), "deployment.apps \"web\" deleted");
        assert!(c.get("apps/v1", "Deployment", "default", "web").is_none());

        // get of a missing object: the NotFound message.
        let o = kubectl(&kc, ctx, &["get", "deployment", "web"]);
        assert!(!o.status.success());
        assert_eq!(
            String::from_utf8_lossy(&o.stderr).trim(),
            "Error from server (NotFound): deployments.apps \"web\" not found"
        );
    }
}

#[test]
fn kubectl_get_watch_sees_an_update() {
    if !kubectl_present() {
        return;
    }
    let sim = sim();
    let c = sim.cluster("production");
    c.create(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": {"stage": "one"}}))
        .unwrap();
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(sim.kubeconfig_path())
        .arg("--cache-dir")
        .arg(cache_dir(sim.kubeconfig_path()))
        .args([
            "--context",
            "production",
            "get",
            "configmap",
            "cfg",
            "-n",
            "default",
            "-w",
        ])
        .args([
            "-o",
            "custom-columns=NAME:.metadata.name,STAGE:.data.stage",
            "--no-headers",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("initial line");
    assert!(first.contains("one"), "{first}");
    // Update only once kubectl's watch is established (it is logged once subscribed).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !c.request_log().iter().any(|r| r.watch) {
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl never started its watch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.merge_patch(
        "v1",
        "ConfigMap",
        "default",
        "cfg",
        json!({"data": {"stage": "two"}}),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = false;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("two") => {
                seen = true;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "kubectl get -w never printed the update");
    assert!(c.request_log().iter().any(|r| r.watch && r.method == "GET"));
}

#[test]
fn kubectl_applies_crds_then_a_link_and_lists_it() {
    if !kubectl_present() {
        return;
    }
    let sim = sim();
    let kc = sim.kubeconfig_path().to_path_buf();
    let dir = kc.parent().unwrap().to_path_buf();
    let crds = write_manifest(&dir, "crds.yaml", mcflow_sim::scenario::fixtures::CRDS);
    let out = ok(&kubectl(
        &kc,
        "production",
        &["apply", "-f", crds.to_str().unwrap()],
    ));
    assert!(
        out.contains(
            "customresourcedefinition.apiextensions.k8s.io/links.multicluster.linkerd.io created"
        ),
        "{out}"
    );
    let link = mcflow_sim::scenario::fixtures::LINK_GEN_2_18
        .replace("__HUB__", "internal")
        .replace("__GATEWAY_ADDRESS__", "172.18.0.2")
        .replace("__GATEWAY_PORT__", "4143")
        .replace("__PROBE_PORT__", "4191")
        .replace("__VERSION__", "edge-25.4.4")
        .replace("__KUBECONFIG_B64__", "e30=");
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: linkerd-multicluster\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: linkerd\n";
    let ns = write_manifest(&dir, "ns.yaml", ns);
    ok(&kubectl(
        &kc,
        "production",
        &["apply", "-f", ns.to_str().unwrap()],
    ));
    let link = write_manifest(&dir, "link.yaml", &link);
    let out = ok(&kubectl(
        &kc,
        "production",
        &["apply", "-f", link.to_str().unwrap()],
    ));
    assert!(
        out.contains("link.multicluster.linkerd.io/internal created"),
        "{out}"
    );
    let out = ok(&kubectl(&kc, "production", &["get", "links", "-A"]));
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("linkerd-multicluster") && row.contains("internal"),
        "{out}"
    );
    // Older versions are still served.
    let out = ok(&kubectl(
        &kc,
        "production",
        &[
            "get",
            "links.v1alpha2.multicluster.linkerd.io",
            "-n",
            "linkerd-multicluster",
            "internal",
            "-o",
            "jsonpath={.apiVersion}",
        ],
    ));
    assert_eq!(out, "multicluster.linkerd.io/v1alpha2");
    // The other clusters do not have the CRD.
    let o = kubectl(&kc, "internal", &["get", "links", "-A"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("the server doesn't have a resource type \"links\"")
    );
}

#[test]
fn kubectl_sees_injected_faults() {
    if !kubectl_present() {
        return;
    }
    let sim = sim();
    let kc = sim.kubeconfig_path().to_path_buf();
    let c = sim.cluster("nonproduction");

    c.inject_fault(Fault::status("^/api/v1/namespaces/default/configmaps", 503).method("GET"));
    let o = kubectl(
        &kc,
        "nonproduction",
        &["get", "configmaps", "-n", "default"],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Error from server (ServiceUnavailable): the server is currently unable to handle the request"), "{err}");
    c.clear_faults();

    c.inject_fault(Fault::status("^/api/v1/namespaces/default/secrets", 500).times(1));
    let o = kubectl(&kc, "nonproduction", &["get", "secrets", "-n", "default"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("InternalError"));

    // 429 with Retry-After: kubectl (client-go) waits and retries, then succeeds.
    c.clear_request_log();
    c.inject_fault(Fault::too_many_requests("^/api/v1/namespaces$", 1).times(1));
    let out = ok(&kubectl(
        &kc,
        "nonproduction",
        &["get", "namespaces", "-o", "name"],
    ));
    assert!(out.contains("namespace/default"));
    let statuses: Vec<u16> = c
        .request_log()
        .iter()
        .filter(|r| r.path == "/api/v1/namespaces")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 200]);

    // A wrong token gets 401.
    let o = kubectl(
        &kc,
        "nonproduction",
        &["--token", "wrong", "get", "namespaces"],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A dropped connection is an error too.
    c.inject_fault(Fault::drop_connection("^/api/v1/namespaces/default/services").method("GET"));
    let o = kubectl(&kc, "nonproduction", &["get", "services", "-n", "default"]);
    assert!(!o.status.success());
    assert!(c.request_log().iter().any(|r| r.faulted && r.status == 0));
}
