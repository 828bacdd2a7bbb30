//! What finished steps leave for later ones: `steps.<id>` in templates (`stdout`, `outputs`,
//! `status`, …, and `items` for a `for_each` step), filled in as steps finish.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use minijinja::Value;
use minijinja::value::{Enumerator, Object};

use crate::journal::StepRecord;
use crate::workflow::item_key::item_key;
use crate::workflow::step::StepSpec;
use crate::workflow::template;

/// `steps.<id>` as templates see it.
#[derive(Debug, Default)]
struct StepsView(RwLock<HashMap<String, Value>>);

impl Object for StepsView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let map = self.0.read().ok()?;
        map.get(key.as_str()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self
            .0
            .read()
            .map(|m| m.keys().map(|k| Value::from(k.as_str())).collect())
            .unwrap_or_default();
        Enumerator::Values(keys)
    }
}

/// The results of one workflow level's steps.
pub(super) struct StepResults {
    view: Arc<StepsView>,
    /// Step ids by index.
    ids: Vec<String>,
    /// Results of for_each instances, by step, by item key.
    items: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl StepResults {
    pub(super) fn new(steps: &[StepSpec]) -> StepResults {
        StepResults {
            view: Arc::new(StepsView::default()),
            ids: steps.iter().map(|s| s.id.clone()).collect(),
            items: vec![serde_json::Map::new(); steps.len()],
        }
    }

    /// The `steps` value of a template context (a live view: later results show up in it).
    pub(super) fn view(&self) -> Value {
        Value::from_dyn_object(self.view.clone())
    }

    /// Step `i` (or its instance for `item`) succeeded with `record`.
    pub(super) fn succeeded(
        &mut self,
        i: usize,
        item: Option<&serde_json::Value>,
        record: StepRecord,
    ) {
        let mut v = serde_json::to_value(&record).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("status".into(), "succeeded".into());
            o.entry("outputs").or_insert_with(|| serde_json::json!({}));
            o.entry("object").or_insert(serde_json::Value::Null);
            o.entry("exit_code").or_insert(serde_json::Value::Null);
        }
        self.put(i, item, v);
    }

    /// A failed step (continue_on_error) is still visible to later steps: `status` and `error`.
    pub(super) fn failed(&mut self, i: usize, item: Option<&serde_json::Value>, error: &str) {
        let v = serde_json::json!({
            "status": "failed", "error": error, "stdout": "", "stderr": "",
            "outputs": {}, "object": null, "exit_code": null,
        });
        self.put(i, item, v);
    }

    /// All instances of step `i` are over: a `for_each` step shows its items; a step that left
    /// nothing (skipped by `when`, or failed before running) shows its status.
    pub(super) fn settle(&mut self, i: usize, id: &str, for_each: bool, failed: bool) {
        let Ok(mut m) = self.view.0.write() else {
            return;
        };
        if for_each {
            let v = serde_json::json!({
                "status": if failed { "failed" } else { "succeeded" },
                "items": self.items[i],
            });
            m.insert(id.to_string(), template::value_of(&v));
        } else {
            m.entry(id.to_string()).or_insert_with(|| {
                template::value_of(&serde_json::json!({
                    "status": if failed { "failed" } else { "skipped" },
                }))
            });
        }
    }

    fn put(&mut self, i: usize, item: Option<&serde_json::Value>, v: serde_json::Value) {
        match item {
            Some(it) => {
                self.items[i].insert(item_key(it), v);
            }
            None => {
                if let Ok(mut m) = self.view.0.write() {
                    m.insert(self.ids[i].clone(), template::value_of(&v));
                }
            }
        }
    }
}
