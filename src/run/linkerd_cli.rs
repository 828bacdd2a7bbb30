//! The linkerd CLI a run will call, checked before the run starts: found, and answering
//! `version --client --short` with a version (so `--linkerd kubectl` is refused at once, not
//! on a step's third `unknown flag`).

use std::time::Duration;

use super::executor::LinkerdBin;
use super::process::{self, ProcessSpec};
use crate::error::Error;
use crate::workflow::bundle::Bundle;
use crate::workflow::step::Action;

/// How long the CLI may take to print its version.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Does any workflow of the bundle call the linkerd CLI?
fn calls_linkerd(bundle: &Bundle) -> bool {
    std::iter::once(&bundle.root)
        .chain(bundle.nested.values())
        .flat_map(|w| w.steps.iter())
        .any(|s| matches!(s.action, Action::Linkerd(_)))
}

/// A usage error (exit 2) when the bundle calls linkerd and `bin` is not a linkerd CLI.
pub(super) async fn check(bundle: &Bundle, bin: &LinkerdBin) -> Result<(), Error> {
    if !calls_linkerd(bundle) {
        return Ok(());
    }
    let shown = bin.program.display();
    let fix = "set --linkerd, MCFLOW_LINKERD or config linkerd.bin to the linkerd CLI";
    let program = process::resolve(&bin.program).map_err(|e| {
        Error::Usage(format!(
            "linkerd CLI not found: {e} (chosen by {}); {fix}",
            bin.source
        ))
    })?;
    let spec = ProcessSpec {
        program,
        args: ["version", "--client", "--short"]
            .map(String::from)
            .to_vec(),
        env: Default::default(),
        stdin: None,
        cwd: None,
    };
    let asked = format!(
        "`{shown} version --client --short` (chosen by {})",
        bin.source
    );
    let out = match tokio::time::timeout(VERSION_TIMEOUT, process::run(spec)).await {
        Err(_) => {
            return Err(Error::Usage(format!(
                "{asked} did not answer in {}s; {fix}",
                VERSION_TIMEOUT.as_secs()
            )));
        }
        Ok(Err(e)) => return Err(Error::Usage(format!("{asked}: {e}; {fix}"))),
        Ok(Ok(out)) => out,
    };
    let version = out.stdout.trim();
    let looks_like_a_version = !version.is_empty() && !version.contains(char::is_whitespace);
    if out.exit_code == Some(0) && looks_like_a_version {
        return Ok(());
    }
    let said = super::failure::reason_line(&out.stderr, Some(&out.stdout))
        .unwrap_or_else(|| "nothing".into());
    let status = match out.exit_code {
        Some(0) => "printed no version".to_string(),
        Some(c) => format!("exited with {c}"),
        None => "was killed by a signal".to_string(),
    };
    Err(Error::Usage(format!(
        "{shown} is not the linkerd CLI: {asked} {status}: {said}; {fix}"
    )))
}
