//! The DNS server over loopback: names, aliases, the search domain, NXDOMAIN, forwarding to a
//! fake upstream, SERVFAIL, TCP; and busybox's nslookup against it inside a test namespace.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::dns::{self, NameSource, Server, Stop};

struct Names(HashMap<&'static str, Vec<Ipv4Addr>>);

impl NameSource for Names {
    fn lookup(&self, name: &str) -> Vec<Ipv4Addr> {
        self.0.get(name).cloned().unwrap_or_default()
    }
    fn domain(&self) -> Option<String> {
        Some("test.berth".into())
    }
}

fn names() -> Arc<dyn NameSource> {
    Arc::new(Names(HashMap::from([
        ("web", vec![Ipv4Addr::new(10, 213, 0, 2)]),
        ("frontend", vec![Ipv4Addr::new(10, 213, 0, 2)]), // an alias of web
        ("db", vec![Ipv4Addr::new(10, 213, 0, 3)]),
    ])))
}

/// A running server; stopped (and checked to return) on drop.
struct Running {
    addr: SocketAddr,
    stop: Stop,
    thread: Option<std::thread::JoinHandle<net::Result<()>>>,
}

fn start(listen: &str, upstreams: Vec<SocketAddr>) -> Running {
    let server = Server::bind(listen.parse().unwrap()).unwrap();
    let addr = server.local_addr();
    let stop = Stop::new().unwrap();
    let s = stop.clone();
    let thread = std::thread::spawn(move || server.run(names(), upstreams, s));
    Running { addr, stop, thread: Some(thread) }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
        let r = self.thread.take().unwrap().join().unwrap();
        if !std::thread::panicking() {
            r.unwrap();
        }
    }
}

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
    q
}

#[derive(Debug, PartialEq)]
struct Answer {
    rcode: u8,
    addrs: Vec<Ipv4Addr>,
}

/// Parses a reply to `query(…)`: its rcode and A records (answers use a pointer to the question
/// or a full name; both are skipped).
fn parse(reply: &[u8], q: &[u8]) -> Answer {
    assert_eq!(reply[0..2], q[0..2], "id");
    assert_ne!(reply[2] & 0x80, 0, "QR");
    let an = u16::from_be_bytes([reply[6], reply[7]]);
    let mut pos = q.len(); // header + the echoed question
    let mut addrs = Vec::new();
    for _ in 0..an {
        // name: pointer or labels
        loop {
            let b = reply[pos];
            if b & 0xc0 == 0xc0 {
                pos += 2;
                break;
            }
            pos += 1 + b as usize;
            if b == 0 {
                break;
            }
        }
        let ty = u16::from_be_bytes([reply[pos], reply[pos + 1]]);
        let len = u16::from_be_bytes([reply[pos + 8], reply[pos + 9]]) as usize;
        let data = &reply[pos + 10..pos + 10 + len];
        if ty == 1 {
            addrs.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        pos += 10 + len;
    }
    Answer { rcode: reply[3] & 0x0f, addrs }
}

fn ask(server: SocketAddr, name: &str, qtype: u16) -> Answer {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = query(0x4242, name, qtype);
    s.send_to(&q, server).unwrap();
    let mut buf = [0u8; 1500];
    let n = s.recv(&mut buf).unwrap();
    parse(&buf[..n], &q)
}

fn ask_tcp(server: SocketAddr, name: &str) -> Answer {
    let mut c = TcpStream::connect(server).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = query(7, name, 1);
    c.write_all(&[&(q.len() as u16).to_be_bytes()[..], &q].concat()).unwrap();
    let mut len = [0u8; 2];
    c.read_exact(&mut len).unwrap();
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut r).unwrap();
    parse(&r, &q)
}

/// A fake upstream resolver: answers every A query with 203.0.113.7 (over UDP and TCP).
fn fake_upstream() -> (SocketAddr, Stop) {
    let server = Server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    struct Everything;
    impl NameSource for Everything {
        fn lookup(&self, _: &str) -> Vec<Ipv4Addr> {
            vec![Ipv4Addr::new(203, 0, 113, 7)]
        }
    }
    let stop = Stop::new().unwrap();
    let s = stop.clone();
    std::thread::spawn(move || server.run(Arc::new(Everything), vec![], s));
    (addr, stop)
}

const A: u16 = 1;
const AAAA: u16 = 28;
const NXDOMAIN: u8 = 3;
const SERVFAIL: u8 = 2;

