//! What a container's configuration may say, checked once for every
//! frontend (the CLI, the Docker API, compose, the builder) in dockerd's
//! words, before anything is created.

use crate::error::{Error, Result};
use crate::model::{ContainerConfig, Mount, NetworkMode, Resources, RestartPolicy};

/// The smallest memory limit dockerd accepts.
pub const MIN_MEMORY: i64 = 6 << 20;

/// The host's NUMA memory nodes (1 without NUMA information).
fn memory_nodes() -> usize {
    std::fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.strip_prefix("node").is_some_and(|i| i.parse::<u32>().is_ok())
                })
                .count()
        })
        .unwrap_or(0)
        .max(1)
}

impl Resources {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Invalid(m.into()));
        if self.memory.is_some_and(|m| m < MIN_MEMORY) {
            return bad("Minimum memory limit allowed is 6MB");
        }
        if let Some(swap) = self.memory_swap.filter(|s| *s != -1) {
            match self.memory {
                None => return bad("You should always set the Memory limit when using Memoryswap limit, see usage"),
                Some(m) if swap < m => {
                    return bad("Minimum memoryswap limit should be larger than memory limit, see usage")
                }
                Some(_) => {}
            }
        }
        if let Some(list) = &self.cpuset_cpus {
            let host = std::thread::available_parallelism().map_or(1, |n| n.get());
            check_cpuset(list, "cpuset cpus", "CPUs", host)?;
        }
        if let Some(list) = &self.cpuset_mems {
            check_cpuset(list, "cpuset mems", "memory nodes", memory_nodes())?;
        }
        if let Some(cpus) = self.cpus {
            let host = std::thread::available_parallelism().map_or(1, |n| n.get());
            if !(cpus > 0.0 && cpus <= host as f64) {
                return Err(Error::Invalid(format!(
                    "Range of CPUs is from 0.01 to {host}.00, as there are only {host} CPUs available"
                )));
            }
        }
        Ok(())
    }
}

