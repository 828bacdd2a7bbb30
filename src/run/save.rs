//! `save`: a text written to a file of the run's `diagnostics/` directory (what
//! `workflows/gather.yaml` collects and `mcflow show --bundle` packs). Every secret the run has
//! seen is masked first; the file is 0600 in 0700 directories, like the journal.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::executor::{StepError, StepOutput};
use crate::journal::StepRecord;
use crate::secrets::Redactor;
use crate::workflow::model::SaveAction;

/// The run's diagnostics directory, under its run directory.
pub fn diagnostics_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("diagnostics")
}

/// Writes `spec.content`, redacted, to `spec.path` under `dir`.
pub fn save(spec: &SaveAction, dir: &Path, redactor: &Redactor) -> Result<StepOutput, StepError> {
    let relative = Path::new(&spec.path);
    let inside = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if spec.path.is_empty() || !inside {
        return Err(StepError::permanent(format!(
            "save: {:?} is not a relative path inside the run's diagnostics (no `..`, not absolute)",
            spec.path
        )));
    }
    let path = dir.join(relative);
    let text = redactor.redact(&spec.content);
    write_private(&path, text.as_bytes())
        .map_err(|e| StepError::permanent(format!("save: cannot write {}: {e}", path.display())))?;
    Ok(StepOutput {
        record: StepRecord::default(),
        summary: Some(format!(
            "saved diagnostics/{} ({} bytes)",
            spec.path,
            text.len()
        )),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}
