//! Sensitive values through the real binary. A canary token that a `sensitive: true` step
//! prints appears in no file under the state directory and in no output of any mode, including
//! the error of a later step that was handed the token; `plan` masks it; a resume re-runs the
//! sensitive step only when a pending step needs its output (and then the reader gets it
//! again). A sensitive param and a value derived from a secret stay out of errors too.
//!
//! Then the canary traced through every output path: the secret is a Kubernetes Secret
//! manifest (the canary in `stringData`) printed by a sensitive step and then:
//!
//! - applied for real (so the check is not vacuous: the cluster holds the canary);
//! - applied to a namespace that does not exist (404) and under an invalid name (422), whose
//!   errors must not carry it;
//! - transformed by a step that is not marked sensitive but reads the secret (so it is
//!   sensitive too, `effective_sensitivity`), whose output is then handed to a failing step;
//! - interpolated into a failing `assert` message.
//!
//! Every output is checked: the journal and every state file, plain, `-q`, `--output json`,
//! the TTY display (under tmux; skipped with a message when tmux is missing), `show`,
//! `runs`, and `plan`.

mod support;

use base64::Engine as _;
use rand::Rng;
use support::terminal::{Tmux, pane_command};
use support::{Outcome, Workspace, clusters, events_of, fail_until, seeded, wait_until};

/// A token unique to this test run. The workflow holds it in upper case and the step prints it
/// in lower case (`tr`), so the printed token is nowhere in the workflow file: finding it
/// anywhere means mcflow leaked the step's output.
fn canary() -> (String, String) {
    let letters: String = (0..20)
        .map(|_| char::from(b'A' + rand::random_range(0..26u8)))
        .collect();
    let token = format!("canary-{}", letters.to_lowercase());
    (letters, token)
}

fn secret_workflow(letters: &str) -> String {
    format!(
        r#"name: secrets
steps:
  - id: secret
    run: [sh, -c, "echo secret >> side; echo canary-$(echo {letters} | tr A-Z a-z)"]
    sensitive: true
    outputs:
      suffix: {{ regex: "canary-([a-z]+)" }}
  - id: other
    needs: []
    run: [sh, -c, "echo other >> side"]
  - id: use
    needs: [secret, other]
    run: [sh, -c, 'echo "using $0" >&2; echo "and $1" >&2; exit 1', "{{{{ steps.secret.stdout }}}}", "{{{{ steps.secret.outputs.suffix }}}}"]
    retry: {{ attempts: 2, delay: 10ms }}
"#
    )
}

fn assert_clean(what: &str, text: &str, token: &str, suffix: &str) {
    assert!(!text.contains(token), "{what} leaked the token:\n{text}");
    assert!(
        !text.contains(suffix),
        "{what} leaked the token's suffix:\n{text}"
    );
}

#[test]
fn a_sensitive_output_is_in_no_file_and_no_output() {
    let s = Workspace::new();
    let (letters, token) = canary();
    let suffix = token.trim_start_matches("canary-").to_string();
    s.write("w.yaml", &secret_workflow(&letters));

    let mut outputs = Vec::new();
    let runs: [&[&str]; 5] = [
        &["run", "w.yaml"],
        &["run", "w.yaml", "--output", "plain", "-v"],
        &["run", "w.yaml", "--output", "json"],
        &["run", "w.yaml", "-q"],
        &["resume", "--last", "-vv"],
    ];
    for args in runs {
        let out = s.mcflow(args);
        out.assert_code(1);
        outputs.push((format!("{args:?}"), out));
    }
    // The failing step read the token, so it is sensitive itself: its error shows the last
    // line of its stderr through the redactor (its stdout never).
    let stdout = &outputs[1].1.stdout;
    assert!(
        stdout.contains("✗ use: sh exited with 1: and ***"),
        "{stdout}"
    );
    assert_eq!(s.count("side", "secret"), 5);

    let reads: [&[&str]; 6] = [
        &["show", "--last"],
        &["show", "--last", "--output", "json"],
        &["runs"],
        &["runs", "--output", "json"],
        &["plan", "w.yaml"],
        &["plan", "w.yaml", "--output", "json"],
    ];
    for args in reads {
        let out = s.mcflow(args);
        out.success();
        outputs.push((format!("{args:?}"), out));
    }
    for (what, out) in &outputs {
        assert_clean(&format!("stdout of {what}"), &out.stdout, &token, &suffix);
        assert_clean(&format!("stderr of {what}"), &out.stderr, &token, &suffix);
    }
    // plan shows where the secret goes, masked (or as the template that will read it).
    let plan = &outputs[outputs.len() - 2].1.stdout;
    assert!(
        plan.contains("***") || plan.contains("steps.secret.stdout"),
        "{plan}"
    );

    let files = s.state_files();
    assert!(files.len() >= 5, "{files:?}");
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(&bytes);
        assert_clean(&path.display().to_string(), &text, &token, &suffix);
    }
    let journal = s.journal();
    let secret = &events_of(&journal, "step_succeeded", Some("secret"))[0];
    assert_eq!(secret["sensitive"], true);
    assert!(secret.get("result").is_none(), "{secret}");
}

