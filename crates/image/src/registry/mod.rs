//! The OCI distribution (registry) client: manifests and blobs over the
//! registry HTTP API, with docker's authentication and its credentials file.
//!
//! One [`Client`] talks to one registry host. It is blocking (no async
//! runtime in berth's image code) and cheap to clone: clones share one
//! connection pool, the authentication scheme the registry asked for and the
//! bearer tokens already obtained, so pull and push can run several layer
//! transfers on threads at once without each fetching its own token.
//!
//! Authentication follows docker and the token spec
//! (distribution's `spec/auth/token`): every request first goes out as it
//! would anonymously; a 401 names the scheme in `WWW-Authenticate`. `Basic`
//! is answered with the configured credentials; `Bearer` sends the client to
//! the realm for a token scoped to what the request needs (`repository:NAME:
//! pull` or `pull,push`, and `pull` on the source of a cross-repository
//! mount), which is cached per scope until it expires, and the request is
//! retried once. After the first challenge the client authorises requests up
//! front instead of collecting a 401 each time. Credentials only ever go to
//! the registry's own origin and to the token realm; redirects to another
//! origin (blob storage) are followed without `Authorization`.
//!
//! The modules, by concern: [`endpoint`] (which host and scheme, URLs),
//! [`auth`] (challenges, scopes, the token cache), [`errors`] (turning a
//! registry's answer into a message), `transport` (sending a request with
//! authentication and redirects), [`client`] (the API operations) and
//! [`credentials`] (docker's `config.json`).

pub mod auth;
pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod errors;
mod transport;

use std::time::Duration;

pub use client::Client;
pub use credentials::{default_config_path, load_credentials, remove_credentials, store_credentials, Credentials};

use crate::digest::Digest;

/// How to reach a registry. One set of options serves one [`Client`].
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Plain HTTP (and, for https, no certificate verification is NOT implied). berth uses plain HTTP automatically for
    /// localhost, 127.0.0.0/8 and ::1, like docker; `insecure` forces it for other hosts (docker's insecure-registries).
    pub insecure: bool,
    /// Sent only when the registry asks (a 401), never up front.
    pub credentials: Option<Credentials>,
    /// How long establishing a connection (name lookup included) may take. Zero means no limit.
    pub connect_timeout: Duration,
    /// How long any single read from (or write to) the registry may wait, so a registry that hangs fails with a
    /// timeout error instead of blocking forever. It restarts with every read: a slow but moving download is fine.
    /// Zero means no limit.
    pub read_timeout: Duration,
    /// The User-Agent header of every request (default `berth/<version>`).
    pub user_agent: String,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            insecure: false,
            credentials: None,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A manifest (or index) as the registry served it, its digest verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The exact bytes: the digest is over these, so they must be stored as they are.
    pub bytes: Vec<u8>,
    /// From `Content-Type`, or from the document when the registry sent a generic type.
    pub media_type: String,
    /// The sha256 of `bytes`; it matched the digest asked for (when fetched
    /// by digest) and the registry's Docker-Content-Digest (when sent).
    pub digest: Digest,
}

/// What [`Client::push_blob`] had to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The bytes were sent.
    Uploaded,
    /// The repository already had the blob; nothing was sent.
    Existed,
    /// The registry linked the blob from the `mount_from` repository; nothing was sent.
    Mounted,
}
