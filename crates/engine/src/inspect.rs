//! Docker's shapes for `inspect`: what `docker container inspect`,
//! `docker network inspect` and `docker volume inspect` print, and what the
//! Engine API returns for them. Field names and value conventions follow the
//! Engine API (empty lists as `null` where docker has them so, `"/name"`).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::model::{Container, Mount, NetworkMode, Status};
use crate::network::Network;
use crate::volume::Volume;

/// Docker prints times as RFC 3339; a never-set one is the zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time_or_zero(t: &str) -> &str {
    if t.is_empty() {
        ZERO_TIME
    } else {
        t
    }
}

fn list_or_null(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

/// `docker container inspect`.
pub fn container(e: &Engine, c: &Container) -> Value {
    let dir = e.container_dir(&c.id);
    let cfg = &c.config;
    let st = &c.state;
    let (path, args) = match cfg.args.split_first() {
        Some((p, rest)) => (p.clone(), rest.to_vec()),
        None => (String::new(), Vec::new()),
    };
    let health = st.health.as_ref().map(|h| {
        json!({
            "Status": h.status,
            "FailingStreak": h.failing_streak,
            "Log": h.log.iter().map(|r| json!({
                "Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output,
            })).collect::<Vec<_>>(),
        })
    });
    let mut state = json!({
        "Status": st.status.to_string(),
        "Running": matches!(st.status, Status::Running | Status::Paused),
        "Paused": st.status == Status::Paused,
        "Restarting": st.status == Status::Restarting,
        "OOMKilled": st.oom_killed,
        "Dead": st.status == Status::Dead,
        "Pid": st.pid,
        "ExitCode": st.exit_code,
        "Error": st.error,
        "StartedAt": time_or_zero(&st.started_at),
        "FinishedAt": time_or_zero(&st.finished_at),
    });
    if let Some(h) = health {
        state["Health"] = h;
    }

    let network_mode = match &cfg.network {
        None => "bridge".to_string(),
        Some(NetworkMode::None) => "none".into(),
        Some(NetworkMode::Host) => "host".into(),
        Some(NetworkMode::Container(n)) => format!("container:{n}"),
        Some(NetworkMode::Networks(n)) => n.first().map_or("bridge".into(), |a| a.network.clone()),
    };
    let mut port_bindings = Map::new();
    for p in &cfg.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let entry = port_bindings.entry(key).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({
                "HostIp": p.host_ip.clone().unwrap_or_default(),
                "HostPort": p.host_port.map(|h| h.to_string()).unwrap_or_default(),
            }));
        }
    }
    let binds: Vec<String> = cfg
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Bind { source, target, readonly, propagation } => {
                let mut opts: Vec<&str> = Vec::new();
                if *readonly {
                    opts.push("ro");
                }
                if let Some(p) = propagation {
                    opts.push(p);
                }
                Some(if opts.is_empty() {
                    format!("{source}:{target}")
                } else {
                    format!("{source}:{target}:{}", opts.join(","))
                })
            }
            Mount::Volume { name, target, readonly, anonymous: false, .. } => {
                Some(format!("{name}:{target}{}", if *readonly { ":ro" } else { "" }))
            }
            _ => None,
        })
        .collect();
    let tmpfs: BTreeMap<&str, String> = cfg
        .mounts
        .iter()
        .filter_map(|m| match m {
            Mount::Tmpfs { target, options } => Some((target.as_str(), options.join(","))),
            _ => None,
        })
        .collect();
    let (restart_name, retries) = match &cfg.restart {
        crate::model::RestartPolicy::OnFailure { max_retries } => ("on-failure", *max_retries),
        p => (p.name(), 0),
    };
    let mut security_opt = Vec::new();
    if cfg.no_new_privileges {
        security_opt.push("no-new-privileges".to_string());
    }
    if cfg.seccomp.as_deref() == Some("unconfined") {
        security_opt.push("seccomp=unconfined".into());
    }
    let r = &cfg.resources;
    let (masked, readonly_paths) = if cfg.privileged {
        (Value::Null, Value::Null)
    } else {
        (json!(runtime::default_spec::MASKED_PATHS), json!(runtime::default_spec::READONLY_PATHS))
    };
    let ulimits: Vec<Value> =
        cfg.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect();
    // Every field dockerd 1.50 returns, in its order, with its values for
    // what berth does not do (Windows isolation, blkio weights, realtime).
    let host_config = json!({
        "Binds": list_or_null(&binds),
        "ContainerIDFile": "",
        "LogConfig": {"Type": cfg.log.driver(), "Config": cfg.log.options},
        "NetworkMode": network_mode,
        "PortBindings": port_bindings,
        "RestartPolicy": {"Name": restart_name, "MaximumRetryCount": retries},
        "AutoRemove": cfg.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": null,
        "ConsoleSize": [0, 0],
        "Annotations": null,
        "CapAdd": list_or_null(&cfg.cap_add),
        "CapDrop": list_or_null(&cfg.cap_drop),
        "CgroupnsMode": "private",
        "Dns": cfg.dns,
        "DnsOptions": cfg.dns_options,
        "DnsSearch": cfg.dns_search,
        "ExtraHosts": list_or_null(&cfg.extra_hosts),
        "GroupAdd": list_or_null(&cfg.group_add),
        "IpcMode": cfg.ipc.clone().unwrap_or_else(|| "private".into()),
        "Cgroup": "",
        "Links": null,
        "OomScoreAdj": cfg.oom_score_adj,
        "PidMode": cfg.pid.clone().unwrap_or_default(),
        "Privileged": cfg.privileged,
        "PublishAllPorts": cfg.publish_all,
        "ReadonlyRootfs": cfg.read_only,
        "SecurityOpt": list_or_null(&security_opt),
        "StorageOpt": null,
        "Tmpfs": if tmpfs.is_empty() { Value::Null } else { json!(tmpfs) },
        "UTSMode": cfg.uts.clone().unwrap_or_default(),
        "UsernsMode": "",
        "ShmSize": cfg.shm_size.unwrap_or(crate::spec::DEFAULT_SHM_SIZE),
        "Sysctls": if cfg.sysctls.is_empty() { Value::Null } else { json!(cfg.sysctls) },
        "Runtime": cfg.runtime.clone().unwrap_or_else(|| "runc".into()),
        "Isolation": "",
        "CpuShares": r.cpu_shares.unwrap_or(0),
        "Memory": r.memory.unwrap_or(0),
        "NanoCpus": r.cpus.map_or(0, |c| (c * 1e9) as i64),
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": r.cpuset_cpus.clone().unwrap_or_default(),
        "CpusetMems": r.cpuset_mems.clone().unwrap_or_default(),
        "Devices": [],
        "DeviceCgroupRules": null,
        "DeviceRequests": null,
        "MemoryReservation": 0,
        "MemorySwap": r.memory_swap.unwrap_or(0),
        "MemorySwappiness": null,
        "OomKillDisable": null,
        "PidsLimit": r.pids_limit,
        "Ulimits": ulimits,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "Init": cfg.init,
        "MaskedPaths": masked,
        "ReadonlyPaths": readonly_paths,
    });

    // Sorted by destination: dockerd's order is a map's (random), so no
    // client relies on it, and a stable one is kinder to people diffing.
    let mut sorted: Vec<&Mount> = cfg.mounts.iter().collect();
    sorted.sort_by(|a, b| a.target().cmp(b.target()));
    let mounts: Vec<Value> = sorted
        .into_iter()
        .map(|m| match m {
            Mount::Volume { name, target, readonly, .. } => json!({
                "Type": "volume", "Name": name, "Source": e.volume_dir(name), "Destination": target,
                "Driver": "local", "Mode": if *readonly { "ro" } else { "z" }, "RW": !readonly, "Propagation": "",
            }),
            Mount::Bind { source, target, readonly, propagation } => json!({
                "Type": "bind", "Source": source, "Destination": target,
                "Mode": if *readonly { "ro" } else { "" }, "RW": !readonly,
                "Propagation": propagation.as_deref().unwrap_or("rprivate"),
            }),
            Mount::Tmpfs { target, .. } => json!({
                "Type": "tmpfs", "Source": "", "Destination": target, "Mode": "", "RW": true, "Propagation": "",
            }),
        })
        .collect();

    let exposed: Map<String, Value> = cfg.exposed_ports.iter().map(|p| (p.clone(), json!({}))).collect();
    let healthcheck = cfg.healthcheck.as_ref().map(|h| {
        json!({
            "Test": h.test,
            "Interval": (h.interval_secs * 1e9) as i64,
            "Timeout": (h.timeout_secs * 1e9) as i64,
            "StartPeriod": (h.start_period_secs * 1e9) as i64,
            "Retries": h.retries,
        })
    });
    let mut config = json!({
        "Hostname": crate::spec::container_hostname(cfg, &c.id),
        "Domainname": cfg.domainname,
        "User": cfg.user,
        "AttachStdin": cfg.interactive,
        "AttachStdout": true,
        "AttachStderr": true,
        "ExposedPorts": if exposed.is_empty() { Value::Null } else { Value::Object(exposed) },
        "Tty": cfg.tty,
        "OpenStdin": cfg.interactive,
        "StdinOnce": cfg.stdin_once,
        "Env": cfg.env,
        "Cmd": cfg.cmd,
        "Image": cfg.image,
        "Volumes": Value::Null,
        "WorkingDir": cfg.workdir,
        "Entrypoint": cfg.entrypoint,
        "Labels": cfg.labels,
    });
    if let Some(s) = &cfg.stop_signal {
        config["StopSignal"] = json!(s);
    }
    if let Some(t) = cfg.stop_timeout {
        config["StopTimeout"] = json!(t);
    }
    if let Some(h) = healthcheck {
        config["Healthcheck"] = h;
    }

    json!({
        "Id": c.id,
        "Created": crate::engine::rfc3339_secs(c.created),
        "Path": path,
        "Args": args,
        "State": state,
        "Image": format!("sha256:{}", cfg.image_id.trim_start_matches("sha256:")),
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": e.log_path(&c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": st.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": host_config,
        "Mounts": mounts,
        "Config": config,
        "NetworkSettings": network_settings(c, &network_ids(e)),
    })
}

