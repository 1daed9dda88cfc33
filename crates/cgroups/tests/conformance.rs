//! One conformance suite for every cgroup manager, in the manner of
//! containerd's snapshotter test suite: each case is a function over a
//! [`Fixture`], and `suite!` instantiates all cases for a fake v1 cgroupfs,
//! a fake v2 cgroupfs and the real hierarchies of the host (root only).
//!
//! The fakes are tempdirs that behave like the kernel where it matters:
//! [`Fixture::before_create`] adds the control files a new cgroup directory
//! would have (so the manager, which never creates files, finds them),
//! [`Fixture::before_destroy`] removes them again (rmdir on cgroupfs does
//! not care about control files, on a tempdir it does), and the v2 fake runs
//! a small "kernel" thread that reports freezing in cgroup.events.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cgroups::{manager, CgroupManager, Error, Layout};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxHugepageLimitBuilder,
    LinuxMemoryBuilder, LinuxNetworkBuilder, LinuxPidsBuilder, LinuxRdmaBuilder, LinuxResources, LinuxResourcesBuilder,
    LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};

// ---------------------------------------------------------------- fixtures

trait Fixture {
    fn layout(&self) -> &Layout;
    /// Real cgroupfs: processes, kernel refusals and timing can be tested.
    fn real(&self) -> bool;
    /// Where `controller`'s files for group `rel` live, and whether that
    /// directory is cgroup2 (hybrid hosts keep hugetlb there). `None` when
    /// the host lacks the controller.
    fn dir(&self, controller: &str, rel: &Path) -> Option<(PathBuf, bool)>;
    /// Emulates the kernel's mkdir: control files appear (fakes only).
    fn before_create(&self, _rel: &Path) {}
    /// Emulates the kernel's rmdir: control files go (fakes only).
    fn before_destroy(&self, _rel: &Path) {}
    /// Starts emulating asynchronous kernel behaviour for `rel` (fakes only).
    fn emulate(&self, _rel: &Path) -> Option<Emulator> {
        None
    }
    /// "major:minor" of a whole block device for throttle rules.
    fn block_device(&self) -> (i64, i64) {
        (8, 0)
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())).trim().to_string()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Files every fake group gets; roots get the same plus the values below.
fn v1_files(controller: &str) -> &'static [(&'static str, &'static str)] {
    match controller {
        "cpu" => &[
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.cfs_burst_us", "0"),
            ("cpu.idle", "0"),
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "0"),
            ("cpu.stat", "nr_periods 7\nnr_throttled 3\nthrottled_time 999\n"),
        ],
        "cpuacct" => &[("cpuacct.usage", "123456789"), ("cpuacct.stat", "user 10\nsystem 5\n")],
        "cpuset" => &[("cpuset.cpus", ""), ("cpuset.mems", "")],
        "memory" => &[
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ("memory.soft_limit_in_bytes", "9223372036854771712"),
            ("memory.kmem.limit_in_bytes", "9223372036854771712"),
            ("memory.kmem.tcp.limit_in_bytes", "9223372036854771712"),
            ("memory.swappiness", "60"),
            ("memory.use_hierarchy", "1"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            ("memory.usage_in_bytes", "5000"),
            ("memory.max_usage_in_bytes", "6000"),
            (
                "memory.stat",
                "cache 1\nrss 2\ntotal_cache 1000\ntotal_rss 2000\ntotal_active_file 300\ntotal_inactive_file 400\n",
            ),
        ],
        "devices" => &[("devices.allow", ""), ("devices.deny", ""), ("devices.list", "a *:* rwm\n")],
        "freezer" => &[("freezer.state", "THAWED")],
        "blkio" => &[
            ("blkio.weight", "500"),
            ("blkio.leaf_weight", "500"),
            ("blkio.weight_device", ""),
            ("blkio.leaf_weight_device", ""),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
        ],
        "pids" => &[("pids.max", "max"), ("pids.current", "4")],
        "hugetlb" => &[
            ("hugetlb.2MB.limit_in_bytes", "9223372036854771712"),
            ("hugetlb.2MB.rsvd.limit_in_bytes", "9223372036854771712"),
            ("hugetlb.1GB.limit_in_bytes", "9223372036854771712"),
        ],
        "net_cls" => &[("net_cls.classid", "0")],
        "net_prio" => &[("net_prio.ifpriomap", "")],
        "rdma" => &[("rdma.max", "")],
        _ => &[],
    }
}

const V1_COMMON: &[(&str, &str)] =
    &[("cgroup.procs", ""), ("tasks", ""), ("cgroup.clone_children", "0"), ("notify_on_release", "0")];

const V2_FILES: &[(&str, &str)] = &[
    ("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma"),
    ("cgroup.subtree_control", ""),
    ("cgroup.procs", ""),
    ("cgroup.type", "domain"),
    ("cgroup.events", "populated 0\nfrozen 0\n"),
    ("cgroup.freeze", "0"),
    ("cpu.weight", "100"),
    ("cpu.max", "max 100000"),
    ("cpu.max.burst", "0"),
    ("cpu.idle", "0"),
    ("cpu.stat", "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 7\nnr_throttled 3\nthrottled_usec 9\n"),
    ("cpuset.cpus", ""),
    ("cpuset.mems", ""),
    ("memory.max", "max"),
    ("memory.low", "0"),
    ("memory.high", "max"),
    ("memory.swap.max", "max"),
    ("memory.current", "5000"),
    ("memory.peak", "6000"),
    ("memory.stat", "anon 2000\nfile 1000\nkernel 10\n"),
    ("memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 2\n"),
    ("pids.max", "100"),
    ("pids.current", "4"),
    ("io.weight", ""),
    ("io.max", ""),
    ("hugetlb.2MB.max", "max"),
    ("hugetlb.2MB.rsvd.max", "max"),
    ("hugetlb.1GB.max", "max"),
    ("rdma.max", ""),
];

/// Fakes live on tmpfs when there is one: it is quick, and closer to
/// cgroupfs than a disk filesystem.
fn fake_root() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("cgroups-fake-").tempdir_in(shm);
    b.or_else(|_| tempfile::tempdir()).unwrap()
}

fn populate(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        let path = dir.join(name);
        if !path.exists() {
            write(&path, content);
        }
    }
}

