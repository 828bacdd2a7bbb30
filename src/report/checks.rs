//! The outcome of each check step (a step with `check:`), as the JSON summary lists them:
//! `checks: [{cluster, check, ok, reason, hint}]`, so that CI reads verify's verdicts as data.

/// One check of one cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckResult {
    pub cluster: String,
    pub check: String,
    pub ok: bool,
    /// Why it failed: the step's error (its first line).
    pub reason: Option<String>,
    /// What to do about it (only when it failed).
    pub hint: Option<String>,
}
