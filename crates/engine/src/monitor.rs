//! The monitor: one small process per detached container (berth has no
//! daemon). It is the container's parent: it owns its stdio and writes the
//! json-file log, records the exit, applies the restart policy, runs health
//! checks, and removes an `--rm` container. Containers keep running when the
//! CLI that started them exits, and any later CLI manages them through the
//! database and the runtime state.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{RestartPolicy, Status};
use crate::start::{pipe, Stdio};
use crate::{attach, logs};

/// The fd number the ready pipe has in the monitor.
const READY_FD: RawFd = 3;

impl Engine {
    /// Starts a created or stopped container in the background and returns
    /// once it runs (or with the reason it could not start), through its
    /// monitor process (see `Launcher`).
    pub fn start(&mut self, key: &str) -> Result<()> {
        self.start_with(key, false).map(|_| ())
    }

    /// Starts a container with a client already attached, so not a byte of
    /// its output is missed (docker's attach-then-start): the monitor listens
    /// before the container starts and waits for this connection. `None`
    /// when the container was running already.
    pub fn start_attached(&mut self, key: &str) -> Result<Option<std::os::unix::net::UnixStream>> {
        self.start_with(key, true)
    }

    fn start_with(&mut self, key: &str, attached: bool) -> Result<Option<std::os::unix::net::UnixStream>> {
        let c = self.container(key)?;
        if matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
            return Ok(None);
        }
        self.update_state(&c.id, |s| {
            s.stopped_by_user = false;
            s.error.clear();
        })?;
        let (ready_r, ready_w) = pipe()?;
        let wfd = ready_w.as_raw_fd();
        let mut cmd = self.launcher().command("monitor", &c.id);
        if attached {
            cmd.env(HOLD_ENV, "1");
        }
        // SAFETY: between fork and exec only async-signal-safe calls (dup2, fcntl).
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(wfd, READY_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("starting the monitor ({})", self.launcher().exe.display()), e))?;
        drop(ready_w);
        // The monitor forks once more and its first process exits at once,
        // so nothing is left for us (or a long-running caller) to reap.
        let _ = child.wait();
        let mut ready = std::io::BufReader::new(ready_r);
        let mut first = String::new();
        let _ = std::io::BufRead::read_line(&mut ready, &mut first);
        let mut stream = None;
        let mut answer = first.clone();
        if first == LISTENING {
            stream = Some(crate::attach::connect(&c.id).map_err(|e| Error::io(format!("attaching to {}", c.name), e))?);
            answer.clear();
        }
        let _ = ready.read_to_string(&mut answer);
        match answer.trim() {
            "ok" => Ok(stream),
            err if err.starts_with(EXEC_FAILED) => {
                let (code, message) = err[EXEC_FAILED.len()..].split_once(' ').unwrap_or(("", ""));
                Err(Error::Exec { code: code.parse().unwrap_or(127), message: message.to_string() })
            }
            "" => Err(Error::Invalid(format!("the monitor of {} exited before starting it", c.name))),
            err => Err(Error::Invalid(err.to_string())),
        }
    }
}

/// Set for a monitor that must wait for an attached client before it
/// starts the container (`Engine::start_attached`).
const HOLD_ENV: &str = "BERTH_MONITOR_HOLD";
/// What such a monitor says on the ready pipe once it listens.
const LISTENING: &str = "listening\n";
/// How a monitor tells that the program could not be run: the prefix, then
/// docker's exit code and the message (`Error::Exec` across the pipe).
const EXEC_FAILED: &str = "exec-failed ";

