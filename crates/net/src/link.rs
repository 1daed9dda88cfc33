//! rtnetlink operations on links, addresses and routes.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::netlink::{attrs, cstr, Msg, Netlink, NlResult, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_PROTINFO: u16 = 12;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_BRPORT_MODE: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;

const IFF_UP: u32 = 1;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

/// What we need to know about a link.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub index: u32,
    pub flags: u32,
    pub mtu: u32,
    pub kind: Option<String>,
    pub master: Option<u32>,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
}

/// struct ifinfomsg.
fn ifinfomsg(family: u8, index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = family;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// The link called `name`, or None.
pub(crate) fn get_link(nl: &mut Netlink, name: &str) -> NlResult<Option<Link>> {
    let mut m = Msg::new(RTM_GETLINK, 0);
    m.raw(&ifinfomsg(libc::AF_UNSPEC as u8, 0, 0, 0)).attr_str(IFLA_IFNAME, name);
    match nl.get(&mut m) {
        Ok(reply) => Ok(parse_link(&reply.payload)),
        Err(e) if e.is(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

fn parse_link(p: &[u8]) -> Option<Link> {
    if p.len() < 16 {
        return None;
    }
    let index = crate::netlink::ne_u32(p, 4);
    let flags = crate::netlink::ne_u32(p, 8);
    let mut link = Link { index, flags, mtu: 0, kind: None, master: None };
    for (ty, v) in attrs(&p[16..]) {
        match ty {
            IFLA_MTU if v.len() == 4 => link.mtu = crate::netlink::ne_u32(v, 0),
            IFLA_MASTER if v.len() == 4 => link.master = Some(crate::netlink::ne_u32(v, 0)),
            IFLA_LINKINFO => {
                link.kind = attrs(v).find(|(t, _)| *t == IFLA_INFO_KIND).map(|(_, k)| cstr(k));
            }
            _ => {}
        }
    }
    Some(link)
}

/// Creates a bridge, up, with a fixed MAC (otherwise the bridge takes its ports' lowest MAC and the
/// gateway's MAC would change under the containers' ARP caches). EEXIST if the name is taken.
pub(crate) fn create_bridge(nl: &mut Netlink, name: &str, mtu: Option<u32>, mac: [u8; 6]) -> NlResult<()> {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.raw(&ifinfomsg(libc::AF_UNSPEC as u8, 0, IFF_UP, IFF_UP)).attr_str(IFLA_IFNAME, name).attr(IFLA_ADDRESS, &mac);
    if let Some(mtu) = mtu {
        m.attr_u32(IFLA_MTU, mtu);
    }
    m.nest(IFLA_LINKINFO).attr_str(IFLA_INFO_KIND, "bridge").end();
    nl.request(&mut m)
}

/// Sets a link up, and its MTU when given.
pub(crate) fn set_link(nl: &mut Netlink, index: u32, up: bool, mtu: Option<u32>) -> NlResult<()> {
    let flags = if up { IFF_UP } else { 0 };
    let mut m = Msg::new(RTM_NEWLINK, 0);
    m.raw(&ifinfomsg(libc::AF_UNSPEC as u8, index, flags, IFF_UP));
    if let Some(mtu) = mtu {
        m.attr_u32(IFLA_MTU, mtu);
    }
    nl.request(&mut m)
}

/// Enables hairpin mode on a bridge port, so a container can reach itself through a published port.
pub(crate) fn set_hairpin(nl: &mut Netlink, index: u32) -> NlResult<()> {
    let mut m = Msg::new(RTM_SETLINK, 0);
    m.raw(&ifinfomsg(libc::AF_BRIDGE as u8, index, 0, 0)).nest(IFLA_PROTINFO).attr(IFLA_BRPORT_MODE, &[1]).end();
    nl.request(&mut m)
}

/// The peer end of a veth pair being created.
pub(crate) struct Peer<'a> {
    pub name: &'a str,
    pub netns: BorrowedFd<'a>,
    pub mac: [u8; 6],
}

/// Creates a veth pair in one request: `host` enslaved to `master` and up, the peer created
/// directly inside `peer.netns` under its final name, with its MAC (down: bring it up there).
pub(crate) fn create_veth(
    nl: &mut Netlink,
    host: &str,
    master: u32,
    mtu: Option<u32>,
    peer: &Peer<'_>,
) -> NlResult<()> {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    m.raw(&ifinfomsg(libc::AF_UNSPEC as u8, 0, IFF_UP, IFF_UP))
        .attr_str(IFLA_IFNAME, host)
        .attr_u32(IFLA_MASTER, master);
    if let Some(mtu) = mtu {
        m.attr_u32(IFLA_MTU, mtu);
    }
    m.nest(IFLA_LINKINFO).attr_str(IFLA_INFO_KIND, "veth").nest(IFLA_INFO_DATA).nest(VETH_INFO_PEER);
    // The peer cannot be created up: veth configures it before the pair is linked (ENOTCONN).
    m.raw(&ifinfomsg(libc::AF_UNSPEC as u8, 0, 0, 0))
        .attr_str(IFLA_IFNAME, peer.name)
        .attr(IFLA_ADDRESS, &peer.mac)
        .attr_u32(IFLA_NET_NS_FD, peer.netns.as_raw_fd() as u32);
    if let Some(mtu) = mtu {
        m.attr_u32(IFLA_MTU, mtu);
    }
    m.end().end().end();
    nl.request(&mut m)
}

/// Deletes a link by index.
pub(crate) fn del_link(nl: &mut Netlink, index: u32) -> NlResult<()> {
    let mut m = Msg::new(RTM_DELLINK, 0);
    m.raw(&ifinfomsg(libc::AF_UNSPEC as u8, index, 0, 0));
    nl.request(&mut m)
}

/// struct ifaddrmsg.
fn ifaddrmsg(prefix: u8, index: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = libc::AF_INET as u8;
    b[1] = prefix;
    b[3] = RT_SCOPE_UNIVERSE;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b
}

/// Adds `addr/prefix` (with its broadcast address) to a link. EEXIST if it has it already.
pub(crate) fn add_address(nl: &mut Netlink, index: u32, addr: Ipv4Addr, prefix: u8) -> NlResult<()> {
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    m.raw(&ifaddrmsg(prefix, index)).attr(IFA_LOCAL, &addr.octets()).attr(IFA_ADDRESS, &addr.octets());
    if prefix < 31 {
        let bcast = u32::from(addr) | (u32::MAX >> prefix);
        m.attr(IFA_BROADCAST, &Ipv4Addr::from(bcast).octets());
    }
    nl.request(&mut m)
}

/// The IPv4 addresses of a link.
pub(crate) fn addresses(nl: &mut Netlink, index: u32) -> NlResult<Vec<(Ipv4Addr, u8)>> {
    let mut m = Msg::new(RTM_GETADDR, 0);
    m.raw(&ifaddrmsg(0, 0));
    let mut out = Vec::new();
    for r in nl.dump(&mut m)? {
        let p = &r.payload;
        if p.len() < 8 || p[0] != libc::AF_INET as u8 || crate::netlink::ne_u32(p, 4) != index {
            continue;
        }
        let local = attrs(&p[8..]).find(|(t, v)| *t == IFA_LOCAL && v.len() == 4);
        if let Some((_, v)) = local {
            out.push((Ipv4Addr::new(v[0], v[1], v[2], v[3]), p[1]));
        }
    }
    Ok(out)
}

/// Adds (or replaces) the default route via `gateway` on link `oif`.
pub(crate) fn add_default_route(nl: &mut Netlink, gateway: Ipv4Addr, oif: u32) -> NlResult<()> {
    let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
    let mut rtmsg = [0u8; 12];
    rtmsg[0] = libc::AF_INET as u8;
    rtmsg[4] = RT_TABLE_MAIN;
    rtmsg[5] = RTPROT_BOOT;
    rtmsg[6] = RT_SCOPE_UNIVERSE;
    rtmsg[7] = RTN_UNICAST;
    m.raw(&rtmsg).attr(RTA_GATEWAY, &gateway.octets()).attr_u32(RTA_OIF, oif);
    nl.request(&mut m)
}
