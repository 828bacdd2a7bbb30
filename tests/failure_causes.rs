//! When a step fails, the user sees why: the line that says what failed, a sensitive step's
//! stderr through the redactor (its stdout hidden), a next step for known errors, no retries
//! of errors that cannot change, every attempt's output kept for `mcflow show --step`, and a
//! wrong linkerd CLI refused before anything runs.

mod support;

use mcflow_sim::Scenario;
use support::Workspace;
use support::clusters::{LINKERD_TOKEN, Linkerd};

#[test]
fn link_spoke_before_bootstrap_says_to_run_bootstrap_first_before_asking_the_hub_for_a_link() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    let out = world.mcflow(&[
        "run",
        "workflows/link-spoke.yaml",
        "--set",
        "spoke=production",
    ]);
    out.assert_code(1);
    let shown = out.all();
    assert!(shown.contains("has no ServiceAccount linkerd-multicluster/linkerd-service-mirror-remote-access-production"), "{shown}");
    assert!(shown.contains("run bootstrap first"), "{shown}");
    assert!(
        world
            .ws
            .events("step_started", Some("link_manifest"))
            .is_empty()
    );
}

#[test]
fn link_spoke_without_the_hub_gateway_shows_the_missing_gateway_and_says_to_run_bootstrap_first() {
    let world = Linkerd::new(Scenario::linkerd_fresh());
    // The hub's remote-access account and its token are there; its gateway is not.
    world
        .sim
        .cluster("internal")
        .apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: linkerd-multicluster}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: linkerd-service-mirror-remote-access-production, namespace: linkerd-multicluster}\n---\napiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\nmetadata:\n  name: linkerd-service-mirror-remote-access-production-token\n  namespace: linkerd-multicluster\n  annotations: {kubernetes.io/service-account.name: linkerd-service-mirror-remote-access-production}\n")
        .expect("remote access");
    let out = world.mcflow(&[
        "run",
        "workflows/link-spoke.yaml",
        "--set",
        "spoke=production",
    ]);
    out.assert_code(1);
    let shown = out.all();
    println!("{shown}");
    assert!(
        shown.contains(r#"Error: services "linkerd-gateway" not found"#),
        "{shown}"
    );
    assert!(shown.contains("run bootstrap first"), "{shown}");
    assert!(!shown.contains("output hidden"), "{shown}");
    out.lacks(LINKERD_TOKEN);
    // A missing object does not come back by retrying: one attempt.
    assert!(
        world
            .ws
            .events("attempt_failed", Some("link_manifest"))
            .is_empty(),
        "{:?}",
        world.ws.events("attempt_failed", None)
    );
    let show = world.mcflow(&["show", "--last", "--step", "link_manifest"]);
    show.success();
    println!("{}", show.stdout);
    show.stdout_has(r#"Error: services "linkerd-gateway" not found"#)
        .stdout_has("stdout: hidden, the step is sensitive");
}

/// A stand-in `linkerd` that answers mcflow's version check and fails `multicluster check`
/// the way linkerd 2.19 prints it (passing lines after the failing one).
const FAILING_CHECK: &str = r#"#!/bin/sh
if [ "$1" = version ]; then echo edge-25.10.7; exit 0; fi
cat <<'OUT'
linkerd-multicluster
--------------------
√ Link CRD exists
√ Link resources are valid
	* internal
× remote cluster access credentials are valid
        * failed to connect to API for cluster: [internal]: Unauthorized
    see https://linkerd.io/2/checks/#l5d-smc-target-clusters-access for hints
√ all mirror services are part of a Link

Status check results are ×
OUT
exit 1
"#;

fn executable(ws: &Workspace, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = ws.write(name, text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn a_failed_multicluster_check_is_reported_by_its_cross_line_not_a_passing_line() {
    let ws = Workspace::new().no_color();
    let linkerd = executable(&ws, "linkerd", FAILING_CHECK);
    ws.write(
        "w.yaml",
        "name: check\nsteps:\n  - id: mc_check\n    linkerd: { context: internal, args: [multicluster, check] }\n    retry: { attempts: 1 }\n",
    );
    let out = ws.mcflow(&["--linkerd", &linkerd, "--output", "plain", "run", "w.yaml"]);
    out.assert_code(1);
    let failed = out
        .stdout
        .lines()
        .find(|l| l.contains("✗ mc_check"))
        .unwrap_or_else(|| panic!("no ✗ line:\n{}", out.stdout));
    assert!(
        failed.ends_with(
            "linkerd exited with 1: × remote cluster access credentials are valid: \
             * failed to connect to API for cluster: [internal]: Unauthorized"
        ),
        "{failed}"
    );
    out.lacks("FAIL: Status check results");
    // The whole output is kept: `show --step` prints it.
    let show = ws.mcflow(&["show", "--last", "--step", "mc_check"]);
    show.success()
        .stdout_has("√ all mirror services are part of a Link")
        .stdout_has("Status check results are ×");
}

#[test]
fn a_sensitive_steps_stderr_is_shown_through_the_redactor_and_its_stdout_never() {
    let ws = Workspace::new().no_color();
    ws.write(
        "w.yaml",
        r#"name: login
params:
  password: { required: true, sensitive: true }
steps:
  - id: issue
    run: [sh, -c, 'echo "token: tok-4f9a1c7e2b8d"; echo "LINE-ONLY-ON-STDOUT" ; echo "Error: login refused for {{ params.password }} with token tok-4f9a1c7e2b8d" >&2; exit 1']
    sensitive: true
    retry: { attempts: 1 }
"#,
    );
    let out = ws.mcflow(&[
        "--output",
        "plain",
        "run",
        "w.yaml",
        "--set",
        "password=hunter2-pw",
    ]);
    out.assert_code(1);
    let failed = out
        .stdout
        .lines()
        .find(|l| l.contains("✗ issue"))
        .unwrap_or_else(|| panic!("no ✗ line:\n{}", out.stdout));
    assert!(
        failed.ends_with("sh exited with 1: Error: login refused for *** with token ***"),
        "{failed}"
    );
    let show = ws.mcflow(&["show", "--last", "--step", "issue"]);
    show.success()
        .stdout_has("stdout: hidden, the step is sensitive")
        .stdout_has("Error: login refused for *** with token ***");
    for text in [out.all(), show.all()] {
        for secret in ["hunter2-pw", "tok-4f9a1c7e2b8d", "LINE-ONLY-ON-STDOUT"] {
            assert!(!text.contains(secret), "{secret} shown:\n{text}");
        }
    }
    for (path, bytes) in ws.state_files() {
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["hunter2-pw", "tok-4f9a1c7e2b8d", "LINE-ONLY-ON-STDOUT"] {
            assert!(!text.contains(secret), "{secret} in {}", path.display());
        }
    }
    let log = ws
        .state_dir()
        .join("runs")
        .join(&ws.runs()[0])
        .join("attempts.jsonl");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log)
        .expect("attempt log")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn errors_that_cannot_change_are_not_retried_and_others_are() {
    let ws = Workspace::new().no_color();
    ws.write(
        "w.yaml",
        r#"name: retries
defaults:
  retry: { attempts: 3, delay: 10ms }
steps:
  - id: usage
    run: [sh, -c, 'echo "Error: unknown flag: --cluster-nam" >&2; exit 1']
    continue_on_error: true
  - id: missing_object
    run: [sh, -c, 'echo "Error: services \"linkerd-gateway\" not found" >&2; exit 1']
    continue_on_error: true
  - id: no_program
    run: [no-such-program-5e1d]
    continue_on_error: true
  - id: bad_template
    run: [echo, "{{ '{' | from_json }}"]
    continue_on_error: true
  - id: flaky
    run: [sh, -c, 'echo "Error: the server is currently unable to handle the request" >&2; exit 1']
    continue_on_error: true
"#,
    );
    let out = ws.mcflow(&["--output", "plain", "run", "w.yaml"]);
    out.success();
    for (step, tries) in [
        ("usage", 1),
        ("missing_object", 1),
        ("no_program", 1),
        ("bad_template", 1),
        ("flaky", 3),
    ] {
        assert_eq!(
            ws.events("step_started", Some(step)).len(),
            tries,
            "{step}:\n{}",
            out.stdout
        );
    }
    out.stdout_has(
        "✗ usage (continue_on_error): sh exited with 1: Error: unknown flag: --cluster-nam",
    );
}

#[test]
fn a_wrong_linkerd_cli_is_refused_before_the_run_starts() {
    let ws = Workspace::new().no_color();
    ws.write(
        "w.yaml",
        "name: v\nsteps:\n  - id: before\n    run: [sh, -c, 'echo ran >> side']\n  - id: version\n    linkerd: { args: [version] }\n",
    );
    let out = ws.mcflow(&["--linkerd", "/nonexistent/linkerd", "run", "w.yaml"]);
    out.assert_code(2)
        .stderr_has("linkerd CLI not found")
        .stderr_has("/nonexistent/linkerd")
        .stderr_has("--linkerd");
    // kubectl answers `version --client --short` with a usage error since 1.28.
    let kubectl = executable(
        &ws,
        "kubectl",
        "#!/bin/sh\necho 'error: unknown flag: --short' >&2\necho \"See 'kubectl version --help' for usage.\" >&2\nexit 1\n",
    );
    let out = ws.mcflow(&["--linkerd", &kubectl, "run", "w.yaml"]);
    out.assert_code(2)
        .stderr_has("is not the linkerd CLI")
        .stderr_has("error: unknown flag: --short");
    assert!(ws.runs().is_empty(), "a run started: {:?}", ws.runs());
    assert_eq!(ws.count("side", "ran"), 0);
}

#[test]
fn an_unreachable_cluster_is_named_by_its_context_and_server() {
    let ws = Workspace::new().no_color();
    // Nothing listens on port 1.
    let kubeconfig = ws.write(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: far\n  cluster: {server: 'https://127.0.0.1:1'}\n\
         users:\n- name: u\n  user: {token: t0k3n-value}\ncontexts:\n- name: far-ctx\n  context: {cluster: far, user: u}\ncurrent-context: far-ctx\n",
    );
    ws.write(
        "w.yaml",
        "name: reach\nsteps:\n  - id: ns\n    kube: { context: far-ctx, get: { kind: Namespace, name: default } }\n    retry: { attempts: 1 }\n",
    );
    let out = ws.mcflow(&[
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--output",
        "plain",
        "run",
        "w.yaml",
    ]);
    out.assert_code(1).stdout_has(
        "the cluster of context `far-ctx` (server https://127.0.0.1:1) cannot be reached",
    );
}

#[test]
fn show_step_attempt_prints_that_attempt_whole() {
    let ws = Workspace::new().no_color();
    ws.write(
        "w.yaml",
        &format!(
            "name: flaky\nsteps:\n  - id: flaky\n    run: [sh, -c, 'echo out-$(cat n 2>/dev/null || echo 0); {}']\n    retry: {{ attempts: 3, delay: 10ms }}\n",
            support::fail_until("n", 3)
        ),
    );
    ws.mcflow(&["run", "w.yaml"]).success();
    let second = ws.mcflow(&["show", "--last", "--step", "flaky", "--attempt", "2"]);
    second
        .success()
        .stdout_has("flaky · attempt 2")
        .stdout_has("attempt 2 fails")
        .stdout_has("out-1");
    assert!(
        !second.stdout.contains("attempt 1 fails"),
        "{}",
        second.stdout
    );
    assert!(
        !second.stdout.contains("flaky · attempt 3"),
        "{}",
        second.stdout
    );
    let all = ws.mcflow(&["show", "--last", "--step", "flaky"]);
    all.success()
        .stdout_has("flaky · attempt 3 · ")
        .stdout_has("succeeded");
    ws.mcflow(&["show", "--last", "--step", "nope"])
        .assert_code(2)
        .stderr_has("has no step `nope`; its steps: flaky");
}
