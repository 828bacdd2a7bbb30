//! What the level does with an attempt's outcome: a success recorded and its dependents freed,
//! a failure retried, or the step failed (and what a sensitive step's failure teaches the
//! redactor).

use super::*;

impl<'a> Level<'a> {
    pub(super) fn attempt_succeeded(&mut self, inst: usize, out: StepOutput) {
        let Instance {
            step: i,
            ref key,
            ref item,
            attempt,
            first_started,
            ..
        } = self.instances[inst];
        let (key, item) = (key.clone(), item.clone());
        let sensitive = self.sensitive[i];
        let redactor = &self.run.redactor;
        if sensitive {
            // Everything this step produced is secret from now on.
            redactor.add(&out.record.stdout);
            redactor.add(&out.record.stderr);
            for s in out.record.outputs.values().filter_map(|v| v.as_str()) {
                redactor.add(s);
            }
        }
        if matches!(self.steps[i].action, Action::Run(_) | Action::Linkerd(_)) {
            super::super::attempt_output::succeeded(
                self.run,
                &key,
                attempt,
                sensitive,
                &out.record,
            );
        }
        self.results.succeeded(i, item.as_ref(), out.record.clone());
        // A sensitive step's output is never journaled; anything else is, redacted.
        let result = (!sensitive).then(|| {
            let mut r = out.record.clone();
            r.stdout = redactor.redact(&r.stdout);
            r.stderr = redactor.redact(&r.stderr);
            if let serde_json::Value::Object(o) =
                redactor.redact_json(&serde_json::Value::Object(std::mem::take(&mut r.outputs)))
            {
                r.outputs = o;
            }
            r.object = r.object.map(|o| redactor.redact_json(&o));
            r
        });
        if matches!(self.steps[i].action, Action::Print(_)) && !sensitive {
            self.run.add_report(redactor.redact(&out.record.stdout));
        }
        if let Some(check) = &self.steps[i].check {
            let ctx = self.context(item.as_ref());
            super::super::attempt_output::check_ended(self.run, check, &ctx, None);
        }
        let succeeded = EventKind::StepSucceeded {
            step: key,
            attempt,
            duration_ms: first_started.elapsed().as_millis() as u64,
            result,
            sensitive,
            summary: out.summary.map(|s| redactor.redact(&s)),
        };
        self.push_end(i, succeeded);
        self.instance_over(i);
    }

    /// An attempt failed: journal it and return the pause before the next attempt, or, when
    /// none is due (out of attempts, a permanent error, Ctrl-C), fail the instance.
    pub(super) fn attempt_failed(&mut self, inst: usize, err: StepError) -> Option<Duration> {
        let instance = &self.instances[inst];
        let (i, attempt, key) = (instance.step, instance.attempt, instance.key.clone());
        let step = &self.steps[i];
        if self.sensitive[i] && err.output.is_some() {
            self.learn_derived_secrets(inst);
        }
        let message =
            super::super::attempt_output::failed(self.run, &key, attempt, self.sensitive[i], &err);
        if err.retryable && attempt < step.retry.attempts && !self.run.cancel_token().is_cancelled()
        {
            let delay = step.retry.delay_after(attempt, err.retry_after);
            self.batch.push(EventKind::AttemptFailed {
                step: key,
                attempt,
                error: message,
                retry_in_ms: delay.as_millis() as u64,
            });
            return Some(delay);
        }
        let item = instance.item.clone();
        let duration_ms = instance.first_started.elapsed().as_millis() as u64;
        let continue_on_error = step.continue_on_error;
        if let Some(check) = &step.check {
            let ctx = self.context(item.as_ref());
            super::super::attempt_output::check_ended(self.run, check, &ctx, Some(&message));
        }
        self.results.failed(i, item.as_ref(), &message);
        let failed = EventKind::StepFailed {
            step: key,
            attempt,
            error: message,
            duration_ms,
            continue_on_error,
        };
        self.push_end(i, failed);
        self.mark_instance_failed(i);
        self.instance_over(i);
        None
    }

    /// A sensitive step's failure shows its stderr, through the redactor: first it learns what
    /// the step's templates that read a secret rendered to (a value derived from a secret).
    fn learn_derived_secrets(&self, inst: usize) {
        let instance = &self.instances[inst];
        let step = &self.steps[instance.step];
        let ctx = self.context(instance.item.as_ref());
        for t in crate::secrets::secret_templates(step, &self.secret_names) {
            if let Ok(value) = template::render(&t, &ctx) {
                self.run.redactor.add_exact(&value);
            }
        }
    }
}
