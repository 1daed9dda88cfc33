use super::*;
use crate::arch::Arch as Abi;
use crate::Filter;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWNET: u64 = 0x4000_0000;
const CLONE_NEWNS: u64 = 0x0002_0000;
/// What glibc's pthread_create passes.
const THREAD_FLAGS: u64 = 0x003d_0f00;
/// What glibc's fork passes (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD).
const FORK_FLAGS: u64 = 0x0120_0011;

fn abis(family: Family) -> Vec<Abi> {
    family.architectures().into_iter().filter_map(Abi::from_oci).collect()
}

/// The ABIs of the native family: the ones a filter compiled here covers.
fn native_abis() -> Vec<Abi> {
    abis(Family::NATIVE)
}

fn compile(caps: &[Capability]) -> Filter {
    match Filter::compile(&default_profile(caps)) {
        Ok(f) => f,
        Err(e) => panic!("default profile does not compile: {e}"),
    }
}

/// The action for `name` on every native ABI that has it; asserts they agree.
fn action(f: &Filter, name: &str, args: [u64; 6]) -> u32 {
    let mut seen = None;
    for abi in native_abis() {
        let Some(nr) = abi.syscall_nr(name) else {
            continue;
        };
        let got = f.action_for(abi.audit(), nr.into(), args);
        if let Some(prev) = seen {
            assert_eq!(prev, got, "{name}: {abi:?} disagrees with another ABI");
        }
        seen = Some(got);
    }
    match seen {
        Some(a) => a,
        None => panic!("{name} exists on no ABI of the profile"),
    }
}

fn args0(a0: u64) -> [u64; 6] {
    [a0, 0, 0, 0, 0, 0]
}

#[test]
fn every_name_exists_in_its_family() {
    let all_caps: Vec<Capability> = BY_CAPABILITY.iter().chain(X86_BY_CAPABILITY).map(|&(c, _)| c).collect();
    for family in [Family::X86, Family::Arm] {
        for caps in [&[][..], &all_caps[..]] {
            let profile = profile_for(family, caps);
            for entry in profile.syscalls().iter().flatten() {
                for name in entry.names() {
                    assert!(
                        abis(family).iter().any(|a| a.syscall_nr(name).is_some()),
                        "{family:?}: {name} is not a syscall of any of its ABIs"
                    );
                }
            }
        }
    }
    // And so the compiler reports nothing as skipped.
    assert!(compile(&[]).skipped_syscalls().is_empty());
    assert!(compile(&all_caps).skipped_syscalls().is_empty());
}

#[test]
fn shape() {
    let p = default_profile(&[]);
    assert_eq!(p.default_action(), Action::ScmpActErrno);
    assert_eq!(p.default_errno_ret(), Some(1));
    let arches = p.architectures().clone().unwrap_or_default();
    if Family::NATIVE == Family::X86 {
        assert_eq!(arches, [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]);
    } else {
        assert_eq!(arches, [Arch::ScmpArchAarch64, Arch::ScmpArchArm]);
    }
    // Several hundred allowed names.
    let allowed: usize =
        p.syscalls().iter().flatten().filter(|s| s.action() == Action::ScmpActAllow).map(|s| s.names().len()).sum();
    assert!(allowed > 300, "{allowed}");
    // It serializes to the OCI JSON shape.
    let json = serde_json::to_value(&p).unwrap_or_default();
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
}

