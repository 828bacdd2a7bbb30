//! The template context a plan renders with: params and config as they are, `steps` and the
//! vars that read them as placeholders, the vars that read a sensitive param masked.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::Enumerator;

use crate::secrets::MASK;
use crate::workflow::step::ValidWorkflow;
use crate::workflow::template::{self, STEP_FIELDS};
use crate::workflow::vars::{self, Shown, VarsView};

/// The template context for planning: outputs of steps are placeholders. Built once per
/// workflow; `steps` is a view that makes a step's placeholders when a template reads them
/// (building them all up front was a quarter of planning a 1,000-step workflow).
pub(super) struct PlanContext {
    base: BTreeMap<&'static str, minijinja::Value>,
    /// `base` as one value: the context of every step without an item (most of them).
    without_item: minijinja::Value,
}

/// `steps` while planning: each `steps.<id>.<field>` (and `.outputs.<name>`) reads as the
/// placeholder `<steps.id.field>`, or as the mask for a sensitive step. Made when a template
/// reads it: building every step's placeholders up front was a quarter of planning a
/// 1,000-step workflow.
#[derive(Debug)]
struct PlaceholderSteps {
    /// Step id → its view.
    steps: HashMap<String, minijinja::Value>,
    /// Step ids in sorted order, for iteration.
    order: Vec<String>,
}

/// [`STEP_FIELDS`] in the sorted order a JSON map of them lists them (tested).
const SORTED_STEP_FIELDS: [&str; 8] = [
    "error",
    "exit_code",
    "items",
    "object",
    "outputs",
    "status",
    "stderr",
    "stdout",
];

/// `steps.<id>` (`is_outputs: false`) or `steps.<id>.outputs` (`is_outputs: true`).
#[derive(Debug)]
struct PlaceholderStep {
    id: String,
    sensitive: bool,
    outputs: std::sync::Arc<[String]>,
    is_outputs: bool,
}

impl PlaceholderSteps {
    fn of(wf: &ValidWorkflow) -> PlaceholderSteps {
        let steps = &wf.steps;
        PlaceholderSteps {
            steps: steps
                .iter()
                .map(|s| {
                    let view = PlaceholderStep {
                        id: s.id.clone(),
                        sensitive: s.sensitive,
                        outputs: sorted(s.outputs.keys()).into(),
                        is_outputs: false,
                    };
                    (s.id.clone(), minijinja::Value::from_object(view))
                })
                .collect(),
            // Sorted and without repeats, as the map of placeholders this replaced listed them.
            order: sorted(steps.iter().map(|s| &s.id)),
        }
    }
}

/// Sorted, without repeats.
fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let set: std::collections::BTreeSet<&String> = names.collect();
    set.into_iter().cloned().collect()
}

impl minijinja::value::Object for PlaceholderSteps {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        self.steps.get(key.as_str()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.order.iter().map(|id| id.as_str().into()).collect())
    }
}

impl PlaceholderStep {
    fn shown(&self, path: String) -> minijinja::Value {
        if self.sensitive {
            MASK.into()
        } else {
            path.into()
        }
    }
}

impl minijinja::value::Object for PlaceholderStep {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let key = key.as_str()?;
        let id = &self.id;
        if self.is_outputs {
            return self
                .outputs
                .iter()
                .any(|o| o == key)
                .then(|| self.shown(format!("<steps.{id}.outputs.{key}>")));
        }
        if key == "outputs" {
            return Some(minijinja::Value::from_object(PlaceholderStep {
                id: id.clone(),
                sensitive: self.sensitive,
                outputs: self.outputs.clone(),
                is_outputs: true,
            }));
        }
        STEP_FIELDS
            .contains(&key)
            .then(|| self.shown(format!("<steps.{id}.{key}>")))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        if self.is_outputs {
            Enumerator::Values(self.outputs.iter().map(|o| o.as_str().into()).collect())
        } else {
            Enumerator::Str(&SORTED_STEP_FIELDS)
        }
    }
}

impl PlanContext {
    pub(super) fn new(
        wf: &ValidWorkflow,
        params: &serde_json::Value,
        config: &minijinja::Value,
    ) -> PlanContext {
        let run = serde_json::json!({ "id": "<run.id>", "started_at": "<run.started_at>", "workflow": wf.name, "dir": wf.base_dir() });
        let mut pairs: Vec<(&'static str, minijinja::Value)> = vec![
            ("params", template::value_of(params)),
            ("config", config.clone()),
            (
                "steps",
                minijinja::Value::from_object(PlaceholderSteps::of(wf)),
            ),
            ("run", template::value_of(&run)),
        ];
        pairs.push((
            "vars",
            VarsView::value_showing(&wf.vars, &pairs, shown_vars(wf)),
        ));
        let base: BTreeMap<&'static str, minijinja::Value> = pairs.into_iter().collect();
        let without_item = minijinja::Value::from(base.clone());
        PlanContext { base, without_item }
    }

    /// The context of one step (or one `for_each` instance, with its `item`).
    pub(super) fn with_item(&self, item: Option<&serde_json::Value>) -> minijinja::Value {
        let Some(item) = item else {
            return self.without_item.clone();
        };
        let mut ctx = self.base.clone();
        ctx.insert("item", template::value_of(item));
        minijinja::Value::from(ctx)
    }
}

/// How the plan shows the vars it cannot compute: those reading steps (known only during the
/// run) as `<vars.name>`, those reading a sensitive param masked.
fn shown_vars(wf: &ValidWorkflow) -> HashMap<String, Shown> {
    let sensitive = wf.sensitive_params();
    let secret = vars::reading_params(&wf.vars, &sensitive);
    wf.vars
        .iter()
        .filter_map(|v| {
            let shown = if !v.steps.is_empty() {
                Shown::Placeholder
            } else if secret.contains(v.name.as_str()) {
                Shown::Masked(MASK)
            } else {
                return None;
            };
            Some((v.name.clone(), shown))
        })
        .collect()
}

/// The vars of `wf` as the plan shows them.
pub(super) fn planned_vars(
    wf: &ValidWorkflow,
    params: &serde_json::Value,
    config: &minijinja::Value,
) -> Result<IndexMap<String, serde_json::Value>, String> {
    let ctx = PlanContext::new(wf, params, config).with_item(None);
    let view = ctx.get_attr("vars").map_err(|e| e.to_string())?;
    wf.vars
        .iter()
        .map(|v| {
            let value = if v.steps.is_empty() {
                let value = view.get_attr(&v.name).map_err(|e| template::describe(&e))?;
                template::to_json(&value)?
            } else {
                let steps: Vec<String> = v.steps.iter().map(|s| format!("steps.{s}")).collect();
                serde_json::json!(format!("<at run time: reads {}>", steps.join(", ")))
            };
            Ok((v.name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_step_fields_are_the_step_fields_sorted() {
        let mut fields = STEP_FIELDS;
        fields.sort_unstable();
        assert_eq!(fields, SORTED_STEP_FIELDS);
    }
}
