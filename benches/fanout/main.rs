//! Benchmark of figure 5 (issue 8): fan-out. Linking 50 simulated spokes to the hub in one run
//! (`for_each` over `config.spokes` of the repository's `workflows/link-spoke.yaml`, run with
//! `--max-parallel 50`) against linking one spoke the same way, in the same run, on the same
//! simulator, with the fake linkerd. Aim: ≤ 2× the one-spoke time; peak RSS of mcflow ≤ 60 MB
//! (`/usr/bin/time -f %M`, the process's maximum resident set).
//!
//! Every measured run re-links spokes already linked by a warm-up run (apply is idempotent), so
//! both sides do the same work per spoke: 3 linkerd processes, two reads on the hub, one apply,
//! one wait, two reads on the spoke.
//!
//! Figure 5c, mcflow's own CPU per linked spoke, is put beside a floor measured in the same run:
//! a bare kube-rs + duct program making the same links (floor.rs), one spoke and all of them.
//!
//! Run: `cargo bench --bench fanout` (also in `just bench`); `-- --quick` for fewer runs;
//! `FANOUT_SPOKES=n` for another size. The fake linkerd is built once (debug) by
//! `mcflow_sim::fake_linkerd_bin()`, or taken from `FAKE_LINKERD`.

// mcflow's allocator (src/main.rs): the floor (floor.rs) runs in this binary, and must not pay
// for an allocator mcflow does not use. The simulator, in this process too, uses it as well.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../common/mod.rs"]
mod common;
mod floor;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mcflow_sim::{Scenario, Simulator};

fn spoke(i: usize) -> String {
    format!("spoke{i:02}")
}

fn config(spokes: usize) -> String {
    let mut y = String::from(
        "hub: { name: internal, context: internal, gateway_addresses: \"127.0.0.1\", \
         gateway_node_port: 30143, probe_node_port: 30191, argocd_cluster: in-cluster, \
         values_file: in-cluster-values.yaml }\nspokes:\n",
    );
    for i in 0..spokes {
        let s = spoke(i);
        y.push_str(&format!("  - {{ name: {s}, context: {s} }}\n"));
    }
    y.push_str("argocd: { context: internal, namespace: argocd, label: spydersoft.io/linkerd-multicluster }\nexports: []\nlinkerd: { bin: linkerd }\n");
    y
}

const FANOUT: &str = "name: fanout\nsteps:\n  - id: link\n    for_each: \"{{ config.spokes }}\"\n    workflow:\n      path: link-spoke.yaml\n      with: { spoke: \"{{ item.name }}\", hub: \"{{ config.hub.name }}\" }\n";

/// What `/usr/bin/time` said of a run: peak RSS of mcflow (kB), CPU seconds of mcflow and the
/// programs it ran (user + system).
#[derive(Clone, Copy)]
struct Usage {
    rss_kb: u64,
    cpu: f64,
    /// CPU seconds of the mcflow process alone (its `mcflow::cpu` debug line), without the
    /// linkerd processes it ran.
    own_cpu: f64,
    /// The system (kernel) part of `own_cpu` (an mcflow before f3056f5 does not log it).
    own_sys: Option<f64>,
}

/// CPU seconds used so far by this process (the simulator's runtime serves the clusters here),
/// threads that have exited included.
fn own_cpu() -> Option<f64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID).ok()?;
    Some(t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
}

/// One run linking the spokes of `config`: its wall time, and its usage when measured.
fn run(dir: &Path, linkerd: &Path, kubeconfig: &Path, config: &str) -> (Duration, Option<Usage>) {
    run_with_sim(dir, linkerd, kubeconfig, config).0
}

/// [`run`], and the CPU seconds the simulator (this process) spent meanwhile.
fn run_with_sim(
    dir: &Path,
    linkerd: &Path,
    kubeconfig: &Path,
    config: &str,
) -> ((Duration, Option<Usage>), Option<f64>) {
    let before = own_cpu();
    let r = run_mcflow(dir, linkerd, kubeconfig, config);
    let sim = own_cpu().zip(before).map(|(a, b)| a - b);
    (r, sim)
}

fn run_mcflow(
    dir: &Path,
    linkerd: &Path,
    kubeconfig: &Path,
    config: &str,
) -> (Duration, Option<Usage>) {
    let rss_file = dir.join("rss");
    let _ = std::fs::remove_file(&rss_file);
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.is_file() {
        let mut c = Command::new(time);
        c.arg("-f")
            .arg("%M %U %S")
            .arg("-o")
            .arg(&rss_file)
            .arg(mcflow_exe());
        c
    } else {
        Command::new(mcflow_exe())
    };
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MCFLOW_CONFIG")
        .env_remove("KUBECONFIG")
        .env("FAKE_LINKERD_STATE_DIR", dir)
        .env("RUST_LOG", "warn,mcflow::cpu=debug")
        .args([
            "--state-dir",
            "state",
            "--config",
            config,
            "run",
            "fanout.yaml",
        ])
        .args(["--max-parallel", "50", "--output", "plain", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--linkerd")
        .arg(linkerd)
        .stdin(Stdio::null());
    let start = Instant::now();
    let out = cmd.output().expect("mcflow runs");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "mcflow failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let usage = std::fs::read_to_string(&rss_file).ok().and_then(|s| {
        let line = s.trim().lines().last()?.to_string();
        let mut f = line.split_whitespace();
        let rss_kb = f.next()?.parse().ok()?;
        let user: f64 = f.next()?.parse().ok()?;
        let sys: f64 = f.next()?.parse().ok()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let logged = |key: &str| {
            stderr
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|n| n.parse::<f64>().ok())
                .map(|us| us / 1e6)
        };
        let own_cpu = logged("cpu_us=")?;
        let own_sys = logged("sys_us=");
        Some(Usage {
            rss_kb,
            cpu: user + sys,
            own_cpu,
            own_sys,
        })
    });
    (took, usage)
}

