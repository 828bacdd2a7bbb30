//! The CI examples of docs/CI.md (docs/ci/github-actions.yml, docs/ci/gitlab-ci.yml) are real
//! files, checked here: no linter for either is packaged for this machine (actionlint is a Go
//! binary, gitlab-ci-lint needs a GitLab server), so they are parsed as YAML, their triggers
//! and store settings checked, and every `mcflow` command line in their scripts parsed by the
//! real CLI definitions, with every workflow file it names present in the repository.

mod support;

use clap::Parser;
use mcflow::cli::Cli;
use serde_json::Value;
use support::workspace::repo_root;

fn load(name: &str) -> Value {
    let path = repo_root().join("docs/ci").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Shell words of one line: quotes removed, operators (`||`, `&&`, `;`, `|`, `{`, `}`) and
/// redirections (`>`, `2>`) as words of their own.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut chars = line.chars().peekable();
    let flush = |w: &mut String, out: &mut Vec<String>| {
        if !w.is_empty() {
            out.push(std::mem::take(w));
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, ' ' | '\t') => flush(&mut word, &mut out),
            (None, ';' | '{' | '}' | '>') => {
                flush(&mut word, &mut out);
                out.push(c.to_string());
            }
            (None, '|' | '&') => {
                flush(&mut word, &mut out);
                let twice = chars.peek() == Some(&c);
                if twice {
                    chars.next();
                }
                out.push(if twice {
                    format!("{c}{c}")
                } else {
                    c.to_string()
                });
            }
            (None, c) => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Every `mcflow …` command in a script, as its argument list.
fn mcflow_commands(script: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in script.lines() {
        let w = words(line);
        let mut i = 0;
        while i < w.len() {
            if w[i] != "mcflow" {
                i += 1;
                continue;
            }
            let mut args = vec!["mcflow".to_string()];
            i += 1;
            while i < w.len() && !["||", "&&", ";", "|", "}"].contains(&w[i].as_str()) {
                if w[i] == ">" || w[i].ends_with('>') {
                    i += 2; // a redirection and its target
                    continue;
                }
                args.push(w[i].clone());
                i += 1;
            }
            found.push(args);
        }
    }
    found
}

/// Parses each command with the real CLI and checks the workflow files it names.
fn check_commands(file: &str, scripts: &[String]) -> usize {
    let commands: Vec<Vec<String>> = scripts.iter().flat_map(|s| mcflow_commands(s)).collect();
    for args in &commands {
        if let Err(e) = Cli::try_parse_from(args) {
            panic!("{file}: `{}` does not parse: {e}", args.join(" "));
        }
        for a in args
            .iter()
            .filter(|a| a.starts_with("workflows/") && !a.contains('*'))
        {
            assert!(repo_root().join(a).is_file(), "{file}: {a} does not exist");
        }
    }
    commands.len()
}

fn check_store(file: &str, spec: &Value) {
    let spec = spec
        .as_str()
        .unwrap_or_else(|| panic!("{file}: MCFLOW_STATE {spec}"));
    let parsed = mcflow::state::StateLocation::parse(spec, std::path::Path::new(".mcflow"));
    assert!(
        matches!(parsed, Ok(mcflow::state::StateLocation::Kube { .. })),
        "{file}: {spec}"
    );
}

#[test]
fn the_github_actions_example_triggers_and_commands_are_valid() {
    let file = "github-actions.yml";
    let wf = load(file);
    for trigger in ["push", "schedule", "workflow_dispatch"] {
        assert!(wf["on"].get(trigger).is_some(), "{file}: no `on.{trigger}`");
    }
    let jobs = wf["jobs"].as_object().unwrap();
    let mut scripts = Vec::new();
    for (name, job) in jobs {
        assert!(
            job["runs-on"].is_string(),
            "{file}: job {name} has no runs-on"
        );
        for step in job["steps"].as_array().unwrap() {
            assert!(
                step.get("run").is_some() != step.get("uses").is_some(),
                "{file}: a step of {name} needs exactly one of run/uses: {step}"
            );
            if let Some(run) = step["run"].as_str() {
                scripts.push(run.to_string());
            }
        }
        if let Some(state) = job.pointer("/env/MCFLOW_STATE") {
            check_store(file, state);
        }
        if let Some(needs) = job["needs"].as_str() {
            assert!(jobs.contains_key(needs), "{file}: {name} needs {needs}");
        }
    }
    assert_eq!(check_commands(file, &scripts), 5);
}

#[test]
fn the_gitlab_ci_example_stages_and_commands_are_valid() {
    let file = "gitlab-ci.yml";
    let ci = load(file);
    let stages: Vec<&str> = ci["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut scripts: Vec<String> = Vec::new();
    let lines = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    scripts.extend(lines(&ci["default"]["before_script"]));
    let keywords = ["stages", "default", "variables", "workflow", "include"];
    for (name, job) in ci.as_object().unwrap() {
        if keywords.contains(&name.as_str()) {
            continue;
        }
        let stage = job["stage"].as_str().unwrap_or("test");
        assert!(
            stages.contains(&stage),
            "{file}: job {name} in unknown stage {stage}"
        );
        assert!(job["script"].is_array(), "{file}: job {name} has no script");
        scripts.extend(lines(&job["script"]));
        if let Some(state) = job.pointer("/variables/MCFLOW_STATE") {
            check_store(file, state);
        }
    }
    assert_eq!(check_commands(file, &scripts), 4);
}

#[test]
fn the_script_reader_finds_commands_between_operators() {
    let cmds = mcflow_commands(
        "mcflow resume --last || {\n  rc=$?; [ \"$rc\" -eq 3 ] || exit \"$rc\"\n  mcflow run w.yaml --set a=\"b c\" > out.jsonl; }",
    );
    assert_eq!(
        cmds,
        [
            vec!["mcflow", "resume", "--last"],
            vec!["mcflow", "run", "w.yaml", "--set", "a=b c"]
        ]
    );
}
