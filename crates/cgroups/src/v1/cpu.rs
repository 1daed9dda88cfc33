use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::common::{keyed, need, read_file, read_optional, read_u64, set};
use crate::{CpuStats, Error, Result};

const F_SHARES: &str = "linux.resources.cpu.shares";
const F_QUOTA: &str = "linux.resources.cpu.quota";
const F_PERIOD: &str = "linux.resources.cpu.period";
const F_BURST: &str = "linux.resources.cpu.burst";
const F_IDLE: &str = "linux.resources.cpu.idle";
const F_RT_RUNTIME: &str = "linux.resources.cpu.realtimeRuntime";
const F_RT_PERIOD: &str = "linux.resources.cpu.realtimePeriod";

pub(super) fn apply(dir: Option<&Path>, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        set(need(dir, F_SHARES, "cpu")?, "cpu.shares", &shares.to_string(), F_SHARES)?;
    }

    // The RT period bounds the runtime, so it goes first (as in runc).
    if let Some(p) = c.realtime_period() {
        set(need(dir, F_RT_PERIOD, "cpu")?, "cpu.rt_period_us", &p.to_string(), F_RT_PERIOD)?;
    }
    if let Some(r) = c.realtime_runtime() {
        set(need(dir, F_RT_RUNTIME, "cpu")?, "cpu.rt_runtime_us", &r.to_string(), F_RT_RUNTIME)?;
    }

    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&p| p != 0);
    let mut period_pending = None;
    if let Some(p) = period {
        let dir = need(dir, F_PERIOD, "cpu")?;
        match set(dir, "cpu.cfs_period_us", &p.to_string(), F_PERIOD) {
            Ok(()) => {}
            // A shorter period can make old_quota/new_period exceed the
            // parent's bandwidth (EINVAL) until the new quota is in place.
            Err(e) if quota.is_some() && e.raw_os_error() == Some(libc::EINVAL) => {
                period_pending = Some(p);
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(q) = quota {
        let dir = need(dir, F_QUOTA, "cpu")?;
        let text = if q < 0 { "-1".to_string() } else { q.to_string() };
        set(dir, "cpu.cfs_quota_us", &text, F_QUOTA)?;
        if let Some(p) = period_pending {
            set(dir, "cpu.cfs_period_us", &p.to_string(), F_PERIOD)?;
        }
    }
    if let Some(b) = c.burst() {
        set(need(dir, F_BURST, "cpu")?, "cpu.cfs_burst_us", &b.to_string(), F_BURST)?;
    }
    if let Some(i) = c.idle() {
        if !(0..=1).contains(&i) {
            return Err(Error::Invalid { field: F_IDLE, reason: format!("{i} is neither 0 nor 1") });
        }
        set(need(dir, F_IDLE, "cpu")?, "cpu.idle", &i.to_string(), F_IDLE)?;
    }
    Ok(())
}

pub(super) fn stats(cpu: Option<&Path>, cpuacct: Option<&Path>) -> Result<CpuStats> {
    let mut s = CpuStats::default();
    if let Some(dir) = cpuacct {
        s.usage_ns = read_u64(&dir.join("cpuacct.usage"))?;
        let stat = read_file(&dir.join("cpuacct.stat"))?;
        let ns_per_tick = 1_000_000_000 / clock_ticks();
        s.user_ns = keyed(&stat, "user").unwrap_or(0) * ns_per_tick;
        s.system_ns = keyed(&stat, "system").unwrap_or(0) * ns_per_tick;
    }
    if let Some(dir) = cpu {
        if let Some(stat) = read_optional(&dir.join("cpu.stat"))? {
            s.nr_periods = keyed(&stat, "nr_periods").unwrap_or(0);
            s.nr_throttled = keyed(&stat, "nr_throttled").unwrap_or(0);
            s.throttled_ns = keyed(&stat, "throttled_time").unwrap_or(0);
        }
    }
    Ok(s)
}

/// USER_HZ, the unit of cpuacct.stat.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&hz| hz > 0).unwrap_or(100)
}
