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

/// A var of params only is computed once per workflow instance, not once per run: each
/// `for_each` instance of a nested workflow has its own.
#[test]
fn each_instance_of_a_nested_workflow_has_its_own_vars() {
    let ws = Workspace::new();
    ws.write(
        "child.yaml",
        "name: child\nparams:\n  x: { required: true }\nvars:\n  v: \"{{ params.x }}\"\nsteps:\n  - id: one\n    run: [touch, \"{{ vars.v }}-one\"]\n  - id: two\n    needs: [one]\n    run: [touch, \"{{ vars.v }}-two\"]\n",
    );
    ws.write(
        "parent.yaml",
        "name: parent\nsteps:\n  - id: each\n    for_each: [a, b]\n    workflow: { path: child.yaml, with: { x: \"{{ item }}\" } }\n",
    );
    let out = ws.mcflow(&["run", "parent.yaml"]);
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    for file in ["a-one", "a-two", "b-one", "b-two"] {
        assert!(ws.file(file).exists(), "{file} missing");
    }
}

/// A var that reads a file is read again by each step: a step may have rewritten the file.
#[test]
fn a_var_reading_a_file_sees_what_an_earlier_step_wrote() {
    let ws = Workspace::new();
    ws.write("note.txt", "one\n");
    ws.write(
        "w.yaml",
        "name: reread\nvars:\n  note: \"{{ read_file('note.txt') | trim }}\"\nsteps:\n  - id: before\n    run: [touch, \"before-{{ vars.note }}\"]\n  - id: rewrite\n    needs: [before]\n    run: [sh, -c, \"echo two > note.txt\"]\n  - id: after\n    needs: [rewrite]\n    run: [touch, \"after-{{ vars.note }}\"]\n",
    );
    let out = ws.mcflow(&["run", "w.yaml"]);
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(ws.file("before-one").exists(), "before-one missing");
    assert!(ws.file("after-two").exists(), "after-two missing");
}
