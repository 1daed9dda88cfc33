//! A small synchronous netlink client: just what rtnetlink links/addresses/routes and one nftables
//! query need. Requests are acknowledged one at a time; the kernel's extended ack message (e.g.
//! "Nexthop has invalid gateway") is kept in the error.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub(crate) const NETLINK_ROUTE: i32 = 0;
pub(crate) const NETLINK_NETFILTER: i32 = 12;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;
const NLMSGERR_ATTR_MSG: u16 = 1;

/// A netlink error: the errno and the kernel's explanation, when it gave one.
#[derive(Debug)]
pub(crate) struct NlError {
    pub errno: i32,
    pub message: Option<String>,
}

impl NlError {
    pub fn is(&self, errno: i32) -> bool {
        self.errno == errno
    }

    /// Into the crate's error, naming the step.
    pub fn ctx(self, context: impl fmt::Display) -> crate::Error {
        let context = match self.message {
            Some(m) => format!("{context} ({m})"),
            None => context.to_string(),
        };
        crate::Error::Io { context, source: io::Error::from_raw_os_error(self.errno) }
    }
}

impl From<io::Error> for NlError {
    fn from(e: io::Error) -> NlError {
        NlError { errno: e.raw_os_error().unwrap_or(libc::EIO), message: None }
    }
}

pub(crate) type NlResult<T> = std::result::Result<T, NlError>;

