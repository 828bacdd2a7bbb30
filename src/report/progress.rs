//! The live display on a terminal: a header with the params, one overall line (workflow, steps
//! done of all, failed, elapsed), and a line per running step (its name, elapsed time, attempt
//! n/m, the countdown to a retry; for a kube wait its target, the state last seen and the time
//! left). Finished steps fold into the counts; a failure stays on screen with its cause. Every
//! line is cut to the terminal's width. At the end, the steps that did not succeed.

use std::time::{Duration, Instant};

use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Outline, ReportOptions, Reporter, RunSummary, summary_table};
use super::{clock, first_line, fit, step_label};
use crate::journal::replay::parent_key;
use crate::journal::{Event, EventKind};
use crate::kube::WaitSeen;

struct Running {
    label: String,
    started: Instant,
    attempt: u32,
    max_attempts: u32,
    /// Set while waiting to retry: when, and why.
    retry_at: Option<(Instant, String)>,
    /// What its kube wait has seen.
    wait: Option<WaitSeen>,
}

/// Steps that ended, by how.
#[derive(Debug, Default)]
struct Counts {
    done: usize,
    failed: usize,
    skipped: usize,
}

pub struct ProgressReporter {
    opts: ReportOptions,
    multi: MultiProgress,
    /// The live area: the overall line and the running steps' lines, as one message.
    live: Option<ProgressBar>,
    running: IndexMap<String, Running>,
    outline: Outline,
    counts: Counts,
    started: Instant,
    echo_off: super::tty::EchoOff,
}

