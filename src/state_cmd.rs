//! `mcflow state`: export and import runs (moving them between the local and the kube store),
//! and prune old ones. Prints results; the store does the work.

use std::io::{BufRead, Write};

use crate::cli::{GlobalArgs, PruneArgs, StateCommand};
use crate::commands::open_store;
use crate::error::Error;
use crate::journal::Event;
use crate::state::Store;

/// One exported run: a line of `state export`.
#[derive(serde::Serialize, serde::Deserialize)]
struct ExportedRun {
    run_id: String,
    events: Vec<Event>,
}

pub fn state_cmd(global: &GlobalArgs, command: &StateCommand) -> Result<(), Error> {
    let store = open_store(global)?;
    match command {
        StateCommand::Export { run_ids } => export(&store, run_ids),
        StateCommand::Import { file } => import(&store, file, global.quiet),
        StateCommand::Prune(args) => prune(&store, args, global.quiet),
    }
}

fn state(e: crate::journal::StateError) -> Error {
    Error::State(e.to_string())
}

fn export(store: &Store, run_ids: &[String]) -> Result<(), Error> {
    let ids = if run_ids.is_empty() {
        store.list().map_err(state)?
    } else {
        run_ids.to_vec()
    };
    let mut out = std::io::stdout().lock();
    for id in ids {
        let run_id = store.existing(&id).map_err(state)?;
        let read = store.read(&run_id).map_err(state)?;
        let line = serde_json::to_string(&ExportedRun {
            run_id,
            events: read.events,
        })
        .map_err(|e| Error::State(e.to_string()))?;
        // A closed pipe (`| head`) ends the export quietly.
        if writeln!(out, "{line}").is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn import(store: &Store, file: &std::path::Path, quiet: bool) -> Result<(), Error> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
        Box::new(std::io::BufReader::new(f))
    };
    let have = store.list().map_err(state)?;
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let run: ExportedRun = serde_json::from_str(&line).map_err(|e| {
            Error::Usage(format!(
                "{}:{}: not a run from `mcflow state export`: {e}",
                file.display(),
                n + 1
            ))
        })?;
        let valid = !run.run_id.is_empty()
            && run
                .run_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return Err(Error::Usage(format!(
                "{}:{}: bad run id {:?}",
                file.display(),
                n + 1,
                run.run_id
            )));
        }
        let verb = if have.contains(&run.run_id) {
            "skipped (already in the store)"
        } else {
            store.import(&run.run_id, &run.events).map_err(state)?;
            "imported"
        };
        if !quiet {
            eprintln!("{verb} run {} into {}", run.run_id, store.describe());
        }
    }
    Ok(())
}

/// When a run id (`YYYYMMDD-HHMMSS-…`) says its run started.
fn started(run_id: &str) -> Option<time::OffsetDateTime> {
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::PrimitiveDateTime::parse(run_id.get(..15)?, &fmt)
        .ok()
        .map(|t| t.assume_utc())
}

fn prune(store: &Store, args: &PruneArgs, quiet: bool) -> Result<(), Error> {
    let ids = store.list().map_err(state)?;
    let keep_from = args.keep.map_or(ids.len(), |k| ids.len().saturating_sub(k));
    let now = time::OffsetDateTime::now_utc();
    let old_enough = |id: &str| match args.older_than {
        None => true,
        Some(d) => started(id).is_some_and(|t| now - t > d),
    };
    for id in &ids[..keep_from] {
        if !old_enough(id) {
            continue;
        }
        if store.running(id).map_err(state)? {
            if !quiet {
                eprintln!("kept run {id}: it is running");
            }
            continue;
        }
        if !args.dry_run {
            store.delete(id).map_err(state)?;
        }
        if !quiet {
            let verb = if args.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            eprintln!("{verb} run {id}");
        }
    }
    Ok(())
}
