//! Shared by the differential tests (`rig_*.rs`): the same command against the simulator and
//! the real-cluster rig, outputs normalised for what legitimately differs between two runs
//! (uids, resourceVersions, timestamps, allocated IPs, ports), and a report of differences.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// `Ok(())` when both kubectl and the rig are here; else prints one line and returns Err.
pub fn rig_or_skip(needs_kubectl: bool) -> Result<(), ()> {
    if let Err(why) = mcflow_sim::rig::RealClusters::available() {
        println!("rig skipped: {why}");
        return Err(());
    }
    if needs_kubectl
        && !Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
    {
        println!("rig skipped: kubectl is not installed");
        return Err(());
    }
    Ok(())
}

/// kubectl against one context of a kubeconfig, its discovery cache beside the kubeconfig.
pub fn kubectl(kubeconfig: &Path, context: &str, args: &[&str]) -> Output {
    let cache = kubeconfig
        .parent()
        .unwrap_or(Path::new("."))
        .join("kubectl-cache");
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(["--context", context, "--request-timeout", "60s"])
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// Replace the values that differ between any two runs by placeholders, in a JSON document.
pub fn normalise_json(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match k.as_str() {
                    "uid" | "resourceVersion" | "creationTimestamp" | "time"
                    | "deletionTimestamp" | "lastTransitionTime" | "lastUpdateTime" => {
                        *x = Value::String(format!("<{k}>"))
                    }
                    "clusterIP" => *x = Value::String("<ip>".into()),
                    "clusterIPs" => *x = serde_json::json!(["<ip>"]),
                    _ => normalise_json(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalise_json),
        _ => {}
    }
}

/// Normalise a command's text output: JSON documents are normalised as JSON, and in text
/// the temp paths and 127.0.0.1 ports are replaced.
pub fn normalise_text(s: &str, replacements: &[(String, String)]) -> String {
    let t = s.trim();
    if (t.starts_with('{') || t.starts_with('['))
        && let Ok(mut v) = serde_json::from_str::<Value>(t)
    {
        normalise_json(&mut v);
        return serde_json::to_string_pretty(&v).unwrap_or_default();
    }
    let mut out = t.to_string();
    for (from, to) in replacements {
        out = out.replace(from.as_str(), to);
    }
    let port = regex::Regex::new(r"127\.0\.0\.1:\d+").expect("regex");
    port.replace_all(&out, "127.0.0.1:<port>").into_owned()
}

/// What one command did on one backend, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn of(o: &Output, replacements: &[(String, String)]) -> Outcome {
        Outcome {
            ok: o.status.success(),
            stdout: normalise_text(&String::from_utf8_lossy(&o.stdout), replacements),
            stderr: normalise_text(&String::from_utf8_lossy(&o.stderr), replacements),
        }
    }
}

/// The differences found: (step, sim outcome, real outcome).
#[derive(Default)]
pub struct Differences {
    pub found: Vec<(String, Outcome, Outcome)>,
}

impl Differences {
    /// Record a step's outcomes (a difference when they are not equal).
    pub fn compare(&mut self, step: &str, sim: Outcome, real: Outcome) {
        if sim != real {
            self.found.push((step.to_string(), sim, real));
        }
    }

    /// Fails unless the steps that differ are exactly `known` (each documented in
    /// sim/README.md's simplifications): a new difference is a simulator bug to fix or to
    /// document, and a known one that is gone must leave the list.
    pub fn assert_only(&self, known: &[&str]) {
        let mut report = String::new();
        for (step, s, r) in &self.found {
            report.push_str(&format!(
                "── {step}\n  sim : ok={} stdout={:?} stderr={:?}\n  real: ok={} stdout={:?} stderr={:?}\n",
                s.ok, s.stdout, s.stderr, r.ok, r.stdout, r.stderr
            ));
        }
        println!("{report}");
        let got: Vec<&str> = self.found.iter().map(|(s, _, _)| s.as_str()).collect();
        let new: Vec<&&str> = got.iter().filter(|s| !known.contains(s)).collect();
        let gone: Vec<&&str> = known.iter().filter(|s| !got.contains(s)).collect();
        assert!(
            new.is_empty() && gone.is_empty(),
            "sim and real differ in steps not documented: {new:?}; documented differences no longer seen: {gone:?} (the report is above)"
        );
    }
}
