//! `finally:` steps: they run once after the main steps whether those succeeded, failed or were
//! interrupted (Ctrl-C, SIGTERM), once per attempt of the run (a resume runs them again), read
//! `run.status` and `run.failed_steps`, are journaled, and never change the main failure's exit
//! code; validation keeps them apart from the main steps.

mod support;

use nix::sys::signal::Signal;
use support::{Workspace, exit_code, signal, wait_for_file, wait_until};

/// A workflow whose `main` step runs `script`, and whose finally step appends
/// `<status> <failed steps>` to `finally.log`.
fn workflow(script: &str, finally_fails: bool) -> String {
    let tail = if finally_fails { "; exit 7" } else { "" };
    format!(
        r#"name: with-finally
steps:
  - id: first
    run: [sh, -c, "echo first >> side"]
  - id: main
    run: [sh, -c, '{script}']
  - id: last
    run: [sh, -c, "echo last >> side"]
finally:
  - id: report
    run: [sh, -c, 'echo "{{{{ run.status }}}} {{{{ run.failed_steps | join(",") }}}}" >> finally.log{tail}']
  - id: after_report
    run: [sh, -c, "echo after >> finally.log"]
"#
    )
}

#[test]
fn finally_runs_after_success_with_the_status() {
    let s = Workspace::new();
    s.write("w.yaml", &workflow("true", false));
    s.mcflow(&["run", "w.yaml"]).success();
    assert_eq!(s.lines("finally.log"), ["succeeded", "after"]);
    assert!(s.journal_has("step_succeeded", "report", 1));
    assert!(s.journal_has("step_succeeded", "after_report", 1));
}

#[test]
fn finally_runs_after_a_failure_and_its_own_failure_keeps_exit_1_and_the_main_error() {
    let s = Workspace::new();
    s.write("w.yaml", &workflow("echo main broke >&2; exit 3", true));
    let out = s.mcflow(&["run", "w.yaml"]);
    out.assert_code(1);
    assert_eq!(s.lines("finally.log"), ["failed main"]);
    // The main failure is still in the summary, beside the finally step's.
    out.stdout_has("main broke");
    let last = s.journal().pop().unwrap();
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(s.events("step_failed", Some("report")).len(), 1);
    // `last` never ran: the main failure stops the main steps, not the finally steps.
    assert_eq!(s.count("side", "last"), 0);
}

#[test]
fn a_failing_finally_step_fails_a_run_whose_main_steps_succeeded() {
    let s = Workspace::new();
    s.write("w.yaml", &workflow("true", true));
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    assert_eq!(s.lines("finally.log"), ["succeeded"]);
}

#[test]
fn finally_runs_after_ctrl_c_and_sigterm_and_the_run_exits_130() {
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let s = Workspace::new();
        s.write(
            "w.yaml",
            &workflow(&format!("touch started; {}", wait_for_file("never")), false),
        );
        let mut run = s.spawn("run", &["run", "w.yaml"]);
        wait_until("`main` to start", || s.file("started").exists());
        signal(run.id(), sig);
        assert_eq!(exit_code(&mut run), 130, "{sig}: {:?}", s.output_of("run"));
        assert_eq!(s.lines("finally.log"), ["interrupted", "after"], "{sig}");
        let last = s.journal().pop().unwrap();
        assert_eq!(last["status"], "interrupted", "{last}");
    }
}

#[test]
fn finally_runs_once_per_attempt_across_resume() {
    let s = Workspace::new();
    s.write("w.yaml", &workflow("[ -e fixed ] || exit 1", false));
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
    s.touch("fixed");
    s.mcflow(&["resume", "--last"]).success();
    assert_eq!(
        s.lines("finally.log"),
        ["failed main", "after", "succeeded", "after"]
    );
    assert_eq!(
        s.count("side", "first"),
        1,
        "the main steps' successes are reused"
    );
    assert_eq!(s.events("step_succeeded", Some("report")).len(), 2);
}

#[test]
fn validation_keeps_finally_steps_apart_from_the_main_steps() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: bad-finally
steps:
  - id: main
    run: [echo, "{{ run.status }}"]
finally:
  - id: main
    run: [echo, hi]
  - id: gather
    needs: [first]
    run: [echo, hi]
  - id: first
    run: [echo, "{{ run.failed_steps }}"]
"#,
    );
    let out = s.mcflow(&["validate", "w.yaml"]);
    out.assert_code(2);
    out.stderr_has("duplicate step id `main`")
        .stderr_has("`run.status` is known only to `finally` steps");
    // `first` is a finally step: needing it is fine; a main step is not.
    s.write(
        "v.yaml",
        r#"name: bad-needs
steps:
  - id: main
    run: [echo, hi]
finally:
  - id: gather
    needs: [main]
    run: [echo, "{{ run.status }}"]
"#,
    );
    s.mcflow(&["validate", "v.yaml"])
        .assert_code(2)
        .stderr_has("finally step `gather` needs main step `main`");
}

#[test]
fn plan_lists_the_finally_steps_after_the_steps() {
    let s = Workspace::new();
    s.write("w.yaml", &workflow("true", false));
    let out = s.mcflow(&["plan", "w.yaml"]);
    out.success();
    let text = &out.stdout;
    let finally = text.find("finally (after the steps").expect(text);
    assert!(text[finally..].contains("report [run]"), "{text}");
    assert!(text[..finally].contains("last [run]"), "{text}");
    let json = s.mcflow(&["plan", "w.yaml", "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["finally"][1]["key"], "after_report");
}

/// A failure that a nested workflow tolerates (`continue_on_error`), like the diagnostics'
/// `multicluster check` in the shipped `finally`, is that workflow's business: the end table
/// lists only the run's own failure, the counts say how many were tolerated, and `-v` lists it.
#[test]
fn a_failure_tolerated_inside_a_finally_workflow_stays_out_of_the_end_table() {
    let s = Workspace::new();
    s.write(
        "gather.yaml",
        r#"name: gather
steps:
  - id: probe
    run: [sh, -c, "echo probe says no >&2; exit 5"]
    continue_on_error: true
  - id: save
    needs: [probe]
    run: [sh, -c, "echo saved >> finally.log"]
"#,
    );
    s.write(
        "w.yaml",
        r#"name: with-diagnostics
steps:
  - id: main
    run: [sh, -c, "echo main broke >&2; exit 3"]
finally:
  - id: gather
    workflow: { path: gather.yaml }
"#,
    );
    let out = s.mcflow(&["run", "w.yaml"]);
    out.assert_code(1);
    assert_eq!(s.lines("finally.log"), ["saved"]);
    let table = out.end_table();
    assert!(
        table.iter().any(|l| l.starts_with("main ")),
        "{}",
        out.stdout
    );
    assert!(
        !table.iter().any(|l| l.starts_with("gather.probe")),
        "{}",
        out.stdout
    );
    out.stdout_has("1 failed, 1 failed (continue_on_error)");
    let all = s.mcflow(&["-v", "show", "--last"]);
    assert!(
        all.stdout
            .lines()
            .any(|l| l.starts_with("gather.probe") && l.contains("failed")),
        "{}",
        all.stdout
    );
}
