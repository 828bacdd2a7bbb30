//! `vars:`: their names, their templates (which read only the vars above them), and the steps a
//! var reads, which must run before every step that reads the var.

use std::sync::LazyLock;

use regex::Regex;

use super::names::unknown_name;
use super::{Checker, Scope};
use crate::workflow::diagnostic::{Problem, ProblemKind, did_you_mean};
use crate::workflow::template;
use crate::yaml::{Loc, PathSeg};

static VAR_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));

impl Checker<'_> {
    /// Each var: a name `vars.<name>` can read, and templates that read what exists before
    /// any step (params, config, run, the vars above it) or steps.
    pub(super) fn check_vars(&mut self) {
        let wf = self.wf;
        let vars_node = wf.root.lookup(&[PathSeg::Key("vars".into())]);
        let names: Vec<String> = self.vars.iter().map(|v| v.name.clone()).collect();
        for (i, name) in names.iter().enumerate() {
            let key_loc = vars_node.entry(name).map_or(vars_node.loc, |(k, _)| k.loc);
            if !VAR_NAME.is_match(name) {
                self.push(
                    Problem::new(
                        ProblemKind::InvalidVarName,
                        format!("invalid var name `{name}`"),
                    )
                    .at(self.file, key_loc)
                    .label("var names are [A-Za-z_][A-Za-z0-9_]*")
                    .help(format!(
                        "templates read it as `vars.<name>`: try `{}`",
                        name.replace(['-', ' ', '.'], "_")
                    )),
                );
            }
            let scope = Scope {
                step: None,
                item: false,
                vars: Some(i),
            };
            let mut templates: Vec<(Loc, &str)> = Vec::new();
            vars_node
                .lookup(&[PathSeg::Key(name.clone())])
                .visit_strings(&mut |node, s| {
                    if template::is_template(s) {
                        templates.push((node.loc, s));
                    }
                });
            for (loc, src) in templates {
                self.check_template(src, loc, &scope);
            }
        }
    }

    /// `vars.<v>`: `v` must be a var above the reader, and the steps it reads must run before
    /// the step reading it.
    pub(super) fn check_var_ref(&mut self, name: &str, var: Option<&str>, loc: Loc, scope: &Scope) {
        let Some(v) = var else { return };
        let Some(visible) = scope.vars else {
            self.push(
                Problem::new(
                    unknown_name(name, 1, None),
                    format!("`{name}` cannot be read here"),
                )
                .at(self.file, loc)
                .label("vars are computed after params")
                .help("a param's `enum` can read `config`, not `vars`"),
            );
            return;
        };
        let Some(j) = self.vars.iter().position(|s| s.name == v) else {
            self.unknown_var(name, v, loc);
            return;
        };
        if j >= visible {
            self.push(
                Problem::new(
                    unknown_name(name, 1, None),
                    format!("`{name}` is not computed yet here"),
                )
                .at(self.file, loc)
                .label("a var reads only the vars above it")
                .help(format!("move `{v}` above the var that reads it")),
            );
            return;
        }
        let Some(current) = scope.step else { return };
        let reads: Vec<String> = self.vars[j].steps.iter().cloned().collect();
        for id in reads {
            let Some(&target) = self.index.get(id.as_str()) else {
                continue; // reported where the var reads it
            };
            if !self.runs_before(target, current) {
                let current_id = &self.wf.workflow.steps[current].id;
                self.push(
                    Problem::new(
                        ProblemKind::StepNotBefore,
                        format!(
                            "step `{current_id}` reads `{name}`, which reads `steps.{id}`, but `{id}` does not run before it"
                        ),
                    )
                    .at(self.file, loc)
                    .help(format!("add `{id}` to the `needs` of `{current_id}`")),
                );
            }
        }
    }

    fn unknown_var(&mut self, name: &str, v: &str, loc: Loc) {
        let names: Vec<&str> = self.vars.iter().map(|s| s.name.as_str()).collect();
        let likely = did_you_mean(v, names.iter().copied());
        let prob = Problem::new(
            unknown_name(name, 1, likely),
            format!("unknown var `{v}` in `{{{{ {name} }}}}`"),
        )
        .at(self.file, loc)
        .label("not a var of this workflow");
        let prob = match likely {
            Some(s) => prob.help(format!("did you mean `vars.{s}`?")),
            None if names.is_empty() => {
                prob.help("this workflow declares no vars: declare it under `vars:`")
            }
            None => prob.help(format!(
                "declare it under `vars:` (declared: {})",
                names.join(", ")
            )),
        };
        self.push(prob);
    }
}
