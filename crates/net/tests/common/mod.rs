//! Test support: unique names, network namespaces, guards that remove what a test made, threads
//! inside a namespace, and the leftover check.

// A test helper that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

/// The nftables table the tests use instead of berth's own (a real berth may run beside them).
pub const TABLE: &str = "berth_test";

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skips (returns None) unless root; otherwise sets the test table and takes the suite lock (tests
/// share one nftables table, whose removal with the last network they check).
pub fn setup() -> Option<SuiteLock> {
    if !is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    assert!(net::use_table(TABLE));
    std::fs::create_dir_all("/run/berth").unwrap();
    let f = OpenOptions::new().create(true).truncate(false).write(true).open("/run/berth/net-tests.lock").unwrap();
    // SAFETY: flock on an fd we own.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    Some(SuiteLock(f))
}

pub struct SuiteLock(#[allow(dead_code)] File);

/// A unique short name: `PREFIX` + pid + counter (≤ 15 characters for prefixes of ≤ 4).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("{prefix}{}x{}", std::process::id() % 100_000, N.fetch_add(1, Ordering::SeqCst));
    assert!(name.len() <= 15, "{name}");
    name
}

/// A unique /24 in 10.213.0.0/16 (addresses exist only on the test's own bridges and namespaces).
pub fn unique_subnet() -> (net::Ipv4Net, Ipv4Addr) {
    static N: AtomicU32 = AtomicU32::new(0);
    let third = ((std::process::id() * 7 + N.fetch_add(1, Ordering::SeqCst)) % 250) as u8 + 1;
    (net::Ipv4Net::new(Ipv4Addr::new(10, 213, third, 0), 24).unwrap(), Ipv4Addr::new(10, 213, third, 1))
}

pub fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Runs a command, panicking with its stderr on failure; its stdout.
pub fn run(args: &[&str]) -> String {
    let out = sh(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique("btns");
        run(&["ip", "netns", "add", &name]);
        Netns { name }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    pub fn fd(&self) -> File {
        File::open(self.path()).unwrap()
    }

    /// `ip netns exec NAME args…`.
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        sh(&all)
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(out.status.success(), "in {}: {args:?}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn ping(&self, addr: Ipv4Addr) -> bool {
        self.exec(&["busybox", "ping", "-c1", "-W1", &addr.to_string()]).status.success()
    }

    /// Runs `f` on a new thread inside this namespace.
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
        let fd = self.fd();
        std::thread::spawn(move || {
            // SAFETY: setns(2) of this thread only, into a namespace fd we hold.
            assert_eq!(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
            drop(fd);
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

/// A network removed on drop (even when the test failed).
pub struct Network {
    pub spec: net::BridgeSpec,
}

impl Network {
    pub fn new(internal: bool) -> Network {
        let (subnet, gateway) = unique_subnet();
        let spec = net::BridgeSpec { bridge: unique("bt"), subnet, gateway, internal, mtu: None };
        net::ensure_bridge(&spec).unwrap();
        Network { spec }
    }

    pub fn ip(&self, host: u8) -> Ipv4Addr {
        let o = self.spec.subnet.addr.octets();
        Ipv4Addr::new(o[0], o[1], o[2], host)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Err(e) = net::remove_bridge(&self.spec) {
            eprintln!("removing {}: {e}", self.spec.bridge);
            let _ = sh(&["ip", "link", "del", &self.spec.bridge]);
        }
    }
}

/// An interface deleted on drop.
pub struct LinkGuard(pub String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        if link_exists(&self.0) {
            let _ = sh(&["ip", "link", "del", &self.0]);
        }
    }
}

/// Published ports of an owner, removed on drop.
pub struct Published(pub String);

impl Drop for Published {
    fn drop(&mut self) {
        let _ = net::unpublish(&self.0);
    }
}

pub fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

pub fn table_exists() -> bool {
    run(&["nft", "list", "tables"]).lines().any(|l| l.trim() == format!("table inet {TABLE}"))
}

/// After a test: none of the named links, none of this process's namespaces, and berth's test
/// table gone.
pub fn assert_clean(links: &[&str]) {
    for l in links {
        assert!(!link_exists(l), "link {l} left behind");
    }
    let prefix = format!("btns{}x", std::process::id() % 100_000);
    let ns = run(&["ip", "netns", "list"]);
    assert!(!ns.lines().any(|l| l.starts_with(&prefix)), "namespaces left: {ns}");
    assert!(!table_exists(), "table inet {TABLE} left behind:\n{}", run(&["nft", "list", "ruleset"]));
}

/// An attachment detached on drop.
pub struct Attached(pub net::Attachment);

impl std::ops::Deref for Attached {
    type Target = net::Attachment;
    fn deref(&self) -> &net::Attachment {
        &self.0
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = net::detach(&self.0.host_ifname);
    }
}

/// A flag for test servers, set (stop!) on drop, so their threads end even when a test fails.
#[derive(Default)]
pub struct StopOnDrop(pub std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
