//! Resource usage of running containers (`stats`) and their processes
//! (`top`), from the container's cgroup and /proc.

use std::fs;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Status;

/// One sample of a container's usage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// When it was taken (CLOCK_MONOTONIC, ns), for rates.
    pub at_ns: u64,
    /// CPU time the container used, and the whole host's (both ns), so
    /// the CPU % is docker's: container delta / host delta × cpus.
    pub cpu_ns: u64,
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    /// The cgroup limit, or the host's memory when unlimited.
    pub memory_limit: u64,
    /// Page cache, which docker subtracts from usage (it uses inactive
    /// file pages; the whole cache is the closest both cgroup versions give).
    pub memory_cache: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

impl Sample {
    /// docker's CPU %: the container's share of the host's CPU time over
    /// the interval, scaled to the number of CPUs (200% = two full CPUs).
    pub fn cpu_percent(&self, prev: &Sample) -> f64 {
        let cpu = self.cpu_ns.saturating_sub(prev.cpu_ns) as f64;
        let sys = self.system_cpu_ns.saturating_sub(prev.system_cpu_ns) as f64;
        if sys <= 0.0 {
            return 0.0;
        }
        cpu / sys * f64::from(self.online_cpus.max(1)) * 100.0
    }

    /// Usage as docker shows it: without the page cache.
    pub fn memory_used(&self) -> u64 {
        self.memory_usage.saturating_sub(self.memory_cache)
    }
}

/// One process of a container, as `top` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Process {
    pub uid: u32,
    pub pid: i32,
    pub ppid: i32,
    /// Clock ticks since boot when it started.
    pub start_ticks: u64,
    /// User + system CPU, clock ticks.
    pub cpu_ticks: u64,
    pub tty: String,
    pub cmd: String,
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// The host's total CPU time (the "cpu" line of /proc/stat), ns.
fn host_cpu_ns(stat: &str) -> u64 {
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| l.split_whitespace().skip(1).take(8).filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    ticks * (1_000_000_000 / clock_ticks())
}

/// Bytes received and sent on every interface but loopback, from a
/// /proc/<pid>/net/dev of the container's namespace.
fn net_bytes(dev: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for line in dev.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

fn host_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

impl Engine {
    /// A usage sample of a running container.
    pub fn stats(&self, key: &str) -> Result<Sample> {
        let c = self.container(key)?;
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(Error::Conflict(format!("container {} is not running", c.name)));
        }
        let cg = self.runtime.stats(&c.id)?;
        let host_mem = host_memory();
        let (net_rx, net_tx) =
            fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid)).map(|d| net_bytes(&d)).unwrap_or((0, 0));
        Ok(Sample {
            at_ns: monotonic_ns(),
            cpu_ns: cg.cpu.usage_ns,
            system_cpu_ns: host_cpu_ns(&fs::read_to_string("/proc/stat").unwrap_or_default()),
            online_cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            memory_usage: cg.memory.usage,
            memory_limit: cg.memory.limit.filter(|l| *l < host_mem).unwrap_or(host_mem),
            memory_cache: cg.memory.cache,
            net_rx,
            net_tx,
            block_read: cg.io.read_bytes,
            block_write: cg.io.write_bytes,
            pids: cg.pids.current,
        })
    }

    /// The processes of a running container (`top`), in pid order.
    pub fn top(&self, key: &str) -> Result<Vec<Process>> {
        let c = self.container(key)?;
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(Error::Conflict(format!("container {} is not running", c.id)));
        }
        let mut pids = self.runtime.pids(&c.id)?;
        pids.sort_unstable();
        Ok(pids.into_iter().filter_map(read_process).collect())
    }
}

fn read_process(pid: i32) -> Option<Process> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ppid = f.get(1)?.parse().ok()?;
    let tty_nr: u32 = f.get(4)?.parse().ok()?;
    let cpu_ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let start_ticks = f.get(19)?.parse().ok()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status.lines().find(|l| l.starts_with("Uid:"))?.split_whitespace().nth(1)?.parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = if cmdline.is_empty() {
        format!("[{}]", &stat[stat.find('(')? + 1..stat.rfind(')')?])
    } else {
        cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let tty = if tty_nr == 0 {
        "?".to_string()
    } else {
        let major = (tty_nr >> 8) & 0xfff;
        let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
        if major == 136 {
            format!("pts/{minor}")
        } else {
            format!("{major}:{minor}")
        }
    };
    Some(Process { uid, pid, ppid, start_ticks, cpu_ticks, tty, cmd })
}

/// Seconds since boot, for STIME.
pub fn ticks_per_second() -> u64 {
    clock_ticks()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_sums_all_but_loopback() {
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets\n    lo: 500 5 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n  eth0: 1200 10 0 0 0 0 0 0 800 7 0 0 0 0 0 0\n";
        assert_eq!(net_bytes(dev), (1200, 800));
    }

    #[test]
    fn cpu_percent_is_dockers_formula() {
        let prev = Sample { cpu_ns: 0, system_cpu_ns: 0, online_cpus: 2, ..Default::default() };
        let now = Sample { cpu_ns: 500, system_cpu_ns: 1000, online_cpus: 2, ..Default::default() };
        assert_eq!(now.cpu_percent(&prev), 100.0);
        assert_eq!(now.cpu_percent(&now), 0.0);
    }

    #[test]
    fn our_own_process_reads_back() {
        let me = read_process(std::process::id() as i32).unwrap();
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(!me.cmd.is_empty());
    }
}
