//! The kube state store on the simulator and on a real kube-apiserver (the rig), where Leases,
//! resourceVersion conflicts and the object size limit are the real ones: the run-key lock
//! (a second runner exits 3 naming the holder), fencing after a takeover, a SIGKILLed run
//! resumed from another empty directory, and the 1 MiB limit the store's chunks stay under.
//! On the simulator only, with one line, where the rig is missing.

mod support;

use std::path::Path;

use base64::Engine as _;
use mcflow_sim::rig::{AnyCluster, Backend, BackendKind, RealClusters};
use nix::sys::signal::Signal;
use support::{Workspace, exit_code, kill_9, signal, wait_until};

fn holding(ws: &Workspace) -> String {
    let side = ws.file("side").display().to_string();
    let release = ws.file("release").display().to_string();
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

/// Waits until run number `nth` in the store has journaled `hold`'s start; its id.
fn holding_run(store: &mcflow::state::Store, nth: usize) -> String {
    let mut id = String::new();
    wait_until("a run to journal hold's start", || {
        let Ok(runs) = store.list() else { return false };
        let Some(run) = runs.get(nth) else {
            return false;
        };
        let started = store.read(run).is_ok_and(|r| {
            r.events.iter().any(|e| {
                matches!(&e.kind, mcflow::journal::EventKind::StepStarted { step, .. } if step == "hold")
            })
        });
        if started {
            id = run.clone();
        }
        started
    });
    id
}

/// The lock and fencing on one backend: the exit codes of the second runner (refused), the
/// runner that took the key over after the holder's Lease expired, and the fenced holder.
fn lock_and_fencing(kubeconfig: &Path) -> (i32, i32, i32) {
    let ws = Workspace::new()
        .no_color()
        .kubeconfig(kubeconfig)
        .env("MCFLOW_STATE", "kube:internal/mcflow-state")
        .env("MCFLOW_LEASE_DURATION", "2s");
    ws.write("w.yaml", &holding(&ws));
    let location =
        mcflow::state::StateLocation::parse("kube:internal/mcflow-state", Path::new("."));
    let store = mcflow::state::Store::open(&location.unwrap(), Some(kubeconfig)).unwrap();
    let mut a = ws.spawn("a", &["run", "w.yaml"]);
    let a_run = holding_run(&store, 0);
    let second = ws.mcflow(&["run", "w.yaml"]);
    assert!(
        second.stderr.contains(&format!("pid {} ", a.id())) && second.stderr.contains(&a_run),
        "{}",
        second.stderr
    );
    signal(a.id(), Signal::SIGSTOP);
    let mut b = ws.spawn("b", &["run", "w.yaml", "--wait-lock", "60s"]);
    holding_run(&store, 1);
    ws.touch("release");
    let b_code = exit_code(&mut b);
    signal(a.id(), Signal::SIGCONT);
    let a_code = exit_code(&mut a);
    let (_, a_err) = ws.output_of("a");
    assert!(
        a_err.contains("(fenced)") || a_err.contains("taken over"),
        "{a_err}"
    );
    assert_eq!(ws.count("side", "last"), 1);
    (second.code, b_code, a_code)
}

/// A run killed with SIGKILL, resumed from another, empty directory: it completes, and its
/// succeeded step does not run again. The resume's exit code.
fn kill_and_resume_elsewhere(kubeconfig: &Path) -> i32 {
    let ws = Workspace::new()
        .no_color()
        .kubeconfig(kubeconfig)
        .env("MCFLOW_STATE", "kube:internal/mcflow-kill")
        .env("MCFLOW_LEASE_DURATION", "2s");
    ws.write("w.yaml", &holding(&ws));
    let location = mcflow::state::StateLocation::parse("kube:internal/mcflow-kill", Path::new("."));
    let store = mcflow::state::Store::open(&location.unwrap(), Some(kubeconfig)).unwrap();
    let mut run = ws.spawn("run", &["run", "w.yaml"]);
    holding_run(&store, 0);
    kill_9(&mut run, ws.path());
    ws.touch("release");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = ws.mcflow_from(
        elsewhere.path(),
        &["resume", "--last", "--wait-lock", "60s"],
    );
    assert_eq!(ws.lines("side"), ["first", "hold", "last"], "{}", out.all());
    out.code
}

/// What the API server answers to a Secret of 1 MiB + 1 byte of data.
fn oversized_secret(c: &AnyCluster) -> u16 {
    let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 1024 * 1024 + 1]);
    let obj = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "too-big", "namespace": "mcflow-state"},
        "data": {"k": data},
    });
    c.create(obj).err().map_or(201, |e| e.code)
}

