//! File I/O on cgroupfs and the lifecycle steps both versions share.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{CgroupManager, Error, Result, WAIT_TIMEOUT};

/// The name of the parent directory berth keeps its groups under. Only
/// parents below (and including) it are removed by `destroy`.
pub(crate) const BERTH_PARENT: &str = "berth";

/// Writes `value` in one write(2). The file is opened without O_CREAT:
/// cgroupfs files cannot be created, so a missing file means the kernel
/// lacks the feature, and a fake cgroupfs must behave the same way.
pub(crate) fn write_file(path: &Path, value: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).truncate(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// For files the kernel treats as a command stream (devices.allow,
/// net_prio.ifpriomap, rdma.max ...) where every write adds one entry.
/// O_APPEND changes nothing on cgroupfs but lets a fake keep every entry.
pub(crate) fn append_file(path: &Path, line: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

pub(crate) fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })
}

/// Like [`read_file`], but a missing file is `None`: stats use it for
/// counters older kernels do not have.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path: path.to_path_buf(), source }),
    }
}

pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        reason: format!("expected an unsigned integer, found {:?}", text.trim()),
    })
}

pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    parse_u64(path, &read_file(path)?)
}

/// `max` (v2 and pids) means no limit.
pub(crate) fn parse_limit(path: &Path, text: &str) -> Result<Option<u64>> {
    match text.trim() {
        "max" => Ok(None),
        other => parse_u64(path, other).map(Some),
    }
}

/// The value of `key` in a "flat keyed" file (`key value` per line:
/// memory.stat, cpu.stat, memory.events, cgroup.events ...).
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Writes a control file for spec field `field`. A missing file in an
/// existing group means the host cannot enforce the field: that is
/// [`Error::Unsupported`], so callers can tell it from a refused value.
pub(crate) fn set(dir: &Path, file: &str, value: &str, field: &'static str) -> Result<()> {
    let path = dir.join(file);
    write_file(&path, value).map_err(|source| write_error(dir, file, value, field, path, source))
}

/// [`set`] without the "absent file means unsupported" reading, for
/// files every cgroup has: there ENOENT means the group itself went away
/// (a concurrent `destroy`), which [`create_levels`] retries.
pub(crate) fn set_existing(dir: &Path, file: &str, value: &str, field: &'static str) -> Result<()> {
    let path = dir.join(file);
    write_file(&path, value).map_err(|source| Error::Write { field, value: value.to_string(), path, source })
}

/// [`set`] for command-stream files, see [`append_file`].
pub(crate) fn add(dir: &Path, file: &str, value: &str, field: &'static str) -> Result<()> {
    let path = dir.join(file);
    append_file(&path, value).map_err(|source| write_error(dir, file, value, field, path, source))
}

fn write_error(dir: &Path, file: &str, value: &str, field: &'static str, path: PathBuf, source: io::Error) -> Error {
    if source.kind() == io::ErrorKind::NotFound && dir.is_dir() {
        return unsupported_file(field, file);
    }
    // The kernel has the file but cannot do this here (BFQ weights on a
    // device with another scheduler, v1 kernel memory limits on Linux 6.x).
    if source.raw_os_error() == Some(libc::EOPNOTSUPP) {
        return Error::Unsupported {
            field,
            reason: format!(
                "not supported on this host: writing {value} to {}: Operation not supported",
                path.display()
            ),
        };
    }
    Error::Write { field, value: value.to_string(), path, source }
}

pub(crate) fn unsupported_file(field: &'static str, file: &str) -> Error {
    Error::Unsupported { field, reason: format!("not supported on this host: {file} is absent") }
}

/// The directory of a controller that must be present for `field`.
pub(crate) fn need<'a>(dir: Option<&'a Path>, field: &'static str, controller: &str) -> Result<&'a Path> {
    dir.ok_or_else(|| Error::Unsupported {
        field,
        reason: format!("the {controller} controller is not available on this host"),
    })
}

/// The group's path relative to each hierarchy root, validated once when
/// the manager is made and checked by every method that touches the
/// filesystem (the constructor cannot fail).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    rel: PathBuf,
    given: PathBuf,
    invalid: Option<&'static str>,
}

