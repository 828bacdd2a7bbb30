//! Starting a step whose dependencies are done: its instances (`for_each`) and its `when`.

use std::time::Instant;

use super::{Instance, Level, State};
use crate::journal::EventKind;
use crate::workflow::model::ForEach;
use crate::workflow::template;

impl Level<'_> {
    pub(super) fn start_step(&mut self, i: usize) {
        let items = match self.items_of(i) {
            Ok(items) => items,
            Err(error) => return self.fail_step(i, error),
        };
        let mut pending = 0;
        for item in items {
            let key = self.key_of(i, item.as_ref());
            if !self.when_allows(i, &key, item.as_ref()) || self.reuse(i, &key, item.as_ref()) {
                continue;
            }
            let dep_ran = self.deps[i].iter().any(|&d| self.ran[d]);
            // A sensitive step run again only to recompute its output does not make its
            // dependents run again, nor does a read (run again on every resume, and maybe cut
            // short by a crash): the writes after it keep their success.
            let read = self.steps[i].is_read_only();
            self.ran[i] |= !read && (dep_ran || !self.run.done.contains_key(&key));
            let now = Instant::now();
            let inst = self.instances.len();
            self.instances.push(Instance {
                step: i,
                key,
                item,
                attempt: 1,
                started: now,
                first_started: now,
            });
            self.queued[i].push_back(inst);
            pending += 1;
        }
        let failed = matches!(self.state[i], State::Active { failed: true, .. });
        self.state[i] = State::Active { pending, failed };
        self.admit(i);
        if pending == 0 {
            self.settle(i);
        }
    }

    /// The instances of step `i`: one without an item, or one per `for_each` item.
    fn items_of(&self, i: usize) -> Result<Vec<Option<serde_json::Value>>, String> {
        let items: Vec<Option<serde_json::Value>> = match &self.steps[i].for_each {
            None => vec![None],
            Some(ForEach::List(l)) => l.iter().cloned().map(Some).collect(),
            Some(ForEach::Expr(e)) => {
                let ctx = self.context(None);
                match template::eval(e, &ctx).and_then(|v| template::to_json(&v)) {
                    Ok(serde_json::Value::Array(a)) => a.into_iter().map(Some).collect(),
                    Ok(_) => return Err("for_each does not yield a list".into()),
                    Err(err) => return Err(format!("for_each: {err}")),
                }
            }
        };
        // Instances are journaled by their item's key: two items with one key would share a
        // journal entry, and a resume could take one's success for the other's.
        let mut seen = std::collections::HashSet::new();
        match items
            .iter()
            .map(|it| self.key_of(i, it.as_ref()))
            .find(|k| !seen.insert(k.clone()))
        {
            Some(dup) => Err(format!(
                "for_each: two items have the key `{dup}`; give each item a unique `name` (or `id`)"
            )),
            None => Ok(items),
        }
    }

    /// Evaluates the step's `when` for one instance (it may read `item`); journals a skip or a
    /// failure of the expression. True when the instance is to run.
    fn when_allows(&mut self, i: usize, key: &str, item: Option<&serde_json::Value>) -> bool {
        let step = &self.steps[i];
        let Some(when) = &step.when else {
            return true;
        };
        match template::eval_bool(when, &self.context(item)) {
            Ok(true) => true,
            Ok(false) => {
                let skipped = EventKind::StepSkipped {
                    step: key.to_string(),
                    reason: format!("when: {} is false", when.trim()),
                    by_when: true,
                    blocked_by: None,
                };
                self.push_end(i, skipped);
                false
            }
            Err(e) => {
                let failed = EventKind::StepFailed {
                    step: key.to_string(),
                    attempt: 0,
                    error: self.run.redactor.redact(&format!("when: {e}")),
                    duration_ms: 0,
                    continue_on_error: step.continue_on_error,
                };
                self.push_end(i, failed);
                self.mark_instance_failed(i);
                false
            }
        }
    }
}
