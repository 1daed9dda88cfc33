use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::common::{add, need};
use crate::v1::device;
use crate::{Error, Result};

const F_WEIGHT: &str = "linux.resources.blockIO.weight";
const F_WEIGHT_DEVICE: &str = "linux.resources.blockIO.weightDevice";

/// blkio weights (10..=1000) to io.weight (1..=10000), as runc does.
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

pub(super) fn apply(dir: Option<&Path>, b: &LinuxBlockIo) -> Result<()> {
    if b.leaf_weight().is_some() || b.weight_device().iter().flatten().any(|d| d.leaf_weight().is_some()) {
        return Err(Error::Unsupported {
            field: "linux.resources.blockIO.leafWeight",
            reason: "leaf weights are not supported on cgroup v2".into(),
        });
    }
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        let dir = need(dir, F_WEIGHT, "io")?;
        // BFQ takes blkio's scale as is; io.weight (iocost) has its own.
        // Both files also hold per-device lines, hence `add`.
        if dir.join("io.bfq.weight").exists() {
            add(dir, "io.bfq.weight", &w.to_string(), F_WEIGHT)?;
        } else {
            let value = format!("default {}", blkio_to_io_weight(w));
            add(dir, "io.weight", &value, F_WEIGHT)?;
        }
    }
    for wd in b.weight_device().iter().flatten() {
        let Some(w) = wd.weight() else { continue };
        let dir = need(dir, F_WEIGHT_DEVICE, "io")?;
        let dev = device(wd.major(), wd.minor(), F_WEIGHT_DEVICE)?;
        if dir.join("io.bfq.weight").exists() {
            add(dir, "io.bfq.weight", &format!("{dev} {w}"), F_WEIGHT_DEVICE)?;
        } else {
            let line = format!("{dev} {}", blkio_to_io_weight(w));
            add(dir, "io.weight", &line, F_WEIGHT_DEVICE)?;
        }
    }
    let throttles = [
        (b.throttle_read_bps_device(), "rbps", "linux.resources.blockIO.throttleReadBpsDevice"),
        (b.throttle_write_bps_device(), "wbps", "linux.resources.blockIO.throttleWriteBpsDevice"),
        (b.throttle_read_iops_device(), "riops", "linux.resources.blockIO.throttleReadIOPSDevice"),
        (b.throttle_write_iops_device(), "wiops", "linux.resources.blockIO.throttleWriteIOPSDevice"),
    ];
    for (list, key, field) in throttles {
        for t in list.iter().flatten() {
            let dir = need(dir, field, "io")?;
            // v1 removes a limit with 0, v2 with "max".
            let rate = match t.rate() {
                0 => "max".to_string(),
                r => r.to_string(),
            };
            let line = format!("{} {key}={rate}", device(t.major(), t.minor(), field)?);
            add(dir, "io.max", &line, field)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn blkio_weight_conversion() {
        use super::blkio_to_io_weight as c;
        assert_eq!(c(10), 1);
        assert_eq!(c(500), 4950);
        assert_eq!(c(1000), 10_000);
    }
}

/// io.stat: "MAJ:MIN rbytes=N wbytes=N ..." per device.
pub(crate) fn stats(dir: Option<&Path>) -> Result<crate::IoStats> {
    let Some(dir) = dir else { return Ok(Default::default()) };
    let text = crate::common::read_optional(&dir.join("io.stat"))?.unwrap_or_default();
    Ok(parse_io_stat(&text))
}

fn parse_io_stat(text: &str) -> crate::IoStats {
    let mut s = crate::IoStats::default();
    for field in text.split_whitespace() {
        if let Some((k, v)) = field.split_once('=') {
            let n: u64 = v.parse().unwrap_or(0);
            match k {
                "rbytes" => s.read_bytes += n,
                "wbytes" => s.write_bytes += n,
                _ => {}
            }
        }
    }
    s
}

#[cfg(test)]
mod stats_tests {
    #[test]
    fn io_stat_sums_devices() {
        let s = super::parse_io_stat("8:0 rbytes=10 wbytes=2 rios=1 wios=1\n8:16 rbytes=5 wbytes=0 rios=1 wios=0\n");
        assert_eq!((s.read_bytes, s.write_bytes), (15, 2));
    }
}
