//! The crash harness: a 50-step workflow (30 `run` steps that append their id to a side file,
//! 10 server-side applies of ConfigMaps, 5 label patches and 5 watches on two simulated
//! clusters) is killed with SIGKILL at seeded random points, then `mcflow resume --last` is
//! run until it completes (a resume is itself killed at random too). Checked after every
//! kill and at the end:
//!
//! - the journal parses with the reader `resume` uses (a torn last line is tolerated);
//! - no step that had a `step_succeeded` event in the journal at a kill was started again
//!   afterwards (journal), and no such `run` step appended to the side file again (what the
//!   step itself did); a step in flight at the kill may run again (at-least-once);
//! - the run ends `succeeded` with every step succeeded exactly once, every `run` step's id is
//!   in the side file, and the clusters hold exactly the expected ConfigMaps and labels.
//!
//! Sizes: `MCFLOW_CRASH_TRIALS` trials (default 10; `just soak` runs 100). `MCFLOW_SEED`
//! replays a seed.

mod reliability_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mcflow::journal::EventKind;
use mcflow_sim::Simulator;
use rand::Rng;
use reliability_common::{World, env_usize, exit_or, kill_9, lines, seeded};

const STEPS: usize = 50;
const CLUSTERS: [&str; 2] = ["one", "two"];

/// What step `i` is.
enum Step {
    Run,
    Apply { cluster: &'static str },
    Wait { cm: usize, cluster: &'static str },
    Label { cm: usize, cluster: &'static str },
}

fn step(i: usize) -> Step {
    let cluster = CLUSTERS[(i / 10) % 2];
    match i % 10 {
        3 | 8 => Step::Apply { cluster },
        4 => Step::Wait { cm: i - 1, cluster },
        9 => Step::Label { cm: i - 1, cluster },
        _ => Step::Run,
    }
}

fn step_id(i: usize) -> String {
    match step(i) {
        Step::Run => format!("r{i}"),
        Step::Apply { .. } => format!("apply_{i}"),
        Step::Wait { .. } => format!("wait_{i}"),
        Step::Label { .. } => format!("label_{i}"),
    }
}

/// The 50-step workflow. Most steps wait for the one above; every 7th starts at once, so
/// some run in parallel with their neighbours.
fn workflow() -> String {
    let mut w = String::from(
        "name: crash50\nparams:\n  ns: { required: true, pattern: '[a-z0-9-]+' }\n\
         defaults:\n  retry: { attempts: 3, delay: 20ms }\n  timeout: 30s\nsteps:\n",
    );
    for i in 0..STEPS {
        let id = step_id(i);
        w.push_str(&format!("  - id: {id}\n"));
        if i % 7 == 6 {
            w.push_str("    needs: []\n");
        }
        match step(i) {
            Step::Run => w.push_str(&format!("    run: [sh, -c, 'echo {id} >> side']\n")),
            Step::Apply { cluster } => w.push_str(&format!(
                "    kube:\n      context: {cluster}\n      apply:\n        manifest: |\n          \
                 apiVersion: v1\n          kind: ConfigMap\n          metadata:\n            \
                 name: cm-{i}\n            namespace: \"{{{{ params.ns }}}}\"\n          \
                 data:\n            step: \"{i}\"\n"
            )),
            Step::Wait { cm, cluster } => w.push_str(&format!(
                "    kube:\n      context: {cluster}\n      wait: {{ kind: ConfigMap, namespace: \"{{{{ params.ns }}}}\", \
                 name: cm-{cm}, for: exists }}\n"
            )),
            Step::Label { cm, cluster } => w.push_str(&format!(
                "    kube:\n      context: {cluster}\n      label:\n        target: {{ kind: ConfigMap, \
                 namespace: \"{{{{ params.ns }}}}\", name: cm-{cm} }}\n        set: {{ mcflow.io/labelled-by: {id} }}\n"
            )),
        }
    }
    w
}

/// What the journal said at one kill: the steps done, and how far the journal and the side
/// file were.
struct Snapshot {
    done: BTreeSet<String>,
    events: usize,
    side_lines: usize,
}

fn succeeded(events: &[mcflow::journal::Event]) -> BTreeSet<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepSucceeded { step, .. } => Some(step.clone()),
            _ => None,
        })
        .collect()
}

