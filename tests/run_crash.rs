//! Crashes and interrupts through the real binary: kill -9 in the middle of a run, a torn or
//! corrupt journal, Ctrl-C (SIGINT) with its process tree, and a step's timeout.

mod run_common;

use nix::sys::signal::Signal;
use run_common::{Scenario, exit_code, process_gone, signal, texts, wait_for_file, wait_until};

/// `first` → `second` (writes its pid, waits for `release`) → `third`; each appends its id to
/// `side` when it is done.
fn three_steps() -> String {
    format!(
        r#"name: crashy
steps:
  - id: first
    run: [sh, -c, "echo first >> side"]
  - id: second
    run: [sh, -c, 'echo $$ > second.pid; {}; echo second >> side']
  - id: third
    run: [sh, -c, "echo third >> side"]
"#,
        wait_for_file("release")
    )
}

#[test]
fn kill_9_mid_run_then_resume_completes_without_running_a_step_twice() {
    let s = Scenario::new();
    s.write("w.yaml", &three_steps());
    let mut run = s.spawn("run", &["run", "w.yaml"]);
    wait_until("`second` to start", || {
        s.journal_has("step_started", "second", 1)
            && std::fs::read_to_string(s.file("second.pid")).is_ok_and(|t| t.ends_with('\n'))
    });
    run.kill().expect("SIGKILL mcflow");
    run.wait().expect("reap mcflow");

    // No end for the run or for `second`: it was in flight.
    assert!(s.events("run_finished", None).is_empty());
    assert!(s.events("step_succeeded", Some("second")).is_empty());
    // A crash takes the whole machine's processes with it; here the step's process group is
    // orphaned, so end it as the crash would have.
    let orphan = s.pid_in("second.pid");
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(orphan), Signal::SIGKILL);
    wait_until("the orphaned step to end", || process_gone(orphan));

    s.touch("release");
    s.mcflow(&["resume", "--last"]).assert().success();
    for step in ["first", "second", "third"] {
        assert_eq!(
            s.count("side", step),
            1,
            "{step} ran {} times",
            s.count("side", step)
        );
    }
    assert_eq!(s.events("step_started", Some("first")).len(), 1);
    assert_eq!(s.events("step_reused", Some("first")).len(), 1);
    assert_eq!(
        s.events("step_started", Some("second")).len(),
        2,
        "in flight: runs again"
    );
    assert_eq!(s.events("run_finished", None)[0]["status"], "succeeded");
}

/// A run that fails at `second` (no `release` → exit 1 at once), ready to be resumed.
fn failed_run(s: &Scenario) {
    s.write(
        "w.yaml",
        r#"name: torn
steps:
  - id: first
    run: [sh, -c, "echo first >> side"]
  - id: second
    run: [sh, -c, '[ -e release ] || exit 1; echo second >> side']
"#,
    );
    s.mcflow(&["run", "w.yaml"]).assert().code(1);
}

