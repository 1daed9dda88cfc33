//! The image crate's errors: each names the image, blob, file or registry
//! it concerns.

use std::io;

use crate::digest::Digest;

/// What an image operation failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or network operation failed.
    #[error("{context}: {source}")]
    Io {
        /// The step and the path it was on.
        context: String,
        /// The error itself.
        source: io::Error,
    },

    /// An image reference does not parse.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),

    /// A digest does not parse.
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),

    /// A manifest or index cannot be used.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),

    /// The content store has no blob of this digest.
    #[error("blob {0} not found in the content store")]
    BlobNotFound(Digest),

    /// Content did not hash to the digest it was fetched or stored as; it
    /// was not committed.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest it should have.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },

    /// Content was not as long as its descriptor said; it was not
    /// committed.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The size its descriptor gave, in bytes.
        expected: u64,
        /// The size that arrived.
        actual: u64,
    },

    /// No image by this name, id or digest (the text is what was asked
    /// for; Docker's wording, which clients match on).
    #[error("No such image: {0}")]
    ImageNotFound(String),

    /// An image config blob does not parse or is not a layered image.
    #[error("invalid image config {digest}: {reason}")]
    Config {
        /// The config blob.
        digest: Digest,
        /// What is wrong with it.
        reason: String,
    },

    /// A layer tarball that tries to write outside its directory, or is
    /// otherwise unsafe or malformed; `entry` is the path in the tar.
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    Layer {
        /// The layer, as the caller named it (usually its digest).
        layer: String,
        /// The path in the tar.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A registry refused or failed a request (distribution spec errors,
    /// authentication, unexpected responses).
    #[error("registry {registry}: {message}")]
    Registry {
        /// The registry's host (`docker.io`, `localhost:5000`).
        registry: String,
        /// Its error, as a person can act on it.
        message: String,
    },

    /// The operation would clash with what exists: a snapshot key that is
    /// taken, an image tagged in several repositories removed without force.
    #[error("{0}")]
    Conflict(String),

    /// Anything else that is malformed: a snapshot key, a stored record, a
    /// compressed stream.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// An [`Error::Io`] with `context`.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

/// The image crate's `Result`, with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
