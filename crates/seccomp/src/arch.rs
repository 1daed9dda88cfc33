//! Architectures: the `AUDIT_ARCH_*` value the kernel puts in
//! `seccomp_data.arch`, and syscall name → number tables per architecture.
//!
//! Syscall numbers are per ABI, so a filter that is meant to cover 32-bit
//! binaries on a 64-bit host needs one number table per ABI. The tables come
//! from the `syscalls` crate (generated from the kernel's syscall tables),
//! completed with the few names libseccomp/Docker profiles use that the crate
//! spells differently or does not know (ARM private calls, x32 numbering).

use std::collections::HashMap;
use std::sync::OnceLock;

use oci_spec::runtime::Arch as OciArch;

/// `AUDIT_ARCH_X86_64` (linux/audit.h): x86_64 and x32 processes.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386` (linux/audit.h): 32-bit x86 processes.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64` (linux/audit.h): 64-bit ARM processes.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_ARM` (linux/audit.h): 32-bit ARM EABI processes.
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// x32 shares `AUDIT_ARCH_X86_64` with x86_64; only this bit in the syscall
/// number tells the two ABIs apart (`__X32_SYSCALL_BIT`).
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The audit architecture of the host, the value `seccomp_data.arch` has for
/// the runtime's own (native) processes.
#[cfg(target_arch = "x86_64")]
pub const NATIVE_AUDIT_ARCH: u32 = AUDIT_ARCH_X86_64;
/// The audit architecture of the host, the value `seccomp_data.arch` has for
/// the runtime's own (native) processes.
#[cfg(target_arch = "aarch64")]
pub const NATIVE_AUDIT_ARCH: u32 = AUDIT_ARCH_AARCH64;
/// The audit architecture of the host, the value `seccomp_data.arch` has for
/// the runtime's own (native) processes.
#[cfg(target_arch = "x86")]
pub const NATIVE_AUDIT_ARCH: u32 = AUDIT_ARCH_I386;
/// The audit architecture of the host, the value `seccomp_data.arch` has for
/// the runtime's own (native) processes.
#[cfg(target_arch = "arm")]
pub const NATIVE_AUDIT_ARCH: u32 = AUDIT_ARCH_ARM;

/// An ABI the compiler can generate a syscall-number tree for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arch {
    X86_64,
    X32,
    X86,
    Aarch64,
    Arm,
}

impl Arch {
    #[cfg(target_arch = "x86_64")]
    pub(crate) const NATIVE: Option<Arch> = Some(Arch::X86_64);
    #[cfg(target_arch = "aarch64")]
    pub(crate) const NATIVE: Option<Arch> = Some(Arch::Aarch64);
    #[cfg(target_arch = "x86")]
    pub(crate) const NATIVE: Option<Arch> = Some(Arch::X86);
    #[cfg(target_arch = "arm")]
    pub(crate) const NATIVE: Option<Arch> = Some(Arch::Arm);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "x86", target_arch = "arm")))]
    pub(crate) const NATIVE: Option<Arch> = None;

    /// Maps a profile architecture; `None` for the ones without a table here.
    pub(crate) fn from_oci(arch: OciArch) -> Option<Arch> {
        match arch {
            OciArch::ScmpArchNative => Arch::NATIVE,
            OciArch::ScmpArchX86_64 => Some(Arch::X86_64),
            OciArch::ScmpArchX32 => Some(Arch::X32),
            OciArch::ScmpArchX86 => Some(Arch::X86),
            OciArch::ScmpArchAarch64 => Some(Arch::Aarch64),
            OciArch::ScmpArchArm => Some(Arch::Arm),
            _ => None,
        }
    }

    pub(crate) const fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
            Arch::Arm => AUDIT_ARCH_ARM,
        }
    }

    /// Whether syscall arguments are 32-bit registers. For these ABIs only the
    /// low word of `seccomp_data.args[i]` is compared, as libseccomp does.
    /// x32 is deliberately not one of them: its syscalls take full 64-bit
    /// registers, so comparing the high word too is the stricter choice.
    pub(crate) const fn has_32bit_args(self) -> bool {
        matches!(self, Arch::X86 | Arch::Arm)
    }

    /// The syscall number of `name` in this ABI (x32 numbers include
    /// [`X32_SYSCALL_BIT`]), or `None` if the ABI has no such syscall.
    pub(crate) fn syscall_nr(self, name: &str) -> Option<u32> {
        table(self).get(name).copied()
    }
}

