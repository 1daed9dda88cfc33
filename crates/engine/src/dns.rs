//! Name resolution on user-defined networks: a small daemon per network
//! (`berth internal dns NETWORK`), started with its first container, that
//! answers containers' names and aliases on that network from the state
//! database and forwards every other query to the host's resolvers.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::NetworkMode;
use crate::network::Network;

fn pid_file(engine: &Engine, n: &Network) -> PathBuf {
    engine.root().join("networks").join(&n.id).join("dns.pid")
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Starts the network's DNS daemon unless it runs.
pub(crate) fn ensure(engine: &Engine, n: &Network) -> Result<()> {
    let pf = pid_file(engine, n);
    if read_pid(&pf).is_some_and(alive) {
        return Ok(());
    }
    let dir = pf.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating the network's directory", e))?;
    // Containers starting at once on a new network (compose) must start
    // one server between them: the first under the lock starts it, the
    // others find it running.
    let lock = std::fs::File::create(dir.join("dns.lock")).map_err(|e| Error::io("locking the network's DNS", e))?;
    // SAFETY: flock on an fd we own; released when `lock` is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } < 0 {
        return Err(Error::io("locking the network's DNS", std::io::Error::last_os_error()));
    }
    if read_pid(&pf).is_some_and(alive) {
        return Ok(());
    }
    let mut cmd = engine.launcher().command("dns", &n.id);
    cmd.stderr(std::process::Stdio::piped());
    let child = cmd.spawn().map_err(|e| Error::io("starting the network's DNS server", e))?;
    // It daemonizes: the first process exits once the server listens (the
    // daemon itself closes stderr, so this does not wait for it).
    let out = child.wait_with_output().map_err(|e| Error::io("starting the network's DNS server", e))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "the DNS server of network {} failed to start: {}",
            n.name,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

pub(crate) fn stop(engine: &Engine, n: &Network) {
    let pf = pid_file(engine, n);
    if let Some(pid) = read_pid(&pf).filter(|&p| alive(p)) {
        // SAFETY: signalling the daemon we started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let _ = std::fs::remove_dir_all(pf.parent().unwrap_or(Path::new("/nonexistent")));
}

/// Names on one network, from the database, cached for a second.
struct Names {
    db_path: PathBuf,
    network: Network,
    cache: Mutex<(Instant, Vec<(String, Ipv4Addr)>)>,
}

impl Names {
    fn load(&self) -> Vec<(String, Ipv4Addr)> {
        let Ok(db) = db::Db::open(&self.db_path) else { return vec![] };
        let Ok(rows) = db::container_rows(db.conn()) else { return vec![] };
        let mut out = Vec::new();
        for row in rows {
            let Ok(c) = crate::engine::row_to_container(row) else { continue };
            let Some(NetworkMode::Networks(list)) = &c.config.network else { continue };
            let Some(att) = list.iter().find(|a| a.network == self.network.name) else { continue };
            let Some(ep) = c.state.endpoints.iter().find(|e| e.network == self.network.name) else { continue };
            let Ok(addr) = ep.address.parse::<Ipv4Addr>() else { continue };
            for name in att.aliases.iter().chain([&c.name, &c.id[..12].to_string()]) {
                out.push((name.to_ascii_lowercase(), addr));
            }
        }
        out
    }
}

impl net::dns::NameSource for Names {
    fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let Ok(mut cache) = self.cache.lock() else { return vec![] };
        let find = |c: &(Instant, Vec<(String, Ipv4Addr)>)| -> Vec<Ipv4Addr> {
            c.1.iter().filter(|(n, _)| *n == name).map(|(_, a)| *a).collect()
        };
        // Names are cached for a second; a miss (a container that has just
        // started) looks again at once, at most every 50 ms.
        let age = cache.0.elapsed();
        if age > Duration::from_secs(1) {
            *cache = (Instant::now(), self.load());
        }
        let found = find(&cache);
        if found.is_empty() && age > Duration::from_millis(50) && age <= Duration::from_secs(1) {
            *cache = (Instant::now(), self.load());
            return find(&cache);
        }
        found
    }
}

/// The daemon (`berth internal dns NETWORK`): detaches, writes its pid file,
/// serves until killed.
pub fn main(root: &Path, network_id: &str) -> i32 {
    let fail = |what: String| {
        eprintln!("berth dns: {what}");
        1
    };
    let mut engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => return fail(e.to_string()),
    };
    let n = match engine.network(network_id) {
        Ok(n) => n,
        Err(e) => return fail(e.to_string()),
    };
    let Ok(gateway) = n.gateway.parse::<Ipv4Addr>() else { return fail(format!("bad gateway {}", n.gateway)) };
    let listen = SocketAddr::from((gateway, 53));
    let socket = match std::net::UdpSocket::bind(listen) {
        Ok(s) => s,
        Err(e) => return fail(format!("listening on {listen}: {e}")),
    };
    // SAFETY: single-threaded; the child continues, the parent reports success.
    match unsafe { libc::fork() } {
        -1 => return 1,
        0 => {}
        child => {
            // Written before the starter hears of success, so whoever checks
            // next (under the start lock) finds the server running.
            let pf = pid_file(&engine, &n);
            let tmp = pf.with_extension("tmp");
            if std::fs::write(&tmp, child.to_string()).and_then(|_| std::fs::rename(&tmp, &pf)).is_err() {
                return fail(format!("writing {}", pf.display()));
            }
            return 0;
        }
    }
    // SAFETY: plain syscalls. A monitor that started us ignores SIGTERM
    // and SIGHUP, and ignored signals survive exec: take the defaults back
    // so that `network rm` can stop us.
    unsafe {
        libc::setsid();
        for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    // SAFETY: fd 2 is ours; /dev/null keeps later writes harmless.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 2);
            libc::close(null);
        }
    }
    let names = Arc::new(Names {
        db_path: root.join("engine.db"),
        network: n,
        cache: Mutex::new((Instant::now() - Duration::from_secs(5), vec![])),
    });
    let upstreams = net::dns::host_upstreams();
    match net::dns::serve_socket(socket, names, upstreams) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
