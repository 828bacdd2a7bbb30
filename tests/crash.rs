//! Crashes and interrupts through the real binary: kill -9 in the middle of a run, a torn or corrupt journal, Ctrl-C (SIGINT) with its process tree,
//! and a step's timeout.
//!
//! Then the crash harness: a 50-step workflow (30 `run` steps that append their id to a side
//! file, 10 server-side applies of ConfigMaps, 5 label patches and 5 watches on two simulated
//! clusters) is killed with SIGKILL at seeded random points, then `mcflow resume --last` is
//! run until it completes (a resume is itself killed at random too). Checked after every
//! kill and at the end:
//!
//! - the journal parses with the reader `resume` uses (a torn last line is tolerated);
//! - no step that had a `step_succeeded` event in the journal at a kill was started again
//!   afterwards (journal; a wait only reads, and a resume runs it again by design), and no such `run` step appended to the side file again (what the
//!   step itself did); a step in flight at the kill may run again (at-least-once);
//! - the run ends `succeeded` with every step (but the waits) succeeded exactly once, every `run` step's id is
//!   in the side file, and the clusters hold exactly the expected ConfigMaps and labels.
//!
//! Sizes: `MCFLOW_CRASH_TRIALS` trials (default 10; `just soak` runs 100). `MCFLOW_SEED`
//! replays a seed. The same harness runs with the kube state store (the journal in a namespace
//! of the first cluster, 1 s Leases, resumes with `--wait-lock`): `MCFLOW_CRASH_KUBE_TRIALS`
//! trials (default 3).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mcflow::journal::EventKind;
use mcflow_sim::Simulator;
use nix::sys::signal::Signal;
use rand::Rng;
use support::{
    Workspace, clusters, env_usize, exit_code, exit_or, kill_9, process_gone, seeded, signal,
    wait_for_file, wait_until,
};

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
    let s = Workspace::new();
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
    s.mcflow(&["resume", "--last"]).success();
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
fn failed_run(s: &Workspace) {
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
    s.mcflow(&["run", "w.yaml"]).assert_code(1);
}

#[test]
fn a_torn_last_line_is_tolerated_with_a_warning() {
    let s = Workspace::new();
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

    let out = s.mcflow(&["show", "--last"]);
    out.success();
    assert!(out.stdout.contains("cut short"), "{}", out.stdout);

    s.touch("release");
    let out = s.mcflow(&["resume", "--last"]);
    out.success();
    let stderr = &out.stderr;
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
    s.mcflow(&["show", "--last"]).success();
    s.mcflow(&["runs"]).success();
}

#[test]
fn a_corrupt_middle_line_is_an_error_naming_file_and_line() {
    let s = Workspace::new();
    failed_run(&s);
    let journal = s.journal_path();
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "this is not an event";
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();

    let at = format!("{}:3:", journal.display());
    for args in [&["resume", "--last"][..], &["show", "--last"], &["runs"]] {
        let out = s.mcflow(args);
        out.assert_code(3);
        let stderr = &out.stderr;
        assert!(stderr.contains(&at), "{args:?}: {stderr}");
        assert!(stderr.contains("corrupt"), "{args:?}: {stderr}");
    }
    assert_eq!(s.count("side", "first"), 1, "nothing ran");
}

#[test]
fn ctrl_c_kills_the_step_tree_records_interrupted_and_exits_130() {
    let s = Workspace::new();
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
    s.mcflow(&["resume", "--last"]).success();
    for step in ["first", "long", "third"] {
        assert_eq!(s.count("side", step), 1, "{step}");
    }
}

#[test]
fn a_timeout_kills_the_step_and_fails_it() {
    let s = Workspace::new();
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
    let out = s.mcflow(&["run", "w.yaml"]);
    out.assert_code(1);
    let stdout = &out.stdout;
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

/// Where the trial's runs are kept: the state directory, or the kube store (a namespace of
/// the first cluster), read back through the library's own store.
enum Journals {
    Local,
    Kube(mcflow::state::Store),
}

impl Journals {
    fn kube(sim: &Simulator, ns: &str) -> Journals {
        let location = mcflow::state::StateLocation::Kube {
            context: CLUSTERS[0].to_string(),
            namespace: ns.to_string(),
        };
        let store = mcflow::state::Store::open(&location, Some(sim.kubeconfig_path()))
            .expect("the kube store");
        Journals::Kube(store)
    }

    /// How far the newest run's journal is: its lines (local) or events (kube).
    fn progress(&self, world: &Workspace) -> usize {
        match self {
            Journals::Local => world
                .newest_journal()
                .and_then(|p| std::fs::read(p).ok())
                .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count()),
            Journals::Kube(_) => self.read(world).map_or(0, |r| r.events.len()),
        }
    }

    fn read(&self, world: &Workspace) -> Option<mcflow::journal::JournalRead> {
        match self {
            Journals::Local => world.journal_read(),
            Journals::Kube(store) => store.read(&store.last().ok()?).ok(),
        }
    }

    fn runs(&self, world: &Workspace) -> usize {
        match self {
            Journals::Local => world.runs().len(),
            Journals::Kube(store) => store.list().expect("runs").len(),
        }
    }
}

