//! Reading a workflow file into the model, with a located problem for everything that does not
//! fit the format. Each step is read on its own, so a file with three broken steps reports three
//! problems, not one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::diagnostic::{Problem, ProblemKind, Problems, SourceFile, did_you_mean};
use super::model::{Step, Workflow};
use crate::yaml::{self, Node, PathSeg, Value};

/// A workflow as read from its file, with the located tree its diagnostics point into.
#[derive(Debug, Clone)]
pub struct LoadedWorkflow {
    pub file: Arc<SourceFile>,
    pub root: Node,
    pub workflow: Workflow,
}

impl LoadedWorkflow {
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The YAML node of step `index`.
    pub fn step_node(&self, index: usize) -> &Node {
        self.root
            .lookup(&[PathSeg::Key("steps".into()), PathSeg::Index(index)])
    }

    /// The directory relative paths in this file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.file
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// Reads and parses `path`.
pub fn load_file(path: &Path) -> Result<LoadedWorkflow, Problems> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problem::new(
            ProblemKind::Io,
            format!("cannot read workflow {}: {e}", path.display()),
        )
    })?;
    load_str(path, &text)
}

/// Parses `text` as the workflow file `path`.
pub fn load_str(path: &Path, text: &str) -> Result<LoadedWorkflow, Problems> {
    let (loaded, problems) = load_lenient(path, text);
    match loaded {
        Some(w) if problems.is_empty() => Ok(w),
        _ => Err(problems),
    }
}

/// Reads `path` leniently: see [`load_lenient`].
pub fn load_file_lenient(path: &Path) -> (Option<LoadedWorkflow>, Problems) {
    match std::fs::read_to_string(path) {
        Ok(text) => load_lenient(path, &text),
        Err(e) => (
            None,
            Problem::new(
                ProblemKind::Io,
                format!("cannot read workflow {}: {e}", path.display()),
            )
            .into(),
        ),
    }
}

/// Parses `text` as far as it can: the workflow read without its broken parts (so that the
/// validator can still check the rest) and every problem found.
pub fn load_lenient(path: &Path, text: &str) -> (Option<LoadedWorkflow>, Problems) {
    match load_inner(path, text) {
        Ok((w, p)) => (w, p),
        Err(p) => (None, p),
    }
}

fn load_inner(path: &Path, text: &str) -> Result<(Option<LoadedWorkflow>, Problems), Problems> {
    let file = SourceFile::new(path, text);
    let root = yaml::parse(text).map_err(|e| {
        let mut p = Problem::new(
            ProblemKind::Syntax,
            format!("invalid YAML: {}", syntax_message(&e.message)),
        );
        if let Some(loc) = e.loc {
            p = p.at(&file, with_offset(text, loc)).label("here");
        } else {
            p.file = Some(file.clone());
        }
        Problems::from(p)
    })?;
    let Value::Map(entries) = &root.value else {
        let message = if matches!(root.value, Value::Null) {
            "the workflow file is empty: it must be a mapping with `name` and `steps`"
        } else {
            "a workflow file must be a mapping with `name` and `steps`"
        };
        return Err(Problem::new(ProblemKind::WrongType, message)
            .at(&file, root.loc)
            .into());
    };

    let mut problems = Problems::default();
    // The header first, with `steps` emptied so that step problems are reported per step below.
    // (Built without the steps: copying them only to drop them was a tenth of validation.)
    let mut header: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .filter(|(k, _)| k.name != "steps" && k.name != "finally")
        .map(|(k, v)| (k.name.clone(), v.to_json()))
        .collect();
    header.insert("steps".into(), serde_json::Value::Array(vec![]));
    let header_json = serde_json::Value::Object(header);
    let header: Option<Workflow> = typed_lenient(&file, &root, &[], header_json, &mut problems);
    if !entries.iter().any(|(k, _)| k.name == "steps") {
        problems.push(
            Problem::new(ProblemKind::MissingField, "missing field `steps`")
                .at(&file, root.loc)
                .label("this workflow has no `steps`"),
        );
    }

    let steps = load_steps(&file, &root, "steps", &mut problems);
    let finally = load_steps(&file, &root, "finally", &mut problems);
    let loaded = header.map(|mut workflow| {
        workflow.steps = steps;
        workflow.finally = finally;
        LoadedWorkflow {
            file,
            root,
            workflow,
        }
    });
    Ok((loaded, problems))
}

