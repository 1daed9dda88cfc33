use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::common::{need, set};
use crate::Result;

const F_CPUS: &str = "linux.resources.cpu.cpus";
const F_MEMS: &str = "linux.resources.cpu.mems";

pub(crate) fn apply(dir: Option<&Path>, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        set(need(dir, F_CPUS, "cpuset")?, "cpuset.cpus", cpus, F_CPUS)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        set(need(dir, F_MEMS, "cpuset")?, "cpuset.mems", mems, F_MEMS)?;
    }
    Ok(())
}
