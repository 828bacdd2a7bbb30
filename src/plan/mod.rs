//! The plan: params bound, steps in execution order, `for_each` expanded where its list is
//! known before the run, templates rendered as far as they can be (step outputs show as
//! placeholders), secrets masked. `mcflow plan` prints it; `mcflow graph` draws it.

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;
use serde::Serialize;

use crate::params::ParamValues;
use crate::secrets::MASK;
use crate::workflow::bundle::Bundle;
use crate::workflow::graph::execution_order;
use crate::workflow::item_key::item_key;
use crate::workflow::model::{ForEach, WorkflowCall};
use crate::workflow::step::{Action, ActionKind, StepSpec, ValidWorkflow};
use crate::workflow::template;

mod context;
mod render;

use context::{PlanContext, planned_vars};
pub use render::{mermaid, render_text};

/// A whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub workflow: String,
    pub file: String,
    pub params: BTreeMap<String, serde_json::Value>,
    /// The workflow's `vars:` as the run would compute them (masked when they read a sensitive
    /// param; those that read steps say so).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub vars: IndexMap<String, serde_json::Value>,
    pub steps: Vec<PlannedStep>,
    /// The `finally` steps: after the steps, whatever their outcome (`run.status` and
    /// `run.failed_steps` are known only then, so templates reading them stay as written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finally: Vec<PlannedStep>,
}

/// One step (or one `for_each` instance) of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// The key the journal uses: `id`, `id[item]`, `parent.child`.
    pub key: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: ActionKind,
    pub needs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// `for_each` that can only be expanded at run time (it reads step outputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    pub sensitive: bool,
    /// The action with its templates rendered.
    pub rendered: serde_json::Value,
    /// What a kube step would touch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub touches: Vec<String>,
    /// Steps of a nested workflow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<PlannedStep>,
}

/// A template that chooses (`if`, a `{% %}` statement) from what is known only at run time:
/// rendering it with placeholders would show one branch as if it were the plan.
fn is_runtime_choice(src: &str, wf: &ValidWorkflow) -> bool {
    let chooses = src.contains(" if ") || src.contains("{%");
    chooses
        && template::names_in_template(src).is_ok_and(|names| {
            names.iter().any(|n| {
                n.starts_with("steps.")
                    || n.strip_prefix("vars.").is_some_and(|v| {
                        let v = v.split('.').next().unwrap_or(v);
                        wf.vars.iter().any(|s| s.name == v && !s.steps.is_empty())
                    })
            })
        })
}

/// `<at run time: expr>`: the choice as the template writes it, on one line.
fn runtime_choice(src: &str) -> String {
    let inner = src.trim();
    let inner = inner
        .strip_prefix("{{")
        .and_then(|s| s.strip_suffix("}}"))
        .unwrap_or(inner);
    let one_line = inner.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("<at run time: {one_line}>")
}

/// Does this expression read step outputs, itself or through a var (so it can only be
/// evaluated during the run)?
fn reads_steps(expr: &str, wf: &ValidWorkflow) -> bool {
    template::names_in_expression(expr)
        .map(|names| {
            names.iter().any(|n| {
                n.starts_with("steps.")
                    || n.strip_prefix("vars.").is_some_and(|v| {
                        let v = v.split('.').next().unwrap_or(v);
                        wf.vars.iter().any(|s| s.name == v && !s.steps.is_empty())
                    })
            })
        })
        .unwrap_or(true)
}

/// How much of each step a plan renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Everything: `mcflow plan`, `graph` and `diff`.
    Full,
    /// Only a kube step's `context` (and the `for_each` and `with:` that lead to nested
    /// workflows): what a run checks against the kubeconfig before it starts. Rendering every
    /// field of 50 nested link-spoke workflows for that was a tenth of mcflow's CPU linking 50
    /// spokes (figure 5c of docs/PERFORMANCE.md).
    Contexts,
}

/// What every level of a plan shares.
#[derive(Clone, Copy)]
struct Planning<'a> {
    bundle: &'a Bundle,
    /// The config as a template value, made once for the whole plan: every nested workflow's
    /// context shares it (converting it per workflow grew with the square of the spokes).
    config: &'a minijinja::Value,
    detail: Detail,
}

