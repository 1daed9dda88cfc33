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

/// blkio.throttle.io_service_bytes: "MAJ:MIN Read N" lines (the
/// throttle file counts on every scheduler, unlike blkio.io_service_bytes).
pub(super) fn stats(dir: Option<&Path>) -> Result<crate::IoStats> {
    let Some(dir) = dir else { return Ok(Default::default()) };
    let text = crate::common::read_optional(&dir.join("blkio.throttle.io_service_bytes"))?.unwrap_or_default();
    Ok(parse_service_bytes(&text))
}

fn parse_service_bytes(text: &str) -> crate::IoStats {
    let mut s = crate::IoStats::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(dev), Some(op), Some(n)) = (f.next(), f.next(), f.next()) else { continue };
        if !dev.contains(':') {
            continue;
        }
        let n: u64 = n.parse().unwrap_or(0);
        match op {
            "Read" => s.read_bytes += n,
            "Write" => s.write_bytes += n,
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod stats_tests {
    #[test]
    fn service_bytes_sum_devices_and_skip_totals() {
        let s = super::parse_service_bytes("8:0 Read 100\n8:0 Write 5\n8:16 Read 1\n8:0 Sync 9\nTotal 106\n");
        assert_eq!((s.read_bytes, s.write_bytes), (101, 5));
    }
}
