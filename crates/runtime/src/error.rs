//! The runtime's error type. Every variant says what failed and where: the
//! spec field, the path, or the container, so a user can act on the message.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json could not be read or parsed; `path` is the file.
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },

    /// A spec field has a value the runtime cannot honour; `field` is its
    /// JSON path, e.g. `linux.uidMappings[0].size`.
    #[error("{field}: {reason}")]
    InvalidSpec { field: String, reason: String },

    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    #[error("container {0:?} already exists")]
    Exists(String),

    #[error("container {0:?} does not exist")]
    NotFound(String),

    /// The container is in the wrong state for the operation.
    #[error("cannot {action} container {id:?}: it is {status}")]
    WrongState { id: String, action: &'static str, status: String },

    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),

    #[error("linux.seccomp: {0}")]
    Seccomp(#[from] seccomp::Error),

    /// A step inside the container's init process failed; the message comes
    /// from the child and names the step (mount, pivot_root, exec, ...).
    #[error("container init: {0}")]
    Init(String),

    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },

    #[error("the runtime must be called from a single-threaded process (found {0} threads): it forks")]
    Threaded(usize),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a description of the step to an `io::Error`.
pub trait Context<T> {
    fn ctx<S: Into<String>>(self, what: S) -> Result<T>;
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
