//! Differential: the fake `linkerd` against the real CLI of each supported release, where the
//! rig has it (`target/rig/bin/linkerd-2.17` etc.; see rig/build.sh for why it may not): what
//! `version` prints, what an unknown subcommand says, and which objects `multicluster install`
//! renders against the objects the simulator's ApplicationSet reactor installs. Each release
//! without its binary prints one `rig skipped:` line.

mod rig_common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use mcflow_sim::rig::{bin_dir, linkerd_bin};
use serde_json::Value;

const RELEASES: [(&str, &str); 3] = [
    ("2.17", "edge-24.11.8"),
    ("2.18", "edge-25.4.4"),
    ("2.19", "edge-25.10.7"),
];

fn fake(tag: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fake-linkerd"))
        .env("FAKE_LINKERD_VERSION", tag)
        .env("FAKE_LINKERD_STATE_DIR", std::env::temp_dir())
        .args(args)
        .output()
        .expect("fake linkerd runs")
}

fn real(bin: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin)
        // No cluster: what the CLI does on its own.
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .args(args)
        .output()
        .expect("linkerd runs")
}

fn text(o: &Output) -> (bool, String, String) {
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).trim().to_string(),
    )
}

/// (kind, namespace, name) of every object in a YAML stream.
fn objects(yaml: &str) -> BTreeSet<(String, String, String)> {
    mcflow_sim::cluster::parse_yaml_documents(yaml)
        .unwrap_or_default()
        .iter()
        .map(|o: &Value| {
            let s = |p: &str| {
                o.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
        })
        .collect()
}

#[test]
fn fake_linkerd_says_what_the_real_cli_says() {
    let mut ran = 0;
    let mut diffs = rig_common::Differences::default();
    for (rel, tag) in RELEASES {
        let Some(bin) = linkerd_bin(rel) else {
            println!(
                "rig skipped: linkerd-{rel} not in {} (rig/build.sh: the Go module proxy does not serve github.com/linkerd/linkerd2)",
                bin_dir().display()
            );
            continue;
        };
        ran += 1;
        for args in [
            &["version", "--client"][..],
            &["version", "--client", "--short"][..],
        ] {
            let (r, f) = (text(&real(&bin, args)), text(&fake(tag, args)));
            let as_outcome = |t: (bool, String, String)| rig_common::Outcome {
                ok: t.0,
                stdout: t.1,
                stderr: t.2,
            };
            diffs.compare(
                &format!("{rel}: linkerd {}", args.join(" ")),
                as_outcome(f),
                as_outcome(r),
            );
        }
        // link-gen exists from 2.18; 2.17 says it does not know it.
        let args = ["multicluster", "link-gen", "--cluster-name", "hub"];
        let r = text(&real(&bin, &args));
        if rel == "2.17" {
            let f = text(&fake(tag, &args));
            assert!(
                !r.0 && !f.0,
                "{rel}: link-gen must fail: real {r:?}, fake {f:?}"
            );
            let first = |s: &str| s.lines().next().unwrap_or("").to_string();
            assert_eq!(first(&f.2), first(&r.2), "{rel}: link-gen on 2.17");
        } else {
            // Without a cluster the real one fails reading the hub; the command exists.
            assert!(!r.2.contains("unknown command"), "{rel}: {r:?}");
        }

        // What `multicluster install` renders, for the record (compared in the report).
        let inst = real(&bin, &["multicluster", "install"]);
        let (ok, out, err) = text(&inst);
        println!("── {rel}: linkerd multicluster install: exit ok={ok}; stderr: {err}");
        for (kind, ns, name) in objects(&out) {
            println!("   {kind} {ns}/{name}");
        }
    }
    if ran == 0 {
        return;
    }
    diffs.assert_only(&[]);
}
