use std::path::Path;

use crate::common::{read_file, set_existing};
use crate::Result;

/// A new v1 cpuset starts with no CPUs and no memory nodes, and adding a
/// task to it fails (ENOSPC) until both are set: give every level the
/// parent's values, unless the kernel (cgroup.clone_children) or an
/// earlier `apply` already did.
pub(super) fn inherit(dir: &Path, parent: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read_file(&dir.join(file))?.trim().is_empty() {
            let value = read_file(&parent.join(file))?;
            set_existing(dir, file, value.trim(), "create")?;
        }
    }
    Ok(())
}
