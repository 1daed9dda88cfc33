//! Port publishing: docker's `-p` grammar, DNAT rules, and the host-side port checks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

use crate::error::{invalid, Context, Error, Result};
use crate::nft::{self, PortRule};
use crate::{PortMapping, Protocol};

/// One parsed `-p` mapping: host address (None = all), host port (None = ephemeral), container
/// port, protocol.
pub type PublishSpec = (Option<IpAddr>, Option<u16>, u16, Protocol);

/// Parses docker's `-p` argument: `[[HOST_IP:][HOST_PORT]:]CONTAINER_PORT[/PROTOCOL]`, ports or
/// equal-length ranges (`8000-8002:80-82`), IPv6 host addresses in brackets (`[::1]:8080:80`).
/// `80` and `127.0.0.1::80` leave the host port to be chosen (ephemeral). A host port range with a
/// single container port (docker: "any free port of the range") is refused.
pub fn parse_publish(spec: &str) -> Result<Vec<PublishSpec>> {
    let bad = |why: &str| invalid(format!("invalid port spec {spec:?}: {why}"));
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((rest, "tcp")) => (rest, Protocol::Tcp),
        Some((rest, "udp")) => (rest, Protocol::Udp),
        Some((_, "sctp")) => return Err(bad("sctp is not supported")),
        Some((_, p)) => return Err(bad(&format!("unknown protocol {p:?} (tcp or udp)"))),
        None => (spec, Protocol::Tcp),
    };
    // Split off a bracketed IPv6 address first, then the rest at ':'.
    let (ip, ports): (Option<&str>, &str) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after.split_once(']').ok_or_else(|| bad("missing ']' after the IPv6 address"))?;
        let tail = tail.strip_prefix(':').ok_or_else(|| bad("expected ':' after the host address"))?;
        (Some(ip), tail)
    } else {
        match rest.matches(':').count() {
            0 | 1 => (None, rest),
            2 => match rest.split_once(':') {
                Some((ip, tail)) => (Some(ip), tail),
                None => (None, rest),
            },
            _ => return Err(bad("too many ':' (write IPv6 host addresses in brackets)")),
        }
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(ip.parse::<IpAddr>().map_err(|_| bad(&format!("invalid IP address {ip:?}")))?),
    };
    let (host, container) = match ports.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None if ip.is_some() => return Err(bad("expected HOST_PORT:CONTAINER_PORT after the host address")),
        None => (None, ports),
    };
    let (c_start, c_end) = parse_range(container).map_err(|why| bad(&format!("container port: {why}")))?;
    let count = c_end - c_start + 1;
    let host_ports: Vec<Option<u16>> = match host {
        None | Some("") => vec![None; count as usize],
        Some(h) => {
            let (h_start, h_end) = parse_range(h).map_err(|why| bad(&format!("host port: {why}")))?;
            if h_end - h_start + 1 != count {
                return Err(bad("the host and container port ranges differ in length"));
            }
            (h_start..=h_end).map(Some).collect()
        }
    };
    Ok(host_ports.into_iter().zip(c_start..=c_end).map(|(h, c)| (host_ip, h, c, protocol)).collect())
}

/// `N` or `N-M`, 1..=65535.
fn parse_range(s: &str) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| -> std::result::Result<u16, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{p:?} is not a port number"));
        }
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            _ => Err(format!("{p} is out of range 1-65535")),
        }
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(s)?;
            (p, p)
        }
    };
    if a > b {
        return Err(format!("{s:?} is an empty range"));
    }
    Ok((a, b))
}

/// The host address as written in rules and messages: `0.0.0.0` for any.
fn host_key(host_ip: Option<IpAddr>) -> Result<String> {
    match host_ip {
        None => Ok("0.0.0.0".into()),
        Some(ip) if ip.is_unspecified() => Ok("0.0.0.0".into()),
        Some(IpAddr::V4(ip)) => Ok(ip.to_string()),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => Ok(v4.to_string()),
            None => Err(invalid(format!(
                "cannot publish on IPv6 address {ip}: containers have IPv4 addresses only (use an IPv4 address or none)"
            ))),
        },
    }
}

fn conflicts(a_ip: &str, b_ip: &str) -> bool {
    a_ip == b_ip || a_ip == "0.0.0.0" || b_ip == "0.0.0.0"
}

fn check_owner(owner: &str) -> Result<()> {
    let ok = !owner.is_empty()
        && owner.len() <= 64
        && owner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("invalid port owner {owner:?}: 1-64 characters of [A-Za-z0-9_.-]")))
    }
}

