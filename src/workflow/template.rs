//! Templates (`{{ ... }}`) and expressions, over MiniJinja in strict mode.
//!
//! Strings that contain `{{` or `{%` are templates. `when`, `for_each`, `assert` and a param's
//! `enum` are expressions: written bare (`params.x == 'a'`) or wrapped (`{{ params.x == 'a' }}`).
//! Names are checked before anything runs (see `validate`); at run time an unknown name is an
//! error, never an empty string.

mod compiled;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use base64::Engine;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

/// The roots a template can name.
pub const ROOTS: [&str; 6] = ["params", "vars", "config", "steps", "item", "run"];

/// What `steps.<id>` holds.
pub const STEP_FIELDS: [&str; 8] = [
    "error",
    "stdout",
    "stderr",
    "exit_code",
    "outputs",
    "object",
    "status",
    "items",
];

/// The fields of `run`.
pub const RUN_FIELDS: [&str; 4] = ["id", "started_at", "workflow", "dir"];

/// The fields of `run` that `finally` steps read besides [`RUN_FIELDS`]: how the main steps
/// ended (`succeeded`, `failed`, `interrupted`) and the keys of those that failed.
pub const FINALLY_RUN_FIELDS: [&str; 2] = ["status", "failed_steps"];

/// The widest column `pad(n)` makes.
const PAD_MAX: usize = 4096;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(build_environment);

/// The shared template environment: strict undefined, no auto-escaping, a few filters that
/// Kubernetes work needs.
pub fn env() -> &'static Environment<'static> {
    &ENV
}

fn build_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // A manifest piped through a template must come out byte for byte, final newline included.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    add_data_filters(&mut env);
    add_text_filters(&mut env);
    add_cluster_helpers(&mut env);
    env
}

/// Decoding and encoding: base64, JSON, regex captures.
fn add_data_filters(env: &mut Environment<'static>) {
    env.add_filter("b64decode", |s: String| -> Result<String, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("b64decode: {e}")))?;
        String::from_utf8(bytes)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("b64decode: {e}")))
    });
    env.add_filter("b64encode", |s: String| {
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    });
    env.add_filter("from_json", |s: String| -> Result<Value, Error> {
        let v: serde_json::Value = serde_json::from_str(&s)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("from_json: {e}")))?;
        Ok(value_of(&v))
    });
    env.add_filter("to_json", |v: Value| -> Result<String, Error> {
        serde_json::to_string(&v)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("to_json: {e}")))
    });
    env.add_filter(
        "regex_search",
        |s: String, pattern: String| -> Result<Value, Error> {
            let re = crate::regexes::compiled(&pattern).map_err(|e| {
                Error::new(ErrorKind::InvalidOperation, format!("regex_search: {e}"))
            })?;
            Ok(match re.captures(&s) {
                Some(c) => Value::from(c.get(1).or_else(|| c.get(0)).map_or("", |m| m.as_str())),
                None => Value::from(()),
            })
        },
    );
}

/// Shaping text and lists: `product`, `pad`, `manifest_set`.
fn add_text_filters(env: &mut Environment<'static>) {
    // `a | product(b)`: every pair [x, y], for a for_each over two lists (spokes × exports).
    env.add_filter("product", |a: Vec<Value>, b: Vec<Value>| -> Vec<Value> {
        a.iter()
            .flat_map(|x| {
                b.iter()
                    .map(move |y| Value::from(vec![x.clone(), y.clone()]))
            })
            .collect()
    });
    // `s | pad(n)`: left-justify to n characters, for text tables.
    // The width is bounded: `format!` panics on a width above u16::MAX, and a table column
    // wider than a screen is a mistake anyway.
    env.add_filter("pad", |s: String, width: usize| -> Result<String, Error> {
        if width > PAD_MAX {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("pad: width {width} is too large (at most {PAD_MAX})"),
            ));
        }
        Ok(format!("{s:<width$}"))
    });
    // `manifest | manifest_set('Link', 'spec.excludedLabels', [...])`: sets a field in every
    // document of that kind of a multi-document YAML manifest.
    env.add_filter(
        "manifest_set",
        |manifest: String, kind: String, path: String, value: Value| -> Result<String, Error> {
            manifest_set(&manifest, &kind, &path, &value)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("manifest_set: {e}")))
        },
    );
}