/// The monitor's entry point (`berth internal monitor ID`); returns the
/// process exit code.
pub fn main(root: &Path, id: &str) -> i32 {
    // SAFETY: the ready pipe was installed as fd 3 by `start`.
    let mut ready = Some(unsafe { File::from_raw_fd(READY_FD) });
    let hold = std::env::var_os(HOLD_ENV).is_some();
    // Processes we start (a network's DNS server) must not hold it open:
    // `start` waits for it to close.
    let _ = sys::set_cloexec(READY_FD, true);
    // Detach: the first process exits, the second leads its own session.
    // SAFETY: single-threaded here; the child continues this code.
    match unsafe { libc::fork() } {
        -1 => return 1,
        0 => {}
        _ => {
            std::mem::forget(ready.take());
            return 0;
        }
    }
    // SAFETY: plain syscalls.
    unsafe { libc::setsid() };
    // Stopping a CLI or a terminal must not stop containers.
    for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE] {
        // SAFETY: ignoring a signal is always valid.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    let mut engine = match Engine::open(root) {
        Ok(e) => e,
        Err(e) => {
            report(&mut ready, &e.to_string());
            return 1;
        }
    };
    match supervise(&mut engine, id, &mut ready, hold) {
        Ok(()) => 0,
        Err(e) => {
            report(&mut ready, &e.to_string());
            let _ = engine.update_state(id, |s| s.error = e.to_string());
            1
        }
    }
}

fn report(ready: &mut Option<File>, msg: &str) {
    if let Some(mut f) = ready.take() {
        let _ = f.write_all(msg.as_bytes());
    }
}

fn supervise(engine: &mut Engine, id: &str, ready: &mut Option<File>, mut hold: bool) -> Result<()> {
    let mut backoff = Duration::from_millis(100);
    loop {
        let c = engine.container(id)?;
        // An attach that must see everything connects before the start.
        let mut server = None;
        if std::mem::take(&mut hold) {
            let mut srv = attach::Server::bind(&c.id, c.config.tty)
                .map_err(|e| Error::io(format!("listening for attach to {}", c.name), e))?;
            if let Some(f) = ready.as_mut() {
                f.write_all(LISTENING.as_bytes()).map_err(|e| Error::io("answering the starter", e))?;
            }
            if !srv.accept_first(Duration::from_secs(10)) {
                return Err(Error::Invalid(format!("nobody attached to {} in time", c.name)));
            }
            server = Some(srv);
        }
        let mut log = logs::Writer::open_with(&engine.log_path(id), &c.config.log)?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        // With -i, stdin stays open (for attach); otherwise /dev/null.
        let (stdin_keep, stdin_fd) = if c.config.interactive {
            let (r, w) = pipe()?;
            (Some((r, w)), None)
        } else {
            (None, Some(File::open("/dev/null").map_err(|e| Error::io("opening /dev/null", e))?))
        };
        let in_fd = match (&stdin_keep, &stdin_fd) {
            (Some((r, _)), _) => r.as_raw_fd(),
            (_, Some(f)) => f.as_raw_fd(),
            _ => -1,
        };
        let running = match engine.launch(&c, Stdio::Fds([in_fd, out_w.as_raw_fd(), err_w.as_raw_fd()])) {
            Ok(r) => r,
            Err(e) => {
                let e = engine.start_failed(&c, e);
                if let Error::Exec { code, message } = &e {
                    report(ready, &format!("{EXEC_FAILED}{code} {message}"));
                }
                return Err(e);
            }
        };
        drop((out_w, err_w, stdin_fd));
        report(ready, "ok");
        // The container has its own copy of the read end.
        let stdin_w = stdin_keep.map(|(_, w)| w);
        let pid = running.pid;
        let pty: Option<OwnedFd> = running.pty().and_then(|m| m.try_clone().ok());
        running.detach();
        let started = Instant::now();
        let io = Streams { pipes: [out_r, err_r], pty, stdin: stdin_w, server };
        let status = pump(engine, &c, pid, io, &mut log)?;
        log.flush()?;
        let code = sys::exit_code(status);
        engine.finish(&c, code, None)?;

        // Restart?
        let Ok(now) = engine.container(id) else { return Ok(()) };
        let again = !now.state.stopped_by_user
            && match &now.config.restart {
                RestartPolicy::No => false,
                RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
                RestartPolicy::OnFailure { max_retries } => {
                    code != 0 && (*max_retries == 0 || now.state.restart_count < *max_retries)
                }
            };
        if !again {
            if now.config.auto_remove {
                engine.remove(id, true, true)?;
            }
            return Ok(());
        }
        // Docker's back-off: doubling from 100 ms, reset after 10 s of running.
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        engine.update_state(id, |s| {
            s.status = Status::Restarting;
            s.restart_count += 1;
        })?;
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(60));
        if engine.container(id).map(|c| c.state.stopped_by_user).unwrap_or(true) {
            engine.update_state(id, |s| s.status = Status::Exited)?;
            return Ok(());
        }
    }
}

