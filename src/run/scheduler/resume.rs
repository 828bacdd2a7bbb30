//! Resume: which steps done in an earlier attempt of the run are reused, and which must run
//! again (a sensitive producer whose output a pending step reads; a step whose dependency ran
//! again).

use super::Level;
use crate::journal::{EventKind, StepRecord};

impl Level<'_> {
    /// Resume: a step done in an earlier attempt of this run is not run again, unless it only
    /// reads, it is sensitive (its output was never written) and a pending step reads it, or one of its
    /// dependencies ran again. True when the earlier result was reused.
    pub(super) fn reuse(&mut self, i: usize, key: &str, item: Option<&serde_json::Value>) -> bool {
        let dep_ran = self.deps[i].iter().any(|&d| self.ran[d]);
        // A read-only step (a check, a get, a wait, the report) runs again: a resumed verify
        // reports the clusters as they are now, not as they were before the fix.
        if dep_ran || self.rerun || self.steps[i].is_read_only() {
            return false;
        }
        let record = match self.run.done.get(key) {
            Some(Some(record)) => record.clone(),
            Some(None) if !self.is_read_by_pending(i) => StepRecord::default(),
            _ => return false,
        };
        self.batch.push(EventKind::StepReused {
            step: key.to_string(),
        });
        self.results.succeeded(i, item, record);
        true
    }

    /// Does a step that has not succeeded yet read `steps.<id>` of step `i`?
    fn is_read_by_pending(&self, i: usize) -> bool {
        let id = &self.steps[i].id;
        self.steps.iter().enumerate().any(|(j, s)| {
            j != i
                && crate::secrets::reads_step(s, &self.wf.vars, id)
                && (!self.was_done(j) || self.may_rerun(j, i))
        })
    }

    /// Did step `j` (or an instance of it) succeed in an earlier attempt of this run?
    fn was_done(&self, j: usize) -> bool {
        let key = self.key_of(j, None);
        let prefix = format!("{key}[");
        self.run
            .done
            .keys()
            .any(|k| k == &key || k.starts_with(&prefix))
    }

    /// Could step `j`, done before, run again in this attempt (because one of its other
    /// dependencies runs again)? Conservative: a sensitive producer re-run once too often costs
    /// one idempotent step; one run too rarely would hand its reader an empty output.
    fn may_rerun(&self, j: usize, except: usize) -> bool {
        self.deps[j]
            .iter()
            .any(|&d| d != except && (self.ran[d] || !self.was_done(d)))
    }
}
