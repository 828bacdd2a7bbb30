//! `mcflow show <run> --step <id> [--attempt N]`: every attempt of a step across the run (its
//! resumes included), from the journal, with the whole redacted output that a `run` or
//! `linkerd` attempt left in the run's attempt log.

use crate::journal::{AttemptOutput, Event, EventKind};

/// One ended (or cut short) attempt of a step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepAttempt {
    pub step: String,
    /// Its place among the step's attempts in the whole run, from 1 (what `--attempt` takes).
    pub number: usize,
    /// Its number within its run of the step (a resume starts again at 1).
    pub attempt: u32,
    pub started: String,
    /// `succeeded`, `failed`, `retried` or `cut short` (Ctrl-C, a crash).
    pub outcome: &'static str,
    pub error: Option<String>,
    pub summary: Option<String>,
    /// What the program printed (none for other actions).
    pub output: Option<AttemptOutput>,
}

/// Steps of the run that `wanted` names: the key itself, else every key whose own id is
/// `wanted` (`link_manifest` finds `link[production].link_manifest`).
pub fn matching_steps<'k>(keys: impl Iterator<Item = &'k str>, wanted: &str) -> Vec<String> {
    let keys: Vec<&str> = keys.collect();
    if keys.contains(&wanted) {
        return vec![wanted.to_string()];
    }
    let own_id = |k: &str| {
        let last = k.rsplit('.').next().unwrap_or(k);
        last.split('[').next().unwrap_or(last).to_string()
    };
    keys.into_iter()
        .filter(|k| own_id(k) == wanted)
        .map(String::from)
        .collect()
}

/// The attempts of step `key`, in order, each with the attempt log's record of it.
pub fn step_attempts(events: &[Event], log: &[AttemptOutput], key: &str) -> Vec<StepAttempt> {
    let mut records: Vec<Option<&AttemptOutput>> =
        log.iter().filter(|r| r.step == key).map(Some).collect();
    let mut take_record = |attempt: u32| {
        records
            .iter_mut()
            .find(|r| r.is_some_and(|r| r.attempt == attempt))
            .and_then(Option::take)
            .cloned()
    };
    let mut out: Vec<StepAttempt> = Vec::new();
    let mut open: Option<usize> = None;
    for e in events.iter().filter(|e| e.kind.step() == Some(key)) {
        let (attempt, outcome, error, summary) = match &e.kind {
            EventKind::StepStarted { attempt, .. } => {
                out.push(StepAttempt {
                    step: key.to_string(),
                    number: out.len() + 1,
                    attempt: *attempt,
                    started: e.ts.clone(),
                    outcome: "cut short",
                    error: None,
                    summary: None,
                    output: None,
                });
                open = Some(out.len() - 1);
                continue;
            }
            EventKind::AttemptFailed { attempt, error, .. } => {
                (*attempt, "retried", Some(error.clone()), None)
            }
            EventKind::StepFailed { attempt, error, .. } if *attempt > 0 => {
                (*attempt, "failed", Some(error.clone()), None)
            }
            EventKind::StepSucceeded {
                attempt, summary, ..
            } => (*attempt, "succeeded", None, summary.clone()),
            _ => continue,
        };
        let Some(at) = open.take() else { continue };
        let a = &mut out[at];
        (a.outcome, a.error, a.summary) = (outcome, error, summary);
        a.output = take_record(attempt);
    }
    out
}

/// The attempts as text.
pub fn render_attempts(attempts: &[StepAttempt]) -> String {
    let mut out = String::new();
    for a in attempts {
        let time = a.started.get(..19).unwrap_or(&a.started).replace('T', " ");
        out.push_str(&format!(
            "{} · attempt {} · started {time} · {}",
            a.step, a.number, a.outcome
        ));
        if let Some(code) = a.output.as_ref().and_then(|o| o.exit_code) {
            out.push_str(&format!(" (exit {code})"));
        }
        out.push('\n');
        for line in a.error.iter().chain(&a.summary) {
            out.push_str(&format!("  {line}\n"));
        }
        if let Some(o) = &a.output {
            match &o.stdout {
                Some(s) => out.push_str(&stream("stdout", s)),
                None => out.push_str("  stdout: hidden, the step is sensitive\n"),
            }
            out.push_str(&stream("stderr", &o.stderr));
            if o.truncated {
                out.push_str(
                    "  (the program wrote more than 4 MiB on a stream: the rest was dropped)\n",
                );
            }
        }
        out.push('\n');
    }
    out
}

fn stream(name: &str, text: &str) -> String {
    if text.trim().is_empty() {
        return format!("  {name}: (empty)\n");
    }
    let mut s = format!("  {name}:\n");
    for line in text.trim_end().lines() {
        s.push_str(&format!("    {line}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_step_by_key_or_by_its_own_id() {
        let keys = [
            "a",
            "link[production].link_manifest",
            "link[nonproduction].link_manifest",
            "b[x]",
        ];
        assert_eq!(matching_steps(keys.iter().copied(), "a"), ["a"]);
        assert_eq!(
            matching_steps(keys.iter().copied(), "link_manifest").len(),
            2
        );
        assert_eq!(matching_steps(keys.iter().copied(), "b"), ["b[x]"]);
        assert!(matching_steps(keys.iter().copied(), "c").is_empty());
    }
}
