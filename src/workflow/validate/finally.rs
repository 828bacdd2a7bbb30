//! `finally:` steps, checked as a list of their own: their ids are unique among every step of
//! the file, their `needs` name other finally steps only (they run after all the main steps),
//! and they may read `run.status` and `run.failed_steps`.

use std::collections::HashSet;
use std::sync::Arc;

use super::Checker;
use super::nested::Nesting;
use crate::workflow::diagnostic::{Problem, ProblemKind, Problems};
use crate::workflow::load::LoadedWorkflow;
use crate::yaml::{Key, Value};

/// Checks the `finally` steps of `wf` (nothing when it has none).
pub(super) fn check_finally(
    wf: &Arc<LoadedWorkflow>,
    config: Option<&serde_json::Value>,
    nesting: &mut Nesting<'_>,
    problems: &mut Problems,
) {
    if wf.workflow.finally.is_empty() {
        return;
    }
    let view = Arc::new(finally_view(wf));
    let mut c = Checker::new(&view, config, problems);
    c.main_steps = Some(&wf.workflow.steps);
    c.check_ids();
    c.check_ids_unique_with_main();
    c.check_needs();
    let in_cycle = c.check_cycles();
    for (i, step) in view.workflow.steps.iter().enumerate() {
        c.check_step(i, step, &in_cycle);
    }
    c.check_nested(nesting);
}

/// The workflow with its `finally` steps in place of its steps: the checks of steps then apply
/// as they are, and their problems point at the `finally` entries (the nodes keep their places).
pub(super) fn finally_view(wf: &LoadedWorkflow) -> LoadedWorkflow {
    let mut root = wf.root.clone();
    if let Value::Map(entries) = &mut root.value {
        let finally = entries
            .iter()
            .find(|(k, _)| k.name == "finally")
            .map(|(k, n)| (k.loc, n.clone()));
        entries.retain(|(k, _)| k.name != "steps" && k.name != "finally");
        if let Some((loc, node)) = finally {
            entries.push((
                Key {
                    name: "steps".into(),
                    loc,
                },
                node,
            ));
        }
    }
    let mut workflow = wf.workflow.clone();
    workflow.steps = std::mem::take(&mut workflow.finally);
    LoadedWorkflow {
        file: wf.file.clone(),
        root,
        workflow,
    }
}

impl Checker<'_> {
    /// A finally step's id is also a key in the run's journal, beside the main steps' keys.
    fn check_ids_unique_with_main(&mut self) {
        let Some(main) = self.main_steps else { return };
        let main: HashSet<&str> = main.iter().map(|s| s.id.as_str()).collect();
        for (i, step) in self.wf.workflow.steps.iter().enumerate() {
            if main.contains(step.id.as_str()) {
                let loc = self.step_field(i, "id").loc;
                self.push(
                    Problem::new(
                        ProblemKind::DuplicateStepId,
                        format!("duplicate step id `{}`", step.id),
                    )
                    .at(self.file, loc)
                    .label("a main step has this id")
                    .help("finally steps and main steps share one journal: give it another id"),
                );
            }
        }
    }

    /// Is `id` a main step, while finally steps are checked?
    pub(super) fn is_main_step(&self, id: &str) -> bool {
        self.main_steps
            .is_some_and(|main| main.iter().any(|s| s.id == id))
    }
}