/// The steps under `key` (`steps` or `finally`), each read on its own so that every broken
/// step is reported.
fn load_steps(
    file: &Arc<SourceFile>,
    root: &Node,
    key: &str,
    problems: &mut Problems,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let Some(steps_node) = root.get(key) else {
        return steps;
    };
    match &steps_node.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let base = [PathSeg::Key(key.into()), PathSeg::Index(i)];
                // Read straight from the tree; the JSON road (which knows paths) only
                // to say what is wrong with a step.
                let step = Step::deserialize(item)
                    .ok()
                    .or_else(|| typed_lenient::<Step>(file, root, &base, item.to_json(), problems));
                // A step that could not be read at all keeps its place (indices point into
                // the YAML) as an inert stand-in; its problems are already recorded.
                steps.push(step.unwrap_or_else(|| Step {
                    id: format!("step_{i}"),
                    ..placeholder_step()
                }));
            }
        }
        Value::Null => {}
        _ => problems.push(
            Problem::new(
                ProblemKind::WrongType,
                format!("`{key}` must be a list of steps"),
            )
            .at(file, steps_node.loc)
            .label("not a list"),
        ),
    }
    steps
}

static SYNTAX_NOISE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:, set DuplicateKeyPolicy in Options if acceptable)?(?: at line \d+, column \d+)?$",
    )
    .expect("valid regex")
});

/// The parser's message without what the diagnostic shows anyway (the position) or what only
/// a programmer can act on (a parser option).
fn syntax_message(message: &str) -> &str {
    SYNTAX_NOISE
        .find(message)
        .map_or(message, |m| &message[..m.start()])
}