#[test]
fn resume_reruns_a_sensitive_step_only_when_a_pending_step_needs_it() {
    let s = Workspace::new();
    let (letters, _) = canary();
    // `reader` reads the secret and succeeds in the first run; `flaky` fails once.
    s.write(
        "w.yaml",
        &format!(
            r#"name: rerun
steps:
  - id: secret
    run: [sh, -c, "echo secret >> side; echo canary-{letters}"]
    sensitive: true
  - id: reader
    run: [sh, -c, 'echo reader >> side; test -n "$0"', "{{{{ steps.secret.stdout }}}}"]
  - id: flaky
    run: [sh, -c, '{}; echo flaky >> side']
"#,
            fail_until("counter", 2)
        ),
    );
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    s.mcflow(&["resume", "--last"]).success();
    // Nobody pending needed the secret: neither it nor its reader ran again.
    assert_eq!(s.count("side", "secret"), 1);
    assert_eq!(s.count("side", "reader"), 1);
    assert_eq!(s.count("side", "flaky"), 1);

    // Now the reader itself is pending: the secret's producer runs again first.
    let s = Workspace::new();
    s.write(
        "w.yaml",
        &format!(
            r#"name: rerun
steps:
  - id: secret
    run: [sh, -c, "echo secret >> side; echo canary-{letters}"]
    sensitive: true
  - id: other
    run: [sh, -c, "echo other >> side"]
  - id: reader
    run: [sh, -c, '{}; echo reader >> side; test -n "$0"', "{{{{ steps.secret.stdout }}}}"]
"#,
            fail_until("counter", 2)
        ),
    );
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    s.mcflow(&["resume", "--last"]).success();
    assert_eq!(s.count("side", "secret"), 2, "the secret is needed again");
    assert_eq!(s.count("side", "other"), 1);
    assert_eq!(s.count("side", "reader"), 1);
}

/// A failing sensitive step's stderr is shown (the cause of the failure) through the redactor,
/// which has learnt what the step printed on stdout first: a token printed there and quoted in
/// the error is masked in both. (A secret a step prints on stderr only is not known to be one.)
#[test]
fn a_failing_sensitive_step_does_not_leak_its_output_in_its_error() {
    let s = Workspace::new();
    let (letters, token) = canary();
    let suffix = token.trim_start_matches("canary-").to_string();
    s.write(
        "w.yaml",
        &format!(
            r#"name: leaky
steps:
  - id: secret
    run: [sh, -c, "t=canary-$(echo {letters} | tr A-Z a-z); echo $t; echo \"Error: refused $t\" >&2; exit 1"]
    sensitive: true
    retry: {{ attempts: 2, delay: 10ms }}
"#
        ),
    );
    let mut outputs = Vec::new();
    for args in [
        &["run", "w.yaml", "-v"][..],
        &["run", "w.yaml", "-o", "json"],
    ] {
        outputs.push(s.mcflow(args).assert_code(1).clone());
    }
    for args in [&["show", "--last"][..], &["show", "--last", "-o", "json"]] {
        outputs.push(s.mcflow(args).success().clone());
    }
    for out in &outputs {
        assert_clean("stdout", &out.stdout, &token, &suffix);
        assert_clean("stderr", &out.stderr, &token, &suffix);
    }
    assert!(
        outputs[0]
            .stdout
            .contains("sh exited with 1: Error: refused ***"),
        "{}",
        outputs[0].stdout
    );
    for (path, bytes) in s.state_files() {
        assert_clean(
            &path.display().to_string(),
            &String::from_utf8_lossy(&bytes),
            &token,
            &suffix,
        );
    }
}