/// Network ids by name, for endpoints that are not wired (stopped).
fn network_ids(e: &Engine) -> BTreeMap<String, String> {
    // The built-in networks have fixed ids, stored on first use only.
    let mut ids: BTreeMap<String, String> =
        [("bridge", 'b'), ("host", 'h'), ("none", 'n')].map(|(n, c)| (n.to_string(), c.to_string().repeat(64))).into();
    if let Ok(mut st) = e.db.conn().prepare("SELECT name, id FROM networks") {
        if let Ok(rows) = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))) {
            ids.extend(rows.filter_map(|r| r.ok()));
        }
    }
    ids
}

/// dockerd's EndpointSettings of `c` on `network`; `ep` when wired.
fn endpoint_settings(
    c: &Container,
    network: &str,
    ep: Option<&crate::model::Endpoint>,
    ids: &BTreeMap<String, String>,
) -> Value {
    let attachment = match &c.config.network {
        Some(NetworkMode::Networks(list)) => list.iter().find(|a| a.network == network),
        _ => None,
    };
    let ipam = attachment.filter(|a| a.ipv4_address.is_some() || a.ipv6_address.is_some()).map(|a| {
        let mut m = Map::new();
        if let Some(ip) = &a.ipv4_address {
            m.insert("IPv4Address".into(), json!(ip));
        }
        if let Some(ip) = &a.ipv6_address {
            m.insert("IPv6Address".into(), json!(ip));
        }
        Value::Object(m)
    });
    let driver_opts = attachment.filter(|a| !a.driver_opts.is_empty()).map(|a| json!(a.driver_opts));
    let mac = match ep {
        Some(ep) => ep.mac.clone(),
        // A stopped container shows the MAC it asked for (dockerd keeps it).
        None => attachment.and_then(|a| a.mac_address.clone()).unwrap_or_default(),
    };
    json!({
        "IPAMConfig": ipam,
        "Links": null,
        "Aliases": aliases(c, network),
        "MacAddress": mac,
        "DriverOpts": driver_opts,
        "GwPriority": attachment.map_or(0, |a| a.gw_priority),
        "NetworkID": ep.map(|e| e.network_id.clone()).filter(|i| !i.is_empty())
            .or_else(|| ids.get(network).cloned()).unwrap_or_default(),
        "EndpointID": ep.map(|e| e.endpoint_id.as_str()).unwrap_or(""),
        "Gateway": ep.map(|e| e.gateway.as_str()).unwrap_or(""),
        "IPAddress": ep.map(|e| e.address.as_str()).unwrap_or(""),
        "IPPrefixLen": ep.map_or(0, |e| e.prefix),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": if ep.is_some() { dns_names(c, network) } else { Value::Null },
    })
}

