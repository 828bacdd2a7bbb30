//! Everything before a run or a plan: load the config, load and validate the workflow, bind its
//! params from `--values` files and `--set` pairs.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::Error;
use crate::params::{self, ParamValues};
use crate::workflow::bundle::Bundle;
use crate::workflow::validate::load_and_validate;
use crate::workflow::{Problem, ProblemKind, Problems};

/// A workflow ready to run or plan: validated, with its params bound and its config.
pub struct Prepared {
    pub bundle: Bundle,
    pub params: ParamValues,
    pub config: Config,
}

/// load → validate → bind params.
pub fn prepare(
    config: Option<&Path>,
    workflow: &Path,
    values_files: &[PathBuf],
    sets: &[String],
) -> Result<Prepared, Error> {
    let config = Config::load(config)?;
    if let Some(missing) = config.missing_for(workflow) {
        return Err(missing.into());
    }
    let bundle = load_and_validate(workflow, Some(&config.value))?;
    let mut values = ParamValues::new();
    let mut problems = Problems::default();
    for file in values_files {
        match params::read_values_file(file) {
            Ok(v) => values.extend(v),
            Err(p) => problems.push(p),
        }
    }
    for s in sets {
        match params::parse_set(s) {
            Ok((k, v)) => {
                values.insert(k, serde_json::Value::String(v));
            }
            Err(e) => problems.push(Problem::new(ProblemKind::BadSet, e)),
        }
    }
    if !problems.is_empty() {
        return Err(problems.into());
    }
    let origin = format!("workflow `{}`", bundle.root.name);
    let params = params::bind(&bundle.root.params, &values, &config.value, &origin)?;
    Ok(Prepared {
        bundle,
        params,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `--set` without `=` is a malformed `--set`, not an unknown param.
    #[test]
    fn a_malformed_set_is_bad_set() {
        let dir = tempfile::tempdir().unwrap();
        let wf = dir.path().join("w.yaml");
        std::fs::write(
            &wf,
            "name: w\nparams: { x: {} }\nsteps:\n  - id: a\n    run: [echo]\n",
        )
        .unwrap();
        let config = dir.path().join("c.yaml");
        std::fs::write(&config, "{}\n").unwrap();
        let Err(Error::Invalid(problems)) = prepare(Some(&config), &wf, &[], &["x".into()]) else {
            panic!("a malformed --set must be refused");
        };
        assert_eq!(problems.0.len(), 1);
        assert_eq!(problems.0[0].kind, ProblemKind::BadSet);
    }
}
