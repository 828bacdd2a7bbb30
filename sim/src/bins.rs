//! Locating (building once) this crate's binaries from other crates' tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn build(bin: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--quiet", "-p", "mcflow-sim", "--bin", bin])
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build {bin}: {e}"));
    assert!(
        status.success(),
        "cargo build -p mcflow-sim --bin {bin} failed"
    );
    let path = target_dir()
        .join("debug")
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// `$var` if set, else the freshly built binary.
fn locate(var: &str, bin: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => build(bin),
    }
}

/// The path of the `fake-linkerd` binary: `$FAKE_LINKERD_BIN` if set, else built once per
/// process with `cargo build -p mcflow-sim --bin fake-linkerd` (honours `CARGO` and
/// `CARGO_TARGET_DIR`; always the debug profile).
pub fn fake_linkerd_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| locate("FAKE_LINKERD_BIN", "fake-linkerd"))
        .clone()
}

/// The path of the `mcflow-sim` binary: `$MCFLOW_SIM_BIN` if set, else built once per process
/// like [`fake_linkerd_bin`].
pub fn sim_bin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| locate("MCFLOW_SIM_BIN", "mcflow-sim"))
        .clone()
}
