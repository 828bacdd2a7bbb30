//! `fake_linkerd_bin()` builds and finds the binary as other crates' tests will use it.

use std::process::Command;

// Ignored by default: it runs a nested `cargo build` whose feature set differs from the test
// build's, which can take a minute on a cold or busy machine. Run with `--ignored`.
#[test]
#[ignore]
fn fake_linkerd_bin_builds_and_runs() {
    let path = mcflow_sim::fake_linkerd_bin();
    assert!(path.ends_with("fake-linkerd"), "{}", path.display());
    let out = Command::new(&path)
        .env("FAKE_LINKERD_VERSION", "stable-2.17.1")
        .env_remove("FAKE_LINKERD_FAIL")
        .args(["version", "--client", "--short"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "stable-2.17.1\n");
    // Built once per process.
    assert_eq!(mcflow_sim::fake_linkerd_bin(), path);
}
