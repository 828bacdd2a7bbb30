//! Problems found in a workflow file, each with the place it was found, rendered by miette.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{
    LabeledSpan, MietteError, MietteSpanContents, NamedSource, SourceCode, SourceSpan, SpanContents,
};

use crate::yaml::Loc;

/// A file's text, shared by all the diagnostics that point into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(path: &Path, text: impl Into<Arc<str>>) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            path: path.to_path_buf(),
            text: text.into(),
        })
    }

    /// The name shown in diagnostics: the path as the user wrote it.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// What went wrong. One kind per check, so that tests can name what they expect.
///
/// Each kind has a stable snake_case name ([`ProblemKind::as_str`]): it is the `kind` of
/// `mcflow validate --output json`, which CI reads, so a name never changes when a variant is
/// renamed in Rust (a test pins the list, and the README's table lists them).
///
/// A kind may carry what a CI job can act on (`unknown_name`: the name and the likely one);
/// `--output json` prints it beside the message ([`Problem::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    Io,
    Syntax,
    WrongType,
    UnknownField,
    MissingField,
    DuplicateStepId,
    InvalidStepId,
    InvalidVarName,
    UnknownNeeds,
    Cycle,
    NoAction,
    TwoActions,
    InvalidAction,
    TemplateSyntax,
    /// A template reads a name that will not exist (boxed: a [`Problem`] is an error type,
    /// kept small).
    UnknownName(Box<UnknownName>),
    StepNotBefore,
    BadDuration,
    BadPattern,
    BadRetry,
    OutOfRange,
    MisplacedField,
    MissingWorkflowFile,
    NestedWorkflow,
    UnknownParam,
    MissingParam,
    ParamNotAllowed,
    BadSet,
    BadConfig,
}

/// What an [`ProblemKind::UnknownName`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The name as the template reads it: `params.spok`.
    pub name: String,
    /// The name it most likely meant, written in full: `params.spoke`.
    pub suggestion: Option<String>,
}

impl ProblemKind {
    /// Every kind, in the order the README lists them.
    pub fn all() -> [ProblemKind; 28] {
        [
            ProblemKind::Io,
            ProblemKind::Syntax,
            ProblemKind::WrongType,
            ProblemKind::UnknownField,
            ProblemKind::MissingField,
            ProblemKind::DuplicateStepId,
            ProblemKind::InvalidStepId,
            ProblemKind::InvalidVarName,
            ProblemKind::UnknownNeeds,
            ProblemKind::Cycle,
            ProblemKind::NoAction,
            ProblemKind::TwoActions,
            ProblemKind::InvalidAction,
            ProblemKind::TemplateSyntax,
            ProblemKind::UnknownName(Box::new(UnknownName {
                name: String::new(),
                suggestion: None,
            })),
            ProblemKind::StepNotBefore,
            ProblemKind::BadDuration,
            ProblemKind::BadPattern,
            ProblemKind::BadRetry,
            ProblemKind::OutOfRange,
            ProblemKind::MisplacedField,
            ProblemKind::MissingWorkflowFile,
            ProblemKind::NestedWorkflow,
            ProblemKind::UnknownParam,
            ProblemKind::MissingParam,
            ProblemKind::ParamNotAllowed,
            ProblemKind::BadSet,
            ProblemKind::BadConfig,
        ]
    }

