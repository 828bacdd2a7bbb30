//! The run journal: one JSON event per line in `<state>/runs/<run-id>/journal.jsonl`, each
//! written and fsync'd before the step it records is acted on. It is the source of truth for
//! `resume`, `runs` and `show`.
//!
//! Safety: the state directory is 0700 and files 0600; a world-writable state directory is
//! refused; one process holds an exclusive lock on a run (released by the OS if it dies); a torn
//! last line (a crash mid-write) is ignored with a warning; any other malformed line is an error
//! naming the file and line.

mod attempts;
mod event;
mod reader;
pub mod replay;
mod state_dir;
mod writer;

#[cfg(test)]
mod tests;

pub use attempts::{ATTEMPTS_FILE, AttemptLog, AttemptOutput, read_attempts};
pub use event::{Event, EventKind, FileRef, RunStatus, StepRecord, events_schema, now};
pub use reader::{JournalRead, parse, read};
pub use replay::{Replay, RunHistory, StepState, StepStatus, is_tolerated_inside};
pub use state_dir::{StateDir, StateError};
pub use writer::JournalWriter;
