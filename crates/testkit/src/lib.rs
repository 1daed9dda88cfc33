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

/// A real registry (Debian's docker-registry, distribution 2.8) on a free
/// loopback port with its own storage, stopped and removed on drop.
pub struct Registry {
    child: std::process::Child,
    dir: tempfile::TempDir,
    pub addr: String,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with("")
    }

    /// `extra` is appended to the registry's YAML config (e.g. an auth section).
    pub fn start_with(extra: &str) -> Registry {
        let bin = ensure_tool("docker-registry", "docker-registry");
        let dir = tempfile::Builder::new().prefix("berth-registry-").tempdir().expect("temp dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).expect("registry config");
        let child = Command::new(bin)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log"))
            .spawn()
            .expect("starting docker-registry");
        let reg = Registry { child, dir, addr };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(&reg.addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "registry did not start: {}", reg.log());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        reg
    }

    /// Where blobs live on disk (tests corrupt them there on purpose).
    pub fn blob_data(&self, hex: &str) -> PathBuf {
        self.dir.path().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback (bound, then released for the caller).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The path of `tool`, installing Debian package `package` if it is missing.
pub fn ensure_tool(tool: &str, package: &str) -> PathBuf {
    let find = || {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    };
    if let Some(p) = find() {
        return p;
    }
    let st = Command::new("apt-get")
        .args(["install", "-y", "-qq", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running apt-get");
    assert!(st.success(), "could not install {package} for {tool}");
    find().unwrap_or_else(|| panic!("{tool} not found after installing {package}"))
}

/// A tarball of a busybox rootfs (scripts/make-bundle's), for `import`.
pub fn busybox_rootfs_tar(berth: &Path, dest: &Path) {
    let b = Bundle::busybox(berth, &["sh"]);
    let st = Command::new("tar").arg("-C").arg(b.rootfs()).arg("-cf").arg(dest).arg(".").status().expect("tar");
    assert!(st.success(), "tar of the busybox rootfs failed");
}
