//! What a user finds out before running for real: `--dry-run` says what it would wait for
//! instead of waiting for what only its skipped writes would make; `mcflow params` lists a
//! workflow's params; shell completion offers run ids and param names.

mod support;

use support::Workspace;
use support::clusters::start_blocking;

#[test]
fn a_dry_run_says_what_it_would_wait_for_instead_of_waiting() {
    let ws = Workspace::new().no_color();
    let sim = start_blocking(ws.path(), &["c"]);
    ws.write(
        "w.yaml",
        r#"name: dry
steps:
  - id: make
    kube:
      context: c
      apply:
        manifest: |
          apiVersion: v1
          kind: ConfigMap
          metadata: { name: made, namespace: default }
  - id: made
    kube: { context: c, wait: { kind: ConfigMap, namespace: default, name: made, for: exists } }
    timeout: 5m
"#,
    );
    let ws = ws.kubeconfig(sim.kubeconfig_path());
    let out = ws.mcflow(&["--output", "plain", "run", "w.yaml", "--dry-run"]);
    out.success().stdout_has(
        "would wait for ConfigMap default/made to be present on context c (dry run: not waited for; now: does not exist)",
    );
    assert!(
        sim.cluster("c")
            .get("v1", "ConfigMap", "default", "made")
            .is_none()
    );
}

#[test]
fn params_lists_description_default_and_allowed_values() {
    let ws = Workspace::new().no_color().in_repo_root();
    let out = ws.mcflow(&["params", "workflows/link-spoke.yaml"]);
    out.success()
        .stdout_has("params of workflow `link-spoke`")
        .stdout_has(
            "  spoke  (required)\n      Spoke to link\n      one of: production, nonproduction",
        )
        .stdout_has("  hub  (default: internal)")
        .stdout_has("      one of: auto, link, link-gen");
    let json = ws.mcflow(&["params", "workflows/link-spoke.yaml", "-o", "json"]);
    json.success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let spoke = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "spoke")
        .unwrap();
    assert_eq!(
        spoke["allowed"],
        serde_json::json!(["production", "nonproduction"])
    );
    assert_eq!(spoke["required"], true);
}

/// The shell's side of clap_complete's protocol: `COMPLETE=bash mcflow -- <words>`.
fn complete(ws: &Workspace, words: &[&str]) -> Vec<String> {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mcflow"));
    cmd.current_dir(ws.path())
        .env("COMPLETE", "bash")
        .env("_CLAP_IFS", "\n")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("MCFLOW_STATE_DIR", ws.state_dir())
        .arg("--")
        .args(words);
    let out = cmd.output().expect("mcflow completes");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn completion_offers_run_ids_and_param_names() {
    let ws = Workspace::new().no_color();
    ws.write(
        "w.yaml",
        "name: w\nparams:\n  spoke: { enum: [production, nonproduction] }\n  hub: { default: internal }\nsteps:\n  - id: a\n    run: [echo, hi]\n",
    );
    ws.mcflow(&["run", "w.yaml"]).success();
    let run_id = ws.runs()[0].clone();
    assert!(complete(&ws, &["mcflow", "resume", ""]).contains(&run_id));
    assert!(complete(&ws, &["mcflow", "show", ""]).contains(&run_id));
    let sets = complete(&ws, &["mcflow", "run", "w.yaml", "--set", ""]);
    assert!(sets.contains(&"spoke=".to_string()), "{sets:?}");
    assert!(sets.contains(&"hub=".to_string()), "{sets:?}");
    let values = complete(&ws, &["mcflow", "run", "w.yaml", "--set", "spoke="]);
    assert!(
        values.contains(&"spoke=nonproduction".to_string()),
        "{values:?}"
    );
}
