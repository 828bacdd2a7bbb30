//! Retries and `mcflow resume` through the real binary: a flaky step passes under `retry`;
//! without it the run fails and `resume --last` finishes it without running succeeded steps
//! again; a resume refuses a finished run, a changed workflow, a dry run and a run another
//! process holds; a step runs again when what it read runs again (a `continue_on_error`
//! dependency, a nested workflow's input); `runs` and `show` read the journal back.

mod support;

use support::{Workspace, events_of, exit_code, fail_until, wait_for_file, wait_until};

/// `first` → `flaky` (fails until its third run) → `last`; each appends its id to `side`.
fn flaky_workflow(retry: &str) -> String {
    format!(
        r#"name: flaky
steps:
  - id: first
    run: [sh, -c, "echo first >> side"]
  - id: flaky
    run: [sh, -c, '{}; echo flaky >> side']
{retry}
  - id: last
    run: [sh, -c, "echo last >> side"]
"#,
        fail_until("counter", 3)
    )
}

#[test]
fn a_step_that_fails_twice_passes_under_retry() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        &flaky_workflow("    retry: { attempts: 3, delay: 10ms, backoff: 1.0 }"),
    );
    s.mcflow(&["run", "w.yaml"]).success();

    let failed = s.events("attempt_failed", Some("flaky"));
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("attempt 1 fails")
    );
    let started: Vec<u64> = s
        .events("step_started", Some("flaky"))
        .iter()
        .map(|e| e["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(started, [1, 2, 3]);
    assert_eq!(s.events("step_succeeded", Some("flaky"))[0]["attempt"], 3);
    for step in ["first", "flaky", "last"] {
        assert_eq!(s.count("side", step), 1, "{step}");
    }
    let finished = s.events("run_finished", None);
    assert_eq!(finished[0]["status"], "succeeded");
}

#[test]
fn without_retry_the_run_fails_and_resume_finishes_it() {
    let s = Workspace::new();
    s.write("w.yaml", &flaky_workflow(""));

    let out = s.mcflow(&["run", "w.yaml"]);
    out.assert_code(1);
    let stdout = &out.stdout;
    assert!(
        stdout.contains("resume with: mcflow resume --last"),
        "{stdout}"
    );
    assert!(!stdout.contains("(this resume)"), "{stdout}");
    assert_eq!(s.events("step_failed", Some("flaky")).len(), 1);
    assert_eq!(s.events("step_skipped", Some("last")).len(), 1);
    let journal = s.journal_path();

    // The second run of `flaky` fails again: still exit 1, still the same run. The summary's
    // time is the resume's own, and says so (`resumed` in JSON).
    let again = s.mcflow(&["resume", "--last"]);
    again.assert_code(1);
    assert!(
        again.stdout.contains(" failed in ") && again.stdout.contains(" (this resume):"),
        "{}",
        again.stdout
    );
    let last = s.mcflow(&["resume", "--last", "--output", "json"]);
    last.success();
    let summary: serde_json::Value =
        serde_json::from_str(last.stdout.lines().last().unwrap_or_default()).expect("JSON");
    assert_eq!(summary["event"], "summary", "{}", last.stdout);
    assert_eq!(summary["resumed"], true, "{summary}");
    assert_eq!(s.journal_path(), journal, "resume appends to the same run");

    assert_eq!(s.count("side", "first"), 1, "a succeeded step ran again");
    assert_eq!(s.count("side", "flaky"), 1);
    assert_eq!(s.count("side", "last"), 1);
    assert_eq!(s.count("counter", "3"), 1);
    assert_eq!(s.events("run_resumed", None).len(), 2);
    assert_eq!(s.events("step_reused", Some("first")).len(), 2);
    assert_eq!(s.events("step_started", Some("first")).len(), 1);
    let finished = s.events("run_finished", None);
    let statuses: Vec<&str> = finished
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "failed", "succeeded"]);

    // Nothing is left to do now.
    s.mcflow(&["resume", "--last"])
        .assert_code(3)
        .stderr_has("already succeeded");
}

#[test]
fn resume_with_no_run_or_an_unknown_run_is_a_state_error() {
    let s = Workspace::new();
    s.mcflow(&["resume", "--last"])
        .assert_code(3)
        .stderr_has("no run to resume");
    s.mcflow(&["resume", "20200101-000000-abcd"])
        .assert_code(3)
        .stderr_has("no run `20200101-000000-abcd`");
    s.mcflow(&["resume", "../../etc"]).assert_code(3);
}

