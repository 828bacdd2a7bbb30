//! The shape the code keeps (docs/ARCHITECTURE.md): checked here so that CI holds it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            (p, text)
        })
        .collect()
}

#[test]
fn no_source_file_is_over_600_lines_before_its_tests() {
    let long: Vec<String> = sources("src")
        .iter()
        .filter_map(|(path, text)| {
            let lines = text
                .lines()
                .take_while(|l| !l.starts_with("#[cfg(test)]"))
                .count();
            (lines > 600).then(|| format!("{}: {lines} lines", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "over 600 lines: {long:#?}");
}

#[test]
fn crate_roots_deny_long_functions_and_long_argument_lists() {
    let deny = "#![deny(clippy::too_many_lines, clippy::too_many_arguments)]";
    for root in [
        "src/lib.rs",
        "src/main.rs",
        "sim/src/lib.rs",
        "sim/src/bin/fake-linkerd/main.rs",
        "sim/src/bin/mcflow-sim.rs",
    ] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(root))
            .expect("crate root");
        assert!(
            text.contains(deny),
            "{root} does not deny the structure lints"
        );
    }
}

#[test]
fn every_allow_of_a_structure_lint_gives_its_reason_and_none_is_in_the_scheduler_or_validation() {
    for (path, text) in sources("src").into_iter().chain(sources("sim/src")) {
        let shown = path.display().to_string();
        for (n, line) in text.lines().enumerate() {
            if !(line.contains("allow(clippy::too_many_lines")
                || line.contains("allow(clippy::too_many_arguments"))
            {
                continue;
            }
            assert!(
                !shown.contains("run/scheduler") && !shown.contains("workflow/validate"),
                "{shown}:{}: no allow here",
                n + 1
            );
            let reason = text.lines().nth(n.saturating_sub(1)).unwrap_or_default();
            assert!(
                reason.trim_start().starts_with("//") || line.contains("//"),
                "{shown}:{}: an allow needs a one-line reason beside it",
                n + 1
            );
        }
    }
}

#[test]
fn the_run_stage_does_not_reach_back_into_commands() {
    for (path, text) in sources("src/run") {
        assert!(
            !text.contains("crate::commands"),
            "{} imports crate::commands",
            path.display()
        );
    }
}
