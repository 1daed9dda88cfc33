//! Container networking for berth: docker-style bridge networks.
//!
//! - Networks, [`ensure_bridge`] and [`remove_bridge`]: a Linux bridge per network with the
//!   gateway address, IPv4 forwarding, and the network's nftables rules (NAT out unless internal,
//!   isolation from other networks).
//! - Containers, [`attach`] and [`detach`]: a veth pair per container and network, made over
//!   rtnetlink in a handful of requests (no `ip` processes): about 1 ms.
//! - Port publishing (`-p`) through DNAT: [`parse_publish`], [`check_port_free`],
//!   [`ephemeral_port`], [`publish`] and [`unpublish`].
//! - IPAM: [`next_free_address`].
//! - The embedded DNS server of user-defined networks: [`dns`].
//!
//! Everything here is synchronous and needs root (CAP_NET_ADMIN, and CAP_SYS_ADMIN to enter
//! container network namespaces). berth owns one nftables table, `inet berth` (its layout is
//! described in `src/nft.rs`); nothing else of the host's ruleset is touched. The host's own
//! firewall still applies: a drop in another table (e.g. a FORWARD policy of DROP) wins over
//! berth's accepts. `nft` (Debian package nftables) must be installed.
//!
//! Container exit: there is no need to [`detach`] a container whose network namespace goes away
//! with it; the kernel deletes the veth pair when the namespace is freed, in the background. A
//! synchronous delete costs 15–50 ms (RCU grace periods), so the engine should call [`detach`]
//! only to disconnect a container that keeps running. Host veth names include the namespace's
//! identity, so a restarted container never collides with its previous pair still being freed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::str::FromStr;

pub mod dns;
mod error;
mod ipnet;
mod link;
mod netlink;
mod nft;
mod ports;

pub use error::{Error, Result};
pub use ipnet::{next_free_address, Ipv4Net};
pub use nft::table as nft_table;
#[doc(hidden)]
pub use nft::use_table;
pub use ports::{check_port_free, ephemeral_port, parse_publish, publish, published, unpublish, PublishSpec};

use error::{invalid, Context};
use link::{Link, Peer};
use netlink::{Netlink, NETLINK_ROUTE};

/// A bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// The bridge's interface name (≤ 15 characters: a letter, then letters, digits, `_`, `-`),
    /// e.g. `berth0`. Also names the network's nftables chains.
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// The bridge's own address, inside `subnet`; the containers' default gateway.
    pub gateway: Ipv4Addr,
    /// No NAT and no route out: containers reach each other and the gateway only.
    pub internal: bool,
    /// MTU of the bridge and of the veth pairs; the kernel's default (1500) when None.
    pub mtu: Option<u32>,
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

impl FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Protocol> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(invalid(format!("invalid protocol {s:?} (tcp or udp)"))),
        }
    }
}

/// A container's connection to a network, as made by [`attach`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The host end of the veth pair (enslaved to the bridge); give it to [`detach`].
    pub host_ifname: String,
    /// The container end's name inside its namespace (`eth0`…).
    pub container_ifname: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
}

/// One published port: `host_ip:host_port` → `container_ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// None (or 0.0.0.0 / ::) for every address of the host, including 127.0.0.1.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    pub protocol: Protocol,
}

/// docker's MAC for a container address: `02:42` and the four address bytes.
pub fn mac_for(address: Ipv4Addr) -> [u8; 6] {
    let o = address.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// The host end's name for interface `ifname` of container `key` in the network namespace with
/// inode number `netns_inode`: `veth` and 8 hex digits of a hash of the three. Deterministic, and
/// different for each incarnation of a container (a new namespace), so a restart never meets the
/// pair of the previous one while the kernel is still freeing it.
pub fn host_veth_name(key: &str, ifname: &str, netns_inode: u64) -> String {
    // FNV-1a, 64 bits, folded to 32.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.bytes().chain([0]).chain(ifname.bytes()).chain([0]).chain(netns_inode.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("veth{:08x}", (h ^ (h >> 32)) as u32)
}

/// The inode number of a namespace fd (its identity while it lives).
pub fn netns_inode(netns: BorrowedFd<'_>) -> Result<u64> {
    // SAFETY: libc::stat is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a live borrowed fd into a stat buffer we own; checked.
    if unsafe { libc::fstat(netns.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| "reading the network namespace's identity".into());
    }
    Ok(st.st_ino)
}

/// An interface name the kernel accepts (and that is safe in our messages).
fn check_ifname(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("invalid {what} name {name:?}: 1-15 characters of [A-Za-z0-9_.-]")))
    }
}

