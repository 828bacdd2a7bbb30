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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str, content: &str) -> SaveAction {
        SaveAction {
            path: path.into(),
            content: content.into(),
        }
    }

    #[test]
    fn a_path_outside_the_diagnostics_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = Redactor::default();
        for bad in ["../escape.txt", "/etc/x", "a/../../b", ""] {
            let err = save(&spec(bad, "x"), dir.path(), &r).unwrap_err();
            assert!(
                err.message.contains("not a relative path"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn the_text_is_written_redacted_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let r = Redactor::default();
        r.add("s3cret-token-value");
        save(
            &spec("a/b.txt", "token: s3cret-token-value"),
            dir.path(),
            &r,
        )
        .unwrap();
        let path = dir.path().join("a/b.txt");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "token: ***");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