/// Builds the plan of a validated bundle with bound params.
pub fn build(
    bundle: &Bundle,
    params: &ParamValues,
    config: &serde_json::Value,
) -> Result<Plan, String> {
    let root = &bundle.root;
    let shown_params = shown_params(bundle, params);
    let params_json = serde_json::to_value(&shown_params).map_err(|e| e.to_string())?;
    let config = &template::value_of(config);
    let planning = Planning {
        bundle,
        config,
        detail: Detail::Full,
    };
    let steps = plan_workflow(planning, root, &params_json, "")?;
    let finally_wf = ValidWorkflow {
        steps: root.finally.clone(),
        finally: Vec::new(),
        ..(**root).clone()
    };
    let finally = plan_workflow(planning, &finally_wf, &params_json, "")?;
    Ok(Plan {
        finally,
        workflow: root.name.clone(),
        file: root.path().display().to_string(),
        params: shown_params,
        vars: planned_vars(root, &params_json, config)?,
        steps,
    })
}

/// The steps of the plan (not the `finally` ones) with only each kube step's `context`
/// rendered, in `rendered.context`: the contexts a run will use, as far as they are known
/// before it starts.
pub fn contexts_only(
    bundle: &Bundle,
    params: &ParamValues,
    config: &serde_json::Value,
) -> Result<Vec<PlannedStep>, String> {
    let shown_params = shown_params(bundle, params);
    let params_json = serde_json::to_value(&shown_params).map_err(|e| e.to_string())?;
    let planning = Planning {
        bundle,
        config: &template::value_of(config),
        detail: Detail::Contexts,
    };
    plan_workflow(planning, &bundle.root, &params_json, "")
}

