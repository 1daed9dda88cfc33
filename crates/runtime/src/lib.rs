//! berth's OCI runtime.
//!
//! A container is made in one clone: the child is a forked copy of the caller
//! (no re-exec of a runtime binary), gets its namespaces from the clone
//! flags, builds its root filesystem with in-root path resolution, drops
//! privileges, and execs the program through a sealed stub so that
//! /proc/self/exe never leads to the host's binary.
//!
//! The caller must be single-threaded (the runtime forks); `Runtime` checks.
//!
//! ```no_run
//! let rt = runtime::Runtime::new("/run/berth/runtime");
//! let opts = runtime::CreateOptions { id: "c1".into(), bundle: "/tmp/bundle".into(), ..Default::default() };
//! let code = rt.run(&opts)?.wait()?;
//! # Ok::<(), runtime::Error>(())
//! ```

#![deny(missing_docs)]

pub mod container;
pub mod default_spec;
pub mod error;
pub mod hooks;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod state;
pub mod timing;

pub use cgroups;
pub use container::exec::ExecOutcome;
pub use container::{CreateOptions, ExecOptions, Running, Runtime};
pub use error::{Error, Result};
pub use oci_spec;
pub use seccomp;
pub use state::{Record, Status};
