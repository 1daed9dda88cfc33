//! The calls that change what a process sees as its filesystem (mounts and
//! the root), behind a trait, so that the code ordering them can be
//! unit-tested with a [`Recorder`] instead of a kernel (youki's `Syscall`).
//! [`Linux`] makes the real calls.

use std::cell::RefCell;
use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

use crate::cvt;

/// Mount-namespace and root changes, as the kernel offers them.
pub trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: libc::c_ulong,
        data: Option<&CStr>,
    ) -> io::Result<()>;
    /// umount2(2).
    fn umount2(&self, target: &CStr, flags: i32) -> io::Result<()>;
    /// fchdir(2): make the directory `fd` the working directory.
    fn fchdir(&self, fd: RawFd) -> io::Result<()>;
    /// chdir(2).
    fn chdir(&self, path: &CStr) -> io::Result<()>;
    /// chroot(2).
    fn chroot(&self, path: &CStr) -> io::Result<()>;
    /// pivot_root(2).
    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> io::Result<()>;
}

/// The real system calls.
pub struct Linux;

impl Syscall for Linux {
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: libc::c_ulong,
        data: Option<&CStr>,
    ) -> io::Result<()> {
        crate::mount::mount(source, target, fstype, flags, data)
    }

    fn umount2(&self, target: &CStr, flags: i32) -> io::Result<()> {
        // SAFETY: a valid NUL-terminated path.
        cvt(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
    }

    fn fchdir(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: fchdir takes any fd; a bad one is an error, not UB.
        cvt(unsafe { libc::fchdir(fd) }).map(drop)
    }

    fn chdir(&self, path: &CStr) -> io::Result<()> {
        // SAFETY: a valid NUL-terminated path.
        cvt(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
    }

    fn chroot(&self, path: &CStr) -> io::Result<()> {
        // SAFETY: a valid NUL-terminated path.
        cvt(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> io::Result<()> {
        // SAFETY: two valid NUL-terminated paths; libc has no wrapper.
        let r = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
        cvt(r as i32).map(drop)
    }
}

/// A fake kernel for tests: records every call as a line of text
/// (`mount(-, /, -, MS_REC|MS_SLAVE)`) and succeeds, except the calls whose
/// line starts with a prefix given to [`Recorder::failing`], which fail
/// with that errno.
#[derive(Default)]
pub struct Recorder {
    calls: RefCell<Vec<String>>,
    fail: Vec<(String, i32)>,
}

impl Recorder {
    /// A recorder on which calls starting with `prefix` fail with `errno`.
    pub fn failing(mut self, prefix: &str, errno: i32) -> Recorder {
        self.fail.push((prefix.to_string(), errno));
        self
    }

    /// The calls made so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: String) -> io::Result<()> {
        let failure = self.fail.iter().find(|(p, _)| call.starts_with(p.as_str())).map(|(_, e)| *e);
        self.calls.borrow_mut().push(call);
        match failure {
            Some(e) => Err(io::Error::from_raw_os_error(e)),
            None => Ok(()),
        }
    }
}

fn shown(s: Option<&CStr>) -> String {
    s.map_or_else(|| "-".into(), |s| s.to_string_lossy().into_owned())
}

/// Mount flags by name, for readable expectations.
pub fn mount_flags(flags: libc::c_ulong) -> String {
    const NAMES: &[(libc::c_ulong, &str)] = &[
        (libc::MS_RDONLY, "MS_RDONLY"),
        (libc::MS_NOSUID, "MS_NOSUID"),
        (libc::MS_NODEV, "MS_NODEV"),
        (libc::MS_NOEXEC, "MS_NOEXEC"),
        (libc::MS_REMOUNT, "MS_REMOUNT"),
        (libc::MS_BIND, "MS_BIND"),
        (libc::MS_MOVE, "MS_MOVE"),
        (libc::MS_REC, "MS_REC"),
        (libc::MS_PRIVATE, "MS_PRIVATE"),
        (libc::MS_SLAVE, "MS_SLAVE"),
        (libc::MS_SHARED, "MS_SHARED"),
        (libc::MS_UNBINDABLE, "MS_UNBINDABLE"),
    ];
    let mut rest = flags;
    let mut out: Vec<String> = Vec::new();
    for &(bit, name) in NAMES {
        if flags & bit != 0 {
            out.push(name.into());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    if out.is_empty() {
        "0".into()
    } else {
        out.join("|")
    }
}

impl Syscall for Recorder {
    fn mount(
        &self,
        source: Option<&CStr>,
        target: &CStr,
        fstype: Option<&CStr>,
        flags: libc::c_ulong,
        data: Option<&CStr>,
    ) -> io::Result<()> {
        let data = data.map(|d| format!(", {}", d.to_string_lossy())).unwrap_or_default();
        self.record(format!(
            "mount({}, {}, {}, {}{data})",
            shown(source),
            target.to_string_lossy(),
            shown(fstype),
            mount_flags(flags)
        ))
    }

    fn umount2(&self, target: &CStr, flags: i32) -> io::Result<()> {
        let f = if flags & libc::MNT_DETACH != 0 { "MNT_DETACH" } else { "0" };
        self.record(format!("umount2({}, {f})", target.to_string_lossy()))
    }

    fn fchdir(&self, _fd: RawFd) -> io::Result<()> {
        self.record("fchdir(root)".into())
    }

    fn chdir(&self, path: &CStr) -> io::Result<()> {
        self.record(format!("chdir({})", path.to_string_lossy()))
    }

    fn chroot(&self, path: &CStr) -> io::Result<()> {
        self.record(format!("chroot({})", path.to_string_lossy()))
    }

    fn pivot_root(&self, new_root: &CStr, put_old: &CStr) -> io::Result<()> {
        self.record(format!("pivot_root({}, {})", new_root.to_string_lossy(), put_old.to_string_lossy()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorder_writes_calls_down_and_fails_on_request() {
        let r = Recorder::default().failing("pivot_root", libc::EINVAL);
        r.mount(None, c"/", None, libc::MS_REC | libc::MS_SLAVE, None).unwrap();
        let e = r.pivot_root(c".", c".").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(r.calls(), ["mount(-, /, -, MS_REC|MS_SLAVE)", "pivot_root(., .)"]);
        assert_eq!(mount_flags(0), "0");
        assert_eq!(mount_flags(libc::MS_BIND | 0x4000_0000), "MS_BIND|0x40000000");
    }
}
