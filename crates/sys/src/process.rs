//! Processes: clone3 (into a cgroup), pidfds, namespaces, waiting, and
//! what /proc says of a process.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::{cvt, retry};

/// The fork half of clone: the child continues on a copy of the caller's stack,
/// exactly like fork(2), but new namespaces can be requested in the same step,
/// and with `cgroup` (a cgroup2 directory fd) the child is born in that
/// cgroup (CLONE_INTO_CGROUP), without the global lock a later move takes.
/// Returns 0 in the child and the child's pid in the parent.
///
/// # Safety
/// The caller must be single-threaded: after a fork only the calling thread
/// exists in the child, and any lock another thread held (malloc, stdio) would
/// stay locked forever. `Runtime` checks this before it gets here.
pub unsafe fn clone_fork(flags: u64, cgroup: Option<RawFd>) -> io::Result<libc::pid_t> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 with a null stack behaves like fork: the child gets a
    // copy-on-write copy of this stack and returns here. `args` outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if ret >= 0 {
        return Ok(ret as libc::pid_t);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) || cgroup.is_some() {
        // With a cgroup the caller falls back itself (see spawn).
        return Err(err);
    }
    // SAFETY: the legacy clone with a null stack pointer is fork with flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as libc::pid_t)
    }
}

/// A pidfd for `pid`: it keeps referring to that process even after the
/// pid is reused, so signals sent through it cannot reach another one.
/// ESRCH if the process is already gone (a zombie still has a pidfd).
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Sends `sig` to the process of `pidfd`, as kill(2) would but without the
/// pid-reuse race; ESRCH once the process has been reaped.
pub fn pidfd_send_signal(pidfd: RawFd, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would".
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd, sig, std::ptr::null::<u8>(), 0) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `prctl` for the integer-argument options.
pub fn prctl(option: i32, arg2: libc::c_ulong) -> io::Result<i32> {
    // SAFETY: the options used with this wrapper take integer arguments only.
    cvt(unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

/// setns(2): moves the calling thread into the namespace of `fd`, a
/// /proc/PID/ns/* file; `nstype` 0 accepts any type, a CLONE_NEW* flag makes
/// the kernel check that `fd` is of that type.
pub fn setns(fd: RawFd, nstype: i32) -> io::Result<()> {
    // SAFETY: plain syscall on an fd number.
    cvt(unsafe { libc::setns(fd, nstype) })?;
    Ok(())
}

/// unshare(2): gives the calling thread new namespaces (CLONE_NEW* `flags`);
/// a new pid namespace applies only to the children created afterwards.
pub fn unshare(flags: i32) -> io::Result<()> {
    // SAFETY: plain syscall with an integer argument.
    cvt(unsafe { libc::unshare(flags) })?;
    Ok(())
}

/// waitpid(2), retried on EINTR: the pid reaped (0 under WNOHANG when no
/// child has changed state) and its raw wait status, for [`exit_code`].
pub fn waitpid(pid: libc::pid_t, flags: i32) -> io::Result<(libc::pid_t, i32)> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    let r = retry(|| cvt(unsafe { libc::waitpid(pid, &mut status, flags) }))?;
    Ok((r, status))
}

/// The shell-style exit code of a wait status: the code itself, or 128 + the
/// signal that killed the process.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Reads field 22 (starttime, in clock ticks since boot) of /proc/PID/stat and
/// the state letter. Together with the pid, the start time names a process
/// uniquely, which guards every later signal against pid reuse.
pub fn proc_stat(pid: libc::pid_t) -> io::Result<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first().and_then(|s| s.chars().next()).unwrap_or('?');
    let start = fields.get(19).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((state, start))
}

/// Number of threads of this process: the runtime forks, which is only sound
/// when the caller is single-threaded.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(1)
}
