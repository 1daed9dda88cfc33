//! Terminals. The pty is opened from the container's own devpts instance (so
//! the slave's name and permissions are the container's), /dev/console is
//! bound to it, and the master goes either to the caller's console socket
//! (runc's `--console-socket` protocol: one SCM_RIGHTS message) or back to the
//! runtime, which then relays between its own terminal and the container.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{self, ControlMessage, MsgFlags};

use crate::rootfs::{dev, resolve};
use sys::{cvt, Follow};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Opens a new pty pair inside the container root `root` and, for the
/// container's first process, binds the slave to /dev/console.
/// Returns (master, slave).
pub fn open_in_root(root: RawFd, size: Option<(u16, u16)>, console: bool) -> Result<(OwnedFd, OwnedFd), String> {
    let open = |p: &str| sys::root::open(root, Path::new(p), libc::O_RDWR | libc::O_NOCTTY, 0, Follow::InRoot);
    let master = open("/dev/pts/ptmx")
        .or_else(|_| open("/dev/ptmx"))
        .map_err(|e| format!("process.terminal: opening the container's /dev/ptmx (mount devpts on /dev/pts): {e}"))?;
    let wrap = |what: &str, r: io::Result<i32>| r.map_err(|e| format!("process.terminal: {what}: {e}"));
    if sys::fstatfs_magic(master.as_raw_fd()).map_err(|e| format!("process.terminal: {e}"))? != DEVPTS_SUPER_MAGIC {
        return Err("process.terminal: the container's /dev/ptmx is not on a devpts filesystem".into());
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from the pointer.
    wrap("unlocking the pty", cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) }))?;
    // TIOCGPTPEER opens the slave through the master, with no path lookup.
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let slave =
        wrap("opening the pty slave", cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) }))?;
    // SAFETY: the fd was just returned by the kernel.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some((rows, cols)) = size {
        set_size(master.as_raw_fd(), rows, cols).map_err(|e| format!("process.consoleSize: {e}"))?;
    }
    if !console {
        return Ok((master, slave));
    }
    let console = resolve::create_file(root, Path::new("/dev/console"), 0o666)
        .map_err(|e| format!("process.terminal: creating /dev/console: {e}"))?;
    // Bind the very inode we hold (the slave from TIOCGPTPEER), not whatever
    // /dev/pts/N names by the time it is looked up.
    dev::bind_fd(slave.as_raw_fd(), console.as_raw_fd())
        .map_err(|e| format!("process.terminal: binding /dev/console: {e}"))?;
    Ok((master, slave))
}

/// Sets the terminal's window size (TIOCSWINSZ); the foreground process group
/// gets SIGWINCH.
pub fn set_size(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) })?;
    Ok(())
}

/// The terminal's window size as (rows, cols); fails with ENOTTY on anything
/// but a terminal.
pub fn get_size(fd: RawFd) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a winsize to the pointer.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// Makes `slave` this session's controlling terminal and the process's stdio.
pub fn make_controlling(slave: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY with argument 0 (do not steal).
    cvt(unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) })?;
    for fd in 0..3 {
        sys::dup2(slave, fd)?;
    }
    Ok(())
}

/// Sends the master to a console socket, as runc does: the fd rides on a
/// message whose payload is the pty's name.
pub fn send_to_console_socket(sock: RawFd, master: RawFd) -> io::Result<()> {
    let name = b"/dev/ptmx";
    let iov = [IoSlice::new(name)];
    let fds = [master];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    socket::sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None).map_err(io::Error::from)?;
    Ok(())
}

/// Puts the caller's terminal into raw mode for the lifetime of the guard, so
/// keys reach the container's terminal unprocessed.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Switches `fd` (a terminal) to raw mode; its attributes are restored
    /// when the guard drops. Fails with ENOTTY when `fd` is no terminal.
    pub fn enter(fd: RawFd) -> io::Result<RawMode> {
        let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: valid out-pointer, initialised on success.
        cvt(unsafe { libc::tcgetattr(fd, t.as_mut_ptr()) })?;
        // SAFETY: tcgetattr succeeded.
        let saved = unsafe { t.assume_init() };
        let mut raw = saved;
        // SAFETY: cfmakeraw only edits the struct.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: valid termios pointer.
        cvt(unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) })?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes saved in `enter`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// Whether `fd` is a terminal (a closed or bad fd is not).
pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the fd.
    unsafe { libc::isatty(fd) == 1 }
}

/// Connects to the caller's console socket (a unix socket path on the host).
pub fn connect_console_socket(path: &Path) -> io::Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)?;
    Ok(OwnedFd::from(s))
}
