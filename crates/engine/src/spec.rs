//! The OCI runtime spec of a container, generated from its configuration
//! at every start, with Docker's defaults: 14 capabilities, the default
//! seccomp profile, masked and read-only /proc paths, a device cgroup that
//! allows only the standard devices.

use std::path::Path;

use runtime::oci_spec::runtime::{Capability, Spec};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::{ContainerConfig, Mount, NetworkMode};

/// Docker's default capabilities (moby's caps/defaults.go).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The container's capabilities: Docker's defaults with --cap-add and
/// --cap-drop applied ("ALL" allowed in both), or all of them when privileged;
/// "all" meaning all that berth itself may hold (its bounding set: some hosts
/// withhold a few), where docker would fail to start the container.
pub fn capabilities(config: &ContainerConfig) -> Result<Vec<String>> {
    capabilities_within(config, host_bounding_set())
}

/// This process's bounding set (bit n = capability n).
fn host_bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("CapBnd:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .unwrap_or(u64::MAX)
}

fn cap_bit(name: &str) -> Option<u32> {
    let cap: Capability = name.strip_prefix("CAP_")?.parse().ok()?;
    runtime::security::caps::number(cap)
}

fn capabilities_within(config: &ContainerConfig, bounding: u64) -> Result<Vec<String>> {
    let available = |name: &str| cap_bit(name).is_some_and(|b| bounding & (1 << b) != 0);
    let all = || ALL_CAPS.iter().filter(|c| available(c)).map(|c| c.to_string()).collect::<Vec<_>>();
    if config.privileged {
        return Ok(all());
    }
    let norm = |c: &str| -> Result<String> {
        let up = c.to_ascii_uppercase();
        let full = if up == "ALL" || up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
        if full != "ALL" && !ALL_CAPS.contains(&full.as_str()) {
            return Err(Error::Invalid(format!("unknown capability: {c:?}")));
        }
        Ok(full)
    };
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().filter(|c| available(c)).map(|c| c.to_string()).collect();
    for c in &config.cap_drop {
        match norm(c)?.as_str() {
            "ALL" => caps.clear(),
            name => caps.retain(|x| x != name),
        }
    }
    for c in &config.cap_add {
        match norm(c)?.as_str() {
            "ALL" => caps = all(),
            name if !available(name) => {
                return Err(Error::Invalid(format!(
                    "capability {name} is not available on this host (it is not in berth's own bounding set)"
                )))
            }
            name if !caps.iter().any(|x| x == name) => caps.push(name.to_string()),
            _ => {}
        }
    }
    Ok(caps)
}

/// uid, gid and supplementary groups for `user` ("name", "uid", "name:group",
/// "uid:gid"), looked up in the image's /etc/passwd and /etc/group.
pub fn resolve_user(user: &str, passwd: &str, group: &str) -> Result<(u32, u32, Vec<u32>)> {
    if user.is_empty() {
        return Ok((0, 0, vec![]));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let entry =
        passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() >= 4 && (f[0] == u || f[2] == u));
    let (uid, mut gid, name) = match (u.parse::<u32>(), &entry) {
        (_, Some(f)) => (
            f[2].parse().map_err(|_| Error::Invalid(format!("bad /etc/passwd entry for {u}")))?,
            f[3].parse().unwrap_or(0),
            f[0].to_string(),
        ),
        (Ok(n), None) => (n, 0, String::new()),
        (Err(_), None) => {
            return Err(Error::Invalid(format!("unable to find user {u}: no matching entries in passwd file")))
        }
    };
    let groups: Vec<Vec<&str>> =
        group.lines().map(|l| l.split(':').collect()).filter(|f: &Vec<&str>| f.len() >= 3).collect();
    if let Some(g) = g {
        gid = match (g.parse::<u32>(), groups.iter().find(|f| f[0] == g)) {
            (Ok(n), _) => n,
            (_, Some(f)) => f[2].parse().unwrap_or(0),
            _ => return Err(Error::Invalid(format!("unable to find group {g}: no matching entries in group file"))),
        };
    }
    let extra: Vec<u32> = if name.is_empty() {
        vec![]
    } else {
        groups
            .iter()
            .filter(|f| f.get(3).is_some_and(|m| m.split(',').any(|x| x == name)))
            .filter_map(|f| f[2].parse().ok())
            .filter(|&x| x != gid)
            .collect()
    };
    Ok((uid, gid, extra))
}

