//! Steps: their ids, `needs`, dependency cycles and actions.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use super::Checker;
use crate::workflow::diagnostic::{Problem, ProblemKind, Problems, did_you_mean};
use crate::workflow::load::typed;
use crate::workflow::model::Step;
use crate::yaml::{Loc, PathSeg};

static STEP_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9_]*$").expect("valid regex"));

impl Checker<'_> {
    pub(super) fn check_ids(&mut self) {
        let steps = &self.wf.workflow.steps;
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            let loc = self.step_field(i, "id").loc;
            if !STEP_ID.is_match(&step.id) {
                let suggestion = step.id.to_lowercase().replace(['-', ' ', '.'], "_");
                self.push(
                    Problem::new(ProblemKind::InvalidStepId, format!("invalid step id `{}`", step.id))
                        .at(self.file, loc)
                        .label("ids are [a-z][a-z0-9_]*")
                        .help(format!("ids are snake_case so that `steps.<id>.stdout` works in templates (a hyphen reads as a minus): try `{suggestion}`")),
                );
            }
            match first.get(step.id.as_str()) {
                Some(&j) => {
                    let first_line = self.step_field(j, "id").loc.line;
                    self.push(
                        Problem::new(
                            ProblemKind::DuplicateStepId,
                            format!("duplicate step id `{}`", step.id),
                        )
                        .at(self.file, loc)
                        .label(format!("already used on line {first_line}")),
                    );
                }
                None => {
                    first.insert(&step.id, i);
                }
            }
        }
        self.index = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .rev()
            .collect();
    }

    pub(super) fn check_needs(&mut self) {
        let steps = &self.wf.workflow.steps;
        for (i, step) in steps.iter().enumerate() {
            let Some(needs) = &step.needs else { continue };
            for (j, need) in needs.iter().enumerate() {
                let loc = self
                    .node(&[
                        PathSeg::Key("steps".into()),
                        PathSeg::Index(i),
                        PathSeg::Key("needs".into()),
                        PathSeg::Index(j),
                    ])
                    .loc;
                if need == &step.id {
                    self.push(
                        Problem::new(ProblemKind::Cycle, format!("step `{need}` needs itself"))
                            .at(self.file, loc),
                    );
                } else if !self.index.contains_key(need.as_str()) && self.is_main_step(need) {
                    self.push(
                        Problem::new(
                            ProblemKind::UnknownNeeds,
                            format!("finally step `{}` needs main step `{need}`", step.id),
                        )
                        .at(self.file, loc)
                        .label("a main step")
                        .help("finally steps run after every main step; their `needs` name other finally steps"),
                    );
                } else if !self.index.contains_key(need.as_str()) {
                    let mut p = Problem::new(
                        ProblemKind::UnknownNeeds,
                        format!("step `{}` needs unknown step `{need}`", step.id),
                    )
                    .at(self.file, loc)
                    .label("no step has this id");
                    if let Some(s) = did_you_mean(need, steps.iter().map(|s| s.id.as_str())) {
                        p = p.help(format!("did you mean `{s}`?"));
                    }
                    self.push(p);
                }
            }
        }
    }

    /// Finds dependency cycles; returns the steps that are in one (their other checks would only
    /// repeat the same problem).
    pub(super) fn check_cycles(&mut self) -> HashSet<usize> {
        let n = self.deps.len();
        // 0 = unvisited, 1 = on the stack, 2 = done
        let mut state = vec![0u8; n];
        let mut in_cycle = HashSet::new();
        for start in 0..n {
            if state[start] != 0 {
                continue;
            }
            // Iterative DFS: a 1,000-step chain must not overflow the stack.
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&dep) = self.deps[node].get(*next) {
                    *next += 1;
                    match state[dep] {
                        0 => {
                            state[dep] = 1;
                            stack.push((dep, 0));
                        }
                        1 if dep != node => {
                            let pos = stack.iter().position(|(s, _)| *s == dep).unwrap_or(0);
                            let cycle: Vec<usize> = stack[pos..].iter().map(|(s, _)| *s).collect();
                            if cycle.iter().all(|s| !in_cycle.contains(s)) {
                                self.report_cycle(&cycle);
                            }
                            in_cycle.extend(cycle);
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
        in_cycle
    }

    pub(super) fn report_cycle(&mut self, cycle: &[usize]) {
        let steps = &self.wf.workflow.steps;
        // The DFS walks from a step to what it needs, so reverse to read in run order.
        let mut names: Vec<&str> = cycle.iter().rev().map(|&i| steps[i].id.as_str()).collect();
        names.push(names[0]);
        let first = *cycle.iter().min().unwrap_or(&0);
        let loc = {
            let needs = self.step_field(first, "needs");
            if needs.loc.line > 0 {
                needs.loc
            } else {
                self.step_field(first, "id").loc
            }
        };
        self.push(
            Problem::new(
                ProblemKind::Cycle,
                format!("dependency cycle: {}", names.join(" → ")),
            )
            .at(self.file, loc)
            .label("this step is part of the cycle")
            .help(
                "remove one of these `needs` (a step without `needs` waits for the step above it)",
            ),
        );
    }

    pub(super) fn check_step(&mut self, i: usize, step: &Step, in_cycle: &HashSet<usize>) {
        self.check_actions(i, step);
        if let Some(kube) = &step.kube {
            self.check_kube(i, kube);
        }
        if let Some(t) = &step.timeout {
            let loc = self.step_field(i, "timeout").loc;
            self.check_duration(t, loc);
        }
        if let Some(r) = &step.retry {
            self.check_retry(
                r,
                &[
                    PathSeg::Key("steps".into()),
                    PathSeg::Index(i),
                    PathSeg::Key("retry".into()),
                ],
            );
        }
        self.check_concurrency(i, step);
        for (name, out) in &step.outputs {
            self.check_output(i, name, out);
        }
        if in_cycle.contains(&i) {
            return;
        }
        self.check_step_templates(i, step);
    }

    /// Exactly one action.
    fn check_actions(&mut self, i: usize, step: &Step) {
        let step_node = self.wf.step_node(i);
        let actions = step.actions();
        // An action the loader could not read has been reported already.
        let unreadable_action = crate::workflow::model::ACTIONS
            .iter()
            .any(|a| step_node.get(a).is_some());
        match actions.len() {
            0 if unreadable_action => {}
            0 => self.push(
                Problem::new(
                    ProblemKind::NoAction,
                    format!("step `{}` has no action", step.id),
                )
                .at(self.file, self.step_field(i, "id").loc)
                .help("give it one of: kube, linkerd, run, assert, workflow, print, save"),
            ),
            1 => {}
            _ => {
                // The second one as written, whatever the order of ACTIONS.
                let mut keys: Vec<Loc> = actions
                    .iter()
                    .filter_map(|a| step_node.entry(a).map(|(k, _)| k.loc))
                    .collect();
                keys.sort_by_key(|l| l.offset);
                let loc = keys.get(1).copied().unwrap_or(step_node.loc);
                self.push(
                    Problem::new(
                        ProblemKind::TwoActions,
                        format!(
                            "step `{}` has {} actions ({}); a step does exactly one thing",
                            step.id,
                            actions.len(),
                            actions.join(", ")
                        ),
                    )
                    .at(self.file, loc)
                    .label("second action")
                    .help("split it into steps"),
                );
            }
        }
    }

    fn check_concurrency(&mut self, i: usize, step: &Step) {
        let step_node = self.wf.step_node(i);
        if step.concurrency == Some(0) {
            let loc = self.step_field(i, "concurrency").loc;
            self.push(
                Problem::new(ProblemKind::OutOfRange, "`concurrency` must be at least 1")
                    .at(self.file, loc),
            );
        }
        if step.concurrency.is_some() && step.for_each.is_none() {
            let loc = step_node
                .entry("concurrency")
                .map_or(step_node.loc, |(k, _)| k.loc);
            self.push(
                Problem::new(
                    ProblemKind::MisplacedField,
                    "`concurrency` only applies to a step with `for_each`",
                )
                .at(self.file, loc),
            );
        }
    }

    pub(super) fn check_kube(&mut self, i: usize, kube: &serde_json::Value) {
        let base = [
            PathSeg::Key("steps".into()),
            PathSeg::Index(i),
            PathSeg::Key("kube".into()),
        ];
        let mut local = Problems::default();
        if let Some(action) = typed::<crate::kube::KubeAction>(
            self.file,
            &self.wf.root,
            &base,
            kube.clone(),
            &mut local,
        ) && let Err(e) = action.validate()
        {
            let loc = self.node(&base).loc;
            local.push(Problem::new(ProblemKind::InvalidAction, e).at(self.file, loc));
        }
        self.problems.extend(local);
    }
}
