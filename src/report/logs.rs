//! Log lines (tracing: mcflow's own, the kube client's) while a live display is on screen: each
//! is written with the bars lifted (`MultiProgress::suspend`) and the bars drawn again under it,
//! so that a log line is never torn by, or left between, spinner lines.

use std::io::Write;
use std::sync::Mutex;

use indicatif::MultiProgress;

/// The live display on screen, if any.
static LIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Registers (or, with None, removes) the live display that log lines go above.
pub fn set_live(multi: Option<MultiProgress>) {
    if let Ok(mut live) = LIVE.lock() {
        *live = multi;
    }
}

/// The `MakeWriter` of the log subscriber: stderr, above the live display when one is on.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log event, written when the subscriber is done with it.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&self.0).and_then(|()| err.flush());
        };
        let live = LIVE.lock().ok().and_then(|l| l.clone());
        match live {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}
