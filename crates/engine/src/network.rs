//! Networks: the default `bridge`, `host`, `none`, and user-defined bridge
//! networks; addresses allocated in the database (unique by constraint, so
//! parallel runs never collide); a container wired up while it is created.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::db;
use crate::engine::{now_rfc3339, Engine};
use crate::error::{Error, Result};
use crate::model::{Container, Endpoint, NetworkMode, PublishedPort};

pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// "bridge", "host" or "null".
    pub driver: String,
    /// The Linux bridge (bridge driver only).
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    /// User-defined networks resolve container names through an embedded DNS.
    pub dns: bool,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// What a container will get, decided before it starts.
#[derive(Debug, Default)]
pub struct NetworkPlan {
    /// (network, address) per attached network, in order.
    pub networks: Vec<(Network, Ipv4Addr, Vec<String>)>,
    /// Its addresses, for /etc/hosts.
    pub addresses: Vec<Ipv4Addr>,
    /// The resolver to put in resolv.conf (a user network's gateway).
    pub dns: Option<Ipv4Addr>,
    /// The MAC of each network's interface, in the same order.
    pub macs: Vec<[u8; 6]>,
}

/// What an attachment asks of network `n` that `n` can never give: an
/// address outside its subnet (or its gateway's), a user address on the
/// default bridge (docker allows them on user networks only).
pub(crate) fn check_endpoint(n: &Network, a: &crate::model::NetworkAttachment) -> Result<()> {
    let Some(ip) = &a.ipv4_address else { return Ok(()) };
    if n.name == "bridge" || n.driver != "bridge" {
        return Err(Error::Invalid("user specified IP address is supported on user defined networks only".into()));
    }
    let addr: Ipv4Addr = ip.parse().map_err(|_| Error::Invalid(format!("invalid IPv4 address: {ip}")))?;
    let subnet: net::Ipv4Net = n.subnet.parse().map_err(|e: net::Error| Error::Invalid(e.to_string()))?;
    if !subnet.contains(addr) || addr == subnet.network() || addr == subnet.broadcast() {
        return Err(Error::Invalid(format!(
            "invalid config for network {}: invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {ip}",
            n.name
        )));
    }
    if addr.to_string() == n.gateway {
        return Err(Error::Conflict(format!("Address already in use: {ip} is the gateway of network {}", n.name)));
    }
    Ok(())
}

impl Network {
    pub fn bridge_spec(&self) -> Result<net::BridgeSpec> {
        Ok(net::BridgeSpec {
            bridge: self.bridge.clone(),
            subnet: self.subnet.parse().map_err(|e: net::Error| Error::Invalid(e.to_string()))?,
            gateway: self.gateway.parse().map_err(|_| Error::Invalid(format!("invalid gateway {}", self.gateway)))?,
            internal: self.internal,
            mtu: None,
        })
    }
}

impl Engine {
    /// The built-in networks exist from the start (in the database; the
    /// default bridge itself is created on first use).
    fn builtin_networks(&mut self) -> Result<()> {
        let now = now_rfc3339();
        let builtins = [
            Network {
                id: "b".repeat(64),
                name: "bridge".into(),
                driver: "bridge".into(),
                bridge: self.settings.bridge.clone(),
                subnet: self.settings.subnet.clone(),
                gateway: default_gateway(&self.settings.subnet)?,
                internal: false,
                dns: false,
                created: now.clone(),
                labels: BTreeMap::new(),
            },
            Network {
                id: "h".repeat(64),
                name: "host".into(),
                driver: "host".into(),
                bridge: String::new(),
                subnet: String::new(),
                gateway: String::new(),
                internal: false,
                dns: false,
                created: now.clone(),
                labels: BTreeMap::new(),
            },
            Network {
                id: "n".repeat(64),
                name: "none".into(),
                driver: "null".into(),
                bridge: String::new(),
                subnet: String::new(),
                gateway: String::new(),
                internal: false,
                dns: false,
                created: now,
                labels: BTreeMap::new(),
            },
        ];
        self.db.write(|tx| {
            for n in &builtins {
                tx.execute(
                    "INSERT OR IGNORE INTO networks (id, name, config) VALUES (?1, ?2, ?3)",
                    params![n.id, n.name, db::to_json(n)?],
                )
                .map_err(|e| Error::Db(format!("creating network {}: {e}", n.name)))?;
            }
            Ok(())
        })
    }