/// On resume, a step that reads a sensitive output and runs again (because a dependency of its
/// runs again) gets that output: the sensitive producer runs again too.
#[test]
fn a_rerun_reader_of_a_sensitive_output_gets_it_again() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: sensitive-rerun
steps:
  - id: secret
    needs: []
    run: [sh, -c, 'echo s3cret-value; echo x >> producer.count']
    sensitive: true
  - id: flaky
    needs: []
    continue_on_error: true
    run: [sh, -c, 'test -f fixed']
  - id: reader
    needs: [secret, flaky]
    run: [sh, -c, 'printf "%s\n" "$0" >> reader.log', "{{ steps.secret.stdout | trim }}"]
  - id: gate
    needs: [reader]
    run: [sh, -c, 'test -f fixed']
"#,
    );
    s.mcflow(&["run", "w.yaml", "-q"]).assert_code(1);
    s.touch("fixed");
    s.mcflow(&["resume", "--last", "-q"]).success();
    let log = std::fs::read_to_string(s.file("reader.log")).unwrap();
    assert_eq!(
        log, "s3cret-value\ns3cret-value\n",
        "the reader ran twice, both times with the secret"
    );
    assert_eq!(s.count("producer.count", "x"), 2);
}

/// Every byte mcflow left: stdout, stderr and every file in the state directory.
fn everything(s: &Workspace, out: &Outcome) -> String {
    let mut all = format!("{}{}", out.stdout, out.stderr);
    for (_, bytes) in s.state_files() {
        all.push_str(&String::from_utf8_lossy(&bytes));
    }
    all
}

#[test]
fn a_sensitive_param_never_shows_even_in_a_failing_steps_error() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        "name: p\nparams:\n  token: { sensitive: true, required: true }\nsteps:\n  - id: use\n    run: [sh, -c, 'echo \"bad $0\" >&2; exit 1', \"{{ params.token }}\"]\n",
    );
    for mode in ["plain", "json"] {
        let out = s.mcflow(&["run", "w.yaml", "--set", "token=tkn42", "-o", mode]);
        assert_eq!(out.code, 1);
        assert!(!everything(&s, &out).contains("tkn42"), "leaked in {mode}");
    }
    let show = s.mcflow(&["show", "--last"]);
    assert!(!show.stdout.contains("tkn42"));
}

#[test]
fn a_value_derived_from_a_secret_stays_out_of_errors_and_outputs() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: derived
steps:
  - id: secret
    run: [sh, -c, 'echo SECRETVALUEXYZ-abcdef']
    sensitive: true
  - id: copy
    needs: [secret]
    run: [sh, -c, 'echo SECRETVALUEXYZ-abcdef']
    outputs: { v: { regex: '(\S+)' } }
  - id: derived
    needs: [secret, copy]
    run: [sh, -c, 'echo "cannot use $0" >&2; exit 1', "{{ steps.secret.stdout | trim | replace('-', '_') }}"]
"#,
    );
    let out = s.mcflow(&["run", "w.yaml", "-o", "json"]);
    assert_eq!(out.code, 1);
    let all = everything(&s, &out);
    assert!(
        !all.contains("SECRETVALUEXYZ_abcdef"),
        "derived value leaked"
    );
    assert!(
        !all.contains("SECRETVALUEXYZ-abcdef"),
        "secret leaked through outputs"
    );
}

