//! The fault soak: `workflows/bootstrap.yaml` with `config/clusters.yaml` on three simulated
//! clusters (`Scenario::linkerd_fresh()`, the fake linkerd) while every cluster answers a
//! seeded random share of requests with 500, 503, 429 (Retry-After), a dropped connection or
//! extra latency: about 25% of requests are answered by a fault, 10% more are slowed. Each run completes, or fails with a clear
//! error (exit 1, the failed step and its cause named) and then `mcflow resume --last`
//! finishes it (faults still on for two resumes, then off). Nothing is duplicated: one Link and
//! one set of credentials per spoke, one mirror of each export, the Argo CD cluster secrets
//! labelled with at most one successful write each, the hub's `in-cluster` secret created once.
//!
//! Sizes: `MCFLOW_SOAK_RUNS` runs (default 2; `just soak` runs 20). `MCFLOW_SEED` sets the
//! first seed; run k uses seed + k. The same soak runs with the kube state store in the hub
//! (`MCFLOW_SOAK_KUBE_RUNS`, default 1): its journal writes meet the same faults, and a write
//! that cannot be made stops the run (exit 3, the store named), which the resume then finishes.

mod support;

use std::time::{Duration, Instant};

use mcflow_sim::{Fault, FaultKind, Scenario, Simulator};
use support::clusters::{Linkerd, SPOKES};
use support::{Outcome, env_usize, seeded};

/// The faults of every cluster: ~25% of requests answered by a fault, latency on 10% more.
fn inject(sim: &Simulator) {
    for c in sim.clusters() {
        for f in [
            Fault::status("^/", 500).probability(0.08),
            Fault::status("^/", 503).probability(0.08),
            Fault::new(
                "^/",
                FaultKind::Status {
                    code: 429,
                    retry_after: Some(1),
                },
            )
            .probability(0.06),
            Fault::drop_connection("^/").probability(0.06),
            Fault::latency("^/", Duration::from_millis(40)).probability(0.10),
        ] {
            c.inject_fault(f);
        }
    }
}

/// The Linkerd world with seeded faults, its own token for the fake linkerd, and up to five
/// minutes per mcflow run.
fn soak_world(seed: u64, kube: bool) -> Linkerd {
    let mut soak = Linkerd::with(
        Scenario::linkerd_fresh(),
        Some(seed),
        "soak-canary-token-5e3d",
    );
    soak.ws = soak.ws.timeout(Duration::from_secs(300));
    if kube {
        soak.sim
            .cluster("internal")
            .apply_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: mcflow-state}\n")
            .expect("the store's namespace");
        soak.ws = soak
            .ws
            .env("MCFLOW_STATE", "kube:internal/mcflow-state")
            .env("MCFLOW_LEASE_DURATION", "10s");
    }
    soak
}

