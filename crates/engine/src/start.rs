//! Starting a container: the spec from its configuration, the rootfs as an
//! overlay mounted inside the container (never on the host), volumes, the
//! /etc files, and the network wired up while the container is created but
//! not yet running its program.

use std::fs;
use std::os::fd::RawFd;
use std::path::PathBuf;

use runtime::rootfs::RootfsMount;
use runtime::{CreateOptions, Running};

use crate::engine::{now_rfc3339, Engine};
use crate::error::{Error, Result};
use crate::model::{Container, ContainerState, Mount, NetworkMode, Status};
use crate::spec::{self, SpecInputs};

/// Where a container's standard streams go.
#[derive(Clone, Copy, Debug)]
pub enum Stdio {
    /// The caller's own fds (foreground, no terminal).
    Inherit { stdin: RawFd },
    /// These fds (the monitor's pipes).
    Fds([RawFd; 3]),
}

impl Engine {
    /// A volume mount's volume, created on first use and filled from the
    /// image's content at its target while empty (as docker's copy-up);
    /// its directory. For a start, and for a copy into a container not
    /// started yet (so what is copied lands in the volume, not under it).
    pub(crate) fn prepare_volume(&mut self, m: &Mount, layers: &[image::Digest]) -> Result<PathBuf> {
        let Mount::Volume { name, target, anonymous, subpath, .. } = m else {
            return Err(Error::Invalid(format!("{} is not a volume mount", m.target())));
        };
        let (vol, _) = self.volume_create(name, Default::default(), *anonymous)?;
        let empty = fs::read_dir(&vol.mountpoint).map(|mut d| d.next().is_none()).unwrap_or(false);
        // A subpath mounts part of the volume: the image's content is for
        // the whole volume's first use only.
        if empty && subpath.is_none() {
            image::snapshot::copy_image_path(&self.images, layers, target, &vol.mountpoint)?;
        }
        match subpath {
            Some(sub) => volume_subpath(&vol.mountpoint, name, sub),
            None => Ok(vol.mountpoint),
        }
    }

