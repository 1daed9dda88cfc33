use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::common::{keyed, need, read_file, read_optional, set};
use crate::{CpuStats, Error, Result};

const F_SHARES: &str = "linux.resources.cpu.shares";
const F_QUOTA: &str = "linux.resources.cpu.quota";
const F_PERIOD: &str = "linux.resources.cpu.period";
const F_BURST: &str = "linux.resources.cpu.burst";
const F_IDLE: &str = "linux.resources.cpu.idle";

/// cgroup v1 cpu.shares (2..=262144, default 1024) to v2 cpu.weight
/// (1..=10000, default 100), the mapping runc, crun and systemd share.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

pub(super) fn apply(dir: Option<&Path>, c: &LinuxCpu) -> Result<()> {
    for (value, field) in [
        (c.realtime_runtime().map(|_| ()), "linux.resources.cpu.realtimeRuntime"),
        (c.realtime_period().map(|_| ()), "linux.resources.cpu.realtimePeriod"),
    ] {
        if value.is_some() {
            return Err(Error::Unsupported {
                field,
                reason: "realtime CPU limits are not supported on cgroup v2".into(),
            });
        }
    }
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        let weight = shares_to_weight(shares).to_string();
        set(need(dir, F_SHARES, "cpu")?, "cpu.weight", &weight, F_SHARES)?;
    }

    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&p| p != 0);
    if quota.is_some() || period.is_some() {
        let field = if quota.is_some() { F_QUOTA } else { F_PERIOD };
        let dir = need(dir, field, "cpu")?;
        // cpu.max holds both numbers: keep the current one the spec omits.
        let current = read_file(&dir.join("cpu.max"))?;
        let mut current = current.split_whitespace();
        let (cur_quota, cur_period) = (current.next(), current.next());
        let quota = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            None => cur_quota.unwrap_or("max").to_string(),
        };
        let value = match period.map(|p| p.to_string()).or(cur_period.map(String::from)) {
            Some(p) => format!("{quota} {p}"),
            None => quota,
        };
        set(dir, "cpu.max", &value, field)?;
    }
    if let Some(b) = c.burst() {
        set(need(dir, F_BURST, "cpu")?, "cpu.max.burst", &b.to_string(), F_BURST)?;
    }
    if let Some(i) = c.idle() {
        if !(0..=1).contains(&i) {
            return Err(Error::Invalid { field: F_IDLE, reason: format!("{i} is neither 0 nor 1") });
        }
        set(need(dir, F_IDLE, "cpu")?, "cpu.idle", &i.to_string(), F_IDLE)?;
    }
    Ok(())
}

/// cpu.stat exists even without the cpu controller (usage only).
pub(super) fn stats(dir: &Path) -> Result<CpuStats> {
    let Some(stat) = read_optional(&dir.join("cpu.stat"))? else {
        return Ok(CpuStats::default());
    };
    let us = |k| keyed(&stat, k).unwrap_or(0) * 1000;
    Ok(CpuStats {
        usage_ns: us("usage_usec"),
        user_ns: us("user_usec"),
        system_ns: us("system_usec"),
        nr_periods: keyed(&stat, "nr_periods").unwrap_or(0),
        nr_throttled: keyed(&stat, "nr_throttled").unwrap_or(0),
        throttled_ns: us("throttled_usec"),
    })
}

#[cfg(test)]
mod tests {
    use super::shares_to_weight;

    #[test]
    fn shares_to_weight_conversion() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(262_144), 10_000);
        // Out-of-range shares are clamped as the v1 kernel would.
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1 << 40), 10_000);
    }
}
