//! The runtime's error type. Every variant says what failed and where: the
//! spec field, the path, or the container, so a user can act on the message.

use std::io;
use std::path::PathBuf;

/// What a runtime operation failed with. `Init` carries the child's own
/// message; the rest are found before or around the clone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json could not be read or parsed; `path` is the file.
    #[error("{path}: {reason}")]
    Config {
        /// The file (or the bundle directory, when it cannot be resolved).
        path: PathBuf,
        /// What is wrong with it: the I/O error or the JSON error with its
        /// position.
        reason: String,
    },

    /// A spec field has a value the runtime cannot honour; `field` is its
    /// JSON path, e.g. `linux.uidMappings[0].size`.
    #[error("{field}: {reason}")]
    InvalidSpec {
        /// The field's JSON path in config.json.
        field: String,
        /// Why the value cannot be honoured.
        reason: String,
    },

    /// The container id is not one runc would accept (see
    /// [`check_id`](crate::state::check_id)); it becomes a directory and a
    /// cgroup name, so nothing was touched.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id as given.
        id: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// create or run of an id whose state directory exists (a live or
    /// undeleted container); the existing one is left alone.
    #[error("container {0:?} already exists")]
    Exists(String),

    /// The id has no state.json under the runtime's root.
    #[error("container {0:?} does not exist")]
    NotFound(String),

    /// The container is in the wrong state for the operation.
    #[error("cannot {action} container {id:?}: it is {status}")]
    WrongState {
        /// The container.
        id: String,
        /// The refused operation (`start`, `pause`, `delete`, ...).
        action: &'static str,
        /// Its live status at the time, as `state` prints it.
        status: String,
    },

    /// Creating, configuring or reading the container's cgroup failed.
    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),

    /// `linux.seccomp` could not be compiled into a filter.
    #[error("linux.seccomp: {0}")]
    Seccomp(#[from] seccomp::Error),

    /// A step inside the container's init process failed; the message comes
    /// from the child and names the step (mount, pivot_root, exec, ...).
    #[error("container init: {0}")]
    Init(String),

    /// A system call on the runtime's side failed.
    #[error("{context}: {source}")]
    Io {
        /// The step, e.g. `opening /run/berth/runtime/c1/exec.fifo`.
        context: String,
        /// The error itself (its `kind()` is still there to match on).
        source: io::Error,
    },

    /// The caller has more than one thread (the count is given): forking
    /// it could leave the child with locks held by threads that are gone.
    #[error("the runtime must be called from a single-threaded process (found {0} threads): it forks")]
    Threaded(usize),
}

/// The runtime's `Result`, with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a description of the step to an `io::Error`.
pub trait Context<T> {
    /// Turns the error into [`Error::Io`] with `what` as its context.
    fn ctx<S: Into<String>>(self, what: S) -> Result<T>;
    /// [`Context::ctx`] with the context built only on failure, for
    /// messages that need a `format!`.
    fn with_ctx<S: Into<String>, F: FnOnce() -> S>(self, what: F) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx<S: Into<String>>(self, what: S) -> Result<T> {
        self.map_err(|source| Error::Io { context: what.into(), source })
    }
    fn with_ctx<S: Into<String>, F: FnOnce() -> S>(self, what: F) -> Result<T> {
        self.map_err(|source| Error::Io { context: what().into(), source })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx<S: Into<String>>(self, what: S) -> Result<T> {
        self.map_err(|e| Error::Io { context: what.into(), source: io::Error::from(e) })
    }
    fn with_ctx<S: Into<String>, F: FnOnce() -> S>(self, what: F) -> Result<T> {
        self.map_err(|e| Error::Io { context: what().into(), source: io::Error::from(e) })
    }
}

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidSpec { field: field.into(), reason: reason.into() }
}
