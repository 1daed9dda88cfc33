//! IPv4 subnets and the small IPAM helper.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::error::{invalid, Error, Result};

/// An IPv4 subnet, `addr/prefix`. `addr` is kept as given (`10.88.0.1/16` stays so); use
/// [`Ipv4Net::network`] for the masked form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    /// Fails if `prefix` is over 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Ipv4Net> {
        if prefix > 32 {
            return Err(invalid(format!("invalid subnet {addr}/{prefix}: prefix length over 32")));
        }
        Ok(Ipv4Net { addr, prefix })
    }

    /// Parses `a.b.c.d/n`; the error names the input.
    pub fn parse(s: &str) -> Result<Ipv4Net> {
        let bad = |why: &str| invalid(format!("invalid subnet {s:?}: {why}"));
        let (addr, prefix) = s.split_once('/').ok_or_else(|| bad("expected ADDRESS/PREFIX, e.g. 10.88.0.0/16"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("prefix length is not a number"));
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad("prefix length is not a number"))?;
        if prefix > 32 {
            return Err(bad("prefix length over 32"));
        }
        Ok(Ipv4Net { addr, prefix })
    }

    /// The netmask as a number (`/16` → `0xffff0000`).
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix.min(32)))
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The broadcast address (host bits set).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether `ip` lies inside the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// The usable host addresses: all but the network and broadcast addresses (for /31 and /32,
    /// every address, as in RFC 3021).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let net = u32::from(self.network());
        let last = u32::from(self.broadcast());
        let (first, last) = if self.prefix >= 31 { (net, last) } else { (net + 1, last - 1) };
        (first..=last).map(Ipv4Addr::from)
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let mask = self.mask() & other.mask();
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = Error;
    fn from_str(s: &str) -> Result<Ipv4Net> {
        Ipv4Net::parse(s)
    }
}

/// IPAM: the first address of `subnet` (in order) that is not in `used`, not the gateway and not the
/// network or broadcast address. `None` when the subnet is full.
pub fn next_free_address(subnet: &Ipv4Net, gateway: Ipv4Addr, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let used: std::collections::HashSet<Ipv4Addr> = used.iter().copied().collect();
    subnet.hosts().find(|ip| *ip != gateway && !used.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let n = Ipv4Net::parse("10.88.0.0/16").unwrap();
        assert_eq!(n, Ipv4Net { addr: Ipv4Addr::new(10, 88, 0, 0), prefix: 16 });
        assert_eq!(n.to_string(), "10.88.0.0/16");
        assert_eq!("192.168.1.7/24".parse::<Ipv4Net>().unwrap().network(), Ipv4Addr::new(192, 168, 1, 0));
        assert_eq!(Ipv4Net::parse("0.0.0.0/0").unwrap().mask(), 0);
        for bad in
            ["10.88.0.0", "10.88.0/16", "10.88.0.0/33", "10.88.0.0/", "10.88.0.0/x", "fd00::/64", "/16", "1.2.3.4/+8"]
        {
            let err = Ipv4Net::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn contains_hosts_broadcast() {
        let n = Ipv4Net::parse("10.88.0.0/16").unwrap();
        assert!(n.contains(Ipv4Addr::new(10, 88, 255, 255)));
        assert!(!n.contains(Ipv4Addr::new(10, 89, 0, 1)));
        assert_eq!(n.broadcast(), Ipv4Addr::new(10, 88, 255, 255));
        let small = Ipv4Net::parse("172.18.5.8/30").unwrap();
        assert_eq!(
            small.hosts().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(172, 18, 5, 9), Ipv4Addr::new(172, 18, 5, 10)]
        );
        assert_eq!(Ipv4Net::parse("1.2.3.4/32").unwrap().hosts().count(), 1);
        assert_eq!(Ipv4Net::parse("1.2.3.4/31").unwrap().hosts().count(), 2);
        assert!(n.overlaps(&Ipv4Net::parse("10.88.3.0/24").unwrap()));
        assert!(!n.overlaps(&Ipv4Net::parse("10.89.0.0/16").unwrap()));
    }

    #[test]
    fn ipam() {
        let n = Ipv4Net::parse("10.88.0.0/29").unwrap();
        let gw = Ipv4Addr::new(10, 88, 0, 1);
        assert_eq!(next_free_address(&n, gw, &[]), Some(Ipv4Addr::new(10, 88, 0, 2)));
        let used = [Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 4)];
        assert_eq!(next_free_address(&n, gw, &used), Some(Ipv4Addr::new(10, 88, 0, 3)));
        let all: Vec<_> = (2..=6).map(|i| Ipv4Addr::new(10, 88, 0, i)).collect();
        assert_eq!(next_free_address(&n, gw, &all), None, "the broadcast address is never given out");
        // A gateway that is not the first address.
        assert_eq!(next_free_address(&n, Ipv4Addr::new(10, 88, 0, 6), &[]), Some(Ipv4Addr::new(10, 88, 0, 1)));
    }
}