fn check_spec(spec: &BridgeSpec) -> Result<()> {
    let name = &spec.bridge;
    check_ifname(name, "bridge")?;
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) || name.contains('.') {
        return Err(invalid(format!("invalid bridge name {name:?}: a letter, then letters, digits, '_' or '-'")));
    }
    let net = &spec.subnet;
    if net.prefix > 30 {
        return Err(invalid(format!("subnet {net} of network {name} is too small (at most /30)")));
    }
    let gw = spec.gateway;
    if !net.contains(gw) || gw == net.network() || gw == net.broadcast() {
        return Err(invalid(format!("gateway {gw} of network {name} is not a host address of its subnet {net}")));
    }
    if let Some(mtu) = spec.mtu {
        if !(68..=65535).contains(&mtu) {
            return Err(invalid(format!("invalid MTU {mtu} for network {name}: 68-65535")));
        }
    }
    Ok(())
}

fn route_socket() -> Result<Netlink> {
    Netlink::new(NETLINK_ROUTE).ctx(|| "opening an rtnetlink socket".into())
}

fn get_link(nl: &mut Netlink, name: &str) -> Result<Option<Link>> {
    link::get_link(nl, name).map_err(|e| e.ctx(format_args!("looking up interface {name}")))
}

fn sysctl_is_one(path: &str) -> bool {
    std::fs::read(path).map(|v| v.trim_ascii() == b"1").unwrap_or(false)
}

