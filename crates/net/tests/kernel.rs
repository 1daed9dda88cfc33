//! The crate on the real kernel (root): bridges, veth pairs, NAT, port publishing. Every test makes
//! its own uniquely named bridges and namespaces, uses the table `inet berth_test`, and checks that
//! nothing is left afterwards. Traffic goes only to the test's own namespaces and bridges, and to
//! loopback.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use net::{BridgeSpec, Error, PortMapping, Protocol};

fn sysctl(path: &str) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

fn listing() -> String {
    run(&["nft", "list", "table", "inet", TABLE])
}

#[test]
fn bridge_is_idempotent_and_survives_races() {
    let Some(_lock) = setup() else { return };
    let (subnet, gateway) = unique_subnet();
    let spec = BridgeSpec { bridge: unique("bt"), subnet, gateway, internal: false, mtu: Some(1400) };
    {
        let net = Network { spec: spec.clone() };
        let barrier = Arc::new(Barrier::new(3));
        let racers: Vec<_> = (0..3)
            .map(|_| {
                let (spec, barrier) = (spec.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    net::ensure_bridge(&spec)
                })
            })
            .collect();
        for r in racers {
            r.join().unwrap().unwrap();
        }
        let br = &net.spec.bridge;
        let addr = run(&["ip", "-o", "-4", "addr", "show", "dev", br]);
        assert!(addr.contains(&format!("inet {gateway}/24")), "{addr}");
        assert_eq!(addr.lines().count(), 1, "one address: {addr}");
        let link = run(&["ip", "-d", "link", "show", br]);
        assert!(link.contains("UP") && link.contains("mtu 1400") && link.contains("bridge"), "{link}");
        assert_eq!(sysctl("/proc/sys/net/ipv4/ip_forward"), "1");
        assert_eq!(sysctl(&format!("/proc/sys/net/ipv4/conf/{br}/route_localnet")), "1");
        let first = listing();
        assert!(first.contains(&format!("ip saddr {subnet} masquerade")), "{first}");
        assert_eq!(first.matches("masquerade").count(), 3, "one set of rules:\n{first}");
        assert_eq!(first.matches(&format!("ip saddr {subnet}")).count(), 2, "{first}");
        net::ensure_bridge(&spec).unwrap();
        assert_eq!(listing(), first, "a second ensure changes nothing");
        let ns = Netns::new();
        let att =
            Attached(net::attach(&spec, ns.fd().as_fd(), "eth0", subnet.hosts().nth(1).unwrap(), "mtu", true).unwrap());
        assert!(ns.run(&["ip", "link", "show", "eth0"]).contains("mtu 1400"));
        assert!(run(&["ip", "link", "show", &att.host_ifname]).contains("mtu 1400"));
        drop((att, ns));

        // The same bridge made internal: its rules are replaced, not added to.
        let internal = BridgeSpec { internal: true, ..spec.clone() };
        net::ensure_bridge(&internal).unwrap();
        let l = listing();
        assert!(!l.contains(&format!("ip saddr {subnet} masquerade")), "{l}");
        assert!(l.contains("internal"), "{l}");
        net::ensure_bridge(&spec).unwrap();
        assert_eq!(listing(), first);

        // The rules come back if someone deleted the table.
        run(&["nft", "delete", "table", "inet", TABLE]);
        net::ensure_bridge(&spec).unwrap();
        assert_eq!(listing(), first);

        // A name taken by something that is not a bridge.
        let dummy = LinkGuard(unique("btd"));
        run(&["ip", "link", "add", &dummy.0, "type", "veth", "peer", "name", &format!("{}p", dummy.0)]);
        let err = net::ensure_bridge(&BridgeSpec { bridge: dummy.0.clone(), ..spec.clone() }).unwrap_err();
        assert!(err.to_string().contains("is not a bridge"), "{err}");
        let err = net::remove_bridge(&BridgeSpec { bridge: dummy.0.clone(), ..spec.clone() }).unwrap_err();
        assert!(err.to_string().contains("not a bridge"), "{err}");
        assert!(link_exists(&dummy.0));
    }
    assert!(!link_exists(&spec.bridge));
    net::remove_bridge(&spec).unwrap(); // again: nothing to do
    assert_clean(&[&spec.bridge]);
}