fn network_settings(c: &Container, ids: &BTreeMap<String, String>) -> Value {
    let mut ports = Map::new();
    for p in &c.config.exposed_ports {
        ports.insert(p.clone(), Value::Null);
    }
    for (cport, ip, hport) in &c.state.ports {
        let entry = ports.entry(cport.clone()).or_insert(Value::Null);
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"HostIp": ip, "HostPort": hport.to_string()}));
        }
    }
    let mut networks = Map::new();
    for ep in &c.state.endpoints {
        networks.insert(ep.network.clone(), endpoint_settings(c, &ep.network, Some(ep), ids));
    }
    // A stopped container still shows the networks it is attached to.
    if let Some(NetworkMode::Networks(list)) = &c.config.network {
        for a in list {
            if !networks.contains_key(&a.network) {
                networks.insert(a.network.clone(), endpoint_settings(c, &a.network, None, ids));
            }
        }
    } else if c.config.network.is_none() && !networks.contains_key("bridge") {
        networks.insert("bridge".into(), endpoint_settings(c, "bridge", None, ids));
    }
    let running = matches!(c.state.status, Status::Running | Status::Paused);
    let first = c.state.endpoints.iter().find(|ep| ep.network == "bridge").or(c.state.endpoints.first());
    json!({
        "Bridge": "",
        "SandboxID": if running { c.id.as_str() } else { "" },
        "SandboxKey": if running { format!("/proc/{}/ns/net", c.state.pid) } else { String::new() },
        "Ports": ports,
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": first.map(|e| e.endpoint_id.as_str()).unwrap_or(""),
        "Gateway": first.map(|e| e.gateway.as_str()).unwrap_or(""),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": first.map(|e| e.address.as_str()).unwrap_or(""),
        "IPPrefixLen": first.map_or(0, |e| e.prefix),
        "IPv6Gateway": "",
        "MacAddress": first.map(|e| e.mac.as_str()).unwrap_or(""),
        "Networks": networks,
    })
}

