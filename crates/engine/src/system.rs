//! What the engine is and what it runs on: `berth version`, `berth info`
//! and the Docker API's `/version` and `/info` all report these facts, so
//! they are gathered once, here.

use std::path::Path;

use serde::Serialize;

use crate::engine::Engine;
use crate::error::Result;
use crate::model::Status;

/// The engine's own version and the platform it was built for.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub version: String,
    pub os: String,
    /// Go's names (`amd64`, `arm64`), as docker clients expect.
    pub arch: String,
    pub kernel_version: String,
}

impl Version {
    pub fn current() -> Version {
        Version {
            version: env!("CARGO_PKG_VERSION").into(),
            os: std::env::consts::OS.into(),
            arch: go_arch().into(),
            kernel_version: kernel_version(),
        }
    }
}

/// docker's `info`: counts, the storage and cgroup setup, and the host.
/// Field names are docker's, so `{{.Driver}}` templates and API clients
/// read them unchanged.
#[derive(Clone, Debug, Serialize)]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Containers")]
    pub containers: usize,
    #[serde(rename = "ContainersRunning")]
    pub containers_running: usize,
    #[serde(rename = "ContainersPaused")]
    pub containers_paused: usize,
    #[serde(rename = "ContainersStopped")]
    pub containers_stopped: usize,
    #[serde(rename = "Images")]
    pub images: usize,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "DriverStatus")]
    pub driver_status: Vec<[String; 2]>,
    #[serde(rename = "LoggingDriver")]
    pub logging_driver: String,
    #[serde(rename = "CgroupDriver")]
    pub cgroup_driver: String,
    /// "1" on v1 and hybrid hosts (the controllers are v1's), "2" on v2.
    #[serde(rename = "CgroupVersion")]
    pub cgroup_version: String,
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: usize,
    #[serde(rename = "MemTotal")]
    pub mem_total: u64,
    #[serde(rename = "DockerRootDir")]
    pub root_dir: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "ServerVersion")]
    pub server_version: String,
    #[serde(rename = "Runtimes")]
    pub runtimes: std::collections::BTreeMap<String, RuntimeInfo>,
    #[serde(rename = "DefaultRuntime")]
    pub default_runtime: String,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    /// bridge-nf-call-iptables: whether bridged traffic passes iptables.
    #[serde(rename = "BridgeNfIptables")]
    pub bridge_nf_iptables: bool,
    #[serde(rename = "BridgeNfIp6tables")]
    pub bridge_nf_ip6tables: bool,
    #[serde(flatten)]
    pub cgroup_features: CgroupFeatures,
    /// The kernel's version (dockerd's OSVersion is the distribution's).
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    /// Now, in RFC 3339 with nanoseconds.
    #[serde(rename = "SystemTime")]
    pub system_time: String,
    #[serde(rename = "SecurityOptions")]
    pub security_options: Vec<String>,
    #[serde(rename = "Warnings")]
    pub warnings: Vec<String>,
}

/// The limits the host's cgroups can enforce, as dockerd reports them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CgroupFeatures {
    #[serde(rename = "MemoryLimit")]
    pub memory_limit: bool,
    #[serde(rename = "SwapLimit")]
    pub swap_limit: bool,
    /// cgroup v1's kmem.tcp (none on v2).
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: bool,
    #[serde(rename = "CpuCfsPeriod")]
    pub cpu_cfs_period: bool,
    #[serde(rename = "CpuCfsQuota")]
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    #[serde(rename = "PidsLimit")]
    pub pids_limit: bool,
    /// cgroup v1's memory.oom_control (v2 cannot disable the OOM killer).
    #[serde(rename = "OomKillDisable")]
    pub oom_kill_disable: bool,
}