/// The gids of `--group-add` entries: numbers, or names in the image's
/// /etc/group.
pub fn resolve_groups(names: &[String], group: &str) -> Result<Vec<u32>> {
    let mut gids = Vec::new();
    for g in names {
        let gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!("Unable to find group {g}: no matching entries in group file"))
                })?,
        };
        gids.push(gid);
    }
    Ok(gids)
}

/// Paths the spec points at, and how the network is joined.
pub struct SpecInputs<'a> {
    pub id: &'a str,
    pub rootfs: &'a Path,
    /// Generated /etc/hosts, /etc/resolv.conf, /etc/hostname (None: none).
    pub etc_files: Option<(&'a Path, &'a Path, &'a Path)>,
    /// Host directories of the named/anonymous volumes, by target.
    pub volume_dirs: &'a [(String, std::path::PathBuf)],
    /// (uid, gid, extra gids) of the process.
    pub user: (u32, u32, Vec<u32>),
    /// A network namespace to join (container:NAME), by path.
    pub netns_path: Option<String>,
    pub ipc_path: Option<String>,
    pub pid_path: Option<String>,
}

/// docker's /dev/shm: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

pub fn build(config: &ContainerConfig, inputs: &SpecInputs) -> Result<Spec> {
    let caps = capabilities(config)?;
    let hostname = container_hostname(config, inputs.id);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": if config.privileged { json!(["nosuid", "noexec", "nodev"]) } else { json!(["nosuid", "noexec", "nodev", "ro"]) }}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": if config.privileged { json!(["nosuid", "noexec", "nodev", "relatime"]) } else { json!(["nosuid", "noexec", "nodev", "relatime", "ro"]) }}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", config.shm_size.unwrap_or(DEFAULT_SHM_SIZE))]}),
    ];
    if let Some((hosts, resolv, hostname_file)) = inputs.etc_files {
        for (dest, src) in [("/etc/hosts", hosts), ("/etc/resolv.conf", resolv), ("/etc/hostname", hostname_file)] {
            if !config.mounts.iter().any(|m| m.target() == dest) {
                mounts.push(
                    json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}),
                );
            }
        }
    }
    // A shared bind needs a shared root to propagate through (runc's rule,
    // and docker's): the root's propagation follows the strongest asked for.
    let mut rootfs_propagation = None;
    for m in &config.mounts {
        match m {
            Mount::Volume { target, readonly, .. } => {
                // The volume's directory, or its subpath's (checked at start).
                let dir = inputs
                    .volume_dirs
                    .iter()
                    .find(|(t, _)| t == target)
                    .map(|(_, d)| d.clone())
                    .ok_or_else(|| Error::Invalid(format!("volume for {target} was not prepared")))?;
                let mut opts = vec!["rbind", "rprivate"];
                if *readonly {
                    opts.push("ro");
                }
                mounts.push(json!({"destination": target, "type": "bind", "source": dir, "options": opts}));
            }
            Mount::Bind { source, target, readonly, propagation } => {
                let p = propagation.as_deref().unwrap_or("rprivate");
                match p {
                    "rshared" | "shared" => rootfs_propagation = Some("rshared"),
                    "rslave" | "slave" if rootfs_propagation.is_none() => rootfs_propagation = Some("rslave"),
                    _ => {}
                }
                let mut opts = vec!["rbind", p];
                if *readonly {
                    opts.push("ro");
                }
                mounts.push(json!({"destination": target, "type": "bind", "source": source, "options": opts}));
            }
            Mount::Tmpfs { target, options } => {
                let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
                opts.extend(options.iter().cloned());
                mounts.push(json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts}));
            }
        }
    }

    let host_uts = config.uts.as_deref() == Some("host");
    let mut namespaces = vec![json!({"type": "mount"}), json!({"type": "cgroup"})];
    if !host_uts {
        namespaces.push(json!({"type": "uts"}));
    }
    match &inputs.pid_path {
        Some(p) if p == "host" => {}
        Some(p) => namespaces.push(json!({"type": "pid", "path": p})),
        None => namespaces.push(json!({"type": "pid"})),
    }
    match &inputs.ipc_path {
        Some(p) if p == "host" => {}
        Some(p) => namespaces.push(json!({"type": "ipc", "path": p})),
        None => namespaces.push(json!({"type": "ipc"})),
    }
    match (&config.network, &inputs.netns_path) {
        (Some(NetworkMode::Host), _) => {}
        (_, Some(p)) => namespaces.push(json!({"type": "network", "path": p})),
        _ => namespaces.push(json!({"type": "network"})),
    }

    let mut resources = json!({});
    if !config.privileged {
        resources["devices"] = json!([{"allow": false, "access": "rwm"}]);
    }
    if let Some(obj) = limits(&config.resources).as_object() {
        for (k, v) in obj {
            resources[k] = v.clone();
        }
    }

    let (uid, gid, extra) = &inputs.user;
    let mut process = json!({
        "terminal": config.tty,
        "user": {"uid": uid, "gid": gid, "additionalGids": extra},
        "args": config.args,
        "env": env_with_defaults(config, &hostname),
        "cwd": config.workdir,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": config.no_new_privileges,
    });
    if config.tty {
        process["consoleSize"] = json!({"height": 24, "width": 80});
    }
    if !config.ulimits.is_empty() {
        process["rlimits"] = json!(config
            .ulimits
            .iter()
            .map(|u| json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()), "soft": u.soft, "hard": u.hard}))
            .collect::<Vec<_>>());
    }
    if config.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(config.oom_score_adj);
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": format!("/berth/{}", inputs.id),
    });
    if !config.privileged {
        linux["maskedPaths"] = json!(runtime::default_spec::MASKED_PATHS);
        linux["readonlyPaths"] = json!(runtime::default_spec::READONLY_PATHS);
    }
    if let Some(p) = rootfs_propagation {
        linux["rootfsPropagation"] = json!(p);
    }
    if !config.sysctls.is_empty() {
        linux["sysctl"] = json!(config.sysctls);
    }
    let mut doc = json!({
        "ociVersion": runtime::state::OCI_VERSION,
        "process": process,
        "root": {"path": inputs.rootfs, "readonly": config.read_only},
        "mounts": mounts,
        "linux": linux,
        "annotations": if config.init {
            json!({ runtime::process::plan::INIT_ANNOTATION: "true" })
        } else {
            json!({})
        },
    });
    // The host's UTS namespace keeps the host's names: setting one would
    // rename the host.
    if !host_uts {
        doc["hostname"] = json!(hostname);
        if !config.domainname.is_empty() {
            doc["domainname"] = json!(config.domainname);
        }
    }
    let mut spec: Spec = serde_json::from_value(doc).map_err(|e| Error::Invalid(format!("container spec: {e}")))?;
    apply_seccomp(&mut spec, config, &caps)?;
    Ok(spec)
}