/// A message under construction: header, fixed family header, attributes (nests allowed).
pub(crate) struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    pub fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&[0u8; NLMSG_HDRLEN]);
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        Msg { buf, nests: Vec::new() }
    }

    /// Raw bytes (a family header such as ifinfomsg), padded to 4.
    pub fn raw(&mut self, data: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Msg {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    pub fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Msg {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A NUL-terminated string attribute.
    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Msg {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.attr(ty, &v)
    }

    pub fn nest(&mut self, ty: u16) -> &mut Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub fn end(&mut self) -> &mut Msg {
        let start = self.nests.pop().expect("netlink nest end without begin");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn add_flags(&mut self, flags: u16) {
        let old = u16::from_ne_bytes([self.buf[6], self.buf[7]]);
        self.buf[6..8].copy_from_slice(&(old | flags).to_ne_bytes());
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn finish(&mut self, seq: u32) -> &[u8] {
        debug_assert!(self.nests.is_empty());
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// One reply message's payload (family header + attributes).
pub(crate) struct Reply {
    pub payload: Vec<u8>,
}

/// A netlink socket of one protocol, in the network namespace it was created in.
pub(crate) struct Netlink {
    fd: OwnedFd,
    seq: u32,
    rx: Vec<u8>,
}

impl Netlink {
    pub fn new(protocol: i32) -> io::Result<Netlink> {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: valid fd, pointer to a live c_int and its size. Failure is harmless (older
            // kernels): we only lose the extended messages.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_NETLINK,
                    opt,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Ok(Netlink { fd, seq: 0, rx: vec![0u8; 32 * 1024] })
    }

    /// A socket inside the network namespace `netns`: the calling thread enters it just long
    /// enough to create the socket, then returns to its own namespace.
    pub fn in_netns(netns: BorrowedFd<'_>, protocol: i32) -> io::Result<Netlink> {
        let own = File::open("/proc/thread-self/ns/net")?;
        // SAFETY: setns(2) on a caller-provided namespace fd; checked.
        if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = Netlink::new(protocol);
        // SAFETY: setns(2) back into the namespace we came from, through an fd we opened.
        if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            // Staying in the container's namespace would make every later network operation of
            // this thread act on the wrong namespace; that must never go unnoticed.
            eprintln!("berth net: cannot return to the host network namespace: {}", io::Error::last_os_error());
            std::process::abort();
        }
        sock
    }

    fn send(&mut self, msg: &mut Msg) -> NlResult<u32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        // SAFETY: sockaddr_nl is plain data; all-zero addresses the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: the buffer and address are live for the call and their lengths are right.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    bytes.as_ptr() as *const libc::c_void,
                    bytes.len(),
                    0,
                    &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return Ok(seq);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
    }

    /// Sends `msg` and collects replies for it until the ack, an error or the end of a dump.
    fn exchange(&mut self, msg: &mut Msg) -> NlResult<Vec<Reply>> {
        let seq = self.send(msg)?;
        let mut replies = Vec::new();
        loop {
            // SAFETY: rx is a live buffer of the given length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), self.rx.as_mut_ptr() as *mut libc::c_void, self.rx.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            let mut data = &self.rx[..n as usize];
            while data.len() >= NLMSG_HDRLEN {
                let len = ne_u32(data, 0) as usize;
                let ty = ne_u16(data, 4);
                let flags = ne_u16(data, 6);
                let mseq = ne_u32(data, 8);
                if len < NLMSG_HDRLEN || len > data.len() {
                    return Err(NlError { errno: libc::EIO, message: Some("malformed netlink reply".into()) });
                }
                let payload = &data[NLMSG_HDRLEN..len];
                data = &data[align(len).min(data.len())..];
                if mseq != seq {
                    continue; // a stale reply to an earlier request
                }
                match ty {
                    NLMSG_DONE => return Ok(replies),
                    NLMSG_ERROR => {
                        if payload.len() < 4 {
                            return Err(NlError { errno: libc::EIO, message: None });
                        }
                        let code = ne_u32(payload, 0) as i32;
                        if code == 0 {
                            return Ok(replies);
                        }
                        let message = if flags & NLM_F_ACK_TLVS != 0 { ext_ack_message(payload, flags) } else { None };
                        return Err(NlError { errno: -code, message });
                    }
                    _ => replies.push(Reply { payload: payload.to_vec() }),
                }
            }
        }
    }

    /// A request that changes something; waits for its acknowledgement.
    pub fn request(&mut self, msg: &mut Msg) -> NlResult<()> {
        msg.add_flags(NLM_F_ACK);
        self.exchange(msg).map(drop)
    }

    /// A get request answered by one message (or an error).
    pub fn get(&mut self, msg: &mut Msg) -> NlResult<Reply> {
        msg.add_flags(NLM_F_ACK);
        let mut replies = self.exchange(msg)?;
        if replies.is_empty() {
            return Err(NlError { errno: libc::EIO, message: Some("empty netlink reply".into()) });
        }
        Ok(replies.swap_remove(0))
    }

    /// A dump request; every message until NLMSG_DONE.
    pub fn dump(&mut self, msg: &mut Msg) -> NlResult<Vec<Reply>> {
        msg.add_flags(NLM_F_DUMP);
        self.exchange(msg)
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// The NLMSGERR_ATTR_MSG of an error message's TLVs.
fn ext_ack_message(payload: &[u8], flags: u16) -> Option<String> {
    // struct nlmsgerr: error code, then the request's header (and payload unless capped).
    let skip = if flags & NLM_F_CAPPED != 0 {
        4 + NLMSG_HDRLEN
    } else {
        let inner = (payload.len() >= 8).then(|| ne_u32(payload, 4) as usize)?;
        4 + align(inner)
    };
    attrs(payload.get(skip..)?).find(|(t, _)| *t == NLMSGERR_ATTR_MSG).map(|(_, v)| cstr(v))
}

/// Iterates the attributes in `data`: (type without flags, payload).
pub(crate) fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let ty = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            return None;
        }
        let value = &data[4..len];
        data = &data[align(len).min(data.len())..];
        Some((ty, value))
    })
}

/// A string attribute, without its NUL.
pub(crate) fn cstr(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// The native-endian integer at `at` in `b`: netlink's encoding. Callers
/// check lengths first; a short buffer reads as 0 rather than panicking.
pub(crate) fn ne_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()).map_or(0, u32::from_ne_bytes)
}

pub(crate) fn ne_u16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2).and_then(|s| <[u8; 2]>::try_from(s).ok()).map_or(0, u16::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_parse_attributes() {
        let mut m = Msg::new(16, NLM_F_CREATE);
        m.raw(&[1, 2, 3]).attr_str(3, "br0").nest(18).attr_str(1, "bridge").end().attr_u32(4, 1500);
        let bytes = m.finish(7).to_vec();
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize, bytes.len());
        assert_eq!(bytes.len() % 4, 0);
        let body = &bytes[NLMSG_HDRLEN + 4..];
        let parsed: Vec<_> = attrs(body).collect();
        assert_eq!(parsed.len(), 3);
        assert_eq!((parsed[0].0, cstr(parsed[0].1).as_str()), (3, "br0"));
        assert_eq!(parsed[1].0, 18);
        let inner: Vec<_> = attrs(parsed[1].1).collect();
        assert_eq!(cstr(inner[0].1), "bridge");
        assert_eq!(parsed[2].1, 1500u32.to_ne_bytes());
    }
}