impl ProgressReporter {
    pub fn new(opts: ReportOptions) -> ProgressReporter {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(15));
        super::set_live(Some(multi.clone()));
        ProgressReporter {
            opts,
            multi,
            live: None,
            running: IndexMap::new(),
            outline: Outline::default(),
            counts: Counts::default(),
            started: Instant::now(),
            echo_off: super::tty::EchoOff::new(),
        }
    }

    /// The terminal's width now (it can change during a run).
    fn width() -> usize {
        usize::from(console::Term::stdout().size().1).max(20)
    }

    fn println(&self, text: &str) {
        if self.multi.println(text).is_err() {
            super::stdout(&format!("{text}\n"));
        }
    }

    fn mark(&self, ok: bool) -> &'static str {
        match (ok, self.opts.color) {
            (true, true) => "\x1b[32m✓\x1b[0m",
            (false, true) => "\x1b[31m✗\x1b[0m",
            (true, false) => "✓",
            (false, false) => "✗",
        }
    }

    /// `bootstrap hub=internal … · 12/69 done · 1 failed · 5s`.
    fn overall_text(&self, width: usize) -> String {
        let c = &self.counts;
        let seen = c.done + self.running.len();
        let of = match self.outline.total {
            Some(total) => format!("{}/{}", c.done, total.max(seen)),
            None => c.done.to_string(),
        };
        let mut right = format!(" · {of} done");
        if c.failed > 0 {
            right.push_str(&format!(" · {} failed", c.failed));
        }
        if c.skipped > 0 {
            right.push_str(&format!(" · {} skipped", c.skipped));
        }
        right.push_str(&format!(" · {}", clock(self.started.elapsed())));
        let mut left = self.outline.workflow.clone();
        for p in &self.outline.params {
            left.push(' ');
            left.push_str(p);
        }
        let room = width.saturating_sub(console::measure_text_width(&right));
        fit(&format!("{}{right}", fit(&left, room)), width)
    }

    /// A running step's line (after the spinner): name, elapsed, attempt, a retry's countdown
    /// (the failure on a second line); for a kube wait the time left, and a second line with its
    /// target and the state last seen.
    fn step_text(r: &Running, width: usize) -> String {
        let wait = r.wait.as_ref().filter(|_| r.retry_at.is_none());
        let mut detail = format!(" · {}", clock(r.started.elapsed()));
        if let Some(deadline) = wait.and_then(|w| w.deadline) {
            let left = deadline.saturating_duration_since(Instant::now());
            detail.push_str(&format!(", {} left", clock(left)));
        }
        match &r.retry_at {
            Some((at, _)) => {
                let left = at.saturating_duration_since(Instant::now());
                detail.push_str(&format!(
                    " · attempt {}/{} failed, retry in {}",
                    r.attempt,
                    r.max_attempts,
                    clock(left + Duration::from_millis(999)),
                ));
            }
            // The first attempt of a step that may retry is the usual case: not worth a word.
            None if r.attempt > 1 => {
                detail.push_str(&format!(" · attempt {}/{}", r.attempt, r.max_attempts))
            }
            None => {}
        }
        // The name keeps at least half of the line; the detail gets the rest.
        let label_room = width
            .saturating_sub(console::measure_text_width(&detail))
            .max(width / 2);
        let first = fit(
            &format!("{}{detail}", fit_label(&r.label, label_room)),
            width,
        );
        if let Some((_, why)) = &r.retry_at {
            return format!("{first}\n    {}", fit(first_line(why), width));
        }
        let Some(w) = wait else {
            return first;
        };
        // The state is what changes: the target gives way to it, down to half the line.
        let said = format!(": {}", w.state);
        let room = width
            .saturating_sub(console::measure_text_width(&said))
            .max(width / 2);
        let second = format!("{}{said}", fit(&w.target, room));
        format!("{first}\n    {}", fit(&second, width))
    }

    /// The live area as text: the overall line, then each running step (as many as fit in
    /// half the terminal's height, then how many more).
    fn live_text(&self) -> String {
        let (height, width) = console::Term::stdout().size();
        let width = usize::from(width).max(20);
        let mut out = self.overall_text(width);
        let frame = SPINNER[(self.started.elapsed().as_millis() / 100) as usize % SPINNER.len()];
        let mut lines = 1;
        let budget = (usize::from(height) / 2).max(4);
        for (shown, r) in self.running.values().enumerate() {
            let text = Self::step_text(r, width.saturating_sub(4));
            let more = self.running.len() - shown;
            if lines + text.lines().count() >= budget && more > 1 {
                out.push_str(&format!("\n  … and {more} more running"));
                break;
            }
            lines += text.lines().count();
            out.push_str(&format!("\n  {frame} {text}"));
        }
        out
    }

    fn redraw(&self) {
        if let Some(live) = &self.live {
            live.set_message(self.live_text());
        }
    }

    fn remove(&mut self, step: &str) -> Option<Running> {
        self.running.shift_remove(step)
    }

    /// The live area, made on the first event (under the header).
    fn overall(&mut self) {
        if self.live.is_none() {
            let bar = self.multi.add(ProgressBar::new_spinner());
            if let Ok(style) = ProgressStyle::with_template("{msg}") {
                bar.set_style(style);
            }
            self.live = Some(bar);
            self.redraw();
        }
    }
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl ProgressReporter {
    /// A step's attempt started: a new line, or the running one's attempt updated.
    fn started(&mut self, step: &str, name: Option<&str>, attempt: u32, max_attempts: u32) {
        if let Some(r) = self.running.get_mut(step) {
            r.attempt = attempt;
            r.retry_at = None;
            r.wait = None;
        } else {
            let r = Running {
                label: step_label(step, name),
                started: Instant::now(),
                attempt,
                max_attempts,
                retry_at: None,
                wait: None,
            };
            self.running.insert(step.to_string(), r);
        }
        self.redraw();
    }

    fn failed(&mut self, step: &str, error: &str, continue_on_error: bool) {
        let label = self
            .remove(step)
            .map(|r| r.label)
            .unwrap_or_else(|| step.to_string());
        self.counts.done += 1;
        self.counts.failed += 1;
        let tail = if continue_on_error {
            " (continue_on_error)"
        } else {
            ""
        };
        // A failure a nested workflow tolerates (the diagnostics' `multicluster check` in a
        // `finally`) is that workflow's business: in the counts, and in the end table only if
        // the nested workflow fails. `-v` prints it.
        if continue_on_error && parent_key(step).is_some() && self.opts.verbose == 0 {
            self.redraw();
            return;
        }
        let line = format!("{} {label}{tail}: ", self.mark(false));
        if self.opts.verbose > 0 {
            self.println(&format!("{line}{error}"));
        } else {
            self.println(&fit(&format!("{line}{}", first_line(error)), Self::width()));
        }
        self.redraw();
    }

    fn ended(&mut self, step: &str, skipped: bool) {
        self.remove(step);
        self.counts.done += 1;
        if skipped {
            self.counts.skipped += 1;
        }
        self.redraw();
    }
}