/// Each level of `rel` below `root`, top first.
fn levels(root: &Path, rel: &Path) -> Vec<PathBuf> {
    let mut dir = root.to_path_buf();
    rel.components()
        .map(|c| {
            dir.push(c);
            dir.clone()
        })
        .collect()
}

fn strip_files(root: &Path, rel: &Path) {
    for dir in levels(root, rel) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

struct FakeV1 {
    _tmp: tempfile::TempDir,
    layout: Layout,
    /// Mount point → controllers in it.
    mounts: Vec<(PathBuf, Vec<&'static str>)>,
}

impl FakeV1 {
    fn fixture() -> Option<Box<dyn Fixture>> {
        let tmp = fake_root();
        let groups: &[&[&str]] = &[
            &["cpu", "cpuacct"],
            &["cpuset"],
            &["memory"],
            &["devices"],
            &["freezer"],
            &["blkio"],
            &["pids"],
            &["hugetlb"],
            &["net_cls", "net_prio"],
            &["rdma"],
        ];
        let mut mounts = Vec::new();
        let mut controllers = Vec::new();
        for g in groups {
            let mount = tmp.path().join(g.join(","));
            let mut files: Vec<(&str, &str)> = V1_COMMON.to_vec();
            for c in *g {
                files.extend(v1_files(c));
                controllers.push((c.to_string(), mount.clone()));
            }
            populate(&mount, &files);
            mounts.push((mount, g.to_vec()));
        }
        let cpuset = tmp.path().join("cpuset");
        write(&cpuset.join("cpuset.cpus"), "0-3");
        write(&cpuset.join("cpuset.mems"), "0");
        Some(Box::new(FakeV1 { layout: Layout::v1(controllers, None), _tmp: tmp, mounts }))
    }
}

impl Fixture for FakeV1 {
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn real(&self) -> bool {
        false
    }
    fn dir(&self, controller: &str, rel: &Path) -> Option<(PathBuf, bool)> {
        let Layout::V1 { controllers, .. } = &self.layout else { unreachable!() };
        controllers.get(controller).map(|m| (m.join(rel), false))
    }
    fn before_create(&self, rel: &Path) {
        for (mount, controllers) in &self.mounts {
            let mut files: Vec<(&str, &str)> = V1_COMMON.to_vec();
            for c in controllers {
                files.extend(v1_files(c));
            }
            for dir in levels(mount, rel) {
                populate(&dir, &files);
            }
        }
    }
    fn before_destroy(&self, rel: &Path) {
        for (mount, _) in &self.mounts {
            strip_files(mount, rel);
        }
    }
}

struct FakeV2 {
    tmp: tempfile::TempDir,
    layout: Layout,
}

impl FakeV2 {
    fn fixture() -> Option<Box<dyn Fixture>> {
        let tmp = fake_root();
        populate(tmp.path(), V2_FILES);
        write(&tmp.path().join("cpuset.cpus"), "0-3");
        Some(Box::new(FakeV2 { layout: Layout::v2(tmp.path()), tmp }))
    }
}

impl Fixture for FakeV2 {
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn real(&self) -> bool {
        false
    }
    fn dir(&self, _controller: &str, rel: &Path) -> Option<(PathBuf, bool)> {
        Some((self.tmp.path().join(rel), true))
    }
    fn before_create(&self, rel: &Path) {
        for dir in levels(self.tmp.path(), rel) {
            populate(&dir, V2_FILES);
        }
    }
    fn before_destroy(&self, rel: &Path) {
        strip_files(self.tmp.path(), rel);
    }
    fn emulate(&self, rel: &Path) -> Option<Emulator> {
        // The kernel reports in cgroup.events when a freeze request is done.
        let dir = self.tmp.path().join(rel);
        Some(Emulator::start(move || {
            if let Ok(want) = std::fs::read_to_string(dir.join("cgroup.freeze")) {
                let events = format!("populated 0\nfrozen {}\n", want.trim());
                let _ = std::fs::write(dir.join("cgroup.events"), events);
            }
        }))
    }
}

/// A background thread standing in for the kernel; stops when dropped.
struct Emulator {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    fn start(mut tick: impl FnMut() + Send + 'static) -> Emulator {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                tick();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Emulator { stop, thread: Some(thread) }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The host's own hierarchies. Variants of a hybrid host: as detected (v1
/// controllers + unified tree), v1 only (so kill_all must use the freezer),
/// and its unified tree driven as a v2 host.
struct Host {
    layout: Layout,
}

impl Host {
    fn detected() -> Option<Box<dyn Fixture>> {
        if !is_root() {
            eprintln!("skipped: real cgroup tests need root");
            return None;
        }
        let layout = Layout::detect().ok()?;
        Some(Box::new(Host { layout }))
    }

    fn v1_only() -> Option<Box<dyn Fixture>> {
        if !is_root() {
            eprintln!("skipped: real cgroup tests need root");
            return None;
        }
        match Layout::detect().ok()? {
            Layout::V1 { controllers, .. } => {
                Some(Box::new(Host { layout: Layout::V1 { controllers, unified: None } }))
            }
            Layout::V2 { .. } => {
                eprintln!("skipped: not a v1 host");
                None
            }
        }
    }

    fn unified_as_v2() -> Option<Box<dyn Fixture>> {
        if !is_root() {
            eprintln!("skipped: real cgroup tests need root");
            return None;
        }
        match Layout::detect().ok()? {
            Layout::V1 { unified: Some(u), .. } => Some(Box::new(Host { layout: Layout::v2(u) })),
            _ => {
                eprintln!("skipped: no unified tree next to v1");
                None
            }
        }
    }
}

fn v2_has(root: &Path, controller: &str) -> bool {
    std::fs::read_to_string(root.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|w| w == controller))
}

impl Fixture for Host {
    fn layout(&self) -> &Layout {
        &self.layout
    }
    fn real(&self) -> bool {
        true
    }
    fn dir(&self, controller: &str, rel: &Path) -> Option<(PathBuf, bool)> {
        match &self.layout {
            Layout::V1 { controllers, unified } => match controllers.get(controller) {
                Some(m) => Some((m.join(rel), false)),
                None if controller == "hugetlb" => {
                    unified.as_ref().filter(|u| v2_has(u, "hugetlb")).map(|u| (u.join(rel), true))
                }
                None => None,
            },
            Layout::V2 { root } => v2_has(root, controller).then(|| (root.join(rel), true)),
        }
    }
    fn block_device(&self) -> (i64, i64) {
        // Throttling needs a whole disk, not a partition: /sys/block has those.
        for e in std::fs::read_dir("/sys/block").into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if ["loop", "ram", "zram", "nbd"].iter().any(|p| name.starts_with(p)) {
                continue;
            }
            if let Ok(dev) = std::fs::read_to_string(e.path().join("dev")) {
                if let Some((a, b)) = dev.trim().split_once(':') {
                    if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                        return (a, b);
                    }
                }
            }
        }
        (8, 0)
    }
}

// ---------------------------------------------------------------- guards

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique_path() -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("berth/test-{}-{n}", std::process::id()))
}