fn sysctl_set_one(path: &str) -> Result<()> {
    if sysctl_is_one(path) {
        return Ok(());
    }
    std::fs::write(path, b"1").ctx(|| format!("writing 1 to {path}"))
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

fn route_localnet(bridge: &str) -> String {
    format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet")
}

/// Whether the bridge and its rules are already exactly as `spec` wants (no changes, no lock).
fn bridge_ready(nl: &mut Netlink, spec: &BridgeSpec) -> Result<bool> {
    let Some(link) = get_link(nl, &spec.bridge)? else { return Ok(false) };
    if link.kind.as_deref() != Some("bridge") || !link.is_up() || spec.mtu.is_some_and(|m| m != link.mtu) {
        return Ok(false);
    }
    let addrs =
        link::addresses(nl, link.index).map_err(|e| e.ctx(format_args!("listing addresses of {}", spec.bridge)))?;
    if !addrs.contains(&(spec.gateway, spec.subnet.prefix)) {
        return Ok(false);
    }
    if !sysctl_is_one(IP_FORWARD) || !sysctl_is_one(&route_localnet(&spec.bridge)) {
        return Ok(false);
    }
    nft::network_current(spec)
}

/// Creates the network's bridge if it is missing, gives it the gateway address, brings it up,
/// enables IPv4 forwarding, sets `route_localnet=1` on it (so 127.0.0.1 can be DNAT'd into it for
/// port publishing), and installs the network's nftables rules: masquerade of the subnet's
/// traffic leaving through other interfaces (unless internal), forwarding accepted from the bridge
/// (dropped to other interfaces if internal), into it only for replies, published ports and the
/// bridge itself (so networks are isolated from each other and from outside).
///
/// Idempotent and safe when several processes race. When everything is in place already it only
/// looks (a few netlink requests, no process), so it can be called before every attach.
pub fn ensure_bridge(spec: &BridgeSpec) -> Result<()> {
    check_spec(spec)?;
    let mut nl = route_socket()?;
    if bridge_ready(&mut nl, spec)? {
        return Ok(());
    }
    let _lock = nft::lock()?;
    let name = &spec.bridge;
    let gw = spec.gateway.octets();
    let mac = [0x06, 0x42, gw[0], gw[1], gw[2], gw[3]];
    let link = match link::create_bridge(&mut nl, name, spec.mtu, mac) {
        Ok(()) => get_link(&mut nl, name)?,
        Err(e) if e.is(libc::EEXIST) => get_link(&mut nl, name)?,
        Err(e) => return Err(e.ctx(format_args!("creating bridge {name}"))),
    };
    let link = link.ok_or_else(|| invalid(format!("bridge {name} vanished while being set up")))?;
    if link.kind.as_deref() != Some("bridge") {
        return Err(invalid(format!(
            "interface {name} exists and is not a bridge (it is a {})",
            link.kind.as_deref().unwrap_or("device")
        )));
    }
    if !link.is_up() || spec.mtu.is_some_and(|m| m != link.mtu) {
        link::set_link(&mut nl, link.index, true, spec.mtu).map_err(|e| e.ctx(format_args!("bringing {name} up")))?;
    }
    match link::add_address(&mut nl, link.index, spec.gateway, spec.subnet.prefix) {
        Ok(()) => {}
        Err(e) if e.is(libc::EEXIST) => {}
        Err(e) => return Err(e.ctx(format_args!("adding {}/{} to {name}", spec.gateway, spec.subnet.prefix))),
    }
    sysctl_set_one(IP_FORWARD)?;
    sysctl_set_one(&route_localnet(name))?;
    if !nft::network_current(spec)? {
        nft::apply(&nft::network_script(spec))?;
    }
    Ok(())
}

/// Deletes the network's bridge and its nftables rules (and berth's table when no network and no
/// published port is left). Idempotent. Containers still attached lose their connectivity (their
/// veths stay until [`detach`]).
pub fn remove_bridge(spec: &BridgeSpec) -> Result<()> {
    check_spec(spec)?;
    let name = &spec.bridge;
    let _lock = nft::lock()?;
    let mut nl = route_socket()?;
    if let Some(link) = get_link(&mut nl, name)? {
        if link.kind.as_deref() != Some("bridge") {
            return Err(invalid(format!("refusing to delete interface {name}: it is not a bridge")));
        }
        match link::del_link(&mut nl, link.index) {
            Ok(()) => {}
            Err(e) if e.is(libc::ENODEV) => {}
            Err(e) => return Err(e.ctx(format_args!("deleting bridge {name}"))),
        }
    }
    let state = nft::read_state()?;
    let ours = state.networks.iter().any(|n| n == name);
    if ours || (state.exists && state.networks.is_empty() && state.ports.is_empty()) {
        nft::apply(&nft::network_removal_script(name, &state))?;
    }
    Ok(())
}

/// Connects the container whose network namespace is `netns` to the network: a veth pair whose
/// host end (named by [`host_veth_name`] from `key`, `ifname` and the namespace) is enslaved to
/// the bridge and up, and whose peer is created directly inside `netns` as `ifname` with
/// `address/prefix` and the MAC [`mac_for`]`(address)`, up; `lo` is brought up there too, and when
/// `default_route` (and the network is not internal) a default route via the gateway is added.
/// If any step fails, everything it created is removed.
///
/// The bridge must exist ([`ensure_bridge`]). Cost: seven netlink requests, about 1 ms, most of it
/// the kernel creating the pair.
pub fn attach(
    spec: &BridgeSpec,
    netns: BorrowedFd<'_>,
    ifname: &str,
    address: Ipv4Addr,
    key: &str,
    default_route: bool,
) -> Result<Attachment> {
    attach_with_mac(spec, netns, ifname, address, mac_for(address), key, default_route)
}

/// [`attach`] with the container interface's MAC given (docker's `--mac-address`).
pub fn attach_with_mac(
    spec: &BridgeSpec,
    netns: BorrowedFd<'_>,
    ifname: &str,
    address: Ipv4Addr,
    mac: [u8; 6],
    key: &str,
    default_route: bool,
) -> Result<Attachment> {
    check_ifname(&spec.bridge, "bridge")?;
    check_ifname(ifname, "container interface")?;
    if key.is_empty() {
        return Err(invalid("attach: empty container key"));
    }
    let net = &spec.subnet;
    if !net.contains(address) || address == net.network() || address == net.broadcast() || address == spec.gateway {
        return Err(invalid(format!(
            "address {address} is not a free host address of network {} ({net}, gateway {})",
            spec.bridge, spec.gateway
        )));
    }
    let mut nl = route_socket()?;
    let bridge = match get_link(&mut nl, &spec.bridge)? {
        Some(l) if l.kind.as_deref() == Some("bridge") => l,
        _ => return Err(invalid(format!("network bridge {} does not exist", spec.bridge))),
    };
    let host = host_veth_name(key, ifname, netns_inode(netns)?);
    let peer = Peer { name: ifname, netns, mac };
    if let Err(e) = link::create_veth(&mut nl, &host, bridge.index, spec.mtu, &peer) {
        let context = if !e.is(libc::EEXIST) {
            format!("creating veth pair {host}/{ifname}")
        } else if get_link(&mut nl, &host)?.is_some() {
            format!("creating veth {host}: interface {host} already exists (container {key} is attached as {ifname} already)")
        } else {
            format!("creating veth pair {host}/{ifname}: interface {ifname} already exists in the container's network namespace")
        };
        return Err(e.ctx(context));
    }
    let configured = configure_attachment(&mut nl, spec, netns, &host, ifname, address, default_route);
    if let Err(e) = configured {
        // Deleting the host end takes the peer with it.
        if let Ok(Some(l)) = link::get_link(&mut nl, &host) {
            let _ = link::del_link(&mut nl, l.index);
        }
        return Err(e);
    }
    Ok(Attachment {
        host_ifname: host,
        container_ifname: ifname.to_string(),
        address,
        prefix: net.prefix,
        gateway: spec.gateway,
        mac,
    })
}

fn configure_attachment(
    nl: &mut Netlink,
    spec: &BridgeSpec,
    netns: BorrowedFd<'_>,
    host: &str,
    ifname: &str,
    address: Ipv4Addr,
    default_route: bool,
) -> Result<()> {
    let host_link = get_link(nl, host)?.ok_or_else(|| invalid(format!("veth {host} vanished")))?;
    link::set_hairpin(nl, host_link.index).map_err(|e| e.ctx(format_args!("setting hairpin mode on {host}")))?;
    let mut ns = Netlink::in_netns(netns, NETLINK_ROUTE).ctx(|| "entering the container's network namespace".into())?;
    link::set_link(&mut ns, 1, true, None).map_err(|e| e.ctx("bringing lo up in the container"))?;
    let peer = get_link(&mut ns, ifname)?.ok_or_else(|| invalid(format!("{ifname} is missing in the container")))?;
    link::set_link(&mut ns, peer.index, true, None)
        .map_err(|e| e.ctx(format_args!("bringing {ifname} up in the container")))?;
    link::add_address(&mut ns, peer.index, address, spec.subnet.prefix)
        .map_err(|e| e.ctx(format_args!("adding {address}/{} to {ifname} in the container", spec.subnet.prefix)))?;
    if default_route && !spec.internal {
        link::add_default_route(&mut ns, spec.gateway, peer.index)
            .map_err(|e| e.ctx(format_args!("adding the default route via {} in the container", spec.gateway)))?;
    }
    Ok(())
}

/// Deletes the host end of a veth pair (the container end goes with it). Idempotent; refuses to
/// delete anything but a veth. Takes 15–50 ms in the kernel: not needed when the container's
/// network namespace is going away anyway (see the crate's documentation).
pub fn detach(host_ifname: &str) -> Result<()> {
    check_ifname(host_ifname, "veth")?;
    let mut nl = route_socket()?;
    let Some(link) = get_link(&mut nl, host_ifname)? else { return Ok(()) };
    if link.kind.as_deref() != Some("veth") {
        return Err(invalid(format!("refusing to delete interface {host_ifname}: it is not a veth")));
    }
    match link::del_link(&mut nl, link.index) {
        Ok(()) => Ok(()),
        Err(e) if e.is(libc::ENODEV) => Ok(()),
        Err(e) => Err(e.ctx(format_args!("deleting {host_ifname}"))),
    }
}

/// Brings `lo` up in a network namespace (for `--network none`).
pub fn loopback_up(netns: BorrowedFd<'_>) -> Result<()> {
    let mut ns = Netlink::in_netns(netns, NETLINK_ROUTE).ctx(|| "entering the container's network namespace".into())?;
    link::set_link(&mut ns, 1, true, None).map_err(|e| e.ctx("bringing lo up in the container"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_macs() {
        let a = host_veth_name("0123456789abcdef", "eth0", 4026531840);
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("veth") && a[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, host_veth_name("0123456789abcdef", "eth0", 4026531840));
        assert_ne!(a, host_veth_name("0123456789abcdef", "eth1", 4026531840));
        assert_ne!(a, host_veth_name("0123456789abcdee", "eth0", 4026531840));
        assert_ne!(a, host_veth_name("0123456789abcdef", "eth0", 4026531841));
        assert_eq!(mac_for(Ipv4Addr::new(172, 17, 0, 2)), [0x02, 0x42, 172, 17, 0, 2]);
        assert_eq!("udp".parse::<Protocol>().unwrap(), Protocol::Udp);
        assert!("icmp".parse::<Protocol>().is_err());
    }

    #[test]
    fn spec_checks() {
        let ok = BridgeSpec {
            bridge: "berth0".into(),
            subnet: "10.88.0.0/16".parse().unwrap(),
            gateway: Ipv4Addr::new(10, 88, 0, 1),
            internal: false,
            mtu: None,
        };
        check_spec(&ok).unwrap();
        let bad = |f: &dyn Fn(&mut BridgeSpec), want: &str| {
            let mut s = ok.clone();
            f(&mut s);
            let err = check_spec(&s).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        };
        bad(&|s| s.bridge = "a-very-long-bridge-name".into(), "invalid bridge name");
        bad(&|s| s.bridge = "0br".into(), "a letter, then");
        bad(&|s| s.bridge = "br 0".into(), "invalid bridge name");
        bad(&|s| s.gateway = Ipv4Addr::new(10, 89, 0, 1), "not a host address");
        bad(&|s| s.gateway = Ipv4Addr::new(10, 88, 0, 0), "not a host address");
        bad(&|s| s.subnet = "10.88.0.0/31".parse().unwrap(), "too small");
        bad(&|s| s.mtu = Some(10), "invalid MTU");
    }
}
