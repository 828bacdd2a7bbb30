//! `mcflow plan` (kube steps included: what they touch, never a secret's value), `graph`,
//! `schema`, `completions`, `--version` and `--help` through the real binary. No cluster is
//! needed: nothing runs.

mod support;

use predicates::prelude::*;
use support::Workspace;
use support::clusters::CANARY;
use support::workspace::{Outcome, mcflow_in, repo_root};

const CONFIG: &str = r#"
hub:
  name: internal
  gateway_addresses: 10.0.0.1
spokes:
  - name: production
  - name: nonproduction
"#;

/// A secret that must never be printed.
const TOKEN: &str = "tok3nvalue";

const LINK: &str = r#"
name: link-demo
description: Link the spokes to the hub.
params:
  spoke: { description: Spoke to link, required: true, enum: "{{ config.spokes | map(attribute='name') | list }}" }
  hub: { default: internal, pattern: "[a-z]+" }
  token: { required: true, sensitive: true, pattern: "[a-z0-9]+" }
steps:
  - id: manifest
    name: Make the link manifest
    linkerd:
      context: "{{ params.hub }}"
      args: [multicluster, link, --cluster-name, "{{ params.hub }}", --token, "{{ params.token }}"]
    sensitive: true
  - id: apply
    run: [kubectl, --context, "{{ params.spoke }}", apply, -f, "{{ steps.manifest.stdout }}"]
  - id: link
    needs: [apply]
    for_each: "{{ config.spokes | map(attribute='name') | list }}"
    run: [echo, "{{ item }}", "{{ params.hub }}"]
  - id: later
    needs: [apply]
    for_each: "{{ steps.apply.stdout | split }}"
    run: [echo, "{{ item }}"]
  - id: check
    needs: [link, manifest]
    when: "params.spoke == 'production'"
    assert: "steps.apply.exit_code == 0"
"#;

/// A workspace with `config/clusters.yaml` (found there by default) and `link.yaml`.
fn plan_dir() -> Workspace {
    let ws = Workspace::new();
    ws.write("config/clusters.yaml", CONFIG);
    ws.write("link.yaml", LINK);
    ws
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn plan_ok(dir: &Workspace, args: &[&str]) -> (String, String) {
    let out = Outcome::from(
        mcflow_in(dir.path())
            .arg("plan")
            .args(args)
            .output()
            .expect("mcflow runs"),
    );
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    (out.stdout, out.stderr)
}

#[test]
fn plan_text_lists_steps_in_order_with_dependencies() {
    let dir = plan_dir();
    let token = format!("token={TOKEN}");
    let (stdout, stderr) = plan_ok(
        &dir,
        &["link.yaml", "--set", "spoke=production", "--set", &token],
    );
    let want = "\
Plan for workflow `link-demo` (link.yaml)
params:
  hub = internal
  spoke = production
  token = ***
  1. manifest [linkerd] (starts at once) sensitive
     Make the link manifest
     linkerd --context internal multicluster link --cluster-name internal --token ***
  2. apply [run] (after manifest)
     argv: [kubectl --context production apply -f ***]
  3. link[production] [run] (after apply)
     argv: [echo production internal]
  4. link[nonproduction] [run] (after apply)
     argv: [echo nonproduction internal]
  5. later [run] (after apply)
     for each item of: {{ steps.apply.stdout | split }} (known at run time)
     argv: [echo <item>]
  6. check [assert] (after link[production], link[nonproduction], manifest)
     when: params.spoke == 'production'
     assert: steps.apply.exit_code == 0
6 steps
";
    assert_eq!(stdout, want);
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the secret leaked:\n{stdout}{stderr}"
    );
}

