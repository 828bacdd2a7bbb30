//! Checks what the loader cannot: references between steps, cycles, templates, durations,
//! patterns, nested workflow files. Every problem in every file is reported, each pointing at
//! the YAML it is about.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use regex::Regex;

pub use super::bundle::Bundle;
use super::diagnostic::{Problem, ProblemKind, Problems, SourceFile, did_you_mean};
use super::duration::parse_duration;
use super::graph::dependencies;
use super::load::{LoadedWorkflow, load_file_lenient, typed};
use super::model::{AssertAction, Choices, ForEach, RetrySpec, Step};
use super::step::ValidWorkflow;
use super::template::{self, ROOTS, RUN_FIELDS, STEP_FIELDS};
use crate::yaml::{Loc, Node, PathSeg, Value};

static STEP_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9_]*$").expect("valid regex"));

/// Loads `path` and validates it and the workflows it calls, reporting every problem of every
/// file (a step that cannot be read is checked as far as it could be).
pub fn load_and_validate(
    path: &Path,
    config: Option<&serde_json::Value>,
) -> Result<Bundle, Problems> {
    let (loaded, mut problems) = load_file_lenient(path);
    let Some(loaded) = loaded else {
        problems.sort();
        return Err(problems);
    };
    match validate(loaded, config) {
        Ok(bundle) => problems.into_result(bundle),
        Err(more) => {
            problems.extend(more);
            problems.sort();
            Err(problems)
        }
    }
}

