//! Start real clusters from the rig's binaries and keep them until stdin closes or Enter:
//! `cargo run -p mcflow-sim --example rig_up -- internal production nonproduction`.
//! Prints the kubeconfig path and each process's pid (e.g. to measure the rig at rest).

use std::io::BufRead;

fn main() -> anyhow::Result<()> {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let names = if names.is_empty() {
        vec!["internal".to_string()]
    } else {
        names
    };
    if let Err(why) = mcflow_sim::rig::RealClusters::available() {
        eprintln!("rig skipped: {why}");
        std::process::exit(2);
    }
    let t = std::time::Instant::now();
    let rig = mcflow_sim::rig::RealClusters::builder()
        .clusters(&names)
        .start_blocking()?;
    println!("ready in {:.1}s", t.elapsed().as_secs_f64());
    println!("kubeconfig: {}", rig.kubeconfig_path().display());
    for (name, pid) in rig.processes() {
        println!("pid {pid} {name}");
    }
    println!("press Enter (or close stdin) to stop");
    let _ = std::io::stdin().lock().lines().next();
    Ok(())
}