/// The params as a plan shows them: a sensitive one masked.
fn shown_params(bundle: &Bundle, params: &ParamValues) -> BTreeMap<String, serde_json::Value> {
    let root = &bundle.root;
    params
        .iter()
        .map(|(k, v)| {
            let sensitive = root.params.get(k).is_some_and(|s| s.sensitive);
            (
                k.clone(),
                if sensitive {
                    serde_json::json!(MASK)
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

fn plan_workflow(
    planning: Planning<'_>,
    wf: &ValidWorkflow,
    params: &serde_json::Value,
    prefix: &str,
) -> Result<Vec<PlannedStep>, String> {
    let steps = &wf.steps;
    let deps: Vec<&[usize]> = steps.iter().map(|s| &s.needs[..]).collect();
    let Planning { detail, .. } = planning;
    let plan_ctx = PlanContext::new(wf, params, planning.config);
    // Keys of each step's instances, so that dependents can name them.
    let mut keys: HashMap<usize, Vec<String>> = HashMap::new();
    let mut out = Vec::new();
    for i in execution_order(&deps) {
        let step = &steps[i];
        let needs: Vec<String> = deps[i]
            .iter()
            .flat_map(|d| keys.get(d).cloned().unwrap_or_default())
            .collect();
        let items = planned_items(step, wf, &plan_ctx)?;
        let runtime_for_each = match (&step.for_each, &items) {
            (Some(ForEach::Expr(e)), None) => Some(e.clone()),
            _ => None,
        };
        let instances: Vec<(String, Option<serde_json::Value>)> = match items {
            Some(items) => items
                .into_iter()
                .map(|it| (format!("{prefix}{}[{}]", step.id, item_key(&it)), Some(it)))
                .collect(),
            None => vec![(format!("{prefix}{}", step.id), None)],
        };
        keys.insert(i, instances.iter().map(|(k, _)| k.clone()).collect());
        for (key, item) in instances {
            // Items known only at run time show as a placeholder, like step outputs.
            let placeholder = serde_json::json!("<item>");
            let item = item
                .as_ref()
                .or(runtime_for_each.as_ref().map(|_| &placeholder));
            let ctx = plan_ctx.with_item(item);
            let action = step.action.kind();
            let mut rendered = render_action(step, wf, &ctx, detail);
            let nested = match &step.action {
                Action::Workflow(call) => {
                    plan_nested(planning, wf, call, &ctx, &mut rendered, &key)?
                }
                _ => Vec::new(),
            };
            let touches = if action == ActionKind::Kube && detail == Detail::Full {
                kube_touches(&rendered)
            } else {
                Vec::new()
            };
            out.push(PlannedStep {
                key,
                id: step.id.clone(),
                name: step.name.clone(),
                action,
                needs: needs.clone(),
                when: step.when.clone(),
                for_each: runtime_for_each.clone(),
                sensitive: step.sensitive,
                rendered,
                touches,
                steps: nested,
            });
        }
    }
    Ok(out)
}

/// A step's action with its templates rendered as far as they can be before the run (each
/// string on its own: one that reads a step's output stays a template without hiding what the
/// others render to); with [`Detail::Contexts`], only a kube step's `context`.
fn render_action(
    step: &StepSpec,
    wf: &ValidWorkflow,
    ctx: &minijinja::Value,
    detail: Detail,
) -> serde_json::Value {
    let mut lenient = |src: &str| {
        if is_runtime_choice(src, wf) {
            return runtime_choice(src);
        }
        template::render(src, ctx).unwrap_or_else(|_| src.to_string())
    };
    if detail == Detail::Contexts {
        return match &step.action {
            Action::Kube(k) => match k.get("context").and_then(|c| c.as_str()) {
                Some(c) => serde_json::json!({ "context": lenient(c) }),
                None => serde_json::json!({}),
            },
            _ => serde_json::Value::Null,
        };
    }
    let mut rendered = step.action.to_json();
    render_leniently(&mut rendered, &mut lenient);
    if step.sensitive {
        mask_stdin(rendered)
    } else {
        rendered
    }
}

/// The items of a `for_each` known before the run (a list, or an expression that reads no
/// step output); `None` when the step has none or they are known only at run time.
fn planned_items(
    step: &StepSpec,
    wf: &ValidWorkflow,
    plan_ctx: &PlanContext,
) -> Result<Option<Vec<serde_json::Value>>, String> {
    match &step.for_each {
        None => Ok(None),
        Some(ForEach::List(l)) => Ok(Some(l.clone())),
        Some(ForEach::Expr(e)) if !reads_steps(e, wf) => {
            let ctx = plan_ctx.with_item(None);
            let v = template::eval(e, &ctx)
                .map_err(|err| format!("step `{}`: for_each: {err}", step.id))?;
            match template::to_json(&v)? {
                serde_json::Value::Array(a) => Ok(Some(a)),
                _ => Err(format!(
                    "step `{}`: for_each does not yield a list",
                    step.id
                )),
            }
        }
        Some(ForEach::Expr(_)) => Ok(None),
    }
}

/// The plan of a `workflow:` step's child, its params from `with:` and its defaults; a param
/// the child calls sensitive is masked wherever the plan shows it (in `rendered` too).
fn plan_nested(
    planning: Planning<'_>,
    caller: &ValidWorkflow,
    call: &WorkflowCall,
    ctx: &minijinja::Value,
    rendered: &mut serde_json::Value,
    key: &str,
) -> Result<Vec<PlannedStep>, String> {
    let Some(child) = planning.bundle.called(caller, &call.path) else {
        return Ok(Vec::new());
    };
    let mut child_params = serde_json::Map::new();
    for (name, v) in &call.with {
        let value = template::render_value(v, ctx).unwrap_or_else(|_| v.clone());
        child_params.insert(name.clone(), value);
    }
    for (name, spec) in &child.params {
        if !child_params.contains_key(name)
            && let Some(d) = &spec.default
        {
            child_params.insert(name.clone(), d.clone());
        }
        if spec.sensitive && child_params.contains_key(name) {
            child_params.insert(name.clone(), serde_json::json!(MASK));
            if let Some(w) = rendered.get_mut("with").and_then(|w| w.as_object_mut())
                && w.contains_key(name)
            {
                w.insert(name.clone(), serde_json::json!(MASK));
            }
        }
    }
    plan_workflow(
        planning,
        child,
        &serde_json::Value::Object(child_params),
        &format!("{key}."),
    )
}

/// A stdin of a sensitive step may hold the secret: never shown.
fn mask_stdin(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut()
        && o.contains_key("stdin")
    {
        o.insert("stdin".into(), serde_json::json!(MASK));
    }
    v
}

/// What a rendered kube action would touch.
fn kube_touches(rendered: &serde_json::Value) -> Vec<String> {
    serde_json::from_value::<crate::kube::KubeAction>(rendered.clone())
        .map(|a| a.describe())
        .unwrap_or_default()
}

/// Renders every template string with `lenient` (which leaves a string that cannot be
/// rendered before the run as written), in place. Only template strings are replaced (most strings are not
/// templates, and copying every one was a third of planning's allocations).
fn render_leniently(v: &mut serde_json::Value, lenient: &mut impl FnMut(&str) -> String) {
    use serde_json::Value as J;
    match v {
        J::String(s) if template::is_template(s) => *s = lenient(s),
        J::Array(items) => items.iter_mut().for_each(|i| render_leniently(i, lenient)),
        J::Object(map) => {
            map.values_mut().for_each(|v| render_leniently(v, lenient));
            // Keys may be templates too (`set: { "{{ config.argocd.label }}": "true" }`).
            if map.keys().any(|k| template::is_template(k)) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (lenient(&k), v))
                    .collect();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kube_contexts(steps: &[PlannedStep], out: &mut Vec<(String, String)>) {
        for s in steps {
            if s.action == ActionKind::Kube
                && let Some(c) = s.rendered.get("context").and_then(|c| c.as_str())
            {
                out.push((s.key.clone(), c.to_string()));
            }
            kube_contexts(&s.steps, out);
        }
    }

    /// The contexts-only plan names the same steps, with the same contexts, as the full plan
    /// of every workflow of the repository (with its config, and a spoke where one is needed).
    #[test]
    fn contexts_only_names_the_contexts_the_full_plan_names() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let config_path = root.join("config/clusters.yaml");
        for name in [
            "bootstrap",
            "link-spoke",
            "unlink-spoke",
            "verify",
            "export-service",
            "gather",
        ] {
            let workflow = root.join(format!("workflows/{name}.yaml"));
            let sets = match name {
                "link-spoke" | "unlink-spoke" => vec!["spoke=nonproduction".to_string()],
                "export-service" => vec!["service=grafana".into(), "namespace=monitoring".into()],
                _ => vec![],
            };
            let prepared = crate::prepare::prepare(Some(&config_path), &workflow, &[], &sets)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let value = &prepared.config.value;
            let full = build(&prepared.bundle, &prepared.params, value).unwrap();
            let only = contexts_only(&prepared.bundle, &prepared.params, value).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            kube_contexts(&full.steps, &mut a);
            kube_contexts(&only, &mut b);
            assert!(!a.is_empty() || name == "gather", "{name} names no context");
            assert_eq!(a, b, "{name}");
        }
    }

    /// `steps` lists what a JSON map of placeholders listed: ids and fields in sorted order.
    #[test]
    fn steps_list_in_sorted_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.yaml");
        std::fs::write(
            &path,
            "name: w\nsteps:\n  - id: b\n    run: [echo, b]\n    outputs: { z: { json: /z }, a: { json: /a } }\n  - id: a\n    run: [echo, a]\n  - id: show\n    needs: [a, b]\n    print: \"{{ steps | list }} {{ steps.b | list }} {{ steps.b.outputs | list }} {{ steps.b.outputs.a }}\"\n",
        )
        .unwrap();
        let bundle = crate::workflow::validate::load_and_validate(&path, None).unwrap();
        let plan = build(&bundle, &ParamValues::new(), &serde_json::json!({})).unwrap();
        let show = plan.steps.iter().find(|s| s.id == "show").unwrap();
        assert_eq!(
            show.rendered["text"],
            "['a', 'b', 'show'] ['error', 'exit_code', 'items', 'object', 'outputs', 'status', \
             'stderr', 'stdout'] ['a', 'z'] <steps.b.outputs.a>"
        );
    }
}