fn newlines(world: &World) -> usize {
    world
        .journal_path()
        .and_then(|p| std::fs::read(p).ok())
        .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count())
}

/// The processes with the newest run's lock file open: pid, command line, working directory.
fn lock_holders(world: &World) -> Vec<String> {
    let Some(lock) = world.journal_path().map(|j| j.with_file_name("lock")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().to_string();
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == lock))
        {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            out.push(format!(
                "{pid} {:?} cwd={} stat={stat}",
                String::from_utf8_lossy(&cmd),
                cwd.display()
            ));
        }
    }
    out
}

struct TrialReport {
    kills: usize,
}

/// One trial: run, kill, resume (maybe killed too) until done; then every check.
fn trial(sim: &Simulator, n: usize, rng: &mut impl Rng) -> TrialReport {
    let ns = format!("trial-{n}");
    for c in CLUSTERS {
        sim.cluster(c)
            .apply_yaml(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
            ))
            .expect("a namespace");
    }
    let mut world = World::new();
    world.global = vec![
        "--kubeconfig".into(),
        sim.kubeconfig_path().display().to_string(),
    ];
    world.write("w.yaml", &workflow());
    let set = format!("ns={ns}");

    let mut snapshots: Vec<Snapshot> = Vec::new();
    // A full run journals about 2 lines a step; kill somewhere in the first 100.
    let mut args: Vec<&str> = vec!["run", "w.yaml", "--set", &set];
    let mut kill_at = rng.random_range(1..=2 * STEPS);
    let mut attempt = 0;
    loop {
        attempt += 1;
        assert!(attempt <= 8, "trial {n}: too many attempts");
        let mut child = world.spawn(&format!("attempt{attempt}"), &args);
        let start_lines = newlines(&world);
        let target = start_lines.saturating_add(kill_at);
        let exited = exit_or(&mut child, || newlines(&world) >= target);
        match exited {
            Some(code) => {
                let (out, err) = (
                    world.read(&format!("attempt{attempt}.out")),
                    world.read(&format!("attempt{attempt}.err")),
                );
                assert_eq!(
                    code,
                    0,
                    "trial {n} attempt {attempt}:\n{out}\n{err}\nlock holders: {:?}",
                    lock_holders(&world)
                );
                break;
            }
            None => {
                // Land anywhere inside a step, not only just after a journal line.
                let jitter = rng.random_range(0..15u64);
                if jitter > 0 {
                    std::thread::sleep(Duration::from_millis(jitter));
                }
                kill_9(&mut child, world.path());
                let read = world.journal().expect("a journal after the kill");
                snapshots.push(Snapshot {
                    done: succeeded(&read.events),
                    events: read.events.len(),
                    side_lines: lines(&world.read("side")).len(),
                });
                // Killed after `run_finished: succeeded` was written: there is nothing to
                // resume (and `resume` says so, exit 3).
                if read.events.last().is_some_and(|e| {
                    matches!(&e.kind, EventKind::RunFinished { status, .. } if status.to_string() == "succeeded")
                }) {
                    let out = world.mcflow(&["resume", "--last"]);
                    out.assert_code(3);
                    assert!(out.stderr.contains("already succeeded"), "{}", out.stderr);
                    break;
                }
            }
        }
        args = vec!["resume", "--last"];
        // A resume is killed too, now and then, at most twice per trial.
        kill_at = if snapshots.len() < 3 && rng.random_bool(0.3) {
            rng.random_range(1..=STEPS)
        } else {
            usize::MAX
        };
    }

    // Only one run: resumes append to it.
    assert_eq!(world.runs().len(), 1, "trial {n}");
    let read = world.journal().expect("the journal");
    let events = &read.events;
    let side = lines(&world.read("side"));
    for (k, snap) in snapshots.iter().enumerate() {
        for e in &events[snap.events..] {
            if let EventKind::StepStarted { step, .. } = &e.kind {
                assert!(
                    !snap.done.contains(step),
                    "trial {n}: {step} succeeded before kill {k} and was started again"
                );
            }
        }
        for line in &side[snap.side_lines..] {
            assert!(
                !snap.done.contains(line),
                "trial {n}: {line} succeeded before kill {k} and ran again"
            );
        }
    }
    // Every step succeeded once; every run step did its work at least once.
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        if let EventKind::StepSucceeded { step, .. } = &e.kind {
            *times.entry(step.clone()).or_default() += 1;
        }
    }
    for i in 0..STEPS {
        let id = step_id(i);
        assert_eq!(times.get(&id), Some(&1), "trial {n}: {id}");
        if matches!(step(i), Step::Run) {
            assert!(side.contains(&id), "trial {n}: {id} never ran");
        }
    }
    match &events.last().expect("events").kind {
        EventKind::RunFinished { status, .. } => {
            assert_eq!(status.to_string(), "succeeded", "trial {n}")
        }
        other => panic!("trial {n}: the journal ends with {other:?}"),
    }
    check_clusters(sim, &ns, n);
    TrialReport {
        kills: snapshots.len(),
    }
}

