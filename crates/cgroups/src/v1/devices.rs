use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::common::{add, need};
use crate::devices::{parse, FIELD};
use crate::Result;

/// Writes the rules in order: each line edits the group's list, so a later
/// rule overrides an earlier one, which is the OCI meaning.
pub(super) fn apply(dir: Option<&Path>, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let rules = parse(rules)?;
    let dir = need(dir, FIELD, "devices")?;
    for rule in rules {
        let file = if rule.allow { "devices.allow" } else { "devices.deny" };
        add(dir, file, &rule.v1_line(), FIELD)?;
    }
    Ok(())
}
