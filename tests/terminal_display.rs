//! The live display as a person at an 80-column terminal sees it (a tmux pseudo-terminal), as
//! reviewed screen snapshots (times, run ids and paths normalised): a run that succeeds ends
//! with a short screen, a failure stays on screen with its cause, a long kube wait shows its
//! target, the state last seen and the time left, Ctrl-C leaves no live line behind. And the
//! plain output's "still waiting" line during a long wait.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::json;
use support::clusters::start_blocking;
use support::terminal::{Tmux, pane_command};
use support::{DEADLINE, Workspace, wait_until};

const SIZE: (u16, u16) = (80, 30);

/// The screen with what changes from run to run replaced: run ids, durations, the spinner's
/// frame, the workspace's path; trailing blanks dropped.
fn normalise(screen: &str, ws: &Workspace) -> String {
    let path = ws.path().display().to_string();
    let text = screen.replace(&path, "<ws>");
    let run_id = regex::Regex::new(r"\d{8}-\d{6}-[0-9a-f]{5}").unwrap();
    let text = run_id.replace_all(&text, "<run>");
    // With the spaces before it: a right-aligned duration's padding depends on its width.
    let time =
        regex::Regex::new(r" *\b(\d+h \d\dm|\d+m \d\ds|\d+m \d+s|\d+(\.\d+)?(ms|s))\b").unwrap();
    let text = time.replace_all(&text, " <t>");
    let spinner = regex::Regex::new("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]").unwrap();
    let text = spinner.replace_all(&text, "⠿");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_string() + "\n"
}

fn start(ws: &Workspace, args: &str) -> Option<Tmux> {
    let tmux = Tmux::start(ws.path(), SIZE, &pane_command(ws, "NO_COLOR=1", args));
    if tmux.is_none() {
        println!("skipped: tmux is not installed");
    }
    tmux
}

/// Ten steps and a report: the screen at the end shows the report once and the verdict, not a
/// line per step nor a table of steps that all succeeded.
#[test]
fn a_run_that_succeeds_ends_with_a_short_screen() {
    let ws = Workspace::new();
    let mut steps = String::new();
    for i in 0..10 {
        steps.push_str(&format!(
            "  - {{ id: step{i}, name: Step number {i}, run: [sh, -c, 'true'] }}\n"
        ));
    }
    ws.write(
        "w.yaml",
        &format!(
            "name: tidy\nparams:\n  region: {{ default: eu-west }}\nsteps:\n{steps}  - id: report\n    needs: [step9]\n    print: |\n      CHECK   RESULT\n      one     ok\n      two     ok\n"
        ),
    );
    let Some(tmux) = start(&ws, "run w.yaml") else {
        return;
    };
    let screen = tmux.wait_for_screen("the run to end", |t| t.contains("EXIT="));
    insta::assert_snapshot!("success", normalise(&screen, &ws));
    assert_eq!(screen.matches("CHECK   RESULT").count(), 1, "{screen}");
}

/// A step that fails: its cause stays on screen during the run and in the table at the end,
/// which lists only the steps that did not succeed.
#[test]
fn a_failure_stays_on_screen_with_its_cause() {
    let ws = Workspace::new();
    ws.write(
        "w.yaml",
        r#"name: breaks
steps:
  - { id: fine, name: A step that works, run: [sh, -c, "true"] }
  - id: broken
    name: A step whose program fails
    needs: [fine]
    run: [sh, -c, "echo 'Error: services \"linkerd-gateway\" not found, so the link cannot be made' >&2; exit 1"]
  - { id: after, needs: [broken], run: [sh, -c, "true"] }
  - { id: aside, name: Runs beside it, needs: [fine], run: [sh, -c, "true"] }
"#,
    );
    let Some(tmux) = start(&ws, "run w.yaml") else {
        return;
    };
    let screen = tmux.wait_for_screen("the run to end", |t| t.contains("EXIT="));
    insta::assert_snapshot!("failure", normalise(&screen, &ws));
    assert!(screen.contains("EXIT=1"), "{screen}");
    assert!(screen.lines().all(|l| console_width(l) <= 80), "{screen}");
}

fn console_width(line: &str) -> usize {
    line.chars().count()
}