#[test]
fn ordinary_syscalls_are_allowed() {
    let f = compile(&[]);
    for name in [
        "read",
        "write",
        "openat",
        "close",
        "execve",
        "exit_group",
        "exit",
        "mmap",
        "munmap",
        "brk",
        "futex",
        "rt_sigaction",
        "rt_sigreturn",
        "getpid",
        "gettid",
        "wait4",
        "pipe2",
        "epoll_pwait",
        "getrandom",
        "prlimit64",
        "sched_getaffinity",
        "clock_gettime",
        "nanosleep",
        "connect",
        "sendmsg",
        "recvfrom",
        "ioctl",
        "fcntl",
        "statx",
        "getdents64",
        "set_robust_list",
        "rseq",
        "sigaltstack",
        "madvise",
        "uname",
        "setuid",
        "kill",
        "tgkill",
        "fork",
        "vfork",
        "ptrace",
        "name_to_handle_at",
        "get_mempolicy",
        "seccomp",
        "adjtimex",
        "clock_adjtime",
        "socketpair",
        "membarrier",
        "memfd_create",
        "capset",
        "prctl",
        "pidfd_open",
        "close_range",
        "faccessat2",
        "epoll_pwait2",
    ] {
        assert_eq!(action(&f, name, [0; 6]), ALLOW, "{name}");
    }
}

#[test]
fn dangerous_syscalls_are_denied() {
    let f = compile(&[]);
    for name in [
        "keyctl",
        "add_key",
        "request_key",
        "userfaultfd",
        "kexec_load",
        "kexec_file_load",
        "open_by_handle_at",
        "uselib",
        "swapon",
        "swapoff",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "bpf",
        "perf_event_open",
        "init_module",
        "finit_module",
        "delete_module",
        "reboot",
        "chroot",
        "settimeofday",
        "clock_settime",
        "acct",
        "syslog",
        "sethostname",
        "setdomainname",
        "kcmp",
        "process_vm_readv",
        "process_vm_writev",
        "pidfd_getfd",
        "mbind",
        "set_mempolicy",
        "vhangup",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "fsopen",
        "fsmount",
        "open_tree",
        "move_mount",
        "quotactl",
        "lookup_dcookie",
        "fanotify_init",
        "move_pages",
        "migrate_pages",
        "lsm_set_self_attr",
    ] {
        assert_eq!(action(&f, name, [0; 6]), EPERM, "{name}");
    }
    if Family::NATIVE == Family::X86 {
        for name in ["iopl", "ioperm", "vm86", "vm86old", "stime", "umount"] {
            assert_eq!(action(&f, name, [0; 6]), EPERM, "{name}");
        }
    }
}

#[test]
fn clone_may_not_create_namespaces_without_sys_admin() {
    let f = compile(&[]);
    assert_eq!(action(&f, "clone", args0(THREAD_FLAGS)), ALLOW);
    assert_eq!(action(&f, "clone", args0(FORK_FLAGS)), ALLOW);
    for ns in [CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWNS, 0x7E02_0000] {
        assert_eq!(action(&f, "clone", args0(FORK_FLAGS | ns)), EPERM, "{ns:#x}");
    }
    assert_eq!(action(&f, "clone3", [0; 6]), ENOSYS);

    let admin = compile(&[Capability::SysAdmin]);
    assert_eq!(action(&admin, "clone", args0(FORK_FLAGS | CLONE_NEWUSER)), ALLOW);
    assert_eq!(action(&admin, "clone3", [0; 6]), ALLOW);
    for name in ["mount", "umount2", "unshare", "setns", "sethostname", "bpf", "syslog"] {
        assert_eq!(action(&admin, name, [0; 6]), ALLOW, "{name}");
    }
    // CAP_SYS_ADMIN does not open unrelated groups.
    for name in ["keyctl", "reboot", "init_module", "open_by_handle_at", "pivot_root"] {
        assert_eq!(action(&admin, name, [0; 6]), EPERM, "{name}");
    }
}

#[test]
fn socket_denies_vsock_only() {
    let f = compile(&[]);
    assert_eq!(action(&f, "socket", args0(libc::AF_INET as u64)), ALLOW);
    assert_eq!(action(&f, "socket", args0(libc::AF_UNIX as u64)), ALLOW);
    assert_eq!(action(&f, "socket", args0(libc::AF_NETLINK as u64)), ALLOW);
    assert_eq!(action(&f, "socket", args0(AF_VSOCK)), EPERM);
    // The kernel reads `domain` as an int: high bits must not smuggle it in.
    assert_eq!(action(&f, "socket", args0(0x1_0000_0000 | AF_VSOCK)), EPERM);
    assert_eq!(action(&f, "socket", args0(0x1_0000_0000 | 2)), ALLOW);
}

