//! Linux capabilities: the five sets of the spec as bit masks, applied with
//! prctl (bounding, ambient) and one capset(2) (effective, permitted,
//! inheritable).

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// Capability numbers from <linux/capability.h>, by the name oci-spec prints
/// (without the CAP_ prefix).
const NUMBERS: &[(&str, u32)] = &[
    ("CHOWN", 0),
    ("DAC_OVERRIDE", 1),
    ("DAC_READ_SEARCH", 2),
    ("FOWNER", 3),
    ("FSETID", 4),
    ("KILL", 5),
    ("SETGID", 6),
    ("SETUID", 7),
    ("SETPCAP", 8),
    ("LINUX_IMMUTABLE", 9),
    ("NET_BIND_SERVICE", 10),
    ("NET_BROADCAST", 11),
    ("NET_ADMIN", 12),
    ("NET_RAW", 13),
    ("IPC_LOCK", 14),
    ("IPC_OWNER", 15),
    ("SYS_MODULE", 16),
    ("SYS_RAWIO", 17),
    ("SYS_CHROOT", 18),
    ("SYS_PTRACE", 19),
    ("SYS_PACCT", 20),
    ("SYS_ADMIN", 21),
    ("SYS_BOOT", 22),
    ("SYS_NICE", 23),
    ("SYS_RESOURCE", 24),
    ("SYS_TIME", 25),
    ("SYS_TTY_CONFIG", 26),
    ("MKNOD", 27),
    ("LEASE", 28),
    ("AUDIT_WRITE", 29),
    ("AUDIT_CONTROL", 30),
    ("SETFCAP", 31),
    ("MAC_OVERRIDE", 32),
    ("MAC_ADMIN", 33),
    ("SYSLOG", 34),
    ("WAKE_ALARM", 35),
    ("BLOCK_SUSPEND", 36),
    ("AUDIT_READ", 37),
    ("PERFMON", 38),
    ("BPF", 39),
    ("CHECKPOINT_RESTORE", 40),
];

/// The kernel's number for `cap` (CAP_CHOWN is 0); None for one this table
/// does not know, which the runtime then leaves out of every set.
pub fn number(cap: Capability) -> Option<u32> {
    let name = cap.to_string();
    NUMBERS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

fn mask(set: &Option<Capabilities>) -> u64 {
    set.iter().flatten().filter_map(|&c| number(c)).fold(0, |m, n| m | 1 << n)
}

/// The five capability sets as masks (bit n = capability n).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    /// Bounding set: what the process and its children can ever gain.
    pub bounding: u64,
    /// Effective set: what the process uses now.
    pub effective: u64,
    /// Permitted set: the limit of the effective set.
    pub permitted: u64,
    /// Inheritable set: kept across exec into programs with matching file
    /// capabilities.
    pub inheritable: u64,
    /// Ambient set: kept across exec into any unprivileged program.
    pub ambient: u64,
}

impl CapSets {
    /// No `capabilities` in the spec means no capabilities at all, as in runc.
    pub fn from_spec(caps: Option<&LinuxCapabilities>) -> CapSets {
        let Some(c) = caps else { return CapSets::default() };
        CapSets {
            bounding: mask(c.bounding()),
            effective: mask(c.effective()),
            permitted: mask(c.permitted()),
            inheritable: mask(c.inheritable()),
            ambient: mask(c.ambient()),
        }
    }

    /// Whether `set` (one of this struct's masks) holds `cap`.
    pub fn has(&self, set: u64, cap: Capability) -> bool {
        number(cap).is_some_and(|n| set & (1 << n) != 0)
    }
}

/// Drops every capability not in `bounding` from the bounding set. Needs
/// CAP_SETPCAP, so it runs before the user switch.
pub fn drop_bounding(bounding: u64) -> std::io::Result<()> {
    // Capabilities the kernel does not know answer EINVAL, so no lookup of
    // cap_last_cap in /proc (which may be the container's by now) is needed.
    for cap in 0..64u32 {
        if bounding & (1 << cap) == 0 {
            match sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong) {
                // A capability this kernel lacks is already absent.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable in one capset(2).
pub fn set(effective: u64, permitted: u64, inheritable: u64) -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: VERSION_3, pid: 0 };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        Data { effective: lo(effective), permitted: lo(permitted), inheritable: lo(inheritable) },
        Data { effective: hi(effective), permitted: hi(permitted), inheritable: hi(inheritable) },
    ];
    // SAFETY: header and the two data words are what capset(2) v3 expects and
    // live for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the ambient set (which must be within permitted ∩ inheritable).
pub fn set_ambient(ambient: u64) -> std::io::Result<()> {
    // Start from nothing: an ambient set inherited from the runtime's caller
    // must not leak into the container.
    let clear = libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong;
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes integer arguments only.
    unsafe { libc::prctl(libc::PR_CAP_AMBIENT, clear, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if ambient == 0 {
        return Ok(());
    }
    for cap in 0..64u32 {
        if ambient & (1 << cap) != 0 {
            // SAFETY: PR_CAP_AMBIENT_RAISE takes integer arguments only.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oci_capability_has_a_number() {
        for name in NUMBERS.iter().map(|(n, _)| n) {
            let cap: Capability = name.parse().unwrap();
            assert!(number(cap).is_some(), "{name}");
        }
        assert_eq!(number(Capability::SysAdmin), Some(21));
        assert_eq!(number(Capability::CheckpointRestore), Some(40));
    }

    #[test]
    fn masks_from_spec() {
        let spec: LinuxCapabilities =
            serde_json::from_str(r#"{"bounding":["CAP_KILL","CAP_NET_RAW"],"effective":["CAP_KILL"]}"#).unwrap();
        let sets = CapSets::from_spec(Some(&spec));
        assert_eq!(sets.bounding, 1 << 5 | 1 << 13);
        assert_eq!(sets.effective, 1 << 5);
        assert_eq!(sets.permitted, 0);
        assert!(sets.has(sets.bounding, Capability::NetRaw));
        assert_eq!(CapSets::from_spec(None), CapSets::default());
    }
}