fn aliases(c: &Container, network: &str) -> Value {
    match &c.config.network {
        Some(NetworkMode::Networks(list)) => list.iter().find(|a| a.network == network).map_or(Value::Null, |a| {
            if a.aliases.is_empty() {
                Value::Null
            } else {
                json!(a.aliases)
            }
        }),
        _ => Value::Null,
    }
}

fn dns_names(c: &Container, network: &str) -> Value {
    if network == "bridge" {
        return Value::Null;
    }
    let mut names = vec![c.name.clone(), c.id[..12].to_string()];
    if let Value::Array(a) = aliases(c, network) {
        names.extend(a.into_iter().filter_map(|v| v.as_str().map(str::to_string)));
    }
    json!(names)
}

/// `docker network inspect`; `containers` are those attached and running.
pub fn network(n: &Network, containers: &[Container]) -> Value {
    let mut attached = Map::new();
    for c in containers {
        if let Some(ep) = c.state.endpoints.iter().find(|ep| ep.network == n.name) {
            attached.insert(
                c.id.clone(),
                json!({
                    "Name": c.name,
                    "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{}", ep.address, ep.prefix),
                    "IPv6Address": "",
                }),
            );
        }
    }
    let config = if n.subnet.is_empty() { json!([]) } else { json!([{"Subnet": n.subnet, "Gateway": n.gateway}]) };
    let mut options = Map::new();
    if n.driver == "bridge" {
        options.insert("com.docker.network.bridge.name".into(), json!(n.bridge));
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": attached,
        "Options": options,
        "Labels": n.labels,
    })
}

/// `docker volume inspect`.
pub fn volume(v: &Volume) -> Value {
    let mut labels = v.labels.clone();
    if v.anonymous {
        labels.insert("com.docker.volume.anonymous".into(), String::new());
    }
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": labels,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": null,
        "Scope": "local",
    })
}