#[test]
fn plan_json_has_the_same_content() {
    let dir = plan_dir();
    let token = format!("token={TOKEN}");
    let (stdout, _) = plan_ok(
        &dir,
        &[
            "link.yaml",
            "--set",
            "spoke=nonproduction",
            "--set",
            &token,
            "--output",
            "json",
        ],
    );
    assert!(!stdout.contains(TOKEN), "the secret leaked:\n{stdout}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(plan["workflow"], "link-demo");
    assert_eq!(plan["file"], "link.yaml");
    assert_eq!(
        plan["params"],
        serde_json::json!({"hub": "internal", "spoke": "nonproduction", "token": "***"})
    );
    let steps = plan["steps"].as_array().expect("steps");
    let keys: Vec<&str> = steps.iter().filter_map(|s| s["key"].as_str()).collect();
    assert_eq!(
        keys,
        [
            "manifest",
            "apply",
            "link[production]",
            "link[nonproduction]",
            "later",
            "check"
        ]
    );
    let needs = |key: &str| {
        steps
            .iter()
            .find(|s| s["key"] == key)
            .map(|s| s["needs"].clone())
            .expect("step")
    };
    assert_eq!(needs("manifest"), serde_json::json!([]));
    assert_eq!(needs("apply"), serde_json::json!(["manifest"]));
    assert_eq!(needs("link[nonproduction]"), serde_json::json!(["apply"]));
    assert_eq!(
        needs("check"),
        serde_json::json!(["link[production]", "link[nonproduction]", "manifest"])
    );
    assert_eq!(steps[0]["action"], "linkerd");
    assert_eq!(steps[0]["sensitive"], true);
    assert_eq!(steps[0]["rendered"]["args"][5], "***");
    assert_eq!(steps[0]["rendered"]["context"], "internal");
    assert_eq!(
        steps[1]["rendered"]["argv"],
        serde_json::json!([
            "kubectl",
            "--context",
            "nonproduction",
            "apply",
            "-f",
            "***"
        ])
    );
    assert_eq!(steps[2]["id"], "link");
    assert_eq!(
        steps[2]["rendered"]["argv"],
        serde_json::json!(["echo", "production", "internal"])
    );
    assert_eq!(steps[4]["for_each"], "{{ steps.apply.stdout | split }}");
    assert_eq!(
        steps[4]["rendered"]["argv"],
        serde_json::json!(["echo", "<item>"])
    );
    assert_eq!(steps[5]["when"], "params.spoke == 'production'");
}

#[test]
fn for_each_items_are_keyed_by_value() {
    let dir = plan_dir();
    dir.write(
        "each.yaml",
        r#"
name: each
steps:
  - id: ping
    for_each: [{ name: east, zone: a }, { name: west, zone: b }, 7]
    run: [echo, "{{ item.zone if item is mapping else item }}"]
  - id: after
    run: [echo, done]
"#,
    );
    let (stdout, _) = plan_ok(&dir, &["each.yaml", "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let keys: Vec<&str> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["key"].as_str())
        .collect();
    assert_eq!(keys, ["ping[east]", "ping[west]", "ping[7]", "after"]);
    assert_eq!(
        plan["steps"][1]["rendered"]["argv"],
        serde_json::json!(["echo", "b"])
    );
    assert_eq!(
        plan["steps"][3]["needs"],
        serde_json::json!(["ping[east]", "ping[west]", "ping[7]"])
    );
}

#[test]
fn param_problems_are_listed_at_once() {
    let dir = plan_dir();
    let out = mcflow_in(dir.path())
        .args([
            "plan",
            "link.yaml",
            "--set",
            "spoke=prod",
            "--set",
            "hub=Hub-1",
            "--set",
            "spok=x",
            "--set",
            "tokn=x",
        ])
        .output()
        .expect("mcflow runs");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    for want in [
        "workflow `link-demo` has no param `spok`",
        "did you mean `spoke`?",
        "workflow `link-demo` has no param `tokn`",
        "did you mean `token`?",
        "param `spoke` is `prod`, which is not one of: production, nonproduction",
        "did you mean `production`?",
        "param `hub` is `Hub-1`, which does not match the pattern `[a-z]+`",
        "param `token` is required",
        "5 problems found",
    ] {
        assert!(stderr.contains(want), "missing `{want}` in:\n{stderr}");
    }
}

#[test]
fn a_required_param_says_what_it_is() {
    let dir = plan_dir();
    mcflow_in(dir.path())
        .args(["plan", "link.yaml", "--set", "token=abc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("param `spoke` is required"))
        .stderr(predicate::str::contains(
            "Spoke to link: pass --set spoke=<value>",
        ))
        .stderr(predicate::str::contains("1 problem found"));
}

#[test]
fn a_rejected_sensitive_value_is_not_echoed() {
    let dir = plan_dir();
    mcflow_in(dir.path())
        .args([
            "plan",
            "link.yaml",
            "--set",
            "spoke=production",
            "--set",
            "token=NOT-OK!secret",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "param `token` is `***`, which does not match",
        ))
        .stderr(predicate::str::contains("NOT-OK!secret").not());
}

#[test]
fn values_files_and_set_combine_with_set_winning() {
    let dir = plan_dir();
    dir.write(
        "values.yaml",
        &format!("spoke: nonproduction\nhub: fromfile\ntoken: {TOKEN}\n"),
    );
    let (stdout, _) = plan_ok(
        &dir,
        &[
            "link.yaml",
            "--values",
            "values.yaml",
            "--set",
            "hub=fromset",
            "-o",
            "json",
        ],
    );
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(plan["params"]["hub"], "fromset");
    assert_eq!(plan["params"]["spoke"], "nonproduction");
    assert_eq!(plan["params"]["token"], "***");
    assert!(!stdout.contains(TOKEN));
}

#[test]
fn bad_set_and_missing_values_file_are_usage_errors() {
    let dir = plan_dir();
    mcflow_in(dir.path())
        .args([
            "plan",
            "link.yaml",
            "--set",
            "novalue",
            "--values",
            "nope.yaml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`--set novalue` is not key=value"))
        .stderr(predicate::str::contains(
            "cannot read values file nope.yaml",
        ))
        .stderr(predicate::str::contains("2 problems found"));
}

#[test]
fn set_values_are_kept_verbatim() {
    let dir = plan_dir();
    dir.write(
        "echo.yaml",
        "name: echo\nparams:\n  msg: {}\nsteps:\n  - id: say\n    run: [echo, \"{{ params.msg }}\"]\n",
    );
    let (stdout, _) = plan_ok(
        &dir,
        &[
            "echo.yaml",
            "--set",
            "msg=a=b; $(rm -rf /) `x`",
            "-o",
            "json",
        ],
    );
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        plan["steps"][0]["rendered"]["argv"][1],
        "a=b; $(rm -rf /) `x`"
    );
}

#[test]
fn plan_of_an_invalid_workflow_shows_its_problems() {
    let dir = plan_dir();
    dir.write(
        "bad.yaml",
        "name: bad\nsteps:\n  - id: a\n    neds: []\n    run: [echo]\n",
    );
    mcflow_in(dir.path())
        .args(["plan", "bad.yaml"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("  at bad.yaml:4:5\n"))
        .stderr(predicate::str::contains("did you mean `needs`?"));
}

#[test]
fn nested_workflows_are_planned_with_their_sensitive_params_masked() {
    let dir = plan_dir();
    dir.write(
        "parent.yaml",
        r#"
name: parent
params:
  spoke: { default: production }
steps:
  - id: call
    workflow:
      path: kid.yaml
      with: { spoke: "{{ params.spoke }}", secret: "{{ params.spoke }}-s3cr3t" }
  - id: after
    run: [echo, done]
"#,
    );
    dir.write(
        "kid.yaml",
        r#"
name: kid
params:
  spoke: { required: true }
  secret: { required: true, sensitive: true }
  password: { default: hunter2, sensitive: true }
steps:
  - id: hello
    run: [echo, "{{ params.spoke }}", "{{ params.password }}", "{{ params.secret }}"]
"#,
    );
    let (stdout, _) = plan_ok(&dir, &["parent.yaml"]);
    assert!(
        stdout.contains("  1. call [workflow] (starts at once)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    2. call.hello [run] (starts at once)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("argv: [echo production *** ***]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  3. after [run] (after call)\n"),
        "{stdout}"
    );
    let (json, _) = plan_ok(&dir, &["parent.yaml", "-o", "json"]);
    for out in [&stdout, &json] {
        assert!(
            !out.contains("hunter2") && !out.contains("s3cr3t"),
            "a secret leaked:\n{out}"
        );
    }
    let plan: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(plan["steps"][0]["steps"][0]["key"], "call.hello");
}

#[test]
fn graph_prints_a_mermaid_flowchart() {
    let dir = plan_dir();
    let out = mcflow_in(dir.path())
        .args(["graph", "link.yaml"])
        .output()
        .expect("mcflow runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let want = "\
flowchart TD
    manifest[\"Make the link manifest<br/><small>linkerd</small>\"]
    apply[\"apply<br/><small>run</small>\"]
    link[\"link ×N<br/><small>run</small>\"]
    later[\"later ×N<br/><small>run</small>\"]
    check[\"check<br/><small>assert</small>\"]
    manifest --> apply
    apply --> link
    apply --> later
    link --> check
    manifest --> check
";
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn graph_of_an_invalid_workflow_fails() {
    let dir = plan_dir();
    dir.write(
        "cyc.yaml",
        "name: c\nsteps:\n  - id: a\n    needs: [b]\n    run: [x]\n  - id: b\n    run: [y]\n",
    );
    mcflow_in(dir.path())
        .args(["graph", "cyc.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("dependency cycle"));
}

#[test]
fn schema_is_json_describing_the_format() {
    let out = mcflow_in(repo_root()).arg("schema").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(schema["title"], "Workflow");
    assert!(schema["properties"]["steps"].is_object(), "{schema:#}");
    assert!(schema["properties"]["params"].is_object());
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        required.contains(&"name") && required.contains(&"steps"),
        "{required:?}"
    );
    assert!(text(&out.stdout).contains("\"needs\""));
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_mcflow()"),
        ("zsh", "#compdef mcflow"),
        ("fish", "complete -c mcflow"),
    ] {
        mcflow_in(repo_root())
            .args(["completions", shell])
            .assert()
            .code(0)
            .stdout(predicate::str::contains(marker))
            .stdout(predicate::str::contains("validate"));
    }
    mcflow_in(repo_root())
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}

#[test]
fn version() {
    mcflow_in(repo_root())
        .arg("--version")
        .assert()
        .code(0)
        .stdout(format!("mcflow {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_shows_examples_and_exit_codes() {
    mcflow_in(repo_root())
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains(
            "mcflow plan workflows/link-spoke.yaml --set spoke=production",
        ))
        .stdout(predicate::str::contains("mcflow validate workflows/*.yaml"))
        .stdout(predicate::str::contains(
            "Exit codes: 0 success, 1 a step failed, 2 invalid usage",
        ));
    mcflow_in(repo_root())
        .args(["plan", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("--set <NAME=VALUE>"))
        .stdout(predicate::str::contains("--values <FILE>"));
}

#[test]
fn unknown_command_and_no_command_are_usage_errors() {
    mcflow_in(repo_root()).arg("frobnicate").assert().code(2);
    mcflow_in(repo_root()).assert().code(2);
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
    let ws = Workspace::new();
    let file = ws.write("workflow.yaml", PLAN_WITH_SECRET);
    let out = mcflow_in(repo_root())
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
