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
            Mount::Bind { source, target, readonly } => {
                Some(format!("{source}:{target}{}", if *readonly { ":ro" } else { "" }))
            }
            Mount::Volume { name, target, readonly, anonymous: false } => {
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
    let host_config = json!({
        "Binds": list_or_null(&binds),
        "NetworkMode": network_mode,
        "PortBindings": port_bindings,
        "PublishAllPorts": cfg.publish_all,
        "RestartPolicy": {"Name": restart_name, "MaximumRetryCount": retries},
        "AutoRemove": cfg.auto_remove,
        "CapAdd": list_or_null(&cfg.cap_add),
        "CapDrop": list_or_null(&cfg.cap_drop),
        "Privileged": cfg.privileged,
        "ReadonlyRootfs": cfg.read_only,
        "SecurityOpt": list_or_null(&security_opt),
        "Tmpfs": if tmpfs.is_empty() { Value::Null } else { json!(tmpfs) },
        "IpcMode": cfg.ipc.clone().unwrap_or_else(|| "private".into()),
        "PidMode": cfg.pid.clone().unwrap_or_default(),
        "Init": cfg.init,
        "Memory": cfg.resources.memory.unwrap_or(0),
        "MemorySwap": cfg.resources.memory_swap.unwrap_or(0),
        "NanoCpus": cfg.resources.cpus.map_or(0, |c| (c * 1e9) as i64),
        "CpuShares": cfg.resources.cpu_shares.unwrap_or(0),
        "PidsLimit": cfg.resources.pids_limit,
        "LogConfig": {"Type": "json-file", "Config": {}},
    });

    let mounts: Vec<Value> = cfg
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Volume { name, target, readonly, .. } => json!({
                "Type": "volume", "Name": name, "Source": e.volume_dir(name), "Destination": target,
                "Driver": "local", "Mode": if *readonly { "ro" } else { "z" }, "RW": !readonly, "Propagation": "",
            }),
            Mount::Bind { source, target, readonly } => json!({
                "Type": "bind", "Source": source, "Destination": target,
                "Mode": if *readonly { "ro" } else { "" }, "RW": !readonly, "Propagation": "rprivate",
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
        "Domainname": "",
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
        "NetworkSettings": network_settings(c),
    })
}

fn network_settings(c: &Container) -> Value {
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
        networks.insert(
            ep.network.clone(),
            json!({
                "IPAddress": ep.address,
                "IPPrefixLen": ep.prefix,
                "Gateway": ep.gateway,
                "MacAddress": ep.mac,
                "Aliases": aliases(c, &ep.network),
                "DNSNames": dns_names(c, &ep.network),
            }),
        );
    }
    // A stopped container still shows the networks it is attached to.
    if let Some(NetworkMode::Networks(list)) = &c.config.network {
        for a in list {
            networks.entry(a.network.clone()).or_insert_with(|| {
                json!({"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": "", "Aliases": aliases(c, &a.network)})
            });
        }
    } else if c.config.network.is_none() {
        networks.entry("bridge".to_string()).or_insert_with(
            || json!({"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": "", "Aliases": null}),
        );
    }
    let first = c.state.endpoints.iter().find(|ep| ep.network == "bridge").or(c.state.endpoints.first());
    json!({
        "Ports": ports,
        "IPAddress": first.map(|e| e.address.as_str()).unwrap_or(""),
        "IPPrefixLen": first.map_or(0, |e| e.prefix),
        "Gateway": first.map(|e| e.gateway.as_str()).unwrap_or(""),
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