/// The canary's letters, in upper case in the workflow (the step lowers them), so that the
/// token itself is nowhere in any input file.
fn letters() -> String {
    let (_, mut rng) = seeded("secrets canary", 0x5EC2E7);
    (0..20)
        .map(|_| char::from(b'A' + rng.random_range(0..26u8)))
        .collect()
}

fn manifest_workflow(letters: &str) -> String {
    format!(
        r#"name: secret-paths
steps:
  - id: secret
    run: [sh, -c, 'printf "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s1\nstringData:\n  token: canary-%s\n" "$(echo {letters} | tr A-Z a-z)"']
    sensitive: true
    outputs:
      tok: {{ regex: 'token: (canary-[a-z]+)' }}
  - id: apply_ok
    kube:
      context: c
      apply: {{ manifest: "{{{{ steps.secret.stdout }}}}", namespace: app }}
  - id: apply_404
    needs: [apply_ok]
    continue_on_error: true
    retry: {{ attempts: 1 }}
    kube:
      context: c
      apply: {{ manifest: "{{{{ steps.secret.stdout }}}}", namespace: nowhere }}
  - id: apply_422
    needs: [apply_ok]
    continue_on_error: true
    retry: {{ attempts: 1 }}
    kube:
      context: c
      apply: {{ manifest: "{{{{ steps.secret.stdout | replace('name: s1', 'name: Bad_Name') }}}}", namespace: app }}
  - id: derived
    needs: [secret]
    run: [sh, -c, 'echo "$0" | sed -n "s/.*canary-/derived-/p"', "{{{{ steps.secret.stdout }}}}"]
  - id: uses_derived
    needs: [derived]
    continue_on_error: true
    retry: {{ attempts: 2, delay: 10ms }}
    run: [sh, -c, 'echo "got $0" >&2; echo "out $0"; exit 1', "{{{{ steps.derived.stdout }}}}"]
  - id: check
    needs: [secret]
    continue_on_error: true
    assert:
      that: "steps.secret.outputs.tok == 'nope'"
      message: "token was {{{{ steps.secret.outputs.tok }}}}"
  - id: saved
    needs: [derived]
    save: {{ path: "secret/both.txt", content: "{{{{ steps.secret.stdout }}}} {{{{ steps.derived.stdout }}}}" }}
  - id: last
    needs: [apply_404, apply_422, uses_derived, check, saved]
    run: [sh, -c, 'echo done']
finally:
  - id: gather
    save: {{ path: "status.txt", content: "{{{{ run.status }}}} {{{{ run.failed_steps }}}}" }}
"#
    )
}

/// The files of a .tar.gz, by path.
fn unpack(path: &std::path::Path) -> Vec<(String, String)> {
    use std::io::Read;
    let file = std::fs::File::open(path).expect("the bundle");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = Vec::new();
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        let name = entry.path().expect("a path").display().to_string();
        let mut text = String::new();
        entry.read_to_string(&mut text).expect("text");
        files.push((name, text));
    }
    files
}

fn assert_no_canary(what: &str, text: &str, letters: &str) {
    let lower = letters.to_lowercase();
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("canary-{lower}"));
    for needle in [lower.as_str(), b64.as_str()] {
        assert!(
            !text.contains(needle),
            "{what} leaked the canary ({needle}):\n{text}"
        );
    }
}

