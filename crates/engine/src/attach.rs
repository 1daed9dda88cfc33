//! Attaching to a detached container: its monitor listens on an abstract
//! unix socket named for the container and copies the container's output
//! to every client, in docker's attach framing (an 8-byte header per chunk
//! naming the stream, unless the container has a terminal: then raw), and
//! what a client sends to the container's stdin (or terminal). The API's
//! attach endpoint speaks the same framing, so it can relay as it is.
//!
//! The socket is abstract (no path length limit, nothing to clean up) and
//! only peers with the monitor's own uid are served.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::time::Duration;

/// docker's stream numbers in the framing header.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

fn address(id: &str) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(format!("berth/{id}/attach").as_bytes())
}

/// The monitor's side.
pub struct Server {
    listener: UnixListener,
    clients: Vec<UnixStream>,
    /// Clients whose input has ended but who still read the output (a
    /// client half-closes after its stdin ends, as docker's do).
    readers: Vec<UnixStream>,
    tty: bool,
}

impl Server {
    pub fn bind(id: &str, tty: bool) -> io::Result<Server> {
        let listener = UnixListener::bind_addr(&address(id)?)?;
        listener.set_nonblocking(true)?;
        Ok(Server { listener, clients: Vec::new(), readers: Vec::new(), tty })
    }

    pub fn fds(&self) -> Vec<RawFd> {
        std::iter::once(self.listener.as_raw_fd()).chain(self.clients.iter().map(|c| c.as_raw_fd())).collect()
    }

    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// Accepts waiting clients (of our own uid only).
    pub fn accept(&mut self) {
        while let Ok((s, _)) = self.listener.accept() {
            if peer_uid(&s) != Some(euid()) {
                continue;
            }
            // A client that stops reading must not stall the container.
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = s.set_nonblocking(false);
            self.clients.push(s);
        }
    }

    /// Waits up to `timeout` for a first client (a caller that must not
    /// miss any output connects before the container starts); whether one came.
    pub fn accept_first(&mut self, timeout: Duration) -> bool {
        let mut p = libc::pollfd { fd: self.listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, ms) } > 0 {
            self.accept();
        }
        !self.clients.is_empty()
    }

    /// Copies output to every client; drops the ones that fail.
    pub fn broadcast(&mut self, stream: u8, data: &[u8]) {
        if self.clients.is_empty() && self.readers.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(data.len() + 8);
        if !self.tty {
            frame.extend_from_slice(&[stream, 0, 0, 0]);
            frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        }
        frame.extend_from_slice(data);
        self.clients.retain_mut(|c| c.write_all(&frame).is_ok());
        self.readers.retain_mut(|c| c.write_all(&frame).is_ok());
    }

    /// Reads what client `fd` sent and passes it to `stdin`. Returns true
    /// when the client's input ended: with a terminal that ends its session
    /// (the container runs on, as docker detaches); without one the client
    /// keeps reading the output.
    pub fn input(&mut self, fd: RawFd, stdin: Option<RawFd>) -> bool {
        let Some(i) = self.clients.iter().position(|c| c.as_raw_fd() == fd) else { return false };
        let mut buf = [0u8; 8192];
        match self.clients[i].read(&mut buf) {
            Ok(0) => {
                let c = self.clients.remove(i);
                if !self.tty {
                    self.readers.push(c);
                }
                true
            }
            Err(_) => {
                self.clients.remove(i);
                false
            }
            Ok(n) => {
                if let Some(fd) = stdin {
                    let _ = write_all_fd(fd, &buf[..n]);
                }
                false
            }
        }
    }
}

fn write_all_fd(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: writing from a valid buffer to an fd the caller owns.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

fn peer_uid(s: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a valid out-buffer of the given length.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// The keys that detach from a terminal when none are given (docker's).
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// A detach key spec (`ctrl-p,ctrl-q`, `ctrl-x,y`) as its bytes, read as
/// docker's term.ToBytes does: single characters as they are, `ctrl-@`
/// to `ctrl-_` as control codes, `DEL`. None for a spec it refuses.
pub fn parse_detach_keys(spec: &str) -> Option<Vec<u8>> {
    const CTRL: &[u8] = b"@abcdefghijklmnopqrstuvwxyz[\\]^_";
    spec.split(',')
        .map(|key| match key.as_bytes() {
            [c] => Some(*c),
            _ if key == "DEL" => Some(127),
            _ => {
                let c = key.strip_prefix("ctrl-")?.as_bytes();
                let [c] = c else { return None };
                CTRL.iter().position(|x| x == c).map(|i| i as u8)
            }
        })
        .collect()
}

/// Watches a terminal's input for the detach keys, passing the rest on:
/// a partial match is held back until the next byte decides it.
pub struct DetachWatch {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachWatch {
    pub fn new(keys: Vec<u8>) -> DetachWatch {
        DetachWatch { keys, matched: 0 }
    }

    /// Appends to `out` what goes on to the container; true once the keys
    /// have been typed (what follows them is dropped).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b != self.keys[self.matched] && self.matched > 0 {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
            } else {
                out.push(b);
            }
        }
        false
    }
}

