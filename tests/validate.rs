//! `mcflow validate` on the files of tests/invalid/, one problem kind each (and a few with
//! several), through the real binary: the exit code, the message, the `file:line:column` line,
//! the miette snippet header and the help of every problem.

mod support;

use support::workspace::{mcflow_in, repo_root};

/// The config the fixtures are validated against (`{{ config.hubb }}` is checked with it).
const CONFIG: &str = "tests/invalid/config/clusters.yaml";

/// One problem the binary must report.
struct Expect {
    /// A part of the message (the `×` line).
    message: &'static str,
    /// `line:column`.
    at: &'static str,
    /// A part of the help line, when there must be one.
    help: Option<&'static str>,
    /// Other text the problem must show (a label, every step of a cycle).
    also: &'static [&'static str],
    /// The file the problem points into, when it is not the fixture itself.
    file: Option<&'static str>,
}

const fn p(message: &'static str, at: &'static str) -> Expect {
    Expect {
        message,
        at,
        help: None,
        also: &[],
        file: None,
    }
}

const fn ph(message: &'static str, at: &'static str, help: &'static str) -> Expect {
    Expect {
        message,
        at,
        help: Some(help),
        also: &[],
        file: None,
    }
}

/// One fixture: its file name under tests/invalid/ and every problem it must report, in order.
struct Case {
    file: &'static str,
    problems: &'static [Expect],
}