/// Adds DNAT rules so that `host_ip:host_port` (every local address when None, including
/// 127.0.0.1, both for traffic from outside and from the host itself) reaches
/// `container_ip:container_port`. The rules are tagged with `owner` (the container id) and are
/// removed together by [`unpublish`]. Fails with "port is already allocated" if another owner has
/// published the same port (same protocol, overlapping address); publishing the same mapping again
/// for the same owner is a no-op.
///
/// Replies to loopback-sourced connections come back because the network's rules (see
/// [`crate::ensure_bridge`]) masquerade 127.0.0.0/8 into its bridge.
pub fn publish(owner: &str, ports: &[PortMapping]) -> Result<()> {
    check_owner(owner)?;
    let mut wanted = Vec::new();
    for p in ports {
        let ip = host_key(p.host_ip)?;
        if p.host_port == 0 || p.container_port == 0 {
            return Err(invalid(format!("invalid port mapping {ip}:{}->{}: port 0", p.host_port, p.container_port)));
        }
        wanted.push((ip, p));
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let _lock = nft::lock()?;
    let state = nft::read_state()?;
    let t = nft::table();
    let mut script = nft::base_script();
    let mut added: Vec<(String, u16, Protocol)> = Vec::new();
    for (ip, p) in &wanted {
        let same = |r: &&PortRule| r.protocol == p.protocol && r.host_port == p.host_port;
        let mut existing = state.ports.iter().filter(same);
        if let Some(r) = existing.find(|r| conflicts(&r.host_ip, ip)) {
            if r.owner == owner && r.host_ip == *ip {
                continue; // already there
            }
            return Err(Error::PortAllocated { addr: format!("{ip}:{}", p.host_port) });
        }
        if added.iter().any(|(aip, port, proto)| *port == p.host_port && *proto == p.protocol && conflicts(aip, ip)) {
            return Err(Error::PortAllocated { addr: format!("{ip}:{}", p.host_port) });
        }
        added.push((ip.clone(), p.host_port, p.protocol));
        let matcher = if ip == "0.0.0.0" { "meta nfproto ipv4".to_string() } else { format!("ip daddr {ip}") };
        script += &format!(
            "add rule inet {t} ports {matcher} {proto} dport {hport} dnat ip to {cip}:{cport} comment \"{comment}\"\n",
            proto = p.protocol,
            hport = p.host_port,
            cip = p.container_ip,
            cport = p.container_port,
            comment = PortRule::comment(owner, p.protocol, ip, p.host_port),
        );
    }
    nft::apply(&script)
}

/// Removes every rule [`publish`] added for `owner` (and the table, if nothing else is left in
/// it). Idempotent.
pub fn unpublish(owner: &str) -> Result<()> {
    check_owner(owner)?;
    let _lock = nft::lock()?;
    let state = nft::read_state()?;
    let mine: Vec<&PortRule> = state.ports.iter().filter(|r| r.owner == owner).collect();
    if mine.is_empty() {
        return Ok(());
    }
    let t = nft::table();
    let script = if state.networks.is_empty() && mine.len() == state.ports.len() {
        format!("delete table inet {t}\n")
    } else {
        mine.iter().map(|r| format!("delete rule inet {t} ports handle {}\n", r.handle)).collect()
    };
    nft::apply(&script)
}

/// The published ports of the host: (owner, protocol, host address or 0.0.0.0, host port).
pub fn published() -> Result<Vec<(String, Protocol, String, u16)>> {
    let state = nft::read_state()?;
    Ok(state.ports.into_iter().map(|r| (r.owner, r.protocol, r.host_ip, r.host_port)).collect())
}

fn bind_test(addr: SocketAddr, protocol: Protocol) -> std::io::Result<u16> {
    // TcpListener sets SO_REUSEADDR, so only listeners (not TIME_WAIT leftovers) conflict.
    match protocol {
        Protocol::Tcp => TcpListener::bind(addr)?.local_addr().map(|a| a.port()),
        Protocol::Udp => UdpSocket::bind(addr)?.local_addr().map(|a| a.port()),
    }
}

/// Fails with docker's "Bind for 0.0.0.0:8080 failed: port is already allocated" if a program on
/// the host listens on the port (bind test on the address, or on 0.0.0.0 when None) or another
/// container has published it.
pub fn check_port_free(host_ip: Option<IpAddr>, port: u16, protocol: Protocol) -> Result<()> {
    let key = host_key(host_ip)?;
    let ip: Ipv4Addr = key.parse().expect("host_key gives IPv4 addresses");
    let allocated = || Error::PortAllocated { addr: format!("{key}:{port}") };
    match bind_test(SocketAddr::new(IpAddr::V4(ip), port), protocol) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => return Err(allocated()),
        Err(e) => return Err(e).ctx(|| format!("checking {protocol} port {key}:{port}")),
    }
    if ip.is_unspecified() {
        // A wildcard IPv6 listener (dual-stack or not) also owns the port for users of the host.
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        if let Err(e) = bind_test(v6, protocol) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                return Err(allocated());
            }
        }
    }
    if nft::object_exists(nft::Object::Chain("ports"))? {
        let state = nft::read_state()?;
        if state.ports.iter().any(|r| r.protocol == protocol && r.host_port == port && conflicts(&r.host_ip, &key)) {
            return Err(allocated());
        }
    }
    Ok(())
}

