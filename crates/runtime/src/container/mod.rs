//! The container lifecycle of the OCI runtime spec (create, start, state,
//! kill, delete) plus run and exec, over a state directory. One module per
//! operation; this one holds the shared pieces.

mod create;
pub mod exec;
mod ops;

pub use create::{CreateOptions, Running};
pub use exec::ExecOptions;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, Spec};

use crate::error::Result;
use crate::rootfs::CgroupView;
use crate::state::Store;

/// The runtime, rooted at a state directory (runc's `--root`).
#[derive(Clone, Debug)]
pub struct Runtime {
    store: Store,
}

impl Runtime {
    /// A runtime whose container states live under `root`; the directory is
    /// created (mode 0700, the saved specs hold environments) at the first
    /// create.
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime { store: Store::new(root) }
    }

    /// The state directory, for callers that read a container's saved spec or
    /// files directly.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Where the container's cgroup lives in every hierarchy: the spec's
/// `linux.cgroupsPath` (absolute: from the hierarchy root; relative: under
/// berth/), or `berth/<id>`.
pub fn cgroup_path(linux: Option<&Linux>, id: &str) -> PathBuf {
    match linux.and_then(|l| l.cgroups_path().as_ref()) {
        Some(p) if p.is_absolute() => p.strip_prefix("/").unwrap_or(p).to_path_buf(),
        Some(p) if !p.as_os_str().is_empty() => Path::new("berth").join(p),
        _ => Path::new("berth").join(id),
    }
}

/// How each cgroup hierarchy should appear inside the container.
pub fn cgroup_views(layout: &cgroups::Layout, path: &Path) -> Vec<CgroupView> {
    match layout {
        cgroups::Layout::V2 { root } => vec![CgroupView {
            name: String::new(),
            host_dir: root.join(path),
            fstype: "cgroup2",
            options: String::new(),
            links: vec![],
        }],
        cgroups::Layout::V1 { controllers, unified } => {
            // Controllers co-mounted in one hierarchy share a mount point.
            let mut by_mount: Vec<(PathBuf, Vec<String>)> = Vec::new();
            for (name, mount) in controllers {
                match by_mount.iter_mut().find(|(m, _)| m == mount) {
                    Some((_, names)) => names.push(name.clone()),
                    None => by_mount.push((mount.clone(), vec![name.clone()])),
                }
            }
            let mut views: Vec<CgroupView> = by_mount
                .into_iter()
                .map(|(mount, mut names)| {
                    names.sort();
                    let dir =
                        mount.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| names.join(","));
                    let links =
                        if names.len() > 1 { names.iter().filter(|n| **n != dir).cloned().collect() } else { vec![] };
                    CgroupView {
                        name: dir,
                        host_dir: mount.join(path),
                        fstype: "cgroup",
                        options: names.join(","),
                        links,
                    }
                })
                .collect();
            if let Some(u) = unified {
                views.push(CgroupView {
                    name: "unified".into(),
                    host_dir: u.join(path),
                    fstype: "cgroup2",
                    options: String::new(),
                    links: vec![],
                });
            }
            views.sort_by(|a, b| a.name.cmp(&b.name));
            views
        }
    }
}

pub(crate) fn load_saved_spec(store: &Store, id: &str) -> Result<Spec> {
    crate::spec::load(&store.dir(id).join(crate::state::CONFIG_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn cgroup_paths() {
        assert_eq!(cgroup_path(None, "c1"), Path::new("berth/c1"));
        let linux: Linux = serde_json::from_str(r#"{"cgroupsPath":"/custom/x"}"#).unwrap();
        assert_eq!(cgroup_path(Some(&linux), "c1"), Path::new("custom/x"));
        let linux: Linux = serde_json::from_str(r#"{"cgroupsPath":"pods/p1"}"#).unwrap();
        assert_eq!(cgroup_path(Some(&linux), "c1"), Path::new("berth/pods/p1"));
    }

    #[test]
    fn co_mounted_controllers_share_one_directory() {
        let mut controllers = BTreeMap::new();
        controllers.insert("cpu".to_string(), PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        controllers.insert("cpuacct".to_string(), PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        controllers.insert("memory".to_string(), PathBuf::from("/sys/fs/cgroup/memory"));
        let layout = cgroups::Layout::V1 { controllers, unified: Some("/sys/fs/cgroup/unified".into()) };
        let views = cgroup_views(&layout, Path::new("berth/c"));
        let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["cpu,cpuacct", "memory", "unified"]);
        assert_eq!(views[0].options, "cpu,cpuacct");
        assert_eq!(views[0].links, ["cpu", "cpuacct"]);
        assert_eq!(views[1].host_dir, Path::new("/sys/fs/cgroup/memory/berth/c"));
        assert_eq!(views[2].fstype, "cgroup2");
    }
}
