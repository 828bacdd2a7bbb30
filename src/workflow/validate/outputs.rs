//! Step outputs: each is a regex or a JSON pointer.

use super::{Checker, last_line};
use crate::workflow::diagnostic::{Problem, ProblemKind};
use crate::workflow::model::OutputSpec;
use crate::yaml::PathSeg;

impl Checker<'_> {
    /// An output has exactly one of `regex` (a valid one) or `json` (a JSON pointer).
    pub(super) fn check_output(&mut self, i: usize, name: &str, out: &OutputSpec) {
        let base = [
            PathSeg::Key("steps".into()),
            PathSeg::Index(i),
            PathSeg::Key("outputs".into()),
            PathSeg::Key(name.to_string()),
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
}
