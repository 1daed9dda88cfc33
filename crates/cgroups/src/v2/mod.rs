//! cgroup v2: one tree; controllers are enabled per level through
//! `cgroup.subtree_control`; devices are policed by an eBPF program.

mod bpf;
mod cpu;
pub(crate) mod cpuset;
mod devices;
pub(crate) mod freezer;
pub(crate) mod hugetlb;
mod io;
mod memory;
pub(crate) mod pids;
pub(crate) mod rdma;
mod unified;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::common::{self, read_file, set_existing, Target};
use crate::{CgroupManager, Error, Result, Stats};

pub use cpu::shares_to_weight;

/// The controllers berth enables for its groups, where the host offers them.
pub const CONTROLLERS: &[&str] = &["cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma"];

/// A group on a cgroup v2 host (or on the unified tree of a hybrid host).
#[derive(Debug, Clone)]
pub struct Manager {
    target: Target,
    root: PathBuf,
}

impl Manager {
    pub fn new(root: &Path, path: &Path) -> Manager {
        Manager { target: Target::new(path), root: root.to_path_buf() }
    }

    fn leaf(&self) -> Result<PathBuf> {
        Ok(self.root.join(self.target.rel()?))
    }
}

/// Enables `wanted` (those the kernel offers) in `cgroup.subtree_control` of
/// `root` and of every ancestor of the group `rel`, so the group gets their
/// control files. Each level only offers what its parent enabled.
pub(crate) fn enable_controllers(root: &Path, rel: &Path, wanted: &[&str]) -> Result<()> {
    let mut dir = root.to_path_buf();
    for comp in rel.components() {
        enable(&dir, wanted)?;
        dir.push(comp);
    }
    Ok(())
}

fn enable(dir: &Path, wanted: &[&str]) -> Result<()> {
    let available = read_file(&dir.join("cgroup.controllers"))?;
    let enabled = read_file(&dir.join("cgroup.subtree_control"))?;
    let has = |text: &str, c: &str| text.split_whitespace().any(|w| w.trim_start_matches('+') == c);
    let missing: Vec<String> =
        wanted.iter().filter(|c| has(&available, c) && !has(&enabled, c)).map(|c| format!("+{c}")).collect();
    if missing.is_empty() {
        return Ok(());
    }
    match set_existing(dir, "cgroup.subtree_control", &missing.join(" "), "create") {
        Ok(()) => Ok(()),
        // The level went away under us: let create_levels start over.
        Err(e) if e.is_gone() => Err(e),
        Err(_) => {
            // One refused controller (cpu with realtime tasks around, say)
            // fails the whole write: enable the rest one by one. A limit that
            // then has no control file is reported by `apply`, naming its
            // field.
            for m in &missing {
                let _ = set_existing(dir, "cgroup.subtree_control", m, "create");
            }
            Ok(())
        }
    }
}

impl CgroupManager for Manager {
    fn create(&self) -> Result<()> {
        let rel = self.target.rel()?;
        common::create_levels(&self.root, rel, |_, parent| enable(parent, CONTROLLERS))
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let leaf = self.leaf()?;
        let dir = Some(leaf.as_path());
        if let Some(n) = r.network() {
            if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(Error::Unsupported {
                    field: "linux.resources.network",
                    reason: "net_cls and net_prio do not exist on cgroup v2".into(),
                });
            }
        }
        if let Some(cpu) = r.cpu() {
            cpuset::apply(dir, cpu)?;
        }
        if let Some(rules) = r.devices() {
            devices::apply(&leaf, rules)?;
        }
        if let Some(m) = r.memory() {
            memory::apply(dir, m)?;
        }
        if let Some(cpu) = r.cpu() {
            cpu::apply(dir, cpu)?;
        }
        if let Some(p) = r.pids() {
            pids::apply(dir, p)?;
        }
        if let Some(b) = r.block_io() {
            io::apply(dir, b)?;
        }
        if let Some(limits) = r.hugepage_limits() {
            hugetlb::apply(&leaf, limits)?;
        }
        if let Some(rdma) = r.rdma() {
            rdma::apply(dir, rdma)?;
        }
        if let Some(u) = r.unified() {
            unified::apply(&leaf, u)?;
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        common::add_pid(&self.leaf()?, pid)
    }

    fn join_handles(&self) -> Result<crate::JoinHandles> {
        let dir = common::open_handle(&self.leaf()?, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)?;
        Ok(crate::JoinHandles { clone_into: Some(dir), tasks: Vec::new() })
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.leaf().into_iter().collect()
    }

    fn procs(&self) -> Result<Vec<i32>> {
        common::procs(&[self.leaf()?])
    }

    fn stats(&self) -> Result<Stats> {
        let leaf = self.leaf()?;
        // Zeros for a group that was never created would hide the mistake.
        if !leaf.is_dir() {
            return Err(Error::Read { path: leaf, source: std::io::Error::from_raw_os_error(libc::ENOENT) });
        }
        let pids = leaf.join("pids.max").exists().then_some(leaf.as_path());
        let io = leaf.join("io.stat").exists().then_some(leaf.as_path());
        Ok(Stats {
            memory: memory::stats(&leaf)?,
            cpu: cpu::stats(&leaf)?,
            pids: pids::stats(pids)?,
            io: io::stats(io)?,
        })
    }

    fn freeze(&self) -> Result<()> {
        freezer::freeze(&self.leaf()?)
    }

    fn thaw(&self) -> Result<()> {
        freezer::thaw(&self.leaf()?)
    }

    fn frozen(&self) -> Result<bool> {
        freezer::frozen(&self.leaf()?)
    }

    fn kill_all(&self) -> Result<()> {
        let leaf = self.leaf()?;
        let can_freeze = leaf.join("cgroup.freeze").exists();
        common::kill_all(self, Some(&leaf.join("cgroup.kill")), can_freeze, &leaf)
    }

    fn destroy(&self) -> Result<()> {
        common::remove_dir(&self.leaf()?)?;
        common::remove_parents(&self.root, &self.target)
    }
}
