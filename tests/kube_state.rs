//! The kube state store (`--state kube:<context>/<namespace>`) on a simulated hub: runs that
//! outlive the machine, the run-key Lease between runners, fencing after a takeover, API faults
//! during journal writes, and no secret in any object of the cluster.

mod support;

use nix::sys::signal::Signal;
use support::clusters::CANARY;
use support::kube_store::{KubeStore, empty_dir};
use support::{exit_code, kill_9, signal, wait_until};

/// first → hold (until `release` exists) → last, each appending its name to `side`; the paths
/// are absolute, so a resume from another directory acts on the same files.
fn holding(k: &KubeStore) -> String {
    let side = k.ws.file("side").display().to_string();
    let release = k.ws.file("release").display().to_string();
    format!(
        r#"name: holding
steps:
  - id: first
    run: [sh, -c, "echo first >> {side}"]
  - id: hold
    run: [sh, -c, 'while [ ! -e {release} ]; do sleep 0.02; done; echo hold >> {side}']
  - id: last
    run: [sh, -c, "echo last >> {side}"]
"#
    )
}

/// Waits until the newest run in the store has journaled `hold`'s start, and returns its id.
fn holding_run(k: &KubeStore, skip: usize) -> String {
    let mut id = String::new();
    wait_until("the run to journal hold's start", || {
        let runs = k.runs();
        match runs.get(skip) {
            Some(r) if k.has(r, "step_started", "hold") => {
                id = r.clone();
                true
            }
            _ => false,
        }
    });
    id
}

#[test]
fn a_sigkilled_run_resumes_from_another_empty_directory_without_rerunning_succeeded_steps() {
    let k = KubeStore::new("2s");
    k.ws.write("w.yaml", &holding(&k));
    let mut run = k.ws.spawn("run", &["run", "w.yaml"]);
    let id = holding_run(&k, 0);
    kill_9(&mut run, k.ws.path());
    k.ws.touch("release");

    // Another runner: an empty working directory, the kubeconfig and the store's name only.
    let elsewhere = empty_dir();
    k.ws.mcflow_from(elsewhere.path(), &["runs"])
        .success()
        .stdout_has(&id);
    let out = k.ws.mcflow_from(
        elsewhere.path(),
        &["resume", "--last", "--wait-lock", "60s"],
    );
    out.success();
    assert_eq!(k.ws.lines("side"), ["first", "hold", "last"]);
    let show = k.ws.mcflow_from(elsewhere.path(), &["show", &id]);
    show.success().stdout_has("status succeeded");
    assert!(k.has(&id, "step_reused", "first"));
    // Nothing was kept locally, in either directory.
    assert!(!k.ws.state_dir().exists());
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    let events = k.events(&id);
    assert_eq!(events.last().unwrap()["status"], "succeeded", "{events:?}");
}

#[test]
fn a_second_runner_exits_3_naming_the_holder_and_the_next_takes_over_after_expiry() {
    let k = KubeStore::new("2s");
    k.ws.write("w.yaml", &holding(&k));
    let mut a = k.ws.spawn("a", &["run", "w.yaml"]);
    let a_run = holding_run(&k, 0);

    let b = k.ws.mcflow(&["run", "w.yaml"]);
    b.assert_code(3)
        .stderr_has("`holding` is being run by ")
        .stderr_has(&format!("pid {} ", a.id()))
        .stderr_has(&format!("(run {a_run})"))
        .stderr_has("its lock expires at");
    assert_eq!(k.runs().len(), 1, "the refused runner made no run");

    kill_9(&mut a, k.ws.path());
    let mut c = k.ws.spawn("c", &["run", "w.yaml", "--wait-lock", "60s"]);
    let c_run = holding_run(&k, 1);
    let lease = k.lease("mcflow-holding").expect("the run key's Lease");
    let holder = lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(holder.contains(&format!("pid {}", c.id())), "{lease}");
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    assert_eq!(
        lease["metadata"]["annotations"]["mcflow.io/run-id"],
        c_run.as_str()
    );
    // The takeover record: the dead holder's run now names the new writer.
    let a_chunk = k
        .objects("Secret")
        .into_iter()
        .find(|s| s["metadata"]["name"] == format!("mcflow-run-{a_run}-0000"))
        .unwrap();
    assert_eq!(
        a_chunk["metadata"]["annotations"]["mcflow.io/writer"],
        holder.as_str()
    );
    k.ws.touch("release");
    assert_eq!(exit_code(&mut c), 0, "{:?}", k.ws.output_of("c"));
    // Released at the end.
    let lease = k.lease("mcflow-holding").unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
}

