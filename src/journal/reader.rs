//! Reading a journal back: every event, a torn last line tolerated, any other bad line an error
//! naming its file and line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::event::Event;
use super::state_dir::{StateError, io_err};

/// A journal read back.
#[derive(Debug, Clone)]
pub struct JournalRead {
    pub events: Vec<Event>,
    /// Set when the last line was torn (a crash mid-write) and skipped.
    pub torn_tail: bool,
}

/// Reads a journal. A torn last line is skipped; any other bad line is an error.
pub fn read(path: &Path) -> Result<JournalRead, StateError> {
    let file = File::open(path).map_err(io_err("cannot open journal", path))?;
    read_lines(BufReader::new(file), path)
}

/// Reads a journal held in memory (the kube store's); `origin` names it in errors.
pub fn parse(bytes: &[u8], origin: &str) -> Result<JournalRead, StateError> {
    read_lines(bytes, Path::new(origin))
}

fn read_lines(reader: impl BufRead, path: &Path) -> Result<JournalRead, StateError> {
    let mut lines: Vec<(usize, String, bool)> = Vec::new();
    let mut reader = reader;
    let mut n = 0;
    loop {
        let mut buf = Vec::new();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(io_err("cannot read journal", path))?;
        if read == 0 {
            break;
        }
        n += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&buf).trim().to_string();
        lines.push((n, text, complete));
    }
    let count = lines.len();
    let mut events = Vec::with_capacity(count);
    let mut torn_tail = false;
    for (i, (line, text, complete)) in lines.into_iter().enumerate() {
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(&text) {
            Ok(e) => events.push(e),
            // A line cut short by a crash: the last line, or a line the next writer ended.
            Err(_) if i + 1 == count && !complete => torn_tail = true,
            Err(e) if e.is_eof() => torn_tail = true,
            Err(e) => {
                return Err(StateError::Corrupt {
                    path: path.display().to_string(),
                    line,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(JournalRead { events, torn_tail })
}