impl Target {
    pub(crate) fn new(path: &Path) -> Target {
        let mut rel = PathBuf::new();
        let mut invalid = None;
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(n) => rel.push(n),
                Component::ParentDir | Component::Prefix(_) => {
                    invalid = Some("must not contain \"..\"");
                }
            }
        }
        if invalid.is_none() && rel.as_os_str().is_empty() {
            invalid = Some("must name a group below the hierarchy root");
        }
        Target { rel, given: path.to_path_buf(), invalid }
    }

    pub(crate) fn rel(&self) -> Result<&Path> {
        match self.invalid {
            None => Ok(&self.rel),
            Some(reason) => Err(Error::InvalidPath { path: self.given.clone(), reason }),
        }
    }

    /// Directories `destroy` may remove after the leaf: the ancestors up to
    /// and including `berth/`, deepest first. Groups outside `berth/` (a
    /// custom cgroupsPath) keep their parents.
    pub(crate) fn berth_ancestors(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if self.rel.components().next() != Some(Component::Normal(BERTH_PARENT.as_ref())) {
            return out;
        }
        let mut p = self.rel.parent();
        while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
            out.push(dir.to_path_buf());
            p = dir.parent();
        }
        out
    }
}

/// mkdir -p of `rel` under `root`, calling `each(dir, parent)` for every
/// level (new or not) so callers can prepare it: copy cpusets, enable
/// controllers. A concurrent `destroy` may remove an empty parent between
/// two steps; ENOENT (or ENODEV from a dying cgroup's files) then restarts
/// from the top.
pub(crate) fn create_levels(root: &Path, rel: &Path, mut each: impl FnMut(&Path, &Path) -> Result<()>) -> Result<()> {
    const ATTEMPTS: usize = 20;
    let mut attempt = 0;
    'retry: loop {
        attempt += 1;
        let mut dir = root.to_path_buf();
        for comp in rel.components() {
            let parent = dir.clone();
            dir.push(comp);
            let step = match std::fs::create_dir(&dir) {
                Ok(()) => each(&dir, &parent),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => each(&dir, &parent),
                Err(source) => Err(Error::Create { path: dir.clone(), source }),
            };
            match step {
                Ok(()) => {}
                Err(e) if e.is_gone() && attempt < ATTEMPTS => continue 'retry,
                Err(e) => return Err(e),
            }
        }
        return Ok(());
    }
}

/// rmdir that waits out EBUSY while the last tasks finish exiting; a
/// missing directory is already removed.
pub(crate) fn remove_dir(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut poll = Poll::new();
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => poll.sleep(),
            Err(source) => return Err(Error::Remove { path: dir.to_path_buf(), source }),
        }
    }
}

/// Best-effort removal of the `berth/` parents once empty: other groups may
/// still live there (ENOTEMPTY, or EBUSY on some kernels), which is fine.
pub(crate) fn remove_parents(root: &Path, target: &Target) -> Result<()> {
    for rel in target.berth_ancestors() {
        let dir = root.join(rel);
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTEMPTY | libc::EBUSY | libc::EEXIST)) => {
                // A busy parent is busy for its ancestors too.
                if e.raw_os_error() != Some(libc::ENOENT) {
                    return Ok(());
                }
            }
            Err(source) => return Err(Error::Remove { path: dir, source }),
        }
    }
    Ok(())
}

pub(crate) fn add_pid(dir: &Path, pid: i32) -> Result<()> {
    if pid <= 0 {
        return Err(Error::Invalid { field: "add_process", reason: format!("{pid} is not a process id") });
    }
    set(dir, "cgroup.procs", &pid.to_string(), "add_process").map_err(|e| match e {
        // The group's directory exists but has no cgroup.procs: not a cgroup.
        Error::Unsupported { .. } => Error::Write {
            field: "add_process",
            value: pid.to_string(),
            path: dir.join("cgroup.procs"),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        },
        e => e,
    })
}