impl ContainerConfig {
    /// Checks the options against each other and against what the host
    /// can do; the image's part is checked when it is merged in (create).
    pub fn validate(&self) -> Result<()> {
        let invalid = |m: String| Err(Error::Invalid(m));
        self.resources.validate()?;
        if self.auto_remove && self.restart != RestartPolicy::No {
            return invalid("conflicting options: cannot specify both --restart and --rm".into());
        }
        if matches!(self.network, Some(NetworkMode::None)) && (!self.ports.is_empty() || self.publish_all) {
            return invalid("conflicting options: port publishing and the container type network mode".into());
        }
        for m in &self.mounts {
            if !m.target().starts_with('/') {
                return invalid(format!("invalid mount config: mount path must be absolute: {}", m.target()));
            }
            if let Mount::Bind { source, .. } = m {
                if !source.starts_with('/') {
                    return invalid(format!("invalid mount config: bind source path must be absolute: {source}"));
                }
            }
        }
        if let Some(s) = &self.stop_signal {
            crate::ops::parse_signal(s)?;
        }
        if let Some(h) = &self.healthcheck {
            for (what, secs) in [("Interval", h.interval_secs), ("Timeout", h.timeout_secs)] {
                if secs != 0.0 && secs < 0.001 {
                    return invalid(format!("{what} in Healthcheck cannot be less than 1ms"));
                }
            }
            if h.start_period_secs < 0.0 {
                return invalid("StartPeriod in Healthcheck cannot be negative".into());
            }
        }
        match self.ipc.as_deref() {
            None | Some("" | "host" | "private" | "shareable" | "none") => {}
            Some(m) if m.strip_prefix("container:").is_some_and(|c| !c.is_empty()) => {}
            Some(m) => return invalid(format!("invalid IPC mode: {m}")),
        }
        match self.pid.as_deref() {
            None | Some("" | "host") => {}
            Some(m) if m.strip_prefix("container:").is_some_and(|c| !c.is_empty()) => {}
            Some(m) => return invalid(format!("invalid PID mode: {m}")),
        }
        match self.uts.as_deref() {
            None | Some("") => {}
            Some("host") if !self.hostname.is_empty() => {
                return invalid("conflicting options: hostname and the UTS mode".into())
            }
            Some("host") => {}
            Some(m) => return invalid(format!("invalid UTS mode: {m}")),
        }
        if let Some(r) = self.runtime.as_deref().filter(|r| !RUNTIMES.contains(r)) {
            return invalid(format!("unknown or invalid runtime name: {r}"));
        }
        self.validate_log()?;
        self.validate_endpoints()?;
        for m in &self.mounts {
            match m {
                Mount::Bind { propagation: Some(p), .. } if !crate::mounts::PROPAGATIONS.contains(&p.as_str()) => {
                    return invalid(format!("invalid mount config: invalid propagation mode: {p}"))
                }
                Mount::Volume { subpath: Some(p), .. }
                    if p.starts_with('/') || p.split('/').any(|c| c == "..") || p.is_empty() =>
                {
                    return invalid(format!(
                        "invalid mount config: subpath must be a relative path within the volume: {p}"
                    ))
                }
                _ => {}
            }
        }
        for h in &self.extra_hosts {
            // docker's HOST:IP, also HOST=IP; the IP may be IPv6 (with colons).
            let (host, ip) = h.split_once([':', '=']).unwrap_or((h, ""));
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() || (ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err()) {
                return invalid(format!("invalid IP address in add-host: {ip:?} ({h})"));
            }
        }
        for d in &self.dns {
            if d.parse::<std::net::IpAddr>().is_err() {
                return invalid(format!("{d} is not an ip address"));
            }
        }
        for u in &self.ulimits {
            if !ULIMITS.contains(&u.name.as_str()) {
                return invalid(format!("invalid ulimit type: {}", u.name));
            }
            if u.soft > u.hard {
                return invalid(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                    u.soft, u.hard
                ));
            }
        }
        if !(-1000..=1000).contains(&self.oom_score_adj) {
            return invalid(format!("Invalid value {}, range for oom score adj is [-1000, 1000]", self.oom_score_adj));
        }
        Ok(())
    }

    fn validate_log(&self) -> Result<()> {
        let driver = self.log.driver();
        let known: &[&str] = match driver {
            "json-file" => &["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"],
            "local" => &["max-size", "max-file", "compress"],
            "none" => &[],
            other => return Err(Error::Invalid(format!("logger: no log driver named '{other}' is registered"))),
        };
        for (k, v) in &self.log.options {
            if !known.contains(&k.as_str()) {
                return Err(Error::Invalid(format!("unknown log opt '{k}' for {driver} log driver")));
            }
            match k.as_str() {
                "max-size" if v != "-1" => {
                    crate::mounts::parse_bytes(v).map_err(|_| Error::Invalid(format!("invalid max-size: {v}")))?;
                }
                "max-file" => {
                    let n: i64 = v.parse().map_err(|_| Error::Invalid(format!("invalid max-file: {v}")))?;
                    if n < 1 {
                        return Err(Error::Invalid("max-file cannot be less than 1".into()));
                    }
                }
                "compress" if v.parse::<bool>().is_err() => {
                    return Err(Error::Invalid(format!("invalid value for compress: {v}")))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn validate_endpoints(&self) -> Result<()> {
        let Some(NetworkMode::Networks(list)) = &self.network else { return Ok(()) };
        for a in list {
            if let Some(ip) = &a.ipv4_address {
                if ip.parse::<std::net::Ipv4Addr>().is_err() {
                    return Err(Error::Invalid(format!("invalid IPv4 address: {ip}")));
                }
            }
            if let Some(ip) = &a.ipv6_address {
                if ip.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(Error::Invalid(format!("invalid IPv6 address: {ip}")));
                }
            }
            if (a.ipv4_address.is_some() || a.ipv6_address.is_some()) && a.network == "bridge" {
                return Err(Error::Invalid(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if let Some(mac) = &a.mac_address {
                parse_mac(mac)?;
            }
        }
        Ok(())
    }
}

/// The runtimes `--runtime` may name: berth's own, under docker's name.
pub const RUNTIMES: &[&str] = &["runc", "berth"];

/// The resource names `--ulimit` takes (docker's, from setrlimit(2)).
pub const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// A MAC address "92:d0:c6:0a:29:33"; a multicast one is refused, as the
/// kernel would refuse it on the interface.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::Invalid(format!("invalid MAC address: {s}"));
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 != 0 {
        return Err(Error::Invalid(format!("invalid MAC address: {s}: it is a multicast address")));
    }
    Ok(mac)
}

/// A cpuset list ("0-2,4") as the CPUs or nodes it names; `what` and
/// `available` (how many the host has) word dockerd's errors.
pub fn check_cpuset(list: &str, what: &str, kind: &str, available: usize) -> Result<()> {
    let bad = || Error::Invalid(format!("Invalid value {list} for {what}"));
    let mut max = 0usize;
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (usize, usize) = (lo.trim().parse().map_err(|_| bad())?, hi.trim().parse().map_err(|_| bad())?);
        if hi < lo {
            return Err(bad());
        }
        max = max.max(hi);
    }
    if max >= available {
        let have = if available == 1 { "0".to_string() } else { format!("0-{}", available - 1) };
        return Err(Error::Invalid(format!(
            "Requested {kind} are not available - requested {list}, available: {have}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Healthcheck, PortSpec};

    fn config() -> ContainerConfig {
        ContainerConfig { image: "bb".into(), ..Default::default() }
    }

    fn refused(c: &ContainerConfig) -> String {
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn memory_limits_follow_dockerd() {
        let mut c = config();
        c.resources.memory = Some(4 << 20);
        assert!(refused(&c).contains("Minimum memory limit allowed is 6MB"));
        c.resources.memory = Some(MIN_MEMORY);
        c.validate().unwrap();
        c.resources.memory_swap = Some(MIN_MEMORY - 1);
        assert!(refused(&c).contains("memoryswap limit should be larger"));
        c.resources.memory_swap = Some(-1);
        c.validate().unwrap();
        c.resources.memory = None;
        c.resources.memory_swap = Some(MIN_MEMORY);
        assert!(refused(&c).contains("always set the Memory limit"));
    }

    #[test]
    fn cpus_beyond_the_host_are_refused() {
        let mut c = config();
        c.resources.cpus = Some(10_000.0);
        assert!(refused(&c).starts_with("Range of CPUs is from 0.01 to"), "{}", refused(&c));
        c.resources.cpus = Some(0.0);
        assert!(c.validate().is_err());
        c.resources.cpus = Some(0.5);
        c.validate().unwrap();
    }

    #[test]
    fn options_that_contradict_each_other() {
        let mut c = config();
        c.auto_remove = true;
        c.restart = RestartPolicy::Always;
        assert!(refused(&c).contains("cannot specify both --restart and --rm"));

        let mut c = config();
        c.network = Some(NetworkMode::None);
        c.ports.push(PortSpec { host_ip: None, host_port: Some(80), container_port: 80, protocol: "tcp".into() });
        assert!(refused(&c).contains("port publishing"));
    }

    #[test]
    fn mounts_signals_health_and_namespace_modes() {
        let mut c = config();
        c.mounts.push(Mount::Tmpfs { target: "relative".into(), options: vec![] });
        assert!(refused(&c).contains("mount path must be absolute: relative"));

        let mut c = config();
        c.stop_signal = Some("SIGNOPE".into());
        assert_eq!(refused(&c), "Invalid signal: SIGNOPE");

        let mut c = config();
        c.healthcheck = Some(Healthcheck { test: vec!["NONE".into()], interval_secs: 0.0001, ..Default::default() });
        assert!(refused(&c).contains("Interval in Healthcheck cannot be less than 1ms"));

        let mut c = config();
        c.ipc = Some("bogus".into());
        assert_eq!(refused(&c), "invalid IPC mode: bogus");
        c.ipc = Some("container:web".into());
        c.pid = Some("container:".into());
        assert_eq!(refused(&c), "invalid PID mode: container:");
    }

    #[test]
    fn host_options_in_dockerds_words() {
        let mut c = config();
        c.runtime = Some("kata".into());
        assert_eq!(refused(&c), "unknown or invalid runtime name: kata");

        let mut c = config();
        c.log.driver = "syslog2".into();
        assert_eq!(refused(&c), "logger: no log driver named 'syslog2' is registered");
        c.log.driver = "none".into();
        c.log.options.insert("max-size".into(), "1m".into());
        assert_eq!(refused(&c), "unknown log opt 'max-size' for none log driver");
        c.log.driver = "local".into();
        c.log.options.insert("max-file".into(), "0".into());
        assert_eq!(refused(&c), "max-file cannot be less than 1");

        let mut c = config();
        c.uts = Some("container:x".into());
        assert_eq!(refused(&c), "invalid UTS mode: container:x");
        c.uts = Some("host".into());
        c.hostname = "h".into();
        assert!(refused(&c).contains("hostname and the UTS mode"));

        let mut c = config();
        c.resources.cpuset_cpus = Some("0-9999".into());
        assert!(refused(&c).starts_with("Requested CPUs are not available - requested 0-9999"), "{}", refused(&c));
        c.resources.cpuset_cpus = Some("x".into());
        assert_eq!(refused(&c), "Invalid value x for cpuset cpus");
        c.resources.cpuset_cpus = Some("0".into());
        c.validate().unwrap();

        let mut c = config();
        let a = crate::model::NetworkAttachment {
            network: "bridge".into(),
            ipv4_address: Some("10.0.0.9".into()),
            ..Default::default()
        };
        c.network = Some(NetworkMode::Networks(vec![a.clone()]));
        assert!(refused(&c).contains("supported on user defined networks only"));
        let bad_mac = crate::model::NetworkAttachment { mac_address: Some("zz:00".into()), ipv4_address: None, ..a };
        c.network = Some(NetworkMode::Networks(vec![bad_mac]));
        assert!(refused(&c).contains("invalid MAC address: zz:00"));
        assert!(parse_mac("03:00:00:00:00:01").unwrap_err().to_string().contains("multicast"));

        let mut c = config();
        c.mounts.push(Mount::Volume {
            name: "v".into(),
            target: "/v".into(),
            readonly: false,
            anonymous: false,
            subpath: Some("../etc".into()),
        });
        assert!(refused(&c).contains("subpath must be a relative path"));
        let mut c = config();
        c.extra_hosts.push("db:nonsense".into());
        assert!(refused(&c).contains("invalid IP address in add-host"));
        let mut c = config();
        c.ulimits.push(crate::model::Ulimit { name: "nofile".into(), soft: 2, hard: 1 });
        assert!(refused(&c).contains("soft limit must be less than or equal to hard limit"));
    }
}