/// Reading what clusters and tools produce: YAML, PEM bundles, files, linkerd versions.
fn add_cluster_helpers(env: &mut Environment<'static>) {
    env.add_filter("from_yaml", |s: String| -> Result<Value, Error> {
        let v: serde_json::Value = crate::yaml::from_str(&s).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("from_yaml: {}", e.message),
            )
        })?;
        Ok(value_of(&v))
    });
    env.add_filter("pem_fingerprints", |s: String| -> Vec<String> {
        pem_fingerprints(&s)
    });
    env.add_function("read_file", |path: String| -> Result<String, Error> {
        std::fs::read_to_string(&path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("read_file({path}): {e}"),
            )
        })
    });
    env.add_function("linkerd_uses_link_gen", |version: String| {
        linkerd_uses_link_gen(&version)
    });
}

/// SHA-256 fingerprints (hex, colon-free) of every certificate in a PEM bundle: how trust anchors
/// are compared across clusters (the same certificate has the same fingerprint whatever its
/// PEM line wrapping).
pub fn pem_fingerprints(pem: &str) -> Vec<String> {
    use sha2::Digest;
    let mut out = Vec::new();
    let mut body = String::new();
    let mut inside = false;
    for line in pem.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN CERTIFICATE") {
            inside = true;
            body.clear();
        } else if line.starts_with("-----END CERTIFICATE") {
            inside = false;
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&body) {
                out.push(hex::encode(sha2::Sha256::digest(&der)));
            }
        } else if inside {
            body.push_str(line);
        }
    }
    out
}

/// Does this linkerd CLI version generate links with `multicluster link-gen` (2.18 and later,
/// where the chart's `controllers` value runs the service mirror), rather than `multicluster link`?
/// Stable versions are `stable-2.X.Y` (or `2.X.Y`, `enterprise-2.X.Y`); edge versions
/// `edge-YY.M.N`, where `link-gen` arrived in edge-25.3.4 (linkerd2 #13858,
/// multicluster/cmd/root.go), the release before 2.18's edge-25.4.4.
pub fn linkerd_uses_link_gen(version: &str) -> bool {
    let v = version.trim().trim_start_matches('v');
    let nums = |s: &str| -> Vec<u32> { s.split('.').filter_map(|p| p.parse().ok()).collect() };
    if let Some(rest) = v.strip_prefix("edge-") {
        let n = nums(rest);
        return matches!(n.as_slice(), [y, m, d, ..] if (*y, *m, *d) >= (25, 3, 4))
            || matches!(n.as_slice(), [y, m] if (*y, *m) >= (25, 4));
    }
    let rest = v.rsplit('-').next().unwrap_or(v);
    let n = nums(rest);
    matches!(n.as_slice(), [major, minor, ..] if (*major, *minor) >= (2, 18))
}

/// Sets the dotted `path` to `value` in every document of `manifest` whose kind is `kind`, and
/// returns the manifest as YAML documents. (Errors never quote the manifest: it may hold secrets.)
pub fn manifest_set(
    manifest: &str,
    kind: &str,
    path: &str,
    value: &Value,
) -> Result<String, String> {
    let mut docs = crate::yaml::parse_documents(manifest).map_err(|e| {
        format!(
            "the manifest is not YAML ({})",
            e.loc.map_or(String::new(), |l| format!("line {}", l.line))
        )
    })?;
    let value = to_json(value)?;
    let keys: Vec<&str> = path.split('.').filter(|k| !k.is_empty()).collect();
    let Some((last, parents)) = keys.split_last() else {
        return Err("empty path".into());
    };
    let mut found = false;
    for doc in docs
        .iter_mut()
        .filter(|d| d.get("kind").and_then(|k| k.as_str()) == Some(kind))
    {
        let mut node = &mut *doc;
        for k in parents {
            if !node.get(*k).is_some_and(|n| n.is_object()) {
                node[*k] = serde_json::json!({});
            }
            node = &mut node[*k];
        }
        node[*last] = value.clone();
        found = true;
    }
    if !found {
        return Err(format!("the manifest has no {kind}"));
    }
    let mut out = String::new();
    for doc in &docs {
        out.push_str("---\n");
        out.push_str(&crate::yaml::to_string(doc)?);
    }
    Ok(out)
}

