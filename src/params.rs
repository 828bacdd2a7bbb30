//! Binding a workflow's params: `--set`, `--values`, defaults; then required, enum and pattern
//! checks, with every problem reported at once.

use std::path::Path;

use indexmap::IndexMap;

use crate::workflow::diagnostic::did_you_mean;
use crate::workflow::model::{Choices, ParamSpec};
use crate::workflow::template;
use crate::workflow::{Problem, ProblemKind, Problems};

/// Param values, by name, in declaration order.
pub type ParamValues = IndexMap<String, serde_json::Value>;

/// Parses one `--set key=value`. The value is kept as a string, byte for byte: it never passes
/// through a shell.
pub fn parse_set(arg: &str) -> Result<(String, String), String> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(format!("`--set {arg}` is not key=value"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("`--set {arg}` has an empty key"));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Reads a `--values` file: a YAML mapping of param names to values.
pub fn read_values_file(path: &Path) -> Result<ParamValues, Problem> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problem::new(
            ProblemKind::Io,
            format!("cannot read values file {}: {e}", path.display()),
        )
    })?;
    let value: serde_json::Value = crate::yaml::from_str(&text).map_err(|e| {
        Problem::new(
            ProblemKind::Syntax,
            format!("values file {}: {}", path.display(), e.message),
        )
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(map.into_iter().collect()),
        serde_json::Value::Null => Ok(ParamValues::new()),
        _ => Err(Problem::new(
            ProblemKind::WrongType,
            format!(
                "values file {} must be a mapping of param names to values",
                path.display()
            ),
        )),
    }
}

/// Binds values to `specs`: later sources win over earlier ones (`values` files, then `sets`).
/// `config` is what a template `enum` is evaluated against.
pub fn bind(
    specs: &IndexMap<String, ParamSpec>,
    values: &ParamValues,
    config: &serde_json::Value,
    origin: &str,
) -> Result<ParamValues, Problems> {
    bind_in(specs, values, &template::value_of(config), origin)
}

