//! pids.max and pids.current look the same in v1 and v2.

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::common::{need, parse_limit, read_file, read_u64, set};
use crate::{PidsStats, Result};

const FIELD: &str = "linux.resources.pids.limit";

pub(crate) fn apply(dir: Option<&Path>, p: &LinuxPids) -> Result<()> {
    // 0 and negative values mean "no limit" in the spec's JSON, which a
    // host without the pids controller already provides.
    let value = match p.limit() {
        n if n > 0 => n.to_string(),
        _ if !dir.is_some_and(|d| d.join("pids.max").exists()) => return Ok(()),
        _ => "max".to_string(),
    };
    set(need(dir, FIELD, "pids")?, "pids.max", &value, FIELD)
}

pub(crate) fn stats(dir: Option<&Path>) -> Result<PidsStats> {
    let Some(dir) = dir else {
        return Ok(PidsStats::default());
    };
    let max = dir.join("pids.max");
    Ok(PidsStats { current: read_u64(&dir.join("pids.current"))?, limit: parse_limit(&max, &read_file(&max)?)? })
}
