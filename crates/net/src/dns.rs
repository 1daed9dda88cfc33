//! The embedded DNS server of user-defined networks (like docker's embedded DNS or podman's
//! aardvark-dns).
//!
//! It answers A queries for container names and aliases from a [`NameSource`] (case-insensitive,
//! with or without the network's search domain), AAAA and other types for those names with an
//! empty answer, and forwards everything else, byte for byte, to the upstream resolvers over UDP
//! (over TCP for queries that came over TCP), relaying the first answer. Names under the network's
//! domain that no container has get NXDOMAIN; other names get SERVFAIL when there is no upstream
//! (e.g. the host only lists loopback resolvers, which a container cannot reach) or none answers.
//!
//! One thread waits in `poll(2)` with no timeout (nothing runs while idle); each forwarded query
//! and each TCP connection gets a short-lived thread of its own.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Context, Result};

/// How long one upstream resolver gets to answer before the next is tried.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// At most this many queries are forwarded (or TCP connections served) at once; more get SERVFAIL.
const MAX_IN_FLIGHT: usize = 256;
/// TCP clients idle for longer are disconnected.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// TTL of our answers: container addresses change when containers are re-created.
const TTL: u32 = 0;
/// At most this many A records per answer (keeps it under 512 bytes).
const MAX_ANSWERS: usize = 24;

/// Where container names come from (the engine's view of the network).
pub trait NameSource: Send + Sync {
    /// The addresses of the container or alias `name` on this network: lowercase, without a
    /// trailing dot (and without the search domain, which the server strips). Empty if unknown.
    fn lookup(&self, name: &str) -> Vec<Ipv4Addr>;

    /// The network's search domain (e.g. `dns.berth`), lowercase, if it has one: names under it
    /// are also looked up without it, and unknown ones get NXDOMAIN rather than being forwarded.
    fn domain(&self) -> Option<String> {
        None
    }
}

/// Tells a running server to return. Clones share the signal; [`Stop::raw_fd`] is an eventfd that
/// a signal handler may write to (write(2) is async-signal-safe).
#[derive(Clone, Debug)]
pub struct Stop(Arc<OwnedFd>);