/// A test group that is always destroyed, even when the test panics.
struct Group<'f> {
    fx: &'f dyn Fixture,
    rel: PathBuf,
    cg: Box<dyn CgroupManager>,
}

impl<'f> Group<'f> {
    fn new(fx: &'f dyn Fixture) -> Group<'f> {
        Group::at(fx, unique_path())
    }

    fn at(fx: &'f dyn Fixture, rel: PathBuf) -> Group<'f> {
        let cg = manager(fx.layout(), &rel);
        Group { fx, rel, cg }
    }

    fn created(fx: &'f dyn Fixture) -> Group<'f> {
        let g = Group::new(fx);
        g.create();
        g
    }

    fn create(&self) {
        self.fx.before_create(&self.rel);
        self.cg.create().unwrap();
    }

    fn destroy(&self) -> cgroups::Result<()> {
        self.fx.before_destroy(&self.rel);
        self.cg.destroy()
    }

    fn dir(&self, controller: &str) -> Option<(PathBuf, bool)> {
        self.fx.dir(controller, &self.rel)
    }

    fn file(&self, controller: &str, file: &str) -> PathBuf {
        self.dir(controller).unwrap_or_else(|| panic!("no {controller} controller")).0.join(file)
    }

    fn read(&self, controller: &str, file: &str) -> String {
        read(&self.file(controller, file))
    }
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        if self.fx.real() {
            let _ = self.cg.kill_all();
        }
        if let Err(e) = self.destroy() {
            eprintln!("destroying {}: {e}", self.rel.display());
            // Never leave test groups behind on the host.
            for p in self.cg.paths() {
                let _ = std::fs::remove_dir(&p);
                if let Some(parent) = p.parent().filter(|d| d.ends_with("berth")) {
                    let _ = std::fs::remove_dir(parent);
                }
            }
        }
    }
}

/// A helper process that waits for a line on stdin before running its
/// script (so it can be moved into a group first); killed when dropped.
struct Helper {
    child: Option<Child>,
}

impl Helper {
    fn spawn(script: &str) -> Helper {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read _go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Helper { child: Some(child) }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    fn go(&mut self) {
        let stdin = self.child.as_mut().unwrap().stdin.as_mut().unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn output(mut self) -> Output {
        let mut child = self.child.take().unwrap();
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn resources(f: impl FnOnce(LinuxResourcesBuilder) -> LinuxResourcesBuilder) -> LinuxResources {
    f(LinuxResourcesBuilder::default()).build().unwrap()
}

/// `r` failed because the host cannot enforce a field starting with `field`.
fn assert_unsupported(r: cgroups::Result<()>, field: &str) {
    match r {
        Err(e @ Error::Unsupported { .. }) => {
            assert!(e.field().unwrap().starts_with(field), "{e}");
        }
        other => panic!("expected Unsupported for {field}, got {other:?}"),
    }
}

// ---------------------------------------------------------------- cases

fn create_destroy_leaves_nothing(fx: &dyn Fixture) {
    let g = Group::new(fx);
    g.create();
    let paths = g.cg.paths();
    assert!(!paths.is_empty());
    for p in &paths {
        assert!(p.is_dir(), "{} missing", p.display());
        assert!(p.ends_with(&g.rel));
    }
    g.destroy().unwrap();
    for p in &paths {
        assert!(!p.exists(), "{} left behind", p.display());
        // On the host, other tests may hold berth/ at the same moment.
        if !fx.real() {
            let berth = p.parent().unwrap();
            assert!(!berth.exists(), "{} left behind", berth.display());
        }
    }

    // Deeper paths: every level below berth/ goes too.
    let rel = unique_path().join("nested");
    let g = Group::at(fx, rel);
    g.create();
    let paths = g.cg.paths();
    g.destroy().unwrap();
    for p in &paths {
        assert!(!p.exists() && !p.parent().unwrap().exists(), "{}", p.display());
    }
}

fn create_and_destroy_are_idempotent(fx: &dyn Fixture) {
    let g = Group::new(fx);
    g.destroy().unwrap(); // never created
    g.create();
    g.create();
    g.destroy().unwrap();
    g.destroy().unwrap();
    assert!(g.cg.paths().iter().all(|p| !p.exists()));
    // A group that does not exist is already empty.
    g.cg.kill_all().unwrap();
}

fn invalid_paths_are_refused(fx: &dyn Fixture) {
    for bad in ["berth/../../etc", "", "/"] {
        let cg = manager(fx.layout(), Path::new(bad));
        let err = cg.create().unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{bad:?}: {err}");
        assert!(cg.paths().is_empty());
        assert!(cg.destroy().is_err());
    }
    // cgroupsPath is absolute in the spec; it means "from the root".
    let cg = manager(fx.layout(), Path::new("/berth/x"));
    assert!(cg.paths().iter().all(|p| p.ends_with("berth/x")));
}

fn cpuset_is_inherited(fx: &dyn Fixture) {
    let Some((cpuset, false)) = fx.dir("cpuset", Path::new("")) else {
        return; // v2: empty means "inherit", nothing to copy
    };
    let g = Group::created(fx);
    let cpus = read(&cpuset.join("cpuset.cpus"));
    let mems = read(&cpuset.join("cpuset.mems"));
    for level in levels(&cpuset, &g.rel) {
        assert_eq!(read(&level.join("cpuset.cpus")), cpus);
        assert_eq!(read(&level.join("cpuset.mems")), mems);
    }
}

fn apply_memory(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let mem =
        LinuxMemoryBuilder::default().limit(256i64 << 20).reservation(128i64 << 20).swap(512i64 << 20).build().unwrap();
    let r = resources(|b| b.memory(mem));
    match g.dir("memory") {
        None => assert_unsupported(g.cg.apply(&r), "linux.resources.memory"),
        Some((_, false)) => {
            g.cg.apply(&r).unwrap();
            assert_eq!(g.read("memory", "memory.limit_in_bytes"), (256u64 << 20).to_string());
            assert_eq!(g.read("memory", "memory.soft_limit_in_bytes"), (128u64 << 20).to_string());
            assert_eq!(g.read("memory", "memory.memsw.limit_in_bytes"), (512u64 << 20).to_string());
            let extra = LinuxMemoryBuilder::default().swappiness(10u64).disable_oom_killer(true).build().unwrap();
            g.cg.apply(&resources(|b| b.memory(extra))).unwrap();
            assert_eq!(g.read("memory", "memory.swappiness"), "10");
            let oom = g.read("memory", "memory.oom_control");
            assert!(oom == "1" || oom.starts_with("oom_kill_disable 1"), "{oom}");
        }
        Some((_, true)) => {
            g.cg.apply(&r).unwrap();
            assert_eq!(g.read("memory", "memory.max"), (256u64 << 20).to_string());
            assert_eq!(g.read("memory", "memory.low"), (128u64 << 20).to_string());
            assert_eq!(g.read("memory", "memory.swap.max"), (256u64 << 20).to_string());
            let v1_only = LinuxMemoryBuilder::default().swappiness(10u64).build().unwrap();
            assert_unsupported(g.cg.apply(&resources(|b| b.memory(v1_only))), "linux.resources.memory.swappiness");
        }
    }
}

fn swap_and_limit_ordering(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let Some((_, v2)) = g.dir("memory") else {
        return;
    };
    let set = |limit: i64, swap: i64| {
        let m = LinuxMemoryBuilder::default().limit(limit).swap(swap).build().unwrap();
        g.cg.apply(&resources(|b| b.memory(m)))
    };
    let check = |limit: &str, swap: &str| {
        if v2 {
            assert_eq!(g.read("memory", "memory.max"), limit);
            assert_eq!(g.read("memory", "memory.swap.max"), swap);
        } else {
            assert_eq!(g.read("memory", "memory.limit_in_bytes"), limit);
            assert_eq!(g.read("memory", "memory.memsw.limit_in_bytes"), swap);
        }
    };
    const M: i64 = 1 << 20;
    set(100 * M, 200 * M).unwrap();
    // Lowering: on v1 the limit must go down before memsw.
    set(50 * M, 60 * M).unwrap();
    // Raising: memsw must go up before the limit.
    set(300 * M, 400 * M).unwrap();
    if v2 {
        check(&(300 * M).to_string(), &(100 * M).to_string());
    } else {
        check(&(300 * M).to_string(), &(400 * M).to_string());
    }
    set(-1, -1).unwrap();
    if v2 {
        check("max", "max");
    } else if fx.real() {
        let unlimited = "9223372036854771712";
        check(unlimited, unlimited);
    } else {
        check("-1", "-1");
    }
    // memory+swap below memory is a spec mistake, caught before writing.
    let err = set(100 * M, 50 * M).unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "linux.resources.memory.swap", .. }), "{err}");

    // Without swap accounting the swap limit cannot be enforced.
    if !fx.real() {
        let file = if v2 { "memory.swap.max" } else { "memory.memsw.limit_in_bytes" };
        std::fs::remove_file(g.file("memory", file)).unwrap();
        let err = set(100 * M, 200 * M).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "linux.resources.memory.swap: swap limit not supported on this host: {file} is absent (swap accounting is off)"
            )
        );
        // An unlimited swap needs no enforcement.
        set(100 * M, -1).unwrap();
    }
}

fn apply_cpu(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let cpu =
        LinuxCpuBuilder::default().shares(512u64).quota(50_000i64).period(100_000u64).burst(1000u64).build().unwrap();
    let r = resources(|b| b.cpu(cpu));
    let Some((_, v2)) = g.dir("cpu") else {
        return assert_unsupported(g.cg.apply(&r), "linux.resources.cpu");
    };
    g.cg.apply(&r).unwrap();
    if v2 {
        assert_eq!(g.read("cpu", "cpu.weight"), "20");
        assert_eq!(g.read("cpu", "cpu.max"), "50000 100000");
        assert_eq!(g.read("cpu", "cpu.max.burst"), "1000");
    } else {
        assert_eq!(g.read("cpu", "cpu.shares"), "512");
        assert_eq!(g.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(g.read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(g.read("cpu", "cpu.cfs_burst_us"), "1000");
    }
    // SCHED_IDLE groups report the minimum weight; set it on its own.
    let idle = LinuxCpuBuilder::default().idle(1i64).build().unwrap();
    g.cg.apply(&resources(|b| b.cpu(idle))).unwrap();
    assert_eq!(g.read("cpu", "cpu.idle"), "1");

    // A negative quota lifts the limit.
    let burst0 = LinuxCpuBuilder::default().burst(0u64).idle(0i64).build().unwrap();
    g.cg.apply(&resources(|b| b.cpu(burst0))).unwrap();
    let unlimited = LinuxCpuBuilder::default().quota(-1i64).build().unwrap();
    g.cg.apply(&resources(|b| b.cpu(unlimited))).unwrap();
    if v2 {
        assert_eq!(g.read("cpu", "cpu.max"), "max 100000");
    } else {
        assert_eq!(g.read("cpu", "cpu.cfs_quota_us"), "-1");
    }

    // A period alone keeps the quota.
    let q = LinuxCpuBuilder::default().quota(20_000i64).build().unwrap();
    g.cg.apply(&resources(|b| b.cpu(q))).unwrap();
    let p = LinuxCpuBuilder::default().period(50_000u64).build().unwrap();
    g.cg.apply(&resources(|b| b.cpu(p))).unwrap();
    if v2 {
        assert_eq!(g.read("cpu", "cpu.max"), "20000 50000");
    } else {
        assert_eq!(g.read("cpu", "cpu.cfs_quota_us"), "20000");
        assert_eq!(g.read("cpu", "cpu.cfs_period_us"), "50000");
    }

    let rt = LinuxCpuBuilder::default().realtime_period(1_000_000u64).build().unwrap();
    if v2 {
        assert_unsupported(g.cg.apply(&resources(|b| b.cpu(rt))), "linux.resources.cpu.realtimePeriod");
    } else {
        g.cg.apply(&resources(|b| b.cpu(rt))).unwrap();
        assert_eq!(g.read("cpu", "cpu.rt_period_us"), "1000000");
    }
}

fn shares_to_weight(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let Some((_, v2)) = g.dir("cpu") else {
        return;
    };
    for (shares, weight) in [(2u64, 1u64), (1024, 39), (512, 20), (262_144, 10_000)] {
        let cpu = LinuxCpuBuilder::default().shares(shares).build().unwrap();
        g.cg.apply(&resources(|b| b.cpu(cpu))).unwrap();
        if v2 {
            assert_eq!(g.read("cpu", "cpu.weight"), weight.to_string(), "shares {shares}");
            assert_eq!(cgroups::v2::shares_to_weight(shares), weight);
        } else {
            assert_eq!(g.read("cpu", "cpu.shares"), shares.to_string());
        }
    }
}

fn apply_cpuset(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let cpu = LinuxCpuBuilder::default().cpus("0").mems("0").build().unwrap();
    let r = resources(|b| b.cpu(cpu));
    if g.dir("cpuset").is_none() {
        return assert_unsupported(g.cg.apply(&r), "linux.resources.cpu.cpus");
    }
    g.cg.apply(&r).unwrap();
    assert_eq!(g.read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(g.read("cpuset", "cpuset.mems"), "0");
}

fn apply_pids(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let pids = |n: i64| resources(|b| b.pids(LinuxPidsBuilder::default().limit(n).build().unwrap()));
    if g.dir("pids").is_none() {
        assert_unsupported(g.cg.apply(&pids(100)), "linux.resources.pids.limit");
        // "No limit" is what a host without the controller has anyway.
        return g.cg.apply(&pids(0)).unwrap();
    }
    g.cg.apply(&pids(100)).unwrap();
    assert_eq!(g.read("pids", "pids.max"), "100");
    g.cg.apply(&pids(0)).unwrap();
    assert_eq!(g.read("pids", "pids.max"), "max");
    g.cg.apply(&pids(7)).unwrap();
    g.cg.apply(&pids(-1)).unwrap();
    assert_eq!(g.read("pids", "pids.max"), "max");
}

fn apply_block_io(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let (major, minor) = fx.block_device();
    let dev = format!("{major}:{minor}");
    let throttle =
        |rate: u64| vec![LinuxThrottleDeviceBuilder::default().major(major).minor(minor).rate(rate).build().unwrap()];
    let r = resources(|b| {
        b.block_io(
            LinuxBlockIoBuilder::default()
                .throttle_read_bps_device(throttle(1 << 20))
                .throttle_write_iops_device(throttle(100))
                .build()
                .unwrap(),
        )
    });
    let controller = if fx.layout().is_v2() { "io" } else { "blkio" };
    let Some((_, v2)) = g.dir(controller) else {
        return assert_unsupported(g.cg.apply(&r), "linux.resources.blockIO");
    };
    g.cg.apply(&r).unwrap();
    if v2 {
        let io_max = g.read("io", "io.max");
        if fx.real() {
            assert!(io_max.contains(&format!("{dev} rbps=1048576")), "{io_max}");
            assert!(io_max.contains("wiops=100"), "{io_max}");
        } else {
            assert_eq!(io_max, format!("{dev} rbps=1048576\n{dev} wiops=100"));
        }
    } else {
        assert_eq!(g.read("blkio", "blkio.throttle.read_bps_device"), format!("{dev} 1048576"));
        assert_eq!(g.read("blkio", "blkio.throttle.write_iops_device"), format!("{dev} 100"));
    }

    // Weights: CFQ's blkio.weight is gone on modern kernels; a host without
    // a weight file must say so rather than drop the weight.
    let weight = resources(|b| b.block_io(LinuxBlockIoBuilder::default().weight(500u16).build().unwrap()));
    let weight_device = resources(|b| {
        b.block_io(
            LinuxBlockIoBuilder::default()
                .weight_device(vec![LinuxWeightDeviceBuilder::default()
                    .major(major)
                    .minor(minor)
                    .weight(300u16)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
    });
    let (dir, _) = g.dir(controller).unwrap();
    let weight_file =
        ["blkio.weight", "blkio.bfq.weight", "io.bfq.weight", "io.weight"].into_iter().find(|f| dir.join(f).exists());
    let Some(file) = weight_file else {
        assert_unsupported(g.cg.apply(&weight), "linux.resources.blockIO.weight");
        return assert_unsupported(g.cg.apply(&weight_device), "linux.resources.blockIO.weightDevice");
    };
    g.cg.apply(&weight).unwrap();
    let device_result = g.cg.apply(&weight_device);
    let text = read(&dir.join(file));
    if fx.real() {
        assert!(text.contains("500") || text.contains("4950"), "{file}: {text}");
        // BFQ weights need the disk to use BFQ; the kernel says EOPNOTSUPP.
        if let Err(e) = device_result {
            assert_unsupported(Err(e), "linux.resources.blockIO.weightDevice");
        }
    } else if v2 {
        device_result.unwrap();
        assert_eq!(read(&dir.join(file)), format!("default 4950\n{dev} 2930"));
    } else {
        device_result.unwrap();
        assert_eq!(text, "500");
        assert_eq!(g.read("blkio", "blkio.weight_device"), format!("{dev} 300"));
    }
}

fn apply_hugetlb(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let limit = |size: &str| {
        resources(|b| {
            b.hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size(size)
                .limit(4i64 << 20)
                .build()
                .unwrap()])
        })
    };
    let err = g.cg.apply(&limit("../../2MB")).unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "linux.resources.hugepageLimits", .. }), "{err}");
    let Some((dir, v2)) = g.dir("hugetlb") else {
        return assert_unsupported(g.cg.apply(&limit("2MB")), "linux.resources.hugepageLimits");
    };
    g.cg.apply(&limit("2MB")).unwrap();
    if v2 {
        assert_eq!(read(&dir.join("hugetlb.2MB.max")), (4u64 << 20).to_string());
        if dir.join("hugetlb.2MB.rsvd.max").exists() {
            assert_eq!(read(&dir.join("hugetlb.2MB.rsvd.max")), (4u64 << 20).to_string());
        }
    } else {
        assert_eq!(read(&dir.join("hugetlb.2MB.limit_in_bytes")), (4u64 << 20).to_string());
    }
    // A page size the host does not have.
    assert_unsupported(g.cg.apply(&limit("3MB")), "linux.resources.hugepageLimits");
}

fn device_rules() -> Vec<oci_spec::runtime::LinuxDeviceCgroup> {
    let rule = |allow: bool, typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).typ(typ).access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    };
    vec![
        rule(false, LinuxDeviceType::A, None, None, "rwm"),
        rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        rule(true, LinuxDeviceType::C, Some(136), Some(-1), "rw"),
        rule(false, LinuxDeviceType::C, Some(1), Some(3), "m"),
    ]
}