#[test]
fn a_secret_manifest_leaks_through_no_output_path() {
    let letters = letters();
    let dir = tempfile::tempdir().unwrap();
    let sim = clusters::bare(dir.path(), &["c"]);
    sim.cluster("c")
        .apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n")
        .unwrap();
    let w = Workspace::new()
        .no_color()
        .kubeconfig(sim.kubeconfig_path());
    w.write("w.yaml", &manifest_workflow(&letters));

    let mut outputs: Vec<(String, Outcome)> = Vec::new();
    for args in [
        &["run", "w.yaml", "--output", "plain", "-v"][..],
        &["run", "w.yaml", "--output", "json"],
        &["run", "w.yaml", "-q"],
    ] {
        let out = w.mcflow(args);
        assert!(out.code == 0 || out.code == 1, "{args:?}: {}", out.all());
        outputs.push((format!("{args:?}"), out));
    }
    // Not vacuous: the secret reached the cluster, the failures happened for the reasons
    // intended, and the derived value reached the step that failed with it.
    let stored = sim
        .cluster("c")
        .get("v1", "Secret", "app", "s1")
        .expect("s1 applied");
    let stored = stored.to_string();
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(format!("canary-{}", letters.to_lowercase()));
    assert!(
        stored.contains(&b64) || stored.contains(&letters.to_lowercase()),
        "{stored}"
    );
    let plain = &outputs[0].1;
    let all = plain.all();
    assert!(all.contains("404") || all.contains("not found"), "{all}");
    assert!(all.contains("422") || all.contains("Invalid"), "{all}");
    // A step that reads a sensitive output is sensitive itself: its failure shows its stderr
    // through the redactor, which knows the values its templates derived from the secret.
    assert!(
        all.contains("got ***"),
        "uses_derived failed for the intended reason: {all}"
    );
    assert!(all.contains("token was ***"), "{all}");

    for args in [
        &["show", "--last"][..],
        &["show", "--last", "-o", "json"],
        &["runs"],
        &["runs", "-o", "json"],
        &["plan", "w.yaml"],
        &["plan", "w.yaml", "-o", "json"],
    ] {
        let out = w.mcflow(args);
        out.assert_code(0);
        outputs.push((format!("{args:?}"), out));
    }
    // The diagnostics bundle of the last run: its saved files (secrets masked, and not
    // vacuously: the save step had the secret), summary and journal.
    let bundle = w.file("bundle.tar.gz");
    let out = w.mcflow(&["show", "--last", "--bundle", &bundle.display().to_string()]);
    out.assert_code(0);
    outputs.push(("show --bundle".to_string(), out));
    let packed = unpack(&bundle);
    let saved = packed
        .iter()
        .find(|(k, _)| k.ends_with("diagnostics/secret/both.txt"))
        .map(|(_, v)| v.clone())
        .expect("the saved file in the bundle");
    assert!(saved.contains("***"), "{saved}");
    for (name, text) in &packed {
        assert_no_canary(&format!("bundle file {name}"), text, &letters);
    }
    for (what, out) in &outputs {
        assert_no_canary(&format!("stdout of {what}"), &out.stdout, &letters);
        assert_no_canary(&format!("stderr of {what}"), &out.stderr, &letters);
    }

    let command = pane_command(
        &w,
        "",
        &format!(
            "--kubeconfig '{}' run w.yaml",
            sim.kubeconfig_path().display()
        ),
    );
    match Tmux::start(w.path(), (120, 50), &command) {
        Some(tmux) => {
            wait_until("the TTY run to end", || tmux.history().contains("EXIT="));
            let screen = tmux.history();
            assert!(screen.contains("EXIT="), "{screen}");
            assert!(
                screen.contains("apply_404"),
                "the TTY display ran: {screen}"
            );
            assert_no_canary("the TTY display", &screen, &letters);
        }
        None => println!("SKIPPED: the TTY check needs tmux"),
    }

    // The derived step is sensitive: no result of it in the journal.
    let journal = w.journal_read().expect("a journal");
    for e in &journal.events {
        if let mcflow::journal::EventKind::StepSucceeded {
            step,
            result,
            sensitive,
            ..
        } = &e.kind
            && (step == "derived" || step == "secret")
        {
            assert!(*sensitive && result.is_none(), "{step}: {e:?}");
        }
    }
    let files = w.state_files();
    assert!(files.len() >= 8, "{} state files", files.len());
    for (path, bytes) in files {
        assert_no_canary(
            &path.display().to_string(),
            &String::from_utf8_lossy(&bytes),
            &letters,
        );
    }
}
