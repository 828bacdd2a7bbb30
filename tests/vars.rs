//! `vars:` through the real binary: `plan` shows them (masked when they read a sensitive param,
//! marked when they read steps), and a run computes them, a step output included.

mod support;

use support::Workspace;

const WORKFLOW: &str = r#"
name: vars-demo
params:
  app: { default: shop }
  token: { required: true, sensitive: true }
vars:
  namespace: "{{ params.app }}-system"
  header: "Bearer {{ params.token }}"
  regions: "{{ ['eu', 'us'] }}"
  version: "{{ steps.cli.stdout | trim }}"
  tag: "{{ vars.namespace }}@{{ vars.version }}"
steps:
  - id: cli
    run: [echo, "2.18.1"]
  - id: per_region
    for_each: "{{ vars.regions }}"
    run: [touch, "{{ vars.namespace }}-{{ item }}"]
  - id: tagged
    needs: [cli, per_region]
    run: [touch, "tag-{{ vars.tag }}"]
"#;

#[test]
fn plan_shows_vars_masked_or_at_run_time() {
    let ws = Workspace::new();
    ws.write("w.yaml", WORKFLOW);
    let out = ws.mcflow(&["plan", "w.yaml", "--set", "token=tok3nvalue"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for want in [
        "vars:\n",
        "  namespace = shop-system\n",
        "  header = ***\n",
        "  regions = [\"eu\",\"us\"]\n",
        "  version = <at run time: reads steps.cli>\n",
        "per_region[eu]",
        "touch shop-system-us",
    ] {
        assert!(
            out.stdout.contains(want),
            "missing `{want}` in:\n{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("tok3nvalue"), "{}", out.stdout);
}

#[test]
fn a_run_computes_vars_from_params_and_step_outputs() {
    let ws = Workspace::new();
    ws.write("w.yaml", WORKFLOW);
    let out = ws.mcflow(&["run", "w.yaml", "--set", "token=tok3nvalue"]);
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    for file in ["shop-system-eu", "shop-system-us", "tag-shop-system@2.18.1"] {
        assert!(ws.file(file).exists(), "{file} missing");
    }
}

#[test]
fn the_schema_knows_vars() {
    let ws = Workspace::new();
    let out = ws.mcflow(&["schema"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert!(schema["properties"]["vars"].is_object(), "{schema:#}");
}
