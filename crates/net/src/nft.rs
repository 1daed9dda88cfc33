//! berth's nftables table.
//!
//! ```text
//! table inet berth {
//!     map fwd_in, fwd_out, post_in, post_out { type ifname : verdict }   bridge → its chain
//!     chain forward     (filter forward, priority filter)   oifname vmap @fwd_out; iifname vmap @fwd_in
//!     chain prerouting  (nat prerouting, priority dstnat)   fib daddr type local jump ports
//!     chain output      (nat output, priority -100)         fib daddr type local jump ports
//!     chain postrouting (nat postrouting, priority srcnat)  oifname vmap @post_out; iifname vmap @post_in
//!     chain ports        one DNAT rule per published port, comment "OWNER PROTO HOSTIP:PORT"
//!     chain BR-fwd-out   traffic into bridge BR: from BR itself, replies, DNAT'd → accept; else drop
//!     chain BR-fwd-in    traffic out of BR (to elsewhere): accept, or drop if internal
//!     chain BR-post-in   from BR to elsewhere: masquerade SUBNET (unless internal)
//!     chain BR-post-out  into BR: masquerade 127.0.0.0/8 (loopback publishing) and SUBNET's DNAT'd
//!                        traffic (hairpin: a container reaching a published port of its network)
//! }
//! ```
//! Base chains hold only static dispatch rules; a network is its four chains and four map elements,
//! replaced as a whole in one transaction, and a published port is one tagged rule in `ports`.
//! Writes go through `nft -f -` (once per network and per container with published ports), under a
//! file lock so that berth processes never interleave a read-decide-write. Whether a network's
//! rules are in place is asked over netlink (no process), so `ensure_bridge` is cheap when nothing
//! is missing.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::{Context, Error, Result};
use crate::netlink::{attrs, cstr, Msg, Netlink, NETLINK_NETFILTER};
use crate::{BridgeSpec, Protocol};

const DEFAULT_TABLE: &str = "berth";
static TABLE: OnceLock<String> = OnceLock::new();

/// The name of berth's table (`berth`).
pub fn table() -> &'static str {
    TABLE.get_or_init(|| DEFAULT_TABLE.to_string())
}

/// Uses another table name in this process (tests, so that they never meet a real berth's state).
/// Must be called before anything else of this crate; returns false if it is too late.
#[doc(hidden)]
pub fn use_table(name: &str) -> bool {
    TABLE.set(name.to_string()).is_ok() || table() == name
}

/// Exclusive lock over berth's nftables changes (all berth processes of the host).
pub(crate) struct Lock(#[allow(dead_code)] File);

pub(crate) fn lock() -> Result<Lock> {
    let dir = PathBuf::from("/run/berth");
    fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("net-{}.lock", table()));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ctx(|| format!("opening {}", path.display()))?;
    loop {
        // SAFETY: flock(2) on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(Lock(file));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::Io { context: format!("locking {}", path.display()), source: e });
        }
    }
}

fn nft_binary() -> Option<&'static PathBuf> {
    static NFT: OnceLock<Option<PathBuf>> = OnceLock::new();
    NFT.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
            .map(|d| d.join("nft"))
            .find(|p| p.is_file())
    })
    .as_ref()
}

/// Runs `nft` with `args`, `stdin` as its input; its output.
fn nft(args: &[&str], stdin: Option<&str>) -> Result<String> {
    let bin =
        nft_binary().ok_or_else(|| Error::Nft("the nft program is not installed (Debian package nftables)".into()))?;
    let mut child = Command::new(bin)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("running {}: {e}", bin.display())))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        // A write error shows up as nft's failure below.
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Error::Nft(format!("waiting for nft: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Nft(format!("nft {} failed ({}): {}", args.join(" "), out.status, err.trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Applies a script as one transaction.
pub(crate) fn apply(script: &str) -> Result<()> {
    nft(&["-f", "-"], Some(script)).map(drop)
}

const MAPS: [&str; 4] = ["fwd_in", "fwd_out", "post_in", "post_out"];
const SUFFIXES: [&str; 4] = ["fwd-in", "fwd-out", "post-in", "post-out"];

/// Declares the table, its maps and base chains, and (re)writes the base chains' static rules.
pub(crate) fn base_script() -> String {
    let t = table();
    let mut s = format!("add table inet {t}\n");
    for map in MAPS {
        s += &format!("add map inet {t} {map} {{ type ifname : verdict ; }}\n");
    }
    s += &format!("add chain inet {t} ports\n");
    let bases = [
        ("forward", "type filter hook forward priority filter"),
        ("prerouting", "type nat hook prerouting priority dstnat"),
        ("output", "type nat hook output priority -100"),
        ("postrouting", "type nat hook postrouting priority srcnat"),
    ];
    for (name, spec) in bases {
        s += &format!("add chain inet {t} {name} {{ {spec} ; policy accept ; }}\nflush chain inet {t} {name}\n");
    }
    for rule in [
        "forward oifname vmap @fwd_out",
        "forward iifname vmap @fwd_in",
        "prerouting fib daddr type local jump ports",
        "output fib daddr type local jump ports",
        "postrouting oifname vmap @post_out",
        "postrouting iifname vmap @post_in",
    ] {
        s += &format!("add rule inet {t} {rule}\n");
    }
    s
}

/// The comment on a network's `BR-fwd-in` chain: what its rules were made from.
pub(crate) fn network_marker(spec: &BridgeSpec) -> String {
    let mode = if spec.internal { "internal" } else { "nat" };
    format!("berth-net v1 {} {}", Ipv4NetNormal(spec), mode)
}

struct Ipv4NetNormal<'a>(&'a BridgeSpec);
impl std::fmt::Display for Ipv4NetNormal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0.subnet.network(), self.0.subnet.prefix)
    }
}

