//! berth's system layer: the Linux calls that libc and nix do not wrap, or
//! wrap too loosely, checked once (every `-1` becomes an `io::Error` for the
//! caller to give context), and shared by the runtime, the engine, the image
//! store and the builder instead of being copied into each.
//!
//! - [`root`]: paths opened and created inside a root directory without
//!   ever leaving it (openat2 RESOLVE_IN_ROOT).
//! - [`mount`], [`process`], [`fd`]: the mount API, clone3 and pidfds, file
//!   descriptors.
//! - [`signal`]: signal names and numbers.
//! - [`syscall`]: mount and root changes behind a trait, with a recording
//!   fake, so that the code ordering them can be unit-tested.
//!
//! Everything of `mount`, `process` and `fd` is also at the crate root.

#![deny(missing_docs)]

use std::ffi::CString;
use std::io;
use std::path::Path;

pub mod fd;
pub mod mount;
pub mod process;
pub mod root;
pub mod signal;
pub mod syscall;

pub use fd::*;
pub use mount::*;
pub use process::*;
pub use root::Follow;

/// Converts a libc return value into `io::Result`, reading errno on `-1`.
pub fn cvt<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Retries a call while it fails with EINTR.
pub fn retry<T, F: FnMut() -> io::Result<T>>(mut f: F) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// `s` as a C string for a syscall; `InvalidInput` if it holds a NUL byte
/// (which the kernel would silently take as the end of the string).
pub fn cstring(s: impl AsRef<[u8]>) -> io::Result<CString> {
    CString::new(s.as_ref()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains a NUL byte"))
}

/// [`cstring`] of a path's bytes, as they are (no UTF-8 required).
pub fn path_cstring(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    cstring(p.as_os_str().as_bytes())
}
