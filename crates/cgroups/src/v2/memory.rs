use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::common::{keyed, need, parse_limit, read_file, read_optional, read_u64, set};
use crate::{Error, MemoryStats, Result};

const F_LIMIT: &str = "linux.resources.memory.limit";
const F_RESERVATION: &str = "linux.resources.memory.reservation";
const F_SWAP: &str = "linux.resources.memory.swap";

const V1_ONLY: &str = "not supported on cgroup v2";

pub(super) fn apply(dir: Option<&Path>, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().filter(|&v| v != 0);
    let swap = m.swap().filter(|&v| v != 0);

    // Checks first, so nothing is half applied because of a spec mistake.
    let unsupported = |field: &'static str| Error::Unsupported { field, reason: V1_ONLY.into() };
    if m.kernel().is_some() {
        return Err(unsupported("linux.resources.memory.kernel"));
    }
    if m.kernel_tcp().is_some() {
        return Err(unsupported("linux.resources.memory.kernelTCP"));
    }
    if m.swappiness().is_some() {
        return Err(unsupported("linux.resources.memory.swappiness"));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported("linux.resources.memory.disableOOMKiller"));
    }
    if m.use_hierarchy() == Some(false) {
        // v2 is always hierarchical.
        return Err(unsupported("linux.resources.memory.useHierarchy"));
    }
    let swap_max = swap_max(limit, swap)?;
    if let (Some(dir), Some(field)) = (dir, requested(m, limit, swap)) {
        if !dir.join("memory.max").exists() && dir.is_dir() {
            return Err(Error::Unsupported {
                field,
                reason: "the memory controller is not enabled for this group (memory.max is absent)".into(),
            });
        }
    }

    if let Some(v) = swap_max {
        let dir = need(dir, F_SWAP, "memory")?;
        if !dir.join("memory.swap.max").exists() {
            // Without swap accounting there is no swap limit to set, which is
            // only a problem if one was asked for.
            if v != "max" {
                return Err(Error::Unsupported {
                    field: F_SWAP,
                    reason: "swap limit not supported on this host: memory.swap.max is absent (swap accounting is off)"
                        .into(),
                });
            }
        } else {
            set(dir, "memory.swap.max", &v, F_SWAP)?;
        }
    }
    if let Some(l) = limit {
        let dir = need(dir, F_LIMIT, "memory")?;
        set(dir, "memory.max", &bytes(l, F_LIMIT)?, F_LIMIT)?;
    }
    if let Some(r) = m.reservation() {
        let dir = need(dir, F_RESERVATION, "memory")?;
        set(dir, "memory.low", &bytes(r, F_RESERVATION)?, F_RESERVATION)?;
    }
    Ok(())
}

fn requested(m: &LinuxMemory, limit: Option<i64>, swap: Option<i64>) -> Option<&'static str> {
    if limit.is_some() {
        Some(F_LIMIT)
    } else if swap.is_some() {
        Some(F_SWAP)
    } else {
        m.reservation().map(|_| F_RESERVATION)
    }
}

/// OCI's swap is memory+swap (the v1 memsw meaning); memory.swap.max is swap
/// alone. Follows runc: "no memory limit" without a swap value lifts the
/// swap limit too.
pub(crate) fn swap_max(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>> {
    let invalid = |reason: String| Error::Invalid { field: F_SWAP, reason };
    match (limit, swap) {
        (Some(-1), None) | (_, Some(-1)) => Ok(Some("max".into())),
        (_, None) => Ok(None),
        (None | Some(-1), Some(s)) => {
            Err(invalid(format!("a memory+swap limit ({s}) needs a memory limit on cgroup v2")))
        }
        (Some(l), Some(s)) if s < l || l < 0 => {
            Err(invalid(format!("memory+swap limit {s} must be at least the memory limit {l} (or -1)")))
        }
        (Some(l), Some(s)) => Ok(Some((s - l).to_string())),
    }
}

fn bytes(v: i64, field: &'static str) -> Result<String> {
    match v {
        -1 => Ok("max".into()),
        v if v >= 0 => Ok(v.to_string()),
        v => Err(Error::Invalid { field, reason: format!("{v} is neither a byte count nor -1 (unlimited)") }),
    }
}

pub(super) fn stats(dir: &Path) -> Result<MemoryStats> {
    // No memory controller enabled here: nothing to report.
    if !dir.join("memory.current").exists() {
        return Ok(MemoryStats::default());
    }
    let max = dir.join("memory.max");
    let stat = read_file(&dir.join("memory.stat"))?;
    let events = read_optional(&dir.join("memory.events"))?.unwrap_or_default();
    let peak = dir.join("memory.peak");
    let file = keyed(&stat, "file").unwrap_or(0);
    Ok(MemoryStats {
        usage: read_u64(&dir.join("memory.current"))?,
        limit: parse_limit(&max, &read_file(&max)?)?,
        // memory.peak exists since Linux 5.19.
        max_usage: if peak.exists() { read_u64(&peak)? } else { 0 },
        cache: file,
        anon: keyed(&stat, "anon").unwrap_or(0),
        file,
        oom_kill: keyed(&events, "oom_kill").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::swap_max;

    #[test]
    fn swap_conversion() {
        let s = |l, s| swap_max(l, s).map_err(|e| e.to_string());
        assert_eq!(s(Some(100), Some(300)).unwrap().as_deref(), Some("200"));
        assert_eq!(s(Some(100), Some(100)).unwrap().as_deref(), Some("0"));
        assert_eq!(s(Some(100), Some(-1)).unwrap().as_deref(), Some("max"));
        assert_eq!(s(Some(-1), None).unwrap().as_deref(), Some("max"));
        assert_eq!(s(Some(100), None).unwrap(), None);
        assert_eq!(s(None, None).unwrap(), None);
        assert!(s(Some(300), Some(100)).unwrap_err().contains("at least"));
        assert!(s(None, Some(100)).unwrap_err().contains("needs a memory limit"));
        assert!(s(Some(-1), Some(100)).unwrap_err().starts_with("linux.resources.memory.swap: "));
    }
}
