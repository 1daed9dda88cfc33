use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::common::{add, need, set};
use crate::{Error, Result};

const F_WEIGHT: &str = "linux.resources.blockIO.weight";
const F_LEAF_WEIGHT: &str = "linux.resources.blockIO.leafWeight";
const F_WEIGHT_DEVICE: &str = "linux.resources.blockIO.weightDevice";

pub(super) fn apply(dir: Option<&Path>, b: &LinuxBlockIo) -> Result<()> {
    if let Some(w) = b.weight() {
        let dir = need(dir, F_WEIGHT, "blkio")?;
        // CFQ's blkio.weight is gone since Linux 5.0; BFQ has its own file.
        let file = present(dir, F_WEIGHT, &["blkio.weight", "blkio.bfq.weight"])?;
        set(dir, file, &w.to_string(), F_WEIGHT)?;
    }
    if let Some(w) = b.leaf_weight() {
        let dir = need(dir, F_LEAF_WEIGHT, "blkio")?;
        set(dir, "blkio.leaf_weight", &w.to_string(), F_LEAF_WEIGHT)?;
    }
    for wd in b.weight_device().iter().flatten() {
        let dir = need(dir, F_WEIGHT_DEVICE, "blkio")?;
        let dev = device(wd.major(), wd.minor(), F_WEIGHT_DEVICE)?;
        if let Some(w) = wd.weight() {
            let files = ["blkio.weight_device", "blkio.bfq.weight_device"];
            let file = present(dir, F_WEIGHT_DEVICE, &files)?;
            add(dir, file, &format!("{dev} {w}"), F_WEIGHT_DEVICE)?;
        }
        if let Some(w) = wd.leaf_weight() {
            add(dir, "blkio.leaf_weight_device", &format!("{dev} {w}"), F_WEIGHT_DEVICE)?;
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "linux.resources.blockIO.throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "linux.resources.blockIO.throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "linux.resources.blockIO.throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "linux.resources.blockIO.throttleWriteIOPSDevice",
        ),
    ];
    for (list, file, field) in throttles {
        for t in list.iter().flatten() {
            let dir = need(dir, field, "blkio")?;
            // One device per write; a rate of 0 removes the limit.
            let line = format!("{} {}", device(t.major(), t.minor(), field)?, t.rate());
            add(dir, file, &line, field)?;
        }
    }
    Ok(())
}

/// "major:minor" of a block device named in the spec.
pub(crate) fn device(major: i64, minor: i64, field: &'static str) -> Result<String> {
    if major < 0 || minor < 0 || major > u32::MAX.into() || minor > u32::MAX.into() {
        return Err(Error::Invalid { field, reason: format!("{major}:{minor} is not a device number") });
    }
    Ok(format!("{major}:{minor}"))
}

fn present<'a>(dir: &Path, field: &'static str, files: &[&'a str]) -> Result<&'a str> {
    files.iter().copied().find(|f| dir.join(f).exists()).ok_or_else(|| Error::Unsupported {
        field,
        reason: format!("not supported on this host: {} are absent", files.join(" and ")),
    })
}
