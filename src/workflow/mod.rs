//! The workflow language: the model, loading with located diagnostics, validation and templates.

pub mod bundle;
pub mod diagnostic;
pub mod duration;
pub mod graph;
pub mod item_key;
pub mod load;
pub mod model;
pub mod step;
pub mod template;
pub mod validate;
pub mod vars;

pub use diagnostic::{Problem, ProblemKind, Problems, SourceFile};
pub use load::{LoadedWorkflow, load_file, load_str};
pub use model::Workflow;