    /// The stable name of the kind, as `mcflow validate --output json` prints it.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProblemKind::Io => "io",
            ProblemKind::Syntax => "syntax",
            ProblemKind::WrongType => "wrong_type",
            ProblemKind::UnknownField => "unknown_field",
            ProblemKind::MissingField => "missing_field",
            ProblemKind::DuplicateStepId => "duplicate_step_id",
            ProblemKind::InvalidStepId => "invalid_step_id",
            ProblemKind::InvalidVarName => "invalid_var_name",
            ProblemKind::UnknownNeeds => "unknown_needs",
            ProblemKind::Cycle => "cycle",
            ProblemKind::NoAction => "no_action",
            ProblemKind::TwoActions => "two_actions",
            ProblemKind::InvalidAction => "invalid_action",
            ProblemKind::TemplateSyntax => "template_syntax",
            ProblemKind::UnknownName(_) => "unknown_name",
            ProblemKind::StepNotBefore => "step_not_before",
            ProblemKind::BadDuration => "bad_duration",
            ProblemKind::BadPattern => "bad_pattern",
            ProblemKind::BadRetry => "bad_retry",
            ProblemKind::OutOfRange => "out_of_range",
            ProblemKind::MisplacedField => "misplaced_field",
            ProblemKind::MissingWorkflowFile => "missing_workflow_file",
            ProblemKind::NestedWorkflow => "nested_workflow",
            ProblemKind::UnknownParam => "unknown_param",
            ProblemKind::MissingParam => "missing_param",
            ProblemKind::ParamNotAllowed => "param_not_allowed",
            ProblemKind::BadSet => "bad_set",
            ProblemKind::BadConfig => "bad_config",
        }
    }

    /// What the kind means, one line (the README's table of kinds).
    pub fn meaning(&self) -> &'static str {
        match self {
            ProblemKind::Io => "a file (workflow, config, values file) could not be read",
            ProblemKind::Syntax => "the file is not valid YAML",
            ProblemKind::WrongType => {
                "a value has the wrong type or shape (a string where a list is expected, an output with both `regex` and `json`)"
            }
            ProblemKind::UnknownField => {
                "a field the format does not have (with the closest one as help)"
            }
            ProblemKind::MissingField => {
                "a required field is missing (`name`, `steps`, a step's `id`)"
            }
            ProblemKind::DuplicateStepId => "two steps have the same `id`",
            ProblemKind::InvalidStepId => "a step `id` is not `[a-z][a-z0-9_]*`",
            ProblemKind::InvalidVarName => "a name under `vars:` is not `[A-Za-z_][A-Za-z0-9_]*`",
            ProblemKind::UnknownNeeds => "`needs` names a step that does not exist",
            ProblemKind::Cycle => "steps need each other (or a step needs itself)",
            ProblemKind::NoAction => "a step has no action",
            ProblemKind::TwoActions => "a step has more than one action",
            ProblemKind::InvalidAction => {
                "an action is not valid as written (a `kube` op with a missing or conflicting field)"
            }
            ProblemKind::TemplateSyntax => "a template or expression does not parse",
            ProblemKind::UnknownName(_) => {
                "a template reads a name that will not exist (an unknown param, var, config key, step, step field or `run` field, `item` outside `for_each`)"
            }
            ProblemKind::StepNotBefore => {
                "a template reads `steps.<id>` (itself or through a var) of a step that does not run before it (not among its `needs`)"
            }
            ProblemKind::BadDuration => "a duration (`timeout`, retry `delay`) does not parse",
            ProblemKind::BadPattern => {
                "an invalid regular expression (a param `pattern`, an output `regex`) or an output JSON pointer without its leading `/`"
            }
            ProblemKind::BadRetry => {
                "a retry setting out of its range (`attempts` 0, `backoff` outside 1.0–100.0, `jitter` outside 0.0–1.0)"
            }
            ProblemKind::OutOfRange => "a number out of its range (`concurrency: 0`)",
            ProblemKind::MisplacedField => {
                "a field that does not apply where it is (`concurrency` on a step without `for_each`)"
            }
            ProblemKind::MissingWorkflowFile => "a nested workflow file does not exist",
            ProblemKind::NestedWorkflow => {
                "a nested workflow call that cannot be checked: a templated path, a file that calls itself, a file that is not a workflow"
            }
            ProblemKind::UnknownParam => {
                "a value (`--set`, `--values`, a call's `with:`) for a param the workflow does not declare"
            }
            ProblemKind::MissingParam => "a required param has no value",
            ProblemKind::ParamNotAllowed => {
                "a param value not in its `enum` or not matching its `pattern`"
            }
            ProblemKind::BadSet => "a malformed `--set` (no `=`, or an empty name)",
            ProblemKind::BadConfig => {
                "the config file is not a valid mapping, or a param's `enum` template fails on it"
            }
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ProblemKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem, with where it is.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    pub file: Option<Arc<SourceFile>>,
    pub loc: Option<Loc>,
    // `Box<str>`: a `Problem` is the error of several functions and stays within clippy's
    // `result_large_err` (128 bytes) with an `unknown_name`'s data.
    pub label: Option<Box<str>>,
    pub help: Option<Box<str>>,
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: message.into(),
            file: None,
            loc: None,
            label: None,
            help: None,
        }
    }

    /// Points the problem at `loc` in `file`.
    pub fn at(mut self, file: &Arc<SourceFile>, loc: Loc) -> Problem {
        self.file = Some(file.clone());
        self.loc = Some(loc);
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Problem {
        self.label = Some(label.into().into_boxed_str());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into().into_boxed_str());
        self
    }

    /// The problem as `mcflow validate --output json` prints it: `kind` (its stable name),
    /// `message`, `file`, `line`, `column`, `help`, and what the kind carries.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "kind": self.kind,
            "message": self.message,
            "file": self.file.as_ref().map(|f| f.name()),
            "line": self.loc.map(|l| l.line),
            "column": self.loc.map(|l| l.column),
            "help": self.help,
        });
        if let ProblemKind::UnknownName(unknown) = &self.kind {
            json["name"] = serde_json::json!(unknown.name);
            json["suggestion"] = serde_json::json!(unknown.suggestion);
        }
        json
    }

    /// `file:line:column` of the problem, when it has a place.
    pub fn position(&self) -> Option<String> {
        match (&self.file, &self.loc) {
            (Some(f), Some(l)) => Some(format!("{}:{}:{}", f.name(), l.line, l.column)),
            (Some(f), None) => Some(f.name()),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl miette::Diagnostic for Problem {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.file
            .as_ref()
            .filter(|_| self.loc.is_some())
            .map(|f| &f.text as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let loc = self.loc?;
        let label = self.label.as_deref().unwrap_or("here").to_string();
        // A span over many lines (a 30-line template) is shown by its first line only: with
        // one line of context either side, a snippet is never more than three lines.
        let len = self
            .file
            .as_ref()
            .and_then(|f| f.text.get(loc.offset..))
            .and_then(|rest| rest.find('\n'))
            .map_or(loc.len, |eol| loc.len.min(eol));
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(label),
            loc.offset,
            len.max(1),
        ))))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(&**h) as Box<dyn fmt::Display>)
    }
}