/// Is `s` a template (as opposed to a plain string)?
pub fn is_template(s: &str) -> bool {
    // One pass over the bytes (three `contains` were a tenth of planning).
    opener(s, |next| matches!(next, b'{' | b'%' | b'#')).is_some()
}

/// Has `s` a `{%` statement or a `{#` comment?
fn has_statement(s: &str) -> bool {
    opener(s, |next| matches!(next, b'%' | b'#')).is_some()
}

/// The index of the first `{` followed by a byte that `next` accepts.
fn opener(s: &str, next: impl Fn(u8) -> bool) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b'{', b).find(|&i| b.get(i + 1).is_some_and(|&c| next(c)))
}

/// The index of the first `}}` in `s`.
fn closer(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b'}', b).find(|&i| b.get(i + 1) == Some(&b'}'))
}

/// The expression inside `s`: `{{ x }}` → `x`; a bare expression is returned as it is.
pub fn expression_text(s: &str) -> &str {
    let t = s.trim();
    if let Some(inner) = t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        return inner.trim();
    }
    t
}

/// Is `name` a function of the environment (`range`, `read_file`, ...) rather than data?
pub fn is_function(name: &str) -> bool {
    // Asked for every name of every template: a set, not a walk over the globals.
    static FUNCTIONS: LazyLock<std::collections::HashSet<String>> =
        LazyLock::new(|| env().globals().map(|(g, _)| g.to_string()).collect());
    FUNCTIONS.contains(name)
}

/// The names a template or expression reads, as dotted paths (`params.spoke`,
/// `steps.link.stdout`), or its syntax error.
pub fn names_in_template(src: &str) -> Result<BTreeSet<String>, String> {
    if let Some(names) = simple_names(src) {
        return Ok(names);
    }
    // Compiled once per process: the plan asks again for each instance of a nested workflow.
    let names =
        compiled::with_template(src, |t| t.undeclared_variables(true)).map_err(|e| describe(&e))?;
    Ok(names
        .into_iter()
        .filter(|n| !is_function(n.split('.').next().unwrap_or(n)))
        .collect())
}

/// The names of a template made only of text and `{{ dotted.path }}` or
/// `{{ dotted.path | filter | ... }}` blocks (filters without arguments), read without compiling
/// it: most templates of a workflow are of that shape, and compiling each one was a fifth of
/// `mcflow validate`'s time. `None` for anything else (which the compiler then reads). Equal to
/// what [`names_in_template`] gets from minijinja (tested against it).
fn simple_names(src: &str) -> Option<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    simple_blocks(src, |_, path, mut filters| {
        if !filters.all(|f| is_plain_ident(f.trim())) {
            return None;
        }
        let root = path.split('.').next()?;
        if !is_function(root) {
            names.insert(path.to_string());
        }
        Some(())
    })?;
    Some(names)
}

/// Walks a template made only of text and `{{ dotted.path | filter | ... }}` blocks, calling
/// `block(text_before, path, filters)` for each block in order, and returns the text after the
/// last one. `None` for a template of any other shape (statements, comments, expressions,
/// an unclosed block), or as soon as `block` returns `None`.
fn simple_blocks<'a>(
    src: &'a str,
    mut block: impl FnMut(&'a str, &'a str, std::str::Split<'a, char>) -> Option<()>,
) -> Option<&'a str> {
    if has_statement(src) {
        return None;
    }
    let mut rest = src;
    while let Some(start) = opener(rest, |next| next == b'{') {
        let after = &rest[start + 2..];
        let end = closer(after)?;
        let mut parts = after[..end].split('|');
        let path = parts.next()?.trim();
        if !path.split('.').all(is_plain_ident) {
            return None;
        }
        block(&rest[..start], path, parts)?;
        rest = &after[end + 2..];
    }
    Some(rest)
}

/// An identifier that is not a keyword, a literal or a name minijinja treats specially.
fn is_plain_ident(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
        "and",
        "or",
        "not",
        "in",
        "is",
        "if",
        "else",
        "for",
        "loop",
        "self",
        "super",
        "caller",
        "varargs",
        "kwargs",
        "recursive",
    ];
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&s)
}