#[test]
fn after_a_takeover_the_old_holders_next_write_is_refused_and_it_stops() {
    let k = KubeStore::new("2s");
    k.ws.write("w.yaml", &holding(&k));
    let mut a = k.ws.spawn("a", &["run", "w.yaml"]);
    let a_run = holding_run(&k, 0);
    // Frozen: it cannot renew its Lease, which expires; another runner takes the key over.
    signal(a.id(), Signal::SIGSTOP);
    let mut b = k.ws.spawn("b", &["run", "w.yaml", "--wait-lock", "60s"]);
    holding_run(&k, 1);
    k.ws.touch("release");
    assert_eq!(exit_code(&mut b), 0, "{:?}", k.ws.output_of("b"));
    let before = k.events(&a_run).len();

    signal(a.id(), Signal::SIGCONT);
    assert_eq!(exit_code(&mut a), 3, "{:?}", k.ws.output_of("a"));
    let (_, err) = k.ws.output_of("a");
    // Whichever the old holder meets first after SIGCONT stops it: its next journal write
    // refused (fenced), or its Lease renewal finding the key taken over (and since released).
    let fenced =
        err.contains(&format!("run {a_run} was taken over by ")) && err.contains("(fenced)");
    let lease_lost = err.contains(&format!("run {a_run} stopped: the lock Lease"));
    assert!(fenced || lease_lost, "{err}");
    // Nothing more of the old holder reached its journal, and its `last` never ran.
    assert_eq!(k.events(&a_run).len(), before);
    assert_eq!(k.ws.count("side", "last"), 1, "{:?}", k.ws.lines("side"));
}

#[test]
fn api_faults_on_journal_writes_are_retried_or_stop_the_run_before_the_next_step() {
    let k = KubeStore::new("5s");
    k.ws.write("w.yaml", &holding(&k));
    let hub = k.sim.cluster("hub");
    let secrets = "^/api/v1/namespaces/mcflow-state/secrets/";
    hub.inject_fault(
        mcflow_sim::Fault::status(secrets, 503)
            .method("PATCH")
            .times(2),
    );
    hub.inject_fault(
        mcflow_sim::Fault::too_many_requests(secrets, 1)
            .method("PATCH")
            .times(1),
    );
    hub.inject_fault(
        mcflow_sim::Fault::drop_connection(secrets)
            .method("PATCH")
            .times(1),
    );
    hub.inject_fault(
        mcflow_sim::Fault::status(secrets, 500)
            .method("PATCH")
            .times(1),
    );
    k.ws.touch("release");
    k.ws.mcflow(&["run", "w.yaml"]).success();
    assert_eq!(k.ws.lines("side"), ["first", "hold", "last"]);

    // A write that cannot be made: the run stops (exit 3) before `last` acts.
    std::fs::remove_file(k.ws.file("release")).unwrap();
    std::fs::remove_file(k.ws.file("side")).unwrap();
    let mut run = k.ws.spawn("run", &["run", "w.yaml"]);
    holding_run(&k, 1);
    hub.inject_fault(mcflow_sim::Fault::status(secrets, 500).method("PATCH"));
    k.ws.touch("release");
    assert_eq!(exit_code(&mut run), 3, "{:?}", k.ws.output_of("run"));
    let (_, err) = k.ws.output_of("run");
    assert!(err.contains("patch secrets"), "{err}");
    assert_eq!(k.ws.lines("side"), ["first", "hold"]);
    // The API is back: the resume finishes it; `first` does not run again.
    hub.clear_faults();
    k.ws.mcflow(&["resume", "--last"]).success();
    assert_eq!(k.ws.count("side", "first"), 1);
    assert_eq!(k.ws.count("side", "last"), 1);
}

#[test]
fn the_canary_secret_never_reaches_an_object_in_the_cluster() {
    let k = KubeStore::new("5s");
    let side = k.ws.file("side").display().to_string();
    k.ws.write(
        "w.yaml",
        &format!(
            r#"name: tokens
params:
  token: {{ sensitive: true, default: "{CANARY}-param" }}
steps:
  - id: mint
    run: [sh, -c, "echo {CANARY}-output"]
    sensitive: true
  - id: use
    run: {{ argv: [sh, -c, 'test -n "$T" && echo used >> {side}'], env: {{ T: "{{{{ steps.mint.stdout }}}} {{{{ params.token }}}}" }} }}
  - id: fail_once
    run: {{ argv: [sh, -c, 'test -e {side}.2 || {{ echo attempt >> {side}.2; echo "$T" >&2; exit 1; }}'], env: {{ T: "{{{{ steps.mint.stdout }}}}" }} }}
    retry: {{ attempts: 2, delay: 10ms }}
"#
        ),
    );
    k.ws.mcflow(&["run", "w.yaml"]).success();
    assert_eq!(k.ws.lines("side"), ["used"]);
    let everything = k.everything();
    assert!(
        everything.contains("step_succeeded"),
        "the journal is in the cluster"
    );
    assert!(!everything.contains(CANARY), "{everything}");
}

