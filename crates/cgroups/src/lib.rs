//! One interface over cgroup v1, v2 and hybrid hosts.
//!
//! ```no_run
//! use std::path::Path;
//! # fn main() -> Result<(), cgroups::Error> {
//! let layout = cgroups::Layout::detect()?;
//! let cg = cgroups::manager(&layout, Path::new("berth/my-container"));
//! cg.create()?;
//! cg.apply(&oci_spec::runtime::LinuxResources::default())?;
//! cg.add_process(1234)?;
//! // ...
//! cg.kill_all()?;
//! cg.destroy()?;
//! # Ok(()) }
//! ```
//!
//! The path given to [`manager`] is relative to the root of every hierarchy.
//! berth keeps its groups under `berth/`; [`CgroupManager::destroy`] removes
//! that parent too once the last group below it is gone.
//!
//! Hosts: pure v1 (co-mounted or separate controllers), pure v2, and hybrid
//! (v1 controllers plus a cgroup2 tree, usually at /sys/fs/cgroup/unified).
//! On hybrid hosts groups are also made in the cgroup2 tree so that
//! `cgroup.kill` works; limits, devices and the freezer stay with v1 (only
//! hugetlb falls back to the cgroup2 tree when v1 has no hugetlb hierarchy).

mod common;
mod devices;
mod error;
mod layout;
mod stats;
pub mod v1;
pub mod v2;

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

pub use error::{Error, Result};
pub use layout::{Layout, V1_CONTROLLERS};
pub use stats::{CpuStats, IoStats, MemoryStats, PidsStats, Stats};

/// How long `freeze`, `thaw` and `kill_all` wait for the kernel before
/// giving up with [`Error::Timeout`].
pub const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One cgroup, in every hierarchy of the host.
///
/// All methods take `&self`: the group's state lives in the kernel, not in
/// the manager, so two managers for the same path see the same group.
pub trait CgroupManager: Debug + Send + Sync {
    /// Creates the group (and missing parents) in every hierarchy: v1
    /// cpusets get their parent's CPUs and memory nodes, v2 ancestors get
    /// the controllers of [`v2::CONTROLLERS`] the kernel offers. Creating an
    /// existing group is not an error; after a failure, call `destroy`.
    fn create(&self) -> Result<()>;

    /// Writes the limits in `resources`. Fields left unset are not touched.
    /// A limit the host cannot enforce is [`Error::Unsupported`]; a value the
    /// kernel refuses is [`Error::Write`]; both name the spec field.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;

    /// Moves process `pid` (all its threads) into the group in every hierarchy.
    ///
    /// This takes the kernel's global cgroup lock, which waits for an RCU
    /// grace period: often several milliseconds. A process being created
    /// can avoid that with [`CgroupManager::join_handles`].
    fn add_process(&self, pid: i32) -> Result<()>;

    /// Handles that let a new process enter the group without the global
    /// lock: a v2 directory to clone into (clone3's CLONE_INTO_CGROUP) and,
    /// on v1, each hierarchy's `tasks` file, into which the new process
    /// writes "0" while it is still single-threaded (the kernel moves a
    /// thread that moves itself without the lock).
    fn join_handles(&self) -> Result<JoinHandles>;

    /// The group's directory in every hierarchy, e.g. for `exec` to join.
    fn paths(&self) -> Vec<PathBuf>;

    /// The processes in the group, sorted.
    fn procs(&self) -> Result<Vec<i32>>;

    /// Usage counters and current limits.
    fn stats(&self) -> Result<Stats>;

    /// Freezes every process in the group; returns once they are frozen.
    fn freeze(&self) -> Result<()>;

    /// Thaws the group; returns once the kernel reports it thawed.
    fn thaw(&self) -> Result<()>;

    /// Whether the group is (completely) frozen.
    fn frozen(&self) -> Result<bool>;

    /// SIGKILLs every process in the group and waits until it is empty.
    /// A group that does not exist is already empty.
    fn kill_all(&self) -> Result<()>;

    /// Removes the group in every hierarchy, then the `berth/` parents that
    /// became empty. Removing a group that does not exist is not an error.
    fn destroy(&self) -> Result<()>;
}

/// See [`CgroupManager::join_handles`].
#[derive(Debug, Default)]
pub struct JoinHandles {
    /// The group's cgroup2 directory (v2, or the unified tree of a hybrid host).
    pub clone_into: Option<std::os::fd::OwnedFd>,
    /// v1 `tasks` files, open for writing.
    pub tasks: Vec<std::os::fd::OwnedFd>,
}

impl JoinHandles {
    /// Run by the new process itself, first thing: enter every v1 hierarchy.
    /// Only allocation-free system calls, so it is safe right after a fork.
    pub fn join_self(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        for fd in &self.tasks {
            // SAFETY: writing two bytes from a static buffer to an open fd.
            let n = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// The manager for the group at `path` (relative to each hierarchy's root;
/// a leading `/`, as in `linux.cgroupsPath`, is ignored). An invalid path
/// (empty, or containing `..`) is reported by every method that touches
/// the filesystem.
pub fn manager(layout: &Layout, path: &Path) -> Box<dyn CgroupManager> {
    match layout {
        Layout::V1 { controllers, unified } => Box::new(v1::Manager::new(controllers, unified.as_deref(), path)),
        Layout::V2 { root } => Box::new(v2::Manager::new(root, path)),
    }
}
