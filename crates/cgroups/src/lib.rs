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
pub use stats::{CpuStats, MemoryStats, PidsStats, Stats};

/// How long `freeze`, `thaw` and `kill_all` wait for the kernel before
/// giving up with [`Error::Timeout`].
pub const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One cgroup, in every hierarchy of the host.
///
/// All methods take `&self`: the group's state lives in the kernel, not in
/// the manager, so two managers for the same path see the same group.
pub trait CgroupManager: Debug + Send + Sync {
    /// Creates the group (and missing parents) in every hierarchy.
    /// Creating an existing group is not an error.
    fn create(&self) -> Result<()>;

    /// Writes the limits in `resources`. Fields left unset are not touched.
    /// A limit the host cannot enforce is [`Error::Unsupported`]; a value the
    /// kernel refuses is [`Error::Write`]; both name the spec field.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;

    /// Moves process `pid` (all its threads) into the group in every hierarchy.
    fn add_process(&self, pid: i32) -> Result<()>;

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

/// The manager for the group at `path` (relative to each hierarchy's root;
/// a leading `/`, as in `linux.cgroupsPath`, is ignored). An invalid path
/// (empty, or containing `..`) is reported by every method that touches
/// the filesystem.
pub fn manager(layout: &Layout, path: &Path) -> Box<dyn CgroupManager> {
    match layout {
        Layout::V1 {
            controllers,
            unified,
        } => Box::new(v1::Manager::new(controllers, unified.as_deref(), path)),
        Layout::V2 { root } => Box::new(v2::Manager::new(root, path)),
    }
}
