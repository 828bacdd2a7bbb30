//! `mcflow-sim up`: starts clusters, writes the kubeconfig, serves, exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcflow_sim::client::load_context;

#[test]
fn up_serves_until_sigterm() {
    let dir = std::env::temp_dir().join(format!("mcflow-sim-bin-test-{}", std::process::id()));
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcflow-sim"))
        .args([
            "up",
            "--clusters",
            "hub,spoke",
            "--scenario",
            "linkerd-fresh",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mcflow-sim starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("export KUBECONFIG=");
        printed.push(line);
        if done {
            break;
        }
    }
    assert_eq!(printed[0], format!("kubeconfig: {}", kubeconfig.display()));
    assert!(
        printed[1].starts_with("cluster hub: https://127.0.0.1:"),
        "{printed:?}"
    );
    assert!(
        printed[2].starts_with("cluster spoke: https://127.0.0.1:"),
        "{printed:?}"
    );

    let spoke = load_context(&kubeconfig, Some("spoke")).unwrap();
    let cm = spoke
        .get("/api/v1/namespaces/linkerd/configmaps/linkerd-identity-trust-roots")
        .unwrap()
        .expect("trust roots seeded");
    assert!(
        cm["data"]["ca-bundle.crt"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let hub = load_context(&kubeconfig, None).unwrap();
    assert_eq!(hub.name, "hub");
    assert!(hub.get("/api/v1/namespaces/argocd").unwrap().is_some());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "mcflow-sim did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
