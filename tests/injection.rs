//! Injection through the real binary. Param values holding shell syntax (`;`, `$(...)`,
//! backticks, pipes, newlines, globs) and option-looking values (`--kubeconfig=/etc/passwd`,
//! `-rf`) are passed by `--set` into `run` and `linkerd` argv, env and stdin: no shell ever
//! interprets them (no file they would create appears) and each reaches the program byte for
//! byte (a recording program writes its argv NUL-separated to a file). An option-looking value
//! is refused by a param `pattern` (the shipped workflows constrain every param that reaches an
//! argv by `enum` or `pattern`). A `workflow:` path that leaves the tree for a file that is not
//! a workflow is a clear error that shows none of that file; a run id like `../x` given to
//! `resume`/`show` is refused.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::Workspace;

/// Values a shell would act on. None of them may create a `pwned*` file.
const PAYLOADS: &[&str] = &[
    "; touch pwned1",
    "$(touch pwned2)",
    "`touch pwned3`",
    "a\nb; touch pwned4\n",
    "| touch pwned5 && touch pwned6 &",
    "--kubeconfig=/etc/passwd",
    "-rf",
    "$HOME ${PATH} * ? [a] ~ \\ ' \" %s {{ x }}",
    "> pwned7 < /etc/passwd",
    " leading and trailing spaces ",
];

/// Writes its argv, NUL-separated, to the file named by `$RECORD`; answers mcflow's check of
/// the linkerd CLI (`version --client --short`, before the run) as linkerd does.
const RECORDER: &str = "#!/bin/sh\nif [ \"$1\" = version ]; then echo edge-25.10.7; exit 0; fi\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$RECORD\"\n";

const WORKFLOW: &str = r#"name: inject
params:
  v: { required: true }
steps:
  - id: run_argv
    run: { argv: [./record, "{{ params.v }}", "x{{ params.v }}"], env: { RECORD: argv-run } }
  - id: linkerd_argv
    linkerd:
      context: ctx
      args: [multicluster, check, --namespace, "{{ params.v }}"]
      env: { RECORD: argv-linkerd }
  - id: env_and_stdin
    run:
      argv: [sh, -c, 'printf %s "$V" > env-out; cat > stdin-out']
      env: { V: "{{ params.v }}" }
      stdin: "{{ params.v }}"
"#;

fn argv(w: &Workspace, name: &str) -> Vec<String> {
    let bytes = std::fs::read(w.file(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut parts: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|p| String::from_utf8(p.to_vec()).expect("utf-8"))
        .collect();
    assert_eq!(parts.pop().as_deref(), Some(""), "NUL-terminated");
    parts
}

fn pwned(w: &Workspace) -> Vec<String> {
    std::fs::read_dir(w.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("pwned"))
        .collect()
}

#[test]
fn shell_syntax_and_options_in_params_reach_argv_env_and_stdin_unchanged() {
    for value in PAYLOADS {
        let w = Workspace::new().no_color();
        let recorder = w.write("record", RECORDER);
        std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o755)).unwrap();
        w.write("w.yaml", WORKFLOW);
        let set = format!("v={value}");
        let out = w.mcflow(&[
            "--linkerd",
            &recorder.display().to_string(),
            "run",
            "w.yaml",
            "--set",
            &set,
        ]);
        out.assert_code(0);
        assert_eq!(
            argv(&w, "argv-run"),
            [value.to_string(), format!("x{value}")]
        );
        assert_eq!(
            argv(&w, "argv-linkerd"),
            [
                "--context",
                "ctx",
                "multicluster",
                "check",
                "--namespace",
                value
            ]
        );
        assert_eq!(w.read("env-out"), *value, "env");
        assert_eq!(w.read("stdin-out"), *value, "stdin");
        assert!(
            pwned(&w).is_empty(),
            "{value:?} was run by a shell: {:?}",
            pwned(&w)
        );
    }
}

#[test]
fn an_option_looking_value_is_refused_by_a_pattern_before_anything_runs() {
    let w = Workspace::new().no_color();
    w.write(
        "w.yaml",
        "name: guarded\nparams:\n  ns: { required: true, pattern: '[a-z0-9]([-a-z0-9]*[a-z0-9])?' }\n\
         steps:\n  - id: a\n    run: [sh, -c, 'echo ran >> side', '{{ params.ns }}']\n",
    );
    for value in [
        "-rf",
        "--kubeconfig=/etc/passwd",
        "a;b",
        "a\nb",
        "$(x)",
        "../x",
        "",
    ] {
        let out = w.mcflow(&["run", "w.yaml", "--set", &format!("ns={value}")]);
        out.assert_code(2);
        assert!(
            out.stderr.contains("does not match the pattern"),
            "{value:?}: {}",
            out.stderr
        );
    }
    assert_eq!(w.read("side"), "", "nothing ran");
    assert!(w.runs().is_empty(), "no run was recorded");
}