/// The parser gives syntax errors a line and column but no byte offset; the snippet needs one.
fn with_offset(text: &str, mut loc: yaml::Loc) -> yaml::Loc {
    if loc.offset != 0 || (loc.line <= 1 && loc.column <= 1) {
        return loc;
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(loc.line.saturating_sub(1) as usize)
        .map(str::len)
        .sum();
    let line = text[line_start.min(text.len())..]
        .lines()
        .next()
        .unwrap_or("");
    let in_line: usize = line
        .chars()
        .take(loc.column.saturating_sub(1) as usize)
        .map(char::len_utf8)
        .sum();
    loc.offset = (line_start + in_line).min(text.len());
    loc
}

fn placeholder_step() -> Step {
    Step {
        id: String::new(),
        name: None,
        needs: None,
        when: None,
        for_each: None,
        concurrency: None,
        retry: None,
        timeout: None,
        continue_on_error: false,
        sensitive: false,
        read_only: false,
        check: None,
        outputs: Default::default(),
        kube: None,
        linkerd: None,
        run: None,
        assert: Some(super::model::AssertAction::Expr("true".into())),
        workflow: None,
        print: None,
        save: None,
        connect: None,
    }
}

/// Deserializes `json` (the value at `base` in `root`) into `T`, or records a located problem.
pub fn typed<T: DeserializeOwned>(
    file: &Arc<SourceFile>,
    root: &Node,
    base: &[PathSeg],
    json: serde_json::Value,
    problems: &mut Problems,
) -> Option<T> {
    match attempt::<T>(file, root, base, &json) {
        Ok(v) => Some(v),
        Err((p, _)) => {
            problems.push(p);
            None
        }
    }
}

/// Like [`typed`], but after a problem the offending field is dropped and reading goes on, so
/// that every problem of a step is found and the rest of the step can still be checked.
/// Returns the value read without the broken fields, if one could be read at all.
pub fn typed_lenient<T: DeserializeOwned>(
    file: &Arc<SourceFile>,
    root: &Node,
    base: &[PathSeg],
    mut json: serde_json::Value,
    problems: &mut Problems,
) -> Option<T> {
    // Fields dropped so far: a required field dropped for its wrong type is then "missing",
    // which would only repeat the problem already reported.
    let mut dropped: Vec<Vec<PathSeg>> = Vec::new();
    for _ in 0..32 {
        match attempt::<T>(file, root, base, &json) {
            Ok(v) => return Some(v),
            Err((p, rel)) => {
                let named = p.message.split('`').nth(1).map(str::to_string);
                let unknown = (p.kind == ProblemKind::UnknownField)
                    .then(|| named.clone())
                    .flatten();
                let repeat = p.kind == ProblemKind::MissingField
                    && named.is_some_and(|f| {
                        let mut path = rel.clone();
                        path.push(PathSeg::Key(f));
                        dropped.contains(&path)
                    });
                if !repeat {
                    problems.push(p);
                }
                if unknown.is_none() {
                    dropped.push(rel.clone());
                }
                if !remove_at(&mut json, &rel, unknown.as_deref()) {
                    return None;
                }
            }
        }
    }
    None
}

/// Removes the value at `rel` (or the key `unknown` of the map there); false if nothing was.
fn remove_at(json: &mut serde_json::Value, rel: &[PathSeg], unknown: Option<&str>) -> bool {
    if let Some(key) = unknown {
        // The path may stop at the map holding the key or name the key itself.
        for n in (0..=rel.len()).rev() {
            if let Some(serde_json::Value::Object(o)) = walk(json, &rel[..n])
                && o.remove(key).is_some()
            {
                return true;
            }
        }
        return false;
    }
    let Some((last, parents)) = rel.split_last() else {
        return false;
    };
    match (last, walk(json, parents)) {
        (PathSeg::Key(k), Some(serde_json::Value::Object(o))) => o.remove(k).is_some(),
        (PathSeg::Index(i), Some(serde_json::Value::Array(a))) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

fn walk<'a>(
    json: &'a mut serde_json::Value,
    path: &[PathSeg],
) -> Option<&'a mut serde_json::Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(json);
    };
    let next = match (first, json) {
        (PathSeg::Key(k), serde_json::Value::Object(o)) => o.get_mut(k)?,
        (PathSeg::Index(i), serde_json::Value::Array(a)) => a.get_mut(*i)?,
        _ => return None,
    };
    walk(next, rest)
}

