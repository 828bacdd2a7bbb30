//! What a live display knows before the first step: the workflow, its params as shown (masked
//! when sensitive) and how many steps the plan has.

use crate::plan::PlannedStep;
use crate::workflow::bundle::Bundle;

/// The run as the overall progress line names it.
#[derive(Debug, Clone, Default)]
pub struct Outline {
    pub workflow: String,
    /// `name=value`, in the order the workflow declares them.
    pub params: Vec<String>,
    /// Steps in the plan (each `for_each` instance and each step of a nested workflow count,
    /// as in the journal); a `for_each` over step outputs counts once until it expands.
    pub total: Option<usize>,
}

impl Outline {
    /// Plans the run to count its steps; a plan that cannot be made leaves the total unknown.
    pub fn of(bundle: &Bundle, params: &serde_json::Value, config: &serde_json::Value) -> Outline {
        let values: crate::params::ParamValues = params
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let plan = crate::plan::build(bundle, &values, config).ok();
        let shown = plan.as_ref().map(|p| &p.params);
        Outline {
            workflow: bundle.root.name.clone(),
            params: shown
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", compact(v)))
                .collect(),
            total: plan.as_ref().map(|p| count(&p.steps)),
        }
    }
}

fn count(steps: &[PlannedStep]) -> usize {
    steps.iter().map(|s| 1 + count(&s.steps)).sum()
}

/// A param's value on one line: strings without quotes, the rest as compact JSON.
fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