#[test]
fn lock_fencing_resume_elsewhere_and_size_limit_are_the_same_on_sim_and_real() {
    let kinds: Vec<BackendKind> = match RealClusters::available() {
        Ok(_) => vec![BackendKind::Sim, BackendKind::Real],
        Err(why) => {
            println!("rig skipped: {why} (running on the simulator only)");
            vec![BackendKind::Sim]
        }
    };
    let mut results = Vec::new();
    for kind in kinds {
        let b = Backend::start(kind, &["internal"]).expect("backend starts");
        let hub = b.cluster("internal");
        for ns in ["mcflow-state", "mcflow-kill"] {
            hub.apply_yaml(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
            ))
            .expect("namespace");
        }
        let codes = lock_and_fencing(b.kubeconfig_path());
        let resumed = kill_and_resume_elsewhere(b.kubeconfig_path());
        println!("{kind}: SIGKILL, then resume from an empty directory: exit {resumed}");
        assert_eq!(resumed, 0, "{kind}");
        let too_big = oversized_secret(&hub);
        println!(
            "{kind}: second runner, taker, fenced holder exit {codes:?}; 1 MiB + 1 Secret: {too_big}"
        );
        results.push((kind, codes, too_big));
    }
    for (kind, codes, too_big) in &results {
        assert_eq!(*codes, (3, 0, 3), "{kind}");
        assert_eq!(*too_big, 422, "{kind}");
    }
}

/// A kubeconfig for the rig's `internal` cluster that authenticates as ServiceAccount
/// `mcflow-state/mcflow-ci` (a token from the TokenRequest API), instead of the admin.
fn service_account_kubeconfig(rig: &RealClusters, dir: &Path) -> std::path::PathBuf {
    let hub = rig.cluster("internal");
    let request = serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}});
    let answer = hub
        .http(
            "POST",
            "/api/v1/namespaces/mcflow-state/serviceaccounts/mcflow-ci/token",
            Some(("application/json", &request)),
        )
        .expect("a ServiceAccount token");
    let token = answer["status"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let admin = std::fs::read_to_string(rig.kubeconfig_path()).unwrap();
    let path = dir.join("kubeconfig-sa");
    std::fs::write(&path, admin.replace(hub.token(), &token)).unwrap();
    path
}

#[test]
fn the_shipped_role_is_enough_for_the_store_and_a_missing_verb_is_named() {
    if let Err(why) = RealClusters::available() {
        println!("rig skipped: {why}");
        return;
    }
    let rig = RealClusters::builder()
        .cluster("internal")
        .api_only()
        .start_blocking()
        .expect("rig starts");
    let hub = rig.cluster("internal");
    let role = std::fs::read_to_string(
        support::workspace::repo_root().join("deploy/mcflow-state-rbac.yaml"),
    )
    .unwrap();
    hub.apply_yaml(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: mcflow-state}\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: mcflow-ci, namespace: mcflow-state}\n",
    )
    .expect("namespace and ServiceAccount");
    hub.apply_yaml(&role)
        .expect("the shipped Role and RoleBinding");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(&rig, dir.path());
    let ws = Workspace::new()
        .no_color()
        .kubeconfig(&kubeconfig)
        .env("MCFLOW_STATE", "kube:internal/mcflow-state");
    ws.write("w.yaml", &holding(&ws));
    ws.touch("release");
    // Everything the store does, as the ServiceAccount the Role is bound to.
    ws.mcflow(&["run", "w.yaml"]).success();
    ws.mcflow(&["runs"]).success();
    ws.mcflow(&["show", "--last"]).success();
    ws.mcflow(&["state", "export"]).success();
    ws.mcflow(&["state", "prune", "--keep", "0"]).success();

    // Without `patch` on secrets: one error naming the verb and the resource, no step run.
    std::fs::remove_file(ws.file("side")).ok();
    hub.apply_yaml(&role.replace(
        "verbs: [create, delete, get, list, patch]",
        "verbs: [create, delete, get, list]",
    ))
    .expect("the Role without patch");
    let out = ws.mcflow(&["run", "w.yaml"]);
    out.assert_code(3)
        .stderr_has("forbidden: cannot patch secrets in namespace mcflow-state");
    assert_eq!(ws.read("side"), "", "a step ran");
    println!(
        "real: as the ServiceAccount without patch: {}",
        out.stderr.trim()
    );
}