/// Removes a network's chains and map elements; idempotent (declares them first, so the deletes
/// always find something).
fn network_removal(bridge: &str) -> String {
    let t = table();
    let mut s = String::new();
    for suffix in SUFFIXES {
        s += &format!("add chain inet {t} {bridge}-{suffix}\n");
    }
    for (map, suffix) in MAPS.iter().zip(SUFFIXES) {
        s += &format!("add element inet {t} {map} {{ \"{bridge}\" : jump {bridge}-{suffix} }}\n");
    }
    for map in MAPS {
        s += &format!("delete element inet {t} {map} {{ \"{bridge}\" }}\n");
    }
    for suffix in SUFFIXES {
        s += &format!("delete chain inet {t} {bridge}-{suffix}\n");
    }
    s
}

/// The whole script that puts a network's rules in place (replacing whatever it had).
pub(crate) fn network_script(spec: &BridgeSpec) -> String {
    let t = table();
    let br = &spec.bridge;
    let subnet = Ipv4NetNormal(spec);
    let mut s = base_script();
    s += &network_removal(br);
    s += &format!("add chain inet {t} {br}-fwd-in {{ comment \"{}\" ; }}\n", network_marker(spec));
    for suffix in &SUFFIXES[1..] {
        s += &format!("add chain inet {t} {br}-{suffix}\n");
    }
    let mut rules = vec![
        format!("{br}-fwd-out iifname \"{br}\" accept"),
        format!("{br}-fwd-out ct state established,related accept"),
    ];
    if spec.internal {
        rules.push(format!("{br}-fwd-out drop"));
        rules.push(format!("{br}-fwd-in drop"));
    } else {
        rules.push(format!("{br}-fwd-out ct status dnat accept"));
        rules.push(format!("{br}-fwd-out drop"));
        rules.push(format!("{br}-fwd-in accept"));
        rules.push(format!("{br}-post-in oifname != \"{br}\" ip saddr {subnet} masquerade"));
    }
    rules.push(format!("{br}-post-out ip saddr 127.0.0.0/8 masquerade"));
    // Hairpin: a container reaching a published port of its own network (by subnet: with
    // br_netfilter, bridged packets have no input interface in postrouting).
    rules.push(format!("{br}-post-out ip saddr {subnet} ct status dnat masquerade"));
    for r in rules {
        s += &format!("add rule inet {t} {r}\n");
    }
    for (map, suffix) in MAPS.iter().zip(SUFFIXES) {
        s += &format!("add element inet {t} {map} {{ \"{br}\" : jump {br}-{suffix} }}\n");
    }
    s
}

/// The script removing a network; the whole table when nothing else is left in it.
pub(crate) fn network_removal_script(bridge: &str, state: &TableState) -> String {
    let others = state.networks.iter().any(|n| n != bridge);
    if !others && state.ports.is_empty() {
        format!("delete table inet {}\n", table())
    } else {
        network_removal(bridge)
    }
}

/// A published port as recorded in the `ports` chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortRule {
    pub handle: u64,
    pub owner: String,
    pub protocol: Protocol,
    /// `0.0.0.0` for any address.
    pub host_ip: String,
    pub host_port: u16,
}

impl PortRule {
    pub fn comment(owner: &str, protocol: Protocol, host_ip: &str, host_port: u16) -> String {
        format!("{owner} {protocol} {host_ip}:{host_port}")
    }

    fn parse(comment: &str, handle: u64) -> Option<PortRule> {
        let mut it = comment.split(' ');
        let owner = it.next()?.to_string();
        let protocol = it.next()?.parse().ok()?;
        let (ip, port) = it.next()?.rsplit_once(':')?;
        Some(PortRule { handle, owner, protocol, host_ip: ip.to_string(), host_port: port.parse().ok()? })
    }
}

/// What the table holds, from `nft -a list table`.
#[derive(Debug, Default)]
pub(crate) struct TableState {
    pub exists: bool,
    /// Bridges that have rules.
    pub networks: Vec<String>,
    pub ports: Vec<PortRule>,
}

