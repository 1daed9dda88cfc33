//! The exec stub (see stub/exec-stub.c): a few KiB of static code, sealed in
//! a memfd, that the container's init execs instead of the program itself, so
//! that at no point after our exec does /proc/self/exe lead back to the host's
//! berth binary (CVE-2019-5736). Cost: one small exec, instead of runc's copy
//! of its whole binary per container.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

static STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/exec-stub"));

/// A fresh memfd holding the stub, sealed against writes, for [`exec`]; each
/// container gets its own.
pub fn sealed() -> io::Result<OwnedFd> {
    sys::sealed_memfd(c"berth-exec", STUB)
}

/// Replaces this process with the stub, which replaces itself with `path`.
/// Only returns on failure. All pointers are prepared by the caller so that
/// nothing allocates after the seccomp filter is in place.
pub fn exec(stub: &OwnedFd, argv: &[*const libc::c_char], envp: &[*const libc::c_char], path: &CString) -> io::Error {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into
    // CStrings the caller keeps alive; execveat only returns on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            stub.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EPERM) || e.raw_os_error() == Some(libc::ENOSYS) {
        // A seccomp profile that allows execve but not execveat: reach the
        // same sealed stub through /proc/self/fd. Never exec the program
        // directly from here, where /proc/self/exe is still the host's berth.
        let via_proc = format!("/proc/self/fd/{}\0", stub.as_raw_fd());
        // SAFETY: a NUL-terminated path and the arrays described above.
        unsafe { libc::execve(via_proc.as_ptr().cast(), argv.as_ptr(), envp.as_ptr()) };
        return io::Error::last_os_error();
    }
    let _ = path;
    e
}
