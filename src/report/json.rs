//! `--output json`: one JSON object per event on stdout, the journal's schema; the summary as a
//! last `summary` object.

use std::io::Write;

use super::{Reporter, RunSummary};
use crate::journal::Event;

pub struct JsonReporter {
    /// The human side: plain lines on stderr (README: "human logs go to stderr").
    human: Option<super::PlainReporter>,
}

impl JsonReporter {
    /// Events on stdout only.
    pub fn new() -> JsonReporter {
        JsonReporter { human: None }
    }

    /// Events on stdout, and the plain lines a person reads on stderr.
    pub fn with_human(opts: super::ReportOptions) -> JsonReporter {
        JsonReporter {
            human: Some(super::PlainReporter::on_stderr(opts)),
        }
    }
}

impl Default for JsonReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for JsonReporter {
    fn event(&mut self, event: &Event) {
        if let Some(h) = &mut self.human {
            h.event(event);
        }
        let mut out = std::io::stdout().lock();
        if serde_json::to_writer(&mut out, event).is_ok() {
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
    }

    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }

    fn finish(&mut self, summary: &RunSummary) {
        if let Some(h) = &mut self.human {
            h.finish(summary);
        }
        let steps: Vec<serde_json::Value> = summary
            .steps
            .iter()
            .map(|(key, s)| {
                serde_json::json!({
                    "step": key,
                    "status": s.status,
                    "attempts": s.attempts,
                    "duration_ms": s.duration_ms,
                    "error": s.cause(),
                })
            })
            .collect();
        let line = serde_json::json!({
            "event": "summary",
            "run_id": summary.run_id,
            "workflow": summary.workflow,
            "status": summary.status,
            "duration_ms": summary.duration.as_millis() as u64,
            "resumed": summary.resumed,
            "journal": summary.journal,
            "steps": steps,
            "reports": summary.reports,
            "checks": summary.checks,
        });
        super::stdout(&format!("{line}\n"));
    }
}