/// The processes with the newest run's lock file open: pid, command line, working directory.
fn lock_holders(world: &Workspace) -> Vec<String> {
    let Some(lock) = world.newest_journal().map(|j| j.with_file_name("lock")) else {
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
fn trial(sim: &Simulator, n: usize, rng: &mut impl Rng, kube: bool) -> TrialReport {
    let ns = format!("trial-{n}{}", if kube { "-kube" } else { "" });
    for c in CLUSTERS {
        sim.cluster(c)
            .apply_yaml(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
            ))
            .expect("a namespace");
    }
    let mut world = Workspace::new()
        .no_color()
        .kubeconfig(sim.kubeconfig_path());
    let journals = if kube {
        let store_ns = format!("{ns}-state");
        sim.cluster(CLUSTERS[0])
            .apply_yaml(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {store_ns}}}\n"
            ))
            .expect("the store's namespace");
        world = world
            .env("MCFLOW_STATE", format!("kube:{}/{store_ns}", CLUSTERS[0]))
            .env("MCFLOW_LEASE_DURATION", "1s");
        Journals::kube(sim, &store_ns)
    } else {
        Journals::Local
    };
    let newlines = |w: &Workspace| journals.progress(w);
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
                let read = journals.read(&world).expect("a journal after the kill");
                snapshots.push(Snapshot {
                    done: succeeded(&read.events),
                    events: read.events.len(),
                    side_lines: world.lines("side").len(),
                });
                // Killed after `run_finished: succeeded` was written: there is nothing to
                // resume (and `resume` says so, exit 3).
                if read.events.last().is_some_and(|e| {
                    matches!(&e.kind, EventKind::RunFinished { status, .. } if status.to_string() == "succeeded")
                }) {
                    let out = world.mcflow(&["resume", "--last", "--wait-lock", "60s"]);
                    out.assert_code(3);
                    assert!(out.stderr.contains("already succeeded"), "{}", out.stderr);
                    break;
                }
            }
        }
        // The kube store's Lease outlives a SIGKILLed holder for its duration: queue for it.
        args = vec!["resume", "--last", "--wait-lock", "60s"];
        // A resume is killed too, now and then, at most twice per trial.
        kill_at = if snapshots.len() < 3 && rng.random_bool(0.3) {
            rng.random_range(1..=STEPS)
        } else {
            usize::MAX
        };
    }

    // Only one run: resumes append to it.
    assert_eq!(journals.runs(&world), 1, "trial {n}");
    let read = journals.read(&world).expect("the journal");
    let events = &read.events;
    let side = world.lines("side");
    for (k, snap) in snapshots.iter().enumerate() {
        for e in &events[snap.events..] {
            // A wait only reads: a resume runs it again by design (issue 15).
            if let EventKind::StepStarted { step, .. } = &e.kind
                && !step.starts_with("wait_")
            {
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
        if matches!(step(i), Step::Wait { .. }) {
            assert!(times.get(&id).is_some_and(|t| *t >= 1), "trial {n}: {id}");
            continue;
        }
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
    let sim = clusters::bare(dir.path(), &CLUSTERS);
    let start = Instant::now();
    let mut kills = 0;
    for n in 0..trials {
        let report = trial(&sim, n, &mut rng, false);
        kills += report.kills;
    }
    println!(
        "crash harness: {trials} trials, {kills} SIGKILLs, every resume completed, seed {seed}, {:.1?}",
        start.elapsed()
    );
    assert!(kills >= trials, "most trials must kill at least once");
}

#[test]
fn kill_9_at_random_points_with_the_kube_store_then_resume_completes() {
    let trials = env_usize("MCFLOW_CRASH_KUBE_TRIALS", 3);
    let (seed, mut rng) = seeded("crash harness, kube store", 0xC8A5_4016);
    let dir = tempfile::tempdir().unwrap();
    let sim = clusters::bare(dir.path(), &CLUSTERS);
    let start = Instant::now();
    let mut kills = 0;
    for n in 0..trials {
        kills += trial(&sim, n, &mut rng, true).kills;
    }
    println!(
        "crash harness (kube store): {trials} trials, {kills} SIGKILLs, every resume completed, seed {seed}, {:.1?}",
        start.elapsed()
    );
    assert!(kills >= trials, "most trials must kill at least once");
}