/// A free port from the kernel's ephemeral range (`net.ipv4.ip_local_port_range`) that nothing
/// listens on and no container has published.
pub fn ephemeral_port(protocol: Protocol) -> Result<u16> {
    let taken: Vec<u16> = if nft::object_exists(nft::Object::Chain("ports"))? {
        nft::read_state()?.ports.iter().filter(|r| r.protocol == protocol).map(|r| r.host_port).collect()
    } else {
        Vec::new()
    };
    for _ in 0..64 {
        let port = bind_test(SocketAddr::from(([0, 0, 0, 0], 0)), protocol)
            .ctx(|| format!("finding a free {protocol} port"))?;
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    Err(invalid(format!("no free {protocol} port found in the ephemeral range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PublishSpec {
        let v = parse_publish(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        v[0]
    }

    #[test]
    fn every_form() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(one("8080:80"), (None, Some(8080), 80, Protocol::Tcp));
        assert_eq!(one("127.0.0.1:8080:80"), (Some(lo), Some(8080), 80, Protocol::Tcp));
        assert_eq!(one("8080:80/udp"), (None, Some(8080), 80, Protocol::Udp));
        assert_eq!(one("8080:80/tcp"), (None, Some(8080), 80, Protocol::Tcp));
        assert_eq!(one("80"), (None, None, 80, Protocol::Tcp));
        assert_eq!(one("53/udp"), (None, None, 53, Protocol::Udp));
        assert_eq!(one("127.0.0.1::80"), (Some(lo), None, 80, Protocol::Tcp));
        assert_eq!(one(":80"), (None, None, 80, Protocol::Tcp));
        assert_eq!(one("[::1]:8080:80"), (Some("::1".parse().unwrap()), Some(8080), 80, Protocol::Tcp));
        assert_eq!(one("0.0.0.0:1:65535/udp"), (Some("0.0.0.0".parse().unwrap()), Some(1), 65535, Protocol::Udp));
        assert_eq!(
            parse_publish("8000-8002:80-82").unwrap(),
            vec![
                (None, Some(8000), 80, Protocol::Tcp),
                (None, Some(8001), 81, Protocol::Tcp),
                (None, Some(8002), 82, Protocol::Tcp)
            ]
        );
        assert_eq!(
            parse_publish("80-81").unwrap(),
            vec![(None, None, 80, Protocol::Tcp), (None, None, 81, Protocol::Tcp)]
        );
        assert_eq!(parse_publish("10.0.0.1::80-81/udp").unwrap().len(), 2);
    }

    #[test]
    fn errors() {
        for (spec, why) in [
            ("", "container port"),
            ("abc", "\"abc\" is not a port number"),
            ("0", "out of range"),
            ("65536:80", "host port: 65536 is out of range"),
            ("8080:", "container port"),
            ("8080:80/icmp", "unknown protocol \"icmp\""),
            ("8080:80/sctp", "sctp is not supported"),
            ("1.2.3:8080:80", "invalid IP address \"1.2.3\""),
            ("::1:8080:80", "too many ':'"),
            ("[::1:8080:80", "missing ']'"),
            ("8000-8002:80", "differ in length"),
            ("8000-8001:80-82", "differ in length"),
            ("82-80", "empty range"),
            ("-80:80", "host port"),
            ("127.0.0.1:80", "host port: \"127.0.0.1\" is not a port number"),
            ("[::1]:80", "expected HOST_PORT:CONTAINER_PORT"),
            ("8080:+80", "not a port number"),
        ] {
            let err = parse_publish(spec).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid port spec {spec:?}")), "{spec}: {err}");
            assert!(err.contains(why), "{spec}: {err} (wanted {why})");
        }
    }

    #[test]
    fn host_keys() {
        assert_eq!(host_key(None).unwrap(), "0.0.0.0");
        assert_eq!(host_key(Some("::".parse().unwrap())).unwrap(), "0.0.0.0");
        assert_eq!(host_key(Some("::ffff:10.1.2.3".parse().unwrap())).unwrap(), "10.1.2.3");
        assert!(host_key(Some("::1".parse().unwrap())).unwrap_err().to_string().contains("IPv4 addresses only"));
        assert!(check_owner("abc-1.2_x").is_ok());
        assert!(check_owner("a b").is_err() && check_owner("").is_err() && check_owner("x\"y").is_err());
    }
}