type Table = HashMap<&'static str, u32>;

/// Builds a name → number map from one of the `syscalls` crate's per-arch
/// `Sysno` enums. `Sysno::iter()` is not used because it stops before the
/// last entry; walking the numeric range with `Sysno::new` is exact.
macro_rules! sysno_table {
    ($arch:ident) => {{
        use syscalls::$arch::Sysno;
        let first = Sysno::first().id();
        let last = Sysno::last().id();
        let mut t = Table::with_capacity(Sysno::count() + 8);
        for id in first..=last {
            if let Some(s) = usize::try_from(id).ok().and_then(Sysno::new) {
                // Table ids are small and non-negative.
                t.insert(s.name(), s.id() as u32);
            }
        }
        t
    }};
}

/// Lazily built because a lookup in the `syscalls` crate's `FromStr` is a
/// linear string match over ~450 arms; hashing keeps a compile in the
/// microseconds.
fn table(arch: Arch) -> &'static Table {
    static X86_64: OnceLock<Table> = OnceLock::new();
    static X32: OnceLock<Table> = OnceLock::new();
    static X86: OnceLock<Table> = OnceLock::new();
    static AARCH64: OnceLock<Table> = OnceLock::new();
    static ARM: OnceLock<Table> = OnceLock::new();
    match arch {
        Arch::X86_64 => X86_64.get_or_init(|| sysno_table!(x86_64)),
        Arch::X32 => X32.get_or_init(|| x32_table(table(Arch::X86_64))),
        Arch::X86 => X86.get_or_init(|| sysno_table!(x86)),
        Arch::Aarch64 => AARCH64.get_or_init(|| {
            let mut t = sysno_table!(aarch64);
            add_aliases(&mut t, AARCH64_ALIASES);
            t
        }),
        Arch::Arm => ARM.get_or_init(|| {
            let mut t = sysno_table!(arm);
            add_aliases(&mut t, ARM_ALIASES);
            t.extend(ARM_PRIVATE.iter().copied());
            t
        }),
    }
}

/// Names the kernel's generic table (and so libseccomp and Docker) uses
/// where the `syscalls` crate has another spelling: (alias, crate name).
const AARCH64_ALIASES: &[(&str, &str)] = &[("newfstatat", "fstatat")];
const ARM_ALIASES: &[(&str, &str)] =
    &[("fadvise64_64", "arm_fadvise64_64"), ("sync_file_range2", "arm_sync_file_range")];

/// ARM private syscalls (`__ARM_NR_BASE` + n, arch/arm/include/uapi/asm/unistd.h):
/// glibc uses `set_tls`, JITs use `cacheflush`, so profiles list them.
const ARM_PRIVATE: &[(&str, u32)] = &[
    ("breakpoint", 0x0f_0001),
    ("cacheflush", 0x0f_0002),
    ("usr26", 0x0f_0003),
    ("usr32", 0x0f_0004),
    ("set_tls", 0x0f_0005),
    ("get_tls", 0x0f_0006),
];

