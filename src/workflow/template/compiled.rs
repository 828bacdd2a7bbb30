//! Compiled templates and expressions, by source text, for the whole process.
//!
//! A workflow's templates are a fixed set of texts rendered once per step instance: linking 50
//! spokes compiled each `selectattr` template of link-spoke.yaml 50 times, when planning and
//! when running (docs/PERFORMANCE.md, issue 18, 5c). Compiling is deterministic, so a cached
//! compilation renders exactly what a fresh one would; errors are not cached (they end what
//! asked).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::{Error, Expression, Template};

use super::env;

/// Distinct texts kept; a run's workflows hold far fewer. Past it, texts compile as before,
/// uncached (a template's source is kept for the life of the process, so the cache is bounded).
const MAX_ENTRIES: usize = 2048;

type Templates = HashMap<&'static str, Template<'static, 'static>>;
type Expressions = HashMap<Box<str>, Arc<Expression<'static, 'static>>>;

static TEMPLATES: LazyLock<Mutex<Templates>> = LazyLock::new(Default::default);
static EXPRESSIONS: LazyLock<Mutex<Expressions>> = LazyLock::new(Default::default);

/// Calls `f` with `src` compiled as a template (`env().template_from_str(src)`).
pub(super) fn with_template<R>(
    src: &str,
    f: impl FnOnce(&Template<'_, '_>) -> R,
) -> Result<R, Error> {
    let cached = TEMPLATES
        .lock()
        .ok()
        .map(|c| (c.get(src).cloned(), c.len() < MAX_ENTRIES));
    match cached {
        Some((Some(t), _)) => Ok(f(&t)),
        Some((None, true)) => {
            // Kept for the process's life, as the environment's own templates are.
            let source: &'static str = Box::leak(src.to_string().into_boxed_str());
            let t = env().template_from_str(source)?;
            let r = f(&t);
            if let Ok(mut c) = TEMPLATES.lock() {
                c.insert(source, t);
            }
            Ok(r)
        }
        _ => Ok(f(&env().template_from_str(src)?)),
    }
}

/// `expr` compiled as an expression (`env().compile_expression(expr)`).
pub(super) fn expression(expr: &str) -> Result<Arc<Expression<'static, 'static>>, Error> {
    if let Ok(c) = EXPRESSIONS.lock()
        && let Some(e) = c.get(expr)
    {
        return Ok(e.clone());
    }
    let e = Arc::new(env().compile_expression_owned(expr.to_string())?);
    if let Ok(mut c) = EXPRESSIONS.lock()
        && c.len() < MAX_ENTRIES
    {
        c.insert(expr.into(), e.clone());
    }
    Ok(e)
}
