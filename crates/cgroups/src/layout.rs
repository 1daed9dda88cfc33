use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The cgroup v1 controllers berth manages. Other v1 hierarchies (such as
/// `name=systemd`) belong to the host and are left alone.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
];

/// Where the host's cgroup hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1: one hierarchy per controller (or per group of co-mounted
    /// controllers, e.g. `cpu,cpuacct`, which then share a mount point).
    V1 {
        /// Controller name → mount point of its hierarchy.
        controllers: BTreeMap<String, PathBuf>,
        /// A cgroup2 mount next to the v1 hierarchies ("hybrid" hosts).
        /// berth tracks its processes there too, for `cgroup.kill`.
        unified: Option<PathBuf>,
    },
    /// cgroup v2: a single hierarchy.
    V2 { root: PathBuf },
}

impl Layout {
    /// The layout of the calling process's mount namespace.
    pub fn detect() -> Result<Layout> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.into(), source })?;
        Layout::from_mountinfo(&text)
    }

    /// Parses the text of `/proc/<pid>/mountinfo`. The host is v1 (or hybrid)
    /// when any controller of [`V1_CONTROLLERS`] has a v1 mount, v2 when only
    /// a cgroup2 mount exists. The first mount of each hierarchy wins.
    pub fn from_mountinfo(text: &str) -> Result<Layout> {
        let mut controllers = BTreeMap::new();
        let mut unified = None;
        for line in text.lines() {
            let Some(m) = MountLine::parse(line) else {
                continue;
            };
            match m.fstype {
                "cgroup2" => {
                    unified.get_or_insert(m.mount_point);
                }
                "cgroup" => {
                    for opt in m.super_options.split(',') {
                        if V1_CONTROLLERS.contains(&opt) {
                            controllers.entry(opt.to_string()).or_insert_with(|| m.mount_point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        match (controllers.is_empty(), unified) {
            (false, unified) => Ok(Layout::V1 { controllers, unified }),
            (true, Some(root)) => Ok(Layout::V2 { root }),
            (true, None) => Err(Error::NoCgroupFs { path: "/proc/self/mountinfo".into() }),
        }
    }

    /// A v1 layout from (controller, mount point) pairs; co-mounted
    /// controllers are listed once each with the same mount point.
    pub fn v1<I, K, P>(controllers: I, unified: Option<PathBuf>) -> Layout
    where
        I: IntoIterator<Item = (K, P)>,
        K: Into<String>,
        P: Into<PathBuf>,
    {
        Layout::V1 { controllers: controllers.into_iter().map(|(k, p)| (k.into(), p.into())).collect(), unified }
    }

    /// A v2 layout rooted at `root`.
    pub fn v2(root: impl Into<PathBuf>) -> Layout {
        Layout::V2 { root: root.into() }
    }

    pub fn is_v2(&self) -> bool {
        matches!(self, Layout::V2 { .. })
    }
}

struct MountLine<'a> {
    mount_point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

impl<'a> MountLine<'a> {
    /// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`:
    /// the optional fields end at the lone `-`.
    fn parse(line: &'a str) -> Option<MountLine<'a>> {
        let mut fields = line.split(' ');
        let mount_point = fields.nth(4)?;
        let mut rest = fields.skip_while(|f| *f != "-");
        rest.next()?;
        let fstype = rest.next()?;
        let _source = rest.next()?;
        let super_options = rest.next().unwrap_or("");
        Some(MountLine { mount_point: PathBuf::from(unescape(mount_point)), fstype, super_options })
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_COMOUNTED: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
27 26 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
30 26 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
31 26 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
32 26 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
33 26 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset
34 26 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
35 26 0:33 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,devices
36 26 0:34 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,freezer
37 26 0:35 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,blkio
38 26 0:36 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,hugetlb
39 26 0:37 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,perf_event
";

    // This VM: separate cpu and cpuacct mounts, a cgroup2 tree at unified/.
    const HYBRID: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const V2: &str = "\
24 31 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
26 24 0:24 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:9 - pstore pstore rw
";

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn v1_with_comounted_cpu_cpuacct() {
        let Layout::V1 { controllers, unified } = Layout::from_mountinfo(V1_COMOUNTED).unwrap() else {
            panic!("expected v1");
        };
        assert_eq!(unified, None);
        assert_eq!(controllers["cpu"], p("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(controllers["cpuacct"], p("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(controllers["net_prio"], p("/sys/fs/cgroup/net_cls,net_prio"));
        assert_eq!(controllers["hugetlb"], p("/sys/fs/cgroup/hugetlb"));
        assert!(!controllers.contains_key("name=systemd"));
        assert!(!controllers.contains_key("systemd"));
        assert_eq!(controllers.len(), 12);
    }

    #[test]
    fn hybrid_host() {
        let layout = Layout::from_mountinfo(HYBRID).unwrap();
        let expected = Layout::v1(
            [
                ("cpu", "/sys/fs/cgroup/cpu"),
                ("cpuacct", "/sys/fs/cgroup/cpuacct"),
                ("cpuset", "/sys/fs/cgroup/cpuset"),
                ("memory", "/sys/fs/cgroup/memory"),
                ("devices", "/sys/fs/cgroup/devices"),
                ("freezer", "/sys/fs/cgroup/freezer"),
                ("blkio", "/sys/fs/cgroup/blkio"),
                ("pids", "/sys/fs/cgroup/pids"),
            ],
            Some(p("/sys/fs/cgroup/unified")),
        );
        assert_eq!(layout, expected);
        assert!(!layout.is_v2());
    }

    #[test]
    fn pure_v2() {
        let layout = Layout::from_mountinfo(V2).unwrap();
        assert_eq!(layout, Layout::v2("/sys/fs/cgroup"));
        assert!(layout.is_v2());
    }

    #[test]
    fn v2_with_only_named_v1_hierarchy_is_v2() {
        let text = format!("{V2}40 25 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n");
        assert_eq!(Layout::from_mountinfo(&text).unwrap(), Layout::v2("/sys/fs/cgroup"));
    }

    #[test]
    fn no_cgroups_is_an_error() {
        let err = Layout::from_mountinfo("22 27 0:21 / /proc rw - proc proc rw\n\ngarbage\n").unwrap_err();
        assert!(matches!(err, Error::NoCgroupFs { .. }), "{err}");
    }

    #[test]
    fn escaped_mount_points() {
        let text = "41 31 0:38 / /mnt/my\\040cgroup\\134x rw - cgroup2 cgroup2 rw\n";
        assert_eq!(Layout::from_mountinfo(text).unwrap(), Layout::v2("/mnt/my cgroup\\x"));
        assert_eq!(unescape("a\\04"), "a\\04");
        assert_eq!(unescape("\\"), "\\");
    }

    #[test]
    fn detect_on_this_host() {
        // Whatever the host is, detection must not fail where cgroups exist.
        if Path::new("/sys/fs/cgroup").exists() {
            Layout::detect().unwrap();
        }
    }
}