#[test]
fn a_changed_workflow_is_refused_unless_allowed() {
    let s = Workspace::new();
    s.write("w.yaml", &flaky_workflow(""));
    s.mcflow(&["run", "w.yaml"]).assert_code(1);

    // The same steps, with `flaky` now passing at once: a different file.
    s.write("w.yaml", &flaky_workflow("").replace("-lt 3", "-lt 1"));
    s.mcflow(&["resume", "--last"])
        .assert_code(3)
        .stderr_has("changed since it started")
        .stderr_has("w.yaml")
        .stderr_has("--allow-changed");
    s.mcflow(&["resume", "--last", "--allow-changed"]).success();
    assert_eq!(s.count("side", "first"), 1);
    assert_eq!(s.count("side", "last"), 1);
    let resumed = s.events("run_resumed", None);
    assert!(
        resumed[0]["changed"][0]
            .as_str()
            .unwrap()
            .contains("w.yaml"),
        "{resumed:?}"
    );
}

#[test]
fn a_second_resume_while_the_first_holds_the_lock_names_its_pid() {
    let s = Workspace::new();
    // `gate` fails until `armed` exists, then waits for `release`.
    s.write(
        "w.yaml",
        &format!(
            r#"name: locked
steps:
  - id: gate
    run: [sh, -c, '[ -e armed ] || exit 1; {}; echo gate >> side']
"#,
            wait_for_file("release")
        ),
    );
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    s.touch("armed");

    let mut first = s.spawn("first", &["resume", "--last"]);
    wait_until("the resumed run to start `gate`", || {
        s.journal_has("step_started", "gate", 2)
    });
    let out = s.mcflow(&["resume", "--last"]);
    out.assert_code(3);
    let stderr = &out.stderr;
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");

    s.touch("release");
    assert_eq!(exit_code(&mut first), 0, "{:?}", s.output_of("first"));
    assert_eq!(s.count("side", "gate"), 1);
    // The lock went with its holder.
    s.mcflow(&["resume", "--last"])
        .assert_code(3)
        .stderr_has("already succeeded");
}

#[test]
fn runs_and_show_read_the_journal_back() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        &flaky_workflow("    retry: { attempts: 2, delay: 10ms }"),
    );
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    let run_id = s
        .journal_path()
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let out = s.mcflow(&["runs"]);
    out.success();
    let stdout = &out.stdout;
    let row = stdout
        .lines()
        .find(|l| l.starts_with(&run_id))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        row.contains("flaky") && row.contains("failed") && row.contains("1/3"),
        "{row}"
    );

    let out = s.mcflow(&["show", "--last"]);
    out.success();
    let stdout = &out.stdout;
    assert!(
        stdout.contains(&run_id) && stdout.contains("status failed"),
        "{stdout}"
    );
    let flaky = stdout.lines().find(|l| l.starts_with("flaky ")).unwrap();
    assert!(flaky.contains("failed") && flaky.contains(" 2 "), "{flaky}");
    assert!(
        stdout.contains("attempt 1 fails") && stdout.contains("attempt 2 fails"),
        "{stdout}"
    );
    let last = stdout.lines().find(|l| l.starts_with("last ")).unwrap();
    assert!(last.contains("skipped"), "{last}");

    let out = s.mcflow(&["show", &run_id, "--output", "json"]);
    out.success();
    let shown: serde_json::Value = serde_json::from_str(&out.stdout).expect("show --output json");
    assert_eq!(shown["run_id"], run_id.as_str(), "{shown}");

    let out = s.mcflow(&["runs", "-o", "json"]);
    out.success();
    let stdout = &out.stdout;
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "failed", "{}", rows[0]);

    // Nothing went to the default state directory.
    assert!(!s.file(".mcflow").exists());
}