#[test]
fn answers_names_and_aliases() {
    let s = start("127.0.0.1:0", vec![]);
    let web = vec![Ipv4Addr::new(10, 213, 0, 2)];
    for name in ["web", "WeB", "frontend", "web.test.berth", "FRONTEND.Test.Berth."] {
        assert_eq!(ask(s.addr, name, A), Answer { rcode: 0, addrs: web.clone() }, "{name}");
    }
    assert_eq!(ask(s.addr, "web", AAAA), Answer { rcode: 0, addrs: vec![] }, "AAAA: no records");
    assert_eq!(ask(s.addr, "nothere.test.berth", A).rcode, NXDOMAIN);
    assert_eq!(ask(s.addr, "nothere", A).rcode, SERVFAIL, "no upstream to ask");
    assert_eq!(ask(s.addr, "example.com", A).rcode, SERVFAIL);
    assert_eq!(ask_tcp(s.addr, "db"), Answer { rcode: 0, addrs: vec![Ipv4Addr::new(10, 213, 0, 3)] });
}

#[test]
fn forwards_other_names() {
    let (up, up_stop) = fake_upstream();
    let s = start("127.0.0.1:0", vec![up]);
    let forwarded = Answer { rcode: 0, addrs: vec![Ipv4Addr::new(203, 0, 113, 7)] };
    assert_eq!(ask(s.addr, "example.com", A), forwarded);
    assert_eq!(ask(s.addr, "nothere", A), forwarded);
    assert_eq!(ask_tcp(s.addr, "example.org"), forwarded, "over TCP too");
    assert_eq!(ask(s.addr, "web", A).addrs, vec![Ipv4Addr::new(10, 213, 0, 2)], "own names are not forwarded");
    assert_eq!(ask(s.addr, "nothere.test.berth", A).rcode, NXDOMAIN, "nor the network's domain");
    up_stop.stop();
}

#[test]
fn silent_upstreams_give_servfail() {
    // A socket that never answers, then the fake upstream: the second one's answer is relayed.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (up, up_stop) = fake_upstream();
    let s = start("127.0.0.1:0", vec![silent.local_addr().unwrap(), up]);
    let t = Instant::now();
    assert_eq!(ask(s.addr, "example.com", A).addrs, vec![Ipv4Addr::new(203, 0, 113, 7)]);
    assert!(t.elapsed() >= dns::UPSTREAM_TIMEOUT);
    up_stop.stop();
    let only_silent = start("127.0.0.1:0", vec![silent.local_addr().unwrap()]);
    assert_eq!(ask(only_silent.addr, "example.com", A).rcode, SERVFAIL);
    // Other queries are answered while one waits for an upstream.
    let waiting = std::thread::spawn({
        let addr = only_silent.addr;
        move || ask(addr, "slow.example", A)
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert_eq!(ask(only_silent.addr, "web", A).rcode, 0);
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(waiting.join().unwrap().rcode, SERVFAIL);
}

#[test]
fn busybox_nslookup_in_a_namespace() {
    let Some(_lock) = common::setup() else { return };
    {
        let ns = common::Netns::new();
        net::loopback_up(std::os::fd::AsFd::as_fd(&ns.fd())).unwrap();
        let stop = Stop::new().unwrap();
        let s = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let server = ns.spawn(move || {
            let server = Server::bind("127.0.0.1:53".parse().unwrap()).unwrap();
            tx.send(()).unwrap();
            server.run(names(), vec![], s)
        });
        rx.recv().unwrap();
        let out = ns.run(&["busybox", "nslookup", "-type=a", "frontend", "127.0.0.1"]);
        assert!(out.contains("10.213.0.2"), "{out}");
        let out = ns.exec(&["busybox", "nslookup", "-type=a", "missing.test.berth", "127.0.0.1"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("NXDOMAIN"), "{text}");
        stop.stop();
        server.join().unwrap().unwrap();
    }
    common::assert_clean(&[]);
}

#[test]
fn host_upstreams_skip_loopback() {
    for up in dns::host_upstreams() {
        assert!(!up.ip().is_loopback(), "{up}");
        assert_eq!(up.port(), 53);
    }
}

#[test]
fn a_bound_socket_serves_udp_and_tcp() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = udp.local_addr().unwrap();
    // The server (with its TCP listener) exists before the first question:
    // under load a spawned thread may not have bound TCP yet.
    let server = dns::Server::from_socket(udp);
    let stop = dns::Stop::new().unwrap();
    std::thread::spawn(move || server.run(names(), vec![], stop));
    assert_eq!(ask(addr, "db", A).addrs, vec![Ipv4Addr::new(10, 213, 0, 3)]);
    assert_eq!(ask_tcp(addr, "web").addrs, vec![Ipv4Addr::new(10, 213, 0, 2)]);
}
