//! The journal's files: modes, locks, torn tails, corrupt lines.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn ev(kind: EventKind) -> Event {
    Event { ts: now(), kind }
}

#[test]
fn writes_reads_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(&dir.path().join("state"));
    let id = state.new_run_id();
    let mut w = JournalWriter::create(&state, &id).unwrap();
    w.push(&ev(EventKind::StepSkipped {
        step: "a".into(),
        reason: "r".into(),
        by_when: false,
        blocked_by: None,
    }));
    w.sync().unwrap();
    let again = JournalWriter::open(&state, &id);
    assert!(matches!(again, Err(StateError::Locked { .. })), "{again:?}");
    let read = read(w.path()).unwrap();
    assert_eq!(read.events.len(), 1);
    let mode = fs::metadata(w.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mode = fs::metadata(state.run_dir(&id))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    drop(w);
    assert!(JournalWriter::open(&state, &id).is_ok());
}

#[test]
fn torn_last_line_is_skipped_but_corruption_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.jsonl");
    let good = serde_json::to_string(&ev(EventKind::StepReused { step: "a".into() })).unwrap();
    fs::write(&p, format!("{good}\n{}", &good[..10])).unwrap();
    let r = read(&p).unwrap();
    assert!(r.torn_tail);
    assert_eq!(r.events.len(), 1);
    fs::write(&p, format!("{{not json}}\n{good}\n")).unwrap();
    let err = read(&p).unwrap_err().to_string();
    assert!(err.contains(":1:"), "{err}");
}

#[test]
fn world_writable_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        StateDir::new(&root).ensure(),
        Err(StateError::Unsafe(_))
    ));
}

#[test]
fn run_ids_cannot_escape() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    assert!(state.existing("../etc").is_err());
}

#[test]
fn one_fsync_covers_every_batch_written_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(&dir.path().join("state"));
    let id = state.new_run_id();
    let mut w = JournalWriter::create(&state, &id).unwrap();
    let skipped = |step: &str| {
        ev(EventKind::StepSkipped {
            step: step.into(),
            reason: "r".into(),
            by_when: false,
            blocked_by: None,
        })
    };
    w.push(&skipped("a"));
    let a = w.write().unwrap();
    w.push(&skipped("b"));
    let b = w.write().unwrap();
    // Written, not yet synced: in the file (a process crash keeps them), no fsync paid.
    assert_eq!(read(w.path()).unwrap().events.len(), 2);
    assert_eq!(w.fsyncs(), 0);
    w.sync_through(b).unwrap();
    assert_eq!(w.fsyncs(), 1);
    // `a` was written before that fsync: covered.
    w.sync_through(a).unwrap();
    w.sync_through(b).unwrap();
    assert_eq!(w.fsyncs(), 1);
    w.push(&skipped("c"));
    w.sync().unwrap();
    assert_eq!(w.fsyncs(), 2);
    // Nothing new written: nothing to sync.
    w.sync().unwrap();
    assert_eq!(w.fsyncs(), 2);
}