#[test]
fn resume_works_from_another_directory() {
    let s = Workspace::new();
    let counter = s.file("counter").display().to_string();
    s.write(
        "w.yaml",
        &flaky_workflow("")
            .replace("-lt 3", "-lt 2")
            .replace("counter", &counter),
    );
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    let elsewhere = s.file("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    // The steps write their side files relative to where mcflow runs: here, `elsewhere`.
    s.mcflow_from(&elsewhere, &["resume", "--last"]).success();
    let journal = s.journal();
    let started = &events_of(&journal, "run_started", None)[0];
    let workflow = started["workflow"].as_str().unwrap();
    assert!(std::path::Path::new(workflow).is_absolute(), "{started}");
    assert_eq!(s.count("side", "first"), 1);
    assert_eq!(s.count("elsewhere/side", "flaky"), 1);
    assert_eq!(s.count("elsewhere/side", "first"), 0);
}

#[test]
fn for_each_instances_resume_by_item_even_when_the_list_is_reordered() {
    let s = Workspace::new();
    let workflow = |items: &str| {
        format!(
            r#"name: fan
steps:
  - id: fan
    for_each: [{items}]
    run: [sh, -c, '[ "$0" != beta ] || [ -e fixed ] || exit 1; echo "$0" >> side', "{{{{ item }}}}"]
"#
        )
    };
    s.write("w.yaml", &workflow("alpha, beta, gamma"));
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    assert_eq!(s.events("step_failed", Some("fan[beta]")).len(), 1);

    s.touch("fixed");
    s.write("w.yaml", &workflow("gamma, beta, alpha"));
    s.mcflow(&["resume", "--last", "--allow-changed"]).success();
    for item in ["alpha", "beta", "gamma"] {
        assert_eq!(s.count("side", item), 1, "{item}");
    }
    assert_eq!(s.events("step_reused", Some("fan[alpha]")).len(), 1);
    assert_eq!(s.events("step_reused", Some("fan[gamma]")).len(), 1);
}

#[test]
fn a_nested_workflow_resumes_inside_the_child() {
    let s = Workspace::new();
    s.write(
        "child.yaml",
        r#"name: child
steps:
  - id: one
    run: [sh, -c, "echo one >> side"]
  - id: two
    run: [sh, -c, "[ -e fixed ] || exit 1; echo two >> side"]
"#,
    );
    s.write(
        "w.yaml",
        r#"name: parent
steps:
  - id: before
    run: [sh, -c, "echo before >> side"]
  - id: nest
    workflow: { path: child.yaml }
  - id: after
    run: [sh, -c, "echo after >> side"]
"#,
    );
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    assert_eq!(s.events("step_failed", Some("nest.two")).len(), 1);
    assert_eq!(s.events("step_failed", Some("nest")).len(), 1);
    s.touch("fixed");
    s.mcflow(&["resume", "--last"]).success();
    for step in ["before", "one", "two", "after"] {
        assert_eq!(s.count("side", step), 1, "{step}");
    }
    assert_eq!(s.events("step_reused", Some("nest.one")).len(), 1);
}

#[test]
fn resume_does_not_reuse_a_success_that_a_later_attempt_replaced() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: stale
steps:
  - id: a
    needs: []
    continue_on_error: true
    run: [sh, -c, 'test -f a_ok']
  - id: b
    needs: [a]
    run: [sh, -c, 'if [ -f a_ok ] && [ ! -f b_ok ]; then exit 1; fi; echo ran >> b.log']
  - id: c
    needs: [b]
    run: [sh, -c, 'test -f c_ok']
"#,
    );
    s.mcflow(&["run", "w.yaml", "-q"]).assert_code(1); // a fails (allowed), b ok, c fails
    s.touch("a_ok");
    s.mcflow(&["resume", "--last", "-q"]).assert_code(1); // a ok, so b runs again and fails
    s.touch("b_ok");
    s.touch("c_ok");
    s.mcflow(&["resume", "--last", "-q"]).success(); // b must run, not be reused
    assert_eq!(s.count("b.log", "ran"), 2);
}

#[test]
fn a_dry_run_cannot_be_resumed_for_real() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        "name: d\nsteps:\n  - id: x\n    run: [sh, -c, 'test -f ok']\n",
    );
    s.mcflow(&["run", "w.yaml", "--dry-run", "-q"])
        .assert_code(1);
    let out = s.mcflow(&["resume", "--last"]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("was a --dry-run run"));
}

