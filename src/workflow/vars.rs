//! `vars:`: values a workflow computes once and names, read by templates as `vars.<name>`.
//!
//! A var is a value or a template, rendered against params, config, `run`, the vars above it
//! and the outputs of steps. A var is rendered when a template reads it, with what the reader
//! sees: so a var may read `steps.<id>`, and validation checks that every step reading the var
//! runs after the steps the var reads. A string that is one `{{ expr }}` keeps the
//! expression's type (a boolean stays a boolean), as a nested workflow's `with:` does.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::{Enumerator, Object};

use super::load::LoadedWorkflow;
use super::template;
use crate::yaml::PathSeg;

/// One entry of `vars:`, with what it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct VarSpec {
    pub name: String,
    /// As written: a value, or a template.
    pub value: serde_json::Value,
    /// The params it reads, itself or through the vars it reads.
    pub params: BTreeSet<String>,
    /// The steps it reads (`steps.<id>`), itself or through the vars it reads.
    pub steps: BTreeSet<String>,
    /// It reads only params, config and such vars: the same value for every step of a
    /// workflow instance, so rendered once per instance (see [`StableVars`]).
    pub stable: bool,
}

/// The vars of a workflow in order, each with what it reads. A name a var cannot read (a later
/// var, a syntax error) is left for validation to report.
pub fn specs(vars: &IndexMap<String, serde_json::Value>) -> Vec<VarSpec> {
    let mut out: Vec<VarSpec> = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        let mut spec = VarSpec {
            name: name.clone(),
            value: value.clone(),
            params: BTreeSet::new(),
            steps: BTreeSet::new(),
            // `read_file` reads what a step may have written: rendered by each reader.
            stable: !calls_read_file(value),
        };
        for read in names_in_value(value) {
            let mut parts = read.split('.');
            let (root, second) = (parts.next().unwrap_or_default(), parts.next());
            match (root, second) {
                ("params", Some(p)) => {
                    spec.params.insert(p.to_string());
                }
                ("params" | "config", _) => {}
                ("steps", Some(id)) => {
                    spec.steps.insert(id.to_string());
                    spec.stable = false;
                }
                ("vars", Some(v)) => match out.iter().find(|e| e.name == v) {
                    Some(earlier) => {
                        spec.params.extend(earlier.params.iter().cloned());
                        spec.steps.extend(earlier.steps.iter().cloned());
                        spec.stable &= earlier.stable;
                    }
                    None => spec.stable = false,
                },
                // `run` (its status changes for `finally`), `steps` as a whole, anything else.
                _ => spec.stable = false,
            }
        }
        out.push(spec);
    }
    out
}

/// The vars of a loaded workflow in the order the file writes them (the model's map is read
/// through JSON, which sorts keys): a var reads only the vars above it.
pub fn in_written_order(wf: &LoadedWorkflow) -> IndexMap<String, serde_json::Value> {
    let node = wf.root.lookup(&[PathSeg::Key("vars".into())]);
    let crate::yaml::Value::Map(entries) = &node.value else {
        return wf.workflow.vars.clone();
    };
    entries
        .iter()
        .filter_map(|(k, _)| Some((k.name.clone(), wf.workflow.vars.get(&k.name)?.clone())))
        .collect()
}

/// Whether a template inside `value` calls `read_file` (or merely mentions it: a var that
/// does is rendered by each step, as every var was before stable ones were kept).
fn calls_read_file(value: &serde_json::Value) -> bool {
    let mut found = false;
    visit_strings(value, &mut |s| found |= s.contains("read_file"));
    found
}

/// Every name the templates inside `value` read (syntax errors are validation's to report).
pub fn names_in_value(value: &serde_json::Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    visit_strings(value, &mut |s| {
        if template::is_template(s) {
            names.extend(template::names_in_template(s).unwrap_or_default());
        }
    });
    names
}

fn visit_strings<'a>(v: &'a serde_json::Value, f: &mut impl FnMut(&'a str)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| visit_strings(x, f)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            f(k);
            visit_strings(x, f);
        }),
        _ => {}
    }
}

/// The vars (transitively) reading a param in `params`: a var derived from a secret is one.
pub fn reading_params<'a>(vars: &'a [VarSpec], params: &[String]) -> HashSet<&'a str> {
    vars.iter()
        .filter(|v| v.params.iter().any(|p| params.contains(p)))
        .map(|v| v.name.as_str())
        .collect()
}

