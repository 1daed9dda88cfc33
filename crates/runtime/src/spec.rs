//! Loading and validating an OCI bundle's config.json. Validation happens in
//! the parent before anything is created, so a bad spec costs nothing to undo
//! and the error names the JSON field at fault.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{invalid, Error, Result};

/// Reads and parses `config.json`; type errors name the field path, line and
/// column (`process.args: invalid type: string "x", expected a sequence`).
pub fn load(config: &Path) -> Result<Spec> {
    load_with_bytes(config).map(|(spec, _)| spec)
}

/// The spec and the file's bytes (kept verbatim in the container's state).
pub fn load_with_bytes(config: &Path) -> Result<(Spec, Vec<u8>)> {
    let text = fs::read(config).map_err(|e| Error::Config { path: config.to_owned(), reason: e.to_string() })?;
    let spec = parse(&text).map_err(|reason| Error::Config { path: config.to_owned(), reason })?;
    Ok((spec, text))
}

/// Parses JSON into a spec type; errors name the field path.
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            format!("invalid JSON: {inner}")
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// The rootfs of a bundle: `root.path`, relative to the bundle when relative.
pub fn rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec.root().as_ref().ok_or_else(|| invalid("root", "missing: the container needs a root filesystem"))?;
    let path = root.path();
    if path.as_os_str().is_empty() {
        return Err(invalid("root.path", "empty"));
    }
    let full = if path.is_absolute() { path.clone() } else { bundle.join(path) };
    match fs::metadata(&full) {
        Ok(m) if m.is_dir() => Ok(full),
        Ok(_) => Err(invalid("root.path", format!("{} is not a directory", full.display()))),
        Err(e) => Err(invalid("root.path", format!("{}: {e}", full.display()))),
    }
}

/// Checks what serde cannot: required fields, value ranges and combinations.
/// `need_process` is false only for operations that never run the process.
pub fn validate(spec: &Spec, need_process: bool) -> Result<()> {
    if need_process {
        let process = spec.process().as_ref().ok_or_else(|| invalid("process", "missing: nothing to run"))?;
        match process.args() {
            None => return Err(invalid("process.args", "missing: nothing to run")),
            Some(a) if a.is_empty() || a[0].is_empty() => {
                return Err(invalid("process.args", "must name a program to run"))
            }
            _ => {}
        }
        if !process.cwd().is_absolute() {
            return Err(invalid("process.cwd", format!("{:?} must be an absolute path", process.cwd())));
        }
        if let Some(rlimits) = process.rlimits() {
            let mut seen = HashSet::new();
            for (i, r) in rlimits.iter().enumerate() {
                if r.soft() > r.hard() {
                    return Err(invalid(
                        format!("process.rlimits[{i}]"),
                        format!("soft limit {} exceeds hard limit {}", r.soft(), r.hard()),
                    ));
                }
                if !seen.insert(format!("{:?}", r.typ())) {
                    return Err(invalid(format!("process.rlimits[{i}].type"), format!("{:?} given twice", r.typ())));
                }
            }
        }
        if let Some(env) = process.env() {
            for (i, e) in env.iter().enumerate() {
                if !e.contains('=') {
                    return Err(invalid(format!("process.env[{i}]"), format!("{e:?} is not KEY=VALUE")));
                }
            }
        }
    }
    let Some(linux) = spec.linux() else {
        return Err(invalid("linux", "missing: berth runs Linux containers"));
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(format!("linux.namespaces[{i}].type"), format!("{} given twice", ns.typ())));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(invalid(format!("linux.namespaces[{i}].path"), format!("{p:?} must be an absolute path")));
            }
        }
    }
    let new_ns = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t && n.path().is_none());
    let has_ns = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);

    let userns = new_ns(LinuxNamespaceType::User);
    for (field, maps) in [("linux.uidMappings", linux.uid_mappings()), ("linux.gidMappings", linux.gid_mappings())] {
        let maps = maps.as_deref().unwrap_or_default();
        if !maps.is_empty() && !has_ns(LinuxNamespaceType::User) {
            return Err(invalid(field, "mappings need a user namespace in linux.namespaces"));
        }
        if userns && maps.is_empty() {
            return Err(invalid(field, "a new user namespace needs mappings"));
        }
        check_mappings(field, maps)?;
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has_ns(LinuxNamespaceType::Uts) {
        return Err(invalid("hostname", "setting a hostname needs a UTS namespace (linux.namespaces)"));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has_ns(LinuxNamespaceType::Uts) {
        return Err(invalid("domainname", "setting a domain name needs a UTS namespace (linux.namespaces)"));
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            check_sysctl(key, &has_ns)?;
        }
    }
    if let Some(mounts) = spec.mounts() {
        for (i, m) in mounts.iter().enumerate() {
            if m.destination().as_os_str().is_empty() {
                return Err(invalid(format!("mounts[{i}].destination"), "empty"));
            }
        }
    }
    Ok(())
}