/// Like [`names_in_template`], for an expression.
pub fn names_in_expression(expr: &str) -> Result<BTreeSet<String>, String> {
    let e = env()
        .compile_expression(expression_text(expr))
        .map_err(|e| describe(&e))?;
    Ok(e.undeclared_variables(true)
        .into_iter()
        .filter(|n| !is_function(n.split('.').next().unwrap_or(n)))
        .collect())
}

/// Renders a template string.
pub fn render(src: &str, ctx: &Value) -> Result<String, String> {
    if !is_template(src) {
        return Ok(src.to_string());
    }
    if let Some(out) = render_simple(src, ctx) {
        return Ok(out);
    }
    // Compiled once per process (`compiled`): `env().render_str(src, ctx)` without the compile.
    compiled::with_template(src, |t| t.render(ctx))
        .and_then(|r| r)
        .map_err(|e| describe(&e))
}

/// Renders a template made only of text and `{{ dotted.path }}` blocks (with `trim`, `upper`
/// or `lower` filters on strings) whose values are strings or integers, without compiling it: that is most templates of a workflow (argv
/// entries, names, namespaces), and compiling each one was most of `mcflow plan`'s time.
/// `None` for anything else, including a name that is not there, so that minijinja renders
/// it and reports its own error. Equal to minijinja's output (tested against it).
fn render_simple(src: &str, ctx: &Value) -> Option<String> {
    let mut out = String::with_capacity(src.len() + 16);
    let tail = simple_blocks(src, |text, path, filters| {
        out.push_str(text);
        let mut segments = path.split('.');
        let mut value = ctx.get_attr(segments.next()?).ok()?;
        for segment in segments {
            value = value.get_attr(segment).ok()?;
        }
        for filter in filters {
            // The few filters that are one line of std, exactly as minijinja writes them
            // (`filters.rs`): `steps.x.stdout | trim` is the common case.
            let s = value.as_str()?;
            value = Value::from(match filter.trim() {
                "trim" => s.trim().to_string(),
                "upper" => s.to_uppercase(),
                "lower" => s.to_lowercase(),
                _ => return None,
            });
        }
        match value.kind() {
            minijinja::value::ValueKind::String => out.push_str(value.as_str()?),
            minijinja::value::ValueKind::Number if value.is_integer() => {
                out.push_str(&value.to_string())
            }
            _ => return None,
        }
        Some(())
    })?;
    out.push_str(tail);
    Some(out)
}

/// Evaluates an expression to a value.
pub fn eval(expr: &str, ctx: &Value) -> Result<Value, String> {
    let e = compiled::expression(expression_text(expr)).map_err(|e| describe(&e))?;
    e.eval(ctx).map_err(|e| describe(&e))
}

/// Evaluates an expression as a condition.
pub fn eval_bool(expr: &str, ctx: &Value) -> Result<bool, String> {
    eval(expr, ctx).map(|v| v.is_true())
}