fn add_aliases(t: &mut Table, aliases: &[(&'static str, &str)]) {
    for &(alias, name) in aliases {
        if let Some(&nr) = t.get(name) {
            t.insert(alias, nr);
        }
    }
}

/// x32 syscalls whose x86_64 entry takes 64-bit structures got their own
/// numbers 512..=547 (arch/x86/entry/syscalls/syscall_64.tbl, "x32" rows);
/// their x86_64 numbers are not valid x32 syscalls.
const X32_RENUMBERED: &[(&str, u32)] = &[
    ("rt_sigaction", 512),
    ("rt_sigreturn", 513),
    ("ioctl", 514),
    ("readv", 515),
    ("writev", 516),
    ("recvfrom", 517),
    ("sendmsg", 518),
    ("recvmsg", 519),
    ("execve", 520),
    ("ptrace", 521),
    ("rt_sigpending", 522),
    ("rt_sigtimedwait", 523),
    ("rt_sigqueueinfo", 524),
    ("sigaltstack", 525),
    ("timer_create", 526),
    ("mq_notify", 527),
    ("kexec_load", 528),
    ("waitid", 529),
    ("set_robust_list", 530),
    ("get_robust_list", 531),
    ("vmsplice", 532),
    ("move_pages", 533),
    ("preadv", 534),
    ("pwritev", 535),
    ("rt_tgsigqueueinfo", 536),
    ("recvmmsg", 537),
    ("sendmmsg", 538),
    ("process_vm_readv", 539),
    ("process_vm_writev", 540),
    ("setsockopt", 541),
    ("getsockopt", 542),
    ("io_setup", 543),
    ("io_submit", 544),
    ("execveat", 545),
    ("preadv2", 546),
    ("pwritev2", 547),
];

/// x86_64-only ("64") rows of the table that have no x32 counterpart.
const X32_MISSING: &[&str] = &[
    "uselib",
    "_sysctl",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "set_thread_area",
    "get_thread_area",
    "epoll_ctl_old",
    "epoll_wait_old",
    "vserver",
    "uretprobe",
    "uprobe",
];

fn x32_table(x86_64: &Table) -> Table {
    let mut t = Table::with_capacity(x86_64.len());
    for (&name, &nr) in x86_64 {
        if X32_MISSING.contains(&name) {
            continue;
        }
        let nr = X32_RENUMBERED.iter().find(|&&(n, _)| n == name).map_or(nr, |&(_, x32)| x32);
        t.insert(name, X32_SYSCALL_BIT | nr);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_differ_per_abi() {
        assert_eq!(Arch::X86_64.syscall_nr("getpid"), Some(39));
        assert_eq!(Arch::X86.syscall_nr("getpid"), Some(20));
        assert_eq!(Arch::Aarch64.syscall_nr("getpid"), Some(172));
        assert_eq!(Arch::Arm.syscall_nr("getpid"), Some(20));
        assert_eq!(Arch::X32.syscall_nr("getpid"), Some(X32_SYSCALL_BIT | 39));
        // The last entry of a table is present (Sysno::iter() would miss it).
        let last = syscalls::x86_64::Sysno::last();
        assert_eq!(Arch::X86_64.syscall_nr(last.name()), Some(last.id() as u32));
    }

    #[test]
    fn x32_renumbering() {
        assert_eq!(Arch::X32.syscall_nr("execve"), Some(X32_SYSCALL_BIT | 520));
        assert_eq!(Arch::X32.syscall_nr("ioctl"), Some(X32_SYSCALL_BIT | 514));
        assert_eq!(Arch::X32.syscall_nr("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(Arch::X32.syscall_nr("uselib"), None);
        assert_eq!(Arch::X86_64.syscall_nr("execve"), Some(59));
        // Every renumbered name exists in the x86_64 table (catches typos).
        for (name, _) in X32_RENUMBERED {
            assert!(Arch::X86_64.syscall_nr(name).is_some(), "{name}");
        }
    }

    #[test]
    fn aliases_and_private_calls() {
        assert_eq!(Arch::Aarch64.syscall_nr("newfstatat"), Some(79));
        assert_eq!(Arch::Arm.syscall_nr("set_tls"), Some(0x0f_0005));
        assert_eq!(Arch::Arm.syscall_nr("sync_file_range2"), Some(341));
        assert_eq!(Arch::Arm.syscall_nr("fadvise64_64"), Some(270));
        assert_eq!(Arch::X86_64.syscall_nr("set_tls"), None);
        assert_eq!(Arch::X86_64.syscall_nr("no_such_syscall"), None);
    }

    #[test]
    fn oci_arch_mapping() {
        assert_eq!(Arch::from_oci(OciArch::ScmpArchNative), Arch::NATIVE);
        assert_eq!(Arch::from_oci(OciArch::ScmpArchX32), Some(Arch::X32));
        assert_eq!(Arch::from_oci(OciArch::ScmpArchMips), None);
        assert_eq!(Arch::from_oci(OciArch::ScmpArchX86_64).map(Arch::audit), Some(OciArch::ScmpArchX86_64 as u32));
        assert_eq!(Arch::from_oci(OciArch::ScmpArchX86).map(Arch::audit), Some(OciArch::ScmpArchX86 as u32));
        assert_eq!(Arch::from_oci(OciArch::ScmpArchArm).map(Arch::audit), Some(OciArch::ScmpArchArm as u32));
        assert_eq!(Arch::from_oci(OciArch::ScmpArchAarch64).map(Arch::audit), Some(OciArch::ScmpArchAarch64 as u32));
    }
}
