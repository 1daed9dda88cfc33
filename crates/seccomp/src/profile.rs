//! berth's default seccomp profile.
//!
//! Behaves like Docker/moby's default profile: an allowlist that denies with
//! `EPERM` what containers have no business calling (kernel keyring, module
//! loading, kexec, namespace creation, mounting, clock setting, …) unless the
//! container has the capability that the syscall needs anyway. Written from
//! the syscall tables, grouped by concern; every name is checked by a test
//! to exist in at least one of the profile's architectures.
//!
//! Never allowed (by omission): `keyctl`, `add_key`, `request_key` (the
//! keyring is not namespaced), `userfaultfd` (a classic exploit helper),
//! `kexec_load`, `kexec_file_load`, `uselib`, `vm86`, `vm86old`, `swapon`,
//! `swapoff`, `_sysctl`, `nfsservctl`, `ustat`, `sysfs`, `move_pages`,
//! `migrate_pages`, `lsm_*`, and `io_uring_*` (its operations bypass
//! seccomp and it has been a steady source of kernel bugs).

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator as Op, LinuxSyscall,
};

/// Files and directories: opening, reading and writing, metadata, links,
/// extended attributes. Permission checks are the kernel's business.
#[rustfmt::skip]
const FILES: &[&str] = &[
    "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "chmod", "fchmod",
    "fchmodat", "fchmodat2", "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown",
    "lchown32", "umask", "open", "openat", "openat2", "creat", "close", "close_range",
    "name_to_handle_at", "read", "readv", "pread64", "preadv", "preadv2", "write", "writev",
    "pwrite64", "pwritev", "pwritev2", "lseek", "_llseek", "sendfile", "sendfile64", "splice",
    "tee", "vmsplice", "copy_file_range", "dup", "dup2", "dup3", "fcntl", "fcntl64", "flock",
    "ioctl", "fsync", "fdatasync", "syncfs", "sync", "sync_file_range", "fallocate", "fadvise64",
    "fadvise64_64", "readahead", "cachestat", "truncate", "truncate64", "ftruncate", "ftruncate64",
    "getdents", "getdents64", "mkdir", "mkdirat", "mknod", "mknodat", "rmdir", "link", "linkat",
    "symlink", "symlinkat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "readlink",
    "readlinkat", "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64",
    "newfstatat", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "utimes", "utimensat",
    "utimensat_time64", "futimesat", "getxattr", "lgetxattr", "fgetxattr", "getxattrat",
    "setxattr", "lsetxattr", "fsetxattr", "setxattrat", "listxattr", "llistxattr", "flistxattr",
    "listxattrat", "removexattr", "lremovexattr", "fremovexattr", "removexattrat", "file_getattr",
    "file_setattr",
];

/// Reading the mount table of the container's own mount namespace; the same
/// information as /proc/self/mountinfo, which newer util-linux prefers.
const MOUNT_INFO: &[&str] = &["statmount", "listmount"];

/// Waiting for and being notified of events; pipes. (No io_uring.)
#[rustfmt::skip]
const EVENTS: &[&str] = &[
    "poll", "ppoll", "ppoll_time64", "_newselect", "pselect6", "pselect6_time64", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
    "eventfd2", "signalfd", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_settime64",
    "timerfd_gettime", "timerfd_gettime64", "inotify_init", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch", "fanotify_mark", "pipe", "pipe2", "io_setup", "io_destroy", "io_submit",
    "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
];

/// Memory management of the caller's own address space.
#[rustfmt::skip]
const MEMORY: &[&str] = &[
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock",
    "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "pkey_mprotect",
    "pkey_alloc", "pkey_free", "memfd_create", "memfd_secret", "membarrier", "map_shadow_stack",
    "mseal", "get_mempolicy",
];

/// Processes and threads (`clone` and `clone3` have their own rules).
/// `ptrace` is allowed as Docker does on kernels >= 4.8, where it can no
/// longer be used to bypass seccomp; the kernel's ptrace access checks still
/// apply, so strace and gdb work on the container's own processes.
#[rustfmt::skip]
const PROCESSES: &[&str] = &[
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "getpid",
    "getppid", "gettid", "getpgid", "getpgrp", "setpgid", "getsid", "setsid", "set_tid_address",
    "set_robust_list", "get_robust_list", "futex", "futex_time64", "futex_waitv", "futex_wake",
    "futex_wait", "futex_requeue", "rseq", "restart_syscall", "prctl", "capget", "capset",
    "pidfd_open", "pidfd_send_signal", "process_mrelease", "seccomp", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self", "ptrace", "uname", "sysinfo", "getcpu",
    "getrandom", "times", "getrusage", "getrlimit", "ugetrlimit", "setrlimit", "prlimit64",
    "getpriority", "setpriority", "ioprio_get", "ioprio_set", "sched_yield", "sched_getaffinity",
    "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam", "sched_setparam",
    "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "sched_rr_get_interval_time64",
];

