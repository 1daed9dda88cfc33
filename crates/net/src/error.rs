use std::io;

/// Every error of this crate. Messages name the input or the step that failed, so they can be shown
/// to the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: an address, a subnet, a `-p` spec, an interface name.
    #[error("{0}")]
    Invalid(String),
    /// A system call or a netlink request failed; `context` names the step.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// `nft` could not be run or refused the script.
    #[error("nft: {0}")]
    Nft(String),
    /// Something on the host (a listener, or another container's published port) holds the port.
    #[error("Bind for {addr} failed: port is already allocated")]
    PortAllocated { addr: String },
}

impl Error {
    /// The errno behind an I/O or netlink error, if any (e.g. `EEXIST`).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a context to I/O results.
pub(crate) trait Context<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { context: context(), source })
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}