    /// Creates and starts the container's runtime side; returns the running
    /// init (our child). Network and state are set; the caller waits.
    pub(crate) fn launch(&mut self, c: &Container, stdio: Stdio) -> Result<Running> {
        runtime::timing::mark("engine: launch");
        let dir = self.container_dir(&c.id);
        let layers = self.layers_of(c)?;
        let snap = image::snapshot::for_host(&self.images)?;
        let (rootfs, rootfs_mount) = match snap.mounts(&c.id)?.into_iter().next() {
            Some(m) if m.fstype == "overlay" => (
                dir.join("rootfs"),
                Some(RootfsMount { fstype: "overlay".into(), source: "overlay".into(), data: m.options.join(",") }),
            ),
            Some(m) => (m.source, None),
            None => return Err(Error::Invalid(format!("container {} has no root filesystem", c.id))),
        };
        let upper = snap.upper(&c.id);
        let read = |path: &str| {
            self.images
                .read_image_file(&layers, Some(&upper), path, 4 << 20)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let group_file = read("/etc/group");
        let mut user = spec::resolve_user(&c.config.user, &read("/etc/passwd"), &group_file)?;
        for g in spec::resolve_groups(&c.config.group_add, &group_file)? {
            if !user.2.contains(&g) {
                user.2.push(g);
            }
        }

        // Volumes, created on first use and filled from the image.
        let mut volume_dirs = Vec::new();
        for m in &c.config.mounts {
            if let Mount::Volume { target, .. } = m {
                volume_dirs.push((target.clone(), self.prepare_volume(m, &layers)?));
            }
        }

        let pid_of = |name: &str| -> Result<i32> {
            let other = self.container(name)?;
            if other.state.status != Status::Running {
                return Err(Error::Conflict(format!(
                    "cannot join container {name}: container {} is not running",
                    other.id
                )));
            }
            Ok(other.state.pid)
        };
        let netns_path = match &c.config.network {
            Some(NetworkMode::Container(name)) => Some(format!("/proc/{}/ns/net", pid_of(name)?)),
            _ => None,
        };
        let ipc_path = spec::namespace_path(c.config.ipc.as_deref(), "ipc", &pid_of)?;
        let pid_path = spec::namespace_path(c.config.pid.as_deref(), "pid", &pid_of)?;

        let (hosts, resolv, hostname) = (dir.join("hosts"), dir.join("resolv.conf"), dir.join("hostname"));
        let host_name = spec::container_hostname(&c.config, &c.id);
        let host_network = matches!(c.config.network, Some(NetworkMode::Host));
        let plan = self.plan_network(c)?;
        write_etc_files(&hosts, &resolv, &hostname, &host_name, &plan, host_network, &c.config)?;
        let inputs = SpecInputs {
            id: &c.id,
            rootfs: &rootfs,
            etc_files: Some((hosts.as_path(), resolv.as_path(), hostname.as_path())),
            volume_dirs: &volume_dirs,
            user,
            netns_path,
            ipc_path,
            pid_path,
        };
        let spec = spec::build(&c.config, &inputs)?;
        runtime::timing::mark("engine: spec built");
        let opts = CreateOptions {
            id: c.id.clone(),
            bundle: dir.clone(),
            stdio: Some(match stdio {
                Stdio::Inherit { stdin } => [stdin, 1, 2],
                Stdio::Fds(f) => f,
            }),
            spec: Some(Box::new(spec)),
            rootfs_mount,
            ..Default::default()
        };
        // A stale runtime record (a monitor that died) would block the id.
        let _ = self.runtime.delete(&c.id, true);
        let mut endpoints = Vec::new();
        let mut ports = Vec::new();
        let rt = self.runtime.clone();
        let running = rt.run_with(&opts, |pid| {
            let (e, p) = self.wire_network(c, &plan, pid).map_err(|e| runtime::Error::Init(e.to_string()))?;
            endpoints = e;
            ports = p;
            Ok(())
        });
        let running = match running {
            Ok(r) => r,
            Err(e) => {
                self.unwire_network(c, &endpoints);
                return Err(e.into());
            }
        };
        let (_, pid_start) = sys::proc_stat(running.pid).unwrap_or(('?', 0));
        let pid = running.pid;
        self.update_state(&c.id, |s| {
            *s = ContainerState {
                status: Status::Running,
                pid,
                pid_start,
                monitor_pid: std::process::id() as i32,
                monitor_start: sys::proc_stat(std::process::id() as i32).map_or(0, |(_, t)| t),
                started_at: now_rfc3339(),
                restart_count: s.restart_count,
                endpoints: endpoints.clone(),
                ports: ports.clone(),
                health: c
                    .config
                    .healthcheck
                    .as_ref()
                    .map(|_| crate::model::HealthState { status: "starting".into(), ..Default::default() }),
                ..Default::default()
            };
        })?;
        self.emit_container(c, "start", &[]);
        Ok(running)
    }

    /// A start that failed before the program ran. The container keeps its
    /// status (a new one stays Created, as docker leaves it) and records the
    /// error with docker's exit code: 127 or 126 for a program that cannot
    /// be run, 128 otherwise. An `--rm` container is removed, so nobody
    /// waiting for its removal waits forever. Returns the classified error.
    pub(crate) fn start_failed(&mut self, c: &Container, err: Error) -> Error {
        let err = err.classify_start();
        let code = err.exit_code().map_or(128, i32::from);
        let _ = self.update_state(&c.id, |s| {
            s.exit_code = code;
            s.error = err.to_string();
        });
        if c.config.auto_remove {
            let _ = self.remove(&c.id, true, true);
        }
        err
    }

    /// After the init exited (and was reaped): record how, tear down the
    /// runtime side and the network. Returns the exit code.
    /// `oom`: whether the OOM killer struck, when the caller already knows
    /// (else read from the container's cgroup, which still exists).
    pub(crate) fn finish(&mut self, c: &Container, code: i32, oom: Option<bool>) -> Result<i32> {
        runtime::timing::mark("engine: finish");
        let oom = oom.unwrap_or_else(|| self.runtime.stats(&c.id).map(|s| s.memory.oom_kill > 0).unwrap_or(false));
        let _ = self.runtime.delete(&c.id, true);
        // The namespace is gone with the init: its veths go with it.
        self.unwire_network(c, &[]);
        self.update_state(&c.id, |s| {
            s.status = Status::Exited;
            s.pid = 0;
            s.pid_start = 0;
            s.exit_code = code;
            s.oom_killed = oom;
            s.finished_at = now_rfc3339();
            s.endpoints.clear();
            s.ports.clear();
        })?;
        self.emit_container(c, "die", &[("exitCode", code.to_string())]);
        if oom {
            self.emit_container(c, "oom", &[]);
        }
        Ok(code)
    }

    /// Runs a created container in the foreground: its output goes to ours
    /// and to its log (so `logs` works afterwards, as with docker), or with a
    /// terminal, our terminal is relayed; signals we get are forwarded; the
    /// exit code is returned once it has exited. With `auto_remove` it is
    /// then removed.
    pub fn run_foreground(&mut self, key: &str, stdin_attached: bool) -> Result<i32> {
        self.run_attached(key, stdin_attached, None)
    }

    /// `run_foreground`, with the output (stream 0 stdout, 1 stderr) going
    /// to `sink` instead of ours: how the builder shows a RUN step's output.
    pub fn run_attached(&mut self, key: &str, stdin_attached: bool, sink: Option<OutputSink>) -> Result<i32> {
        use std::os::fd::AsRawFd;
        let c = self.container(key)?;
        if c.state.status == Status::Running {
            return Err(Error::Conflict(format!("container {} is already running", c.name)));
        }
        let devnull = fs::File::open("/dev/null").map_err(|e| Error::io("opening /dev/null", e))?;
        let stdin = if stdin_attached { 0 } else { devnull.as_raw_fd() };
        let (running, tee) = if c.config.tty && sink.is_none() {
            let running = self.launch(&c, Stdio::Inherit { stdin }).map_err(|e| self.start_failed(&c, e))?;
            (running, None)
        } else {
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            let running = self
                .launch(&c, Stdio::Fds([stdin, out_w.as_raw_fd(), err_w.as_raw_fd()]))
                .map_err(|e| self.start_failed(&c, e))?;
            drop((out_w, err_w));
            (running, Some(Tee::start(out_r, err_r, &self.log_path(&c.id), &c.config.log, sink)?))
        };
        drop(devnull);
        let (code, stats) = running.wait_with_stats()?;
        if let Some(t) = tee {
            t.finish();
        }
        let oom = stats.map(|s| s.memory.oom_kill > 0);
        let code = self.finish(&c, code, oom)?;
        if c.config.auto_remove {
            self.remove(&c.id, true, true)?;
        }
        Ok(code)
    }
}

/// Where a foreground container's output goes instead of our stdout and
/// stderr: called with the stream (0 stdout, 1 stderr) and the bytes.
pub type OutputSink = Box<dyn FnMut(usize, &[u8]) + Send>;

/// Copies a foreground container's output to our stdout/stderr (or a sink)
/// and to its log, on a thread of its own while the caller waits for the exit.
struct Tee {
    exited: std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Tee {
    fn start(
        out: fs::File,
        err: fs::File,
        log: &std::path::Path,
        config: &crate::model::LogConfig,
        mut sink: Option<OutputSink>,
    ) -> Result<Tee> {
        use std::os::fd::AsRawFd;
        use std::sync::atomic::Ordering;
        let mut writer = crate::logs::Writer::open_with(log, config)?;
        let exited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, done) = std::sync::mpsc::channel();
        let flag = exited.clone();
        std::thread::spawn(move || {
            let mut open = vec![(out.as_raw_fd(), 0usize), (err.as_raw_fd(), 1usize)];
            let mut buf = vec![0u8; 64 << 10];
            while !open.is_empty() {
                let mut fds: Vec<libc::pollfd> =
                    open.iter().map(|(fd, _)| libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 }).collect();
                // Once the init is gone, take what is buffered and stop: a
                // process it left behind may hold the pipes open forever.
                let gone = flag.load(Ordering::Acquire);
                // SAFETY: `fds` is a valid array of pollfd.
                let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, if gone { 0 } else { 100 }) };
                if n == 0 && gone {
                    break;
                }
                for p in fds.iter().filter(|p| p.revents != 0) {
                    let stream = open.iter().find(|(fd, _)| *fd == p.fd).map_or(0, |(_, s)| *s);
                    // SAFETY: reading into a valid buffer from a pipe we own.
                    let r = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
                    if r > 0 {
                        let data = &buf[..r as usize];
                        match &mut sink {
                            Some(f) => f(stream, data),
                            None => {
                                let _ = sys::write_all_fd(if stream == 0 { 1 } else { 2 }, data);
                            }
                        }
                        let _ = writer.write(stream, data);
                    } else if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                        open.retain(|(fd, _)| *fd != p.fd);
                    }
                }
            }
            let _ = writer.flush();
            drop((out, err));
            let _ = tx.send(());
        });
        Ok(Tee { exited, done })
    }

    /// After the init exited: lets the copy drain and waits for it.
    fn finish(self) {
        self.exited.store(true, std::sync::atomic::Ordering::Release);
        let _ = self.done.recv_timeout(std::time::Duration::from_secs(5));
    }
}