/// Every problem found in one or more files: the error type of load and validate.
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }
    /// Orders problems by file, then line and column, as a reader goes through a file, and
    /// drops repeats (a nested workflow called twice, a name read twice at one place).
    pub fn sort(&mut self) {
        self.0.sort_by_key(|p| {
            (
                p.file.as_ref().map(|f| f.path.clone()),
                p.loc.map_or((0, 0), |l| (l.line, l.column)),
            )
        });
        let mut seen = std::collections::HashSet::new();
        self.0
            .retain(|p| seen.insert((p.position(), p.kind.as_str(), p.message.clone())));
    }

    /// `Ok(value)` when there is no problem.
    pub fn into_result<T>(self, value: T) -> Result<T, Problems> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Renders every problem as miette does, with snippets, for a terminal or a log.
    pub fn render(&self, color: bool) -> String {
        use miette::{GraphicalReportHandler, GraphicalTheme};
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_context_lines(1)
            .with_width(100);
        let mut out = String::new();
        for p in &self.0 {
            let with_source = NamedDiag {
                inner: p,
                source: p.file.as_ref().map(|f| {
                    NamedSource::new(f.name(), CharColumns(f.text.clone())).with_language("yaml")
                }),
            };
            if handler.render_report(&mut out, &with_source).is_err() {
                out.push_str(&p.message);
            }
            // miette's header names the file but leaves out the position on terminals where
            // the snippet is trimmed; the plain line keeps `file:line:col` greppable in CI logs.
            if let Some(pos) = p.position() {
                out.push_str(&format!("  at {pos}\n"));
            }
            out.push('\n');
        }
        let n = self.0.len();
        out.push_str(&format!(
            "{n} problem{} found\n",
            if n == 1 { "" } else { "s" }
        ));
        out
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match p.position() {
                Some(pos) => writeln!(f, "{pos}: {}", p.message)?,
                None => writeln!(f, "{}", p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems(vec![p])
    }
}

/// A file's text for miette, with columns counted in characters as editors and our `at` line
/// count them (miette counts bytes, so a line with `é` before the error would disagree).
#[derive(Debug)]
struct CharColumns(Arc<str>);

impl SourceCode for CharColumns {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents = self.0.read_span(span, before, after)?;
        let offset = span.offset().min(self.0.len());
        let line_start = self.0[..offset].rfind('\n').map_or(0, |i| i + 1);
        let column = match self.0.get(line_start..offset) {
            // miette gives a column only without context lines (the snippet header).
            Some(prefix) if contents.column() != 0 => prefix.chars().count(),
            _ => contents.column(),
        };
        Ok(Box::new(MietteSpanContents::new(
            contents.data(),
            *contents.span(),
            contents.line(),
            column,
            contents.line_count(),
        )))
    }
}

/// A problem paired with a named source, so miette prints the file name in the snippet header.
struct NamedDiag<'a> {
    inner: &'a Problem,
    source: Option<NamedSource<CharColumns>>,
}

