use std::path::Path;

use oci_spec::runtime::LinuxNetwork;

use crate::common::{add, need, set};
use crate::Result;

const F_CLASS: &str = "linux.resources.network.classID";
const F_PRIO: &str = "linux.resources.network.priorities";

pub(super) fn apply(net_cls: Option<&Path>, net_prio: Option<&Path>, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        set(need(net_cls, F_CLASS, "net_cls")?, "net_cls.classid", &id.to_string(), F_CLASS)?;
    }
    for p in n.priorities().iter().flatten() {
        // One "<interface> <priority>" per write.
        let line = format!("{} {}", p.name(), p.priority());
        add(need(net_prio, F_PRIO, "net_prio")?, "net_prio.ifpriomap", &line, F_PRIO)?;
    }
    Ok(())
}
