//! Test support shared by berth's integration tests: OCI bundles with a
//! busybox rootfs (made by scripts/make-bundle, offline), unique names, and
//! the checks that a test left nothing behind on the host.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// The repository root (for scripts/).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// A name no other test (or test process) uses: prefix-pid-n.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// An OCI bundle in a temporary directory, removed on drop.
pub struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    /// A busybox bundle whose config.json comes from `berth runtime spec`
    /// with `args` as the command.
    pub fn busybox(berth: &Path, args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new().prefix("berth-bundle-").tempdir().expect("temp dir");
        let out = Command::new(repo_root().join("scripts/make-bundle"))
            .arg(dir.path())
            .args(args)
            .env("BERTH", berth)
            .output()
            .expect("running scripts/make-bundle");
        assert!(out.status.success(), "make-bundle failed: {}", String::from_utf8_lossy(&out.stderr));
        Bundle { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config(&self) -> Value {
        let text = std::fs::read(self.dir.path().join("config.json")).expect("config.json");
        serde_json::from_slice(&text).expect("config.json is JSON")
    }

    /// Edits config.json in place.
    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut v = self.config();
        f(&mut v);
        std::fs::write(self.dir.path().join("config.json"), serde_json::to_vec_pretty(&v).expect("json"))
            .expect("write");
    }

    /// Sets process.args.
    pub fn args(&self, args: &[&str]) {
        self.edit(|v| v["process"]["args"] = serde_json::json!(args));
    }
}

/// Lines of /proc/self/mountinfo mentioning `needle` (a bundle path or id).
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Cgroup directories named `name` anywhere under /sys/fs/cgroup (depth ≤ 4).
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                if e.file_name().to_string_lossy() == name {
                    out.push(p.clone());
                }
                if depth > 0 {
                    walk(&p, name, depth - 1, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), name, 4, &mut out);
    out
}

/// Pids of processes whose command line contains `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let me = std::process::id();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if pid == me {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Asserts that nothing named `id`, and nothing under `bundle`, is left on
/// the host: no mount, no cgroup directory, no process.
pub fn assert_no_leftovers(id: &str, bundle: &Path) {
    let b = bundle.to_string_lossy();
    assert_eq!(mounts_mentioning(&b), Vec::<String>::new(), "mounts left for {b}");
    assert_eq!(cgroup_dirs(id), Vec::<PathBuf>::new(), "cgroups left for {id}");
    assert_eq!(processes_mentioning(&b), Vec::<u32>::new(), "processes left for {b}");
}