fn main() {
    if floor::child_main() {
        return;
    }
    let runs = if quick() { 3 } else { 5 };
    let spokes: usize = std::env::var("FANOUT_SPOKES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let linkerd = std::env::var_os("FAKE_LINKERD")
        .map(PathBuf::from)
        .unwrap_or_else(mcflow_sim::fake_linkerd_bin);
    // mcflow runs in a scratch directory: a relative path would not name the same file there.
    let linkerd = std::fs::canonicalize(&linkerd)
        .unwrap_or_else(|e| panic!("fake linkerd {}: {e}", linkerd.display()));
    let scratch = scratch();
    let dir = scratch.path();
    let mut names = vec!["internal".to_string()];
    names.extend((0..spokes).map(spoke));
    let sim = Simulator::builder()
        .clusters(names.iter().map(String::as_str))
        .scenario(Scenario::linkerd_fresh())
        .deployment_ready_delay(Duration::from_millis(20))
        .kubeconfig_path(dir.join("kubeconfig"))
        .start_blocking()
        .expect("simulator starts");
    let kubeconfig = sim.kubeconfig_path().to_path_buf();

    // Argo CD installs linkerd-multicluster on the hub and on every spoke.
    let hub = sim.cluster("internal");
    hub.apply_yaml(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: in-cluster-cluster\n  namespace: argocd\n  labels:\n    argocd.argoproj.io/secret-type: cluster\n    spydersoft.io/linkerd-multicluster: \"true\"\nstringData:\n  name: in-cluster\n  server: https://kubernetes.default.svc\n",
    )
    .expect("in-cluster secret");
    for i in 0..spokes {
        hub.merge_patch(
            "v1",
            "Secret",
            "argocd",
            &Scenario::argocd_secret_name(&spoke(i)),
            serde_json::json!({"metadata": {"labels": {"spydersoft.io/linkerd-multicluster": "true"}}}),
        )
        .expect("label");
    }
    for c in sim.clusters() {
        let ok = c.wait_until(Duration::from_secs(60), |c| {
            c.get("v1", "Namespace", "", "linkerd-multicluster")
                .is_some()
        });
        assert!(ok, "linkerd-multicluster installed on {}", c.name());
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // link-spoke and the workflow its `finally` runs when it fails.
    for file in ["link-spoke.yaml", "gather.yaml"] {
        std::fs::copy(root.join("workflows").join(file), dir.join(file))
            .unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    std::fs::write(dir.join("fanout.yaml"), FANOUT).expect("write");
    std::fs::write(dir.join("one.yaml"), config(1)).expect("write");
    std::fs::write(dir.join("many.yaml"), config(spokes)).expect("write");

    // Warm-up: links every spoke once (the measured runs re-link).
    run(dir, &linkerd, &kubeconfig, "many.yaml");
    run(dir, &linkerd, &kubeconfig, "one.yaml");
    let (mut one, mut many, mut usage, mut one_cpu, mut one_own, mut one_sys) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut one_sim, mut many_sim) = (Vec::new(), Vec::new());
    let (mut floor_one, mut floor_many) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        floor_one.push(floor::measure(dir, &linkerd, &kubeconfig, 1));
        floor_many.push(floor::measure(dir, &linkerd, &kubeconfig, spokes));
        let ((t, u), s) = run_with_sim(dir, &linkerd, &kubeconfig, "one.yaml");
        one.push(t);
        one_cpu.extend(u.map(|u| u.cpu));
        one_own.extend(u.map(|u| u.own_cpu));
        one_sys.extend(u.and_then(|u| u.own_sys));
        one_sim.extend(s);
        let ((t, u), s) = run_with_sim(dir, &linkerd, &kubeconfig, "many.yaml");
        many.push(t);
        usage.extend(u);
        many_sim.extend(s);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ratios: Vec<f64> = one
        .iter()
        .zip(&many)
        .map(|(o, m)| m.as_secs_f64() / o.as_secs_f64())
        .collect();
    let (one, many) = (median(one), median(many));
    let ratio = median_f(ratios);
    println!(
        "fan-out: link-spoke.yaml for_each over the spokes, --max-parallel 50, median of {runs} runs:"
    );
    println!("  1 spoke                        {:>9.1} ms", ms(one));
    println!(
        "  {spokes} spokes                      {:>9.1} ms",
        ms(many)
    );
    if !usage.is_empty() {
        let cpu = median_f(usage.iter().map(|u| u.cpu).collect());
        let one_cpu = median_f(one_cpu);
        println!(
            "  CPU (mcflow + its linkerd processes): 1 spoke {:.0} ms, {spokes} spokes {:.0} ms; \
             {cores} cores: the {spokes}-spoke run cannot take less than {:.0} ms",
            one_cpu * 1e3,
            cpu * 1e3,
            cpu * 1e3 / cores as f64
        );
    }
    if !usage.is_empty() && !one_own.is_empty() {
        // Per linked spoke: what one more spoke adds to mcflow's own CPU (the fixed cost of a
        // run, start-up and config, is in the one-spoke run too).
        let own = median_f(usage.iter().map(|u| u.own_cpu).collect());
        let one_own = median_f(one_own);
        let per_spoke = (own - one_own) / (spokes.max(2) - 1) as f64;
        let many_sys: Vec<f64> = usage.iter().filter_map(|u| u.own_sys).collect();
        let in_kernel = if many_sys.is_empty() || one_sys.is_empty() {
            String::new()
        } else {
            let per_spoke = (median_f(many_sys) - median_f(one_sys)) / (spokes.max(2) - 1) as f64;
            format!(", {:.2} ms of it in the kernel", per_spoke * 1e3)
        };
        println!(
            "  CPU of mcflow alone: 1 spoke {:.1} ms, {spokes} spokes {:.1} ms: {:.2} ms per more \
             spoke{in_kernel}",
            one_own * 1e3,
            own * 1e3,
            per_spoke * 1e3,
        );
        // The same links by a bare kube-rs + duct program (floor.rs), measured the same way.
        let (floor_one, floor_many) = (median_f(floor_one), median_f(floor_many));
        let floor_per_spoke = (floor_many - floor_one) / (spokes.max(2) - 1) as f64;
        println!(
            "  CPU of a bare kube-rs + duct program doing the same links: 1 spoke {:.1} ms, \
             {spokes} spokes {:.1} ms: {:.2} ms per more spoke; mcflow ÷ it {:.2}",
            floor_one * 1e3,
            floor_many * 1e3,
            floor_per_spoke * 1e3,
            per_spoke / floor_per_spoke
        );
        figure(
            "5c",
            "fan-out: mcflow's own CPU per linked spoke (its linkerd processes and the simulator apart)",
            format!(
                "{:.2} ms (({:.0} − {:.0} ms) ÷ {}; a bare kube-rs + duct program {:.2} ms)",
                per_spoke * 1e3,
                own * 1e3,
                one_own * 1e3,
                spokes.max(2) - 1,
                floor_per_spoke * 1e3
            ),
            "≤ 1 ms",
            per_spoke <= 1e-3,
        );
    }
    if !one_sim.is_empty() && !many_sim.is_empty() {
        println!(
            "  CPU (the simulator, in this process): 1 spoke {:.0} ms, {spokes} spokes {:.0} ms",
            median_f(one_sim) * 1e3,
            median_f(many_sim.clone()) * 1e3
        );
    }
    // What the machine allows: all the CPU of the run (mcflow, its linkerd processes and the
    // simulated clusters) spread perfectly over the cores. A fan-out that is not serialised
    // anywhere comes close to it; the aim of 5a needs the floor itself under 2× one spoke.
    if !usage.is_empty() && !many_sim.is_empty() {
        let cpu = median_f(usage.iter().map(|u| u.cpu).collect()) + median_f(many_sim);
        let floor = cpu / cores as f64;
        let one_s = one.as_secs_f64();
        println!(
            "  CPU floor of the {spokes}-spoke run on {cores} cores: {:.0} ms = {:.1}× one spoke; \
             the run took {:.2}× its floor; 2× one spoke needs ≥ {} cores at this CPU per spoke",
            floor * 1e3,
            floor / one_s,
            many.as_secs_f64() / floor,
            (cpu / (2.0 * one_s)).ceil()
        );
        let over = many.as_secs_f64() / floor;
        figure(
            "5d",
            &format!("fan-out: {spokes}-spoke wall ÷ its CPU floor on {cores} cores"),
            format!("{over:.2} ({:.0} ms vs {:.0} ms)", ms(many), floor * 1e3),
            "≤ 1.10",
            over <= 1.10,
        );
    }
    figure(
        "5a",
        &format!("fan-out: link {spokes} spokes ÷ link 1"),
        format!("{ratio:.2}× ({:.0} ms vs {:.0} ms)", ms(many), ms(one)),
        "≤ 2×",
        ratio <= 2.0,
    );
    match usage.iter().map(|u| u.rss_kb).max() {
        Some(kb) => {
            let mb = kb as f64 / 1024.0;
            figure(
                "5b",
                &format!("fan-out: peak RSS of mcflow linking {spokes} spokes"),
                format!("{mb:.1} MB"),
                "≤ 60 MB",
                mb <= 60.0,
            );
        }
        None => println!("  peak RSS: /usr/bin/time not available"),
    }
}
