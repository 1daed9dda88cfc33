//! The engine: containers, networks and volumes, their state in a database
//! shared by every berth process, and the per-container monitor. The CLI,
//! the Docker API, compose, the builder and the node agent all drive it.
//!
//! Daemonless, like podman: a detached container has a small monitor
//! process of its own (see `monitor`), everything else is done by whichever
//! berth process asks, coordinated through the database.

// inspect's HostConfig is one json! of dockerd's ~70 fields.
#![recursion_limit = "256"]

pub mod attach;
pub mod commit;
pub mod copy;
pub mod create;
pub mod db;
pub mod disk;
pub mod dns;
pub mod engine;
pub mod error;
pub mod events;
pub mod health;
pub mod images;
pub mod inspect;
pub mod listing;
pub mod logs;
pub mod model;
pub mod monitor;
pub mod mounts;
pub mod names;
pub mod network;
pub mod ops;
pub mod pull;
pub mod spec;
pub mod start;
pub mod stats;
pub mod system;
pub mod validate;
pub mod volume;

pub use engine::{Engine, Launcher};
pub use error::{Error, Result};
pub use model::{Container, ContainerConfig, ContainerState, Mount, NetworkMode, Status};
pub use ops::{ExecRequest, WaitCondition, Waiter};
pub use pull::PullPolicy;
pub use start::OutputSink;