/// The shipped workflows: every param that reaches a linkerd argv is an enum or a DNS-label
/// pattern, so an option-looking value never gets that far.
#[test]
fn the_shipped_workflows_refuse_option_looking_params() {
    let root = env!("CARGO_MANIFEST_DIR");
    let w = Workspace::new().no_color();
    let config = format!("{root}/config/clusters.yaml");
    let cases: [(&str, &[&str]); 5] = [
        ("link-spoke.yaml", &["spoke=--kubeconfig=/etc/passwd"]),
        ("link-spoke.yaml", &["spoke=production", "hub=-rf"]),
        ("link-spoke.yaml", &["spoke=production", "mode=--help"]),
        (
            "unlink-spoke.yaml",
            &["spoke=production", "hub=--context=x"],
        ),
        ("export-service.yaml", &["namespace=-n", "service=alloy"]),
    ];
    for (file, sets) in cases {
        let mut args = vec![
            "--config".to_string(),
            config.clone(),
            "plan".into(),
            format!("{root}/workflows/{file}"),
        ];
        for s in sets {
            args.push("--set".into());
            args.push(s.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = w.mcflow(&args);
        out.assert_code(2);
        assert!(
            out.stderr.contains("not one of") || out.stderr.contains("does not match the pattern"),
            "{file} {sets:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_workflow_path_leaving_the_tree_for_a_non_workflow_is_refused_without_showing_it() {
    let w = Workspace::new().no_color();
    // A secret-holding file outside the workflow's directory, like a kubeconfig.
    w.write(
        "outside/kubeconfig",
        "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: { token: CANARY-kubeconfig-token }\n",
    );
    let depth = w.path().components().count() + 2;
    let to_root = "../".repeat(depth);
    w.write(
        "flows/deep/w.yaml",
        &format!(
            "name: trav\nsteps:\n  - id: a\n    workflow: {{ path: {to_root}etc/passwd }}\n  - id: b\n    \
             workflow: {{ path: ../../outside/kubeconfig }}\n  - id: c\n    workflow: {{ path: ../../nowhere.yaml }}\n"
        ),
    );
    for cmd in ["validate", "plan", "run"] {
        let out = w.mcflow(&[cmd, "flows/deep/w.yaml"]);
        out.assert_code(2);
        let all = out.all();
        assert!(
            all.contains("etc/passwd` is not a workflow file"),
            "{cmd}: {all}"
        );
        assert!(
            all.contains("kubeconfig` is not a workflow file"),
            "{cmd}: {all}"
        );
        assert!(all.contains("nowhere.yaml` does not exist"), "{cmd}: {all}");
        assert!(!all.contains("root:"), "{cmd} printed /etc/passwd: {all}");
        assert!(
            !all.contains("CANARY-kubeconfig-token"),
            "{cmd} printed the kubeconfig: {all}"
        );
    }
    assert!(w.runs().is_empty());
}

#[test]
fn run_ids_that_leave_the_state_directory_are_refused() {
    let w = Workspace::new().no_color();
    w.write(
        "w.yaml",
        "name: a\nsteps:\n  - id: a\n    run: [sh, -c, 'test -e ok']\n",
    );
    w.mcflow(&["run", "w.yaml"]).assert_code(1);
    // A journal one level up, where `../<name>` would find it.
    let id = w.runs().pop().unwrap();
    let runs = w.state_dir().join("runs");
    std::fs::create_dir_all(w.state_dir().join("evil")).unwrap();
    std::fs::copy(
        runs.join(&id).join("journal.jsonl"),
        w.state_dir().join("evil/journal.jsonl"),
    )
    .unwrap();
    for bad in ["../evil", "../../state/evil", "/etc", "..", ".", "a/b", ""] {
        for cmd in ["resume", "show"] {
            let out = w.mcflow(&[cmd, bad]);
            out.assert_code(3);
            assert!(
                out.stderr.contains("no run"),
                "{cmd} {bad:?}: {}",
                out.stderr
            );
        }
    }
    // The real id still works.
    w.write("ok", "");
    w.mcflow(&["resume", &id]).assert_code(0);
}
