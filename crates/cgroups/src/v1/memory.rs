use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::common::{keyed, need, read_file, read_optional, read_u64, set};
use crate::{Error, MemoryStats, Result};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

const F_LIMIT: &str = "linux.resources.memory.limit";
const F_RESERVATION: &str = "linux.resources.memory.reservation";
const F_SWAP: &str = "linux.resources.memory.swap";
const F_KERNEL: &str = "linux.resources.memory.kernel";
const F_KERNEL_TCP: &str = "linux.resources.memory.kernelTCP";
const F_SWAPPINESS: &str = "linux.resources.memory.swappiness";
const F_OOM: &str = "linux.resources.memory.disableOOMKiller";
const F_HIERARCHY: &str = "linux.resources.memory.useHierarchy";

pub(super) fn apply(dir: Option<&Path>, m: &LinuxMemory) -> Result<()> {
    // 0 means "not set" for docker and runc; keep that reading.
    let limit = m.limit().filter(|&v| v != 0);
    let mut swap = m.swap().filter(|&v| v != 0);

    if let Some(v) = m.reservation() {
        let dir = need(dir, F_RESERVATION, "memory")?;
        set(dir, "memory.soft_limit_in_bytes", &bytes(v, F_RESERVATION)?, F_RESERVATION)?;
    }

    if limit.is_some() || swap.is_some() {
        let dir = need(dir, if limit.is_some() { F_LIMIT } else { F_SWAP }, "memory")?;
        let swap_accounting = dir.join(MEMSW).exists();
        // "No memory limit" also lifts the swap limit, as in runc; otherwise
        // the old memsw value would still cap the group.
        if limit == Some(-1) && swap.is_none() && swap_accounting {
            swap = Some(-1);
        }
        if swap.is_some_and(|s| s != -1) && !swap_accounting {
            return Err(Error::Unsupported {
                field: F_SWAP,
                reason: format!("swap limit not supported on this host: {MEMSW} is absent (swap accounting is off)"),
            });
        }
        let swap = swap.filter(|_| swap_accounting);
        match (limit, swap) {
            (Some(l), Some(s)) => {
                let (l_text, s_text) = (bytes(l, F_LIMIT)?, bytes(s, F_SWAP)?);
                if s != -1 && (l == -1 || s < l) {
                    return Err(Error::Invalid {
                        field: F_SWAP,
                        reason: format!("memory+swap limit {s} must be at least the memory limit {l} (or -1)"),
                    });
                }
                // The kernel insists on limit <= memsw after every write.
                if swap_first(read_u64(&dir.join(LIMIT))?, s) {
                    set(dir, MEMSW, &s_text, F_SWAP)?;
                    set(dir, LIMIT, &l_text, F_LIMIT)?;
                } else {
                    set(dir, LIMIT, &l_text, F_LIMIT)?;
                    set(dir, MEMSW, &s_text, F_SWAP)?;
                }
            }
            (Some(l), None) => set(dir, LIMIT, &bytes(l, F_LIMIT)?, F_LIMIT)?,
            (None, Some(s)) => set(dir, MEMSW, &bytes(s, F_SWAP)?, F_SWAP)?,
            (None, None) => {}
        }
    }

    if let Some(v) = m.kernel() {
        let dir = need(dir, F_KERNEL, "memory")?;
        set(dir, "memory.kmem.limit_in_bytes", &bytes(v, F_KERNEL)?, F_KERNEL)?;
    }
    if let Some(v) = m.kernel_tcp() {
        let dir = need(dir, F_KERNEL_TCP, "memory")?;
        let file = "memory.kmem.tcp.limit_in_bytes";
        set(dir, file, &bytes(v, F_KERNEL_TCP)?, F_KERNEL_TCP)?;
    }
    if let Some(v) = m.swappiness() {
        let dir = need(dir, F_SWAPPINESS, "memory")?;
        set(dir, "memory.swappiness", &v.to_string(), F_SWAPPINESS)?;
    }
    if let Some(disable) = m.disable_oom_killer() {
        let dir = need(dir, F_OOM, "memory")?;
        set(dir, "memory.oom_control", if disable { "1" } else { "0" }, F_OOM)?;
    }
    if let Some(h) = m.use_hierarchy() {
        let dir = need(dir, F_HIERARCHY, "memory")?;
        set(dir, "memory.use_hierarchy", if h { "1" } else { "0" }, F_HIERARCHY)?;
    }
    Ok(())
}

/// Whether memsw must be written before the limit: when it grows past the
/// current limit (writing the limit first could exceed the old memsw).
/// Otherwise the new memsw is below the current limit, so the limit must
/// shrink first. Either way each write keeps limit <= memsw.
pub(super) fn swap_first(current_limit: u64, new_swap: i64) -> bool {
    new_swap == -1 || u64::try_from(new_swap).is_ok_and(|s| s > current_limit)
}

/// -1 is "unlimited" for every v1 memory file; other negatives are typos.
fn bytes(v: i64, field: &'static str) -> Result<String> {
    if v < -1 {
        return Err(Error::Invalid { field, reason: format!("{v} is neither a byte count nor -1 (unlimited)") });
    }
    Ok(v.to_string())
}

/// v1 reports "unlimited" as the largest page-aligned i64.
fn limit_value(v: u64) -> Option<u64> {
    (v < (i64::MAX as u64) - (1 << 20)).then_some(v)
}

pub(super) fn stats(dir: Option<&Path>) -> Result<MemoryStats> {
    let Some(dir) = dir else {
        return Ok(MemoryStats::default());
    };
    let stat = read_file(&dir.join("memory.stat"))?;
    let oom = read_optional(&dir.join("memory.oom_control"))?.unwrap_or_default();
    let get = |k| keyed(&stat, k).unwrap_or(0);
    Ok(MemoryStats {
        usage: read_u64(&dir.join("memory.usage_in_bytes"))?,
        limit: limit_value(read_u64(&dir.join(LIMIT))?),
        max_usage: read_u64(&dir.join("memory.max_usage_in_bytes"))?,
        cache: get("total_cache"),
        anon: get("total_rss"),
        file: get("total_active_file") + get("total_inactive_file"),
        oom_kill: keyed(&oom, "oom_kill").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_ordering() {
        // Raising: current limit 100, new memsw 400 -> memsw first.
        assert!(swap_first(100, 400));
        // Lowering: current limit 100, new memsw 80 -> limit first.
        assert!(!swap_first(100, 80));
        assert!(!swap_first(100, 100));
        // Unlimited memsw can always go first.
        assert!(swap_first(u64::MAX, -1));
        // From "unlimited" to a limit: limit first.
        assert!(!swap_first(9223372036854771712, 1 << 30));
    }

    #[test]
    fn unlimited_is_none() {
        assert_eq!(limit_value(9223372036854771712), None);
        assert_eq!(limit_value(0x7FFF_FFFF_FFFF_0000), None);
        assert_eq!(limit_value(1 << 30), Some(1 << 30));
    }
}