/// Exactly the ConfigMaps the workflow applies, each on its cluster, labelled where a label
/// step targets it.
fn check_clusters(sim: &Simulator, ns: &str, n: usize) {
    let mut expected: BTreeMap<&str, BTreeMap<String, Option<String>>> = BTreeMap::new();
    for i in 0..STEPS {
        if let Step::Apply { cluster } = step(i) {
            let label = matches!(step(i + 1), Step::Label { .. }).then(|| step_id(i + 1));
            expected
                .entry(cluster)
                .or_default()
                .insert(format!("cm-{i}"), label);
        }
    }
    for c in CLUSTERS {
        let objects = sim
            .cluster(c)
            .list("v1", "ConfigMap", Some(ns), "")
            .expect("list ConfigMaps");
        let found: BTreeMap<String, Option<String>> = objects
            .iter()
            .filter(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("cm-"))
            })
            .map(|o| {
                (
                    o["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    o["metadata"]["labels"]["mcflow.io/labelled-by"]
                        .as_str()
                        .map(str::to_string),
                )
            })
            .collect();
        assert_eq!(
            found,
            expected.get(c).cloned().unwrap_or_default(),
            "trial {n}: ConfigMaps on {c}"
        );
    }
}

#[test]
fn kill_9_at_random_points_then_resume_completes_without_repeating_a_succeeded_step() {
    let trials = env_usize("MCFLOW_CRASH_TRIALS", 10);
    let (seed, mut rng) = seeded("crash harness", 0xC8A5_4001);
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::builder()
        .clusters(CLUSTERS)
        .kubeconfig_path(dir.path().join("kubeconfig"))
        .start_blocking()
        .expect("simulator starts");
    let start = Instant::now();
    let mut kills = 0;
    for n in 0..trials {
        let report = trial(&sim, n, &mut rng);
        kills += report.kills;
    }
    println!(
        "crash harness: {trials} trials, {kills} SIGKILLs, every resume completed, seed {seed}, {:.1?}",
        start.elapsed()
    );
    assert!(kills >= trials, "most trials must kill at least once");
}

/// A step that succeeded after reading a dependency that failed with `continue_on_error` runs
/// again on resume when that dependency runs again (what verify's report does: before, the
/// stale report was reused and the run could never resume to success).
#[test]
fn a_step_that_read_a_failed_continue_on_error_step_runs_again_when_it_does() {
    let world = World::new();
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
    let side = lines(&world.read("side"));
    let count = |s: &str| side.iter().filter(|l| *l == s).count();
    assert_eq!(
        (count("check"), count("other"), count("report")),
        (2, 1, 2),
        "check and its reader run again, `other` does not: {side:?}"
    );
}
