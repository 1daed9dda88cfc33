//! What the engine records about a container: the configuration it was
//! created with (everything needed to start it again) and its state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a container is networked (`--network`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "target")]
pub enum NetworkMode {
    /// Only a loopback interface.
    None,
    /// The host's network namespace.
    Host,
    /// Attached to these networks ("bridge" is the default one).
    Networks(Vec<NetworkAttachment>),
    /// Another container's network namespace (`container:NAME`).
    Container(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    pub network: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Addresses asked for (`--ip`, `--ip6`, `IPAMConfig`): given, never
    /// chosen, and refused when outside the subnet or taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// `--mac-address`: the interface's MAC instead of the derived one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// `DriverOpts` of the endpoint, shown as given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default)]
    pub gw_priority: i64,
}

/// A mount (`-v`, `--mount`, `--tmpfs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Mount {
    Volume {
        name: String,
        target: String,
        readonly: bool,
        #[serde(default)]
        anonymous: bool,
        /// `VolumeOptions.Subpath`: a directory inside the volume, mounted
        /// instead of all of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subpath: Option<String>,
    },
    Bind {
        source: String,
        target: String,
        readonly: bool,
        /// "rprivate" (None), "private", "rshared", "shared", "rslave", "slave".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        propagation: Option<String>,
    },
    Tmpfs {
        target: String,
        #[serde(default)]
        options: Vec<String>,
    },
}