const CASES: &[Case] = &[
    // YAML syntax.
    Case {
        file: "syntax_unclosed_flow.yaml",
        problems: &[Expect {
            also: &["- id: b"],
            ..p("invalid YAML: illegal placement of ':' indicator", "5:7")
        }],
    },
    Case {
        file: "syntax_tab_indent.yaml",
        problems: &[p("invalid YAML: tabs disallowed", "5:2")],
    },
    Case {
        file: "syntax_duplicate_key.yaml",
        problems: &[p("invalid YAML: duplicate mapping key: run", "5:5")],
    },
    // Shape of the file.
    Case {
        file: "empty.yaml",
        problems: &[p("the workflow file is empty", "1:1")],
    },
    Case {
        file: "not_a_mapping.yaml",
        problems: &[p(
            "a workflow file must be a mapping with `name` and `steps`",
            "1:1",
        )],
    },
    Case {
        file: "missing_steps.yaml",
        problems: &[Expect {
            also: &["this workflow has no `steps`"],
            ..p("missing field `steps`", "1:1")
        }],
    },
    Case {
        file: "missing_name.yaml",
        problems: &[p("missing field `name`", "1:1")],
    },
    // Wrong types.
    Case {
        file: "wrong_type_attempts.yaml",
        problems: &[Expect {
            also: &["wrong type"],
            ..p(
                "steps[0].retry.attempts: invalid type: string \"many\", expected u32",
                "5:24",
            )
        }],
    },
    Case {
        file: "wrong_type_needs.yaml",
        problems: &[p(
            "steps[1].needs: invalid type: integer `42`, expected a sequence",
            "6:12",
        )],
    },
    Case {
        file: "wrong_type_steps.yaml",
        problems: &[p("`steps` must be a list of steps", "3:3")],
    },
    Case {
        file: "wrong_type_run.yaml",
        problems: &[p("steps[0].run: a program path, an argv list", "4:10")],
    },
    // Unknown fields, with did-you-mean.
    Case {
        file: "unknown_step_field.yaml",
        problems: &[ph("unknown field `neds`", "6:5", "did you mean `needs`?")],
    },
    Case {
        file: "unknown_top_field.yaml",
        problems: &[ph(
            "unknown field `descripton`",
            "2:1",
            "did you mean `description`?",
        )],
    },
    Case {
        file: "unknown_retry_field.yaml",
        problems: &[ph("unknown field `dealy`", "3:25", "did you mean `delay`?")],
    },
    Case {
        file: "unknown_param_field.yaml",
        problems: &[ph(
            "unknown field `requird`",
            "4:5",
            "did you mean `required`?",
        )],
    },
    // Step ids and dependencies.
    Case {
        file: "duplicate_step_id.yaml",
        problems: &[Expect {
            also: &["already used on line 3"],
            ..p("duplicate step id `install`", "7:9")
        }],
    },
    Case {
        file: "invalid_step_id.yaml",
        problems: &[ph(
            "invalid step id `link-spoke`",
            "3:9",
            "try `link_spoke`",
        )],
    },
    Case {
        file: "unknown_needs.yaml",
        problems: &[ph(
            "step `second` needs unknown step `frist`",
            "6:13",
            "did you mean `first`?",
        )],
    },
    Case {
        file: "cycle.yaml",
        problems: &[Expect {
            also: &["alpha", "beta", "gamma", "this step is part of the cycle"],
            ..ph("dependency cycle: ", "4:12", "remove one of these `needs`")
        }],
    },
    Case {
        file: "self_need.yaml",
        problems: &[p("step `b` needs itself", "6:16")],
    },
    // Actions.
    Case {
        file: "no_action.yaml",
        problems: &[ph(
            "step `idle` has no action",
            "5:9",
            "kube, linkerd, run, assert, workflow",
        )],
    },
    Case {
        file: "two_actions.yaml",
        problems: &[Expect {
            also: &["second action"],
            ..ph(
                "step `both` has 2 actions (run, assert)",
                "5:5",
                "split it into steps",
            )
        }],
    },
    // Names in templates.
    Case {
        file: "unknown_param_ref.yaml",
        problems: &[ph(
            "unknown param `spok` in `{{ params.spok }}`",
            "6:17",
            "did you mean `params.spoke`?",
        )],
    },
    // `vars:`.
    Case {
        file: "unknown_var_ref.yaml",
        problems: &[ph(
            "unknown var `namespce` in `{{ vars.namespce }}`",
            "8:17",
            "did you mean `vars.namespace`?",
        )],
    },
    Case {
        file: "var_reads_later_var.yaml",
        problems: &[ph(
            "`vars.namespace` is not computed yet here",
            "3:10",
            "move `namespace` above the var that reads it",
        )],
    },
    Case {
        file: "var_step_not_before.yaml",
        problems: &[ph(
            "step `early` reads `vars.version`, which reads `steps.cli`, but `cli` does not run before it",
            "7:17",
            "add `cli` to the `needs` of `early`",
        )],
    },
    Case {
        file: "var_bad_name.yaml",
        problems: &[Expect {
            also: &["var names are [A-Za-z_][A-Za-z0-9_]*"],
            ..ph(
                "invalid var name `link-command`",
                "3:3",
                "try `link_command`",
            )
        }],
    },
    Case {
        // Columns count characters, in the `at` line and in the snippet header alike.
        file: "unknown_param_no_params_utf8.yaml",
        problems: &[ph(
            "unknown param `nope` in `{{ params.nope }}`",
            "4:24",
            "this workflow declares no params",
        )],
    },
    Case {
        file: "unknown_step_ref.yaml",
        problems: &[p(
            "`steps.nope.stdout` refers to unknown step `nope`",
            "6:17",
        )],
    },
    Case {
        file: "step_not_before.yaml",
        problems: &[ph(
            "step `early` reads `steps.late.stdout`, but `late` does not run before it",
            "5:17",
            "add `late` to the `needs` of `early`",
        )],
    },
    Case {
        file: "unknown_root_name.yaml",
        problems: &[ph("unknown name `parms`", "6:17", "did you mean `params`?")],
    },
    Case {
        file: "item_outside_for_each.yaml",
        problems: &[p(
            "`item` is only defined in a step with `for_each`",
            "4:17",
        )],
    },
    Case {
        file: "unknown_step_output_field.yaml",
        problems: &[ph(
            "a step has no field `stdot`",
            "6:17",
            "did you mean `steps.a.stdout`?",
        )],
    },
    Case {
        file: "unknown_run_field.yaml",
        problems: &[ph(
            "`run` has no field `nmae`",
            "4:17",
            "run has: id, started_at",
        )],
    },
    Case {
        file: "unknown_config_key.yaml",
        problems: &[ph(
            "config has no `hubb`",
            "4:17",
            "did you mean `config.hub`?",
        )],
    },
    // Template syntax.
    Case {
        file: "template_syntax.yaml",
        problems: &[Expect {
            also: &["expected end of variable block"],
            ..p("invalid template", "6:17")
        }],
    },
    Case {
        file: "expression_syntax.yaml",
        problems: &[Expect {
            also: &["unexpected end of input"],
            ..p("invalid expression", "6:11")
        }],
    },
    // Durations.
    Case {
        file: "bad_step_timeout.yaml",
        problems: &[Expect {
            also: &["unknown time unit \"parsecs\""],
            ..ph(
                "invalid duration `5 parsecs`",
                "5:14",
                "durations look like `500ms`",
            )
        }],
    },
    Case {
        file: "bad_default_timeout.yaml",
        problems: &[ph("invalid duration `soon`", "3:12", "durations look like")],
    },
    Case {
        file: "bad_retry_delay.yaml",
        problems: &[ph(
            "invalid duration `2 seconds please`",
            "5:34",
            "durations look like",
        )],
    },
    // Retry policy.
    Case {
        file: "retry_zero_attempts.yaml",
        problems: &[ph(
            "retry `attempts` must be at least 1",
            "5:24",
            "`attempts: 1` means no retry",
        )],
    },
    Case {
        file: "retry_bad_backoff.yaml",
        problems: &[p("retry `backoff` must be between 1.0 and 100.0", "3:34")],
    },
    // Patterns.
    Case {
        file: "bad_param_pattern.yaml",
        problems: &[Expect {
            also: &["unclosed character class"],
            ..p("invalid pattern for param `spoke`", "3:21")
        }],
    },
    Case {
        file: "bad_output_regex.yaml",
        problems: &[Expect {
            also: &["unclosed group"],
            ..p("invalid regex for output `version`", "6:25")
        }],
    },
    Case {
        file: "output_json_pointer.yaml",
        problems: &[ph(
            "output `b`: a JSON pointer starts with `/`",
            "6:18",
            "did you mean `/a/b`?",
        )],
    },
    Case {
        file: "concurrency_without_for_each.yaml",
        problems: &[p(
            "`concurrency` only applies to a step with `for_each`",
            "5:5",
        )],
    },
    // Nested workflows.
    Case {
        file: "missing_nested_file.yaml",
        problems: &[Expect {
            also: &["looked for tests/invalid/nested/does-not-exist.yaml"],
            ..p(
                "nested workflow `nested/does-not-exist.yaml` does not exist",
                "4:23",
            )
        }],
    },
    Case {
        file: "nested_unknown_param.yaml",
        problems: &[ph(
            "workflow `nested/child.yaml` has no param `hbu`",
            "8:9",
            "did you mean `hub`?",
        )],
    },
    Case {
        file: "nested_missing_param.yaml",
        problems: &[ph(
            "workflow `nested/child.yaml` requires param `spoke`",
            "5:13",
            "add `spoke` under `with:`",
        )],
    },
    Case {
        file: "nested_path_template.yaml",
        problems: &[ph(
            "a nested workflow path cannot be a template",
            "6:23",
            "name the file literally",
        )],
    },
    Case {
        file: "nested_recursive.yaml",
        problems: &[Expect {
            file: Some("nested/recursive.yaml"),
            ..p("workflow `recursive.yaml` calls itself", "4:23")
        }],
    },
    // Several problems in one file: all of them, in file order.
    Case {
        file: "many_problems.yaml",
        problems: &[
            p("invalid pattern for param `spoke`", "3:37"),
            p("invalid duration `forever`", "5:12"),
            ph(
                "unknown param `spok`",
                "8:17",
                "did you mean `params.spoke`?",
            ),
            p("retry `attempts` must be at least 1", "9:24"),
            ph("invalid step id `Second-Step`", "10:9", "try `second_step`"),
            p("step `third` needs unknown step `nope`", "14:13"),
            ph("unknown field `nmae`", "15:5", "did you mean `name`?"),
            p("duplicate step id `first`", "17:9"),
        ],
    },
    Case {
        file: "many_problems_cycle.yaml",
        problems: &[
            Expect {
                also: &["a →", "b →", "c →"],
                ..p("dependency cycle: ", "4:12")
            },
            p("step `d` has no action", "12:9"),
            p("step `e` has 2 actions (linkerd, run)", "17:5"),
            p("invalid duration `3 fortnights`", "18:14"),
        ],
    },
];

