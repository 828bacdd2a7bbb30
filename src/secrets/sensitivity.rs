//! Which steps are sensitive: marked `sensitive: true`, reading a sensitive param, or reading
//! the output of a sensitive step (a value derived from a secret is a secret). A step reading
//! `vars.<name>` reads what the var reads.

use std::collections::{BTreeSet, HashMap};

use crate::workflow::model::ForEach;
use crate::workflow::step::StepSpec;
use crate::workflow::template;
use crate::workflow::vars::{VarSpec, reading_params};

/// Which steps are sensitive: marked so, or reading the output of one that is (a value derived
/// from a secret is a secret).
pub fn effective_sensitivity(
    steps: &[StepSpec],
    vars: &[VarSpec],
    sensitive_params: &[String],
) -> Vec<bool> {
    let secret_vars = reading_params(vars, sensitive_params);
    let mut sensitive: Vec<bool> = steps
        .iter()
        .map(|s| {
            s.sensitive
                || referenced(s, "params.")
                    .iter()
                    .any(|p| sensitive_params.contains(p))
                || referenced(s, "vars.")
                    .iter()
                    .any(|v| secret_vars.contains(v.as_str()))
        })
        .collect();
    let reads: Vec<BTreeSet<String>> = steps.iter().map(|s| referenced_steps(s, vars)).collect();
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    // Steps only read steps before them in dependency order; iterate to a fixed point.
    loop {
        let mut changed = false;
        for (i, r) in reads.iter().enumerate() {
            if !sensitive[i]
                && r.iter()
                    .any(|id| index.get(id.as_str()).is_some_and(|&j| sensitive[j]))
            {
                sensitive[i] = true;
                changed = true;
            }
        }
        if !changed {
            return sensitive;
        }
    }
}

/// Does `step` read `steps.<id>` (itself or through one of `vars`)?
pub fn reads_step(step: &StepSpec, vars: &[VarSpec], id: &str) -> bool {
    referenced_steps(step, vars).contains(id)
}

/// The step ids a step's templates and expressions read, themselves or through `vars`.
pub fn referenced_steps(step: &StepSpec, vars: &[VarSpec]) -> BTreeSet<String> {
    let mut ids = referenced(step, "steps.");
    for name in referenced(step, "vars.") {
        if let Some(v) = vars.iter().find(|v| v.name == name) {
            ids.extend(v.steps.iter().cloned());
        }
    }
    ids
}

/// The names under `root` (`steps.`, `params.`) a step's templates and expressions read:
/// `steps.link.stdout` gives `link` for `steps.`.
fn referenced(step: &StepSpec, root: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut add = |found: Result<BTreeSet<String>, String>| {
        for n in found.unwrap_or_default() {
            if let Some(rest) = n.strip_prefix(root) {
                names.insert(rest.split('.').next().unwrap_or(rest).to_string());
            }
        }
    };
    if let Some(w) = &step.when {
        add(template::names_in_expression(w));
    }
    if let Some(ForEach::Expr(e)) = &step.for_each {
        add(template::names_in_expression(e));
    }
    if let Some(e) = step.action.expressions() {
        add(template::names_in_expression(e));
    }
    let json = step.action.to_json();
    let mut strings = Vec::new();
    collect_strings(&json, &mut strings);
    for s in strings {
        if template::is_template(s) {
            add(template::names_in_template(s));
        }
    }
    names
}

/// The names whose values are secret at one level: `params.<p>` of sensitive params,
/// `steps.<id>` of sensitive steps (`sensitive`, from [`effective_sensitivity`]), `vars.<v>` of
/// vars reading either.
pub fn secret_names(
    steps: &[StepSpec],
    vars: &[VarSpec],
    sensitive_params: &[String],
    sensitive: &[bool],
) -> Vec<String> {
    let secret_steps: Vec<&str> = steps
        .iter()
        .zip(sensitive)
        .filter(|(_, s)| **s)
        .map(|(st, _)| st.id.as_str())
        .collect();
    let secret_vars = reading_params(vars, sensitive_params);
    let mut names: Vec<String> = sensitive_params
        .iter()
        .map(|p| format!("params.{p}"))
        .collect();
    names.extend(secret_steps.iter().map(|id| format!("steps.{id}")));
    names.extend(
        vars.iter()
            .filter(|v| {
                secret_vars.contains(v.name.as_str())
                    || v.steps.iter().any(|id| secret_steps.contains(&id.as_str()))
            })
            .map(|v| format!("vars.{}", v.name)),
    );
    names
}

/// The template strings of a step's action that read one of `secret_names`: what they render
/// to is derived from a secret (`{{ steps.secret.stdout | replace('-', '_') }}`), and the
/// redactor, which knows only the secret itself, is told about it before a failure of the
/// step is shown.
pub fn secret_templates(step: &StepSpec, secret_names: &[String]) -> Vec<String> {
    let json = step.action.to_json();
    let mut strings = Vec::new();
    collect_strings(&json, &mut strings);
    let is_secret = |n: &String| {
        secret_names.iter().any(|s| {
            n == s
                || n.strip_prefix(s.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        })
    };
    strings
        .into_iter()
        .filter(|s| template::is_template(s))
        .filter(|s| template::names_in_template(s).is_ok_and(|names| names.iter().any(is_secret)))
        .map(String::from)
        .collect()
}

fn collect_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::validate::validate;

    /// A step reading a var is sensitive when the var reads a sensitive param (through another
    /// var too), and reads the steps the var reads.
    #[test]
    fn a_var_carries_what_it_reads() {
        let text = r#"
name: w
params: { token: { sensitive: true, default: x } }
vars:
  header: "Bearer {{ params.token }}"
  request: "{{ vars.header }} for {{ steps.cli.stdout }}"
steps:
  - id: cli
    run: [echo, a]
  - id: plain
    run: [echo, "{{ steps.cli.stdout }}"]
  - id: auth
    run: [echo, "{{ vars.request }}"]
"#;
        let wf = crate::workflow::load_str(std::path::Path::new("w.yaml"), text).unwrap();
        let bundle = validate(wf, None).unwrap();
        let wf = &bundle.root;
        assert_eq!(
            effective_sensitivity(&wf.steps, &wf.vars, &["token".to_string()]),
            [false, false, true]
        );
        assert!(reads_step(&wf.steps[2], &wf.vars, "cli"));
        assert!(!reads_step(&wf.steps[2], &[], "cli"));
    }
}