/// One try at reading `T`; on failure, the problem and the failing path relative to `base`.
// The error is consumed at once by the two callers above; boxing it would buy nothing.
#[allow(clippy::result_large_err)]
fn attempt<T: DeserializeOwned>(
    file: &Arc<SourceFile>,
    root: &Node,
    base: &[PathSeg],
    json: &serde_json::Value,
) -> Result<T, (Problem, Vec<PathSeg>)> {
    // Most files are right: read them straight, and track the path (which costs a wrapper
    // around every value) only to say where a wrong one is wrong.
    if let Ok(value) = T::deserialize(json) {
        return Ok(value);
    }
    serde_path_to_error::deserialize::<_, T>(json.clone()).map_err(|err| {
        let mut rel: Vec<PathSeg> = Vec::new();
        for seg in err.path().iter() {
            match seg {
                serde_path_to_error::Segment::Map { key } => rel.push(PathSeg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => rel.push(PathSeg::Index(*index)),
                serde_path_to_error::Segment::Enum { variant } => {
                    rel.push(PathSeg::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let mut path = base.to_vec();
        path.extend(rel.iter().cloned());
        (
            serde_problem(file, root, &path, &err.into_inner().to_string()),
            rel,
        )
    })
}

static UNKNOWN_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^unknown field `([^`]*)`, (?:expected (?:one of )?(.*)|there are no fields)$")
        .expect("valid regex")
});
static MISSING_FIELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^missing field `([^`]*)`$").expect("valid regex"));
static BACKTICKED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`([^`]*)`").expect("valid regex"));

/// Turns a serde error at `path` into a located problem with a helpful message.
fn serde_problem(file: &Arc<SourceFile>, root: &Node, path: &[PathSeg], message: &str) -> Problem {
    let node = root.lookup(path);
    if let Some(caps) = UNKNOWN_FIELD.captures(message) {
        let field = &caps[1];
        let expected: Vec<&str> = caps
            .get(2)
            .map(|m| {
                BACKTICKED
                    .captures_iter(m.as_str())
                    .filter_map(|c| c.get(1))
                    .map(|m| m.as_str())
                    .collect()
            })
            .unwrap_or_default();
        // serde_path_to_error stops at the map that holds the unknown key, or at the key itself.
        let (holder, key_loc) = match node.entry(field) {
            Some((k, _)) => (node, k.loc),
            None => {
                let parent = root.lookup(&path[..path.len().saturating_sub(1)]);
                match parent.entry(field) {
                    Some((k, _)) => (parent, k.loc),
                    None => (node, node.loc),
                }
            }
        };
        let _ = holder;
        let mut p = Problem::new(
            ProblemKind::UnknownField,
            format!("unknown field `{field}`"),
        )
        .at(file, key_loc)
        .label("unknown field");
        p = match did_you_mean(field, expected.iter().copied()) {
            Some(s) => p.help(format!("did you mean `{s}`?")),
            None if !expected.is_empty() => {
                p.help(format!("expected one of: {}", expected.join(", ")))
            }
            None => p,
        };
        return p;
    }
    if let Some(caps) = MISSING_FIELD.captures(message) {
        return Problem::new(
            ProblemKind::MissingField,
            format!("missing field `{}`", &caps[1]),
        )
        .at(file, node.loc)
        .label(format!("`{}` is required here", &caps[1]));
    }
    let what = path_text(path);
    Problem::new(
        ProblemKind::WrongType,
        if what.is_empty() {
            message.to_string()
        } else {
            format!("{what}: {message}")
        },
    )
    .at(file, node.loc)
    .label("wrong type")
}

/// `steps[2].retry.attempts`
pub fn path_text(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Problems {
        load_str(Path::new("t.yaml"), text).unwrap_err()
    }

    #[test]
    fn loads_a_minimal_workflow() {
        let w = load_str(
            Path::new("t.yaml"),
            "name: x\nsteps:\n  - id: a\n    run: /bin/true\n",
        )
        .unwrap();
        assert_eq!(w.workflow.steps.len(), 1);
    }

    #[test]
    fn unknown_step_field_suggests_the_right_one() {
        let p = problems("name: x\nsteps:\n  - id: a\n    neds: []\n    run: /bin/true\n");
        assert_eq!(p.0[0].kind, ProblemKind::UnknownField);
        assert_eq!(p.0[0].position().unwrap(), "t.yaml:4:5");
        assert_eq!(p.0[0].help.as_deref(), Some("did you mean `needs`?"));
    }

    #[test]
    fn every_broken_step_is_reported() {
        let p = problems("name: x\nsteps:\n  - id: a\n    nme: x\n  - id: b\n    timout: 1s\n");
        assert_eq!(p.len(), 2, "{p}");
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let p = problems(
            "name: x\nsteps:\n  - id: a\n    run: /bin/true\n    retry: { attempts: many }\n",
        );
        assert_eq!(p.0[0].kind, ProblemKind::WrongType);
        assert_eq!(p.0[0].position().unwrap(), "t.yaml:5:24");
    }
}
