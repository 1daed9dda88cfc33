use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Every failure names the file (or spec field) involved and the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("reading {}: {}", path.display(), reason(source))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The kernel refused a value. `field` is the spec field (JSON path, e.g.
    /// `linux.resources.memory.limit`) or the operation (`add_process`).
    #[error("{field}: writing {value} to {}: {}", path.display(), reason(source))]
    Write {
        field: &'static str,
        value: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("creating {}: {}", path.display(), reason(source))]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("removing {}: {}", path.display(), reason(source))]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A kernel file had content this crate does not understand.
    #[error("parsing {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },

    /// The spec asks for something this host cannot enforce (controller not
    /// mounted, control file absent). Callers may drop the field and retry.
    #[error("{field}: {reason}")]
    Unsupported { field: &'static str, reason: String },

    /// The spec value is malformed or inconsistent, before any kernel call.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath { path: PathBuf, reason: &'static str },

    #[error("no cgroup filesystem is mounted (looked in {})", path.display())]
    NoCgroupFs { path: PathBuf },

    #[error("{what} {}: gave up after {waited:?}{detail}", path.display())]
    Timeout { what: &'static str, path: PathBuf, waited: Duration, detail: String },

    /// A bpf(2) call for the cgroup v2 device filter failed; `log` is the
    /// verifier's output when loading failed.
    #[error("{field}: {op} for {}: {}{log}", path.display(), reason(source))]
    Bpf {
        field: &'static str,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
        log: String,
    },

    #[error("killing pid {pid} of {}: {}", path.display(), reason(source))]
    Kill {
        pid: i32,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The errno behind this error, if it came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Read { source, .. }
            | Error::Write { source, .. }
            | Error::Create { source, .. }
            | Error::Remove { source, .. }
            | Error::Bpf { source, .. }
            | Error::Kill { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// The spec field this error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::Write { field, .. }
            | Error::Unsupported { field, .. }
            | Error::Invalid { field, .. }
            | Error::Bpf { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn is_not_found(&self) -> bool {
        self.raw_os_error() == Some(libc::ENOENT)
    }

    /// The directory went away under us: ENOENT, or ENODEV for a file of a
    /// cgroup that is being removed.
    pub(crate) fn is_gone(&self) -> bool {
        matches!(self.raw_os_error(), Some(libc::ENOENT | libc::ENODEV))
    }
}

/// `io::Error`'s text without the " (os error N)" suffix, so messages read
/// like the kernel's: "Device or resource busy".
fn reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
