//! File descriptors: opening, close-on-exec, fstat, sealed memfds.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::{cvt, path_cstring, retry};

/// open(2) of a host path, always close-on-exec (added to `flags`) and
/// retried on EINTR; `mode` matters only with O_CREAT or O_TMPFILE. For
/// paths inside a container's root use [`crate::root::open`] instead.
pub fn open(path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = path_cstring(path)?;
    retry(|| {
        // SAFETY: valid C string; the fd returned is owned by us.
        let fd = cvt(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
        // SAFETY: fresh fd from the kernel.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    })
}

/// The /proc/self/fd path of an fd: handing this to mount(2) makes the kernel
/// act on exactly the inode the fd holds, with no second path lookup to race.
pub fn fd_path(fd: RawFd) -> CString {
    // A formatted integer never contains a NUL byte.
    CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default()
}

/// Marks every fd from `first` upwards close-on-exec, so nothing of the host
/// survives into the container's program (the CVE-2024-21626 class). Falls
/// back to walking /proc/self/fd on kernels without close_range.
pub fn cloexec_from(first: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on an fd we may not own is harmless; a
        // stale number (the read_dir fd itself) just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Sets (`on`) or clears FD_CLOEXEC on `fd`, keeping its other fd flags;
/// clearing it is how an fd is passed on across exec on purpose.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd number; failures are reported through errno.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let flags = if on { flags | libc::FD_CLOEXEC } else { flags & !libc::FD_CLOEXEC };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) })?;
    Ok(())
}

/// fstat(2): the inode behind `fd` (for an O_PATH fd too), with no path
/// lookup.
pub fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid out-pointer; it is initialised when fstat succeeds.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat returned 0, so it filled the struct.
    Ok(unsafe { st.assume_init() })
}

/// stat(2), following symlinks.
pub fn stat(path: &CStr) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a NUL-terminated path and a valid out-pointer, initialised on success.
    cvt(unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: stat returned 0, so it filled the struct.
    Ok(unsafe { st.assume_init() })
}

/// The filesystem type of the file behind `fd` (statfs's `f_type`, a
/// `*_SUPER_MAGIC` number), to check that an fd is on the filesystem it
/// should be (devpts, procfs) and not on something mounted over it.
pub fn fstatfs_magic(fd: RawFd) -> io::Result<i64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: valid out-pointer, initialised on success.
    cvt(unsafe { libc::fstatfs(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstatfs returned 0.
    let st = unsafe { st.assume_init() };
    // f_type is i64 on x86_64 but narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    Ok(st.f_type as i64)
}

/// Writes all of `buf` to a raw fd (used on procfs and cgroupfs files, where a
/// short write is an error).
pub fn write_all_fd(fd: RawFd, buf: &[u8]) -> io::Result<()> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = retry(|| cvt(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }))?;
    if n as usize != buf.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
    }
    Ok(())
}

/// dup2(2): makes `to` refer to what `from` does, closing what `to` held;
/// retried on EINTR. `to` comes out without close-on-exec (unless it is
/// `from`, when nothing changes).
pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on fd numbers; `to` is replaced atomically.
    retry(|| cvt(unsafe { libc::dup2(from, to) }))?;
    Ok(())
}

/// Creates a sealed, executable in-memory file holding `bytes`. Nothing can
/// write to it once sealed, which is what makes it safe to be the container's
/// /proc/self/exe for the instant between our exec and the program's.
pub fn sealed_memfd(name: &CStr, bytes: &[u8]) -> io::Result<OwnedFd> {
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: valid C string; the fd returned is ours. MFD_EXEC is needed where
    // vm.memfd_noexec is set; older kernels reject the flag, so retry without.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), base | libc::MFD_EXEC) };
    if fd < 0 {
        // SAFETY: as above.
        fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), base) })?;
    }
    // SAFETY: fresh fd from the kernel.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut off = 0;
    while off < bytes.len() {
        // SAFETY: the slice bounds are checked by the loop condition.
        let n = cvt(unsafe { libc::write(fd.as_raw_fd(), bytes[off..].as_ptr().cast(), bytes.len() - off) })?;
        off += n as usize;
    }
    // Also F_SEAL_EXEC where known so the mode (and thus exec permission)
    // cannot change; older kernels reject it, so fall back to the base seals.
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our own fd.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals | libc::F_SEAL_EXEC) } < 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    }
    Ok(fd)
}
