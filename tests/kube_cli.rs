//! The kube actions through the real `mcflow` binary (`mcflow run <file> --kubeconfig <path>`)
//! against simulated clusters: every action in one workflow, the link output applied twice,
//! a flaky cluster, and the exit codes of a wrong token, a missing context and a 422.

mod kube_common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use kube_common::{CANARY, link_manifest, start_blocking, wrong_token_kubeconfig};
use mcflow_sim::{Fault, Simulator};
use serde_json::Value;

/// A workflow file in a temporary directory, run against a kubeconfig.
struct Run {
    dir: tempfile::TempDir,
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code; output:\n{}", self.all());
        self
    }

    fn assert_no_canary(&self) -> &Self {
        assert!(
            !self.all().contains(CANARY),
            "the token leaked:\n{}",
            self.all()
        );
        self
    }
}

impl Run {
    fn new() -> Self {
        Run {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn run(&self, workflow: &str, kubeconfig: &Path, extra: &[&str]) -> Output {
        let file = self.write("workflow.yaml", workflow);
        let out = Command::cargo_bin("mcflow")
            .unwrap()
            .current_dir(self.dir.path())
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .arg("run")
            .arg(&file)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--state-dir")
            .arg(self.dir.path().join(".mcflow"))
            .args(["--output", "plain"])
            .args(extra)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn sim(run: &Run, clusters: &[&str]) -> Simulator {
    start_blocking(run.path(), clusters)
}

fn rv(
    sim: &Simulator,
    cluster: &str,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> Value {
    sim.cluster(cluster)
        .get(api_version, kind, ns, name)
        .unwrap_or_else(|| panic!("{kind} {ns}/{name} missing"))["metadata"]["resourceVersion"]
        .clone()
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
    let run = Run::new();
    let sim = sim(&run, &["internal", "production"]);
    run.write("link.yaml", &link_manifest("internal"));
    let out = run.run(EVERY_ACTION, sim.kubeconfig_path(), &["-v"]);
    out.assert_code(0).assert_no_canary();
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
    let run = Run::new();
    let sim = sim(&run, &["internal", "production"]);
    run.write("link.yaml", &link_manifest("internal"));
    run.run(APPLY_LINK, sim.kubeconfig_path(), &[])
        .assert_code(0)
        .assert_no_canary();
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
    let before: Vec<Value> = objects
        .iter()
        .map(|(v, k, ns, n)| rv(&sim, "production", v, k, ns, n))
        .collect();
    let spoke = sim.cluster("production");
    spoke.clear_request_log();
    let second = run.run(APPLY_LINK, sim.kubeconfig_path(), &[]);
    second.assert_code(0).assert_no_canary();
    let after: Vec<Value> = objects
        .iter()
        .map(|(v, k, ns, n)| rv(&sim, "production", v, k, ns, n))
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
    let run = Run::new();
    let sim = sim(&run, &["internal", "production"]);
    run.write("link.yaml", &link_manifest("internal"));
    let spoke = sim.cluster("production");
    spoke.inject_fault(Fault::status("^/", 503).probability(0.2));
    spoke.inject_fault(Fault::latency("^/", Duration::from_millis(200)));
    run.run(APPLY_AND_WAIT, sim.kubeconfig_path(), &[])
        .assert_code(0)
        .assert_no_canary();
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
    let run = Run::new();
    let sim = sim(&run, &["production"]);
    let wrong = wrong_token_kubeconfig(&sim, run.path());
    let out = run.run(GET_CONFIGMAP, &wrong, &[]);
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
    let run = Run::new();
    let sim = sim(&run, &["internal", "production"]);
    let out = run.run(OTHER_CONTEXT, sim.kubeconfig_path(), &[]);
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
    let run = Run::new();
    let sim = sim(&run, &["internal", "production"]);
    run.run(OTHER_CONTEXT, sim.kubeconfig_path(), &[])
        .assert_code(2);
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
    let run = Run::new();
    let sim = sim(&run, &["production"]);
    let out = run.run(REJECTED, sim.kubeconfig_path(), &[]);
    out.assert_code(1);
    assert!(out.all().contains("Not_A_Name"), "{}", out.all());
    assert!(out.all().contains("422"), "{}", out.all());
}

#[test]
fn dry_run_writes_nothing() {
    let run = Run::new();
    let sim = sim(&run, &["internal", "production"]);
    run.write("link.yaml", &link_manifest("internal"));
    let out = run.run(APPLY_LINK, sim.kubeconfig_path(), &["--dry-run"]);
    out.assert_code(0).assert_no_canary();
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

const PLAN_WITH_SECRET: &str = r#"
name: plan-kube
steps:
  - id: apply_secret
    kube:
      context: production
      apply:
        namespace: apps
        manifest: |
          apiVersion: v1
          kind: Secret
          metadata: { name: creds, namespace: linkerd }
          stringData: { token: CANARY-sa-token-7f3a9c1e5d }
          ---
          apiVersion: v1
          kind: ConfigMap
          metadata: { name: plain }
  - id: label_cluster
    kube:
      context: internal
      label:
        target: { kind: Secret, namespace: argocd, selector: "argocd.argoproj.io/secret-type=cluster",
                  where: { path: data.name, equals: production } }
        set: { spydersoft.io/linkerd-multicluster: "true" }
"#;

#[test]
fn plan_shows_what_kube_steps_touch_without_secret_values() {
    let run = Run::new();
    let file = run.write("workflow.yaml", PLAN_WITH_SECRET);
    let out = Command::cargo_bin("mcflow")
        .unwrap()
        .arg("plan")
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "apply 2 objects to context production: Secret linkerd/creds, ConfigMap apps/plain"
        ),
        "{text}"
    );
    assert!(
        text.contains("label Secret in argocd with labels argocd.argoproj.io/secret-type=cluster"),
        "{text}"
    );
    assert!(!text.contains(CANARY), "{text}");
}

#[test]
fn kubeconfig_from_the_environment_skips_missing_paths() {
    let run = Run::new();
    let sim = sim(&run, &["production"]);
    let file = run.write("workflow.yaml", GET_CONFIGMAP);
    let paths = std::env::join_paths([
        run.path().join("absent"),
        sim.kubeconfig_path().to_path_buf(),
    ])
    .unwrap();
    let out = Command::cargo_bin("mcflow")
        .unwrap()
        .current_dir(run.path())
        .env("KUBECONFIG", &paths)
        .args(["run", "--output", "plain"])
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");

    let only_absent =
        std::env::join_paths([run.path().join("absent-a"), run.path().join("absent-b")]).unwrap();
    let out = Command::cargo_bin("mcflow")
        .unwrap()
        .current_dir(run.path())
        .env("KUBECONFIG", &only_absent)
        .args(["run", "--output", "plain"])
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("absent-a") && text.contains("absent-b"),
        "{text}"
    );
}
