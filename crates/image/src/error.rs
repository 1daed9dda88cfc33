//! The image crate's errors: each names the image, blob, file or registry
//! it concerns.

use std::io;

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },

    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),

    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),

    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),

    #[error("blob {0} not found in the content store")]
    BlobNotFound(Digest),

    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },

    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: Digest, expected: u64, actual: u64 },

    #[error("No such image: {0}")]
    ImageNotFound(String),

    #[error("invalid image config {digest}: {reason}")]
    Config { digest: Digest, reason: String },

    /// A layer tarball that tries to write outside its directory, or is
    /// otherwise unsafe or malformed; `entry` is the path in the tar.
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    Layer { layer: String, entry: String, reason: String },

    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },

    #[error("{0}")]
    Conflict(String),

    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
