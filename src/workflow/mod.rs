//! The workflow language: the model, loading with located diagnostics, validation and templates.

pub mod diagnostic;
pub mod load;
pub mod model;

pub use diagnostic::{Problem, ProblemKind, Problems, SourceFile};
pub use load::{LoadedWorkflow, load_file, load_str};
pub use model::Workflow;