/// mcflow in the repository root, where the fixtures' paths are relative.
fn mcflow() -> assert_cmd::Command {
    mcflow_in(repo_root())
}

/// The rendered problems of stderr, one block each (the renderer ends each with a blank line).
fn blocks(stderr: &str) -> Vec<&str> {
    stderr.split("\n\n").filter(|b| b.contains('×')).collect()
}

/// Checks one fixture; returns what is wrong, if anything.
fn check(case: &Case) -> Vec<String> {
    let path = format!("tests/invalid/{}", case.file);
    let out = mcflow()
        .args(["validate", "--config", CONFIG, &path])
        .output()
        .expect("mcflow runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut errors = Vec::new();
    let mut fail =
        |what: String| errors.push(format!("{}: {what}\n--- stderr:\n{stderr}", case.file));
    if out.status.code() != Some(2) {
        fail(format!("exit code {:?}, want 2", out.status.code()));
    }
    let n = case.problems.len();
    let summary = format!("{n} problem{} found", if n == 1 { "" } else { "s" });
    if !stderr.contains(&summary) {
        fail(format!("want `{summary}`"));
    }
    let found = blocks(&stderr);
    if found.len() != n {
        fail(format!("{} problem blocks, want {n}", found.len()));
    }
    for (i, (want, block)) in case.problems.iter().zip(found).enumerate() {
        let file = want
            .file
            .map_or_else(|| path.clone(), |f| format!("tests/invalid/{f}"));
        let title = block.lines().next().unwrap_or_default();
        let mut need = vec![
            format!("  at {file}:{}\n", want.at),
            format!("╭─[{file}:{}]", want.at),
        ];
        if let Some(h) = want.help {
            need.push("help: ".to_string());
            need.push(h.to_string());
        }
        need.extend(want.also.iter().map(|s| s.to_string()));
        if !title.contains(want.message) {
            fail(format!(
                "problem {i}: message `{title}` does not contain `{}`",
                want.message
            ));
        }
        // The block ends right after the `at` line (split on the blank line), so give it back
        // its newline for the check.
        let block = format!("{block}\n");
        for s in need {
            if !block.contains(&s) {
                fail(format!("problem {i} ({}): missing `{s}`", want.message));
            }
        }
    }
    errors
}

#[test]
fn every_invalid_fixture_reports_its_problems_with_their_place() {
    let errors: Vec<String> = CASES.iter().flat_map(check).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
}

#[test]
fn every_fixture_has_a_case() {
    let dir = repo_root().join("tests/invalid");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(dir).expect("tests/invalid exists") {
        let name = entry
            .expect("readable")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".yaml") && !CASES.iter().any(|c| c.file == name) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "fixtures without a case: {missing:?}");
    assert!(CASES.len() >= 30, "{} cases", CASES.len());
}