#[test]
fn a_torn_last_line_is_tolerated_with_a_warning() {
    let s = Scenario::new();
    failed_run(&s);
    let journal = s.journal_path();
    let text = std::fs::read_to_string(&journal).unwrap();
    let complete_lines = text.lines().count();
    // Half of a real event line, no newline: a crash in the middle of a write.
    let line = text.lines().nth(1).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut f, &line.as_bytes()[..line.len() / 2]).unwrap();
    drop(f);

    let out = s
        .mcflow(&["show", "--last"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(texts(&out).0.contains("cut short"), "{}", texts(&out).0);

    s.touch("release");
    let out = s
        .mcflow(&["resume", "--last"])
        .assert()
        .success()
        .get_output()
        .clone();
    let (_, stderr) = texts(&out);
    assert!(
        stderr.contains("warning") && stderr.contains("cut short"),
        "{stderr}"
    );
    assert!(stderr.contains("journal.jsonl"), "{stderr}");
    assert_eq!(s.count("side", "first"), 1);
    assert_eq!(s.count("side", "second"), 1);

    // The torn line was ended, so the events after it are whole lines the next reader accepts.
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.lines().count() > complete_lines + 1);
    assert!(
        text.lines()
            .skip(complete_lines + 1)
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    s.mcflow(&["show", "--last"]).assert().success();
    s.mcflow(&["runs"]).assert().success();
}

#[test]
fn a_corrupt_middle_line_is_an_error_naming_file_and_line() {
    let s = Scenario::new();
    failed_run(&s);
    let journal = s.journal_path();
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "this is not an event";
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();

    let at = format!("{}:3:", journal.display());
    for args in [&["resume", "--last"][..], &["show", "--last"], &["runs"]] {
        let out = s.mcflow(args).assert().code(3).get_output().clone();
        let (_, stderr) = texts(&out);
        assert!(stderr.contains(&at), "{args:?}: {stderr}");
        assert!(stderr.contains("corrupt"), "{args:?}: {stderr}");
    }
    assert_eq!(s.count("side", "first"), 1, "nothing ran");
}

#[test]
fn ctrl_c_kills_the_step_tree_records_interrupted_and_exits_130() {
    let s = Scenario::new();
    // `long` starts a grandchild and waits for it, unless `fast` exists (the resume).
    s.write(
        "w.yaml",
        r#"name: interrupted
steps:
  - id: first
    run: [sh, -c, "echo first >> side"]
  - id: long
    run: [sh, -c, '[ -e fast ] && { echo long >> side; exit 0; }; echo $$ > child.pid; sleep 30 & echo $! > grandchild.pid; wait']
  - id: third
    run: [sh, -c, "echo third >> side"]
"#,
    );
    let mut run = s.spawn("run", &["run", "w.yaml"]);
    wait_until("`long` to start its grandchild", || {
        std::fs::read_to_string(s.file("grandchild.pid")).is_ok_and(|t| t.ends_with('\n'))
    });
    let (child, grandchild) = (s.pid_in("child.pid"), s.pid_in("grandchild.pid"));
    assert!(!process_gone(grandchild));

    signal(run.id(), Signal::SIGINT);
    assert_eq!(exit_code(&mut run), 130, "{:?}", s.output_of("run"));
    let journal = s.journal();
    let last = journal.last().unwrap();
    assert_eq!(last["event"], "run_finished", "{last}");
    assert_eq!(last["status"], "interrupted", "{last}");
    assert!(s.events("step_succeeded", Some("long")).is_empty());
    wait_until("the step's child to be gone", || process_gone(child));
    wait_until("the step's grandchild to be gone", || {
        process_gone(grandchild)
    });
    let (stdout, _) = s.output_of("run");
    assert!(stdout.contains("interrupted"), "{stdout}");

    s.touch("fast");
    s.mcflow(&["resume", "--last"]).assert().success();
    for step in ["first", "long", "third"] {
        assert_eq!(s.count("side", step), 1, "{step}");
    }
}

#[test]
fn a_timeout_kills_the_step_and_fails_it() {
    let s = Scenario::new();
    s.write(
        "w.yaml",
        r#"name: slow
steps:
  - id: slow
    run: [sh, -c, 'echo $$ > slow.pid; exec sleep 30']
    timeout: 500ms
  - id: after
    run: [sh, -c, "echo after >> side"]
"#,
    );
    let out = s
        .mcflow(&["run", "w.yaml"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let (stdout, _) = texts(&out);
    assert!(stdout.contains("timed out after 500ms"), "{stdout}");
    let failed = s.events("step_failed", Some("slow"));
    assert!(failed[0]["error"].as_str().unwrap().contains("timed out"));
    // Far sooner than the 30 s the program wanted (a loose bound: this is not a benchmark).
    assert!(
        failed[0]["duration_ms"].as_u64().unwrap() < 10_000,
        "{failed:?}"
    );
    let pid = s.pid_in("slow.pid");
    wait_until("the timed-out process to be killed", || process_gone(pid));
    assert_eq!(s.count("side", "after"), 0);
}
