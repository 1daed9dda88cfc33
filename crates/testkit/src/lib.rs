//! Test support shared by berth's integration tests: OCI bundles with a
//! busybox rootfs (made by scripts/make-bundle, offline), unique names, and
//! the checks that a test left nothing behind on the host.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

pub mod host;

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

    /// The bundle directory, to pass to `berth runtime create --bundle`;
    /// it goes away when the `Bundle` is dropped.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle's rootfs directory (busybox), for tests that put files
    /// into the container's filesystem or check what it left there.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// config.json as it is on disk now, parsed; panics if unreadable.
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
    /// `127.0.0.1:PORT`, without a scheme: the registry part of image
    /// references (it speaks plain HTTP, so clients must allow insecure).
    pub addr: String,
}

impl Registry {
    /// Starts a registry with no auth, installing docker-registry if it is
    /// missing, and waits (up to 15 s, else panics) until it accepts
    /// connections.
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

    /// The registry's own directory: its config.yml, registry.log and the
    /// storage under data/.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the registry has logged so far (errors only), for a failing
    /// test's message.
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

/// Deterministic bytes that do not compress or repeat (xorshift from
/// `seed`): a layer or blob as big as its contents.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
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

/// Builds OCI image layouts layer by layer (for skopeo to push to a registry,
/// so pulls can be tested against images made here, offline).
pub mod oci {
    use super::*;
    use sha2::Digest as _;

    fn sha256(b: &[u8]) -> String {
        let d = sha2::Sha256::digest(b);
        d.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// A layer: files (path, contents, mode) in a tar, gzip-compressed.
    pub fn layer(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data, mode) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, *data).expect("tar entry");
        }
        b.into_inner().expect("tar")
    }

    /// A layer from a directory tree on disk (e.g. a busybox rootfs).
    pub fn layer_from_dir(dir: &Path) -> Vec<u8> {
        let out = Command::new("tar").arg("-C").arg(dir).args(["-cf", "-", "."]).output().expect("tar");
        assert!(out.status.success(), "tar of {} failed", dir.display());
        out.stdout
    }

    /// Writes an OCI layout at `layout` holding one image tagged `tag`
    /// whose layers are `tars` (plain tar bytes, bottom first), gzipped.
    /// Returns (manifest digest, config digest) as "sha256:<hex>".
    pub fn write_image(layout: &Path, tag: &str, tars: &[Vec<u8>], cmd: &[&str]) -> (String, String) {
        let blobs = layout.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).expect("layout dirs");
        let put = |b: &[u8]| -> String {
            let h = sha256(b);
            std::fs::write(blobs.join(&h), b).expect("blob");
            format!("sha256:{h}")
        };
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for t in tars {
            diff_ids.push(format!("sha256:{}", sha256(t)));
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, t).expect("gzip");
            let gz = gz.finish().expect("gzip");
            layers.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(&gz), "size": gz.len()}));
        }
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "created": "2026-11-01T00:00:00Z",
            "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": tars.iter().map(|_| json!({"created": "2026-11-01T00:00:00Z", "created_by": "testkit layer"})).collect::<Vec<_>>()
        }))
        .expect("config json");
        let config_digest = put(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers
        }))
        .expect("manifest json");
        let manifest_digest = put(&manifest);
        std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        let index = json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]});
        std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).expect("index")).expect("index.json");
        (manifest_digest, config_digest)
    }

    /// Pushes `oci:<layout>:<tag>` to `docker://<dest>` with skopeo (plain HTTP).
    pub fn skopeo_push(layout: &Path, tag: &str, dest: &str, extra: &[&str]) {
        let skopeo = ensure_tool("skopeo", "skopeo");
        let out = Command::new(skopeo)
            .args(["copy", "--dest-tls-verify=false"])
            .args(extra)
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{dest}"))
            .output()
            .expect("skopeo");
        assert!(out.status.success(), "skopeo push failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A directory holding Python's `kubernetes` client (installed with pip
/// into the build tree, never into the machine's own Python), for
/// PYTHONPATH. Made once; concurrent callers wait for the first.
pub fn python_kubernetes_client() -> PathBuf {
    let dir = repo_root().join("target/pydeps/kubernetes");
    let done = dir.join(".installed");
    if done.exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("creating the pydeps directory");
    let lock = std::fs::File::create(dir.with_extension("lock")).expect("pydeps lock");
    // SAFETY: flock on an fd we own; released when `lock` is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if !done.exists() {
        let st = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--target"])
            .arg(&dir)
            .arg("kubernetes")
            .status()
            .expect("running pip");
        assert!(st.success(), "could not install Python's kubernetes client");
        std::fs::write(&done, "").expect("marking pydeps installed");
    }
    dir
}

/// Runs `cmd` to its end, capturing its output, but kills it after `limit`:
/// a command that hangs fails the test (with what it printed) instead of
/// blocking the suite.
pub fn output_within(cmd: &mut Command, limit: std::time::Duration) -> std::process::Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning the command");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output().expect("waiting for the command");
        let _ = tx.send(());
        out
    });
    if rx.recv_timeout(limit).is_err() {
        // SAFETY: signalling a child we spawned and have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let out = waiter.join().expect("the waiter");
        panic!(
            "{cmd:?} did not finish within {limit:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    waiter.join().expect("the waiter")
}

/// A TCP proxy on loopback in front of `upstream` that sends replies at
/// about `bytes_per_sec` and records the head of every request it
/// forwards: lets a test interrupt a download midway and see what the next
/// one asks for (a `Range` header, say). Stops with the test process.
pub struct SlowProxy {
    /// `127.0.0.1:PORT` to use in place of the upstream's address.
    pub addr: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl SlowProxy {
    /// Starts the proxy for `upstream` (`HOST:PORT`); every connection made
    /// to it opens one to the upstream. Requests go through at full speed.
    pub fn start(upstream: &str, bytes_per_sec: usize) -> SlowProxy {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = requests.clone();
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
                let (mut c_read, mut s_write) =
                    (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 << 10];
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if let Some(head) = text.split("\r\n\r\n").next().filter(|h| h.contains(" HTTP/1.")) {
                            log.lock().unwrap_or_else(|e| e.into_inner()).push(head.to_string());
                        }
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let chunk = (bytes_per_sec / 50).max(1);
                    let mut buf = vec![0u8; chunk];
                    while let Ok(n) = s_read.read(&mut buf) {
                        if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    let _ = c_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        SlowProxy { addr, requests }
    }

    /// The heads of the requests forwarded so far (request line and headers).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