/// A workflow that waits (10 minutes at most) for ConfigMap `gateway` on `hub` to say ready.
const WAITS: &str = r#"name: rollout
steps:
  - { id: prepare, name: Prepare the cluster, run: [sh, -c, "true"] }
  - id: gateway
    name: Wait for the gateway's configuration
    needs: [prepare]
    timeout: 10m
    kube:
      context: hub
      wait: { kind: ConfigMap, namespace: default, name: gateway, for: { field: { path: data.ready, equals: "yes" } } }
"#;

fn gateway(ready: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "gateway", "namespace": "default"}, "data": {"ready": ready}})
}

/// A long kube wait: its line names the object, the state last seen and the time left, and
/// follows the object as it changes.
#[test]
fn a_long_wait_shows_its_target_the_state_last_seen_and_the_time_left() {
    let ws = Workspace::new();
    let sim = start_blocking(ws.path(), &["hub"]);
    let hub = sim.cluster("hub");
    hub.apply(gateway("no")).expect("configmap");
    ws.write("w.yaml", WAITS);
    let kubeconfig = sim.kubeconfig_path().display().to_string();
    let Some(tmux) = start(&ws, &format!("--kubeconfig '{kubeconfig}' run w.yaml")) else {
        return;
    };
    let screen = tmux.wait_for_screen("the wait's state", |t| {
        t.contains("data.ready is no") && t.contains("left")
    });
    insta::assert_snapshot!("long_wait", normalise(&screen, &ws));
    hub.apply(gateway("later")).expect("configmap");
    tmux.wait_for_screen("the new state", |t| t.contains("data.ready is later"));
    hub.apply(gateway("yes")).expect("configmap");
    let screen = tmux.wait_for_screen("the run to end", |t| t.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(!screen.contains("data.ready is"), "{screen}");
}

/// Ctrl-C during a wait: the run ends interrupted, and no spinner or progress line is left on
/// the screen.
#[test]
fn ctrl_c_leaves_no_live_line_behind() {
    let ws = Workspace::new();
    let sim = start_blocking(ws.path(), &["hub"]);
    sim.cluster("hub").apply(gateway("no")).expect("configmap");
    ws.write("w.yaml", WAITS);
    let kubeconfig = sim.kubeconfig_path().display().to_string();
    let Some(tmux) = start(&ws, &format!("--kubeconfig '{kubeconfig}' run w.yaml")) else {
        return;
    };
    tmux.wait_for_screen("the wait", |t| t.contains("data.ready is no"));
    tmux.send_keys("C-c");
    let screen = tmux.wait_for_screen("the run to end", |t| t.contains("EXIT="));
    insta::assert_snapshot!("ctrl_c", normalise(&screen, &ws));
    assert!(!screen.contains("data.ready is no ·"), "{screen}");
    assert!(!screen.contains(" done ·"), "{screen}");
}

/// Plain output (CI) during a long wait: a "still waiting" line at each interval (here made
/// short through the hidden `MCFLOW_WAIT_NOTE_EVERY`) with the target, the state last seen,
/// the time waited and the time left.
#[test]
fn plain_output_says_it_is_still_waiting() {
    let ws = Workspace::new();
    let sim = start_blocking(ws.path(), &["hub"]);
    let hub = sim.cluster("hub");
    hub.apply(gateway("no")).expect("configmap");
    ws.write("w.yaml", WAITS);
    let kubeconfig = sim.kubeconfig_path().display().to_string();
    let mut cmd = ws.command(&["--kubeconfig", &kubeconfig, "run", "w.yaml", "-o", "plain"]);
    cmd.env("MCFLOW_WAIT_NOTE_EVERY", "200ms")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("mcflow starts");
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let until = std::time::Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    let still = loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("still waiting") => break line,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no still-waiting line: {seen:?}");
            }
        }
    };
    let re = regex::Regex::new(
        r"Z … still waiting for ConfigMap default/gateway on hub, last seen data\.ready is no \(\d+s, 9m \d\ds left\)$",
    )
    .unwrap();
    assert!(re.is_match(&still), "{still}");
    hub.apply(gateway("yes")).expect("configmap");
    wait_until("mcflow to exit", || child.try_wait().unwrap().is_some());
    let rest: Vec<String> = lines.iter().collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("✓ gateway (")), "{rest:?}");
}