impl Mount {
    pub fn target(&self) -> &str {
        match self {
            Mount::Volume { target, .. } | Mount::Bind { target, .. } | Mount::Tmpfs { target, .. } => target,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub host_ip: Option<String>,
    /// None: an ephemeral port, chosen at start.
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

impl PortSpec {
    /// docker's `-p` argument (`[[HOST_IP:][HOST_PORT]:]PORT[/PROTO]`, with
    /// ranges): one spec per port.
    pub fn parse_publish(spec: &str) -> crate::Result<Vec<PortSpec>> {
        let specs = net::parse_publish(spec).map_err(|e| crate::Error::Invalid(e.to_string()))?;
        Ok(specs
            .into_iter()
            .map(|(host_ip, host_port, container_port, proto)| PortSpec {
                host_ip: host_ip.map(|i| i.to_string()),
                host_port,
                container_port,
                protocol: if proto == net::Protocol::Udp { "udp".into() } else { "tcp".into() },
            })
            .collect())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure {
        max_retries: u32,
    },
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        match s {
            "" | "no" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: 0 }),
            _ => match s.strip_prefix("on-failure:") {
                Some(n) => n
                    .parse()
                    .map(|max_retries| RestartPolicy::OnFailure { max_retries })
                    .map_err(|_| format!("invalid restart policy {s:?}: the retry count must be a number")),
                None => Err(format!("invalid restart policy {s:?}: use no, always, unless-stopped or on-failure[:N]")),
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure { .. } => "on-failure",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<i64>,
    /// Memory + swap, bytes (-1 unlimited).
    pub memory_swap: Option<i64>,
    /// CPU quota in CPUs (1.5 = one and a half).
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
    /// `--cpuset-cpus` / `--cpuset-mems` ("0-2,4"), into the cgroup.
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
    #[serde(default)]
    pub cpuset_mems: Option<String>,
}

/// `--log-driver` and `--log-opt`: where the container's output is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// "json-file" (also when empty), "local" or "none".
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

impl LogConfig {
    pub fn driver(&self) -> &str {
        if self.driver.is_empty() {
            "json-file"
        } else {
            &self.driver
        }
    }
}

/// One `--ulimit NAME=SOFT[:HARD]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

impl Ulimit {
    /// docker's `--ulimit nofile=1024:2048` (one number: soft and hard).
    pub fn parse(s: &str) -> crate::Result<Ulimit> {
        let bad = || crate::Error::Invalid(format!("invalid ulimit argument: {s}"));
        let (name, limits) = s.split_once('=').ok_or_else(bad)?;
        let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
        Ok(Ulimit {
            name: name.to_string(),
            soft: soft.parse().map_err(|_| bad())?,
            hard: hard.parse().map_err(|_| bad())?,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// ["CMD", ...], ["CMD-SHELL", "..."], or ["NONE"].
    pub test: Vec<String>,
    pub interval_secs: f64,
    pub timeout_secs: f64,
    pub start_period_secs: f64,
    pub retries: u32,
}

/// Everything a container was created with. Its OCI spec is generated from
/// this at every start, so a restart sees the same container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The image as the user named it, and its resolved id.
    pub image: String,
    pub image_id: String,
    /// The layers (chain ids, bottom first) when the container is not made
    /// from a stored image: a build step on an intermediate state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// The program and its arguments (entrypoint + command, resolved).
    pub args: Vec<String>,
    /// What the user gave, for `inspect` (None: from the image).
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub interactive: bool,
    /// Close the container's stdin when the first attached client's input
    /// ends (docker's StdinOnce, what `run -i` without a terminal asks).
    #[serde(default)]
    pub stdin_once: bool,
    pub network: Option<NetworkMode>,
    pub ports: Vec<PortSpec>,
    pub publish_all: bool,
    pub exposed_ports: Vec<String>,
    pub mounts: Vec<Mount>,
    pub resources: Resources,
    pub read_only: bool,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    pub init: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// "unconfined", a profile file's JSON, or None for the default profile.
    pub seccomp: Option<String>,
    pub no_new_privileges: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u32>,
    pub healthcheck: Option<Healthcheck>,
    /// `container:NAME` or `host` for --ipc / --pid.
    pub ipc: Option<String>,
    pub pid: Option<String>,
    /// `--uts host`: the host's UTS namespace (its host name).
    #[serde(default)]
    pub uts: Option<String>,
    /// `--group-add`: more supplementary groups (names from the image's
    /// /etc/group, or numbers), besides the user's own.
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--runtime`: only berth's own ("runc", as docker names it).
    #[serde(default)]
    pub runtime: Option<String>,
    #[serde(default)]
    pub log: LogConfig,
    /// `--dns`, `--dns-option`, `--dns-search`: the container's resolv.conf.
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--add-host HOST:IP`, into the container's /etc/hosts.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// Size of /dev/shm, bytes (None: docker's 64 MiB).
    #[serde(default)]
    pub shm_size: Option<i64>,
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    #[serde(default)]
    pub oom_score_adj: i32,
    #[serde(default)]
    pub domainname: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
            Status::Removing => "removing",
        })
    }
}

/// A port published as the container started: (container port/proto,
/// host ip, host port).
pub type PublishedPort = (String, String, u16);

/// One network interface of a running container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub address: String,
    pub prefix: u8,
    pub gateway: String,
    pub mac: String,
    pub host_ifname: String,
    #[serde(default)]
    pub network_id: String,
    /// Drawn as the interface is made, as dockerd's endpoint ids are.
    #[serde(default)]
    pub endpoint_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthState {
    /// "starting", "healthy" or "unhealthy".
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    /// The init's pid in the host's pid namespace, while running.
    pub pid: i32,
    /// Its start time (clock ticks), so a reused pid is never mistaken for it.
    pub pid_start: u64,
    /// The process holding its stdio and waiting for it: the monitor of a
    /// detached container, the CLI of a foreground one; and its start time.
    pub monitor_pid: i32,
    #[serde(default)]
    pub monitor_start: u64,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub restart_count: u32,
    /// Stopped on purpose (stop/kill): no restart, and `unless-stopped` stays down.
    pub stopped_by_user: bool,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<PublishedPort>,
    pub health: Option<HealthState>,
}

/// A container: id, name, configuration and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: i64,
    pub config: ContainerConfig,
    pub state: ContainerState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse() {
        assert_eq!(RestartPolicy::parse("on-failure:3").unwrap(), RestartPolicy::OnFailure { max_retries: 3 });
        assert_eq!(RestartPolicy::parse("always").unwrap(), RestartPolicy::Always);
        assert!(RestartPolicy::parse("sometimes").unwrap_err().contains("invalid restart policy"));
        assert!(RestartPolicy::parse("on-failure:x").is_err());
    }
}
