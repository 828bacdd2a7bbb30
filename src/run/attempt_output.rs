//! What an ended attempt leaves besides its journal event: the message a failure is shown with
//! (the line of the program's output that says what failed, and a next step) and the whole
//! output, redacted, in the run's attempt log.

use super::Run;
use super::executor::StepError;
use super::failure;
use crate::journal::{AttemptOutput, StepRecord};

/// The message a failed attempt is journaled and shown with, redacted; a program's output goes
/// to the attempt log. For a sensitive step only stderr is read, through the redactor, which
/// first learns what the step printed on stdout (a token printed there and echoed in an error
/// is masked in both).
pub(super) fn failed(
    run: &Run,
    key: &str,
    attempt: u32,
    sensitive: bool,
    err: &StepError,
) -> String {
    let redactor = &run.redactor;
    let Some(out) = &err.output else {
        return redactor.redact(&failure::with_hint(&err.message, err.hint.as_deref()));
    };
    if sensitive {
        redactor.add(&out.stdout);
    }
    let stdout = (!sensitive).then_some(out.stdout.as_str());
    let reason = failure::reason_line(&out.stderr, stdout);
    let message = match &reason {
        Some(reason) => format!("{}: {reason}", err.message),
        None => err.message.clone(),
    };
    let mut message = failure::with_hint(&message, err.hint.as_deref());
    // Under that line, the end of the output (`-v` shows it; the first line is the cause).
    let tail = match crate::report::tail_lines(&out.stderr, 5) {
        t if t.is_empty() => stdout
            .map(|s| crate::report::tail_lines(s, 5))
            .unwrap_or_default(),
        t => t,
    };
    if !tail.is_empty() && reason.as_deref() != Some(tail.trim()) {
        message = format!("{message}\n{tail}");
    }
    let message = redactor.redact(&message);
    run.attempts.append(&AttemptOutput {
        ts: crate::journal::now(),
        step: key.to_string(),
        attempt,
        exit_code: out.exit_code,
        stdout: stdout.map(|s| redactor.redact(s)),
        stderr: redactor.redact(&out.stderr),
        error: Some(message.clone()),
        truncated: out.truncated,
    });
    message
}

/// A check step's instance ended: its outcome for the summary (`error`: why it failed).
pub(super) fn check_ended(
    run: &Run,
    spec: &crate::workflow::model::CheckSpec,
    ctx: &minijinja::Value,
    error: Option<&str>,
) {
    let render = |t: &str| {
        let text = crate::workflow::template::render(t, ctx).unwrap_or_else(|_| t.to_string());
        run.redactor.redact(&text)
    };
    run.add_check(crate::report::CheckResult {
        cluster: render(&spec.cluster),
        check: render(&spec.name),
        ok: error.is_none(),
        reason: error.map(|e| crate::report::first_line(e).to_string()),
        hint: error.and(spec.hint.as_deref()).map(render),
    });
}

/// A program step's succeeded attempt, in the attempt log (after the redactor has learnt a
/// sensitive step's output).
pub(super) fn succeeded(run: &Run, key: &str, attempt: u32, sensitive: bool, record: &StepRecord) {
    let redactor = &run.redactor;
    run.attempts.append(&AttemptOutput {
        ts: crate::journal::now(),
        step: key.to_string(),
        attempt,
        exit_code: record.exit_code,
        stdout: (!sensitive).then(|| redactor.redact(&record.stdout)),
        stderr: redactor.redact(&record.stderr),
        error: None,
        truncated: false,
    });
}
