//! Names read by templates: params, vars, config, steps (which must run before the reader),
//! item, run; with a did-you-mean for a likely typo.

use std::collections::{BTreeSet, HashSet};

use super::{Checker, Scope};
use crate::workflow::diagnostic::{Problem, ProblemKind, UnknownName, did_you_mean};
use crate::workflow::model::{AssertAction, ForEach, Step};
use crate::workflow::template::{self, FINALLY_RUN_FIELDS, ROOTS, RUN_FIELDS, STEP_FIELDS};
use crate::yaml::{Loc, PathSeg, Value};

impl Checker<'_> {
    /// The templates and expressions of a step (one that is not in a cycle).
    pub(super) fn check_step_templates(&mut self, i: usize, step: &Step) {
        let scope = Scope {
            step: Some(i),
            item: step.for_each.is_some(),
            vars: Some(self.vars.len()),
        };
        if let Some(when) = &step.when {
            let loc = self.step_field(i, "when").loc;
            self.check_expression(when, loc, &scope);
        }
        if let Some(ForEach::Expr(e)) = &step.for_each {
            let loc = self.step_field(i, "for_each").loc;
            self.check_expression(
                e,
                loc,
                &Scope {
                    step: Some(i),
                    item: false,
                    vars: Some(self.vars.len()),
                },
            );
        }
        if let Some(a) = &step.assert {
            let (expr, node) = match a {
                AssertAction::Expr(e) => (e.clone(), self.step_field(i, "assert")),
                AssertAction::Full(s) => (
                    s.that.clone(),
                    self.node(&[
                        PathSeg::Key("steps".into()),
                        PathSeg::Index(i),
                        PathSeg::Key("assert".into()),
                        PathSeg::Key("that".into()),
                    ]),
                ),
            };
            let loc = node.loc;
            self.check_expression(&expr, loc, &scope);
        }
        self.check_step_strings(i, &scope);
    }

    /// Every string of a step that is a template, other than `when`, `for_each` and `assert`.
    fn check_step_strings(&mut self, i: usize, scope: &Scope) {
        let step_node = self.wf.step_node(i);
        // Every other string of the step that is a template.
        let mut templates: Vec<(Loc, &str)> = Vec::new();
        if let Value::Map(entries) = &step_node.value {
            for (key, value) in entries {
                if matches!(key.name.as_str(), "when" | "for_each" | "id" | "needs") {
                    continue;
                }
                if key.name == "assert" && !matches!(value.value, Value::Map(_)) {
                    continue;
                }
                value.visit_strings(&mut |node, s| {
                    if template::is_template(s)
                        && !(key.name == "assert"
                            && value.get("that").is_some_and(|t| std::ptr::eq(t, node)))
                    {
                        templates.push((node.loc, s));
                    }
                });
            }
        }
        for (loc, src) in templates {
            self.check_template(src, loc, scope);
        }
    }

    /// Checks a template's syntax and the names it reads.
    pub(super) fn check_template(&mut self, src: &str, loc: Loc, scope: &Scope) {
        let names = match self.template_names.get(src) {
            Some(known) => known.clone(),
            None => {
                let names = std::rc::Rc::new(template::names_in_template(src));
                self.template_names.insert(src.to_string(), names.clone());
                names
            }
        };
        match names.as_ref() {
            Ok(names) => self.check_names(names, loc, scope),
            Err(e) => self.push(
                Problem::new(ProblemKind::TemplateSyntax, "invalid template")
                    .at(self.file, loc)
                    .label(e),
            ),
        }
    }

    /// Checks every name a template reads against what will exist when it is rendered.
    pub(super) fn check_names(&mut self, names: &BTreeSet<String>, loc: Loc, scope: &Scope) {
        for name in names {
            let mut parts = name.split('.');
            let root = parts.next().unwrap_or_default();
            let second = parts.next();
            let third = parts.next();
            match root {
                "params" => self.check_param_ref(name, second, loc),
                "vars" => self.check_var_ref(name, second, loc, scope),
                "config" => self.check_config_ref(name, second, loc),
                "steps" => self.check_step_ref(name, second, third, loc, scope),
                "item" => {
                    if !scope.item {
                        self.push(
                            Problem::new(
                                unknown_name(name, 0, None),
                                "`item` is only defined in a step with `for_each`",
                            )
                            .at(self.file, loc),
                        );
                    }
                }
                "run" => self.check_run_ref(name, second, loc),
                other => {
                    let likely = did_you_mean(other, ROOTS);
                    let mut prob = Problem::new(
                        unknown_name(name, 0, likely),
                        format!("unknown name `{other}`"),
                    )
                    .at(self.file, loc)
                    .label("templates can read params, vars, config, steps, item and run");
                    if let Some(s) = likely {
                        prob = prob.help(format!("did you mean `{s}`?"));
                    }
                    self.push(prob);
                }
            }
        }
    }

    /// `run.<f>`: a field of `run`; `status` and `failed_steps` in `finally` steps only.
    fn check_run_ref(&mut self, name: &str, field: Option<&str>, loc: Loc) {
        let Some(f) = field else { return };
        if FINALLY_RUN_FIELDS.contains(&f) && self.main_steps.is_none() {
            self.push(
                Problem::new(
                    unknown_name(name, 1, None),
                    format!("`run.{f}` is known only to `finally` steps"),
                )
                .at(self.file, loc)
                .help("the run's status is decided when its main steps are over: read it in a step under `finally:`"),
            );
        } else if !RUN_FIELDS.contains(&f) && !FINALLY_RUN_FIELDS.contains(&f) {
            self.push(
                Problem::new(
                    unknown_name(name, 1, did_you_mean(f, RUN_FIELDS)),
                    format!("`run` has no field `{f}`"),
                )
                .at(self.file, loc)
                .help(format!("run has: {}", RUN_FIELDS.join(", "))),
            );
        }
    }

    /// `params.<p>`: `p` must be a param of this workflow.
    fn check_param_ref(&mut self, name: &str, param: Option<&str>, loc: Loc) {
        let params = &self.wf.workflow.params;
        let Some(p) = param.filter(|p| !params.contains_key(*p)) else {
            return;
        };
        let likely = did_you_mean(p, params.keys().map(String::as_str));
        let prob = Problem::new(
            unknown_name(name, 1, likely),
            format!("unknown param `{p}` in `{{{{ {name} }}}}`"),
        )
        .at(self.file, loc)
        .label("not a param of this workflow");
        let prob = match likely {
            Some(s) => prob.help(format!("did you mean `params.{s}`?")),
            None if params.is_empty() => {
                prob.help("this workflow declares no params: declare it under `params:`")
            }
            None => prob.help(format!(
                "declare it under `params:` (declared: {})",
                params.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        };
        self.push(prob);
    }

    /// `config.<key>[.<key>...]`: each key must be in the config, when one is in use, as far as
    /// the config has mappings (`config.hub.contxt`: did you mean `config.hub.context`?).
    fn check_config_ref(&mut self, name: &str, key: Option<&str>, loc: Loc) {
        let (Some(mut at), Some(_)) = (self.config, key) else {
            return;
        };
        for (depth, key) in name.split('.').enumerate().skip(1) {
            let Some(map) = at.as_object() else { return };
            if let Some(next) = map.get(key) {
                at = next;
                continue;
            }
            let likely = did_you_mean(key, map.keys().map(String::as_str));
            let path: Vec<&str> = name.split('.').take(depth).collect();
            let parent = path.join(".");
            let mut prob = Problem::new(
                unknown_name(name, depth, likely),
                format!("{parent} has no `{key}`"),
            )
            .at(self.file, loc)
            .label(format!("`{name}` is not in the config"));
            prob = match likely {
                Some(s) => prob.help(format!("did you mean `{parent}.{s}`?")),
                None => prob.help(format!(
                    "{parent} has: {}",
                    map.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            };
            self.push(prob);
            return;
        }
    }

    pub(super) fn check_step_ref(
        &mut self,
        name: &str,
        id: Option<&str>,
        field: Option<&str>,
        loc: Loc,
        scope: &Scope,
    ) {
        let Some(id) = id else { return };
        let Some(&target) = self.index.get(id) else {
            let likely = did_you_mean(id, self.wf.workflow.steps.iter().map(|s| s.id.as_str()));
            let mut prob = Problem::new(
                unknown_name(name, 1, likely),
                format!("`{name}` refers to unknown step `{id}`"),
            )
            .at(self.file, loc);
            if let Some(s) = likely {
                prob = prob.help(format!("did you mean `steps.{s}`?"));
            }
            self.push(prob);
            return;
        };
        if let Some(f) = field
            && !STEP_FIELDS.contains(&f)
        {
            let likely = did_you_mean(f, STEP_FIELDS);
            let mut prob = Problem::new(
                unknown_name(name, 2, likely),
                format!("a step has no field `{f}`"),
            )
            .at(self.file, loc)
            .label(format!("in `{name}`"));
            prob = match likely {
                Some(s) => prob.help(format!("did you mean `steps.{id}.{s}`?")),
                None => prob.help(format!("a step has: {}", STEP_FIELDS.join(", "))),
            };
            self.push(prob);
        }
        if let Some(current) = scope.step
            && !self.runs_before(target, current)
        {
            let current_id = &self.wf.workflow.steps[current].id;
            self.push(
                Problem::new(
                    ProblemKind::StepNotBefore,
                    format!(
                        "step `{current_id}` reads `{name}`, but `{id}` does not run before it"
                    ),
                )
                .at(self.file, loc)
                .help(format!("add `{id}` to the `needs` of `{current_id}`")),
            );
        }
    }

    /// Does step `a` always finish before step `b` starts (is it among b's transitive needs)?
    pub(super) fn runs_before(&self, a: usize, b: usize) -> bool {
        if a == b {
            return false;
        }
        let mut seen = HashSet::new();
        let mut todo = vec![b];
        while let Some(s) = todo.pop() {
            for &d in &self.deps[s] {
                if d == a {
                    return true;
                }
                if seen.insert(d) {
                    todo.push(d);
                }
            }
        }
        false
    }
}

/// [`ProblemKind::UnknownName`] for `name`, whose segment `at` (`params.spok`: 1) does not
/// exist and is likely meant to be `likely`.
pub(super) fn unknown_name(name: &str, at: usize, likely: Option<&str>) -> ProblemKind {
    let suggestion = likely.map(|likely| {
        name.split('.')
            .enumerate()
            .map(|(i, s)| if i == at { likely } else { s })
            .collect::<Vec<_>>()
            .join(".")
    });
    ProblemKind::UnknownName(Box::new(UnknownName {
        name: name.to_string(),
        suggestion,
    }))
}