    pub fn network(&mut self, key: &str) -> Result<Network> {
        self.builtin_networks()?;
        let json: Option<String> = self
            .db
            .conn()
            .query_row(
                "SELECT config FROM networks WHERE name = ?1 OR id = ?1 OR (length(?1) >= 3 AND id LIKE ?1 || '%') LIMIT 1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| Error::Db(format!("finding network {key}: {e}")))?;
        db::from_json(&json.ok_or_else(|| Error::NoSuchNetwork(key.to_string()))?)
    }

    pub fn networks(&mut self) -> Result<Vec<Network>> {
        self.builtin_networks()?;
        let mut st = self
            .db
            .conn()
            .prepare("SELECT config FROM networks ORDER BY name")
            .map_err(|e| Error::Db(format!("listing networks: {e}")))?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(|e| Error::Db(format!("listing networks: {e}")))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Db(format!("listing networks: {e}")))?;
        rows.iter().map(|j| db::from_json(j)).collect()
    }

    /// `network create`: a bridge network with its own subnet (the next free
    /// 10.89+.0.0/16 unless given) and embedded name resolution.
    pub fn network_create(
        &mut self,
        name: &str,
        subnet: Option<&str>,
        gateway: Option<&str>,
        internal: bool,
        labels: BTreeMap<String, String>,
    ) -> Result<Network> {
        // dockerd takes any name ("my net" too); only an empty one, or one
        // with control characters (unprintable in `network ls`), is refused.
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(Error::Invalid(format!("invalid network name {name:?}")));
        }
        let existing = self.networks()?;
        if existing.iter().any(|n| n.name == name) {
            return Err(Error::Conflict(format!("network with name {name} already exists")));
        }
        let subnet: net::Ipv4Net = match subnet {
            Some(s) => s.parse().map_err(|e: net::Error| Error::Invalid(e.to_string()))?,
            None => (89..=254u8)
                .map(|b| net::Ipv4Net { addr: Ipv4Addr::new(10, b, 0, 0), prefix: 16 })
                .find(|cand| !existing.iter().any(|n| n.subnet == cand.to_string()))
                .ok_or_else(|| Error::Invalid("no free subnet left for a new network".into()))?,
        };
        if let Some(other) = existing.iter().find(|n| {
            n.subnet.parse::<net::Ipv4Net>().is_ok_and(|s| s.contains(subnet.addr) || subnet.contains(s.addr))
        }) {
            return Err(Error::Conflict(format!(
                "Pool overlaps with other one on this address space (network {})",
                other.name
            )));
        }
        let gateway: Ipv4Addr = match gateway {
            Some(g) => g.parse().map_err(|_| Error::Invalid(format!("invalid gateway address {g:?}")))?,
            None => first_host(&subnet),
        };
        if !subnet.contains(gateway) {
            return Err(Error::Invalid(format!("no matching subnet for gateway {gateway}")));
        }
        let id = crate::names::new_id();
        let n = Network {
            bridge: format!("br-{}", &id[..12]),
            id,
            name: name.to_string(),
            driver: "bridge".into(),
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            internal,
            dns: true,
            created: now_rfc3339(),
            labels,
        };
        let json = db::to_json(&n)?;
        self.db.write(|tx| {
            tx.execute("INSERT INTO networks (id, name, config) VALUES (?1, ?2, ?3)", params![n.id, n.name, json])
                .map_err(|e| Error::Conflict(format!("network with name {name} already exists: {e}")))?;
            Ok(())
        })?;
        self.emit(
            "network",
            "create",
            &n.id,
            [("name".to_string(), n.name.clone()), ("type".into(), n.driver.clone())].into(),
        );
        Ok(n)
    }

    /// Containers attached to a network (by configuration).
    pub fn network_users(&self, name: &str) -> Result<Vec<Container>> {
        Ok(self
            .containers()?
            .into_iter()
            .filter(|c| match &c.config.network {
                Some(NetworkMode::Networks(list)) => list.iter().any(|a| a.network == name),
                _ => false,
            })
            .collect())
    }

    pub fn network_remove(&mut self, key: &str) -> Result<()> {
        let n = self.network(key)?;
        if matches!(n.name.as_str(), "bridge" | "host" | "none") {
            return Err(Error::Conflict(format!("{} is a pre-defined network and cannot be removed", n.name)));
        }
        let users = self.network_users(&n.name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                n.name,
                n.id,
                users.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        crate::dns::stop(self, &n);
        if n.driver == "bridge" {
            net::remove_bridge(&n.bridge_spec()?)
                .map_err(|e| Error::Invalid(format!("removing network {}: {e}", n.name)))?;
        }
        self.db
            .conn()
            .execute("DELETE FROM networks WHERE id = ?1", params![n.id])
            .map_err(|e| Error::Db(format!("removing network {}: {e}", n.name)))?;
        self.emit(
            "network",
            "destroy",
            &n.id,
            [("name".to_string(), n.name.clone()), ("type".into(), n.driver.clone())].into(),
        );
        Ok(())
    }

    /// Addresses for each network the container joins, reserved now.
    pub(crate) fn plan_network(&mut self, c: &Container) -> Result<NetworkPlan> {
        let mut plan = NetworkPlan::default();
        let Some(NetworkMode::Networks(list)) = &c.config.network else { return Ok(plan) };
        for a in list {
            let n = self.network(&a.network)?;
            if n.driver != "bridge" {
                return Err(Error::Invalid(format!(
                    "container cannot be disconnected from host network or connected to {} network",
                    n.name
                )));
            }
            check_endpoint(&n, a)?;
            let requested = a.ipv4_address.as_deref().and_then(|ip| ip.parse().ok());
            let addr = self.allocate_address(&n, &c.id, requested)?;
            let mac = match &a.mac_address {
                Some(m) => crate::validate::parse_mac(m)?,
                None => net::mac_for(addr),
            };
            plan.macs.push(mac);
            if n.dns && plan.dns.is_none() {
                plan.dns = n.gateway.parse().ok();
            }
            plan.addresses.push(addr);
            let mut aliases = a.aliases.clone();
            aliases.push(c.name.clone());
            aliases.push(c.id[..12].to_string());
            plan.networks.push((n, addr, aliases));
        }
        Ok(plan)
    }

    /// An address on `n` for the container: the one it holds, the one it
    /// asks for (an error when another holds it), or the next free one.
    fn allocate_address(&mut self, n: &Network, container: &str, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let subnet: net::Ipv4Net = n.subnet.parse().map_err(|e: net::Error| Error::Invalid(e.to_string()))?;
        let gateway: Ipv4Addr = n.gateway.parse().map_err(|_| Error::Invalid(format!("bad gateway {}", n.gateway)))?;
        self.db.write(|tx| {
            // An address this container already holds here is kept (restarts).
            let mine: Option<String> = tx
                .query_row(
                    "SELECT address FROM addresses WHERE network = ?1 AND container = ?2",
                    params![n.id, container],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| Error::Db(e.to_string()))?;
            if let Some(a) = mine.and_then(|a| a.parse::<Ipv4Addr>().ok()) {
                if requested.is_none_or(|r| r == a) {
                    return Ok(a);
                }
                tx.execute("DELETE FROM addresses WHERE network = ?1 AND container = ?2", params![n.id, container])
                    .map_err(|e| Error::Db(e.to_string()))?;
            }
            if let Some(want) = requested {
                let holder: Option<String> = tx
                    .query_row(
                        "SELECT container FROM addresses WHERE network = ?1 AND address = ?2",
                        params![n.id, want.to_string()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| Error::Db(e.to_string()))?;
                if let Some(h) = holder {
                    return Err(Error::Conflict(format!(
                        "failed to set up container networking: Address already in use: {want} on network {} is held by container {}",
                        n.name,
                        &h[..12.min(h.len())]
                    )));
                }
                tx.execute(
                    "INSERT INTO addresses (network, address, container) VALUES (?1, ?2, ?3)",
                    params![n.id, want.to_string(), container],
                )
                .map_err(|e| Error::Db(e.to_string()))?;
                return Ok(want);
            }
            let mut st =
                tx.prepare("SELECT address FROM addresses WHERE network = ?1").map_err(|e| Error::Db(e.to_string()))?;
            let used: Vec<Ipv4Addr> = st
                .query_map(params![n.id], |r| r.get::<_, String>(0))
                .map_err(|e| Error::Db(e.to_string()))?
                .filter_map(|a| a.ok()?.parse().ok())
                .collect();
            let addr = net::next_free_address(&subnet, gateway, &used)
                .ok_or_else(|| Error::Invalid(format!("no available IPv4 addresses on network {}", n.name)))?;
            tx.execute(
                "INSERT INTO addresses (network, address, container) VALUES (?1, ?2, ?3)",
                params![n.id, addr.to_string(), container],
            )
            .map_err(|e| Error::Db(e.to_string()))?;
            Ok(addr)
        })
    }

    /// `network connect`: attaches a container to one more network; a
    /// running one gets its interface now, a stopped one at its next start.
    /// `wanted`: the aliases, address and MAC asked for (its network is `network`).
    pub fn network_connect(
        &mut self,
        network: &str,
        key: &str,
        wanted: &crate::model::NetworkAttachment,
    ) -> Result<()> {
        let n = self.network(network)?;
        let c = self.container(key)?;
        let mut list = match &c.config.network {
            Some(NetworkMode::Networks(l)) => l.clone(),
            // On the default bridge: it stays there and gains one more.
            None => vec![crate::model::NetworkAttachment {
                network: "bridge".into(),
                aliases: vec![],
                ..Default::default()
            }],
            Some(NetworkMode::Host) | Some(NetworkMode::None) | Some(NetworkMode::Container(_)) => {
                return Err(Error::Invalid(format!(
                    "container {} does not use a bridge network: it cannot be connected to {}",
                    c.name, n.name
                )))
            }
        };
        if n.driver != "bridge" {
            return Err(Error::Invalid(format!("container cannot be connected to the {} network", n.name)));
        }
        if list.iter().any(|a| a.network == n.name) {
            return Err(Error::Conflict(format!("endpoint with name {} already exists in network {}", c.name, n.name)));
        }
        let attachment = crate::model::NetworkAttachment { network: n.name.clone(), ..wanted.clone() };
        list.push(attachment.clone());
        if matches!(c.state.status, crate::model::Status::Running | crate::model::Status::Paused) {
            check_endpoint(&n, &attachment)?;
            let requested = attachment.ipv4_address.as_deref().and_then(|ip| ip.parse().ok());
            let mac = attachment.mac_address.as_deref().map(crate::validate::parse_mac).transpose()?;
            let addr = self.allocate_address(&n, &c.id, requested)?;
            let wired = (|| -> Result<Endpoint> {
                let ns = std::fs::File::open(format!("/proc/{}/ns/net", c.state.pid))
                    .map_err(|e| Error::io("opening the container's network namespace", e))?;
                let spec = n.bridge_spec()?;
                net::ensure_bridge(&spec).map_err(|e| Error::Invalid(format!("network {}: {e}", n.name)))?;
                if n.dns {
                    crate::dns::ensure(self, &n)?;
                }
                let ifname = format!("eth{}", c.state.endpoints.len());
                let mac = mac.unwrap_or_else(|| net::mac_for(addr));
                let a =
                    net::attach_with_mac(&spec, ns.as_fd(), &ifname, addr, mac, &c.id, c.state.endpoints.is_empty())
                        .map_err(|e| Error::Invalid(format!("network {}: {e}", n.name)))?;
                Ok(endpoint(&n, &a))
            })();
            let ep = match wired {
                Ok(ep) => ep,
                Err(e) => {
                    self.release_address(&n, &c.id);
                    return Err(e);
                }
            };
            self.update_state(&c.id, |s| s.endpoints.push(ep))?;
        }
        let mut config = c.config.clone();
        config.network = Some(NetworkMode::Networks(list));
        db::update_config(self.db.conn(), &c.id, &db::to_json(&config)?)?;
        self.emit(
            "network",
            "connect",
            &n.id,
            [("name".to_string(), n.name.clone()), ("container".into(), c.id.clone())].into(),
        );
        Ok(())
    }

    /// `network disconnect`.
    pub fn network_disconnect(&mut self, network: &str, key: &str) -> Result<()> {
        let n = self.network(network)?;
        let c = self.container(key)?;
        let mut list = match &c.config.network {
            Some(NetworkMode::Networks(l)) => l.clone(),
            None => vec![crate::model::NetworkAttachment {
                network: "bridge".into(),
                aliases: vec![],
                ..Default::default()
            }],
            _ => Vec::new(),
        };
        let before = list.len();
        list.retain(|a| a.network != n.name);
        if list.len() == before {
            return Err(Error::Invalid(format!("container {} is not connected to network {}", c.name, n.name)));
        }
        if let Some(ep) = c.state.endpoints.iter().find(|e| e.network == n.name) {
            let _ = net::detach(&ep.host_ifname);
            self.update_state(&c.id, |s| s.endpoints.retain(|e| e.network != n.name))?;
        }
        self.release_address(&n, &c.id);
        let mut config = c.config.clone();
        // With no network left it keeps its (empty) list, so it can be
        // connected again (compose disconnects and reconnects with aliases).
        config.network = Some(NetworkMode::Networks(list));
        db::update_config(self.db.conn(), &c.id, &db::to_json(&config)?)?;
        self.emit(
            "network",
            "disconnect",
            &n.id,
            [("name".to_string(), n.name.clone()), ("container".into(), c.id.clone())].into(),
        );
        Ok(())
    }

    /// `network prune`: user networks no container is attached to.
    pub fn network_prune(&mut self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for n in self.networks()? {
            if matches!(n.name.as_str(), "bridge" | "host" | "none") || !self.network_users(&n.name)?.is_empty() {
                continue;
            }
            self.network_remove(&n.id)?;
            removed.push(n.name);
        }
        Ok(removed)
    }

    fn release_address(&self, n: &Network, container: &str) {
        let _ = self
            .db
            .conn()
            .execute("DELETE FROM addresses WHERE network = ?1 AND container = ?2", params![n.id, container]);
    }

    pub(crate) fn release_addresses(&self, container: &str) {
        let _ = self.db.conn().execute("DELETE FROM addresses WHERE container = ?1", params![container]);
    }

    /// Wires up the created container whose init is `pid`: loopback, veths
    /// into its networks, published ports. Returns endpoints and ports.
    pub(crate) fn wire_network(
        &mut self,
        c: &Container,
        plan: &NetworkPlan,
        pid: i32,
    ) -> Result<(Vec<Endpoint>, Vec<PublishedPort>)> {
        match &c.config.network {
            Some(NetworkMode::Host) | Some(NetworkMode::Container(_)) => return Ok((vec![], vec![])),
            _ => {}
        }
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| Error::io("opening the container's network namespace", e))?;
        if plan.networks.is_empty() {
            net::loopback_up(ns.as_fd()).map_err(|e| Error::Invalid(format!("network: {e}")))?;
            return Ok((vec![], vec![]));
        }
        let mut endpoints = Vec::new();
        let result = (|| -> Result<Vec<PublishedPort>> {
            for (i, (n, addr, _)) in plan.networks.iter().enumerate() {
                let spec = n.bridge_spec()?;
                if !std::path::Path::new("/sys/class/net").join(&n.bridge).exists() {
                    net::ensure_bridge(&spec).map_err(|e| Error::Invalid(format!("network {}: {e}", n.name)))?;
                }
                if n.dns {
                    crate::dns::ensure(self, n)?;
                }
                let mac = plan.macs.get(i).copied().unwrap_or_else(|| net::mac_for(*addr));
                let a = net::attach_with_mac(&spec, ns.as_fd(), &format!("eth{i}"), *addr, mac, &c.id, i == 0)
                    .map_err(|e| Error::Invalid(format!("network {}: {e}", n.name)))?;
                endpoints.push(endpoint(n, &a));
            }
            self.publish_ports(c, plan.networks[0].1)
        })();
        match result {
            Ok(ports) => Ok((endpoints, ports)),
            Err(e) => {
                self.unwire_network(c, &endpoints);
                Err(e)
            }
        }
    }

    fn publish_ports(&self, c: &Container, address: Ipv4Addr) -> Result<Vec<PublishedPort>> {
        let mut specs = c.config.ports.clone();
        if c.config.publish_all {
            for p in &c.config.exposed_ports {
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let port: u16 = port.parse().map_err(|_| Error::Invalid(format!("invalid exposed port {p}")))?;
                if !specs.iter().any(|s| s.container_port == port && s.protocol == proto) {
                    specs.push(crate::model::PortSpec {
                        host_ip: None,
                        host_port: None,
                        container_port: port,
                        protocol: proto.into(),
                    });
                }
            }
        }
        if specs.is_empty() {
            return Ok(vec![]);
        }
        let mut mappings = Vec::new();
        let mut shown = Vec::new();
        for s in &specs {
            let protocol = if s.protocol == "udp" { net::Protocol::Udp } else { net::Protocol::Tcp };
            let host_ip: Option<std::net::IpAddr> = s
                .host_ip
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(|h| h.parse().map_err(|_| Error::Invalid(format!("invalid host IP {h}"))))
                .transpose()?;
            let host_port = match s.host_port {
                Some(p) => {
                    net::check_port_free(host_ip, p, protocol).map_err(|e| {
                        Error::Conflict(format!(
                            "driver failed programming external connectivity on endpoint {}: Bind for {}:{p} failed: port is already allocated ({e})",
                            c.name,
                            host_ip.map_or("0.0.0.0".to_string(), |i| i.to_string())
                        ))
                    })?;
                    p
                }
                None => net::ephemeral_port(protocol).map_err(|e| Error::Invalid(e.to_string()))?,
            };
            mappings.push(net::PortMapping {
                host_ip,
                host_port,
                container_ip: address,
                container_port: s.container_port,
                protocol,
            });
            shown.push((
                format!("{}/{}", s.container_port, s.protocol),
                host_ip.map_or("0.0.0.0".to_string(), |i| i.to_string()),
                host_port,
            ));
        }
        net::publish(&c.id, &mappings).map_err(|e| Error::Invalid(format!("publishing ports: {e}")))?;
        Ok(shown)
    }

    /// Undoes `wire_network` once the container is gone: its port rules and
    /// addresses. The veth pairs are not deleted here: the kernel removes
    /// them with the network namespace, in the background, where an
    /// explicit delete would wait ~30 ms on RCU. `endpoints` are detached
    /// only when the namespace may live on (a failed start).
    pub(crate) fn unwire_network(&self, c: &Container, endpoints: &[Endpoint]) {
        if !c.config.ports.is_empty() || c.config.publish_all {
            let _ = net::unpublish(&c.id);
        }
        for e in endpoints {
            let _ = net::detach(&e.host_ifname);
        }
        self.release_addresses(&c.id);
    }
}

fn endpoint(n: &Network, a: &net::Attachment) -> Endpoint {
    Endpoint {
        network: n.name.clone(),
        address: a.address.to_string(),
        prefix: a.prefix,
        gateway: a.gateway.to_string(),
        mac: a.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
        host_ifname: a.host_ifname.clone(),
        network_id: n.id.clone(),
        endpoint_id: crate::names::new_id(),
    }
}

fn default_gateway(subnet: &str) -> Result<String> {
    let s: net::Ipv4Net =
        subnet.parse().map_err(|e: net::Error| Error::Invalid(format!("default bridge subnet: {e}")))?;
    Ok(first_host(&s).to_string())
}

fn first_host(s: &net::Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(s.addr) + 1)
}
