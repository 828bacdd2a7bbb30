//! Sensitive steps through the real binary: a canary token that a `sensitive: true` step prints
//! appears in no file under the state directory and in no output of any mode, including the
//! error of a later step that was handed the token; `plan` masks it; a resume re-runs the
//! sensitive step only when a pending step needs its output.

mod run_common;

use run_common::{Scenario, fail_until, texts};

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
    let s = Scenario::new();
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
        let out = s.mcflow(args).assert().code(1).get_output().clone();
        outputs.push((format!("{args:?}"), out));
    }
    // The failing step read the token, so it is sensitive itself: its error shows none of its
    // output (older builds showed it masked, as `using ***`).
    let (stdout, _) = texts(&outputs[1].1);
    assert!(
        stdout.contains("using ***") || stdout.contains("✗ use: sh exited with 1 (output hidden"),
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
        let out = s.mcflow(args).assert().success().get_output().clone();
        outputs.push((format!("{args:?}"), out));
    }
    for (what, out) in &outputs {
        let (stdout, stderr) = texts(out);
        assert_clean(&format!("stdout of {what}"), &stdout, &token, &suffix);
        assert_clean(&format!("stderr of {what}"), &stderr, &token, &suffix);
    }
    // plan shows where the secret goes, masked (or as the template that will read it).
    let plan = texts(&outputs[outputs.len() - 2].1).0;
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
    let secret = &run_common::events_of(&journal, "step_succeeded", Some("secret"))[0];
    assert_eq!(secret["sensitive"], true);
    assert!(secret.get("result").is_none(), "{secret}");
}

#[test]
fn resume_reruns_a_sensitive_step_only_when_a_pending_step_needs_it() {
    let s = Scenario::new();
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
    s.mcflow(&["run", "w.yaml"]).assert().code(1);
    s.mcflow(&["resume", "--last"]).assert().success();
    // Nobody pending needed the secret: neither it nor its reader ran again.
    assert_eq!(s.count("side", "secret"), 1);
    assert_eq!(s.count("side", "reader"), 1);
    assert_eq!(s.count("side", "flaky"), 1);

    // Now the reader itself is pending: the secret's producer runs again first.
    let s = Scenario::new();
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
    s.mcflow(&["run", "w.yaml"]).assert().code(1);
    s.mcflow(&["resume", "--last"]).assert().success();
    assert_eq!(s.count("side", "secret"), 2, "the secret is needed again");
    assert_eq!(s.count("side", "other"), 1);
    assert_eq!(s.count("side", "reader"), 1);
}

#[test]
fn a_failing_sensitive_step_does_not_leak_its_output_in_its_error() {
    let s = Scenario::new();
    let (letters, token) = canary();
    let suffix = token.trim_start_matches("canary-").to_string();
    s.write(
        "w.yaml",
        &format!(
            r#"name: leaky
steps:
  - id: secret
    run: [sh, -c, "echo canary-$(echo {letters} | tr A-Z a-z) >&2; exit 1"]
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
        outputs.push(s.mcflow(args).assert().code(1).get_output().clone());
    }
    for args in [&["show", "--last"][..], &["show", "--last", "-o", "json"]] {
        outputs.push(s.mcflow(args).assert().success().get_output().clone());
    }
    for out in &outputs {
        let (stdout, stderr) = texts(out);
        assert_clean("stdout", &stdout, &token, &suffix);
        assert_clean("stderr", &stderr, &token, &suffix);
    }
    assert!(
        texts(&outputs[0])
            .0
            .contains("sh exited with 1 (output hidden")
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