impl fmt::Debug for NamedDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
impl fmt::Display for NamedDiag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}
impl std::error::Error for NamedDiag<'_> {}
impl miette::Diagnostic for NamedDiag<'_> {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.inner.loc?;
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        miette::Diagnostic::labels(self.inner)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        miette::Diagnostic::help(self.inner)
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        // Jaro-Winkler misses swapped letters in short words (`hbu` for `hub`); one edit
        // (a swap counts as one) is as likely a typo.
        .map(|c| {
            let one_edit = word.len() >= 3 && strsim::osa_distance(word, c) == 1;
            (
                strsim::jaro_winkler(word, c).max(if one_edit { 0.85 } else { 0.0 }),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are an interface (CI reads them): renaming a variant in Rust must not change
    /// its name, and adding one must add it here, to `all()` and to the README.
    #[test]
    fn kind_names_are_pinned() {
        let pinned: Vec<(String, &str)> = ProblemKind::all()
            .iter()
            .map(|k| {
                let debug = format!("{k:?}");
                let variant = debug.split([' ', '{', '(']).next().unwrap_or_default();
                (variant.to_string(), k.as_str())
            })
            .collect();
        let expected = [
            ("Io", "io"),
            ("Syntax", "syntax"),
            ("WrongType", "wrong_type"),
            ("UnknownField", "unknown_field"),
            ("MissingField", "missing_field"),
            ("DuplicateStepId", "duplicate_step_id"),
            ("InvalidStepId", "invalid_step_id"),
            ("InvalidVarName", "invalid_var_name"),
            ("UnknownNeeds", "unknown_needs"),
            ("Cycle", "cycle"),
            ("NoAction", "no_action"),
            ("TwoActions", "two_actions"),
            ("InvalidAction", "invalid_action"),
            ("TemplateSyntax", "template_syntax"),
            ("UnknownName", "unknown_name"),
            ("StepNotBefore", "step_not_before"),
            ("BadDuration", "bad_duration"),
            ("BadPattern", "bad_pattern"),
            ("BadRetry", "bad_retry"),
            ("OutOfRange", "out_of_range"),
            ("MisplacedField", "misplaced_field"),
            ("MissingWorkflowFile", "missing_workflow_file"),
            ("NestedWorkflow", "nested_workflow"),
            ("UnknownParam", "unknown_param"),
            ("MissingParam", "missing_param"),
            ("ParamNotAllowed", "param_not_allowed"),
            ("BadSet", "bad_set"),
            ("BadConfig", "bad_config"),
        ];
        let expected: Vec<(String, &str)> =
            expected.iter().map(|(v, n)| (v.to_string(), *n)).collect();
        assert_eq!(pinned, expected);
        // Every variant is in all(): this match stops compiling when one is added.
        for k in ProblemKind::all() {
            match k {
                ProblemKind::Io
                | ProblemKind::Syntax
                | ProblemKind::WrongType
                | ProblemKind::UnknownField
                | ProblemKind::MissingField
                | ProblemKind::DuplicateStepId
                | ProblemKind::InvalidStepId
                | ProblemKind::InvalidVarName
                | ProblemKind::UnknownNeeds
                | ProblemKind::Cycle
                | ProblemKind::NoAction
                | ProblemKind::TwoActions
                | ProblemKind::InvalidAction
                | ProblemKind::TemplateSyntax
                | ProblemKind::UnknownName(_)
                | ProblemKind::StepNotBefore
                | ProblemKind::BadDuration
                | ProblemKind::BadPattern
                | ProblemKind::BadRetry
                | ProblemKind::OutOfRange
                | ProblemKind::MisplacedField
                | ProblemKind::MissingWorkflowFile
                | ProblemKind::NestedWorkflow
                | ProblemKind::UnknownParam
                | ProblemKind::MissingParam
                | ProblemKind::ParamNotAllowed
                | ProblemKind::BadSet
                | ProblemKind::BadConfig => {}
            }
        }
    }

    #[test]
    fn kinds_serialize_as_their_names() {
        for k in ProblemKind::all() {
            assert_eq!(
                serde_json::to_value(&k).unwrap(),
                serde_json::json!(k.as_str())
            );
            assert_eq!(k.to_string(), k.as_str());
        }
    }

    /// The README's table of kinds lists every kind with its meaning.
    #[test]
    fn readme_lists_every_kind() {
        let readme = include_str!("../../README.md");
        for k in ProblemKind::all() {
            let row = format!("| `{}` | {} |", k.as_str(), k.meaning());
            assert!(readme.contains(&row), "README.md lacks the row\n{row}");
        }
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(did_you_mean("neds", ["needs", "name", "id"]), Some("needs"));
        assert_eq!(did_you_mean("zzz", ["needs", "name"]), None);
        assert_eq!(did_you_mean("hbu", ["spoke", "hub"]), Some("hub"));
    }

    #[test]
    fn renders_position_and_snippet() {
        let file = SourceFile::new(Path::new("w.yaml"), "a: 1\nb: 2\n");
        let p = Problem::new(ProblemKind::UnknownField, "unknown field `b`")
            .at(
                &file,
                Loc {
                    line: 2,
                    column: 1,
                    offset: 5,
                    len: 1,
                },
            )
            .help("did you mean `a`?");
        let out = Problems(vec![p]).render(false);
        assert!(out.contains("w.yaml:2:1"), "{out}");
        assert!(out.contains("unknown field `b`"), "{out}");
        assert!(out.contains("did you mean"), "{out}");
    }
}
