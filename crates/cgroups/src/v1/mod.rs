//! cgroup v1: one directory per hierarchy, plus the unified (cgroup2) tree
//! on hybrid hosts, where berth only tracks processes (and uses
//! `cgroup.kill`, and hugetlb when v1 has no hugetlb hierarchy).

mod blkio;
mod cpu;
mod cpuset;
mod devices;
mod freezer;
mod hugetlb;
mod memory;
mod network;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::common::{self, Target};
use crate::{v2, CgroupManager, Error, Result, Stats, V1_CONTROLLERS};

pub(crate) use blkio::device;

/// A group on a cgroup v1 (or hybrid) host.
#[derive(Debug, Clone)]
pub struct Manager {
    target: Target,
    /// Controller → mount point, for the controllers berth manages.
    mounts: BTreeMap<String, PathBuf>,
    unified: Option<PathBuf>,
}

impl Manager {
    pub fn new(controllers: &BTreeMap<String, PathBuf>, unified: Option<&Path>, path: &Path) -> Manager {
        Manager {
            target: Target::new(path),
            mounts: controllers
                .iter()
                .filter(|(c, _)| V1_CONTROLLERS.contains(&c.as_str()))
                .map(|(c, p)| (c.clone(), p.clone()))
                .collect(),
            unified: unified.map(Path::to_path_buf),
        }
    }

    /// Mount points, once each: co-mounted controllers share one.
    fn hierarchies(&self) -> Vec<&Path> {
        let mut roots: Vec<&Path> = self.mounts.values().map(PathBuf::as_path).collect();
        roots.sort();
        roots.dedup();
        roots
    }

    fn dir(&self, controller: &str, rel: &Path) -> Option<PathBuf> {
        self.mounts.get(controller).map(|m| m.join(rel))
    }

    fn unified_leaf(&self, rel: &Path) -> Option<PathBuf> {
        self.unified.as_ref().map(|u| u.join(rel))
    }

    fn primary(&self, rel: &Path) -> PathBuf {
        self.paths().into_iter().next().unwrap_or_else(|| rel.to_path_buf())
    }
}