#[test]
fn personality_values() {
    let f = compile(&[]);
    for p in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(action(&f, "personality", args0(p)), ALLOW, "{p:#x}");
    }
    for p in [1, 0x0040_0000 /* ADDR_NO_RANDOMIZE */, 0xffff_fffe] {
        assert_eq!(action(&f, "personality", args0(p)), EPERM, "{p:#x}");
    }
    // 64-bit ABIs compare the whole register (32-bit ones only see 0 here).
    let native = native_abis()[0];
    let nr = native.syscall_nr("personality").map_or(0, i64::from);
    assert_eq!(f.action_for(native.audit(), nr, args0(0x1_0000_0000)), EPERM);
}

#[test]
fn capabilities_open_their_groups() {
    let cases: &[(Capability, &[&str])] = &[
        (Capability::SysModule, &["init_module", "finit_module", "delete_module"]),
        (Capability::SysTime, &["settimeofday", "clock_settime"]),
        (Capability::SysPtrace, &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev"]),
        (Capability::Bpf, &["bpf"]),
        (Capability::Perfmon, &["perf_event_open"]),
        (Capability::SysNice, &["mbind", "set_mempolicy"]),
        (Capability::SysBoot, &["reboot"]),
        (Capability::Syslog, &["syslog"]),
        (Capability::SysPacct, &["acct"]),
        (Capability::SysChroot, &["chroot"]),
        (Capability::SysTtyConfig, &["vhangup"]),
        (Capability::DacReadSearch, &["open_by_handle_at"]),
    ];
    let none = compile(&[]);
    for &(cap, names) in cases {
        let f = compile(&[cap]);
        for name in names {
            assert_eq!(action(&none, name, [0; 6]), EPERM, "{name} without {cap:?}");
            assert_eq!(action(&f, name, [0; 6]), ALLOW, "{name} with {cap:?}");
        }
        // Only that group opens.
        assert_eq!(action(&f, "keyctl", [0; 6]), EPERM);
        assert_eq!(action(&f, "clone3", [0; 6]), ENOSYS);
    }
    if Family::NATIVE == Family::X86 {
        let raw = compile(&[Capability::SysRawio]);
        assert_eq!(action(&raw, "iopl", [0; 6]), ALLOW);
        assert_eq!(action(&raw, "ioperm", [0; 6]), ALLOW);
    }
}

#[test]
fn arch_specific_calls() {
    let f = compile(&[]);
    if Family::NATIVE == Family::X86 {
        // x86_64: arch_prctl; i386: socketcall, the 32-bit uid calls.
        assert_eq!(f.action_for(crate::AUDIT_ARCH_X86_64, 158, [0; 6]), ALLOW);
        assert_eq!(action(&f, "socketcall", [0; 6]), ALLOW);
        assert_eq!(action(&f, "getuid32", [0; 6]), ALLOW);
        assert_eq!(action(&f, "set_thread_area", [0; 6]), ALLOW);
        // x32 is covered: execve has its own x32 number.
        let x32_execve = 0x4000_0000 + 520;
        assert_eq!(f.action_for(crate::AUDIT_ARCH_X86_64, x32_execve, [0; 6]), ALLOW);
        assert_eq!(f.action_for(crate::AUDIT_ARCH_X86_64, 0x4000_0000 + 250, [0; 6]), EPERM);
        // The ARM ABIs are not in an x86 host's profile.
        assert_eq!(f.action_for(crate::AUDIT_ARCH_AARCH64, 63, [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
    } else {
        assert_eq!(action(&f, "set_tls", [0; 6]), ALLOW);
        assert_eq!(action(&f, "cacheflush", [0; 6]), ALLOW);
        assert_eq!(action(&f, "newfstatat", [0; 6]), ALLOW);
    }
}

#[test]
fn program_is_small_and_shallow() {
    let f = compile(&[]);
    let n = f.instructions().len();
    assert!(n < 1500, "default profile compiles to {n} instructions");
}
