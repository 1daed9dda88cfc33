//! Running a container process in the foreground: forward the signals the
//! runtime receives, relay the terminal if there is one, reap, and return the
//! exit code the shell would show (128 + signal when killed).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::process::tty;

/// Signals the runtime catches while a container runs in the foreground.
/// Everything a user can send is forwarded; SIGCHLD and SIGWINCH are ours.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGALRM,
    Signal::SIGPWR,
];

/// The signals a foreground wait forwards, blocked and read from a signalfd;
/// dropping it restores the thread's previous mask.
pub struct Signals {
    fd: SignalFd,
    old: SigSet,
}

impl Signals {
    /// Blocks the forwarded signals (and SIGCHLD, SIGWINCH) and reads them from
    /// a signalfd instead. Call right after the clone.
    pub fn block() -> io::Result<Signals> {
        let mut set = SigSet::empty();
        for &s in FORWARDED {
            set.add(s);
        }
        set.add(Signal::SIGCHLD);
        set.add(Signal::SIGWINCH);
        let old = set.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK).map_err(io::Error::from)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(io::Error::from)?;
        Ok(Signals { fd, old })
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        let _ = self.old.thread_set_mask();
    }
}

/// Waits for `pid` to exit, forwarding signals to it and relaying `pty`
/// (a terminal master) to our stdin/stdout. Other children that exit meanwhile
/// (orphans re-parented to us as subreaper) are reaped silently.
pub fn wait(pid: libc::pid_t, signals: &Signals, pty: Option<OwnedFd>) -> io::Result<i32> {
    let _raw = match &pty {
        Some(_) if tty::is_tty(0) => tty::RawMode::enter(0).ok(),
        _ => None,
    };
    if let Some(m) = &pty {
        if let Ok((rows, cols)) = tty::get_size(0) {
            let _ = tty::set_size(m.as_raw_fd(), rows, cols);
        }
    }
    let mut stdin_open = pty.is_some();
    let mut master_open = pty.is_some();
    let mut status = None;
    loop {
        // A SIGCHLD may have come before the signals were blocked, or been
        // merged with another: look directly as well.
        if status.is_none() {
            reap(pid, &mut status)?;
        }
        if let Some(st) = status {
            if !master_open {
                return Ok(sys::exit_code(st));
            }
        }
        let mut fds = vec![libc::pollfd { fd: signals.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if let Some(m) = &pty {
            if master_open {
                fds.push(libc::pollfd { fd: m.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
            if stdin_open && status.is_none() {
                fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
            }
        }
        // Once the process is gone, drain the terminal without blocking.
        let timeout = if status.is_some() { 0 } else { -1 };
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 && status.is_some() {
            master_open = false;
            continue;
        }
        for p in &fds {
            if p.revents == 0 {
                continue;
            }
            if p.fd == signals.fd.as_raw_fd() {
                while let Ok(Some(info)) = signals.fd.read_signal() {
                    let sig = info.ssi_signo as i32;
                    if sig == libc::SIGCHLD {
                        reap(pid, &mut status)?;
                    } else if sig == libc::SIGWINCH {
                        if let (Some(m), Ok((rows, cols))) = (&pty, tty::get_size(0)) {
                            let _ = tty::set_size(m.as_raw_fd(), rows, cols);
                        }
                    } else if status.is_none() {
                        // SAFETY: `pid` is our unreaped child, so it cannot have
                        // been reused.
                        unsafe { libc::kill(pid, sig) };
                    }
                }
            } else if Some(p.fd) == pty.as_ref().map(|m| m.as_raw_fd()) {
                if !copy(p.fd, 1)? {
                    master_open = false;
                }
            } else if p.fd == 0 && !copy(0, pty.as_ref().map_or(-1, |m| m.as_raw_fd()))? {
                stdin_open = false;
            }
        }
    }
}

fn reap(pid: libc::pid_t, status: &mut Option<i32>) -> io::Result<()> {
    loop {
        match sys::waitpid(-1, libc::WNOHANG) {
            Ok((0, _)) => return Ok(()),
            Ok((p, st)) if p == pid => *status = Some(st),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Copies what is readable from `from` to `to`; false at end-of-file (or EIO,
/// which a pty master reports once the slave side is closed).
fn copy(from: RawFd, to: RawFd) -> io::Result<bool> {
    let mut buf = [0u8; 16384];
    // SAFETY: reading into a valid buffer.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(true),
            Some(libc::EIO) => Ok(false),
            _ => Err(e),
        };
    }
    if n == 0 {
        return Ok(false);
    }
    let _ = sys::write_all_fd(to, &buf[..n as usize]);
    Ok(true)
}
