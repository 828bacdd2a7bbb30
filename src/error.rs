//! The errors a command ends with, and the exit code of each.

use std::fmt;

use crate::workflow::Problems;

/// Exit codes (DESIGN.md section 7).
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const STEP_FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const STATE: i32 = 3;
    pub const INTERRUPTED: i32 = 130;
}

/// How a command failed.
#[derive(Debug)]
pub enum Error {
    /// Bad workflow, params, config or command line: nothing ran.
    Invalid(Problems),
    /// Invalid usage that is not about a file (a missing context, a bad flag value).
    Usage(String),
    /// The run ran and a step failed; the run's summary, already printed, says which and why.
    StepFailed,
    /// Problems already printed in the form the user asked for (`validate -o json`): nothing
    /// more to print, exit 2.
    InvalidReported,
    /// The state directory: locked, nothing to resume, a corrupt journal, an I/O error.
    State(String),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl Error {
    /// Has the command already shown the user everything about this error?
    pub fn is_reported(&self) -> bool {
        matches!(self, Error::StepFailed | Error::InvalidReported)
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Usage(_) | Error::InvalidReported => exit::USAGE,
            Error::StepFailed => exit::STEP_FAILED,
            Error::State(_) => exit::STATE,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(p) => write!(f, "{p}"),
            Error::Usage(m) | Error::State(m) => f.write_str(m),
            Error::StepFailed => f.write_str("a step failed"),
            Error::InvalidReported => f.write_str("invalid (reported above)"),
            Error::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Problems> for Error {
    fn from(p: Problems) -> Self {
        Error::Invalid(p)
    }
}

impl From<crate::workflow::Problem> for Error {
    fn from(p: crate::workflow::Problem) -> Self {
        Error::Invalid(p.into())
    }
}
