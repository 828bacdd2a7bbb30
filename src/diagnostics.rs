//! The diagnostics bundle of a run, packed to attach to a ticket: `mcflow show <run> --bundle
//! FILE.tar.gz` writes a gzipped tar of `<run-id>/summary.txt` (what `mcflow show` prints),
//! `<run-id>/journal.jsonl` and `<run-id>/diagnostics/…` (what `workflows/gather.yaml` saved
//! there when the run failed). Nothing in it is a secret: the journal never holds one, and
//! `save` masks every secret the run had seen before it writes.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

/// What a packed bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Files in the archive.
    pub files: usize,
    /// Whether the run had gathered diagnostics.
    pub gathered: bool,
}

/// Packs the run in `run_dir` (its id `run_id`) with `summary` into `out` (0600).
pub fn pack(run_dir: &Path, run_id: &str, summary: &str, out: &Path) -> io::Result<Packed> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(out)?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    // Complete: each file keeps its 0600 mode and its time.
    tar.mode(tar::HeaderMode::Complete);
    let mut files = 0;
    add_bytes(
        &mut tar,
        &format!("{run_id}/summary.txt"),
        summary.as_bytes(),
    )?;
    files += 1;
    let journal = run_dir.join("journal.jsonl");
    if journal.is_file() {
        tar.append_path_with_name(&journal, format!("{run_id}/journal.jsonl"))?;
        files += 1;
    }
    let diagnostics = crate::run::save::diagnostics_dir(run_dir);
    let gathered = diagnostics.is_dir();
    if gathered {
        files += add_tree(&mut tar, &diagnostics, &format!("{run_id}/diagnostics"))?;
    }
    let gz = tar.into_inner()?;
    gz.finish()?.flush()?;
    Ok(Packed { files, gathered })
}

fn add_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    header.set_mtime(now);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes)
}

/// Adds the files under `dir` as `prefix/…`, in name order; how many.
fn add_tree<W: Write>(tar: &mut tar::Builder<W>, dir: &Path, prefix: &str) -> io::Result<usize> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    let mut n = 0;
    for e in entries {
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        let kind = e.file_type()?;
        if kind.is_dir() {
            n += add_tree(tar, &e.path(), &name)?;
        } else if kind.is_file() {
            tar.append_file(&name, &mut File::open(e.path())?)?;
            n += 1;
        }
    }
    Ok(n)
}