impl CgroupManager for Manager {
    fn create(&self) -> Result<()> {
        let rel = self.target.rel()?;
        let cpuset = self.mounts.get("cpuset").map(PathBuf::as_path);
        for root in self.hierarchies() {
            if Some(root) == cpuset {
                common::create_levels(root, rel, cpuset::inherit)?;
            } else {
                common::create_levels(root, rel, |_, _| Ok(()))?;
            }
        }
        if let Some(unified) = &self.unified {
            common::create_levels(unified, rel, |_, _| Ok(()))?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let rel = self.target.rel()?;
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(Error::Unsupported {
                field: "linux.resources.unified",
                reason: "unified resources need cgroup v2, and this host's controllers are on cgroup v1".into(),
            });
        }
        let dir = |c| self.dir(c, rel);
        if let Some(cpu) = r.cpu() {
            // cpuset.cpus and cpuset.mems are the same in v1 and v2.
            v2::cpuset::apply(dir("cpuset").as_deref(), cpu)?;
        }
        if let Some(rules) = r.devices() {
            devices::apply(dir("devices").as_deref(), rules)?;
        }
        if let Some(m) = r.memory() {
            memory::apply(dir("memory").as_deref(), m)?;
        }
        if let Some(cpu) = r.cpu() {
            cpu::apply(dir("cpu").as_deref(), cpu)?;
        }
        if let Some(p) = r.pids() {
            // pids files are the same in v1 and v2.
            v2::pids::apply(dir("pids").as_deref(), p)?;
        }
        if let Some(b) = r.block_io() {
            blkio::apply(dir("blkio").as_deref(), b)?;
        }
        if let Some(limits) = r.hugepage_limits() {
            let unified = self.unified.as_deref().map(|u| (u, rel));
            hugetlb::apply(dir("hugetlb").as_deref(), unified, limits)?;
        }
        if let Some(n) = r.network() {
            network::apply(dir("net_cls").as_deref(), dir("net_prio").as_deref(), n)?;
        }
        if let Some(rdma) = r.rdma() {
            v2::rdma::apply(dir("rdma").as_deref(), rdma)?;
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        self.target.rel()?;
        for dir in self.paths() {
            common::add_pid(&dir, pid)?;
        }
        Ok(())
    }

    fn join_handles(&self) -> Result<crate::JoinHandles> {
        let rel = self.target.rel()?;
        let tasks = self
            .hierarchies()
            .iter()
            .map(|root| common::open_handle(&root.join(rel).join("tasks"), libc::O_WRONLY | libc::O_CLOEXEC))
            .collect::<Result<Vec<_>>>()?;
        let clone_into = self
            .unified_leaf(rel)
            .map(|dir| common::open_handle(&dir, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC))
            .transpose()?;
        Ok(crate::JoinHandles { clone_into, tasks })
    }

    fn paths(&self) -> Vec<PathBuf> {
        let Ok(rel) = self.target.rel() else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = self.hierarchies().iter().map(|r| r.join(rel)).collect();
        paths.extend(self.unified_leaf(rel));
        paths
    }

    fn procs(&self) -> Result<Vec<i32>> {
        self.target.rel()?;
        common::procs(&self.paths())
    }

    fn stats(&self) -> Result<Stats> {
        let rel = self.target.rel()?;
        // Zeros for a group that was never created would hide the mistake.
        let primary = self.primary(rel);
        if !primary.is_dir() {
            return Err(Error::Read { path: primary, source: std::io::Error::from_raw_os_error(libc::ENOENT) });
        }
        let dir = |c| self.dir(c, rel);
        Ok(Stats {
            memory: memory::stats(dir("memory").as_deref())?,
            cpu: cpu::stats(dir("cpu").as_deref(), dir("cpuacct").as_deref())?,
            pids: v2::pids::stats(dir("pids").as_deref())?,
            io: blkio::stats(dir("blkio").as_deref())?,
        })
    }

    fn freeze(&self) -> Result<()> {
        let rel = self.target.rel()?;
        match (self.dir("freezer", rel), self.unified_leaf(rel)) {
            (Some(dir), _) => freezer::freeze(&dir),
            (None, Some(leaf)) => v2::freezer::freeze(&leaf),
            (None, None) => Err(no_freezer()),
        }
    }

    fn thaw(&self) -> Result<()> {
        let rel = self.target.rel()?;
        match (self.dir("freezer", rel), self.unified_leaf(rel)) {
            (Some(dir), _) => freezer::thaw(&dir),
            (None, Some(leaf)) => v2::freezer::thaw(&leaf),
            (None, None) => Err(no_freezer()),
        }
    }

    fn frozen(&self) -> Result<bool> {
        let rel = self.target.rel()?;
        match (self.dir("freezer", rel), self.unified_leaf(rel)) {
            (Some(dir), _) => freezer::frozen(&dir),
            (None, Some(leaf)) => v2::freezer::frozen(&leaf),
            (None, None) => Err(no_freezer()),
        }
    }

    fn kill_all(&self) -> Result<()> {
        let rel = self.target.rel()?;
        let kill_file = self.unified_leaf(rel).map(|l| l.join("cgroup.kill"));
        let can_freeze = self.mounts.contains_key("freezer") || self.unified.is_some();
        common::kill_all(self, kill_file.as_deref(), can_freeze, &self.primary(rel))
    }

    fn destroy(&self) -> Result<()> {
        self.target.rel()?;
        let mut result = Ok(());
        for dir in self.paths() {
            if let Err(e) = common::remove_dir(&dir) {
                result = result.and(Err(e));
            }
        }
        let roots = self.hierarchies().into_iter().chain(self.unified.as_deref());
        for root in roots {
            if let Err(e) = common::remove_parents(root, &self.target) {
                result = result.and(Err(e));
            }
        }
        result
    }
}

fn no_freezer() -> Error {
    Error::Unsupported { field: "freezer", reason: "no freezer hierarchy and no cgroup2 tree on this host".into() }
}
