//! Params: their patterns and the templates of their `enum`.

use super::{Checker, Scope, check_regex, last_line};
use crate::workflow::diagnostic::{Problem, ProblemKind};
use crate::workflow::model::Choices;
use crate::yaml::PathSeg;

impl Checker<'_> {
    pub(super) fn check_params(&mut self) {
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
}
