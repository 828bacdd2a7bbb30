//! A root workflow and the workflows it calls, as validation hands them on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::diagnostic::SourceFile;
use super::step::ValidWorkflow;

/// A root workflow and every workflow it calls, all validated.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub root: Arc<ValidWorkflow>,
    /// Nested workflows by canonical path.
    pub nested: HashMap<PathBuf, Arc<ValidWorkflow>>,
}

impl Bundle {
    /// The workflow a `workflow:` step of `caller` names.
    pub fn called(&self, caller: &ValidWorkflow, path: &str) -> Option<&Arc<ValidWorkflow>> {
        let p = caller.base_dir().join(path);
        let canon = std::fs::canonicalize(&p).unwrap_or(p);
        self.nested.get(&canon)
    }

    /// Every file of the bundle: the root first.
    pub fn files(&self) -> Vec<&Arc<SourceFile>> {
        let mut v = vec![&self.root.file];
        let mut nested: Vec<_> = self.nested.values().map(|w| &w.file).collect();
        nested.sort_by(|a, b| a.path.cmp(&b.path));
        v.extend(nested);
        v
    }
}
