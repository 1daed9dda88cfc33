//! The mount API: mount(2), and the fd-based open_tree / mount_setattr /
//! move_mount that make bind mounts without path races.

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::cvt;

/// mount(2), with `None` for the arguments the kernel takes as null
/// (a propagation change has no source, type or data).
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: all pointers are either null or valid NUL-terminated strings.
    cvt(unsafe { libc::mount(p(source), target.as_ptr(), p(fstype), flags, p(data).cast()) })?;
    Ok(())
}

/// Attributes for `mount_setattr`, as in <linux/mount.h>.
pub mod mount_attr {
    /// MOUNT_ATTR_RDONLY: read-only.
    pub const RDONLY: u64 = 0x1;
    /// MOUNT_ATTR_NOSUID: set-user-ID and set-group-ID bits are ignored.
    pub const NOSUID: u64 = 0x2;
    /// MOUNT_ATTR_NODEV: device files cannot be opened.
    pub const NODEV: u64 = 0x4;
    /// MOUNT_ATTR_NOEXEC: nothing on it can be executed.
    pub const NOEXEC: u64 = 0x8;
    /// MOUNT_ATTR__ATIME: the bits of the access-time mode. The modes below
    /// are values within it, not flags: setting one needs this in `clear`.
    pub const ATIME_MASK: u64 = 0x70;
    /// MOUNT_ATTR_RELATIME: access times are updated only when older than
    /// the mtime or ctime, or a day old (the kernel's default; the value 0
    /// within `ATIME_MASK`).
    pub const RELATIME: u64 = 0x0;
    /// MOUNT_ATTR_NOATIME: access times are never updated.
    pub const NOATIME: u64 = 0x10;
    /// MOUNT_ATTR_STRICTATIME: access times are updated on every access.
    pub const STRICTATIME: u64 = 0x20;
    /// MOUNT_ATTR_NODIRATIME: directories' access times are never updated
    /// (a flag of its own, outside `ATIME_MASK`).
    pub const NODIRATIME: u64 = 0x80;
}

const OPEN_TREE_CLONE: u32 = 1;
const AT_RECURSIVE: u32 = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// Clones the mount tree at `fd` (an O_PATH fd) into a detached mount.
pub fn open_tree_clone(fd: RawFd, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: an empty path with AT_EMPTY_PATH refers to `fd` itself.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd, c"".as_ptr(), flags) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Sets and clears attributes on a (detached or attached) mount tree.
pub fn mount_setattr(fd: RawFd, set: u64, clear: u64, recursive: bool) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: `attr` is a valid mount_attr for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Attaches the detached mount `from` on top of the inode held by `to`.
pub fn move_mount(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: both fds are valid and the empty paths refer to them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The mount flags (MS_*) that are locked on the mount holding `fd` and that a
/// bind remount must repeat, or the kernel refuses it inside a user namespace.
pub fn locked_mount_flags(fd: RawFd) -> io::Result<libc::c_ulong> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: valid out-pointer, initialised on success.
    cvt(unsafe { libc::fstatvfs(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstatvfs returned 0.
    let f = unsafe { st.assume_init() }.f_flag;
    let mut flags = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    Ok(flags)
}