/// The container's host name: `--hostname`, else the host's own with the
/// host's network (as docker), else the short id.
pub fn container_hostname(config: &ContainerConfig, id: &str) -> String {
    if !config.hostname.is_empty() {
        return config.hostname.clone();
    }
    if matches!(config.network, Some(NetworkMode::Host)) || config.uts.as_deref() == Some("host") {
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            return h.trim().to_string();
        }
    }
    id[..12.min(id.len())].to_string()
}

fn env_with_defaults(config: &ContainerConfig, hostname: &str) -> Vec<String> {
    let mut env = config.env.clone();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env
}

fn apply_seccomp(spec: &mut Spec, config: &ContainerConfig, caps: &[String]) -> Result<()> {
    if config.privileged || config.seccomp.as_deref() == Some("unconfined") {
        return Ok(());
    }
    let profile = match &config.seccomp {
        Some(json) => {
            serde_json::from_str(json).map_err(|e| Error::Invalid(format!("decoding seccomp profile failed: {e}")))?
        }
        None => {
            let caps: Vec<Capability> =
                caps.iter().filter_map(|c| c.strip_prefix("CAP_").and_then(|n| n.parse().ok())).collect();
            runtime::seccomp::default_profile(&caps)
        }
    };
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(Some(profile));
    }
    Ok(())
}

/// Which namespace path `value` ("container:NAME", "host", or empty) means,
/// given a way to look up a running container's init pid.
pub fn namespace_path(value: Option<&str>, kind: &str, pid_of: &dyn Fn(&str) -> Result<i32>) -> Result<Option<String>> {
    match value {
        None | Some("") | Some("private") | Some("shareable") => Ok(None),
        Some("host") => Ok(Some("host".into())),
        Some(v) => match v.strip_prefix("container:") {
            Some(name) => Ok(Some(format!("/proc/{}/ns/{kind}", pid_of(name)?))),
            None => Err(Error::Invalid(format!("invalid {kind} mode {v:?}: use host or container:NAME"))),
        },
    }
}