/// [`bind`] with the config already a template value: a run makes it once, not once per
/// nested workflow (converting the config of 50 spokes for each of 50 link-spoke calls grew
/// with the square of the spokes; figure 5c of docs/PERFORMANCE.md).
pub fn bind_in(
    specs: &IndexMap<String, ParamSpec>,
    values: &ParamValues,
    config: &minijinja::Value,
    origin: &str,
) -> Result<ParamValues, Problems> {
    let mut problems = Problems::default();
    for name in values.keys() {
        if !specs.contains_key(name) {
            let mut p = Problem::new(
                ProblemKind::UnknownParam,
                format!("{origin} has no param `{name}`"),
            );
            p = match did_you_mean(name, specs.keys().map(String::as_str)) {
                Some(s) => p.help(format!("did you mean `{s}`?")),
                None if specs.is_empty() => p.help("this workflow takes no params"),
                None => p.help(format!(
                    "its params are: {}",
                    specs.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            };
            problems.push(p);
        }
    }
    let ctx = minijinja::Value::from(std::collections::BTreeMap::from([(
        "config",
        config.clone(),
    )]));
    let mut bound = ParamValues::new();
    for (name, spec) in specs {
        let value = match values.get(name).or(spec.default.as_ref()) {
            Some(v) => v.clone(),
            None if spec.required => {
                let mut p = Problem::new(
                    ProblemKind::MissingParam,
                    format!("param `{name}` is required"),
                );
                p = p.help(match &spec.description {
                    Some(d) => format!("{d}: pass --set {name}=<value>"),
                    None => format!("pass --set {name}=<value>"),
                });
                problems.push(p);
                continue;
            }
            None => continue,
        };
        if let Err(p) = check_value(name, spec, &value, &ctx) {
            problems.push(p);
            continue;
        }
        bound.insert(name.clone(), value);
    }
    problems.into_result(bound)
}

/// A param's allowed values (its `enum`, a template evaluated over `config` in `ctx`), if it
/// has any.
pub fn allowed_values(
    name: &str,
    spec: &ParamSpec,
    ctx: &minijinja::Value,
) -> Result<Option<Vec<serde_json::Value>>, Problem> {
    let Some(choices) = &spec.choices else {
        return Ok(None);
    };
    let expr = match choices {
        Choices::List(l) => return Ok(Some(l.clone())),
        Choices::Template(expr) => expr,
    };
    let v = template::eval(expr, ctx).map_err(|e| {
        Problem::new(
            ProblemKind::BadConfig,
            format!("cannot compute the allowed values of param `{name}`: {e}"),
        )
    })?;
    match template::to_json(&v) {
        Ok(serde_json::Value::Array(a)) => Ok(Some(a)),
        _ => Err(Problem::new(
            ProblemKind::BadConfig,
            format!("the `enum` of param `{name}` does not yield a list"),
        )),
    }
}

/// The params of a workflow as `mcflow params` lists them: name, description, required,
/// default, allowed values (an `enum` over `config` evaluated), pattern, sensitive.
pub fn describe(
    specs: &IndexMap<String, ParamSpec>,
    config: &serde_json::Value,
) -> Vec<serde_json::Value> {
    let ctx = template::value_of(&serde_json::json!({ "config": config }));
    specs
        .iter()
        .map(|(name, spec)| {
            let allowed = match allowed_values(name, spec, &ctx) {
                Ok(a) => serde_json::json!(a),
                Err(p) => serde_json::json!(format!("<{}>", p.message)),
            };
            serde_json::json!({
                "name": name,
                "description": spec.description,
                "required": spec.required,
                "default": if spec.sensitive && spec.default.is_some() {
                    serde_json::json!(crate::secrets::MASK)
                } else {
                    serde_json::json!(spec.default)
                },
                "allowed": allowed,
                "pattern": spec.pattern,
                "sensitive": spec.sensitive,
            })
        })
        .collect()
}

/// The text of a param value (a string as it is, anything else as JSON).
pub fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn check_value(
    name: &str,
    spec: &ParamSpec,
    value: &serde_json::Value,
    ctx: &minijinja::Value,
) -> Result<(), Problem> {
    let shown = if spec.sensitive {
        "***".to_string()
    } else {
        text_of(value)
    };
    if let Some(allowed) = allowed_values(name, spec, ctx)? {
        let text = text_of(value);
        if !allowed.iter().any(|a| a == value || text_of(a) == text) {
            let names: Vec<String> = allowed.iter().map(text_of).collect();
            let mut p = Problem::new(
                ProblemKind::ParamNotAllowed,
                format!(
                    "param `{name}` is `{shown}`, which is not one of: {}",
                    names.join(", ")
                ),
            );
            if let Some(s) = did_you_mean(&text, names.iter().map(String::as_str)) {
                p = p.help(format!("did you mean `{s}`?"));
            }
            return Err(p);
        }
    }
    if let Some(pattern) = &spec.pattern {
        // Anchored: the whole value must match, not a part of it.
        let re = crate::regexes::compiled(&format!("^(?:{pattern})$")).map_err(|e| {
            Problem::new(
                ProblemKind::BadPattern,
                format!("param `{name}`: invalid pattern: {e}"),
            )
        })?;
        if !re.is_match(&text_of(value)) {
            return Err(Problem::new(
                ProblemKind::ParamNotAllowed,
                format!(
                    "param `{name}` is `{shown}`, which does not match the pattern `{pattern}`"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(yaml: &str) -> IndexMap<String, ParamSpec> {
        crate::yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn set_keeps_the_value_verbatim() {
        assert_eq!(
            parse_set("a=b=c; $(x)").unwrap(),
            ("a".into(), "b=c; $(x)".into())
        );
        assert!(parse_set("novalue").is_err());
        assert!(parse_set("=x").is_err());
    }

    #[test]
    fn reports_every_problem_at_once() {
        let specs = spec("a: {required: true}\nb: {enum: [x, y]}\nc: {pattern: '[a-z]+'}\n");
        let values: ParamValues = [
            ("b".to_string(), json!("z")),
            ("c".to_string(), json!("A1")),
            ("d".to_string(), json!(1)),
        ]
        .into_iter()
        .collect();
        let err = bind(&specs, &values, &json!({}), "workflow").unwrap_err();
        assert_eq!(err.len(), 4, "{err}");
    }

    #[test]
    fn enum_from_config() {
        let specs = spec("spoke: {enum: \"{{ config.spokes | map(attribute='name') | list }}\"}\n");
        let config = json!({"spokes": [{"name": "production"}, {"name": "nonproduction"}]});
        let ok: ParamValues = [("spoke".to_string(), json!("production"))]
            .into_iter()
            .collect();
        assert!(bind(&specs, &ok, &config, "w").is_ok());
        let bad: ParamValues = [("spoke".to_string(), json!("prod"))].into_iter().collect();
        let err = bind(&specs, &bad, &config, "w").unwrap_err();
        assert!(
            err.0[0].message.contains("production, nonproduction"),
            "{err}"
        );
    }

    #[test]
    fn pattern_is_anchored() {
        let specs = spec("n: {pattern: '[a-z]+'}\n");
        let v: ParamValues = [("n".to_string(), json!("abc; rm -rf /"))]
            .into_iter()
            .collect();
        assert!(bind(&specs, &v, &json!({}), "w").is_err());
    }
}
