//! docker's container create body (Config + HostConfig + NetworkingConfig)
//! read into the engine's `ContainerConfig`. Go clients send `null` for
//! most empty fields, so every field is optional; unknown fields are
//! ignored as dockerd ignores them (newer clients send newer fields), but a
//! field of the wrong type is a 400 naming it.

use std::collections::BTreeMap;

use engine::model::{Healthcheck, NetworkAttachment, PortSpec, Resources, RestartPolicy};
use engine::{ContainerConfig, Mount, NetworkMode};
use serde::Deserialize;
use serde_json::Value;

use crate::http::{ApiError, ApiResult};

/// A string or a list of strings (docker's strslice: `Cmd`, `Entrypoint`).
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum StrOrList {
    One(String),
    Many(Vec<String>),
}

impl StrOrList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StrOrList::One(s) => vec![s],
            StrOrList::Many(v) => v,
        }
    }
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub user: Option<String>,
    pub attach_stdin: Option<bool>,
    pub tty: Option<bool>,
    pub open_stdin: Option<bool>,
    pub stdin_once: Option<bool>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StrOrList>,
    pub healthcheck: Option<HealthBody>,
    pub image: Option<String>,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<StrOrList>,
    pub network_disabled: Option<bool>,
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub labels: Option<BTreeMap<String, String>>,
    /// The container-wide MAC (API < 1.44; newer clients put it on the endpoint).
    pub mac_address: Option<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub host_config: Option<HostConfig>,
    pub networking_config: Option<NetworkingConfig>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthBody {
    pub test: Option<Vec<String>>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub start_period: Option<i64>,
    pub retries: Option<u32>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: Option<String>,
    pub host_port: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartBody {
    pub name: Option<String>,
    pub maximum_retry_count: Option<u32>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountBody {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub read_only: Option<bool>,
    pub tmpfs_options: Option<TmpfsOptions>,
    pub bind_options: Option<BindOptions>,
    pub volume_options: Option<VolumeOptions>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    pub propagation: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    pub subpath: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfigBody {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub config: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct UlimitBody {
    pub name: Option<String>,
    pub soft: Option<i64>,
    pub hard: Option<i64>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    pub size_bytes: Option<i64>,
    pub mode: Option<u32>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub network_mode: Option<String>,
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    pub publish_all_ports: Option<bool>,
    pub restart_policy: Option<RestartBody>,
    pub auto_remove: Option<bool>,
    pub mounts: Option<Vec<MountBody>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    pub readonly_rootfs: Option<bool>,
    pub init: Option<bool>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub privileged: Option<bool>,
    pub security_opt: Option<Vec<String>>,
    pub ipc_mode: Option<String>,
    pub pid_mode: Option<String>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub group_add: Option<Vec<String>>,
    pub runtime: Option<String>,
    pub log_config: Option<LogConfigBody>,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub shm_size: Option<i64>,
    pub sysctls: Option<BTreeMap<String, String>>,
    pub ulimits: Option<Vec<UlimitBody>>,
    pub oom_score_adj: Option<i32>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointBody {
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<IpamBody>,
    pub mac_address: Option<String>,
    pub driver_opts: Option<BTreeMap<String, String>>,
    pub gw_priority: Option<i64>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub struct IpamBody {
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointBody>>>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

fn port_key(k: &str) -> ApiResult<(u16, String)> {
    let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    let port: u16 = port.parse().map_err(|_| bad(format!("invalid port {k:?}: not a port number")))?;
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(bad(format!("invalid port {k:?}: unknown protocol {proto:?}")));
    }
    Ok((port, proto.to_string()))
}

/// The config the engine creates a container from.
pub fn config(b: CreateBody) -> ApiResult<ContainerConfig> {
    let image =
        b.image.filter(|i| !i.is_empty()).ok_or_else(|| bad("config error: an image name is required (Image)"))?;
    let h = b.host_config.unwrap_or_default();

    let mut anon = engine::names::new_id;
    let mut mounts = Vec::new();
    for v in h.binds.unwrap_or_default() {
        mounts.push(engine::mounts::parse_volume(&v, &mut anon)?);
    }
    for m in h.mounts.unwrap_or_default() {
        let target =
            m.target.filter(|t| !t.is_empty()).ok_or_else(|| bad("invalid mount config: Target is required"))?;
        if !target.starts_with('/') {
            return Err(bad(format!("invalid mount config: mount path must be absolute: {target}")));
        }
        let readonly = m.read_only.unwrap_or(false);
        let source = m.source.filter(|s| !s.is_empty());
        mounts.push(match m.kind.as_deref().unwrap_or("volume") {
            "bind" => Mount::Bind {
                source: source
                    .ok_or_else(|| bad("invalid mount config for type \"bind\": field Source must not be empty"))?,
                target,
                readonly,
                propagation: m.bind_options.and_then(|o| o.propagation).filter(|p| !p.is_empty()),
            },
            "volume" => match source {
                Some(name) => {
                    engine::volume::check_volume_name(&name)?;
                    let subpath = m.volume_options.and_then(|o| o.subpath).filter(|p| !p.is_empty());
                    Mount::Volume { name, target, readonly, anonymous: false, subpath }
                }
                None => Mount::Volume { name: anon(), target, readonly, anonymous: true, subpath: None },
            },
            "tmpfs" => {
                let mut options = Vec::new();
                if let Some(t) = m.tmpfs_options {
                    if let Some(sz) = t.size_bytes.filter(|s| *s > 0) {
                        options.push(format!("size={sz}"));
                    }
                    if let Some(mode) = t.mode.filter(|m| *m > 0) {
                        options.push(format!("mode={mode:o}"));
                    }
                }
                Mount::Tmpfs { target, options }
            }
            other => return Err(bad(format!("invalid mount config: mount type {other:?} is not supported"))),
        });
    }
    for (target, opts) in h.tmpfs.unwrap_or_default() {
        if !target.starts_with('/') {
            return Err(bad(format!("invalid mount config: mount path must be absolute: {target}")));
        }
        mounts.push(Mount::Tmpfs {
            target,
            options: opts.split(',').filter(|o| !o.is_empty()).map(str::to_string).collect(),
        });
    }
    // Config.Volumes: anonymous volumes (`docker run -v /data`), unless a
    // bind or named volume already covers the path.
    for (target, _) in b.volumes.unwrap_or_default() {
        if !mounts.iter().any(|m| m.target() == target) {
            if !target.starts_with('/') {
                return Err(bad(format!("invalid volume {target:?}: mount path must be absolute")));
            }
            mounts.push(Mount::Volume { name: anon(), target, readonly: false, anonymous: true, subpath: None });
        }
    }

    let mut ports = Vec::new();
    for (key, binds) in h.port_bindings.unwrap_or_default() {
        let (container_port, protocol) = port_key(&key)?;
        for pb in binds.unwrap_or_default() {
            let host_port = match pb.host_port.as_deref().unwrap_or("") {
                "" | "0" => None,
                p => Some(p.parse::<u16>().map_err(|_| bad(format!("invalid host port {p:?} for {key}")))?),
            };
            let host_ip = pb.host_ip.filter(|i| !i.is_empty());
            if let Some(ip) = &host_ip {
                ip.parse::<std::net::IpAddr>().map_err(|_| bad(format!("invalid host IP {ip:?} for {key}")))?;
            }
            ports.push(PortSpec { host_ip, host_port, container_port, protocol: protocol.clone() });
        }
    }
    let mut exposed = Vec::new();
    for key in b.exposed_ports.unwrap_or_default().keys() {
        let (p, proto) = port_key(key)?;
        exposed.push(format!("{p}/{proto}"));
    }

    let endpoints = b.networking_config.and_then(|n| n.endpoints_config).unwrap_or_default();
    let container_mac = b.mac_address.filter(|m| !m.is_empty());
    let attachment = |net: &str| -> NetworkAttachment {
        let e = endpoints.get(net).and_then(|e| e.as_ref());
        let ipam = e.and_then(|e| e.ipam_config.as_ref());
        let nonempty = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
        NetworkAttachment {
            network: net.to_string(),
            aliases: e.and_then(|e| e.aliases.clone()).unwrap_or_default(),
            ipv4_address: nonempty(ipam.and_then(|i| i.ipv4_address.as_ref())),
            ipv6_address: nonempty(ipam.and_then(|i| i.ipv6_address.as_ref())),
            mac_address: nonempty(e.and_then(|e| e.mac_address.as_ref())).or_else(|| container_mac.clone()),
            driver_opts: e.and_then(|e| e.driver_opts.clone()).unwrap_or_default(),
            gw_priority: e.and_then(|e| e.gw_priority).unwrap_or(0),
        }
    };
    let network = if b.network_disabled == Some(true) {
        Some(NetworkMode::None)
    } else {
        match h.network_mode.as_deref().unwrap_or("default") {
            "" | "default" | "bridge" => {
                // Extra endpoints besides the default one (compose names them).
                let others: Vec<&String> =
                    endpoints.keys().filter(|k| !matches!(k.as_str(), "default" | "bridge")).collect();
                // The default endpoint's own settings (a MAC, an address)
                // keep it as an explicit attachment.
                let key = if endpoints.contains_key("bridge") { "bridge" } else { "default" };
                let mut dflt = attachment(key);
                dflt.network = "bridge".into();
                let plain = NetworkAttachment { network: "bridge".into(), ..Default::default() };
                if others.is_empty() && dflt == plain {
                    None
                } else {
                    // Compose names only its networks, not the default one.
                    let mut list = if dflt != plain || others.is_empty() { vec![dflt] } else { vec![] };
                    list.extend(others.into_iter().map(|n| attachment(n)));
                    Some(NetworkMode::Networks(list))
                }
            }
            "none" => Some(NetworkMode::None),
            "host" => Some(NetworkMode::Host),
            m if m.starts_with("container:") => Some(NetworkMode::Container(m["container:".len()..].to_string())),
            name => {
                let mut list = vec![attachment(name)];
                for n in endpoints.keys().filter(|k| k.as_str() != name) {
                    list.push(attachment(n));
                }
                Some(NetworkMode::Networks(list))
            }
        }
    };

    let cpus = match (h.nano_cpus.filter(|n| *n > 0), h.cpu_quota.filter(|q| *q > 0)) {
        (Some(n), _) => Some(n as f64 / 1e9),
        (None, Some(q)) => Some(q as f64 / h.cpu_period.filter(|p| *p > 0).unwrap_or(100_000) as f64),
        _ => None,
    };
    let memory = h.memory.filter(|m| *m > 0);
    let restart = match h.restart_policy {
        Some(r) => match r.name.as_deref().unwrap_or("") {
            "on-failure" => RestartPolicy::OnFailure { max_retries: r.maximum_retry_count.unwrap_or(0) },
            other => RestartPolicy::parse(other).map_err(bad)?,
        },
        None => RestartPolicy::No,
    };
    let auto_remove = h.auto_remove.unwrap_or(false);
    let mut seccomp = None;
    let mut no_new_privileges = false;
    for o in h.security_opt.unwrap_or_default() {
        match o.split_once(['=', ':']) {
            Some(("seccomp", "unconfined")) => seccomp = Some("unconfined".to_string()),
            // The CLI sends the profile's JSON itself.
            Some(("seccomp", profile)) => seccomp = Some(profile.to_string()),
            Some(("no-new-privileges", v)) => no_new_privileges = v != "false",
            None if o == "no-new-privileges" => no_new_privileges = true,
            Some(("label" | "apparmor", _)) => {}
            _ => return Err(bad(format!("invalid --security-opt: {o:?}"))),
        }
    }
    let healthcheck = b.healthcheck.and_then(|hc| {
        let test = hc.test.filter(|t| !t.is_empty())?;
        let secs = |ns: Option<i64>, default: f64| ns.filter(|n| *n > 0).map_or(default, |n| n as f64 / 1e9);
        Some(Healthcheck {
            test,
            interval_secs: secs(hc.interval, 30.0),
            timeout_secs: secs(hc.timeout, 30.0),
            start_period_secs: secs(hc.start_period, 0.0),
            retries: hc.retries.filter(|r| *r > 0).unwrap_or(3),
        })
    });
    let open_stdin = b.open_stdin.unwrap_or(false);
    let log = h.log_config.unwrap_or_default();
    let mut ulimits = Vec::new();
    for u in h.ulimits.unwrap_or_default() {
        let name = u.name.filter(|n| !n.is_empty()).ok_or_else(|| bad("invalid ulimit: Name is required"))?;
        ulimits.push(engine::model::Ulimit { name, soft: u.soft.unwrap_or(0), hard: u.hard.unwrap_or(0) });
    }
    Ok(ContainerConfig {
        image,
        entrypoint: b.entrypoint.map(StrOrList::into_vec),
        cmd: b.cmd.map(StrOrList::into_vec),
        env: b.env.unwrap_or_default(),
        workdir: b.working_dir.unwrap_or_default(),
        user: b.user.unwrap_or_default(),
        hostname: b.hostname.unwrap_or_default(),
        labels: b.labels.unwrap_or_default(),
        tty: b.tty.unwrap_or(false),
        interactive: open_stdin,
        stdin_once: open_stdin && b.stdin_once.unwrap_or(false),
        network,
        ports,
        publish_all: h.publish_all_ports.unwrap_or(false),
        exposed_ports: exposed,
        mounts,
        resources: Resources {
            memory,
            memory_swap: h.memory_swap.filter(|s| *s != 0),
            cpus,
            cpu_shares: h.cpu_shares.filter(|s| *s > 0),
            pids_limit: h.pids_limit.filter(|p| *p > 0),
            cpuset_cpus: h.cpuset_cpus.filter(|s| !s.is_empty()),
            cpuset_mems: h.cpuset_mems.filter(|s| !s.is_empty()),
        },
        read_only: h.readonly_rootfs.unwrap_or(false),
        restart,
        auto_remove,
        init: h.init.unwrap_or(false),
        cap_add: h.cap_add.unwrap_or_default(),
        cap_drop: h.cap_drop.unwrap_or_default(),
        privileged: h.privileged.unwrap_or(false),
        seccomp,
        no_new_privileges,
        stop_signal: b.stop_signal.filter(|s| !s.is_empty()),
        stop_timeout: b.stop_timeout,
        healthcheck,
        ipc: h.ipc_mode.filter(|m| !m.is_empty() && m != "private" && m != "shareable"),
        pid: h.pid_mode.filter(|m| !m.is_empty()),
        uts: h.uts_mode.filter(|m| !m.is_empty()),
        group_add: h.group_add.unwrap_or_default(),
        runtime: h.runtime.filter(|r| !r.is_empty()),
        log: engine::model::LogConfig { driver: log.kind.unwrap_or_default(), options: log.config.unwrap_or_default() },
        dns: h.dns.unwrap_or_default(),
        dns_options: h.dns_options.unwrap_or_default(),
        dns_search: h.dns_search.unwrap_or_default(),
        extra_hosts: h.extra_hosts.unwrap_or_default(),
        shm_size: h.shm_size.filter(|s| *s > 0),
        sysctls: h.sysctls.unwrap_or_default(),
        ulimits,
        oom_score_adj: h.oom_score_adj.unwrap_or(0),
        domainname: b.domainname.unwrap_or_default(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> ApiResult<ContainerConfig> {
        config(crate::http::parse_body(v.to_string().as_bytes())?)
    }

    #[test]
    fn the_clis_run_body_becomes_the_engines_config() {
        let c = parse(serde_json::json!({
            "Image": "img", "Cmd": null, "Env": ["A=B"], "ExposedPorts": {"80/tcp": {}}, "Entrypoint": null,
            "Tty": false, "OpenStdin": true, "StdinOnce": true, "Labels": {},
            "HostConfig": {"Binds": ["vol:/data", "/srv:/www:ro"], "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                           "Memory": 67108864, "NanoCpus": 500000000, "AutoRemove": false, "LogConfig": {"Type": "", "Config": {}},
                           "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}, "NetworkMode": "default",
                           "MemorySwappiness": -1, "UnknownNewField": [1, 2]},
            "NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": null}}}
        }))
        .unwrap();
        assert_eq!(c.image, "img");
        assert_eq!(c.cmd, None);
        assert!(c.interactive && c.stdin_once);
        assert_eq!(c.ports[0].host_port, Some(8080));
        assert_eq!(c.ports[0].container_port, 80);
        assert_eq!(c.resources.memory, Some(64 << 20));
        assert_eq!(c.resources.cpus, Some(0.5));
        assert_eq!(c.restart, RestartPolicy::OnFailure { max_retries: 2 });
        assert_eq!(c.network, None);
        assert!(matches!(&c.mounts[0], Mount::Volume { name, .. } if name == "vol"));
        assert!(matches!(&c.mounts[1], Mount::Bind { readonly: true, .. }));
    }

    #[test]
    fn strings_or_lists_and_user_networks() {
        let c = parse(serde_json::json!({
            "Image": "img", "Cmd": "echo hi", "Entrypoint": ["/bin/sh", "-c"],
            "HostConfig": {"NetworkMode": "app"},
            "NetworkingConfig": {"EndpointsConfig": {"app": {"Aliases": ["db"]}}}
        }))
        .unwrap();
        assert_eq!(c.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(c.entrypoint.unwrap().len(), 2);
        match c.network {
            Some(NetworkMode::Networks(n)) => assert_eq!(n[0].aliases, ["db"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_bodies_name_what_is_wrong() {
        let e = parse(serde_json::json!({"Image": "img", "Tty": "yes"})).unwrap_err();
        assert!(e.message.contains("Tty"), "{}", e.message);
        let e = parse(serde_json::json!({"Cmd": ["x"]})).unwrap_err();
        assert!(e.message.contains("Image"), "{}", e.message);
        let e = parse(serde_json::json!({"Image": "i", "HostConfig": {"PortBindings": {"http/tcp": []}}})).unwrap_err();
        assert!(e.message.contains("http/tcp"), "{}", e.message);
        let e = parse(serde_json::json!({"Image": "i", "HostConfig": {"Binds": ["relative:dir"]}})).unwrap_err();
        assert!(e.message.contains("relative:dir"), "{}", e.message);
        // Contradictions are the engine's to refuse (ContainerConfig::validate).
        let c = parse(
            serde_json::json!({"Image": "i", "HostConfig": {"AutoRemove": true, "RestartPolicy": {"Name": "always"}}}),
        )
        .unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("--rm"));
    }

    #[test]
    fn host_config_and_endpoint_settings_are_read() {
        let c = parse(serde_json::json!({
            "Image": "i",
            "HostConfig": {"NetworkMode": "app", "UTSMode": "host", "CpusetCpus": "0", "GroupAdd": ["wheel"],
                           "Runtime": "runc", "LogConfig": {"Type": "local", "Config": {"max-size": "1m"}},
                           "Dns": ["10.0.0.1"], "ExtraHosts": ["db:10.0.0.2"], "ShmSize": 1048576,
                           "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}], "OomScoreAdj": 5,
                           "Mounts": [{"Type": "bind", "Source": "/s", "Target": "/t", "BindOptions": {"Propagation": "rslave"}},
                                      {"Type": "volume", "Source": "vol", "Target": "/v", "VolumeOptions": {"Subpath": "sub"}}]},
            "NetworkingConfig": {"EndpointsConfig": {"app": {"IPAMConfig": {"IPv4Address": "10.1.0.9"}, "MacAddress": "02:00:00:00:00:09"}}}
        }))
        .unwrap();
        assert_eq!(c.uts.as_deref(), Some("host"));
        assert_eq!(c.resources.cpuset_cpus.as_deref(), Some("0"));
        assert_eq!(c.log.driver(), "local");
        assert_eq!(c.ulimits[0].hard, 20);
        assert!(matches!(&c.mounts[0], Mount::Bind { propagation: Some(p), .. } if p == "rslave"));
        assert!(matches!(&c.mounts[1], Mount::Volume { subpath: Some(p), .. } if p == "sub"));
        match &c.network {
            Some(NetworkMode::Networks(n)) => {
                assert_eq!(n[0].ipv4_address.as_deref(), Some("10.1.0.9"));
                assert_eq!(n[0].mac_address.as_deref(), Some("02:00:00:00:00:09"));
            }
            other => panic!("{other:?}"),
        }
        // A MAC on the default bridge keeps it as an explicit attachment.
        let c = parse(serde_json::json!({"Image": "i", "MacAddress": "02:00:00:00:00:01"})).unwrap();
        assert!(matches!(&c.network, Some(NetworkMode::Networks(n)) if n[0].network == "bridge"));
    }
}
