//! The channel between the runtime (parent) and the container's init (child):
//! a SOCK_SEQPACKET socketpair, so each message arrives whole. Both ends are
//! close-on-exec: when the child execs the container's program the parent
//! reads end-of-file, which is how it learns the exec succeeded.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags};

/// Messages, one tag byte each, then a payload.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Parent → child: cgroup joined, id maps written; go on.
    Go,
    /// Parent → child: exec the program now.
    Start,
    /// Child → parent: set up and waiting for Start.
    Created,
    /// Child → parent: the pid of the process that will exec (it differs from
    /// the forked child when an extra fork was needed to enter a pid namespace).
    Pid(i32),
    /// Child → parent: a step failed; the text names it.
    Error(String),
    /// Child → parent: the pty master, as an attached fd.
    Pty,
    /// Child → parent: namespaces and mounts are ready, pivot_root is next:
    /// the moment of the prestart and createRuntime hooks.
    CreateHooks,
    /// Parent → child: those ran; here is the state the container's own
    /// hooks (createContainer, startContainer) get on stdin.
    HookState(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go => vec![b'G'],
            Msg::Start => vec![b'S'],
            Msg::Created => vec![b'C'],
            Msg::Pid(p) => {
                let mut v = vec![b'P'];
                v.extend_from_slice(&p.to_le_bytes());
                v
            }
            Msg::Error(e) => {
                let mut v = vec![b'E'];
                v.extend_from_slice(e.as_bytes());
                v
            }
            Msg::Pty => vec![b'T'],
            Msg::CreateHooks => vec![b'H'],
            Msg::HookState(s) => {
                let mut v = vec![b'J'];
                v.extend_from_slice(s.as_bytes());
                v
            }
        }
    }

    fn decode(buf: &[u8]) -> io::Result<Msg> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed message from the container's init");
        Ok(match buf.first() {
            Some(b'G') => Msg::Go,
            Some(b'S') => Msg::Start,
            Some(b'C') => Msg::Created,
            Some(b'P') => Msg::Pid(i32::from_le_bytes(buf.get(1..5).ok_or_else(bad)?.try_into().map_err(|_| bad())?)),
            Some(b'E') => Msg::Error(String::from_utf8_lossy(&buf[1..]).into_owned()),
            Some(b'T') => Msg::Pty,
            Some(b'H') => Msg::CreateHooks,
            Some(b'J') => Msg::HookState(String::from_utf8_lossy(&buf[1..]).into_owned()),
            _ => return Err(bad()),
        })
    }
}

/// One end of the sync channel; dropping it closes that end, which the peer
/// reads as end-of-file.
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair of channel ends, close-on-exec: one for the parent, one
/// for the child.
pub fn pair() -> io::Result<(Channel, Channel)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    sys::cvt(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })?;
    // SAFETY: both fds were just created for us.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Sends one message. Never raises SIGPIPE: a peer that is gone is an
    /// EPIPE error.
    pub fn send(&self, msg: &Msg) -> io::Result<()> {
        self.send_with_fd(msg, None)
    }

    /// Sends one message with `fd` attached (SCM_RIGHTS); the peer gets its
    /// own copy, ours stays open.
    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> io::Result<()> {
        let buf = msg.encode();
        let iov = [IoSlice::new(&buf)];
        let fds;
        let cmsgs: Vec<ControlMessage> = match fd {
            Some(f) => {
                fds = [f];
                vec![ControlMessage::ScmRights(&fds)]
            }
            None => vec![],
        };
        sys::retry(|| {
            socket::sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsgs, MsgFlags::MSG_NOSIGNAL, None)
                .map_err(io::Error::from)
        })?;
        Ok(())
    }

    /// The next message, or None at end-of-file (the peer exec'd or died).
    pub fn recv(&self) -> io::Result<Option<(Msg, Option<OwnedFd>)>> {
        // Room for a hook state with large annotations.
        let mut buf = vec![0u8; 64 << 10];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let r = loop {
                match socket::recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
                {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => break other.map_err(io::Error::from)?,
                }
            };
            let mut fd = None;
            for c in r.cmsgs().map_err(io::Error::from)? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for f in fds {
                        // SAFETY: SCM_RIGHTS gave us a new fd that nobody else owns.
                        let owned = unsafe { OwnedFd::from_raw_fd(f) };
                        if fd.is_none() {
                            fd = Some(owned);
                        }
                    }
                }
            }
            (r.bytes, fd)
        };
        if n == 0 {
            return Ok(None);
        }
        Ok(Some((Msg::decode(&buf[..n])?, fd)))
    }

    /// The socket, for polling it.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_and_without_fds() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::Start,
            Msg::Created,
            Msg::Pid(4242),
            Msg::Error("mount /proc: EPERM".into()),
            Msg::CreateHooks,
            Msg::HookState(r#"{"id":"c"}"#.into()),
        ] {
            a.send(&m).unwrap();
            let (got, fd) = b.recv().unwrap().unwrap();
            assert_eq!(got, m);
            assert!(fd.is_none());
        }
        let file = std::fs::File::open("/dev/null").unwrap();
        a.send_with_fd(&Msg::Pty, Some(file.as_raw_fd())).unwrap();
        let (got, fd) = b.recv().unwrap().unwrap();
        assert_eq!(got, Msg::Pty);
        assert!(fd.is_some());
        drop(a);
        assert!(b.recv().unwrap().is_none(), "end-of-file once the peer is gone");
    }
}
