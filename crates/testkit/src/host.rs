//! A berth "host" for tests that drive the engine through the binary: a
//! state tree of its own with its own default bridge and subnet
//! (engine.json) and a busybox image, reset on drop, after which nothing of
//! it may be left on the host: no process, mount, link or firewall rule.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The firewall table the engine and build tests share: neither a real
/// berth's nor the net crate tests' (which check theirs is gone after each).
pub const NFT_TABLE: &str = "berth_hosttest";

/// A busybox rootfs tarball, made once and kept beside the berth binary
/// (in the build tree, not the host's temp dir: a static is never dropped,
/// so a temp dir held by one would outlive every test process).
pub fn busybox_tar(berth: &Path) -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = berth.parent().expect("the berth binary has a directory");
        let p = dir.join("testkit-busybox.tar");
        if !p.exists() {
            // Several test processes may race here: each writes its own file
            // and renames it into place, so a reader never sees half a tar.
            let tmp = dir.join(format!(".testkit-busybox.{}.tar", std::process::id()));
            crate::busybox_rootfs_tar(berth, &tmp);
            std::fs::rename(&tmp, &p).expect("rename the busybox tar into place");
        }
        p
    })
}

/// One user's berth: a state tree, its default bridge `bt<n>-<pid>` on
/// 10.201.<n>.0/24, and a busybox image `bb`.
pub struct Host {
    berth: PathBuf,
    pub(crate) root: tempfile::TempDir,
    pub(crate) bridge: String,
    /// The number given to `new`: the third octet of the default subnet
    /// and the second of every [`Host::subnet`].
    pub n: u8,
}

/// A command's stdout as text (lossy), for assertions and messages.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr as text (lossy), for assertions and messages.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

impl Host {
    /// `n` must differ between tests of one suite (it picks the subnets);
    /// suites that run at once use different ranges of `n`.
    pub fn new(berth: &Path, n: u8) -> Host {
        let root = tempfile::Builder::new().prefix("berth-eng-").tempdir().expect("temp dir");
        let bridge = format!("bt{n}-{}", std::process::id() % 100_000);
        let settings = serde_json::json!({
            "bridge": bridge,
            "subnet": format!("10.201.{n}.0/24"),
            "nft_table": NFT_TABLE,
        });
        std::fs::write(root.path().join("engine.json"), settings.to_string()).expect("engine.json");
        let h = Host { berth: berth.to_path_buf(), root, bridge, n };
        h.ok(&["import", "-c", r#"CMD ["/bin/sh"]"#, busybox_tar(berth).to_str().unwrap_or_default(), "bb"]);
        h
    }

    /// A subnet for a user network of this test.
    pub fn subnet(&self, k: u8) -> String {
        format!("10.{}.{}.0/24", 202 + k, self.n)
    }

    /// A `berth` command on this host's state tree, with stdin from
    /// /dev/null, for a test to add arguments, env or pipes to.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.berth);
        c.arg("--root").arg(self.root.path()).stdin(Stdio::null());
        c
    }

    /// Runs `berth ARGS` to its end, whatever its exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("running berth")
    }

    /// Runs a command that must succeed (else panics with its output); its
    /// stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "berth {args:?} failed ({}): {}{}", out.status, stdout(&out), stderr(&out));
        stdout(&out)
    }

    /// Runs a command that must fail; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "berth {args:?} should have failed: {}", stdout(&out));
        stderr(&out)
    }

    /// `berth inspect NAME`'s one object (the JSON array's first element);
    /// panics if the object does not exist.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", name])).expect("inspect JSON");
        v[0].clone()
    }

    /// The container's State.Status (`created`, `running`, `exited`, ...).
    pub fn status(&self, name: &str) -> String {
        self.ok(&["inspect", "-f", "{{.State.Status}}", name]).trim().to_string()
    }

    /// Polls `f` until it is true (or panics after `secs`).
    pub fn eventually(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The state tree's path as text: what this host's processes and mounts
    /// mention, to look for leftovers by.
    pub fn root_str(&self) -> String {
        self.root.path().to_string_lossy().into_owned()
    }
}

impl Drop for Host {
    /// `system reset`, then nothing of this state tree may be left on the
    /// host (checked unless the test is already failing).
    fn drop(&mut self) {
        let out = self.run(&["system", "reset", "--force"]);
        if std::thread::panicking() {
            return;
        }
        assert!(out.status.success(), "system reset failed: {}", stderr(&out));
        let root = self.root_str();
        assert!(!self.root.path().exists(), "reset left {root}");
        assert_eq!(crate::processes_mentioning(&root), Vec::<u32>::new(), "processes left for {root}");
        assert_eq!(crate::mounts_mentioning(&root), Vec::<String>::new(), "mounts left for {root}");
        assert!(!Path::new("/sys/class/net").join(&self.bridge).exists(), "bridge {} left", self.bridge);
        let rules = Command::new("nft").args(["list", "table", "inet", NFT_TABLE]).output().expect("nft");
        let rules = stdout(&rules);
        assert!(!rules.contains(&self.bridge), "firewall rules left for {}: {rules}", self.bridge);
    }
}
