//! rdma.max looks the same in v1 and v2.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::common::{add, need};
use crate::Result;

const FIELD: &str = "linux.resources.rdma";

pub(crate) fn apply(dir: Option<&Path>, rdma: &HashMap<String, LinuxRdma>) -> Result<()> {
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by_key(|(name, _)| name.as_str());
    for (name, limits) in devices {
        let mut line = name.clone();
        if let Some(h) = limits.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = limits.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() == name.len() {
            continue;
        }
        // One device per write.
        add(need(dir, FIELD, "rdma")?, "rdma.max", &line, FIELD)?;
    }
    Ok(())
}
