//! The workflow language: the model, loading with located diagnostics, validation and templates.

pub mod diagnostic;
pub mod load;
pub mod model;
pub mod template;
pub mod validate;

pub use diagnostic::{Problem, ProblemKind, Problems, SourceFile};
pub use load::{LoadedWorkflow, load_file, load_str};
pub use model::Workflow;