/// Renders every template string inside a JSON value, mapping keys included.
pub fn render_json(v: &serde_json::Value, ctx: &Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::String(s) => J::String(render(s, ctx)?),
        J::Array(items) => J::Array(
            items
                .iter()
                .map(|i| render_json(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => J::Object(
            map.iter()
                // Keys may be templates too (`set: { "{{ config.argocd.label }}": "true" }`).
                .map(|(k, v)| Ok((render(k, ctx)?, render_json(v, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Renders a value for a nested workflow's `with:`: a string that is one `{{ expr }}` keeps
/// the expression's type (a list stays a list); other strings render to strings.
pub fn render_value(v: &serde_json::Value, ctx: &Value) -> Result<serde_json::Value, String> {
    if let serde_json::Value::String(s) = v {
        let t = s.trim();
        if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 {
            let value = eval(t, ctx)?;
            return to_json(&value);
        }
    }
    render_json(v, ctx)
}

/// Any serializable value as a template value.
pub fn value_of<T: serde::Serialize + ?Sized>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// A MiniJinja value as JSON.
pub fn to_json(v: &Value) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// One line saying what is wrong with a template, without the template's (maybe secret) text.
pub fn describe(e: &Error) -> String {
    let mut msg = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line()
        && line > 1
    {
        msg.push_str(&format!(" (template line {line})"));
    }
    msg
}

#[cfg(test)]
mod tests {
    #[test]
    fn simple_names_match_the_compiler() {
        let samples = [
            "{{ params.spoke }}",
            "{{params.spoke}}",
            "x-{{ params.hub }}-7",
            "{{ steps.s0001.stdout | trim }}",
            "{{ steps.a.outputs.version | trim | upper }}",
            "{{ item }} and {{ item.name }}",
            "{{ range }}",
            "{{ config.hub.name }}}",
            "a }} b {{ params.x }}",
            "no template at all",
            "{{ loop.index }}",
            "{{ true }}",
            "{{ params.spoke ~ 'x' }}",
            "{{- params.spoke }}",
            "{{ params.a | default('x') }}",
            "{{ a.b.c.d }}{{ a.b }}",
            "{{ params.a | nosuchfilter }}",
        ];
        for src in samples {
            let fast = simple_names(src);
            let tmpl = env().template_from_str(src);
            let slow: Option<BTreeSet<String>> = tmpl.ok().map(|t| {
                t.undeclared_variables(true)
                    .into_iter()
                    .filter(|n| !is_function(n.split('.').next().unwrap_or(n)))
                    .collect()
            });
            if let Some(fast) = fast {
                assert_eq!(Some(fast), slow, "{src}");
            }
        }
        assert!(simple_names("{{ params.spoke }}-{{ steps.x.stdout | trim }}").is_some());
        assert!(simple_names("{{ a | f(1) }}").is_none());
        assert!(simple_names("{% if x %}{% endif %}").is_none());
        assert!(simple_names("{{ a").is_none());
    }

    use super::*;

    #[test]
    fn simple_render_matches_the_compiler() {
        let ctx = value_of(&serde_json::json!({
            "params": { "spoke": "nonproduction", "n": 42, "neg": -3, "f": 1.5, "t": true,
                        "none": null, "list": [1, 2], "map": { "a": "b" }, "empty": "",
                        "ws": "\u{a0} Straße ǅ \t\u{2003}" },
            "config": { "hub": { "name": "internal", "port": 30143 } },
            "steps": { "link": { "stdout": "line1\nline2\n", "outputs": { "x": "{{ y }}" } } },
            "item": { "name": "svc", "0": "zero" },
            "run": { "id": "20261125-000000-00001" },
        }));
        let samples = [
            "{{ params.spoke }}",
            "{{params.spoke}}-{{ config.hub.name }}:{{ config.hub.port }}",
            "prefix {{ params.n }} {{ params.neg }} suffix\n",
            "{{ params.f }}",
            "{{ params.t }}",
            "{{ params.none }}",
            "{{ params.list }}",
            "{{ params.map }}",
            "{{ params.empty }}|",
            "{{ params.missing }}",
            "{{ nosuchroot.x }}",
            "{{ steps.link.stdout }}",
            "{{ steps.link.outputs.x }}",
            "{{ item.name }} {{ item }}",
            "{{ params.spoke.upper }}",
            "a }} b {{ params.spoke }}",
            "{{ config.hub.name }}}",
            "{{ params.spoke",
            "{{- params.spoke }}",
            "{{ params.spoke | upper }}",
            "{{ steps.link.stdout | trim }}|{{ steps.link.stdout|trim|upper }}",
            "{{ params.spoke | lower | trim }}",
            "{{ params.n | trim }}",
            "{{ params.spoke | trim('n') }}",
            "{{ params.spoke | title }}",
            "{{ params.spoke | }}",
            "{{ params.ws | trim }}|{{ params.ws | upper }}|{{ params.ws | lower }}",
            "{{ true }}",
            "{{ loop.index }}",
            "{{ range }}",
            "{% if true %}x{% endif %}{{ params.spoke }}",
            "{# c #}{{ params.spoke }}",
            "text only {",
            "ünïcode {{ params.spoke }} ✓",
        ];
        let mut fast_ones = 0;
        for src in samples {
            let slow = env().render_str(src, &ctx).map_err(|e| describe(&e));
            if let Some(fast) = render_simple(src, &ctx) {
                fast_ones += 1;
                assert_eq!(Ok(fast), slow, "{src}");
            }
            // Whichever path renders it, `render` says what minijinja says.
            assert_eq!(render(src, &ctx), slow, "{src}");
        }
        // The fast path is taken where it can be (a test that it is not always skipped).
        assert!(fast_ones >= 8, "{fast_ones}");
    }

    #[test]
    fn finds_nested_names() {
        let names =
            names_in_template("{{ params.spoke }}-{{ steps.link.stdout | upper }}").unwrap();
        assert!(names.contains("params.spoke"), "{names:?}");
        assert!(names.contains("steps.link.stdout"), "{names:?}");
    }

    #[test]
    fn loop_variables_are_not_undeclared() {
        let names = names_in_expression("config.spokes | map(attribute='name') | list").unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["config.spokes"]);
    }

    #[test]
    fn strict_about_unknown_names() {
        let ctx = value_of(&serde_json::json!({"params": {"a": 1}}));
        assert!(render("{{ params.b }}", &ctx).is_err());
        assert_eq!(render("{{ params.a }}", &ctx).unwrap(), "1");
    }

    #[test]
    fn expressions_bare_or_wrapped() {
        let ctx = value_of(&serde_json::json!({"params": {"a": "x"}}));
        assert!(eval_bool("params.a == 'x'", &ctx).unwrap());
        assert!(eval_bool("{{ params.a == 'x' }}", &ctx).unwrap());
    }

    #[test]
    fn with_values_keep_their_type() {
        let ctx = value_of(&serde_json::json!({"config": {"spokes": ["a", "b"]}}));
        let v = render_value(&serde_json::json!("{{ config.spokes }}"), &ctx).unwrap();
        assert_eq!(v, serde_json::json!(["a", "b"]));
    }

    #[test]
    fn link_gen_by_version() {
        assert!(!linkerd_uses_link_gen("stable-2.14.10"));
        assert!(!linkerd_uses_link_gen("stable-2.17.1"));
        assert!(linkerd_uses_link_gen("stable-2.18.0"));
        assert!(linkerd_uses_link_gen("enterprise-2.19.2"));
        assert!(!linkerd_uses_link_gen("edge-24.11.8"));
        assert!(linkerd_uses_link_gen("edge-25.4.4"));
        assert!(!linkerd_uses_link_gen("edge-25.3.3"));
        assert!(linkerd_uses_link_gen("edge-25.3.4"));
    }

    #[test]
    fn fingerprints_ignore_line_wrapping() {
        let der = b"not really a certificate but bytes";
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let one = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        let (a, b) = b64.split_at(10);
        let two = format!("-----BEGIN CERTIFICATE-----\n{a}\n{b}\n-----END CERTIFICATE-----\n");
        assert_eq!(pem_fingerprints(&one), pem_fingerprints(&two));
        assert_eq!(pem_fingerprints(&one).len(), 1);
    }

    #[test]
    fn functions_and_filters_are_registered() {
        let ctx = value_of(&serde_json::json!({}));
        assert!(eval_bool("linkerd_uses_link_gen('stable-2.18.1')", &ctx).unwrap());
        assert_eq!(render("{{ ('a: 1' | from_yaml).a }}", &ctx).unwrap(), "1");
        assert_eq!(
            render("{{ '' | pem_fingerprints | length }}", &ctx).unwrap(),
            "0"
        );
        assert!(
            names_in_template("{{ read_file('x') }}")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn manifest_set_edits_documents_of_a_kind() {
        let m = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\nkind: Link\nmetadata: {name: internal}\nspec: {targetClusterName: internal}\n";
        let out = manifest_set(
            m,
            "Link",
            "spec.excludedLabels",
            &Value::from(vec!["a", "b"]),
        )
        .unwrap();
        let docs = crate::yaml::parse_documents(&out).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[1]["spec"]["excludedLabels"],
            serde_json::json!(["a", "b"])
        );
        assert_eq!(docs[1]["spec"]["targetClusterName"], "internal");
        assert!(manifest_set(m, "Nope", "a", &Value::from(1)).is_err());
    }

    #[test]
    fn b64_filters() {
        let ctx = Value::from(());
        assert_eq!(render("{{ 'aGk=' | b64decode }}", &ctx).unwrap(), "hi");
    }
}