/// User and group ids; the kernel checks CAP_SETUID/CAP_SETGID.
#[rustfmt::skip]
const CREDENTIALS: &[&str] = &[
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
    "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32", "setuid",
    "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid", "setregid32",
    "setresuid", "setresuid32", "setresgid", "setresgid32", "setfsuid", "setfsuid32", "setfsgid",
    "setfsgid32", "setgroups", "setgroups32",
];

/// Signals.
#[rustfmt::skip]
const SIGNALS: &[&str] = &[
    "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo",
    "rt_tgsigqueueinfo", "sigaltstack", "sigreturn", "sigprocmask", "pause",
];

/// Reading clocks, sleeping, timers. `adjtimex`/`clock_adjtime` are mostly
/// used to read the clock state; changing it needs CAP_SYS_TIME in the kernel.
#[rustfmt::skip]
const TIME: &[&str] = &[
    "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
    "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "adjtimex", "clock_adjtime",
    "clock_adjtime64", "getitimer", "setitimer", "timer_create", "timer_delete", "timer_settime",
    "timer_settime64", "timer_gettime", "timer_gettime64", "timer_getoverrun",
];

/// Sockets (`socket` itself has a rule).
#[rustfmt::skip]
const SOCKETS: &[&str] = &[
    "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername",
    "getsockopt", "setsockopt", "shutdown", "sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg",
    "recvmmsg", "recvmmsg_time64",
];

/// System V IPC and POSIX message queues (namespaced by the IPC namespace).
#[rustfmt::skip]
const IPC: &[&str] = &[
    "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semtimedop_time64",
    "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify",
    "mq_getsetattr",
];

/// x86 only: TLS and LDT setup (glibc, Wine), legacy i386 entry points and
/// multiplexers, the epoll variants that never got used, and the calls the
/// kernel's own uprobe trampolines make.
#[rustfmt::skip]
const X86_ONLY: &[&str] = &[
    "arch_prctl", "modify_ldt", "set_thread_area", "get_thread_area", "socketcall", "ipc",
    "select", "waitpid", "alarm", "time", "utime", "epoll_ctl_old", "epoll_wait_old", "uretprobe",
    "uprobe",
];

/// ARM only: private calls glibc and JITs use, and ARM's spellings of
/// fadvise/sync_file_range and send/recv.
#[rustfmt::skip]
const ARM_ONLY: &[&str] = &[
    "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
    "set_tls", "send", "recv",
];

/// Syscalls whose only purpose needs a capability; allowed when the
/// container has it (the kernel still checks the capability itself).
const BY_CAPABILITY: &[(Capability, &[&str])] = &[
    (
        // Mounting, namespaces, host identity, kernel tracing and logs.
        Capability::SysAdmin,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "open_tree_attr",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    (Capability::SysBoot, &["reboot"]),
    (Capability::SysChroot, &["chroot"]),
    (Capability::SysModule, &["init_module", "finit_module", "delete_module"]),
    (Capability::SysPacct, &["acct"]),
    (
        // Reading or changing other processes.
        Capability::SysPtrace,
        &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
    ),
    (Capability::SysTime, &["settimeofday", "clock_settime", "clock_settime64"]),
    (Capability::SysTtyConfig, &["vhangup"]),
    (
        // NUMA placement affects the whole machine.
        Capability::SysNice,
        &["mbind", "set_mempolicy", "set_mempolicy_home_node"],
    ),
    (Capability::Syslog, &["syslog"]),
    (Capability::Bpf, &["bpf"]),
    (Capability::Perfmon, &["perf_event_open"]),
    (Capability::DacReadSearch, &["open_by_handle_at"]),
];

/// x86 only, by capability.
const X86_BY_CAPABILITY: &[(Capability, &[&str])] = &[
    (Capability::SysAdmin, &["umount"]),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (Capability::SysTime, &["stime"]),
];

/// `clone` flags that create namespaces: CLONE_NEWNS | CLONE_NEWCGROUP |
/// CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// `personality(2)` values that only select the ABI (PER_LINUX,
/// PER_LINUX32, UNAME26 variants) or query it (0xffffffff).
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

const AF_VSOCK: u64 = 40;

/// The host families the profile is written for: their architectures and
/// their architecture-specific syscalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Outside tests, only the host's family is ever built.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Family {
    X86,
    Arm,
}