/// Validates `root` and the workflows it calls. `config` is the topology exposed to templates as
/// `config`, when one is in use (names under `config.` are checked against it).
pub fn validate(
    root: LoadedWorkflow,
    config: Option<&serde_json::Value>,
) -> Result<Bundle, Problems> {
    let mut nested = HashMap::new();
    let mut problems = Problems::default();
    let root = Arc::new(root);
    let mut stack = vec![canonical(root.path())];
    check_workflow(&root, config, &mut nested, &mut stack, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let typed = |wf: &LoadedWorkflow| {
        ValidWorkflow::from_loaded(wf).map(Arc::new).map_err(|e| {
            Problems::from(Problem::new(ProblemKind::WrongType, e).at(&wf.file, wf.root.loc))
        })
    };
    let nested = nested
        .iter()
        .map(|(path, wf)| Ok((path.clone(), typed(wf)?)))
        .collect::<Result<_, Problems>>()?;
    Ok(Bundle {
        root: typed(&root)?,
        nested,
    })
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

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

struct Checker<'a> {
    wf: &'a LoadedWorkflow,
    file: &'a Arc<SourceFile>,
    config: Option<&'a serde_json::Value>,
    index: HashMap<&'a str, usize>,
    deps: Vec<Vec<usize>>,
    problems: &'a mut Problems,
    /// Patterns already found valid, and the names each template text reads: the same text
    /// (`{{ params.spoke }}`, a version regex) recurs across the steps of a workflow, and its
    /// answer does not depend on where it is.
    valid_regexes: HashSet<String>,
    template_names: HashMap<String, std::rc::Rc<Result<BTreeSet<String>, String>>>,
}

fn check_workflow(
    wf: &Arc<LoadedWorkflow>,
    config: Option<&serde_json::Value>,
    nested: &mut HashMap<PathBuf, Arc<LoadedWorkflow>>,
    stack: &mut Vec<PathBuf>,
    problems: &mut Problems,
) {
    let steps = &wf.workflow.steps;
    let mut c = Checker {
        wf,
        file: &wf.file,
        config,
        index: HashMap::with_capacity(steps.len()),
        deps: dependencies(steps),
        problems,
        valid_regexes: HashSet::new(),
        template_names: HashMap::new(),
    };
    c.check_params();
    c.check_defaults();
    c.check_ids();
    c.check_needs();
    let in_cycle = c.check_cycles();
    for (i, step) in steps.iter().enumerate() {
        c.check_step(i, step, &in_cycle);
    }
    // Nested workflows: loaded once each, validated with their own params.
    for (i, step) in steps.iter().enumerate() {
        let Some(call) = &step.workflow else { continue };
        let node = wf
            .step_node(i)
            .lookup(&[PathSeg::Key("workflow".into()), PathSeg::Key("path".into())]);
        if template::is_template(&call.path) {
            c.problems.push(
                Problem::new(
                    ProblemKind::NestedWorkflow,
                    "a nested workflow path cannot be a template",
                )
                .at(c.file, node.loc)
                .help("name the file literally, so that it can be checked before the run"),
            );
            continue;
        }
        let path = wf.base_dir().join(&call.path);
        if !path.is_file() {
            c.problems.push(
                Problem::new(
                    ProblemKind::MissingWorkflowFile,
                    format!("nested workflow `{}` does not exist", call.path),
                )
                .at(c.file, node.loc)
                .label(format!("looked for {}", path.display())),
            );
            continue;
        }
        let canon = canonical(&path);
        if stack.contains(&canon) {
            c.problems.push(
                Problem::new(
                    ProblemKind::NestedWorkflow,
                    format!(
                        "workflow `{}` calls itself (through {})",
                        call.path,
                        stack
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(" → ")
                    ),
                )
                .at(c.file, node.loc),
            );
            continue;
        }
        // A file that is not a workflow at all (`../../etc/passwd`, a kubeconfig) is refused
        // without showing a line of it: its diagnostics would print its content.
        if !nested.contains_key(&canon) && !looks_like_workflow(&path) {
            c.problems.push(
                Problem::new(
                    ProblemKind::NestedWorkflow,
                    format!(
                        "nested workflow `{}` is not a workflow file (a YAML mapping with `name` and `steps`)",
                        call.path
                    ),
                )
                .at(c.file, node.loc)
                .label(format!("read {}", path.display())),
            );
            continue;
        }
        let child = match nested.get(&canon) {
            Some(child) => child.clone(),
            None => match load_file_lenient(&path) {
                (Some(child), child_problems) => {
                    c.problems.extend(child_problems);
                    let child = Arc::new(child);
                    nested.insert(canon.clone(), child.clone());
                    stack.push(canon.clone());
                    check_workflow(&child, config, nested, stack, c.problems);
                    stack.pop();
                    child
                }
                (None, p) => {
                    c.problems.extend(p);
                    continue;
                }
            },
        };
        // `with:` must name the child's params, and give every required one.
        let with_node = wf
            .step_node(i)
            .lookup(&[PathSeg::Key("workflow".into()), PathSeg::Key("with".into())]);
        for name in call.with.keys() {
            if !child.workflow.params.contains_key(name) {
                let loc = with_node.entry(name).map_or(with_node.loc, |(k, _)| k.loc);
                let mut p = Problem::new(
                    ProblemKind::UnknownParam,
                    format!("workflow `{}` has no param `{name}`", call.path),
                )
                .at(c.file, loc);
                if let Some(s) =
                    did_you_mean(name, child.workflow.params.keys().map(String::as_str))
                {
                    p = p.help(format!("did you mean `{s}`?"));
                }
                c.problems.push(p);
            }
        }
        for (name, spec) in &child.workflow.params {
            if spec.required && spec.default.is_none() && !call.with.contains_key(name) {
                c.problems.push(
                    Problem::new(
                        ProblemKind::MissingParam,
                        format!("workflow `{}` requires param `{name}`", call.path),
                    )
                    .at(c.file, node.loc)
                    .help(format!("add `{name}` under `with:`")),
                );
            }
        }
    }
}

impl Checker<'_> {
    fn node(&self, path: &[PathSeg]) -> &Node {
        self.wf.root.lookup(path)
    }

    fn step_field(&self, i: usize, field: &str) -> &Node {
        self.node(&[
            PathSeg::Key("steps".into()),
            PathSeg::Index(i),
            PathSeg::Key(field.into()),
        ])
    }

    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    fn check_params(&mut self) {
        for (name, spec) in &self.wf.workflow.params {
            let base = [PathSeg::Key("params".into()), PathSeg::Key(name.clone())];
            if let Some(pattern) = &spec.pattern
                && let Err(e) = check_regex(pattern)
            {
                let mut path = base.to_vec();
                path.push(PathSeg::Key("pattern".into()));
                let loc = self.node(&path).loc;
                self.push(
                    Problem::new(
                        ProblemKind::BadPattern,
                        format!("invalid pattern for param `{name}`"),
                    )
                    .at(self.file, loc)
                    .label(last_line(&e.to_string())),
                );
            }
            if let Some(Choices::Template(expr)) = &spec.choices {
                let mut path = base.to_vec();
                path.push(PathSeg::Key("enum".into()));
                let loc = self.node(&path).loc;
                self.check_expression(expr, loc, &Scope::params_only());
            }
        }
    }

    fn check_defaults(&mut self) {
        let d = &self.wf.workflow.defaults;
        if let Some(t) = &d.timeout {
            let loc = self
                .node(&[
                    PathSeg::Key("defaults".into()),
                    PathSeg::Key("timeout".into()),
                ])
                .loc;
            self.check_duration(t, loc);
        }
        if let Some(r) = &d.retry {
            let path = [
                PathSeg::Key("defaults".into()),
                PathSeg::Key("retry".into()),
            ];
            self.check_retry(r, &path);
        }
    }

    fn check_duration(&mut self, text: &str, loc: Loc) {
        if let Err(e) = parse_duration(text) {
            self.push(
                Problem::new(
                    ProblemKind::BadDuration,
                    format!("invalid duration `{text}`"),
                )
                .at(self.file, loc)
                .label(e)
                .help("durations look like `500ms`, `2s`, `5m` or `1h 30m`"),
            );
        }
    }

    fn check_retry(&mut self, r: &RetrySpec, path: &[PathSeg]) {
        let at = |this: &Self, field: &str| {
            let mut p = path.to_vec();
            p.push(PathSeg::Key(field.into()));
            this.node(&p).loc
        };
        if r.attempts == 0 {
            let loc = at(self, "attempts");
            self.push(
                Problem::new(ProblemKind::BadRetry, "retry `attempts` must be at least 1")
                    .at(self.file, loc)
                    .help("attempts counts the first try: `attempts: 1` means no retry"),
            );
        }
        for field in ["delay", "max_delay"] {
            let value = if field == "delay" {
                &r.delay
            } else {
                &r.max_delay
            };
            if let Some(v) = value {
                let loc = at(self, field);
                self.check_duration(v, loc);
            }
        }
        if let Some(b) = r.backoff
            && !(1.0..=100.0).contains(&b)
        {
            let loc = at(self, "backoff");
            self.push(
                Problem::new(
                    ProblemKind::BadRetry,
                    "retry `backoff` must be between 1.0 and 100.0",
                )
                .at(self.file, loc),
            );
        }
        if let Some(j) = r.jitter
            && !(0.0..=1.0).contains(&j)
        {
            let loc = at(self, "jitter");
            self.push(
                Problem::new(
                    ProblemKind::BadRetry,
                    "retry `jitter` is a fraction between 0.0 and 1.0",
                )
                .at(self.file, loc),
            );
        }
    }

    fn check_ids(&mut self) {
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

    fn check_needs(&mut self) {
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
    fn check_cycles(&mut self) -> HashSet<usize> {
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

    fn report_cycle(&mut self, cycle: &[usize]) {
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

    fn check_step(&mut self, i: usize, step: &Step, in_cycle: &HashSet<usize>) {
        let step_node = self.wf.step_node(i);
        // Exactly one action.
        let actions = step.actions();
        // An action the loader could not read has been reported already.
        let unreadable_action = super::model::ACTIONS
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
                .help("give it one of: kube, linkerd, run, assert, workflow, print"),
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
        if step.concurrency == Some(0) {
            let loc = self.step_field(i, "concurrency").loc;
            self.push(
                Problem::new(ProblemKind::WrongType, "`concurrency` must be at least 1")
                    .at(self.file, loc),
            );
        }
        if step.concurrency.is_some() && step.for_each.is_none() {
            let loc = step_node
                .entry("concurrency")
                .map_or(step_node.loc, |(k, _)| k.loc);
            self.push(
                Problem::new(
                    ProblemKind::WrongType,
                    "`concurrency` only applies to a step with `for_each`",
                )
                .at(self.file, loc),
            );
        }
        for (name, out) in &step.outputs {
            let base = [
                PathSeg::Key("steps".into()),
                PathSeg::Index(i),
                PathSeg::Key("outputs".into()),
                PathSeg::Key(name.clone()),
            ];
            match (&out.regex, &out.json) {
                (Some(re), None) => {
                    if let Err(e) = self.check_regex_once(re) {
                        let mut p = base.to_vec();
                        p.push(PathSeg::Key("regex".into()));
                        let loc = self.node(&p).loc;
                        self.push(
                            Problem::new(
                                ProblemKind::BadPattern,
                                format!("invalid regex for output `{name}`"),
                            )
                            .at(self.file, loc)
                            .label(last_line(&e.to_string())),
                        );
                    }
                }
                (None, Some(ptr)) => {
                    if !ptr.is_empty() && !ptr.starts_with('/') {
                        let mut p = base.to_vec();
                        p.push(PathSeg::Key("json".into()));
                        let loc = self.node(&p).loc;
                        self.push(
                            Problem::new(
                                ProblemKind::BadPattern,
                                format!("output `{name}`: a JSON pointer starts with `/`"),
                            )
                            .at(self.file, loc)
                            .help(format!("did you mean `/{}`?", ptr.replace('.', "/"))),
                        );
                    }
                }
                _ => {
                    let loc = self.node(&base).loc;
                    self.push(
                        Problem::new(
                            ProblemKind::WrongType,
                            format!("output `{name}` needs exactly one of `regex` or `json`"),
                        )
                        .at(self.file, loc),
                    );
                }
            }
        }

        if in_cycle.contains(&i) {
            return;
        }
        // Templates and expressions.
        let scope = Scope {
            step: Some(i),
            item: step.for_each.is_some(),
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
            let names = match self.template_names.get(src) {
                Some(known) => known.clone(),
                None => {
                    let names = std::rc::Rc::new(template::names_in_template(src));
                    self.template_names.insert(src.to_string(), names.clone());
                    names
                }
            };
            match names.as_ref() {
                Ok(names) => self.check_names(names, loc, &scope),
                Err(e) => self.push(
                    Problem::new(ProblemKind::TemplateSyntax, "invalid template")
                        .at(self.file, loc)
                        .label(e),
                ),
            }
        }
    }

    fn check_kube(&mut self, i: usize, kube: &serde_json::Value) {
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

    fn check_expression(&mut self, expr: &str, loc: Loc, scope: &Scope) {
        match template::names_in_expression(expr) {
            Ok(names) => self.check_names(&names, loc, scope),
            Err(e) => self.push(
                Problem::new(ProblemKind::TemplateSyntax, "invalid expression")
                    .at(self.file, loc)
                    .label(e),
            ),
        }
    }

    /// [`check_regex`], asked once per distinct valid pattern.
    fn check_regex_once(&mut self, pattern: &str) -> Result<(), String> {
        if self.valid_regexes.contains(pattern) {
            return Ok(());
        }
        check_regex(pattern)?;
        self.valid_regexes.insert(pattern.to_string());
        Ok(())
    }

    /// Checks every name a template reads against what will exist when it is rendered.
    fn check_names(&mut self, names: &BTreeSet<String>, loc: Loc, scope: &Scope) {
        for name in names {
            let mut parts = name.split('.');
            let root = parts.next().unwrap_or_default();
            let second = parts.next();
            let third = parts.next();
            match root {
                "params" => {
                    if let Some(p) = second
                        && !self.wf.workflow.params.contains_key(p)
                    {
                        let mut prob = Problem::new(
                            ProblemKind::UnknownName,
                            format!("unknown param `{p}` in `{{{{ {name} }}}}`"),
                        )
                        .at(self.file, loc)
                        .label("not a param of this workflow");
                        prob = match did_you_mean(
                            p,
                            self.wf.workflow.params.keys().map(String::as_str),
                        ) {
                            Some(s) => prob.help(format!("did you mean `params.{s}`?")),
                            None if self.wf.workflow.params.is_empty() => prob.help(
                                "this workflow declares no params: declare it under `params:`",
                            ),
                            None => prob.help(format!(
                                "declare it under `params:` (declared: {})",
                                self.wf
                                    .workflow
                                    .params
                                    .keys()
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                        };
                        self.push(prob);
                    }
                }
                "config" => {
                    if let (Some(cfg), Some(key)) = (self.config, second)
                        && cfg.get(key).is_none()
                    {
                        let keys: Vec<&str> = cfg
                            .as_object()
                            .map(|o| o.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let mut prob = Problem::new(
                            ProblemKind::UnknownName,
                            format!("config has no `{key}`"),
                        )
                        .at(self.file, loc)
                        .label(format!("`{name}` is not in the config"));
                        if let Some(s) = did_you_mean(key, keys.iter().copied()) {
                            prob = prob.help(format!("did you mean `config.{s}`?"));
                        }
                        self.push(prob);
                    }
                }
                "steps" => self.check_step_ref(name, second, third, loc, scope),
                "item" => {
                    if !scope.item {
                        self.push(
                            Problem::new(
                                ProblemKind::UnknownName,
                                "`item` is only defined in a step with `for_each`",
                            )
                            .at(self.file, loc),
                        );
                    }
                }
                "run" => {
                    if let Some(f) = second
                        && !RUN_FIELDS.contains(&f)
                    {
                        self.push(
                            Problem::new(
                                ProblemKind::UnknownName,
                                format!("`run` has no field `{f}`"),
                            )
                            .at(self.file, loc)
                            .help(format!("run has: {}", RUN_FIELDS.join(", "))),
                        );
                    }
                }
                other => {
                    let mut prob =
                        Problem::new(ProblemKind::UnknownName, format!("unknown name `{other}`"))
                            .at(self.file, loc)
                            .label("templates can read params, config, steps, item and run");
                    if let Some(s) = did_you_mean(other, ROOTS) {
                        prob = prob.help(format!("did you mean `{s}`?"));
                    }
                    self.push(prob);
                }
            }
        }
    }

    fn check_step_ref(
        &mut self,
        name: &str,
        id: Option<&str>,
        field: Option<&str>,
        loc: Loc,
        scope: &Scope,
    ) {
        let Some(id) = id else { return };
        let Some(&target) = self.index.get(id) else {
            let mut prob = Problem::new(
                ProblemKind::UnknownName,
                format!("`{name}` refers to unknown step `{id}`"),
            )
            .at(self.file, loc);
            if let Some(s) = did_you_mean(id, self.wf.workflow.steps.iter().map(|s| s.id.as_str()))
            {
                prob = prob.help(format!("did you mean `steps.{s}`?"));
            }
            self.push(prob);
            return;
        };
        if let Some(f) = field
            && !STEP_FIELDS.contains(&f)
        {
            let mut prob = Problem::new(
                ProblemKind::UnknownName,
                format!("a step has no field `{f}`"),
            )
            .at(self.file, loc)
            .label(format!("in `{name}`"));
            prob = match did_you_mean(f, STEP_FIELDS) {
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
    fn runs_before(&self, a: usize, b: usize) -> bool {
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

/// What names a template may read where it stands.
struct Scope {
    /// The step it belongs to, if any (`steps.*` must run before it).
    step: Option<usize>,
    /// Is `item` defined?
    item: bool,
}

impl Scope {
    fn params_only() -> Scope {
        Scope {
            step: None,
            item: false,
        }
    }
}

/// Checks a regular expression's syntax without compiling it (compiling costs ~100 µs each, a
/// large part of validating a big workflow; the run compiles it when it is used).
fn check_regex(pattern: &str) -> Result<(), String> {
    regex_syntax::Parser::new()
        .parse(pattern)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The last line of an error text: the line that says what is wrong (minijinja and regex put
/// the context first).
fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}
