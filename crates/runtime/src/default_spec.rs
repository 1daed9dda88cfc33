//! The spec `berth runtime spec` writes: the same hardened defaults as
//! `runc spec` (three capabilities, no_new_privs, read-only rootfs, masked
//! and read-only /proc paths), plus the masks Docker added since for known
//! side channels (/proc/interrupts, powercap).

use oci_spec::runtime::Spec;

/// `linux.maskedPaths` of the default spec: kernel interfaces that leak host
/// information or allow side channels; the engine gives its containers the
/// same list.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// `linux.readonlyPaths` of the default spec (the engine's too): /proc files
/// that would let root in the container change the host's kernel.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The spec `berth runtime spec` writes for a bundle whose root is `rootfs`:
/// `args` as the process, root in the container, with a terminal when asked.
/// No user namespace and no seccomp profile (see [`add_default_seccomp`]).
pub fn default_spec(args: &[String], terminal: bool) -> Spec {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let doc = serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [format!("PATH={}", crate::process::plan::DEFAULT_PATH), "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS
        }
    });
    serde_json::from_value(doc).expect("the default spec is valid")
}

/// Adds berth's default seccomp profile, sized to the process's bounding
/// capabilities (capability-gated syscalls follow the capabilities).
pub fn add_default_seccomp(spec: &mut Spec) {
    let caps: Vec<_> = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|b| b.iter().copied().collect())
        .unwrap_or_default();
    let profile = seccomp::default_profile(&caps);
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(Some(profile));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_validates() {
        let s = default_spec(&["sh".into()], true);
        crate::spec::validate(&s, true).unwrap();
        assert_eq!(s.process().as_ref().unwrap().no_new_privileges(), Some(true));
        assert_eq!(s.linux().as_ref().unwrap().masked_paths().as_ref().unwrap().len(), MASKED_PATHS.len());
    }
}
