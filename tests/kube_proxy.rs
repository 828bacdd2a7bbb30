//! `HTTPS_PROXY` as kubectl applies it (src/kube/proxy.rs): a proxy in the environment is not
//! used for a loopback API server, nor for a server that `NO_PROXY` names, and is used for the
//! others. kube-rs alone sent every request to the proxy (and, before mcflow enabled its
//! `http-proxy` feature, failed every kube step as soon as `HTTPS_PROXY` was set).

mod support;

use support::Workspace;
use support::clusters::start_blocking;

const GET: &str = r#"name: proxied
steps:
  - id: ns
    kube: { context: production, get: { kind: Namespace, name: linkerd } }
    retry: { attempts: 1 }
"#;

/// A proxy that refuses every connection: whatever goes through it fails.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

#[test]
fn a_proxy_in_the_environment_is_not_used_for_a_loopback_api_server() {
    let s = Workspace::new();
    let sim = start_blocking(s.path(), &["production"]);
    s.write("w.yaml", GET);
    let kc = sim.kubeconfig_path().display().to_string();
    let s = s.env("HTTPS_PROXY", DEAD_PROXY).env("NO_PROXY", "");
    s.mcflow(&["--kubeconfig", &kc, "run", "w.yaml"]).success();
}

#[test]
fn a_proxy_in_the_environment_is_used_unless_no_proxy_names_the_server() {
    let s = Workspace::new();
    // A server that is not loopback and does not exist: through the dead proxy the request
    // fails at the proxy; with NO_PROXY naming it, it fails resolving the name instead.
    s.write(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\ncurrent-context: production\nclusters:\n- name: production\n  cluster: { server: \"https://api.mcflow-test.invalid:6443\", insecure-skip-tls-verify: true }\nusers:\n- name: u\n  user: { token: t }\ncontexts:\n- name: production\n  context: { cluster: production, user: u }\n",
    );
    s.write("w.yaml", GET);
    let kc = s.file("kubeconfig").display().to_string();
    let run = |no_proxy: &str| {
        let mut cmd = s.command(&["--kubeconfig", &kc, "run", "w.yaml"]);
        cmd.env("HTTPS_PROXY", DEAD_PROXY).env("NO_PROXY", no_proxy);
        s.run(cmd)
    };
    let proxied = run("");
    proxied.assert_code(1);
    assert!(proxied.all().contains("tunnel error"), "{}", proxied.all());
    assert!(
        proxied
            .all()
            .contains("went through the proxy that HTTPS_PROXY names"),
        "{}",
        proxied.all()
    );
    assert!(!proxied.all().contains(DEAD_PROXY), "{}", proxied.all());
    let direct = run("other.example, .mcflow-test.invalid");
    direct.assert_code(1);
    assert!(!direct.all().contains("tunnel error"), "{}", direct.all());
}
