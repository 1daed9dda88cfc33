//! Seccomp for berth: compiles OCI runtime-spec seccomp profiles
//! (`linux.seccomp` in `config.json`) to classic BPF, installs them, and
//! provides berth's default profile.
//!
//! The compiler is self-contained (no libseccomp). The generated program
//! checks `seccomp_data.arch`, then finds the syscall with a binary search
//! over the sorted syscall numbers, so the per-syscall cost grows with the
//! logarithm of the profile size. [`Filter::action_for`] runs the program in
//! an interpreter, which is how the tests check the compiler and how the
//! runtime can ask a profile questions ("is `execveat` allowed?").
//!
//! # Semantics
//!
//! They follow runc on top of libseccomp:
//!
//! - The filter covers the profile's `architectures` plus the native one;
//!   syscalls from any other ABI get `SECCOMP_RET_KILL_PROCESS`. On x86_64,
//!   x32 syscalls (number bit 30 set) count as another ABI: they are
//!   filtered with the profile (by their x32 numbers) when `SCMP_ARCH_X32`
//!   is listed and killed otherwise. Syscall number -1, which tracers use to
//!   skip a call, gets the default action.
//! - Syscall names a table does not know are skipped (profiles name syscalls
//!   of newer kernels) and reported by [`Filter::skipped_syscalls`].
//! - The conditions of one rule are ANDed; several rules for one syscall are
//!   tried in profile order and the first whose conditions hold decides
//!   (with equal actions that is an OR). If none holds, the default action
//!   applies. A rule that compares the same argument twice is split into one
//!   rule per condition, as runc does.
//! - Arguments are compared as 64-bit unsigned values, high word first. On
//!   the 32-bit ABIs (x86, arm) only the low 32 bits are compared.
//! - `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` without `errnoRet` use `EPERM`.
//!   `SCMP_ACT_NOTIFY` is not supported.
//!
//! # Limitations
//!
//! On x86 (i386), socket calls made through the `socketcall(2)` multiplexer
//! carry their arguments in memory, which seccomp cannot inspect; rules on
//! `socket` etc. only apply to the direct syscalls. Big-endian ABIs are not
//! supported.

#![deny(missing_docs)]

mod arch;
mod bpf;
mod compile;
mod error;
mod profile;

#[cfg(test)]
mod tests;

use oci_spec::runtime::LinuxSeccomp;

pub use arch::{AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, NATIVE_AUDIT_ARCH};
pub use error::Error;
pub use profile::default_profile;

/// A compiled seccomp filter, ready to install.
#[derive(Clone, Debug)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: u32,
    skipped: Vec<String>,
}

impl Filter {
    /// Compiles an OCI seccomp profile.
    ///
    /// Errors name the offending profile field, e.g.
    /// `linux.seccomp.syscalls[3].args[0].index: 7 is out of range (0-5)`.
    pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, Error> {
        let compiled = compile::compile(profile)?;
        Ok(Filter { program: compiled.program, flags: compiled.flags, skipped: compiled.skipped })
    }

    /// Installs the filter on the calling thread with seccomp(2)
    /// (`SECCOMP_SET_MODE_FILTER`, with the profile's flags).
    ///
    /// The kernel requires either `no_new_privs` (`prctl(PR_SET_NO_NEW_PRIVS)`)
    /// or `CAP_SYS_ADMIN`; setting `no_new_privs` is left to the caller since
    /// it must happen at the right point of container setup. The call makes no
    /// allocation, so it may be used between fork and exec.
    pub fn install(&self) -> Result<(), Error> {
        let len = u16::try_from(self.program.len()).map_err(|_| Error::TooLarge { len: self.program.len() })?;
        let prog = libc::sock_fprog {
            len,
            // The kernel only reads through this pointer; the C type is
            // merely not const-correct.
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: seccomp(2) with SECCOMP_SET_MODE_FILTER reads `prog` and the
        // `len` instructions it points to, both of which are alive and
        // initialised for the duration of the call (`prog` is a local,
        // `self.program` is borrowed), and copies them into the kernel. It
        // writes no memory of this process. Arguments are passed as the
        // word-sized values the variadic `syscall` expects.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
                libc::c_ulong::from(self.flags),
                &prog as *const libc::sock_fprog,
            )
        };
        match ret {
            0 => Ok(()),
            // With SECCOMP_FILTER_FLAG_TSYNC, a positive return is the id of
            // a thread that could not be synchronized.
            // Thread ids are pids, which fit an i32.
            tid if tid > 0 => Err(Error::Tsync { tid: tid as i32 }),
            _ => Err(Error::Install(std::io::Error::last_os_error())),
        }
    }

    /// The BPF program, as passed to the kernel.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits used by [`Filter::install`].
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Syscall names of the profile that none of its architectures knows;
    /// they were left out of the filter (callers may want to log them).
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// The seccomp return value (`SECCOMP_RET_*` action | data) the filter
    /// gives a syscall, found by running the program in an interpreter.
    ///
    /// `arch` is an `AUDIT_ARCH_*` value ([`NATIVE_AUDIT_ARCH`] for the host
    /// ABI); `nr` is the syscall number as the kernel sees it (an `int`: it is
    /// truncated to 32 bits; x32 numbers include bit 30).
    ///
    /// ```
    /// # fn main() -> Result<(), seccomp::Error> {
    /// let filter = seccomp::Filter::compile(&seccomp::default_profile(&[]))?;
    /// let getpid = if cfg!(target_arch = "x86_64") { 39 } else { 172 };
    /// let ret = filter.action_for(seccomp::NATIVE_AUDIT_ARCH, getpid, [0; 6]);
    /// assert_eq!(ret, libc::SECCOMP_RET_ALLOW);
    /// # Ok(())
    /// # }
    /// ```
    pub fn action_for(&self, arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        // seccomp_data.nr is an int: keep the low 32 bits, as the kernel would.
        let data = bpf::seccomp_data(arch, nr as u32, &args);
        bpf::run(&self.program, &data)
    }
}