#[test]
fn all_files_are_checked_in_one_run() {
    let out = mcflow()
        .args([
            "validate",
            "tests/invalid/unknown_needs.yaml",
            "tests/invalid/nested/child.yaml",
            "tests/invalid/bad_step_timeout.yaml",
        ])
        .output()
        .expect("mcflow runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tests/invalid/unknown_needs.yaml:6:13"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tests/invalid/bad_step_timeout.yaml:5:14"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problems found"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("✓ tests/invalid/nested/child.yaml (1 steps)"),
        "{stdout}"
    );
}

#[test]
fn config_names_without_a_config_file_are_one_problem_naming_the_file_and_the_flag() {
    // No --config and no config/clusters.yaml: a run would fail on `{{ config.hubb }}`;
    // validation says why before anything runs, once.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo_root().join("tests/invalid/unknown_config_key.yaml"),
        dir.path().join("w.yaml"),
    )
    .expect("copy");
    mcflow_in(dir.path())
        .args(["validate", "w.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no config file: w.yaml reads `config.hubb`, and config/clusters.yaml does not exist",
        ))
        .stderr(predicates::str::contains("--config"))
        .stderr(predicates::str::contains("1 problem found"));
}

/// Issue 14: `host:port` in `hub.gateway_addresses` is copied into the Link verbatim and never
/// resolves (the service mirror calls net.LookupIP on each entry), so the config is refused,
/// with the place and the reason, before any workflow runs.
#[test]
fn a_gateway_address_with_a_port_is_refused_with_its_place_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clusters.yaml");
    std::fs::write(
        &config,
        "hub:\n  name: internal\n  context: internal\n  gateway_addresses: \"10.0.0.1,tfx-internal.gerega.net:30143\"\nspokes: []\n",
    )
    .unwrap();
    let out = mcflow()
        .args(["validate", "--config"])
        .arg(&config)
        .arg("workflows/link-spoke.yaml")
        .output()
        .expect("mcflow runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The renderer wraps long lines: compare without whitespace and margins.
    let flat: String = stderr
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect();
    for want in [
        "clusters.yaml:4:22",
        "confighub.gateway_addressesentry`tfx-internal.gerega.net:30143`hasaport",
        "use`tfx-internal.gerega.net`",
        "net.LookupIP",
    ] {
        assert!(flat.contains(want), "{want}: {stderr}");
    }
}

