//! How many fdatasyncs a run pays for its journal (docs/RELIABILITY.md, "When the journal
//! reaches the disk"): one per step of a sequential run, starts riding on the next end, never
//! more than one per step when steps run in parallel (their ends share fsyncs), and none for
//! the end of a read, which a resume runs again anyway.
//!
//! The count is the writer's own counter, logged at `-vv` when the journal closes.

mod support;

use support::Workspace;

/// The `fsyncs=` of the "journal closed" debug line.
fn fsyncs(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("journal closed"))
        .unwrap_or_else(|| panic!("no `journal closed` line in:\n{stderr}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("fsyncs="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fsyncs= in {line}"))
}

fn workflow(steps: usize, parallel: bool) -> String {
    let mut y = String::from("name: fsyncs\nsteps:\n");
    for i in 0..steps {
        y.push_str(&format!("  - id: s{i}\n    run: [\"true\"]\n"));
        if parallel {
            y.push_str("    needs: []\n");
        }
    }
    y
}

#[test]
fn a_sequential_run_pays_one_fsync_per_step() {
    let w = Workspace::new().no_color();
    w.write("w.yaml", &workflow(10, false));
    let out = w.mcflow(&["-vv", "run", "w.yaml"]);
    out.success();
    assert_eq!(w.events("step_succeeded", None).len(), 10);
    // Each step's end (with the next step's start in the same write), the last one shared
    // with `run_finished`; `run_started` and the first start ride along.
    assert_eq!(fsyncs(&out.stderr), 10, "{}", out.stderr);
}

#[test]
fn parallel_steps_pay_at_most_one_fsync_per_step() {
    let w = Workspace::new().no_color();
    w.write("w.yaml", &workflow(10, true));
    let out = w.mcflow(&["-vv", "run", "--max-parallel", "10", "w.yaml"]);
    out.success();
    assert_eq!(w.events("step_succeeded", None).len(), 10);
    let n = fsyncs(&out.stderr);
    println!("10 parallel steps: {n} fsyncs");
    assert!((1..=10).contains(&n), "{n} fsyncs for 10 steps");
}

#[test]
fn a_resume_with_every_step_done_pays_one_fsync() {
    let w = Workspace::new().no_color();
    w.write(
        "w.yaml",
        "name: r\nsteps:\n  - id: a\n    run: [\"true\"]\n  - id: b\n    run: [sh, -c, 'test -e ok']\n",
    );
    w.mcflow(&["run", "w.yaml"]).assert_code(1);
    w.touch("ok");
    let out = w.mcflow(&["-vv", "resume", "--last"]);
    out.success();
    // `run_resumed`, `a` reused and `b` started are written; `b`'s end and `run_finished` share
    // one fsync.
    assert_eq!(fsyncs(&out.stderr), 1, "{}", out.stderr);
}

/// Reads (a step marked `read_only`, `assert`, `print`) run again on every resume, so their
/// ends are not waited for: a chain of ten reads and a write pays the write's fsync, shared
/// with `run_finished`. A resume after a crash before that fsync runs the reads again (as it
/// always does) and the write once more (at-least-once, as for any step in flight).
#[test]
fn the_ends_of_reads_pay_no_fsync_of_their_own() {
    let w = Workspace::new().no_color();
    let mut y = String::from("name: reads\nsteps:\n");
    for i in 0..5 {
        y.push_str(&format!(
            "  - id: r{i}\n    run: [\"true\"]\n    read_only: true\n  - id: a{i}\n    assert: {{ that: \"true\" }}\n"
        ));
    }
    y.push_str("  - id: write\n    run: [\"true\"]\n");
    w.write("w.yaml", &y);
    let out = w.mcflow(&["-vv", "run", "w.yaml"]);
    out.success();
    assert_eq!(w.events("step_succeeded", None).len(), 11);
    assert_eq!(fsyncs(&out.stderr), 1, "{}", out.stderr);
    // Nothing is lost to a process that ends: every end is in the journal.
    let ends: Vec<String> = w
        .events("step_succeeded", None)
        .iter()
        .map(|e| e["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ends.first().map(String::as_str), Some("r0"));
    assert_eq!(ends.last().map(String::as_str), Some("write"));
}