#[test]
fn a_nested_workflow_run_again_runs_its_steps_again() {
    let s = Workspace::new();
    s.write(
        "child.yaml",
        "name: child\nparams:\n  x: { required: true }\nsteps:\n  - id: record\n    run: [sh, -c, 'echo \"$0\" >> out.txt', '{{ params.x }}']\n",
    );
    s.write(
        "w.yaml",
        r#"name: parent
steps:
  - id: a
    needs: []
    continue_on_error: true
    run: [sh, -c, 'test -f a_ok']
  - id: w
    needs: [a]
    workflow: { path: child.yaml, with: { x: "{{ steps.a.status }}" } }
  - id: gate
    needs: [w]
    run: [sh, -c, 'test -f a_ok']
"#,
    );
    s.mcflow(&["run", "w.yaml", "-q"]).assert_code(1);
    s.touch("a_ok");
    s.mcflow(&["resume", "--last", "-q"]).success();
    let out = std::fs::read_to_string(s.file("out.txt")).unwrap();
    assert_eq!(out, "failed\nsucceeded\n");
}

/// A step that succeeded after reading a dependency that failed with `continue_on_error` runs
/// again on resume when that dependency runs again (what verify's report does: before, the
/// stale report was reused and the run could never resume to success).
#[test]
fn a_step_that_read_a_failed_continue_on_error_step_runs_again_when_it_does() {
    let world = Workspace::new().no_color();
    world.write(
        "w.yaml",
        r#"name: coe
steps:
  - id: check
    run: [sh, -c, 'echo check >> side; test -e ok']
    continue_on_error: true
  - id: other
    needs: []
    run: [sh, -c, 'echo other >> side']
  - id: report
    needs: [check, other]
    run: [sh, -c, 'echo report >> side; echo "check $0"', "{{ steps.check.status }}"]
  - id: all_ok
    assert: "'check succeeded' in steps.report.stdout"
"#,
    );
    world.mcflow(&["run", "w.yaml"]).assert_code(1);
    world.write("ok", "");
    world.mcflow(&["resume", "--last"]).assert_code(0);
    let side = world.lines("side");
    let count = |s: &str| side.iter().filter(|l| *l == s).count();
    assert_eq!(
        (count("check"), count("other"), count("report")),
        (2, 1, 2),
        "check and its reader run again, `other` does not: {side:?}"
    );
}

/// A run that failed before a `for_each` step (which was then skipped as a whole) and was
/// resumed to success: `show` lists only what is true now (no stale `fan` row, no old error
/// under `gate`) and `runs` counts every step as succeeded.
#[test]
fn a_resumed_run_that_succeeds_shows_no_stale_rows() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        "name: demo\nsteps:\n  - id: gate\n    run: [test, -f, ok]\n  - id: fan\n    for_each: [a, b]\n    run: [echo, \"{{ item }}\"]\n",
    );
    s.mcflow(&["run", "w.yaml", "-o", "plain"]).assert_code(1);
    s.touch("ok");
    s.mcflow(&["resume", "--last", "-o", "plain"]).success();

    let show = s.mcflow(&["show", "--last"]).success().stdout.clone();
    let rows: Vec<&str> = show
        .lines()
        .skip_while(|l| !l.starts_with("STEP"))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 3, "{show}");
    assert!(rows.iter().all(|r| r.contains("succeeded")), "{show}");
    assert!(!show.contains("skipped") && !show.contains('↳'), "{show}");
    let runs = s.mcflow(&["runs"]).success().stdout.clone();
    assert!(runs.contains("succeeded        3/3"), "{runs}");
}

/// `resume --last` takes the newest run that did not succeed, not a later run of another
/// workflow that did (the one a user ran to fix the cause), and says which it took.
#[test]
fn resume_last_takes_the_newest_run_that_did_not_succeed() {
    let s = Workspace::new();
    s.write(
        "gate.yaml",
        "name: gate\nsteps:\n  - id: gate\n    run: [test, -f, ok]\n",
    );
    s.write(
        "fix.yaml",
        "name: fix\nsteps:\n  - id: fix\n    run: [touch, ok]\n",
    );
    s.mcflow(&["run", "gate.yaml"]).assert_code(1);
    let failed = s.runs()[0].clone();
    s.mcflow(&["run", "fix.yaml"]).success();
    s.mcflow(&["resume", "--last"])
        .success()
        .stderr_has(&format!("resuming run {failed} (gate, failed)"));
    s.mcflow(&["resume", "--last"])
        .assert_code(3)
        .stderr_has("every run in")
        .stderr_has("already succeeded");
}