#[test]
fn attached_namespaces_reach_each_other_and_the_gateway() {
    let Some(_lock) = setup() else { return };
    let mut links = Vec::new();
    {
        let net1 = Network::new(false);
        let net2 = Network::new(false);
        let (a, b) = (Netns::new(), Netns::new());
        let ip_a = net1.ip(2);
        let ip_b = net1.ip(3);
        let att_a = Attached(net::attach(&net1.spec, a.fd().as_fd(), "eth0", ip_a, "containera", true).unwrap());
        let att_b = Attached(net::attach(&net1.spec, b.fd().as_fd(), "eth0", ip_b, "containerb", true).unwrap());
        links.extend([att_a.host_ifname.clone(), att_b.host_ifname.clone(), net1.spec.bridge.clone()]);
        let inode = net::netns_inode(a.fd().as_fd()).unwrap();
        assert_eq!(att_a.host_ifname, net::host_veth_name("containera", "eth0", inode));
        assert_eq!(
            att_a.0,
            net::Attachment {
                host_ifname: att_a.host_ifname.clone(),
                container_ifname: "eth0".into(),
                address: ip_a,
                prefix: 24,
                gateway: net1.spec.gateway,
                mac: [0x02, 0x42, 10, 213, ip_a.octets()[2], 2],
            }
        );

        // Host end: on the bridge, up, hairpin.
        let h = &att_a.host_ifname;
        let master = std::fs::read_link(format!("/sys/class/net/{h}/master")).unwrap();
        assert!(master.ends_with(&net1.spec.bridge), "{master:?}");
        assert_eq!(sysctl(&format!("/sys/class/net/{h}/brport/hairpin_mode")), "1");
        assert!(run(&["ip", "link", "show", h]).contains(",UP"));

        // Container end: address, MAC, routes, lo.
        let addr = a.run(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
        assert!(addr.contains(&format!("inet {ip_a}/24")), "{addr}");
        let mac = a.run(&["cat", "/sys/class/net/eth0/address"]);
        assert_eq!(mac.trim(), format!("02:42:0a:d5:{:02x}:02", ip_a.octets()[2]));
        let routes = a.run(&["ip", "-4", "route"]);
        assert!(routes.contains(&format!("default via {} dev eth0", net1.spec.gateway)), "{routes}");
        assert!(a.run(&["ip", "link", "show", "lo"]).contains("UP"));

        assert!(a.ping(ip_b), "a → b");
        assert!(b.ping(ip_a), "b → a");
        assert!(a.ping(net1.spec.gateway), "a → gateway");

        // A second network without a default route: eth1 appears, the default route stays.
        let ip_a2 = net2.ip(2);
        let att_a2 = Attached(net::attach(&net2.spec, a.fd().as_fd(), "eth1", ip_a2, "containera", false).unwrap());
        links.extend([att_a2.host_ifname.clone(), net2.spec.bridge.clone()]);
        assert_ne!(att_a2.host_ifname, att_a.host_ifname);
        let routes = a.run(&["ip", "-4", "route"]);
        assert_eq!(routes.matches("default").count(), 1, "{routes}");
        assert!(routes.contains(&format!("dev eth1 proto kernel scope link src {ip_a2}")), "{routes}");
        assert!(a.ping(net2.spec.gateway));
        // Networks are isolated: b (net1) cannot reach a's net2 address through the host.
        assert!(!b.ping(ip_a2), "networks must be isolated");

        net::detach(&att_a2.host_ifname).unwrap();
        assert!(!link_exists(&att_a2.host_ifname));
        assert!(a.exec(&["ip", "link", "show", "eth1"]).status.code() != Some(0), "eth1 goes with its peer");
        net::detach(&att_a2.host_ifname).unwrap(); // idempotent
        let err = net::detach(&net1.spec.bridge).unwrap_err();
        assert!(err.to_string().contains("not a veth"), "{err}");

        // --network none
        let c = Netns::new();
        net::loopback_up(c.fd().as_fd()).unwrap();
        assert!(c.run(&["ip", "link", "show", "lo"]).contains("UP"));
        assert!(c.ping(Ipv4Addr::LOCALHOST));

        net::detach(&att_a.host_ifname).unwrap();
        net::detach(&att_b.host_ifname).unwrap();

        // A container that goes away takes its pair with it, without detach.
        let e = Netns::new();
        let att_e = net::attach(&net1.spec, e.fd().as_fd(), "eth0", net1.ip(9), "containere", true).unwrap();
        assert!(link_exists(&att_e.host_ifname));
        drop(e);
        let t = Instant::now();
        while link_exists(&att_e.host_ifname) {
            assert!(t.elapsed() < Duration::from_secs(10), "{} outlived its namespace", att_e.host_ifname);
            std::thread::sleep(Duration::from_millis(10));
        }
        links.push(att_e.host_ifname.clone());
    }
    assert_clean(&links.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn failed_attach_leaves_nothing() {
    let Some(_lock) = setup() else { return };
    let host;
    {
        let net = Network::new(false);
        let ns = Netns::new();
        ns.run(&["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
        host = net::host_veth_name("failing", "eth0", net::netns_inode(ns.fd().as_fd()).unwrap());
        let err = net::attach(&net.spec, ns.fd().as_fd(), "eth0", net.ip(2), "failing", true).unwrap_err();
        assert!(err.to_string().contains("eth0 already exists in the container's network namespace"), "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
        assert!(!link_exists(&host));

        // Attached once; the same container and interface again is refused and the first stays.
        let ok = Attached(net::attach(&net.spec, ns.fd().as_fd(), "eth1", net.ip(3), "failing", true).unwrap());
        let err = net::attach(&net.spec, ns.fd().as_fd(), "eth1", net.ip(4), "failing", true).unwrap_err();
        assert!(err.to_string().contains("already exists (container failing is attached as eth1 already)"), "{err}");
        assert!(link_exists(&ok.host_ifname));
        assert!(ns.ping(net.spec.gateway));
        net::detach(&ok.host_ifname).unwrap();

        // Not a namespace: the kernel refuses the peer; nothing is left.
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let err = net::attach(&net.spec, file.as_fd(), "eth5", net.ip(5), "failing", true).unwrap_err();
        assert!(err.to_string().contains("creating veth pair"), "{err}");
        let ino = net::netns_inode(file.as_fd()).unwrap();
        assert!(!link_exists(&net::host_veth_name("failing", "eth5", ino)));

        // Bad input is refused before anything is made.
        for (ifname, addr, want) in [
            ("eth0/x", net.ip(6), "invalid container interface name"),
            ("eth6", net.spec.gateway, "not a free host address"),
            ("eth6", Ipv4Addr::new(10, 99, 0, 2), "not a free host address"),
            ("eth6", net.ip(255), "not a free host address"),
        ] {
            let err = net::attach(&net.spec, ns.fd().as_fd(), ifname, addr, "failing", true).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        let missing = BridgeSpec { bridge: unique("btm"), ..net.spec.clone() };
        let err = net::attach(&missing, ns.fd().as_fd(), "eth6", net.ip(6), "failing", true).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
    assert_clean(&[&host]);
}

/// A namespace reached from the host through its own veth pair: "the outside world".
struct Outside {
    ns: Netns,
    _link: LinkGuard,
    host_ip: Ipv4Addr,
    ip: Ipv4Addr,
}

impl Outside {
    fn new() -> Outside {
        let ns = Netns::new();
        let link = LinkGuard(unique("bto"));
        let (subnet, _) = unique_subnet();
        let o = subnet.addr.octets();
        let (host_ip, ip) = (Ipv4Addr::new(o[0], o[1], o[2], 1), Ipv4Addr::new(o[0], o[1], o[2], 2));
        run(&["ip", "link", "add", &link.0, "type", "veth", "peer", "name", "out0", "netns", &ns.name]);
        run(&["ip", "addr", "add", &format!("{host_ip}/24"), "dev", &link.0]);
        run(&["ip", "link", "set", &link.0, "up"]);
        ns.run(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "out0"]);
        ns.run(&["ip", "link", "set", "out0", "up"]);
        ns.run(&["ip", "link", "set", "lo", "up"]);
        Outside { ns, _link: link, host_ip, ip }
    }
}

/// A TCP server in a namespace that answers each connection with `greeting` and the peer's address.
fn tcp_server(ns: &Netns, port: u16, greeting: &'static str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = ns.spawn(move || {
        let l = TcpListener::bind(("0.0.0.0", port)).unwrap();
        l.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            match l.accept() {
                Ok((mut c, peer)) => {
                    let _ = c.write_all(format!("{greeting} {}\n", peer.ip()).as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    rx.recv().unwrap();
    h
}

/// Connects and reads the server's line.
fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut s = String::new();
    c.read_to_string(&mut s)?;
    Ok(s.trim().to_string())
}

#[test]
fn nat_masquerades_and_internal_networks_stay_inside() {
    let Some(_lock) = setup() else { return };
    let mut links = Vec::new();
    {
        let outside = Outside::new();
        links.push(outside._link.0.clone());
        let stop = StopOnDrop::default();
        let server = tcp_server(&outside.ns, 7000, "outside", stop.0.clone());

        let nat = Network::new(false);
        let c = Netns::new();
        let att = Attached(net::attach(&nat.spec, c.fd().as_fd(), "eth0", nat.ip(2), "natc", true).unwrap());
        links.extend([att.host_ifname.clone(), nat.spec.bridge.clone()]);
        let target = SocketAddr::from((outside.ip, 7000));
        let got = c.spawn(move || fetch(target)).join().unwrap().unwrap();
        assert_eq!(got, format!("outside {}", outside.host_ip), "the source is masqueraded to the host's address");
        // The outside cannot open connections into the bridge, even with a route to it.
        outside.ns.run(&["ip", "route", "add", &nat.spec.subnet.to_string(), "via", &outside.host_ip.to_string()]);
        assert!(!outside.ns.ping(nat.ip(2)), "new connections into the bridge are dropped");

        let internal = Network::new(true);
        let d = Netns::new();
        let att_d =
            Attached(net::attach(&internal.spec, d.fd().as_fd(), "eth0", internal.ip(2), "internald", true).unwrap());
        links.extend([att_d.host_ifname.clone(), internal.spec.bridge.clone()]);
        let routes = d.run(&["ip", "-4", "route"]);
        assert!(!routes.contains("default"), "no route out of an internal network: {routes}");
        assert!(d.ping(internal.spec.gateway), "the gateway is reachable");
        let err = d.spawn(move || fetch(target)).join().unwrap().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
        // Even with a route added by hand, forwarding out is dropped.
        d.run(&["ip", "route", "add", "default", "via", &internal.spec.gateway.to_string()]);
        assert!(d.spawn(move || fetch(target)).join().unwrap().is_err());
        assert!(!d.ping(outside.ip));

        drop(stop);
        server.join().unwrap();
        net::detach(&att.host_ifname).unwrap();
        net::detach(&att_d.host_ifname).unwrap();
    }
    assert_clean(&links.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn published_ports_reach_the_container() {
    let Some(_lock) = setup() else { return };
    let mut links = Vec::new();
    {
        let net = Network::new(false);
        let c = Netns::new();
        let cip = net.ip(2);
        let att = Attached(net::attach(&net.spec, c.fd().as_fd(), "eth0", cip, "pubc", true).unwrap());
        links.extend([att.host_ifname.clone(), net.spec.bridge.clone()]);
        let stop = StopOnDrop::default();
        let server = tcp_server(&c, 80, "container", stop.0.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let udp_stop = stop.0.clone();
        let udp_server = c.spawn(move || {
            let s = UdpSocket::bind("0.0.0.0:5353").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            tx.send(()).unwrap();
            let mut buf = [0u8; 512];
            while !udp_stop.load(Ordering::SeqCst) {
                if let Ok((n, peer)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(&[b"echo:", &buf[..n]].concat(), peer);
                }
            }
        });
        rx.recv().unwrap();

        let tcp_port = net::ephemeral_port(Protocol::Tcp).unwrap();
        let udp_port = net::ephemeral_port(Protocol::Udp).unwrap();
        let range = sysctl("/proc/sys/net/ipv4/ip_local_port_range");
        let (lo, hi) = range.split_once(char::is_whitespace).unwrap();
        let (lo, hi): (u16, u16) = (lo.trim().parse().unwrap(), hi.trim().parse().unwrap());
        assert!((lo..=hi).contains(&tcp_port) && (lo..=hi).contains(&udp_port));
        net::check_port_free(None, tcp_port, Protocol::Tcp).unwrap();

        let owner = Published("pubc".into());
        let map = |host_ip, host_port, container_port, protocol| PortMapping {
            host_ip,
            host_port,
            container_ip: cip,
            container_port,
            protocol,
        };
        net::publish(&owner.0, &[map(None, tcp_port, 80, Protocol::Tcp), map(None, udp_port, 5353, Protocol::Udp)])
            .unwrap();
        net::publish(&owner.0, &[map(None, tcp_port, 80, Protocol::Tcp)]).unwrap(); // again: no-op
        assert_eq!(listing().matches("dnat ip to").count(), 2);

        // From the host: loopback (masqueraded, so the container sees the gateway) and the gateway.
        let got = fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, tcp_port))).unwrap();
        assert_eq!(got, format!("container {}", net.spec.gateway));
        let got = fetch(SocketAddr::from((net.spec.gateway, tcp_port))).unwrap();
        assert_eq!(got, format!("container {}", net.spec.gateway));
        // From the container itself through the host (hairpin).
        let gw = net.spec.gateway;
        let got = c.spawn(move || fetch(SocketAddr::from((gw, tcp_port)))).join().unwrap().unwrap();
        assert!(got.starts_with("container "), "{got}");
        // UDP
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        u.send_to(b"ping", ("127.0.0.1", udp_port)).unwrap();
        let mut buf = [0u8; 64];
        let n = u.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"echo:ping");

        // Another container cannot take the same port; the checks say so too.
        let other = Published("otherc".into());
        let err = net::publish(&other.0, &[map(None, tcp_port, 81, Protocol::Tcp)]).unwrap_err();
        assert!(matches!(err, Error::PortAllocated { .. }), "{err}");
        assert_eq!(err.to_string(), format!("Bind for 0.0.0.0:{tcp_port} failed: port is already allocated"));
        let lo_ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(net::publish(&other.0, &[map(lo_ip, tcp_port, 81, Protocol::Tcp)]).is_err());
        assert!(matches!(net::check_port_free(None, tcp_port, Protocol::Tcp), Err(Error::PortAllocated { .. })));
        assert!(matches!(net::check_port_free(lo_ip, udp_port, Protocol::Udp), Err(Error::PortAllocated { .. })));
        net::check_port_free(None, tcp_port, Protocol::Udp).unwrap(); // other protocol
        assert!(net::published()
            .unwrap()
            .iter()
            .any(|(o, p, ip, port)| o == "pubc" && *p == Protocol::Tcp && ip == "0.0.0.0" && *port == tcp_port));

        // A port bound to one host address only.
        let lo_port = net::ephemeral_port(Protocol::Tcp).unwrap();
        net::publish(&other.0, &[map(lo_ip, lo_port, 80, Protocol::Tcp)]).unwrap();
        assert!(fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, lo_port))).unwrap().starts_with("container"));
        assert!(fetch(SocketAddr::from((net.spec.gateway, lo_port))).is_err(), "only on 127.0.0.1");

        net::unpublish(&owner.0).unwrap();
        assert!(fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, tcp_port))).is_err(), "unpublished");
        assert!(fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, lo_port))).is_ok(), "the other owner's port stays");
        assert_eq!(listing().matches("dnat ip to").count(), 1);
        net::unpublish(&owner.0).unwrap(); // idempotent
        net::unpublish(&other.0).unwrap();
        assert_eq!(listing().matches("dnat ip to").count(), 0);
        assert!(table_exists(), "the network still has rules");

        drop(stop);
        server.join().unwrap();
        udp_server.join().unwrap();
        net::detach(&att.host_ifname).unwrap();
    }
    assert_clean(&links.iter().map(String::as_str).collect::<Vec<_>>());

    // Ports alone keep the table; it goes with the last one.
    let owner = Published("lonely".into());
    let port = net::ephemeral_port(Protocol::Tcp).unwrap();
    let m = PortMapping {
        host_ip: None,
        host_port: port,
        container_ip: Ipv4Addr::new(10, 213, 0, 9),
        container_port: 80,
        protocol: Protocol::Tcp,
    };
    net::publish(&owner.0, &[m]).unwrap();
    assert!(table_exists());
    net::unpublish(&owner.0).unwrap();
    drop(owner);
    assert_clean(&[]);
}

