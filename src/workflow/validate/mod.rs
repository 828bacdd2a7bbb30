//! Checks what the loader cannot: references between steps, cycles, templates, durations,
//! patterns, vars, nested workflow files. Every problem in every file is reported, each pointing at
//! the YAML it is about.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use super::bundle::Bundle;
use super::diagnostic::{Problem, ProblemKind, Problems, SourceFile};
use super::graph::dependencies;
use super::load::{LoadedWorkflow, load_file_lenient};
use super::step::ValidWorkflow;
use super::template;
use super::vars::VarSpec;
use crate::yaml::{Loc, Node, PathSeg};
use nested::Nesting;

mod finally;
mod names;
mod nested;
mod outputs;
mod params;
mod retry;
mod steps;
mod vars;

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
    if !problems.is_empty() {
        // A part the loader could not read is checked as far as it could be, but not typed:
        // typing it would only repeat the loader's problem.
        problems.extend(check_bundle(Arc::new(loaded), config).1);
        problems.sort();
        return Err(problems);
    }
    validate(loaded, config).map_err(|mut more| {
        more.sort();
        more
    })
}

/// Validates `root` and the workflows it calls. `config` is the topology exposed to templates as
/// `config`, when one is in use (names under `config.` are checked against it).
pub fn validate(
    root: LoadedWorkflow,
    config: Option<&serde_json::Value>,
) -> Result<Bundle, Problems> {
    let root = Arc::new(root);
    let (nested, problems) = check_bundle(root.clone(), config);
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

/// Checks `root` and the workflows it calls: the nested workflows it loaded and every problem.
fn check_bundle(
    root: Arc<LoadedWorkflow>,
    config: Option<&serde_json::Value>,
) -> (HashMap<PathBuf, Arc<LoadedWorkflow>>, Problems) {
    let mut nested = HashMap::new();
    let mut problems = Problems::default();
    let mut stack = vec![canonical(root.path())];
    let mut nesting = Nesting {
        nested: &mut nested,
        stack: &mut stack,
    };
    check_workflow(&root, config, &mut nesting, &mut problems);
    (nested, problems)
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The checks of one workflow file, with what they share.
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
    /// `vars:`, each with the steps it reads.
    vars: Vec<VarSpec>,
    /// When the steps checked are a workflow's `finally` steps: its main steps (a finally step
    /// cannot need them, and may read `run.status`).
    main_steps: Option<&'a [crate::workflow::model::Step]>,
}

fn check_workflow(
    wf: &Arc<LoadedWorkflow>,
    config: Option<&serde_json::Value>,
    nesting: &mut Nesting<'_>,
    problems: &mut Problems,
) {
    let mut c = Checker::new(wf, config, problems);
    c.check_params();
    c.check_defaults();
    c.check_ids();
    c.check_needs();
    let in_cycle = c.check_cycles();
    c.check_vars();
    for (i, step) in wf.workflow.steps.iter().enumerate() {
        c.check_step(i, step, &in_cycle);
    }
    c.check_nested(nesting);
    finally::check_finally(wf, config, nesting, problems);
}

impl<'a> Checker<'a> {
    fn new(
        wf: &'a LoadedWorkflow,
        config: Option<&'a serde_json::Value>,
        problems: &'a mut Problems,
    ) -> Self {
        let steps = &wf.workflow.steps;
        Checker {
            wf,
            file: &wf.file,
            config,
            index: HashMap::with_capacity(steps.len()),
            deps: dependencies(steps),
            problems,
            valid_regexes: HashSet::new(),
            template_names: HashMap::new(),
            vars: super::vars::specs(&super::vars::in_written_order(wf)),
            main_steps: None,
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
}

/// What names a template may read where it stands.
struct Scope {
    /// The step it belongs to, if any (`steps.*` must run before it).
    step: Option<usize>,
    /// Is `item` defined?
    item: bool,
    /// How many vars (the first ones) it may read; `None` where vars are not computed yet.
    vars: Option<usize>,
}

impl Scope {
    fn params_only() -> Scope {
        Scope {
            step: None,
            item: false,
            vars: None,
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