#[test]
fn runs_move_between_stores_and_prune_keeps_a_running_run() {
    let k = KubeStore::new("5s");
    k.ws.write("w.yaml", &holding(&k));
    k.ws.touch("release");
    for _ in 0..2 {
        k.ws.mcflow(&["--state", "local", "run", "w.yaml"])
            .success();
    }
    let local = k.ws.runs();
    assert_eq!(local.len(), 2);
    let exported = k.ws.mcflow(&["--state", "local", "state", "export"]);
    exported.success();
    k.ws.write("runs.jsonl", &exported.stdout);
    k.ws.mcflow(&["state", "import", "runs.jsonl"])
        .success()
        .stderr_has(&format!(
            "imported run {} into kube:hub/mcflow-state",
            local[0]
        ));
    assert_eq!(k.runs(), local);
    k.ws.mcflow(&["state", "import", "runs.jsonl"])
        .success()
        .stderr_has("skipped (already in the store)");
    let show = k.ws.mcflow(&["show", &local[1]]);
    show.success().stdout_has("status succeeded");
    assert_eq!(
        k.events(&local[1]),
        support::journal::values(
            &k.ws
                .state_dir()
                .join("runs")
                .join(&local[1])
                .join("journal.jsonl")
        )
    );

    // A running run in the store, and prune --keep 0: the finished ones go, it stays.
    std::fs::remove_file(k.ws.file("release")).unwrap();
    let mut run = k.ws.spawn("run", &["run", "w.yaml"]);
    let running = holding_run(&k, 2);
    let pruned = k.ws.mcflow(&["state", "prune", "--keep", "0"]);
    pruned
        .success()
        .stderr_has(&format!("deleted run {}", local[0]))
        .stderr_has(&format!("kept run {running}: it is running"));
    assert_eq!(k.runs(), std::slice::from_ref(&running));
    assert!(k.events(&local[0]).is_empty());
    k.ws.touch("release");
    assert_eq!(exit_code(&mut run), 0);
    // Finished, it is pruned like any other.
    k.ws.mcflow(&["state", "prune", "--keep", "0"]).success();
    assert!(k.runs().is_empty());
    assert!(k.objects("Secret").is_empty());
}

#[test]
fn a_missing_permission_is_one_error_naming_verb_and_resource_before_any_step() {
    let k = KubeStore::new("5s");
    k.ws.write("w.yaml", &holding(&k));
    k.ws.touch("release");
    let hub = k.sim.cluster("hub");
    for (path, method, says) in [
        (
            "^/apis/coordination.k8s.io/v1/namespaces/mcflow-state/leases",
            "GET",
            "cannot get leases.coordination.k8s.io in namespace mcflow-state",
        ),
        (
            "^/api/v1/namespaces/mcflow-state/secrets/",
            "PATCH",
            "cannot patch secrets in namespace mcflow-state",
        ),
    ] {
        hub.inject_fault(mcflow_sim::Fault::status(path, 403).method(method));
        let out = k.ws.mcflow(&["run", "w.yaml"]);
        out.assert_code(3)
            .stderr_has("forbidden: ")
            .stderr_has(says)
            .stderr_has("deploy/mcflow-state-rbac.yaml");
        assert_eq!(out.stderr.matches("error:").count(), 1, "{}", out.stderr);
        assert_eq!(k.ws.read("side"), "", "a step ran");
        hub.clear_faults();
    }
}

#[test]
fn a_journal_larger_than_a_chunk_spans_chunks_and_resumes_across_them() {
    let k = KubeStore::new("5s");
    let side = k.ws.file("side").display().to_string();
    let go = k.ws.file("go").display().to_string();
    let mut wf = String::from("name: big\nsteps:\n");
    for i in 0..6 {
        // 30 KB of stdout each: the journal keeps it for later steps.
        wf.push_str(&format!(
            "  - id: big{i}\n    run: [sh, -c, \"echo big{i} >> {side}; head -c 30000 /dev/zero | tr '\\\\\\\\0' x\"]\n"
        ));
    }
    wf.push_str(&format!("  - id: gate\n    run: [test, -e, {go}]\n"));
    k.ws.write("w.yaml", &wf);
    k.ws.mcflow(&["run", "w.yaml"]).assert_code(1);
    k.ws.touch("go");
    k.ws.mcflow(&["resume", "--last"]).success();
    let run = &k.runs()[0];
    let chunks: Vec<serde_json::Value> = k
        .objects("Secret")
        .into_iter()
        .filter(|s| s.pointer("/metadata/labels/mcflow.io~1run-id") == Some(&run.as_str().into()))
        .collect();
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    for c in &chunks {
        let size: usize = c["data"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_str().unwrap().len() * 3 / 4)
            .sum();
        assert!(
            size < 1024 * 1024 / 4,
            "{} holds {size} bytes",
            c["metadata"]["name"]
        );
    }
    // Read back in order across the chunks; no step ran twice.
    let events = k.events(run);
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["status"], "succeeded");
    for i in 0..6 {
        assert_eq!(k.ws.count("side", &format!("big{i}")), 1);
    }
    let stdout = &events
        .iter()
        .find(|e| e["event"] == "step_succeeded" && e["step"] == "big5")
        .unwrap()["result"]["stdout"];
    assert_eq!(stdout.as_str().unwrap().len(), 30000);
}