/// Log lines (`-vv`: mcflow's debug lines and the kube client's errors, here from a cluster
/// that refuses connections) print above the live lines: no spinner or progress line is left
/// between them in the terminal's history, and none is torn by a log line.
#[test]
fn log_lines_print_above_the_live_lines() {
    let ws = Workspace::new();
    let kubeconfig = ws.write(
        "kc.yaml",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: { server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true }\nusers:\n- name: u\n  user: { token: abc }\ncontexts:\n- name: c\n  context: { cluster: c, user: u }\ncurrent-context: c\n",
    );
    ws.write(
        "w.yaml",
        r#"name: logs
steps:
  - { id: side, name: Something beside it, run: [sh, -c, "sleep 3"] }
  - id: read
    name: Read a ConfigMap
    timeout: 2s
    kube: { context: c, get: { kind: ConfigMap, namespace: default, name: x } }
"#,
    );
    let args = format!("-vv --kubeconfig '{}' run w.yaml", kubeconfig.display());
    let Some(tmux) = start(&ws, &args) else {
        return;
    };
    tmux.wait_for_screen("the run to end", |t| t.contains("EXIT="));
    let history = tmux.history();
    assert!(history.contains("DEBUG"), "{history}");
    let spinner = regex::Regex::new("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]").unwrap();
    for line in history.lines() {
        assert!(
            !spinner.is_match(line),
            "a live line left behind: {line:?}\n{history}"
        );
        assert!(
            !line.contains(" done · "),
            "a live line left behind: {line:?}\n{history}"
        );
        if line.contains("DEBUG") || line.contains("ERROR") {
            assert!(
                line.starts_with("20"),
                "a torn log line: {line:?}\n{history}"
            );
        }
    }
}

/// The repository's bootstrap on the simulated Linkerd world, at 80x40: what the display leaves
/// on the screen, verify's report included, is at most twenty lines (it was 238 here: a ✓ line
/// per step, a table of steps that all succeeded, verify's report twice; then 27: verify's 16
/// check rows and a table row for the `finally` step its `when:` skipped).
#[test]
fn a_successful_bootstrap_leaves_at_most_twenty_lines() {
    let world = support::clusters::Linkerd::new(mcflow_sim::Scenario::linkerd_fresh());
    let ws = &world.ws;
    let command = format!(
        "cd '{root}' && env NO_COLOR=1 FAKE_LINKERD_STATE_DIR='{fake}' FAKE_LINKERD_TOKEN='{token}' \
         '{bin}' --state-dir '{state}' --kubeconfig '{kc}' --linkerd '{linkerd}' \
         run workflows/bootstrap.yaml; echo EXIT=$?; exec cat",
        root = support::workspace::repo_root().display(),
        fake = ws.path().display(),
        token = support::clusters::LINKERD_TOKEN,
        bin = assert_cmd::cargo::cargo_bin("mcflow").display(),
        state = ws.state_dir().display(),
        kc = world.sim.kubeconfig_path().display(),
        linkerd = mcflow_sim::fake_linkerd_bin().display(),
    );
    let Some(tmux) = Tmux::start(ws.path(), (80, 40), &command) else {
        println!("skipped: tmux is not installed");
        return;
    };
    tmux.wait_for_screen("the run to end", |t| t.contains("EXIT="));
    let history = tmux.history();
    assert!(history.contains("EXIT=0"), "{history}");
    let lines: Vec<&str> = history
        .lines()
        .skip_while(|l| !l.starts_with("mcflow · bootstrap"))
        .take_while(|l| !l.starts_with("EXIT="))
        .collect();
    // Everything from the header to the journal's path: the display and verify's summary
    // report (a row per cluster, the warnings), and no table (every step succeeded; `gather`
    // was skipped by its own `when:`, which is not a problem).
    assert!(
        (6..=20).contains(&lines.len()),
        "{} lines:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{history}");
    assert!(!history.contains("STEP "), "{history}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("production ") && l.contains(" checks ") && l.ends_with("ok")),
        "{history}"
    );
    assert_eq!(
        history.matches("CLUSTER        CHECK").count(),
        1,
        "{history}"
    );
}
