//! Inputs a user gets wrong, said once and briefly: a missing config file is one problem naming
//! it and `--config`; problems are not repeated; a diagnostic shows a few lines of a template,
//! not all of it; `config.*` names are checked as deep as the config goes, with did-you-mean;
//! `plan` shows a choice made at run time as such.

mod support;

use support::workspace::{mcflow_in, repo_root};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn validating_bootstrap_from_another_directory_is_one_problem_naming_the_config_file_and_flag() {
    let elsewhere = tempfile::tempdir().unwrap();
    let bootstrap = repo_root().join("workflows/bootstrap.yaml");
    let out = mcflow_in(elsewhere.path())
        .args(["validate", &bootstrap.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let shown = text(&out);
    assert!(shown.contains("no config file:"), "{shown}");
    assert!(
        shown.contains("config/clusters.yaml does not exist in"),
        "{shown}"
    );
    assert!(shown.contains("pass --config <file>"), "{shown}");
    assert!(shown.contains("1 problem found"), "{shown}");
    assert!(
        shown.lines().count() <= 8,
        "{} lines:\n{shown}",
        shown.lines().count()
    );

    // The same for a run, before anything runs.
    let out = mcflow_in(elsewhere.path())
        .args(["run", &bootstrap.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no config file:"), "{}", text(&out));
}

#[test]
fn a_missing_config_file_given_by_flag_is_one_error_naming_it_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = mcflow_in(repo_root())
        .args([
            "--config",
            &dir.path().join("nope.yaml").display().to_string(),
            "validate",
            "workflows/verify.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let shown = text(&out);
    assert!(shown.contains("cannot read config file"), "{shown}");
    assert!(shown.contains("nope.yaml"), "{shown}");
    assert!(shown.contains("--config"), "{shown}");
    assert!(shown.lines().count() <= 6, "{shown}");
}

#[test]
fn a_nested_config_key_typo_gets_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.yaml"),
        "hub: { name: internal, context: internal }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("w.yaml"),
        "name: w\nsteps:\n  - id: a\n    run: [echo, \"{{ config.hub.contxt }}\"]\n",
    )
    .unwrap();
    let out = mcflow_in(dir.path())
        .args(["--config", "c.yaml", "validate", "w.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let shown = text(&out);
    assert!(shown.contains("config.hub has no `contxt`"), "{shown}");
    assert!(
        shown.contains("did you mean `config.hub.context`?"),
        "{shown}"
    );
}

#[test]
fn a_problem_in_a_long_template_shows_a_few_lines_once() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..30)
        .map(|i| format!("      line {i} {{{{ params.who }}}}\n"))
        .collect();
    let child = format!(
        "name: child\nsteps:\n  - id: report\n    print: |\n{body}      {{{{ params.nobody }}}}\n"
    );
    std::fs::write(dir.path().join("child.yaml"), child).unwrap();
    // The same file called twice: its problem is reported once.
    std::fs::write(
        dir.path().join("w.yaml"),
        "name: w\nsteps:\n  - id: one\n    workflow: { path: child.yaml }\n  - id: two\n    workflow: { path: child.yaml }\n",
    )
    .unwrap();
    let out = mcflow_in(dir.path())
        .args(["validate", "w.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let shown = text(&out);
    // Two problems (`who`, `nobody`), each with at most three lines of the file.
    let echoed = shown.lines().filter(|l| l.contains(" │ ")).count();
    assert!(shown.contains("2 problems found"), "{shown}");
    assert!(echoed <= 6, "{echoed} lines of the file echoed:\n{shown}");
    assert_eq!(shown.matches("unknown param `who`").count(), 1, "{shown}");
}

#[test]
fn plan_shows_a_choice_made_at_run_time_as_such() {
    let out = mcflow_in(repo_root())
        .args([
            "plan",
            "workflows/link-spoke.yaml",
            "--set",
            "spoke=production",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    // The service mirror's name depends on the CLI's version: not one branch of it.
    assert!(
        shown.contains("<at run time: ('controller-' if vars.link_command == 'link-gen' else 'linkerd-service-mirror-') ~ params.hub>"),
        "{shown}"
    );
    assert!(
        !shown.contains("linkerd-service-mirror-internal is available"),
        "{shown}"
    );
    assert!(!shown.contains("not valid YAML"), "{shown}");
}
