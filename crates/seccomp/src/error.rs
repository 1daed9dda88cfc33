//! Errors. Profile errors name the offending field of `config.json` the way a
//! user would look it up (`linux.seccomp.syscalls[3].args[0].index`).

/// Why a profile could not be compiled or a filter not installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An architecture this compiler has no syscall table for.
    #[error("linux.seccomp.architectures[{index}]: unsupported architecture {arch}")]
    UnsupportedArch {
        /// Position in `linux.seccomp.architectures`.
        index: usize,
        /// The profile's spelling, e.g. `SCMP_ARCH_MIPS`.
        arch: String,
    },

    /// An action the filter cannot implement (`SCMP_ACT_NOTIFY`).
    #[error("{field}: action {action} is not supported")]
    UnsupportedAction {
        /// `linux.seccomp.defaultAction` or `linux.seccomp.syscalls[i]`.
        field: String,
        /// The profile's spelling, e.g. `SCMP_ACT_NOTIFY`.
        action: String,
    },

    /// A filter flag that cannot be used (it only applies to notification).
    #[error("linux.seccomp.flags[{index}]: {flag} is not supported (it requires SCMP_ACT_NOTIFY)")]
    UnsupportedFlag {
        /// Position in `linux.seccomp.flags`.
        index: usize,
        /// The profile's spelling of the flag.
        flag: String,
    },

    /// `args[].index` names an argument a syscall cannot have.
    #[error("linux.seccomp.syscalls[{syscall}].args[{arg}].index: {index} is out of range (0-5)")]
    ArgIndex {
        /// Position in `linux.seccomp.syscalls`.
        syscall: usize,
        /// Position in that entry's `args`.
        arg: usize,
        /// The offending index.
        index: usize,
    },

    /// An errno/trace value that does not fit `SECCOMP_RET_DATA`.
    #[error("{field}: {value} does not fit in the 16-bit data of a seccomp action (max 65535)")]
    RetData {
        /// `linux.seccomp.defaultErrnoRet` or `linux.seccomp.syscalls[i].errnoRet`.
        field: String,
        /// The offending value.
        value: u32,
    },

    /// An empty string in `names`.
    #[error("linux.seccomp.syscalls[{syscall}].names[{name}]: empty syscall name")]
    EmptyName {
        /// Position in `linux.seccomp.syscalls`.
        syscall: usize,
        /// Position in that entry's `names`.
        name: usize,
    },

    /// The compiled program exceeds the kernel's `BPF_MAXINSNS`.
    #[error("program too large: {len} instructions (limit 4096)")]
    TooLarge {
        /// Length of the program that was generated.
        len: usize,
    },

    /// The host is not one of x86_64, x86, aarch64, arm.
    #[error("seccomp filters cannot be compiled for this host architecture")]
    UnsupportedHost,

    /// seccomp(2) rejected the filter.
    #[error("seccomp(2) failed: {0}")]
    Install(#[source] std::io::Error),

    /// With `SECCOMP_FILTER_FLAG_TSYNC`, another thread could not be moved to
    /// the new filter.
    #[error("seccomp(2) failed: thread {tid} could not be synchronized (SECCOMP_FILTER_FLAG_TSYNC)")]
    Tsync {
        /// The thread that could not be synchronized.
        tid: i32,
    },
}