#[test]
fn the_repository_config_names_gateway_hosts_without_a_port() {
    mcflow()
        .args(["validate", "--config", "config/clusters.yaml"])
        .args(["workflows/bootstrap.yaml", "workflows/link-spoke.yaml"])
        .assert()
        .success();
}

#[test]
fn the_config_file_can_come_from_the_environment() {
    mcflow()
        .env("MCFLOW_CONFIG", CONFIG)
        .args(["validate", "tests/invalid/unknown_config_key.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("did you mean `config.hub`?"));
}

#[test]
fn color_is_off_with_no_color() {
    let out = mcflow()
        .args(["validate", "tests/invalid/unknown_step_field.yaml"])
        .output()
        .expect("mcflow runs");
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
}

// Valid files.

const VALID: &str = r#"
name: valid
description: every action but kube, templates reading params, outputs and items
params:
  spoke: { required: true, enum: [production, nonproduction] }
  hub: { default: internal, pattern: "[a-z]+" }
defaults:
  timeout: 2m
  retry: { attempts: 3, delay: 2s, backoff: 2.0, max_delay: 30s }
steps:
  - id: version
    linkerd: { context: "{{ params.hub }}", args: [version, --client, --short] }
    outputs:
      short: { regex: "stable-(\\S+)" }
  - id: show
    run: [echo, "{{ steps.version.outputs.short }}", "{{ run.id }}"]
    timeout: 500ms
  - id: each
    needs: [version]
    for_each: [a, b]
    concurrency: 1
    run: { argv: [echo, "{{ item }}", "{{ params.spoke }}"], env: { X: "{{ params.hub }}" } }
  - id: check
    needs: [show, each]
    when: "params.spoke == 'production'"
    assert: { that: "steps.show.exit_code == 0", message: "show failed" }
    retry: { attempts: 1 }
  - id: nested
    workflow:
      path: child.yaml
      with: { spoke: "{{ params.spoke }}" }
"#;

const CHILD: &str = r#"
name: child
params:
  spoke: { required: true }
steps:
  - id: hello
    run: [echo, "{{ params.spoke }}"]
"#;

fn valid_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("valid.yaml"), VALID).expect("write");
    std::fs::write(dir.path().join("child.yaml"), CHILD).expect("write");
    dir
}

#[test]
fn valid_files_pass() {
    let dir = valid_dir();
    let out = mcflow_in(dir.path())
        .args(["validate", "valid.yaml", "child.yaml"])
        .output()
        .expect("mcflow runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "✓ valid.yaml (5 steps)\n✓ child.yaml (1 steps)\n");
    assert!(out.stderr.is_empty());
}

#[test]
fn quiet_valid_prints_nothing() {
    let dir = valid_dir();
    mcflow_in(dir.path())
        .args(["validate", "--quiet", "valid.yaml"])
        .assert()
        .code(0)
        .stdout("");
}

#[test]
fn json_output_of_a_valid_file() {
    let dir = valid_dir();
    let out = mcflow_in(dir.path())
        .args(["validate", "--output", "json", "valid.yaml"])
        .output()
        .expect("mcflow runs");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["valid"], true);
    assert_eq!(v["problems"], serde_json::json!([]));
}