fn check_mappings(field: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    // The kernel accepts at most 340 lines per map (since 4.15); older ones 5.
    if maps.len() > 340 {
        return Err(invalid(field, format!("{} mappings given, the kernel accepts at most 340", maps.len())));
    }
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(invalid(format!("{field}[{i}].size"), "must be greater than 0"));
        }
        for (what, start) in [("containerID", m.container_id()), ("hostID", m.host_id())] {
            if (start as u64) + (m.size() as u64) > u32::MAX as u64 {
                return Err(invalid(format!("{field}[{i}]"), format!("{what} {start} + size {} overflows", m.size())));
            }
        }
        for (j, other) in maps.iter().enumerate().take(i) {
            let overlap = |a: u32, b: u32| a < b + other.size() && b < a + m.size();
            if overlap(m.container_id(), other.container_id()) || overlap(m.host_id(), other.host_id()) {
                return Err(invalid(format!("{field}[{i}]"), format!("overlaps {field}[{j}]")));
            }
        }
    }
    Ok(())
}

/// Only namespaced sysctls may be set, and only when the container has that
/// namespace; anything else would change the host (runc refuses the same).
fn check_sysctl(key: &str, has_ns: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    let field = format!("linux.sysctl[{key:?}]");
    if key.contains("..") || key.contains('/') && key.contains('.') || key.is_empty() {
        return Err(invalid(field, "not a valid sysctl name"));
    }
    let k = key.replace('/', ".");
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let needed = if IPC.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        LinuxNamespaceType::Ipc
    } else if k.starts_with("net.") {
        LinuxNamespaceType::Network
    } else if k == "kernel.hostname" || k == "kernel.domainname" {
        LinuxNamespaceType::Uts
    } else {
        return Err(invalid(field, "not a namespaced sysctl: it would change the host"));
    };
    if !has_ns(needed) {
        return Err(invalid(field, format!("needs a {needed} namespace in linux.namespaces")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        parse::<Spec>(json.as_bytes()).unwrap()
    }

    const BASE: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
        "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}"#;

    #[test]
    fn a_wrong_type_names_the_field_and_position() {
        let err = parse::<Spec>(br#"{"process":{"args":"sh","cwd":"/","user":{"uid":0,"gid":0}}}"#).unwrap_err();
        assert!(err.starts_with("process.args: invalid type: string"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn malformed_json_says_so() {
        let err = parse::<Spec>(b"{\"process\": ").unwrap_err();
        assert!(err.contains("EOF") || err.contains("invalid JSON"), "{err}");
    }

    #[test]
    fn unknown_fields_are_ignored_as_the_spec_requires() {
        let s = spec(r#"{"root":{"path":"r"},"somethingNew":{"x":1}}"#);
        assert_eq!(s.root().as_ref().unwrap().path(), Path::new("r"));
    }

    #[test]
    fn missing_or_empty_args_are_refused() {
        let s = spec(r#"{"process":{"cwd":"/","user":{"uid":0,"gid":0}},"linux":{}}"#);
        assert_eq!(validate(&s, true).unwrap_err().to_string(), "process.args: missing: nothing to run");
        let s = spec(r#"{"process":{"cwd":"/","args":[],"user":{"uid":0,"gid":0}},"linux":{}}"#);
        assert_eq!(validate(&s, true).unwrap_err().to_string(), "process.args: must name a program to run");
    }

    #[test]
    fn relative_cwd_is_refused() {
        let s = spec(r#"{"process":{"cwd":"tmp","args":["sh"],"user":{"uid":0,"gid":0}},"linux":{}}"#);
        assert!(validate(&s, true).unwrap_err().to_string().starts_with("process.cwd:"));
    }

    #[test]
    fn valid_base_spec_passes() {
        validate(&spec(BASE), true).unwrap();
    }

    #[test]
    fn mappings_are_checked() {
        let userns = |maps: &str| {
            spec(&format!(
                r#"{{"process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}},
                "linux":{{"namespaces":[{{"type":"user"}}],"uidMappings":{maps},
                "gidMappings":[{{"containerID":0,"hostID":1000,"size":1}}]}}}}"#
            ))
        };
        validate(&userns(r#"[{"containerID":0,"hostID":1000,"size":10}]"#), true).unwrap();
        let e = validate(&userns(r#"[{"containerID":0,"hostID":1000,"size":0}]"#), true).unwrap_err();
        assert_eq!(e.to_string(), "linux.uidMappings[0].size: must be greater than 0");
        let e = validate(
            &userns(r#"[{"containerID":0,"hostID":1000,"size":10},{"containerID":5,"hostID":2000,"size":10}]"#),
            true,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "linux.uidMappings[1]: overlaps linux.uidMappings[0]");
        let e = validate(&userns("[]"), true).unwrap_err();
        assert_eq!(e.to_string(), "linux.uidMappings: a new user namespace needs mappings");
    }

    #[test]
    fn mappings_without_user_namespace_are_refused() {
        let s = spec(
            r#"{"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}}"#,
        );
        assert!(validate(&s, true)
            .unwrap_err()
            .to_string()
            .starts_with("linux.uidMappings: mappings need a user namespace"));
    }

    #[test]
    fn host_sysctls_are_refused() {
        let s = spec(
            r#"{"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"network"}],"sysctl":{"net.ipv4.ip_forward":"1","vm.swappiness":"1"}}}"#,
        );
        let e = validate(&s, true).unwrap_err().to_string();
        assert_eq!(e, "linux.sysctl[\"vm.swappiness\"]: not a namespaced sysctl: it would change the host");
        let s = spec(
            r#"{"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"sysctl":{"net.ipv4.ip_forward":"1"}}}"#,
        );
        assert_eq!(
            validate(&s, true).unwrap_err().to_string(),
            "linux.sysctl[\"net.ipv4.ip_forward\"]: needs a net namespace in linux.namespaces"
        );
    }

    #[test]
    fn hostname_needs_uts_namespace() {
        let s = spec(r#"{"hostname":"x","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},"linux":{}}"#);
        assert!(validate(&s, true).unwrap_err().to_string().starts_with("hostname:"));
    }

    #[test]
    fn domainname_needs_uts_namespace() {
        let s = spec(r#"{"domainname":"x","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},"linux":{}}"#);
        assert!(validate(&s, true).unwrap_err().to_string().starts_with("domainname:"));
    }

    #[test]
    fn duplicate_namespaces_are_refused() {
        let s = spec(
            r#"{"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}}"#,
        );
        assert_eq!(validate(&s, true).unwrap_err().to_string(), "linux.namespaces[1].type: pid given twice");
    }

    #[test]
    fn rlimit_soft_above_hard_is_refused() {
        let s = spec(
            r#"{"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "rlimits":[{"type":"RLIMIT_NOFILE","soft":2048,"hard":1024}]},"linux":{}}"#,
        );
        assert_eq!(
            validate(&s, true).unwrap_err().to_string(),
            "process.rlimits[0]: soft limit 2048 exceeds hard limit 1024"
        );
    }
}