impl Stop {
    pub fn new() -> io::Result<Stop> {
        // SAFETY: eventfd(2) with constant flags; checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd owned by nobody else.
        Ok(Stop(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    pub fn stop(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
    }

    pub fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// The nameservers of the host's `/etc/resolv.conf` that a container can reach (loopback ones
/// skipped; if only loopback ones are listed, those of systemd-resolved's
/// `/run/systemd/resolve/resolv.conf`), port 53.
pub fn host_upstreams() -> Vec<SocketAddr> {
    let read = |p: &str| std::fs::read_to_string(p).map(|t| parse_resolv_conf(&t)).unwrap_or_default();
    let reachable = |v: Vec<IpAddr>| -> Vec<SocketAddr> {
        v.into_iter().filter(|ip| !ip.is_loopback()).map(|ip| SocketAddr::new(ip, 53)).collect()
    };
    let main = read("/etc/resolv.conf");
    let had_loopback = main.iter().any(|ip| ip.is_loopback());
    let ups = reachable(main);
    if ups.is_empty() && had_loopback {
        return reachable(read("/run/systemd/resolve/resolv.conf"));
    }
    ups
}

/// The `nameserver` addresses of a resolv.conf text (zone ids such as `%eth0` dropped).
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|a| a.split('%').next().and_then(|a| a.parse().ok()))
        .collect()
}

/// Bound sockets of a server: UDP and (if the port could be had) TCP on the same address.
pub struct Server {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
}

impl Server {
    /// Binds UDP and TCP on `listen` (port 0: one free port for both).
    pub fn bind(listen: SocketAddr) -> Result<Server> {
        for _ in 0..16 {
            let udp = UdpSocket::bind(listen).ctx(|| format!("binding DNS server to udp {listen}"))?;
            let addr = udp.local_addr().ctx(|| "reading the DNS socket's address".into())?;
            match TcpListener::bind(addr) {
                Ok(tcp) => return Ok(Server { udp, tcp: Some(tcp) }),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && listen.port() == 0 => continue,
                Err(_) => return Ok(Server { udp, tcp: None }), // UDP alone is enough
            }
        }
        let udp = UdpSocket::bind(listen).ctx(|| format!("binding DNS server to udp {listen}"))?;
        Ok(Server { udp, tcp: None })
    }

    /// A server on an already bound UDP socket (e.g. bound before daemonizing, so binding errors
    /// reach the caller), plus TCP on the same address if it can be had.
    pub fn from_socket(udp: UdpSocket) -> Server {
        let tcp = udp.local_addr().ok().and_then(|a| TcpListener::bind(a).ok());
        Server { udp, tcp }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.udp.local_addr().expect("bound UDP socket has an address")
    }

    /// Serves until `stop`.
    pub fn run(self, names: Arc<dyn NameSource>, upstreams: Vec<SocketAddr>, stop: Stop) -> Result<()> {
        let udp = Arc::new(self.udp);
        let ctx = Arc::new(Ctx { names, upstreams, in_flight: AtomicUsize::new(0) });
        let mut buf = vec![0u8; 65535];
        loop {
            let mut fds = vec![
                libc::pollfd { fd: stop.raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: udp.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            if let Some(tcp) = &self.tcp {
                fds.push(libc::pollfd { fd: tcp.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 });
            }
            // SAFETY: fds is a live array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).ctx(|| "waiting for DNS queries".into());
            }
            if fds[0].revents != 0 {
                return Ok(());
            }
            if fds[1].revents != 0 {
                if let Ok((len, client)) = udp.recv_from(&mut buf) {
                    ctx.udp_query(&udp, buf[..len].to_vec(), client);
                }
            }
            if fds.len() > 2 && fds[2].revents != 0 {
                if let Some(Ok((conn, _))) = self.tcp.as_ref().map(TcpListener::accept) {
                    ctx.tcp_connection(conn);
                }
            }
        }
    }
}

/// Serves DNS on `listen` (UDP, and TCP on the same port when it can be had) until `stop`.
pub fn serve(listen: SocketAddr, names: Arc<dyn NameSource>, upstreams: Vec<SocketAddr>, stop: Stop) -> Result<()> {
    Server::bind(listen)?.run(names, upstreams, stop)
}

/// Serves DNS on a bound UDP socket (and TCP on its address when it can be had) until the process
/// ends.
pub fn serve_socket(udp: UdpSocket, names: Arc<dyn NameSource>, upstreams: Vec<SocketAddr>) -> Result<()> {
    let stop = Stop::new().ctx(|| "creating an eventfd".into())?;
    Server::from_socket(udp).run(names, upstreams, stop)
}

struct Ctx {
    names: Arc<dyn NameSource>,
    upstreams: Vec<SocketAddr>,
    in_flight: AtomicUsize,
}

/// What to do with a query.
#[derive(Debug, PartialEq)]
enum Decision {
    Reply(Vec<u8>),
    Forward,
    Drop,
}

impl Ctx {
    /// Takes a slot for a worker thread, if one is free.
    fn slot(self: &Arc<Self>) -> Option<Slot> {
        let prev = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if prev >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(self.clone()))
    }

    fn udp_query(self: &Arc<Self>, udp: &Arc<UdpSocket>, query: Vec<u8>, client: SocketAddr) {
        match decide(&query, &*self.names, !self.upstreams.is_empty()) {
            Decision::Drop => {}
            Decision::Reply(r) => {
                let _ = udp.send_to(&r, client);
            }
            Decision::Forward => {
                let Some(slot) = self.slot() else {
                    let _ = udp.send_to(&servfail(&query), client);
                    return;
                };
                let udp = udp.clone();
                let spawned = std::thread::Builder::new().name("dns-forward".into()).spawn(move || {
                    let reply = forward_udp(&query, &slot.0.upstreams).unwrap_or_else(|| servfail(&query));
                    let _ = udp.send_to(&reply, client);
                });
                // Without a thread the client just retries.
                drop(spawned);
            }
        }
    }

    fn tcp_connection(self: &Arc<Self>, conn: TcpStream) {
        let Some(slot) = self.slot() else { return };
        let _ = std::thread::Builder::new().name("dns-tcp".into()).spawn(move || {
            let _ = slot.0.serve_tcp(conn);
        });
    }

    fn serve_tcp(&self, mut conn: TcpStream) -> io::Result<()> {
        conn.set_read_timeout(Some(TCP_IDLE))?;
        conn.set_write_timeout(Some(TCP_IDLE))?;
        loop {
            let Some(query) = read_tcp_msg(&mut conn)? else { return Ok(()) };
            let reply = match decide(&query, &*self.names, !self.upstreams.is_empty()) {
                Decision::Drop => continue,
                Decision::Reply(r) => r,
                Decision::Forward => forward_tcp(&query, &self.upstreams).unwrap_or_else(|| servfail(&query)),
            };
            write_tcp_msg(&mut conn, &reply)?;
        }
    }
}

struct Slot(Arc<Ctx>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn read_tcp_msg(conn: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match conn.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut msg)?;
    Ok(Some(msg))
}

fn write_tcp_msg(conn: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    conn.write_all(&out)
}

/// Sends the query to each upstream in turn; the first matching answer.
fn forward_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65535];
    for up in upstreams {
        let local: SocketAddr =
            if up.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
        let Ok(sock) = UdpSocket::bind(local) else { continue };
        if sock.connect(up).is_err() || sock.send(query).is_err() {
            continue;
        }
        let deadline = Instant::now() + UPSTREAM_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match sock.recv(&mut buf) {
                Ok(n) if is_answer_to(&buf[..n], query) => return Some(buf[..n].to_vec()),
                Ok(_) => continue, // not ours
                Err(_) => break,   // timeout or refused: next upstream
            }
        }
    }
    None
}