impl CgroupFeatures {
    pub fn of(layout: &runtime::cgroups::Layout) -> CgroupFeatures {
        use runtime::cgroups::Layout;
        match layout {
            Layout::V2 { root } => {
                let text = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
                let has = |c: &str| text.split_whitespace().any(|x| x == c);
                CgroupFeatures {
                    memory_limit: has("memory"),
                    swap_limit: has("memory"),
                    kernel_memory_tcp: false,
                    cpu_cfs_period: has("cpu"),
                    cpu_cfs_quota: has("cpu"),
                    cpu_shares: has("cpu"),
                    cpu_set: has("cpuset"),
                    pids_limit: has("pids"),
                    oom_kill_disable: false,
                }
            }
            Layout::V1 { controllers, .. } => {
                let file = |c: &str, f: &str| controllers.get(c).is_some_and(|m| m.join(f).exists());
                CgroupFeatures {
                    memory_limit: file("memory", "memory.limit_in_bytes"),
                    swap_limit: file("memory", "memory.memsw.limit_in_bytes"),
                    kernel_memory_tcp: file("memory", "memory.kmem.tcp.limit_in_bytes"),
                    cpu_cfs_period: file("cpu", "cpu.cfs_period_us"),
                    cpu_cfs_quota: file("cpu", "cpu.cfs_quota_us"),
                    cpu_shares: file("cpu", "cpu.shares"),
                    cpu_set: controllers.contains_key("cpuset"),
                    pids_limit: controllers.contains_key("pids"),
                    oom_kill_disable: file("memory", "memory.oom_control"),
                }
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RuntimeInfo {
    pub path: String,
}

impl Engine {
    /// The facts of `berth info`. `exe` is the program that runs the
    /// containers (berth itself: its runtime is built in).
    pub fn info(&self, exe: &Path) -> Result<Info> {
        let cs = self.containers()?;
        let count = |f: &dyn Fn(&Status) -> bool| cs.iter().filter(|c| f(&c.state.status)).count();
        let running = count(&|s| matches!(s, Status::Running | Status::Restarting));
        let paused = count(&|s| *s == Status::Paused);
        let layout = runtime::cgroups::Layout::detect();
        let mut warnings = Vec::new();
        let cgroup_version = match &layout {
            Ok(l) if l.is_v2() => "2",
            Ok(_) => "1",
            Err(e) => {
                warnings.push(format!("WARNING: no cgroup hierarchy found: {e}"));
                ""
            }
        };
        let ipv4_forwarding = read_trimmed("/proc/sys/net/ipv4/ip_forward").as_deref() == Some("1");
        if !ipv4_forwarding {
            warnings.push(
                "WARNING: IPv4 forwarding is disabled (berth enables it when a container publishes a port)".into(),
            );
        }
        let v = Version::current();
        let name = read_trimmed("/proc/sys/kernel/hostname").unwrap_or_default();
        let cgroup_features = layout.as_ref().map(CgroupFeatures::of).unwrap_or_default();
        // Without br_netfilter loaded the files are absent: no filtering.
        let bridge_nf = |f: &str| read_trimmed(&format!("/proc/sys/net/bridge/{f}")).as_deref() == Some("1");
        Ok(Info {
            id: name.clone(),
            containers: cs.len(),
            containers_running: running,
            containers_paused: paused,
            containers_stopped: cs.len() - running - paused,
            images: self.images.images()?.len(),
            driver: "overlay2".into(),
            driver_status: vec![["Backing Filesystem".into(), backing_filesystem(self.root())]],
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version.into(),
            kernel_version: v.kernel_version,
            operating_system: os_name(),
            os_type: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total: mem_total(),
            root_dir: self.root().display().to_string(),
            name,
            server_version: v.version,
            runtimes: [("berth".to_string(), RuntimeInfo { path: exe.display().to_string() })].into(),
            default_runtime: "berth".into(),
            ipv4_forwarding,
            bridge_nf_iptables: bridge_nf("bridge-nf-call-iptables"),
            bridge_nf_ip6tables: bridge_nf("bridge-nf-call-ip6tables"),
            cgroup_features,
            os_version: os_version(),
            system_time: crate::engine::now_rfc3339(),
            security_options: vec!["name=seccomp,profile=builtin".into()],
            warnings,
        })
    }
}

/// Go's GOARCH for this build's architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub fn kernel_version() -> String {
    read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default()
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn os_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    pretty_name(&text).unwrap_or_else(|| "Linux".into())
}

/// os-release's VERSION_ID, dockerd's OSVersion.
fn os_version() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default()
}

fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string())
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| parse_mem_total(&m)).unwrap_or(0)
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let kb: u64 = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// docker's names for the filesystem under the state directory.
fn backing_filesystem(root: &Path) -> String {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    let Ok(path) = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()) else { return "unknown".into() };
    // SAFETY: `path` is a NUL-terminated string that outlives the call and
    // `st` is a writable statfs the kernel fills; it is read only on success.
    let st = unsafe {
        if libc::statfs(path.as_ptr(), st.as_mut_ptr()) != 0 {
            return "unknown".into();
        }
        st.assume_init()
    };
    fs_name(st.f_type as i64).into()
}

fn fs_name(magic: i64) -> &'static str {
    match magic {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_are_read_in_the_kernels_words() {
        assert_eq!(parse_mem_total("MemTotal:       24589460 kB\nMemFree: 1 kB\n"), Some(24_589_460 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(
            pretty_name("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(fs_name(0xEF53), "extfs");
        assert_eq!(fs_name(0x0102_1994), "tmpfs");
        assert_eq!(fs_name(1), "unknown");
    }

    #[test]
    fn info_counts_what_the_state_holds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("engine.json"), r#"{"nft_table":"berthsysinfo"}"#).unwrap();
        let e = Engine::open(dir.path()).unwrap();
        let info = e.info(Path::new("/usr/bin/berth")).unwrap();
        assert_eq!((info.containers, info.images), (0, 0));
        assert_eq!(info.driver, "overlay2");
        assert_eq!(info.root_dir, dir.path().display().to_string());
        assert_eq!(info.runtimes["berth"].path, "/usr/bin/berth");
        let v = serde_json::to_value(&info).unwrap();
        for field in ["ID", "NCPU", "CgroupVersion", "DockerRootDir", "ServerVersion", "OSType", "IPv4Forwarding"] {
            assert!(v.get(field).is_some(), "{field} missing from {v}");
        }
    }
}