/// A run stopped by the kube store (a journal write or Lease renewal that could not be made
/// through the faults): exit 3, the store named, no panic, no token.
fn is_clean_store_stop(out: &Outcome, seed: u64) -> bool {
    let all = out.all();
    assert!(!all.contains("panicked"), "seed {seed}:\n{all}");
    assert!(
        !all.contains("soak-canary-token"),
        "seed {seed}: token leaked"
    );
    out.code == 3
        && (all.contains("state store kube:internal/mcflow-state") || all.contains("Lease"))
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A failed run says which step failed and why.
fn assert_clear_failure(out: &Outcome, seed: u64) {
    assert_eq!(out.code, 1, "seed {seed}: {}", out.all());
    let all = out.all();
    assert!(
        all.contains("✗") && all.contains("failed"),
        "seed {seed}: no clear error:\n{all}"
    );
    assert!(!all.contains("panicked"), "seed {seed}:\n{all}");
    // The failure is the cluster's, not the workflow's: verify's report renders its table.
    assert!(
        !all.contains("template:"),
        "seed {seed}: a template failed:\n{all}"
    );
    assert!(
        !all.contains("soak-canary-token"),
        "seed {seed}: token leaked"
    );
}

/// What the soak found in one run.
struct RunStats {
    resumes: usize,
    requests: usize,
    faulted: usize,
}

fn soak_run(seed: u64, kube: bool) -> RunStats {
    let soak = soak_world(seed, kube);
    inject(&soak.sim);
    let attempt = |args: &[&str]| {
        let t = Instant::now();
        let out = soak.mcflow(args);
        println!(
            "fault soak: seed {seed}: {args:?} exit {} in {:.1?}; output ends:\n{}",
            out.code,
            t.elapsed(),
            tail(&out.stdout, 12)
        );
        out
    };
    let mut out = attempt(&["run", "workflows/bootstrap.yaml"]);
    let mut resumes = 0;
    // The share of faulted requests is counted while the faults are on (the last resume runs
    // without them).
    let count = |sim: &Simulator| -> (usize, usize) {
        sim.clusters().iter().fold((0, 0), |(n, f), c| {
            let log = c.request_log();
            (n + log.len(), f + log.iter().filter(|r| r.faulted).count())
        })
    };
    let mut while_faulted = None;
    while out.code != 0 {
        if !(kube && is_clean_store_stop(&out, seed)) {
            assert_clear_failure(&out, seed);
        }
        resumes += 1;
        assert!(resumes <= 3, "seed {seed}: still failing");
        if resumes == 3 {
            while_faulted = Some(count(&soak.sim));
            for c in soak.sim.clusters() {
                c.clear_faults();
            }
        }
        out = attempt(&["resume", "--last", "--wait-lock", "60s"]);
    }
    let (requests, faulted) = while_faulted.unwrap_or_else(|| count(&soak.sim));
    assert!(
        !out.all().contains("soak-canary-token"),
        "seed {seed}: token leaked"
    );
    let runs = if kube {
        let listed = soak.mcflow(&["runs", "--output", "json"]);
        listed.stdout.lines().count()
    } else {
        soak.ws.runs().len()
    };
    assert_eq!(runs, 1, "seed {seed}: resumes append to the run");
    check_nothing_duplicated(&soak.sim, seed);
    RunStats {
        resumes,
        requests,
        faulted,
    }
}

fn check_nothing_duplicated(sim: &Simulator, seed: u64) {
    for spoke in SPOKES {
        let c = sim.cluster(spoke);
        let links = c
            .list(
                "multicluster.linkerd.io/v1alpha3",
                "Link",
                Some("linkerd-multicluster"),
                "",
            )
            .expect("list Links");
        assert_eq!(links.len(), 1, "seed {seed}: Links on {spoke}");
        let credentials = c
            .list("v1", "Secret", None, "")
            .expect("list Secrets")
            .into_iter()
            .filter(|s| {
                s["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("cluster-credentials-"))
            })
            .count();
        assert!(
            (1..=2).contains(&credentials),
            "seed {seed}: {credentials} credential secrets on {spoke}"
        );
        let mirrors = c
            .list(
                "v1",
                "Service",
                Some("monitoring"),
                "mirror.linkerd.io/mirrored-service=true",
            )
            .expect("list mirrors");
        assert_eq!(mirrors.len(), 1, "seed {seed}: mirrors on {spoke}");
    }
    let hub = sim.cluster("internal");
    let secrets = hub
        .list(
            "v1",
            "Secret",
            Some("argocd"),
            "argocd.argoproj.io/secret-type=cluster",
        )
        .expect("list cluster secrets");
    let in_cluster = secrets
        .iter()
        .filter(|s| s["metadata"]["name"] == "in-cluster")
        .count();
    assert!(
        in_cluster <= 1,
        "seed {seed}: {in_cluster} in-cluster secrets"
    );
    for s in &secrets {
        assert_eq!(
            s["metadata"]["labels"]["spydersoft.io/linkerd-multicluster"], "true",
            "seed {seed}: {}",
            s["metadata"]["name"]
        );
    }
    // Labels are compared before they are written: one successful write per secret at most.
    for spoke in SPOKES {
        let path = format!(
            "/api/v1/namespaces/argocd/secrets/{}",
            Scenario::argocd_secret_name(spoke)
        );
        let log = hub.request_log();
        let writes: Vec<String> = log
            .iter()
            .filter(|r| r.path == path && r.method == "PATCH" && (200..300).contains(&r.status))
            .map(|r| format!("{} ?{} {} ({})", r.method, r.query, r.status, r.user_agent))
            .collect();
        assert!(
            writes.len() <= 1,
            "seed {seed}: {} label writes on {path}: {writes:#?}",
            writes.len()
        );
    }
}

#[test]
fn bootstrap_under_api_faults_completes_or_resumes_to_success_without_duplicates() {
    soak(env_usize("MCFLOW_SOAK_RUNS", 2), false);
}

#[test]
fn bootstrap_under_api_faults_with_the_kube_store_resumes_to_success_without_duplicates() {
    soak(env_usize("MCFLOW_SOAK_KUBE_RUNS", 1), true);
}

fn soak(runs: usize, kube: bool) {
    let (first, _) = seeded("fault soak", 7000);
    let start = Instant::now();
    let (mut resumed, mut requests, mut faulted) = (0, 0, 0);
    for k in 0..runs as u64 {
        let seed = first + k;
        let t = Instant::now();
        let stats = soak_run(seed, kube);
        println!(
            "fault soak: seed {seed}: {} resume(s), {}/{} requests faulted, {:.1?}",
            stats.resumes,
            stats.faulted,
            stats.requests,
            t.elapsed()
        );
        resumed += usize::from(stats.resumes > 0);
        requests += stats.requests;
        faulted += stats.faulted;
    }
    let share = faulted as f64 / requests.max(1) as f64;
    println!(
        "fault soak: {runs} runs, {resumed} needed a resume, {faulted}/{requests} requests faulted ({:.0}%), {:.1?}",
        share * 100.0,
        start.elapsed()
    );
    assert!(
        share >= 0.2,
        "only {:.0}% of requests faulted",
        share * 100.0
    );
}
