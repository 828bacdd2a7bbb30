//! A reader that goes away (`mcflow … | head`) ends mcflow's output quietly: no panic, and the
//! command's own exit code (the run still runs to its end and is journaled).

mod support;

use std::process::Stdio;

use support::Workspace;

/// Runs `mcflow args` with its stdout a pipe whose reading end is already closed.
fn with_closed_stdout(s: &Workspace, args: &[&str]) -> (i32, String) {
    let mut cmd = s.command(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("mcflow starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("mcflow ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_output_quietly_with_the_commands_own_exit_code() {
    let s = Workspace::new();
    s.write(
        "w.yaml",
        "name: w\nsteps:\n  - id: a\n    run: /bin/true\n  - id: b\n    print: done\n",
    );
    for (args, code) in [
        (&["run", "w.yaml", "-o", "plain"][..], 0),
        (&["run", "w.yaml", "-o", "json"][..], 0),
        (&["runs"][..], 0),
        (&["show", "--last"][..], 0),
        (&["runs", "-o", "json"][..], 0),
        (&["schema"][..], 0),
        (&["completions", "bash"][..], 0),
        (&["plan", "w.yaml"][..], 0),
        (&["graph", "w.yaml"][..], 0),
    ] {
        let (got, stderr) = with_closed_stdout(&s, args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(got, code, "{args:?}: {stderr}");
    }
    // The runs ran to their end although nobody read their output.
    let finished = s.events("run_finished", None);
    assert_eq!(finished.len(), 1, "the newest journal has its run_finished");
    assert_eq!(finished[0]["status"], "succeeded");
}