fn apply_devices(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let r = resources(|b| b.devices(device_rules()));
    if fx.layout().is_v2() {
        if fx.real() {
            return devices_ebpf_for_real(&g);
        }
        // A tempdir is no cgroup: the program loads (as root), attaching fails.
        let err = g.cg.apply(&r).unwrap_err();
        assert_eq!(err.field(), Some("linux.resources.devices"), "{err}");
        assert!(matches!(err, Error::Bpf { .. }), "{err}");
        return;
    }
    g.cg.apply(&r).unwrap();
    if fx.real() {
        // The kernel's view after all four rules, in order.
        assert_eq!(g.read("devices", "devices.list"), "c 1:3 rw\nc 136:* rw");
    } else {
        assert_eq!(g.read("devices", "devices.deny"), "a *:* rwm\nc 1:3 m");
        assert_eq!(g.read("devices", "devices.allow"), "c 1:3 rwm\nc 136:* rw");
    }
}

/// On a real cgroup2 tree the filter must actually police opens.
fn devices_ebpf_for_real(g: &Group) {
    let null_only = resources(|b| {
        b.devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1i64)
            .minor(3i64)
            .access("rwm")
            .build()
            .unwrap()])
    });
    g.cg.apply(&null_only).unwrap();
    let probe = "(: </dev/null) && echo null-ok; (: </dev/zero) && echo zero-ok; true";
    let mut h = Helper::spawn(probe);
    g.cg.add_process(h.pid()).unwrap();
    h.go();
    let out = h.output();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "null-ok\n", "stderr: {stderr}");
    assert!(stderr.contains("/dev/zero") && stderr.contains("Operation not permitted"), "{stderr}");

    // Applying again replaces the filter (the old one would still deny zero).
    g.cg.apply(&resources(|b| b.devices(device_rules()))).unwrap();
    let allow_all = resources(|b| {
        b.devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::A)
            .access("rwm")
            .build()
            .unwrap()])
    });
    g.cg.apply(&allow_all).unwrap();
    let mut h = Helper::spawn(probe);
    g.cg.add_process(h.pid()).unwrap();
    h.go();
    let out = h.output();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "null-ok\nzero-ok\n");
}

