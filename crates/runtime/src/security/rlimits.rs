//! POSIX resource limits from `process.rlimits`.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

/// glibc types the resource argument as an enum, musl as an int.
#[cfg(target_env = "gnu")]
pub type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub type Resource = libc::c_int;

/// The RLIMIT_* constant of a spec rlimit type.
pub fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// One limit ready to apply: (resource, soft, hard).
pub type Rlimit = (Resource, u64, u64);

/// `process.rlimits` as (resource, soft, hard), in the spec's order; none
/// given: none set (the init inherits ours).
pub fn from_spec(limits: Option<&Vec<PosixRlimit>>) -> Vec<Rlimit> {
    limits.into_iter().flatten().map(|r| (resource(r.typ()), r.soft(), r.hard())).collect()
}

/// Applies the limits; the error names the index of the offending entry.
pub fn apply(limits: &[Rlimit]) -> Result<(), (usize, std::io::Error)> {
    for (i, &(res, soft, hard)) in limits.iter().enumerate() {
        let lim = libc::rlimit64 { rlim_cur: soft, rlim_max: hard };
        // SAFETY: `lim` is a valid rlimit64; the old-value pointer may be null.
        if unsafe { libc::prlimit64(0, res, &lim, std::ptr::null_mut()) } < 0 {
            return Err((i, std::io::Error::last_os_error()));
        }
    }
    Ok(())
}