#[test]
fn json_output_lists_every_problem_with_its_place() {
    let out = mcflow()
        .args([
            "validate",
            "--output",
            "json",
            "tests/invalid/many_problems.yaml",
            "tests/invalid/unknown_step_field.yaml",
        ])
        .output()
        .expect("mcflow runs");
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["valid"], false);
    let problems = v["problems"].as_array().expect("a list");
    assert_eq!(problems.len(), 9, "{v:#}");
    let neds = problems
        .iter()
        .find(|p| {
            p["kind"] == "unknown_field" && p["file"] == "tests/invalid/unknown_step_field.yaml"
        })
        .expect("the unknown field");
    assert_eq!(neds["line"], 6);
    assert_eq!(neds["column"], 5);
    assert_eq!(neds["message"], "unknown field `neds`");
    assert_eq!(neds["help"], "did you mean `needs`?");
    let kinds: Vec<&str> = problems.iter().filter_map(|p| p["kind"].as_str()).collect();
    for k in [
        "bad_pattern",
        "bad_duration",
        "unknown_name",
        "bad_retry",
        "invalid_step_id",
        "unknown_needs",
        "duplicate_step_id",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // Nothing but the JSON document on stdout, no human rendering on stderr.
    assert!(!String::from_utf8_lossy(&out.stderr).contains('×'));
}

#[test]
fn a_missing_file_is_a_usage_error() {
    mcflow()
        .args(["validate", "tests/invalid/no-such-file.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "cannot read workflow tests/invalid/no-such-file.yaml",
        ));
}

#[test]
fn validate_needs_a_file() {
    mcflow().arg("validate").assert().code(2);
}

/// `kind` in the JSON output is the stable snake_case name, and each check has its own kind: a
/// range (`concurrency: 0`) is not a wrong type, nor is a field where it does not apply.
#[test]
fn json_kinds_are_stable_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let zero = dir.path().join("zero.yaml");
    std::fs::write(
        &zero,
        "name: z\nsteps:\n  - id: a\n    for_each: [1]\n    run: [echo, a]\n    concurrency: 0\n",
    )
    .expect("write");
    let out = mcflow()
        .args(["validate", "--output", "json"])
        .arg(&zero)
        .arg("tests/invalid/concurrency_without_for_each.yaml")
        .output()
        .expect("mcflow runs");
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let kinds: Vec<(&str, &str)> = v["problems"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap_or_default(),
                p["message"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("out_of_range", "`concurrency` must be at least 1")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "misplaced_field",
            "`concurrency` only applies to a step with `for_each`"
        )),
        "{kinds:?}"
    );
}

/// An `unknown_name` carries the name as the template reads it and the one it likely meant, so
/// that a CI job can propose the fix.
#[test]
fn json_unknown_name_carries_the_name_and_its_suggestion() {
    let out = mcflow()
        .args([
            "validate",
            "--output",
            "json",
            "tests/invalid/unknown_param_ref.yaml",
            "tests/invalid/unknown_step_output_field.yaml",
            "tests/invalid/item_outside_for_each.yaml",
        ])
        .output()
        .expect("mcflow runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let names: Vec<(&str, Option<&str>)> = v["problems"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|p| p["kind"] == "unknown_name")
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default(),
                p["suggestion"].as_str(),
            )
        })
        .collect();
    assert!(
        names.contains(&("params.spok", Some("params.spoke"))),
        "{v:#}"
    );
    assert!(
        names.contains(&("steps.a.stdot", Some("steps.a.stdout"))),
        "{v:#}"
    );
    assert!(
        names
            .iter()
            .any(|(n, s)| n.starts_with("item") && s.is_none()),
        "{v:#}"
    );
}