fn apply_unified(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let kv = |k: &str, v: &str| resources(|b| b.unified(HashMap::from([(k.to_string(), v.to_string())])));
    if !fx.layout().is_v2() {
        let err = g.cg.apply(&kv("memory.high", "1000000")).unwrap_err().to_string();
        assert!(err.starts_with("linux.resources.unified: unified resources need cgroup v2"), "{err}");
        return;
    }
    let err = g.cg.apply(&kv("../memory.high", "1")).unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "linux.resources.unified", .. }), "{err}");
    if g.dir("memory").is_some() {
        g.cg.apply(&kv("memory.high", "1000000")).unwrap();
        assert_eq!(g.read("memory", "memory.high"), "1000000");
    }
    let err = g.cg.apply(&kv("nosuch.file", "1")).unwrap_err().to_string();
    assert!(err.starts_with("linux.resources.unified: nosuch.file: not supported on this host"), "{err}");
}

fn apply_network_and_rdma(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let net = resources(|b| b.network(LinuxNetworkBuilder::default().class_id(0x100001u32).build().unwrap()));
    match g.dir("net_cls") {
        Some((_, false)) => {
            g.cg.apply(&net).unwrap();
            assert_eq!(g.read("net_cls", "net_cls.classid"), "1048577");
        }
        _ => assert_unsupported(g.cg.apply(&net), "linux.resources.network"),
    }
    let limits = LinuxRdmaBuilder::default().hca_handles(3u32).hca_objects(100u32).build().unwrap();
    let rdma = resources(|b| b.rdma(HashMap::from([("mlx5_0".to_string(), limits)])));
    if g.dir("rdma").is_some() && !fx.real() {
        g.cg.apply(&rdma).unwrap();
        assert_eq!(g.read("rdma", "rdma.max"), "mlx5_0 hca_handle=3 hca_object=100");
    } else if g.dir("rdma").is_none() {
        assert_unsupported(g.cg.apply(&rdma), "linux.resources.rdma");
    }
}

