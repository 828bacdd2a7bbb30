//! Nested workflow files: their paths, recursion, and the params a call passes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Checker, canonical, check_workflow};
use crate::workflow::diagnostic::{Problem, ProblemKind, did_you_mean};
use crate::workflow::load::{LoadedWorkflow, load_file_lenient};
use crate::workflow::model::WorkflowCall;
use crate::workflow::template;
use crate::yaml::{Loc, PathSeg};

/// The nested workflows loaded so far (each is loaded and checked once) and the chain of files
/// calling each other down to the one being checked.
pub(super) struct Nesting<'n> {
    pub nested: &'n mut HashMap<PathBuf, Arc<LoadedWorkflow>>,
    pub stack: &'n mut Vec<PathBuf>,
}

impl Checker<'_> {
    /// Nested workflows: loaded once each, validated with their own params.
    pub(super) fn check_nested(&mut self, n: &mut Nesting<'_>) {
        let wf = self.wf;
        for (i, step) in wf.workflow.steps.iter().enumerate() {
            let Some(call) = &step.workflow else { continue };
            let loc = wf
                .step_node(i)
                .lookup(&[PathSeg::Key("workflow".into()), PathSeg::Key("path".into())])
                .loc;
            let Some(canon) = self.nested_path(call, loc, n) else {
                continue;
            };
            if let Some(child) = self.load_nested(&wf.base_dir().join(&call.path), canon, n) {
                self.check_with(i, call, loc, &child);
            }
        }
    }

    /// The canonical path of the file a call names, when it can be loaded: a literal path to an
    /// existing workflow file that is not already being checked up the call chain.
    fn nested_path(&mut self, call: &WorkflowCall, loc: Loc, n: &Nesting<'_>) -> Option<PathBuf> {
        if template::is_template(&call.path) {
            self.push(
                Problem::new(
                    ProblemKind::NestedWorkflow,
                    "a nested workflow path cannot be a template",
                )
                .at(self.file, loc)
                .help("name the file literally, so that it can be checked before the run"),
            );
            return None;
        }
        let path = self.wf.base_dir().join(&call.path);
        if !path.is_file() {
            self.push(
                Problem::new(
                    ProblemKind::MissingWorkflowFile,
                    format!("nested workflow `{}` does not exist", call.path),
                )
                .at(self.file, loc)
                .label(format!("looked for {}", path.display())),
            );
            return None;
        }
        let canon = canonical(&path);
        if n.stack.contains(&canon) {
            let chain = n
                .stack
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" → ");
            self.push(
                Problem::new(
                    ProblemKind::NestedWorkflow,
                    format!("workflow `{}` calls itself (through {chain})", call.path),
                )
                .at(self.file, loc),
            );
            return None;
        }
        // A file that is not a workflow at all (`../../etc/passwd`, a kubeconfig) is refused
        // without showing a line of it: its diagnostics would print its content.
        if !n.nested.contains_key(&canon) && !looks_like_workflow(&path) {
            self.push(
                Problem::new(
                    ProblemKind::NestedWorkflow,
                    format!(
                        "nested workflow `{}` is not a workflow file (a YAML mapping with `name` and `steps`)",
                        call.path
                    ),
                )
                .at(self.file, loc)
                .label(format!("read {}", path.display())),
            );
            return None;
        }
        Some(canon)
    }

    /// The nested workflow at `path`, loaded and checked the first time it is called.
    fn load_nested(
        &mut self,
        path: &Path,
        canon: PathBuf,
        n: &mut Nesting<'_>,
    ) -> Option<Arc<LoadedWorkflow>> {
        if let Some(child) = n.nested.get(&canon) {
            return Some(child.clone());
        }
        let (child, problems) = load_file_lenient(path);
        self.problems.extend(problems);
        let child = Arc::new(child?);
        n.nested.insert(canon.clone(), child.clone());
        n.stack.push(canon);
        check_workflow(&child, self.config, n, self.problems);
        n.stack.pop();
        Some(child)
    }

    /// `with:` must name the child's params, and give every required one.
    fn check_with(&mut self, i: usize, call: &WorkflowCall, loc: Loc, child: &LoadedWorkflow) {
        let with_node = self
            .wf
            .step_node(i)
            .lookup(&[PathSeg::Key("workflow".into()), PathSeg::Key("with".into())]);
        for name in call.with.keys() {
            if !child.workflow.params.contains_key(name) {
                let at = with_node.entry(name).map_or(with_node.loc, |(k, _)| k.loc);
                let mut p = Problem::new(
                    ProblemKind::UnknownParam,
                    format!("workflow `{}` has no param `{name}`", call.path),
                )
                .at(self.file, at);
                if let Some(s) =
                    did_you_mean(name, child.workflow.params.keys().map(String::as_str))
                {
                    p = p.help(format!("did you mean `{s}`?"));
                }
                self.push(p);
            }
        }
        for (name, spec) in &child.workflow.params {
            if spec.required && spec.default.is_none() && !call.with.contains_key(name) {
                self.push(
                    Problem::new(
                        ProblemKind::MissingParam,
                        format!("workflow `{}` requires param `{name}`", call.path),
                    )
                    .at(self.file, loc)
                    .help(format!("add `{name}` under `with:`")),
                );
            }
        }
    }
}

/// Is the file at `path` meant as a workflow: a YAML mapping with a `steps` key (or, when it
/// does not parse, text with a top-level `steps:` line, so that a broken workflow still gets
/// its located diagnostics)?
fn looks_like_workflow(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        // Unreadable: the loader reports the I/O error, which shows no content.
        return true;
    };
    match crate::yaml::parse(&text) {
        Ok(root) => matches!(root.value, crate::yaml::Value::Map(_)) && root.get("steps").is_some(),
        Err(_) => text.lines().any(|l| l.starts_with("steps:")),
    }
}