#[test]
fn check_port_free_sees_listeners() {
    let Some(_lock) = setup() else { return };
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let lo = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    for host in [lo, None] {
        let err = net::check_port_free(host, port, Protocol::Tcp).unwrap_err();
        assert!(err.to_string().contains("port is already allocated"), "{err}");
    }
    net::check_port_free(lo, port, Protocol::Udp).unwrap();
    let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    let uport = udp.local_addr().unwrap().port();
    assert!(net::check_port_free(lo, uport, Protocol::Udp).is_err());
    drop((tcp, udp));
    net::check_port_free(None, port, Protocol::Tcp).unwrap();
    let err = net::check_port_free(Some("::1".parse().unwrap()), port, Protocol::Tcp).unwrap_err();
    assert!(err.to_string().contains("IPv4"), "{err}");
    assert_clean(&[]);
}

/// `cargo test -p net --test kernel -- --ignored --nocapture attach_cost`
#[test]
#[ignore]
fn attach_cost() {
    let Some(_lock) = setup() else { return };
    let net = Network::new(false);
    let mut ensure = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        net::ensure_bridge(&net.spec).unwrap();
        ensure.push(t.elapsed());
    }
    let mut attach = Vec::new();
    let mut detach = Vec::new();
    for i in 0..100 {
        let ns = Netns::new();
        let fd = ns.fd();
        let key = format!("cost{i}");
        let t = Instant::now();
        let att = Attached(net::attach(&net.spec, fd.as_fd(), "eth0", net.ip(2), &key, true).unwrap());
        attach.push(t.elapsed());
        let t = Instant::now();
        net::detach(&att.host_ifname).unwrap();
        detach.push(t.elapsed());
    }
    for (what, mut v) in [("ensure_bridge (in place)", ensure), ("attach", attach), ("detach", detach)] {
        v.sort();
        println!("{what}: median {:?}, p90 {:?}, max {:?}", v[50], v[90], v[99]);
    }
}
