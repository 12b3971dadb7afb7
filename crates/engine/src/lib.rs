//! berth's engine: image references, the content store, images and layers, containers and
//! their shim. Synchronous: the CLI calls it in-process; the API server wraps it.

// Docker's Info object is one json! literal, deeper than the default macro limit.
#![recursion_limit = "256"]

pub mod build;
pub mod container;
pub mod content;
mod engine;
pub mod error;
pub mod events;
pub mod exec_root;
pub mod health;
pub mod human;
pub mod idle;
pub mod image;
pub mod inspect;
pub mod logs;
pub mod network;
pub mod reference;
pub mod registry;
pub mod rooted;
pub mod shim;
pub mod signal;
pub mod snapshot;
pub mod store;
mod system;
pub mod volume;

pub use container::commit::CommitRequest;
pub use container::copy::{CopyEnd, PathStat};
pub use container::create::CreateRequest;
pub use container::exec::ExecRequest;
pub use container::logs::LogQuery;
pub use container::resources::{host_memory, ContainerStats, UpdateRequest};
pub use container::wait::WaitCondition;
pub use engine::{Engine, DEFAULT_PATH};
pub use error::{Error, ErrorKind, Result};
pub use image::manage::HistoryItem;
pub use system::check::{CheckReport, Problem, Severity};
pub use system::{dir_size, DiskUsage};
