//! What a run prints, through the real binary: the live display on a terminal (a tmux
//! pseudo-terminal: spinner line with the step, attempt n/m and the retry countdown, the
//! overall count, the verdict, colour unless NO_COLOR; tests/terminal_display.rs has its
//! screens), plain timestamped lines through a pipe,
//! `--output json` event lines, `-q` and `-v`.

mod support;

use support::terminal::{Tmux, pane_command};
use support::{Workspace, fail_until, wait_for_file};

/// A workflow whose second step fails once, waits 2 s to retry, then waits for file `go`.
fn retrying_workflow() -> String {
    format!(
        r#"name: display
steps:
  - id: quick
    run: [sh, -c, "true"]
  - id: flaky_wait
    run: [sh, -c, '{}; {}']
    retry: {{ attempts: 3, delay: 2s, backoff: 1.0, jitter: 0.0 }}
"#,
        fail_until("counter", 2),
        wait_for_file("go")
    )
}

const SPINNER: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ";

#[test]
fn the_terminal_display_shows_spinners_retries_and_a_summary() {
    let s = Workspace::new();
    s.write("w.yaml", &retrying_workflow());
    let Some(tmux) = Tmux::start(
        s.path(),
        (100, 40),
        &pane_command(&s, "-u NO_COLOR", "run w.yaml"),
    ) else {
        println!("skipped: tmux is not installed");
        return;
    };

    // During the retry wait: the step's line with its attempt and the countdown, the failure
    // under it.
    let screen = tmux.wait_for_screen("the retry countdown", |t| t.contains("retry in"));
    let mut lines = screen.lines().skip_while(|l| !l.contains("retry in"));
    let line = lines.next().unwrap().to_string();
    assert!(line.contains("flaky_wait"), "{screen}");
    assert!(line.contains("attempt 1/3 failed, retry in"), "{screen}");
    assert_eq!(
        lines.next().map(str::trim),
        Some("sh exited with 1: attempt 1 fails"),
        "{screen}"
    );
    // `quick` is done: folded into the overall line's count.
    assert!(screen.contains("display · 1/2 done"), "{screen}");
    assert!(!screen.contains("quick"), "{screen}");
    assert!(
        SPINNER.contains(line.trim_start().chars().next().unwrap()),
        "no spinner: {line}"
    );

    // The second attempt runs (and waits for `go`).
    let screen = tmux.wait_for_screen("attempt 2/3", |t| {
        t.lines()
            .any(|l| l.contains("flaky_wait") && l.contains("attempt 2/3") && !l.contains("retry"))
    });
    assert!(!screen.contains("EXIT="), "{screen}");
    s.touch("go");

    let screen = tmux.wait_for_screen("the run to end", |t| t.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    // Every step succeeded: no table, the verdict counts them.
    assert!(!screen.contains("STEP"), "{screen}");
    assert!(screen.contains("succeeded in"), "{screen}");
    assert!(screen.contains(": 2 steps succeeded"), "{screen}");
    // No spinner is left behind.
    assert!(
        !screen.lines().any(|l| l.contains("attempt 2/3")),
        "{screen}"
    );
    // Colour on a terminal.
    assert!(
        tmux.screen(true).contains("\x1b[32m"),
        "no colour: {:?}",
        tmux.screen(true)
    );
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        "name: plain\nsteps:\n  - { id: ok, run: [sh, -c, 'true'] }\n  - { id: bad, run: [sh, -c, 'exit 1'], continue_on_error: true }\n",
    );
    let Some(tmux) = Tmux::start(
        s.path(),
        (100, 40),
        &pane_command(&s, "NO_COLOR=1", "run w.yaml"),
    ) else {
        println!("skipped: tmux is not installed");
        return;
    };
    let screen = tmux.wait_for_screen("the run to end", |t| t.contains("EXIT="));
    assert!(
        screen.contains("EXIT=0") && screen.contains("✗ bad"),
        "{screen}"
    );
    let raw = tmux.screen(true);
    assert!(
        !raw.contains('\x1b'),
        "escape sequences with NO_COLOR: {raw:?}"
    );
}

fn plain_line(line: &str) -> Option<&str> {
    // `2026-11-25T14:22:42Z ▶ step`
    let re = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (.*)$").unwrap();
    re.captures(line).map(|c| c.get(1).unwrap().as_str())
}

#[test]
fn plain_lines_through_a_pipe() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        &retrying_workflow().replace("delay: 2s", "delay: 10ms"),
    );
    s.touch("go");
    for args in [
        &["run", "w.yaml"][..],
        &["run", "w.yaml", "--output", "plain"],
    ] {
        std::fs::remove_file(s.file("counter")).ok();
        let out = s.mcflow(args);
        out.success();
        let stdout = &out.stdout;
        assert!(!stdout.contains('\x1b'), "{stdout:?}");
        let events: Vec<&str> = stdout.lines().map_while(plain_line).collect();
        assert!(
            events[0].starts_with("run ") && events[0].ends_with("workflow display"),
            "{stdout}"
        );
        assert!(events.contains(&"▶ quick"), "{stdout}");
        assert!(
            events.iter().any(|l| l.starts_with("✓ quick (")),
            "{stdout}"
        );
        assert!(events.contains(&"▶ flaky_wait (attempt 1/3)"), "{stdout}");
        assert!(
            events.iter().any(|l| l.starts_with(
                "↻ flaky_wait attempt 1 failed: sh exited with 1: attempt 1 fails; retrying in"
            )),
            "{stdout}"
        );
        assert!(events.contains(&"▶ flaky_wait (attempt 2/3)"), "{stdout}");
        assert!(
            events.iter().any(|l| l.starts_with("✓ flaky_wait (")),
            "{stdout}"
        );
        // Then the verdict (no table: every step succeeded).
        let rest: Vec<&str> = stdout.lines().skip(events.len()).collect();
        assert!(
            rest.iter().any(|l| l.ends_with(": 2 steps succeeded")),
            "{stdout}"
        );
        assert!(!rest.iter().any(|l| l.starts_with("STEP")), "{stdout}");
    }
}