impl Family {
    #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
    pub(crate) const NATIVE: Family = Family::Arm;
    #[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
    pub(crate) const NATIVE: Family = Family::X86;

    pub(crate) fn architectures(self) -> Vec<Arch> {
        match self {
            Family::X86 => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
            Family::Arm => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        }
    }

    fn allowed(self) -> &'static [&'static str] {
        match self {
            Family::X86 => X86_ONLY,
            Family::Arm => ARM_ONLY,
        }
    }

    fn by_capability(self) -> &'static [(Capability, &'static [&'static str])] {
        match self {
            Family::X86 => X86_BY_CAPABILITY,
            Family::Arm => &[],
        }
    }
}

/// berth's default profile for a container with `capabilities` (its bounding
/// set): Docker's default behaviour, for the host's architecture family
/// (x86_64 + x86 + x32, or aarch64 + arm).
///
/// Denied syscalls fail with `EPERM`. `clone` may not create namespaces and
/// `clone3` fails with `ENOSYS` (so libc falls back to `clone`, whose flags
/// the filter can see) unless the container has `CAP_SYS_ADMIN`.
pub fn default_profile(capabilities: &[Capability]) -> LinuxSeccomp {
    profile_for(Family::NATIVE, capabilities)
}

pub(crate) fn profile_for(family: Family, capabilities: &[Capability]) -> LinuxSeccomp {
    let has = |cap: Capability| capabilities.contains(&cap);

    let always =
        [FILES, MOUNT_INFO, EVENTS, MEMORY, PROCESSES, CREDENTIALS, SIGNALS, TIME, SOCKETS, IPC, family.allowed()];
    let mut syscalls = vec![rule(always.concat(), Action::ScmpActAllow, &[])];

    syscalls.extend(
        PERSONALITIES.iter().map(|&p| rule(vec!["personality"], Action::ScmpActAllow, &[arg(0, Op::ScmpCmpEq, p, 0)])),
    );
    // The kernel truncates `domain` (an int) to 32 bits, so a 64-bit
    // `!= AF_VSOCK` test (Docker's) lets 0x1_0000_0028 through. Deny on the
    // low word first; the first matching rule decides.
    syscalls.push(rule(vec!["socket"], Action::ScmpActErrno, &[arg(0, Op::ScmpCmpMaskedEq, 0xffff_ffff, AF_VSOCK)]));
    syscalls.push(rule(vec!["socket"], Action::ScmpActAllow, &[]));
    if !has(Capability::SysAdmin) {
        syscalls.push(rule(
            vec!["clone"],
            Action::ScmpActAllow,
            &[arg(0, Op::ScmpCmpMaskedEq, CLONE_NAMESPACE_FLAGS, 0)],
        ));
        let mut clone3 = rule(vec!["clone3"], Action::ScmpActErrno, &[]);
        clone3.set_errno_ret(Some(libc::ENOSYS as u32));
        syscalls.push(clone3);
    }
    for (cap, names) in BY_CAPABILITY.iter().chain(family.by_capability()) {
        if has(*cap) {
            syscalls.push(rule(names.to_vec(), Action::ScmpActAllow, &[]));
        }
    }

    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(Action::ScmpActErrno)
        .set_default_errno_ret(Some(libc::EPERM as u32))
        .set_architectures(Some(family.architectures()))
        .set_syscalls(Some(syscalls));
    profile
}

fn rule(names: Vec<&str>, action: Action, args: &[LinuxSeccompArg]) -> LinuxSyscall {
    let mut syscall = LinuxSyscall::default();
    syscall
        .set_names(names.into_iter().map(str::to_owned).collect())
        .set_action(action)
        .set_args((!args.is_empty()).then(|| args.to_vec()));
    syscall
}

fn arg(index: usize, op: Op, value: u64, value_two: u64) -> LinuxSeccompArg {
    let arg = LinuxSeccompArgBuilder::default().index(index).op(op).value(value);
    let arg = if op == Op::ScmpCmpMaskedEq { arg.value_two(value_two) } else { arg };
    // The builder is declared with `default` for every field, so `build`
    // cannot fail; the profile tests check every rule's effect regardless.
    arg.build().unwrap_or_default()
}

#[cfg(test)]
mod tests;
