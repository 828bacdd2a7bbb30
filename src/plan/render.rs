//! A plan as text (`mcflow plan`) and a workflow as a Mermaid flowchart (`mcflow graph`).

use super::{Plan, PlannedStep};
use crate::workflow::step::{ActionKind, ValidWorkflow};

/// Human text of a plan.
pub fn render_text(plan: &Plan) -> String {
    let mut out = format!("Plan for workflow `{}` ({})\n", plan.workflow, plan.file);
    if !plan.params.is_empty() {
        out.push_str("params:\n");
        for (k, v) in &plan.params {
            out.push_str(&format!("  {k} = {}\n", short(v)));
        }
    }
    if !plan.vars.is_empty() {
        out.push_str("vars:\n");
        for (k, v) in &plan.vars {
            out.push_str(&format!("  {k} = {}\n", short(v)));
        }
    }
    let mut n = 0;
    render_steps(&plan.steps, 0, &mut n, &mut out);
    if !plan.finally.is_empty() {
        out.push_str("finally (after the steps, whatever their outcome; once per attempt):\n");
        render_steps(&plan.finally, 1, &mut n, &mut out);
    }
    out.push_str(&format!("{n} steps\n"));
    out
}

fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_steps(steps: &[PlannedStep], depth: usize, n: &mut usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for s in steps {
        *n += 1;
        let needs = if s.needs.is_empty() {
            "starts at once".to_string()
        } else {
            format!("after {}", s.needs.join(", "))
        };
        out.push_str(&format!(
            "{pad}{:>3}. {} [{}] ({needs})",
            *n, s.key, s.action
        ));
        if s.sensitive {
            out.push_str(" sensitive");
        }
        out.push('\n');
        if let Some(name) = &s.name {
            out.push_str(&format!("{pad}     {name}\n"));
        }
        if let Some(w) = &s.when {
            out.push_str(&format!("{pad}     when: {w}\n"));
        }
        if let Some(f) = &s.for_each {
            out.push_str(&format!(
                "{pad}     for each item of: {f} (known at run time)\n"
            ));
        }
        for t in &s.touches {
            out.push_str(&format!("{pad}     touches: {t}\n"));
        }
        if s.action != ActionKind::Workflow {
            for line in describe_action(s.action, &s.rendered) {
                out.push_str(&format!("{pad}     {line}\n"));
            }
        }
        if !s.steps.is_empty() {
            render_steps(&s.steps, depth + 1, n, out);
        }
    }
}

fn describe_action(action: ActionKind, v: &serde_json::Value) -> Vec<String> {
    match action {
        ActionKind::Run => vec![format!("argv: {}", argv_text(v.get("argv")))],
        ActionKind::Linkerd => {
            let ctx = v
                .get("context")
                .and_then(|c| c.as_str())
                .map(|c| format!("--context {c} "))
                .unwrap_or_default();
            vec![format!(
                "linkerd {ctx}{}",
                argv_text(v.get("args"))
                    .trim_start_matches('[')
                    .trim_end_matches(']')
            )]
        }
        ActionKind::Assert => vec![format!(
            "assert: {}",
            v.get("that").map(short).unwrap_or_default()
        )],
        _ => Vec::new(),
    }
}

fn argv_text(v: Option<&serde_json::Value>) -> String {
    let items: Vec<String> = v
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(short)
                .map(|s| {
                    if s.contains(' ') || s.is_empty() {
                        format!("{s:?}")
                    } else {
                        s
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

/// A Mermaid flowchart of a workflow's steps.
pub fn mermaid(wf: &ValidWorkflow) -> String {
    let steps = &wf.steps;
    let mut out = String::from("flowchart TD\n");
    for s in steps {
        let action = s.action.kind();
        let label = s
            .name
            .clone()
            .unwrap_or_else(|| s.id.clone())
            .replace('"', "'");
        let extra = if s.for_each.is_some() { " ×N" } else { "" };
        out.push_str(&format!(
            "    {}[\"{label}{extra}<br/><small>{action}</small>\"]\n",
            s.id
        ));
    }
    for s in steps {
        for &d in &s.needs {
            out.push_str(&format!("    {} --> {}\n", steps[d].id, s.id));
        }
    }
    out
}