#[test]
fn json_output_is_one_event_per_line_the_journal_s_schema() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        &retrying_workflow().replace("delay: 2s", "delay: 10ms"),
    );
    s.touch("go");
    let out = s.mcflow(&["run", "w.yaml", "--output", "json"]);
    out.success();
    let stdout = &out.stdout;
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(|l| l["event"].is_string()), "{stdout}");
    let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    for kind in [
        "run_started",
        "step_started",
        "attempt_failed",
        "step_succeeded",
        "run_finished",
    ] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"summary"));
    // The events are the journal's, line for line.
    assert_eq!(lines[..lines.len() - 1], s.journal()[..]);
    let summary = lines.last().unwrap();
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["resumed"], false, "{summary}");
    assert_eq!(summary["steps"][1]["attempts"], 2, "{summary}");

    // A failed run too, and show / runs.
    s.write(
        "bad.yaml",
        "name: bad\nsteps:\n  - { id: bad, run: [sh, -c, 'exit 1'] }\n",
    );
    let out = s.mcflow(&["run", "bad.yaml", "-o", "json"]);
    out.assert_code(1);
    for line in out.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["event"].is_string(), "{line}");
    }
}

#[test]
fn quiet_prints_only_failures_and_the_summary_and_verbose_the_whole_error() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: loud
steps:
  - { id: fine, run: [sh, -c, "true"] }
  - { id: broken, run: [sh, -c, "echo first line >&2; echo second line >&2; exit 1"] }
"#,
    );
    let out = s.mcflow(&["run", "w.yaml", "-q"]);
    out.assert_code(1);
    let stdout = &out.stdout;
    assert!(!stdout.contains("▶"), "{stdout}");
    assert!(!stdout.contains("✓ fine"), "{stdout}");
    assert!(
        stdout.contains("✗ broken: sh exited with 1: second line"),
        "{stdout}"
    );
    assert!(stdout.contains("STEP"), "{stdout}");

    let out = s.mcflow(&["run", "w.yaml"]);
    out.assert_code(1);
    let stdout = &out.stdout;
    assert!(stdout.contains("▶ fine"), "{stdout}");
    let event_lines: Vec<&str> = stdout.lines().map_while(plain_line).collect();
    assert!(
        !event_lines.iter().any(|l| l.contains("first line")),
        "{stdout}"
    );

    let out = s.mcflow(&["run", "w.yaml", "-v"]);
    out.assert_code(1);
    let stdout = &out.stdout;
    assert!(stdout.contains("first line\nsecond line"), "{stdout}");
}

/// `-vv` without a terminal writes its log lines (here a kube client that cannot connect)
/// without ANSI colour codes.
#[test]
fn verbose_logs_without_a_terminal_have_no_colour_codes() {
    let s = Workspace::new();
    let kubeconfig = s.write(
        "kc.yaml",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: { server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true }\nusers:\n- name: u\n  user: { token: abc }\ncontexts:\n- name: c\n  context: { cluster: c, user: u }\ncurrent-context: c\n",
    );
    s.write(
        "w.yaml",
        "name: w\nsteps:\n  - id: a\n    timeout: 2s\n    kube: { context: c, get: { kind: ConfigMap, namespace: default, name: x } }\n",
    );
    let s = s.kubeconfig(&kubeconfig);
    let out = s.mcflow(&["-vv", "run", "w.yaml", "-o", "plain"]);
    out.assert_code(1);
    assert!(out.stderr.contains("DEBUG"), "-vv logs: {}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    assert!(!out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
}

/// Plain output shows a `print` step's report once (at the end, not also under its line), and
/// `show` names each step and says an error that every attempt ended with once.
#[test]
fn the_report_is_shown_once_and_show_names_steps() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        r#"name: named
steps:
  - id: report
    name: The report
    print: "CHECK  RESULT\none    ok\n"
  - id: flaky
    name: Fails every time
    needs: [report]
    retry: { attempts: 3, delay: 10ms }
    run: [sh, -c, "echo 'Error: nope' >&2; exit 1"]
"#,
    );
    let out = s.mcflow(&["run", "w.yaml", "-o", "plain"]);
    out.assert_code(1);
    assert_eq!(
        out.stdout.matches("CHECK  RESULT").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("✓ report ("), "{}", out.stdout);

    let show = s.mcflow(&["show", "--last"]);
    show.success();
    let lines: Vec<&str> = show.stdout.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.starts_with("flaky "))
        .unwrap_or_else(|| panic!("{}", show.stdout));
    assert_eq!(lines[row + 1].trim(), "Fails every time", "{}", show.stdout);
    assert_eq!(
        lines[row + 2].trim(),
        "↳ 3 attempts: sh exited with 1: Error: nope",
        "{}",
        show.stdout
    );
    assert_eq!(
        show.stdout.matches("Error: nope").count(),
        1,
        "{}",
        show.stdout
    );
}