/// How a view shows a var instead of computing it (`mcflow plan`).
#[derive(Debug, Clone)]
pub enum Shown {
    /// `<vars.name>`: it reads steps, whose outputs are not known before the run.
    Placeholder,
    /// The mask: it reads a sensitive param.
    Masked(&'static str),
}

/// The [`VarSpec::stable`] vars of one scheduler level (the steps of one workflow instance, or
/// its `finally` steps), rendered once and shared by the views of all its steps:
/// link-spoke's `vars.spoke_context`, a lookup in `config.spokes`, is read by five of its steps.
pub type StableVars = Arc<Mutex<HashMap<String, Value>>>;

/// `vars` in a template context: each var rendered when it is first read, against `base`
/// (params, config, steps, run: what the reader sees, `item` aside) and the vars above it.
#[derive(Debug)]
pub struct VarsView {
    vars: Arc<[VarSpec]>,
    base: Vec<(&'static str, Value)>,
    shown: HashMap<String, Shown>,
    rendered: Mutex<HashMap<String, Value>>,
    /// Where the stable vars are kept across views, when the caller shares one.
    stable: Option<StableVars>,
}

impl VarsView {
    /// The view a step of a run reads; `stable` is its workflow instance's.
    pub fn value(
        vars: &Arc<[VarSpec]>,
        base: &[(&'static str, Value)],
        stable: &StableVars,
    ) -> Value {
        Value::from_object(VarsView {
            vars: vars.clone(),
            base: base.to_vec(),
            shown: HashMap::new(),
            rendered: Mutex::new(HashMap::new()),
            stable: Some(stable.clone()),
        })
    }

    /// A view where the vars in `shown` are not computed but shown as it says.
    pub fn value_showing(
        vars: &Arc<[VarSpec]>,
        base: &[(&'static str, Value)],
        shown: HashMap<String, Shown>,
    ) -> Value {
        Value::from_object(VarsView {
            vars: vars.clone(),
            base: base.to_vec(),
            shown,
            rendered: Mutex::new(HashMap::new()),
            stable: None,
        })
    }

    fn compute(self: &Arc<Self>, spec: &VarSpec) -> Value {
        match self.shown.get(&spec.name) {
            Some(Shown::Placeholder) => return Value::from(format!("<vars.{}>", spec.name)),
            Some(Shown::Masked(mask)) => return Value::from(*mask),
            None => {}
        }
        let mut pairs = self.base.clone();
        pairs.push(("vars", Value::from_dyn_object(self.clone())));
        let ctx = Value::from_pairs(pairs);
        match template::render_value(&spec.value, &ctx) {
            Ok(v) => template::value_of(&v),
            Err(e) => Value::from(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("var `{}`: {e}", spec.name),
            )),
        }
    }
}

impl Object for VarsView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if let Some(v) = self.rendered.lock().ok()?.get(name) {
            return Some(v.clone());
        }
        let spec = self.vars.iter().find(|v| v.name == name)?;
        let shared = self.stable.as_ref().filter(|_| spec.stable);
        if let Some(v) = shared.and_then(|s| s.lock().ok()?.get(name).cloned()) {
            return Some(v);
        }
        let value = self.compute(spec);
        if let Some(mut cache) = shared.and_then(|s| s.lock().ok()) {
            cache.insert(name.to_string(), value.clone());
        }
        if let Ok(mut cache) = self.rendered.lock() {
            cache.insert(name.to_string(), value.clone());
        }
        Some(value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.vars.iter().map(|v| v.name.as_str().into()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(yaml: &str) -> Arc<[VarSpec]> {
        let map: IndexMap<String, serde_json::Value> = crate::yaml::from_str(yaml).unwrap();
        specs(&map).into()
    }

    fn base(params: serde_json::Value) -> Vec<(&'static str, Value)> {
        vec![("params", template::value_of(&params))]
    }

    #[test]
    fn a_var_reads_params_and_earlier_vars_and_keeps_its_type() {
        let v = vars(
            "ns: \"{{ params.app }}-system\"\nlabel: \"app={{ vars.ns }}\"\nbig: \"{{ params.n > 2 }}\"\n",
        );
        let ctx = Value::from_pairs([(
            "vars",
            VarsView::value(
                &v,
                &base(serde_json::json!({"app": "shop", "n": 3})),
                &StableVars::default(),
            ),
        )]);
        assert_eq!(
            template::render("{{ vars.label }}", &ctx).unwrap(),
            "app=shop-system"
        );
        assert_eq!(template::eval("vars.big", &ctx).unwrap(), Value::from(true));
    }

    #[test]
    fn what_a_var_reads_includes_what_its_vars_read() {
        let v = vars(
            "version: \"{{ steps.cli.outputs.version }}\"\ntoken: \"{{ params.token }}\"\nboth: \"{{ vars.version }} {{ vars.token }}\"\n",
        );
        assert_eq!(v[2].steps, BTreeSet::from(["cli".to_string()]));
        assert_eq!(v[2].params, BTreeSet::from(["token".to_string()]));
        let secret = reading_params(&v, &["token".to_string()]);
        assert_eq!(secret, HashSet::from(["token", "both"]));
    }

    #[test]
    fn a_view_can_show_a_var_instead_of_computing_it() {
        let v = vars("mode: \"{{ steps.cli.stdout }}\"\nkey: \"{{ params.key }}\"\n");
        let shown = HashMap::from([
            ("mode".to_string(), Shown::Placeholder),
            ("key".to_string(), Shown::Masked("***")),
        ]);
        let ctx = Value::from_pairs([(
            "vars",
            VarsView::value_showing(&v, &base(serde_json::json!({"key": "s3cret"})), shown),
        )]);
        assert_eq!(
            template::render("{{ vars.mode }} {{ vars.key }}", &ctx).unwrap(),
            "<vars.mode> ***"
        );
    }

    #[test]
    fn only_vars_of_params_and_config_are_stable() {
        let v = vars(
            "ctx: \"{{ (config.spokes | first).context }}-{{ params.spoke }}\"\nlabel: \"{{ vars.ctx }}\"\nversion: \"{{ steps.cli.stdout }}\"\nboth: \"{{ vars.ctx }} {{ vars.version }}\"\nstatus: \"{{ run.status }}\"\nfile: \"{{ read_file(params.path) }}\"\nof_file: \"{{ vars.file }}\"\n",
        );
        let stable: Vec<(&str, bool)> = v.iter().map(|s| (s.name.as_str(), s.stable)).collect();
        assert_eq!(
            stable,
            [
                ("ctx", true),
                ("label", true),
                ("version", false),
                ("both", false),
                ("status", false),
                ("file", false),
                ("of_file", false)
            ]
        );
    }

    /// A stable var is rendered once for all the views that share a [`StableVars`] (the steps
    /// of one workflow instance); a var that reads steps is rendered by each view.
    #[test]
    fn views_sharing_stable_vars_render_them_once() {
        let v = vars("ns: \"{{ params.app }}-system\"\nout: \"{{ steps.s }}\"\n");
        let shared = StableVars::default();
        let view = |app: &str, s: &str| {
            let mut pairs = base(serde_json::json!({ "app": app }));
            pairs.push(("steps", template::value_of(&serde_json::json!({ "s": s }))));
            Value::from_pairs([("vars", VarsView::value(&v, &pairs, &shared))])
        };
        let first = view("shop", "one");
        assert_eq!(
            template::render("{{ vars.ns }} {{ vars.out }}", &first).unwrap(),
            "shop-system one"
        );
        // Another view of the same instance: `ns` is the shared one (a caller gives each
        // workflow instance its own StableVars, whose params do not change), `out` its own.
        let second = view("other", "two");
        assert_eq!(
            template::render("{{ vars.ns }} {{ vars.out }}", &second).unwrap(),
            "shop-system two"
        );
        // Without sharing, each view renders it.
        let third = Value::from_pairs([(
            "vars",
            VarsView::value(
                &v,
                &base(serde_json::json!({ "app": "other" })),
                &StableVars::default(),
            ),
        )]);
        assert_eq!(
            template::render("{{ vars.ns }}", &third).unwrap(),
            "other-system"
        );
    }

    #[test]
    fn a_failing_var_names_itself() {
        let v = vars("bad: \"{{ params.missing.deeper }}\"\n");
        let ctx = Value::from_pairs([(
            "vars",
            VarsView::value(&v, &base(serde_json::json!({})), &StableVars::default()),
        )]);
        let err = template::render("x{{ vars.bad }}", &ctx).unwrap_err();
        assert!(err.contains("var `bad`"), "{err}");
    }
}