/// The pids in each of `dirs`' cgroup.procs, merged. Directories that do not
/// exist are skipped; if none exists the group does not exist (ENOENT).
pub(crate) fn procs(dirs: &[PathBuf]) -> Result<Vec<i32>> {
    let mut pids = Vec::new();
    let mut missing = None;
    let mut found = false;
    for dir in dirs {
        let path = dir.join("cgroup.procs");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                found = true;
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    match line.trim().parse::<i32>() {
                        Ok(pid) if pid > 0 => pids.push(pid),
                        _ => return Err(Error::Parse { path, reason: format!("{line:?} is not a process id") }),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.get_or_insert(Error::Read { path, source: e });
            }
            Err(source) => return Err(Error::Read { path, source }),
        }
    }
    if !found {
        if let Some(e) = missing {
            return Err(e);
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// SIGKILLs everything in `m` and waits until it is empty.
///
/// `kill_file` is cgroup.kill where the kernel has it (v2 or a hybrid
/// host's unified tree, Linux >= 5.14): one write kills every process
/// atomically, forks included. Without it, the group is frozen (when
/// `can_freeze`) so nothing can fork between reading cgroup.procs and
/// signalling, every pid is killed, the group is thawed so the kills take
/// effect, and that repeats until the group is empty.
pub(crate) fn kill_all(m: &dyn CgroupManager, kill_file: Option<&Path>, can_freeze: bool, what: &Path) -> Result<()> {
    let start = Instant::now();
    let mut last_round = None;
    if let Some(file) = kill_file.filter(|f| f.exists()) {
        match write_file(file, "1") {
            Ok(()) => last_round = Some(Instant::now()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::Write { field: "kill_all", value: "1".into(), path: file.to_path_buf(), source })
            }
        }
    }
    let mut poll = Poll::new();
    loop {
        let pids = match m.procs() {
            Ok(pids) => pids,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        if pids.is_empty() {
            return Ok(());
        }
        if start.elapsed() > WAIT_TIMEOUT {
            return Err(Error::Timeout {
                what: "killing the processes of",
                path: what.to_path_buf(),
                waited: start.elapsed(),
                detail: format!("; still there: {pids:?}"),
            });
        }
        // Give cgroup.kill (or the previous round) a moment before signalling
        // again: SIGKILLed processes take a little while to leave.
        if last_round.is_none_or(|t: Instant| t.elapsed() > Duration::from_millis(100)) {
            kill_round(m, pids, can_freeze, what)?;
            last_round = Some(Instant::now());
        }
        poll.sleep();
    }
}

fn kill_round(m: &dyn CgroupManager, pids: Vec<i32>, can_freeze: bool, what: &Path) -> Result<()> {
    // A freeze that fails (a task stuck in D state) must not stop the kill.
    let frozen = can_freeze && m.freeze().is_ok();
    let pids = if frozen { m.procs()? } else { pids };
    let mut result = Ok(());
    for pid in pids {
        // SAFETY: kill(2) has no memory-safety preconditions.
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            let source = io::Error::last_os_error();
            if source.raw_os_error() != Some(libc::ESRCH) && result.is_ok() {
                result = Err(Error::Kill { pid, path: what.to_path_buf(), source });
            }
        }
    }
    if frozen {
        m.thaw()?;
    }
    result
}

/// Sleeps for short, growing intervals: most waits (freezing a few tasks,
/// the last task leaving) end within a millisecond, a few take longer.
pub(crate) struct Poll(Duration);

impl Poll {
    pub(crate) fn new() -> Poll {
        Poll(Duration::from_micros(100))
    }

    pub(crate) fn sleep(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(10));
    }
}

/// Opens `path` for the lock-free join (see `JoinHandles`).
pub(crate) fn open_handle(path: &Path, flags: i32) -> Result<std::os::fd::OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    if flags & libc::O_WRONLY != 0 {
        o.write(true);
    } else {
        o.read(true);
    }
    o.custom_flags(flags & !libc::O_WRONLY & !libc::O_RDONLY)
        .open(path)
        .map(std::os::fd::OwnedFd::from)
        .map_err(|source| Error::Read { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_normalises_and_validates() {
        let t = Target::new(Path::new("/berth/abc"));
        assert_eq!(t.rel().unwrap(), Path::new("berth/abc"));
        assert_eq!(t.berth_ancestors(), vec![PathBuf::from("berth")]);

        let t = Target::new(Path::new("berth/a/b"));
        assert_eq!(t.berth_ancestors(), vec![PathBuf::from("berth/a"), PathBuf::from("berth")]);

        let t = Target::new(Path::new("/machine.slice/x"));
        assert!(t.berth_ancestors().is_empty());

        let t = Target::new(Path::new("berth/../../etc"));
        let err = t.rel().unwrap_err().to_string();
        assert!(err.contains("\"..\""), "{err}");

        assert!(Target::new(Path::new("/")).rel().is_err());
        assert!(Target::new(Path::new("")).rel().is_err());
    }

    #[test]
    fn flat_keyed() {
        let text = "usage_usec 100\nuser_usec 60\nsystem_usec 40\n";
        assert_eq!(keyed(text, "user_usec"), Some(60));
        assert_eq!(keyed(text, "usage"), None);
        assert_eq!(keyed("populated 1\nfrozen 0\n", "frozen"), Some(0));
    }

    #[test]
    fn write_never_creates_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = set(dir.path(), "memory.max", "1", "linux.resources.memory.limit").unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert_eq!(err.to_string(), "linux.resources.memory.limit: not supported on this host: memory.max is absent");
        assert!(!dir.path().join("memory.max").exists());
    }
}
