/// What [`crate::CgroupManager::stats`] reports. Counters of controllers the
/// host lacks are zero; limits are `None` when unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub memory: MemoryStats,
    pub cpu: CpuStats,
    pub pids: PidsStats,
    pub io: IoStats,
}

/// Bytes read from and written to block devices, all devices summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoStats {
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// Bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// v1 memory.usage_in_bytes, v2 memory.current.
    pub usage: u64,
    /// v1 memory.limit_in_bytes, v2 memory.max.
    pub limit: Option<u64>,
    /// Highest usage seen: v1 memory.max_usage_in_bytes, v2 memory.peak
    /// (0 on kernels before 5.19).
    pub max_usage: u64,
    /// Page cache: v1 total_cache, v2 file.
    pub cache: u64,
    /// Anonymous memory: v1 total_rss, v2 anon.
    pub anon: u64,
    /// File-backed memory: v1 total_active_file + total_inactive_file, v2 file.
    pub file: u64,
    /// Processes killed by the OOM killer in this group.
    pub oom_kill: u64,
}

/// Nanoseconds, whatever unit the kernel uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStats {
    pub usage_ns: u64,
    pub user_ns: u64,
    pub system_ns: u64,
    /// CFS bandwidth periods that elapsed with the group runnable.
    pub nr_periods: u64,
    /// Periods in which the group hit its quota.
    pub nr_throttled: u64,
    pub throttled_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidsStats {
    pub current: u64,
    pub limit: Option<u64>,
}