/// The OCI `linux.resources` limits (memory, cpu, pids) of `r`: what a
/// container is created with, and what `update` applies to a running one.
pub fn limits(r: &crate::model::Resources) -> Value {
    let mut resources = json!({});
    if r.memory.is_some() || r.memory_swap.is_some() {
        let mut mem = json!({});
        if let Some(m) = r.memory {
            mem["limit"] = json!(m);
        }
        if let Some(s) = r.memory_swap {
            mem["swap"] = json!(s);
        }
        resources["memory"] = mem;
    }
    let mut cpu = json!({});
    if let Some(c) = r.cpus {
        cpu["period"] = json!(100_000u64);
        cpu["quota"] = json!((c * 100_000.0).round() as i64);
    }
    if let Some(s) = r.cpu_shares {
        cpu["shares"] = json!(s);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        resources["cpu"] = cpu;
    }
    if let Some(p) = r.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    if let Some(c) = &r.cpuset_cpus {
        resources["cpu"]["cpus"] = json!(c);
    }
    if let Some(m) = &r.cpuset_mems {
        resources["cpu"]["mems"] = json!(m);
    }

    resources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileged_means_every_capability_berth_may_hold() {
        let without_sys_resource: u64 = !(1 << 24);
        let p = ContainerConfig { privileged: true, ..Default::default() };
        let caps = capabilities_within(&p, without_sys_resource).unwrap();
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert_eq!(capabilities_within(&p, u64::MAX).unwrap().len(), ALL_CAPS.len());
        let add = ContainerConfig { cap_add: vec!["sys_resource".into()], ..Default::default() };
        let e = capabilities_within(&add, without_sys_resource).unwrap_err();
        assert!(e.to_string().contains("CAP_SYS_RESOURCE is not available"), "{e}");
        let dflt = capabilities_within(&ContainerConfig::default(), u64::MAX).unwrap();
        assert_eq!(dflt.len(), DEFAULT_CAPS.len());
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:web:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nadm:x:4:www\nstaff:x:50:www,root\n";

    #[test]
    fn users_resolve_like_docker() {
        assert_eq!(resolve_user("", PASSWD, GROUP).unwrap(), (0, 0, vec![]));
        assert_eq!(resolve_user("www", PASSWD, GROUP).unwrap(), (33, 33, vec![4, 50]));
        assert_eq!(resolve_user("33", PASSWD, GROUP).unwrap(), (33, 33, vec![4, 50]));
        assert_eq!(resolve_user("1000:1000", PASSWD, GROUP).unwrap(), (1000, 1000, vec![]));
        assert_eq!(resolve_user("www:staff", PASSWD, GROUP).unwrap().1, 50);
        assert!(resolve_user("nobody", PASSWD, GROUP).unwrap_err().to_string().contains("unable to find user nobody"));
        assert!(resolve_user("www:nogroup", PASSWD, GROUP).is_err());
    }

    #[test]
    fn capabilities_add_and_drop() {
        let c = ContainerConfig {
            cap_drop: vec!["NET_RAW".into()],
            cap_add: vec!["sys_admin".into()],
            ..Default::default()
        };
        let caps = capabilities(&c).unwrap();
        assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        let c =
            ContainerConfig { cap_drop: vec!["ALL".into()], cap_add: vec!["CAP_KILL".into()], ..Default::default() };
        assert_eq!(capabilities(&c).unwrap(), ["CAP_KILL"]);
        let c = ContainerConfig { cap_add: vec!["FLY".into()], ..Default::default() };
        assert!(capabilities(&c).unwrap_err().to_string().contains("unknown capability"));
    }

    #[test]
    fn a_generated_spec_validates_and_carries_the_limits() {
        let c = ContainerConfig {
            args: vec!["sh".into()],
            workdir: "/".into(),
            resources: crate::model::Resources {
                memory: Some(64 << 20),
                cpus: Some(1.5),
                pids_limit: Some(100),
                ..Default::default()
            },
            ..Default::default()
        };
        let inputs = SpecInputs {
            id: "0123456789abcdef",
            rootfs: Path::new("/tmp/r"),
            etc_files: None,
            volume_dirs: &[],
            user: (0, 0, vec![]),
            netns_path: None,
            ipc_path: None,
            pid_path: None,
        };
        let spec = build(&c, &inputs).unwrap();
        runtime::spec::validate(&spec, true).unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 150000);
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(v["hostname"], "0123456789ab");
        assert!(v["linux"]["seccomp"]["syscalls"].as_array().is_some_and(|s| !s.is_empty()));
    }
}
