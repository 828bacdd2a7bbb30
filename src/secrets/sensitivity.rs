//! Which steps are sensitive: marked `sensitive: true`, reading a sensitive param, or reading
//! the output of a sensitive step (a value derived from a secret is a secret).

use std::collections::{BTreeSet, HashMap};

use crate::workflow::model::ForEach;
use crate::workflow::step::StepSpec;
use crate::workflow::template;

/// Which steps are sensitive: marked so, or reading the output of one that is (a value derived
/// from a secret is a secret).
pub fn effective_sensitivity(steps: &[StepSpec], sensitive_params: &[String]) -> Vec<bool> {
    let mut sensitive: Vec<bool> = steps
        .iter()
        .map(|s| {
            s.sensitive
                || referenced(s, "params.")
                    .iter()
                    .any(|p| sensitive_params.contains(p))
        })
        .collect();
    let reads: Vec<BTreeSet<String>> = steps.iter().map(referenced_steps).collect();
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

/// Does `step` read `steps.<id>`?
pub fn reads_step(step: &StepSpec, id: &str) -> bool {
    referenced_steps(step).contains(id)
}

/// The step ids a step's templates and expressions read.
pub fn referenced_steps(step: &StepSpec) -> BTreeSet<String> {
    referenced(step, "steps.")
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

fn collect_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}