/// The /etc files docker gives a container: its own hosts (with its
/// addresses), the host's resolv.conf without loopback resolvers (a
/// container cannot reach them) or the network's DNS, and its hostname.
/// With the host's network: copies of the host's hosts and resolv.conf.
fn write_etc_files(
    hosts: &std::path::Path,
    resolv: &std::path::Path,
    hostname_file: &std::path::Path,
    hostname: &str,
    plan: &crate::network::NetworkPlan,
    host_network: bool,
    config: &crate::model::ContainerConfig,
) -> Result<()> {
    let (h, resolv_text) = if host_network {
        (
            fs::read_to_string("/etc/hosts").unwrap_or_default(),
            fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        )
    } else {
        let mut h = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for a in &plan.addresses {
            h.push_str(&format!("{a}\t{hostname}\n"));
        }
        let resolv_text = match &plan.dns {
            Some(server) => format!("nameserver {server}\noptions ndots:0\n"),
            None if !config.dns.is_empty() => config.dns.iter().map(|d| format!("nameserver {d}\n")).collect(),
            None => host_resolv_conf(),
        };
        (h, resolv_text)
    };
    let mut h = h;
    // `--add-host HOST:IP` lines come last, as docker writes them.
    for e in &config.extra_hosts {
        let (host, ip) = e.split_once([':', '=']).unwrap_or((e, ""));
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let ip = if ip == "host-gateway" {
            plan.networks.first().map(|(n, _, _)| n.gateway.clone()).unwrap_or_else(|| "127.0.0.1".into())
        } else {
            ip.to_string()
        };
        h.push_str(&format!("{ip}\t{host}\n"));
    }
    let mut resolv_text = resolv_text;
    if !config.dns_search.is_empty() {
        resolv_text = resolv_text.lines().filter(|l| !l.starts_with("search ")).map(|l| format!("{l}\n")).collect();
        resolv_text.push_str(&format!("search {}\n", config.dns_search.join(" ")));
    }
    if !config.dns_options.is_empty() {
        resolv_text.push_str(&format!("options {}\n", config.dns_options.join(" ")));
    }
    for (path, text) in [(hosts, h), (resolv, resolv_text), (hostname_file, format!("{hostname}\n"))] {
        fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

/// The directory `sub` inside a volume, which must exist and stay inside
/// it (a symlink in the volume may not lead out).
fn volume_subpath(mountpoint: &std::path::Path, volume: &str, sub: &str) -> Result<std::path::PathBuf> {
    let missing = |e: std::io::Error| Error::Invalid(format!("cannot access path {sub:?} in volume {volume}: {e}"));
    let root = fs::canonicalize(mountpoint).map_err(missing)?;
    let dir = fs::canonicalize(mountpoint.join(sub)).map_err(missing)?;
    if !dir.starts_with(&root) {
        return Err(Error::Invalid(format!("subpath {sub:?} leads out of volume {volume}")));
    }
    Ok(dir)
}

fn host_resolv_conf() -> String {
    let text = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    let mut servers = 0;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match (f.next(), f.next()) {
            (Some("nameserver"), Some(ip)) => {
                if ip.starts_with("127.") || ip == "::1" {
                    continue;
                }
                servers += 1;
                out.push_str(line);
                out.push('\n');
            }
            (Some("search" | "options" | "domain"), _) => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    if servers == 0 {
        // Docker's fallback when the host only has a local resolver.
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

pub(crate) fn pipe() -> Result<(fs::File, fs::File)> {
    let mut fds = [0; 2];
    // SAFETY: a valid out-array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::io("creating a pipe", std::io::Error::last_os_error()));
    }
    use std::os::fd::FromRawFd;
    // SAFETY: both fds were just created for us.
    Ok(unsafe { (fs::File::from_raw_fd(fds[0]), fs::File::from_raw_fd(fds[1])) })
}
