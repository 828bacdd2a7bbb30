//! mcflow-sim: a multi-cluster Kubernetes API simulator and a fake `linkerd` CLI for mcflow's
//! tests and demo. See `README.md` in this crate for the API and its faithfulness notes.

// Structure held by CI: no function over 80 lines (clippy.toml), no function with more than
// seven arguments; an `allow` only with a one-line reason beside it.
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

mod bins;
pub mod client;
pub mod cluster;
pub mod defaults;
pub mod discovery;
pub mod error;
pub mod events;
pub mod faults;
pub mod fieldpath;
pub mod kubeconfig;
pub mod linkerd_version;
pub mod managed;
pub mod patch;
pub mod protobuf;
pub mod reactors;
pub mod request_log;
pub mod resources;
pub mod rig;
pub mod scenario;
pub mod selector;
pub mod server;
pub mod simulator;
pub mod state;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;

pub use bins::{fake_linkerd_bin, sim_bin};
pub use cluster::Cluster;
pub use error::ApiError;
pub use faults::{Fault, FaultKind, Trigger};
pub use linkerd_version::LinkerdVersion;
pub use request_log::RequestRecord;
pub use scenario::Scenario;
pub use simulator::{Simulator, SimulatorBuilder};