impl Reporter for ProgressReporter {
    fn event(&mut self, event: &Event) {
        match &event.kind {
            EventKind::RunStarted {
                run_id,
                workflow_name,
                ..
            } => {
                self.outline.workflow = workflow_name.clone();
                self.println(&format!("mcflow · {workflow_name} · run {run_id}"));
            }
            EventKind::RunResumed { run_id, .. } => {
                self.println(&format!("mcflow · resuming run {run_id}"))
            }
            EventKind::StepStarted {
                step,
                attempt,
                max_attempts,
                name,
            } => self.started(step, name.as_deref(), *attempt, *max_attempts),
            EventKind::AttemptFailed {
                step,
                error,
                retry_in_ms,
                ..
            } => {
                if let Some(r) = self.running.get_mut(step) {
                    r.retry_at = Some((
                        Instant::now() + Duration::from_millis(*retry_in_ms),
                        error.clone(),
                    ));
                }
                self.redraw();
            }
            EventKind::StepSucceeded { step, .. } => self.ended(step, false),
            EventKind::StepFailed {
                step,
                error,
                continue_on_error,
                ..
            } => self.failed(step, error, *continue_on_error),
            EventKind::StepSkipped { step, .. } => self.ended(step, true),
            EventKind::StepReused { step } => self.ended(step, false),
            EventKind::RunFinished { .. } => {}
        }
        self.overall();
    }

    fn tick(&mut self) {
        self.redraw();
    }

    fn wants_ticks(&self) -> bool {
        true
    }

    fn wants_outline(&self) -> bool {
        true
    }

    fn begin(&mut self, outline: &Outline) {
        self.outline = outline.clone();
        if !outline.params.is_empty() {
            let params = format!("params: {}", outline.params.join(" "));
            for line in super::wrap(&params, Self::width(), "  ") {
                self.println(&line);
            }
        }
        self.overall();
        self.redraw();
    }

    fn waiting(&mut self, step: &str, seen: &WaitSeen) {
        if let Some(r) = self.running.get_mut(step) {
            r.wait = Some(seen.clone());
        }
        self.redraw();
    }

    fn note(&mut self, text: &str) {
        self.println(text);
    }

    fn main_steps_over(&mut self) {
        let keys: Vec<String> = self.running.keys().cloned().collect();
        for k in keys {
            self.remove(&k);
        }
    }

    fn finish(&mut self, summary: &RunSummary) {
        self.running.clear();
        if let Some(live) = self.live.take() {
            live.finish_and_clear();
            self.multi.remove(&live);
        }
        let _ = self.multi.clear();
        super::set_live(None);
        self.echo_off.restore();
        let all = self.opts.verbose > 0;
        super::stdout(&summary_table(summary, self.opts.color, all, Self::width()));
    }
}

/// `label` in `width` columns, cutting its name rather than the `[item]` at its end that tells
/// instances apart.
fn fit_label(label: &str, width: usize) -> String {
    if console::measure_text_width(label) <= width {
        return label.to_string();
    }
    match label.rfind(" [").filter(|_| label.ends_with(']')) {
        Some(i) if console::measure_text_width(&label[i..]) + 8 <= width => {
            let item = &label[i..];
            let room = width - console::measure_text_width(item);
            format!("{}{item}", fit(&label[..i], room))
        }
        _ => fit(label, width),
    }
}

impl Drop for ProgressReporter {
    /// However the run ends (an error before `finish`, a panic), no live line stays behind.
    fn drop(&mut self) {
        super::set_live(None);
        if let Some(live) = &self.live {
            live.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(step: &str) -> Event {
        Event {
            ts: String::new(),
            kind: EventKind::StepStarted {
                step: step.into(),
                attempt: 1,
                max_attempts: 1,
                name: Some(format!(
                    "A step with a long name that says what it does, {step}"
                )),
            },
        }
    }

    /// Many steps at once: the live area keeps to half the terminal's height (24 rows without
    /// a terminal), says how many more run, and each line fits its width (79 columns).
    #[test]
    fn the_live_area_keeps_to_half_the_screen() {
        let mut r = ProgressReporter::new(ReportOptions {
            quiet: false,
            verbose: 0,
            color: false,
        });
        r.outline.workflow = "many".into();
        r.outline.total = Some(30);
        for i in 0..30 {
            r.event(&started(&format!("s{i}")));
        }
        let (height, width) = console::Term::stdout().size();
        let text = r.live_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() <= usize::from(height) / 2, "{text}");
        assert!(lines[0].starts_with("many · 0/30 done"), "{text}");
        assert!(lines.last().unwrap().contains("more running"), "{text}");
        assert!(
            lines
                .iter()
                .all(|l| console::measure_text_width(l) <= usize::from(width)),
            "{text}"
        );
    }

    #[test]
    fn a_label_is_cut_in_its_name_not_its_item() {
        let cut = fit_label(
            "Linkerd control plane available [internal/linkerd-identity]",
            40,
        );
        assert_eq!(console::measure_text_width(&cut), 40);
        assert!(cut.ends_with("… [internal/linkerd-identity]"), "{cut}");
    }
}