fn add_process_and_procs(fx: &dyn Fixture) {
    let g = Group::created(fx);
    assert_eq!(g.cg.procs().unwrap(), Vec::<i32>::new());
    if !fx.real() {
        g.cg.add_process(4242).unwrap();
        for p in g.cg.paths() {
            assert_eq!(read(&p.join("cgroup.procs")), "4242");
        }
        assert_eq!(g.cg.procs().unwrap(), vec![4242]);
        return;
    }
    let h = Helper::spawn("sleep 30");
    g.cg.add_process(h.pid()).unwrap();
    assert_eq!(g.cg.procs().unwrap(), vec![h.pid()]);
    for p in g.cg.paths() {
        assert_eq!(read(&p.join("cgroup.procs")), h.pid().to_string(), "{}", p.display());
    }
    drop(h);
    wait_for("the group to empty", || g.cg.procs().unwrap().is_empty());
}

/// A new process enters the group by itself: cloned into the cgroup2 dir and
/// writing "0" to each v1 `tasks` file, with no cgroup.procs write by anyone.
fn join_handles_let_a_new_process_join_itself(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let handles = g.cg.join_handles().unwrap();
    if !fx.real() {
        handles.join_self().unwrap();
        return;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: fork semantics (sys::clone_fork's rule is a single-threaded
    // caller); the child here only makes system calls (the cgroup writes of
    // join_self, pause, _exit) and never returns into the test harness.
    let pid = unsafe { sys::clone_fork(0, handles.clone_into.as_ref().map(|d| d.as_raw_fd())) }
        .unwrap_or_else(|e| panic!("clone3: {e}"));
    if pid == 0 {
        let code = if handles.join_self().is_ok() { 0 } else { 1 };
        if code == 0 {
            // SAFETY: pause has no memory effects; the parent kills us.
            unsafe { libc::pause() };
        }
        // SAFETY: leave without running the test harness's exit handlers.
        unsafe { libc::_exit(code) };
    }
    wait_for("the child to join every hierarchy", || {
        g.cg.paths().iter().all(|p| read(&p.join("cgroup.procs")).lines().any(|l| l == pid.to_string()))
    });
    assert_eq!(g.cg.procs().unwrap(), vec![pid]);
    // SAFETY: killing and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    wait_for("the group to empty", || g.cg.procs().unwrap().is_empty());
}

fn stats(fx: &dyn Fixture) {
    let g = Group::new(fx);
    assert!(g.cg.stats().is_err(), "stats of a group that does not exist");
    g.create();
    if !fx.real() {
        let s = g.cg.stats().unwrap();
        assert_eq!(s.memory.usage, 5000);
        assert_eq!(s.memory.limit, None);
        assert_eq!(s.memory.max_usage, 6000);
        assert_eq!(s.memory.oom_kill, 2);
        assert_eq!(s.memory.anon, 2000);
        assert_eq!(s.cpu.nr_periods, 7);
        assert_eq!(s.cpu.nr_throttled, 3);
        assert_eq!(s.pids.current, 4);
        if fx.layout().is_v2() {
            assert_eq!((s.memory.cache, s.memory.file), (1000, 1000));
            assert_eq!((s.cpu.usage_ns, s.cpu.user_ns, s.cpu.system_ns), (1_000_000, 600_000, 400_000));
            assert_eq!(s.cpu.throttled_ns, 9000);
            assert_eq!(s.pids.limit, Some(100));
        } else {
            assert_eq!((s.memory.cache, s.memory.file), (1000, 700));
            assert_eq!(s.cpu.usage_ns, 123_456_789);
            // USER_HZ ticks: 100 on every Linux this runs on.
            assert_eq!((s.cpu.user_ns, s.cpu.system_ns), (100_000_000, 50_000_000));
            assert_eq!(s.cpu.throttled_ns, 999);
            assert_eq!(s.pids.limit, None);
        }
        return;
    }
    if g.dir("pids").is_some() {
        g.cg.apply(&resources(|b| b.pids(LinuxPidsBuilder::default().limit(50).build().unwrap()))).unwrap();
    }
    let mut h = Helper::spawn("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 30");
    g.cg.add_process(h.pid()).unwrap();
    h.go();
    wait_for("cpu usage", || g.cg.stats().unwrap().cpu.usage_ns > 0);
    let s = g.cg.stats().unwrap();
    if g.dir("memory").is_some() {
        wait_for("memory usage", || g.cg.stats().unwrap().memory.usage > 0);
    }
    if g.dir("pids").is_some() {
        assert!(s.pids.current >= 1, "{s:?}");
        assert_eq!(s.pids.limit, Some(50));
    }
}

fn freeze_and_thaw(fx: &dyn Fixture) {
    let g = Group::created(fx);
    let _kernel = fx.emulate(&g.rel);
    let h = fx.real().then(|| Helper::spawn("sleep 30"));
    if let Some(h) = &h {
        g.cg.add_process(h.pid()).unwrap();
    }
    assert!(!g.cg.frozen().unwrap());
    g.cg.freeze().unwrap();
    assert!(g.cg.frozen().unwrap());
    g.cg.freeze().unwrap(); // again: no-op
    g.cg.thaw().unwrap();
    assert!(!g.cg.frozen().unwrap());
}

fn kill_all_empties_a_forking_group(fx: &dyn Fixture) {
    if !fx.real() {
        return;
    }
    let g = Group::created(fx);
    if g.dir("pids").is_some() {
        // A safety net in case the kill is slower than the forks.
        g.cg.apply(&resources(|b| b.pids(LinuxPidsBuilder::default().limit(400).build().unwrap()))).unwrap();
    }
    let mut h = Helper::spawn("while :; do sleep 1 & sleep 0.01; done");
    g.cg.add_process(h.pid()).unwrap();
    h.go();
    wait_for("the shell to fork", || g.cg.procs().unwrap().len() >= 10);
    let start = Instant::now();
    g.cg.kill_all().unwrap();
    eprintln!("kill_all took {:?}", start.elapsed());
    assert_eq!(g.cg.procs().unwrap(), Vec::<i32>::new());
    let status = h.output().status;
    assert!(!status.success());
    assert!(!g.cg.frozen().unwrap_or(false), "left frozen");
    g.destroy().unwrap();
}

fn kill_all_of_a_frozen_group(fx: &dyn Fixture) {
    if !fx.real() {
        return;
    }
    // v1-frozen tasks ignore SIGKILL until thawed; kill_all must cope.
    let g = Group::created(fx);
    let h = Helper::spawn("sleep 30");
    g.cg.add_process(h.pid()).unwrap();
    g.cg.freeze().unwrap();
    let start = Instant::now();
    g.cg.kill_all().unwrap();
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(g.cg.procs().unwrap(), Vec::<i32>::new());
    assert!(!h.output().status.success());
}

fn errors_name_field_file_and_reason(fx: &dyn Fixture) {
    let g = Group::created(fx);
    if !fx.real() {
        // A control file the kernel refuses to write: a directory in its place.
        let Some((dir, _)) = g.dir("pids") else {
            return;
        };
        std::fs::remove_file(dir.join("pids.max")).unwrap();
        std::fs::create_dir(dir.join("pids.max")).unwrap();
        let err =
            g.cg.apply(&resources(|b| b.pids(LinuxPidsBuilder::default().limit(5).build().unwrap()))).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("linux.resources.pids.limit: writing 5 to {}: Is a directory", dir.join("pids.max").display())
        );
        std::fs::remove_dir(dir.join("pids.max")).unwrap();
        return;
    }

    // No such process.
    let err = g.cg.add_process(i32::MAX).unwrap_err().to_string();
    assert!(err.starts_with("add_process: writing 2147483647 to "), "{err}");
    assert!(err.ends_with("/cgroup.procs: No such process"), "{err}");

    if let Some((dir, false)) = g.dir("cpuset") {
        let cpu = LinuxCpuBuilder::default().cpus("99").build().unwrap();
        let err = g.cg.apply(&resources(|b| b.cpu(cpu))).unwrap_err().to_string();
        assert_eq!(
            err,
            // The reason is the kernel's: ERANGE on current kernels.
            format!(
                "linux.resources.cpu.cpus: writing 99 to {}: Numerical result out of range",
                dir.join("cpuset.cpus").display()
            )
        );
    }

    if let Some((dir, false)) = g.dir("memory") {
        // The new image's pages are charged to the group; they cannot be
        // reclaimed below one byte.
        let mut h = Helper::spawn("exec sleep 30");
        g.cg.add_process(h.pid()).unwrap();
        h.go();
        let usage = dir.join("memory.usage_in_bytes");
        wait_for("the helper to use memory", || read(&usage).parse::<u64>().unwrap() > 4096);
        let m = LinuxMemoryBuilder::default().limit(1i64).build().unwrap();
        let err = g.cg.apply(&resources(|b| b.memory(m))).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "linux.resources.memory.limit: writing 1 to {}: Device or resource busy",
                dir.join("memory.limit_in_bytes").display()
            )
        );
    }
}