fn forward_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let Ok(mut conn) = TcpStream::connect_timeout(up, UPSTREAM_TIMEOUT) else { continue };
        let _ = conn.set_read_timeout(Some(UPSTREAM_TIMEOUT));
        let _ = conn.set_write_timeout(Some(UPSTREAM_TIMEOUT));
        if write_tcp_msg(&mut conn, query).is_err() {
            continue;
        }
        if let Ok(Some(reply)) = read_tcp_msg(&mut conn) {
            if is_answer_to(&reply, query) {
                return Some(reply);
            }
        }
    }
    None
}

fn is_answer_to(reply: &[u8], query: &[u8]) -> bool {
    reply.len() >= 12 && reply[0..2] == query[0..2] && reply[2] & 0x80 != 0
}

// ---- the message codec: just what the decisions need ----

const TYPE_A: u16 = 1;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;
const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;

/// The single question of a query.
#[derive(Debug, PartialEq)]
struct Question {
    /// Lowercase, dot-separated, no trailing dot ("" for the root).
    name: String,
    qtype: u16,
    qclass: u16,
    /// Offset just past the question.
    end: usize,
}

fn parse_question(msg: &[u8]) -> Option<Question> {
    let mut pos = 12;
    let mut name = String::new();
    loop {
        let len = *msg.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None; // compression in a question: not from a real client
        }
        let label = msg.get(pos..pos + len)?;
        if !name.is_empty() {
            name.push('.');
        }
        for &b in label {
            name.push(b.to_ascii_lowercase() as char);
        }
        pos += len;
        if name.len() > 255 {
            return None;
        }
    }
    let qtype = u16::from_be_bytes(msg.get(pos..pos + 2)?.try_into().ok()?);
    let qclass = u16::from_be_bytes(msg.get(pos + 2..pos + 4)?.try_into().ok()?);
    Some(Question { name, qtype, qclass, end: pos + 4 })
}

/// A response to `query`: its header and question, our answers.
fn response(
    query: &[u8],
    question_end: Option<usize>,
    rcode: u8,
    authoritative: bool,
    answers: &[Ipv4Addr],
) -> Vec<u8> {
    let mut r = Vec::with_capacity(64 + answers.len() * 16);
    r.extend_from_slice(&query[0..2]);
    let opcode_rd = query[2] & 0x79; // opcode and RD
    r.push(0x80 | opcode_rd | if authoritative { 0x04 } else { 0 });
    r.push(0x80 | (rcode & 0x0f)); // RA
    let qd = u16::from(question_end.is_some());
    r.extend_from_slice(&qd.to_be_bytes());
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    if let Some(end) = question_end {
        r.extend_from_slice(&query[12..end]);
    }
    for ip in answers {
        r.extend_from_slice(&[0xc0, 0x0c]); // the question's name
        r.extend_from_slice(&TYPE_A.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&TTL.to_be_bytes());
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&ip.octets());
    }
    r
}

fn servfail(query: &[u8]) -> Vec<u8> {
    let q = parse_question(query).map(|q| q.end);
    response(query, q, RCODE_SERVFAIL, false, &[])
}