/// Copies the container's output into the log and to attached clients
/// until its init exits; passes clients' input to its stdin; runs health
/// checks on their schedule. Returns the init's wait status.
/// A running container's streams, as the monitor holds them.
struct Streams {
    /// stdout and stderr pipes (unused with a terminal).
    pipes: [File; 2],
    pty: Option<OwnedFd>,
    /// The write end of the container's stdin (with -i and no terminal).
    stdin: Option<File>,
    /// An attach server already bound (for an attach made before the start).
    server: Option<attach::Server>,
}

fn pump(
    engine: &mut Engine,
    c: &crate::model::Container,
    pid: i32,
    io: Streams,
    log: &mut logs::Writer,
) -> Result<i32> {
    let Streams { pipes, pty, mut stdin, server } = io;
    let mut open: Vec<(RawFd, u8)> = match &pty {
        Some(m) => vec![(m.as_raw_fd(), attach::STDOUT)],
        None => vec![(pipes[0].as_raw_fd(), attach::STDOUT), (pipes[1].as_raw_fd(), attach::STDERR)],
    };
    // Without attach a container still runs.
    let mut server = server.or_else(|| attach::Server::bind(&c.id, pty.is_some()).ok());
    // The init's exit wakes us at once through its pidfd.
    let pidfd = sys::pidfd_open(pid).ok();
    let mut health = crate::health::Schedule::new(c);
    let mut status = None;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if status.is_none() {
            match sys::waitpid(pid, libc::WNOHANG) {
                Ok((p, st)) if p == pid => status = Some(st),
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => status = Some(0),
                _ => {}
            }
        }
        if open.is_empty() {
            if let Some(st) = status {
                return Ok(st);
            }
        }
        let mut fds: Vec<libc::pollfd> =
            open.iter().map(|(fd, _)| libc::pollfd { fd: *fd, events: libc::POLLIN, revents: 0 }).collect();
        if status.is_none() {
            if let Some(p) = &pidfd {
                fds.push(libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
        }
        if let Some(srv) = &server {
            fds.extend(srv.fds().into_iter().map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }));
        }
        // Short waits once the init is gone (drain whatever is left), else
        // until the next health check (the pidfd tells of the exit).
        let timeout = if status.is_some() {
            50
        } else if pidfd.is_none() {
            health.next_in_ms().min(200)
        } else {
            health.next_in_ms()
        };
        // SAFETY: `fds` is a valid array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n == 0 && status.is_some() {
            // Something in the container (outside its pid namespace) still
            // holds the pipes: the init is gone, stop here.
            return Ok(status.unwrap_or(0));
        }
        for p in &fds {
            if p.revents == 0 {
                continue;
            }
            if let Some((_, stream)) = open.iter().find(|(fd, _)| *fd == p.fd).copied() {
                // SAFETY: reading into a valid buffer from an fd we own.
                let r = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
                if r > 0 {
                    log.write(usize::from(stream - 1), &buf[..r as usize])?;
                    if let Some(srv) = &mut server {
                        srv.broadcast(stream, &buf[..r as usize]);
                    }
                } else if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    open.retain(|(fd, _)| *fd != p.fd);
                }
            } else if let Some(srv) = &mut server {
                if p.fd == srv.listener_fd() {
                    srv.accept();
                } else if pidfd.as_ref().map(|f| f.as_raw_fd()) != Some(p.fd) {
                    let input = pty.as_ref().map(|m| m.as_raw_fd()).or(stdin.as_ref().map(|f| f.as_raw_fd()));
                    if srv.input(p.fd, input) && c.config.stdin_once && pty.is_none() {
                        // docker's StdinOnce: the first client's EOF is the container's.
                        stdin = None;
                    }
                }
            }
        }
        if status.is_none() && health.due() {
            health.run(engine, c);
        }
    }
}