/// Connects to a running container's monitor. A monitor whose container
/// was started detached binds its socket just after the start is reported
/// (docker's `run -d` then `attach` must still work), so a refused
/// connection is tried again for a moment.
pub fn connect(id: &str) -> io::Result<UnixStream> {
    let addr = address(id)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match UnixStream::connect_addr(&addr) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Splits docker's framed stream back into (stream, bytes) chunks.
#[derive(Default)]
pub struct Deframer {
    buf: Vec<u8>,
}

impl Deframer {
    pub fn push(&mut self, data: &[u8], mut out: impl FnMut(u8, &[u8])) {
        self.buf.extend_from_slice(data);
        loop {
            if self.buf.len() < 8 {
                return;
            }
            let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if self.buf.len() < 8 + len {
                return;
            }
            out(self.buf[0], &self.buf[8..8 + len]);
            self.buf.drain(..8 + len);
        }
    }
}

/// Duplicates an fd we hold into an owned one (for a thread to use).
pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd or -1.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `n` was just created for us.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_are_read_as_docker_reads_them() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), DEFAULT_DETACH_KEYS);
        assert_eq!(parse_detach_keys("ctrl-x,y").unwrap(), [0x18, b'y']);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-_,DEL,a").unwrap(), [0, 31, 127, b'a']);
        assert_eq!(parse_detach_keys("ctrl-\\").unwrap(), [28]);
        for bad in ["", "ctrl-", "ctrl-ab", "ctrl-P", "shift-a", "ab", "a,,b"] {
            assert!(parse_detach_keys(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_watch_passes_on_what_is_not_the_keys() {
        let mut w = DetachWatch::new(vec![0x10, 0x11]);
        let mut out = Vec::new();
        assert!(!w.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        // A held-back first key that is not followed by the second goes on.
        assert!(!w.feed(b"c\x10\x10", &mut out));
        assert_eq!(out, b"ab\x10c\x10");
        assert!(w.feed(b"\x11rest", &mut out));
        assert_eq!(out, b"ab\x10c\x10");
    }

    #[test]
    fn framing_roundtrips_across_chunk_boundaries() {
        let mut frames = Vec::new();
        for (s, d) in [(STDOUT, &b"hello"[..]), (STDERR, &b"oops\n"[..])] {
            frames.extend_from_slice(&[s, 0, 0, 0]);
            frames.extend_from_slice(&(d.len() as u32).to_be_bytes());
            frames.extend_from_slice(d);
        }
        let mut got = Vec::new();
        let mut d = Deframer::default();
        for chunk in frames.chunks(3) {
            d.push(chunk, |s, b| got.push((s, b.to_vec())));
        }
        assert_eq!(got, vec![(STDOUT, b"hello".to_vec()), (STDERR, b"oops\n".to_vec())]);
    }

    #[test]
    fn clients_receive_broadcasts_and_send_input() {
        let id = format!("test-{}", std::process::id());
        let mut server = Server::bind(&id, false).unwrap();
        let mut client = connect(&id).unwrap();
        server.accept();
        assert_eq!(server.fds().len(), 2);
        server.broadcast(STDOUT, b"out");
        let mut buf = [0u8; 11];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..8], &[1, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&buf[8..], b"out");
        let (r, w) = crate::start::pipe().unwrap();
        client.write_all(b"in").unwrap();
        let fd = server.fds()[1];
        server.input(fd, Some(w.as_raw_fd()));
        let mut got = [0u8; 2];
        (&r).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"in");
        drop(client);
        server.input(fd, None);
        assert_eq!(server.fds().len(), 1, "a closed client is dropped");
    }
}