/// Reads the table (absent → empty state).
pub(crate) fn read_state() -> Result<TableState> {
    if !object_exists(Object::Table)? {
        return Ok(TableState::default());
    }
    let text = nft(&["-a", "list", "table", "inet", table()], None)?;
    Ok(parse_listing(&text))
}

fn parse_listing(text: &str) -> TableState {
    let mut state = TableState { exists: true, ..Default::default() };
    let mut chain = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("chain ") {
            chain = rest.split_whitespace().next().unwrap_or("").to_string();
            if let Some(br) = chain.strip_suffix("-fwd-in") {
                state.networks.push(br.to_string());
            }
            continue;
        }
        if chain != "ports" {
            continue;
        }
        let (Some(c), Some(h)) = (line.find("comment \""), line.rfind("# handle ")) else { continue };
        let comment = &line[c + 9..];
        let Some(end) = comment.find('"') else { continue };
        let Ok(handle) = line[h + 9..].trim().parse() else { continue };
        if let Some(rule) = PortRule::parse(&comment[..end], handle) {
            state.ports.push(rule);
        }
    }
    state
}

pub(crate) enum Object<'a> {
    Table,
    Chain(&'a str),
}

const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFPROTO_INET: u8 = 1;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_USERDATA: u16 = 12;

/// Asks nf_tables over netlink for a table or chain of ours; the reply's attributes.
fn get_object(object: &Object<'_>) -> Result<Option<Vec<u8>>> {
    let mut nl = Netlink::new(NETLINK_NETFILTER).ctx(|| "opening a netfilter netlink socket".into())?;
    let ty = match object {
        Object::Table => NFT_MSG_GETTABLE,
        Object::Chain(_) => NFT_MSG_GETCHAIN,
    };
    let mut m = Msg::new((NFNL_SUBSYS_NFTABLES << 8) | ty, 0);
    m.raw(&[NFPROTO_INET, 0, 0, 0]);
    match object {
        Object::Table => m.attr_str(NFTA_TABLE_NAME, table()),
        Object::Chain(name) => m.attr_str(NFTA_CHAIN_TABLE, table()).attr_str(NFTA_CHAIN_NAME, name),
    };
    match nl.get(&mut m) {
        Ok(r) => Ok(Some(r.payload.get(4..).unwrap_or_default().to_vec())),
        Err(e) if e.is(libc::ENOENT) => Ok(None),
        Err(e) => Err(e.ctx(format_args!("querying nftables table {}", table()))),
    }
}

pub(crate) fn object_exists(object: Object<'_>) -> Result<bool> {
    Ok(get_object(&object)?.is_some())
}

/// The comment of one of our chains: None if the chain does not exist, Some("") if it has none.
pub(crate) fn chain_comment(chain: &str) -> Result<Option<String>> {
    let Some(attrs_data) = get_object(&Object::Chain(chain))? else { return Ok(None) };
    let udata = attrs(&attrs_data).find(|(t, _)| *t == NFTA_CHAIN_USERDATA).map(|(_, v)| v.to_vec());
    // libnftnl's userdata: TLVs of (u8 type, u8 len, value); type 0 is the comment.
    let mut comment = String::new();
    let mut data = udata.as_deref().unwrap_or_default();
    while data.len() >= 2 {
        let (ty, len) = (data[0], data[1] as usize);
        let Some(value) = data.get(2..2 + len) else { break };
        if ty == 0 {
            comment = cstr(value);
        }
        data = &data[2 + len..];
    }
    Ok(Some(comment))
}

/// Whether the network's rules are in place as `spec` wants them (one netlink round trip).
pub(crate) fn network_current(spec: &BridgeSpec) -> Result<bool> {
    Ok(chain_comment(&format!("{}-fwd-in", spec.bridge))?.as_deref() == Some(network_marker(spec).as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_is_parsed() {
        let text = r#"table inet berth { # handle 2
	map fwd_in { # handle 1
		type ifname : verdict
		elements = { "br1" : jump br1-fwd-in }
	}
	chain ports { # handle 5
		meta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.2:80 comment "abc tcp 0.0.0.0:8080" # handle 32
		ip daddr 127.0.0.1 udp dport 8081 dnat ip to 10.1.0.2:80 comment "d-1 udp 127.0.0.1:8081" # handle 33
	}
	chain br1-fwd-in { # handle 40
		comment "berth-net v1 10.1.0.0/16 nat"
		accept # handle 48
	}
	chain br-2-fwd-in { # handle 41
	}
}"#;
        let s = parse_listing(text);
        assert_eq!(s.networks, ["br1", "br-2"]);
        assert_eq!(
            s.ports,
            [
                PortRule {
                    handle: 32,
                    owner: "abc".into(),
                    protocol: Protocol::Tcp,
                    host_ip: "0.0.0.0".into(),
                    host_port: 8080
                },
                PortRule {
                    handle: 33,
                    owner: "d-1".into(),
                    protocol: Protocol::Udp,
                    host_ip: "127.0.0.1".into(),
                    host_port: 8081
                },
            ]
        );
    }
}