/// Answers a query from the names we know, or says it must be forwarded.
fn decide(query: &[u8], names: &dyn NameSource, have_upstreams: bool) -> Decision {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return Decision::Drop; // too short to answer, or a response
    }
    let opcode = (query[2] >> 3) & 0x0f;
    if opcode != 0 {
        return Decision::Reply(response(query, None, RCODE_NOTIMP, false, &[]));
    }
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    let Some(q) = parse_question(query).filter(|_| qdcount == 1) else {
        return Decision::Reply(response(query, None, RCODE_FORMERR, false, &[]));
    };
    let domain = names.domain().map(|d| d.trim_end_matches('.').to_ascii_lowercase()).filter(|d| !d.is_empty());
    let in_domain = domain.as_deref().and_then(|d| {
        if q.name == d {
            Some("")
        } else {
            q.name.strip_suffix(d).and_then(|s| s.strip_suffix('.'))
        }
    });
    let mut addrs = if q.name.is_empty() { Vec::new() } else { names.lookup(&q.name) };
    if addrs.is_empty() {
        if let Some(short) = in_domain.filter(|s| !s.is_empty()) {
            addrs = names.lookup(short);
        }
    }
    if !addrs.is_empty() {
        let class_ok = q.qclass == CLASS_IN || q.qclass == CLASS_ANY;
        let answers: Vec<Ipv4Addr> = if class_ok && (q.qtype == TYPE_A || q.qtype == TYPE_ANY) {
            addrs.into_iter().take(MAX_ANSWERS).collect()
        } else {
            Vec::new() // AAAA, MX…: the name exists, with no such records
        };
        return Decision::Reply(response(query, Some(q.end), 0, true, &answers));
    }
    if in_domain.is_some() {
        return Decision::Reply(response(query, Some(q.end), RCODE_NXDOMAIN, true, &[]));
    }
    if !have_upstreams {
        return Decision::Reply(response(query, Some(q.end), RCODE_SERVFAIL, false, &[]));
    }
    Decision::Forward
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;
    impl NameSource for Names {
        fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
            match name {
                "web" | "www" => vec![Ipv4Addr::new(10, 1, 0, 2)],
                "db" => vec![Ipv4Addr::new(10, 1, 0, 3), Ipv4Addr::new(10, 1, 0, 4)],
                _ => vec![],
            }
        }
        fn domain(&self) -> Option<String> {
            Some("dns.berth".into())
        }
    }

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.').filter(|l| !l.is_empty()) {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    fn reply(d: Decision) -> Vec<u8> {
        match d {
            Decision::Reply(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn rcode(r: &[u8]) -> u8 {
        r[3] & 0x0f
    }

    fn answers(r: &[u8]) -> Vec<Ipv4Addr> {
        let q = parse_question(r).unwrap();
        let n = u16::from_be_bytes([r[6], r[7]]) as usize;
        (0..n)
            .map(|i| &r[q.end + i * 16 + 12..q.end + i * 16 + 16])
            .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            .collect()
    }

    #[test]
    fn known_names() {
        for name in ["web", "WEB", "www", "web.dns.berth", "Web.DNS.berth."] {
            let r = reply(decide(&query(name, TYPE_A), &Names, true));
            assert_eq!(rcode(&r), 0, "{name}");
            assert_eq!(&r[0..2], &[0x12, 0x34]);
            assert_eq!(r[2] & 0x84, 0x84, "response, authoritative");
            assert_eq!(answers(&r), vec![Ipv4Addr::new(10, 1, 0, 2)], "{name}");
            // The question is echoed with the client's own case (0x20 randomisation).
            assert_eq!(parse_question(&r).unwrap().end, query(name, TYPE_A).len());
        }
        let r = reply(decide(&query("db", TYPE_A), &Names, true));
        assert_eq!(answers(&r).len(), 2);
        let r = reply(decide(&query("web", 28), &Names, true));
        assert_eq!((rcode(&r), answers(&r).len()), (0, 0), "AAAA: no data");
    }

    #[test]
    fn unknown_names() {
        let r = reply(decide(&query("nope.dns.berth", TYPE_A), &Names, true));
        assert_eq!(rcode(&r), RCODE_NXDOMAIN);
        assert_eq!(decide(&query("example.com", TYPE_A), &Names, true), Decision::Forward);
        assert_eq!(decide(&query("nope", TYPE_A), &Names, true), Decision::Forward);
        let r = reply(decide(&query("example.com", TYPE_A), &Names, false));
        assert_eq!(rcode(&r), RCODE_SERVFAIL);
    }

    #[test]
    fn malformed() {
        assert_eq!(decide(&[1, 2, 3], &Names, true), Decision::Drop);
        let mut resp = query("web", TYPE_A);
        resp[2] |= 0x80;
        assert_eq!(decide(&resp, &Names, true), Decision::Drop);
        let mut two = query("web", TYPE_A);
        two[5] = 2;
        assert_eq!(rcode(&reply(decide(&two, &Names, true))), RCODE_FORMERR);
        let truncated = &query("web", TYPE_A)[..15];
        assert_eq!(rcode(&reply(decide(truncated, &Names, true))), RCODE_FORMERR);
        let mut notify = query("web", TYPE_A);
        notify[2] = 4 << 3;
        assert_eq!(rcode(&reply(decide(&notify, &Names, true))), RCODE_NOTIMP);
    }

    #[test]
    fn resolv_conf() {
        let text =
            "# hi\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch x\nnameserver fe80::1%eth0\nnameserver bogus\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec!["127.0.0.53".parse::<IpAddr>().unwrap(), "10.0.0.2".parse().unwrap(), "fe80::1".parse().unwrap()]
        );
    }
}