fn concurrent_create_and_destroy(fx: &dyn Fixture) {
    if !fx.real() {
        return;
    }
    // Several groups share berth/: one destroy removing it must not break
    // another create.
    let layout = fx.layout().clone();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let layout = layout.clone();
            std::thread::spawn(move || {
                for _ in 0..30 {
                    let cg = manager(&layout, &unique_path());
                    let r = cg.create();
                    let d = cg.destroy();
                    r.unwrap();
                    d.unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

// ---------------------------------------------------------------- suites

macro_rules! suite {
    ($name:ident, $fixture:expr) => {
        mod $name {
            use super::*;

            fn run(case: fn(&dyn Fixture)) {
                if let Some(fx) = $fixture {
                    case(&*fx);
                }
            }

            #[test]
            fn create_destroy_leaves_nothing() {
                run(super::create_destroy_leaves_nothing)
            }
            #[test]
            fn create_and_destroy_are_idempotent() {
                run(super::create_and_destroy_are_idempotent)
            }
            #[test]
            fn invalid_paths_are_refused() {
                run(super::invalid_paths_are_refused)
            }
            #[test]
            fn cpuset_is_inherited() {
                run(super::cpuset_is_inherited)
            }
            #[test]
            fn apply_memory() {
                run(super::apply_memory)
            }
            #[test]
            fn swap_and_limit_ordering() {
                run(super::swap_and_limit_ordering)
            }
            #[test]
            fn apply_cpu() {
                run(super::apply_cpu)
            }
            #[test]
            fn shares_to_weight() {
                run(super::shares_to_weight)
            }
            #[test]
            fn apply_cpuset() {
                run(super::apply_cpuset)
            }
            #[test]
            fn apply_pids() {
                run(super::apply_pids)
            }
            #[test]
            fn apply_block_io() {
                run(super::apply_block_io)
            }
            #[test]
            fn apply_hugetlb() {
                run(super::apply_hugetlb)
            }
            #[test]
            fn apply_devices() {
                run(super::apply_devices)
            }
            #[test]
            fn apply_unified() {
                run(super::apply_unified)
            }
            #[test]
            fn apply_network_and_rdma() {
                run(super::apply_network_and_rdma)
            }
            #[test]
            fn add_process_and_procs() {
                run(super::add_process_and_procs)
            }
            #[test]
            fn join_handles_let_a_new_process_join_itself() {
                run(super::join_handles_let_a_new_process_join_itself)
            }
            #[test]
            fn stats() {
                run(super::stats)
            }
            #[test]
            fn freeze_and_thaw() {
                run(super::freeze_and_thaw)
            }
            #[test]
            fn kill_all_empties_a_forking_group() {
                run(super::kill_all_empties_a_forking_group)
            }
            #[test]
            fn kill_all_of_a_frozen_group() {
                run(super::kill_all_of_a_frozen_group)
            }
            #[test]
            fn errors_name_field_file_and_reason() {
                run(super::errors_name_field_file_and_reason)
            }
            #[test]
            fn concurrent_create_and_destroy() {
                run(super::concurrent_create_and_destroy)
            }
        }
    };
}

suite!(fake_v1, FakeV1::fixture());
suite!(fake_v2, FakeV2::fixture());
suite!(host, Host::detected());
suite!(host_v1_without_unified, Host::v1_only());
suite!(host_unified_as_v2, Host::unified_as_v2());

/// Cost of create + add_process + destroy of one group on this host; run
/// with `cargo test -p cgroups --test conformance -- --ignored --nocapture`.
#[test]
#[ignore]
fn cost_of_a_group_lifecycle() {
    let Some(fx) = Host::detected() else { return };
    let (mut create, mut add, mut destroy, mut total) = (vec![], vec![], vec![], vec![]);
    for _ in 0..100 {
        let g = Group::new(&*fx);
        let mut h = Helper::spawn("exec sleep 30");
        let t = Instant::now();
        g.cg.create().unwrap();
        create.push(t.elapsed());
        let t = Instant::now();
        g.cg.add_process(h.pid()).unwrap();
        add.push(t.elapsed());
        // Untimed: the process must be gone before the group can go.
        h.go();
        drop(h);
        let t = Instant::now();
        g.cg.destroy().unwrap();
        destroy.push(t.elapsed());
        total.push(create[create.len() - 1] + add[add.len() - 1] + destroy[destroy.len() - 1]);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    eprintln!(
        "{} hierarchies; median of 100: create {:?} + add_process {:?} + destroy {:?}; whole lifecycle {:?}",
        manager(fx.layout(), &unique_path()).paths().len(),
        median(&mut create),
        median(&mut add),
        median(&mut destroy),
        median(&mut total),
    );
}
