//! state, list, kill, delete, pause, resume, stats.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::Runtime;
use crate::error::{Context, Error, Result};
use crate::state::{self, Record, Status};

impl Runtime {
    /// The record of `id` and its live status (see
    /// [`Store::status`](crate::state::Store::status)).
    pub fn state(&self, id: &str) -> Result<(Record, Status)> {
        let rec = self.store.load(id)?;
        let status = self.status(&rec);
        Ok((rec, status))
    }

    /// The OCI state document, as `state` prints it.
    pub fn state_json(&self, id: &str) -> Result<String> {
        let (rec, status) = self.state(id)?;
        let doc: serde_json::Value =
            serde_json::from_str(&rec.oci_state(status)).map_err(|e| Error::Init(e.to_string()))?;
        serde_json::to_string_pretty(&doc).map_err(|e| Error::Init(e.to_string()))
    }

    /// Every container under the root with its status, by id; one that
    /// disappears while listing is left out.
    pub fn list(&self) -> Result<Vec<(Record, Status)>> {
        let mut out = Vec::new();
        for id in self.store.ids()? {
            // A container deleted while we list is simply gone.
            if let Ok(s) = self.state(&id) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Sends `signal` to the init, or with `all` to every process of the container.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let (rec, status) = self.state(id)?;
        if status == Status::Stopped {
            return Err(Error::WrongState { id: id.into(), action: "kill", status: status.to_string() });
        }
        if all {
            let cg = self.cgroup(&rec)?;
            for pid in cg.procs()? {
                // SAFETY: plain kill; a process that exited meanwhile is ESRCH.
                unsafe { libc::kill(pid, signal) };
            }
            return Ok(());
        }
        signal_init(&rec, signal)
    }

    /// Removes a container. A running one only with `force` (it is killed).
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let rec = match self.store.load(id) {
            Ok(r) => r,
            // A create that was killed before it finished leaves a directory
            // without state.json: --force cleans up what it may have made.
            Err(Error::NotFound(_) | Error::Config { .. }) if force && self.store.dir(id).is_dir() => {
                let spec = super::load_saved_spec(&self.store, id).ok();
                let path = super::cgroup_path(spec.as_ref().and_then(|s| s.linux().as_ref()), id);
                let cg = cgroups::manager(&cgroups::Layout::detect()?, &path);
                cg.kill_all()?;
                cg.destroy()?;
                return self.store.remove(id);
            }
            Err(e) => return Err(e),
        };
        let status = self.status(&rec);
        if matches!(status, Status::Running | Status::Paused) && !force {
            return Err(Error::WrongState {
                id: id.into(),
                action: "delete",
                status: format!("{status} (use --force)"),
            });
        }
        let cg = self.cgroup(&rec)?;
        if status != Status::Stopped {
            // SIGKILL to everything in the cgroup (a frozen cgroup is thawed
            // by kill_all so the signal can land), then wait for the init.
            cg.kill_all()?;
            let _ = signal_init(&rec, libc::SIGKILL);
            wait_gone(&rec, Duration::from_secs(10))?;
        } else {
            // Stragglers of a container without its own pid namespace.
            cg.kill_all()?;
        }
        if rec.cgroup_owned {
            cg.destroy()?;
        }
        if rec.host_mounts {
            crate::rootfs::detach_host_mounts(&rec.rootfs)
                .map_err(|e| Error::Init(format!("detaching the mounts below {}: {e}", rec.rootfs.display())))?;
        }
        let poststop = super::load_saved_spec(&self.store, id)
            .ok()
            .and_then(|spec| crate::hooks::Hooks::from_spec(&spec).ok())
            .map(|h| h.poststop)
            .unwrap_or_default();
        self.store.remove(id)?;
        crate::hooks::run_warning(&poststop, rec.oci_state(Status::Stopped).as_bytes());
        Ok(())
    }

    /// Freezes a running container's cgroup; its processes stop being
    /// scheduled until [`Runtime::resume`].
    pub fn pause(&self, id: &str) -> Result<()> {
        let (rec, status) = self.state(id)?;
        if status != Status::Running {
            return Err(Error::WrongState { id: id.into(), action: "pause", status: status.to_string() });
        }
        Ok(self.cgroup(&rec)?.freeze()?)
    }

    /// Changes a running (or paused) container's cgroup limits, as
    /// `runc update`: only the fields set in `resources` are written.
    pub fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let (rec, status) = self.state(id)?;
        if !matches!(status, Status::Running | Status::Paused) {
            return Err(Error::WrongState { id: id.into(), action: "update", status: status.to_string() });
        }
        Ok(self.cgroup(&rec)?.apply(resources)?)
    }

    /// Thaws a paused container's cgroup.
    pub fn resume(&self, id: &str) -> Result<()> {
        let (rec, status) = self.state(id)?;
        if status != Status::Paused {
            return Err(Error::WrongState { id: id.into(), action: "resume", status: status.to_string() });
        }
        Ok(self.cgroup(&rec)?.thaw()?)
    }

    /// The cgroup's statistics (CPU, memory, pids, I/O) in any state, as long
    /// as its record and cgroup exist.
    pub fn stats(&self, id: &str) -> Result<cgroups::Stats> {
        let rec = self.store.load(id)?;
        Ok(self.cgroup(&rec)?.stats()?)
    }

    /// Every process in the container's cgroup (host pids).
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let rec = self.store.load(id)?;
        Ok(self.cgroup(&rec)?.procs()?)
    }

    pub(crate) fn cgroup(&self, rec: &Record) -> Result<Box<dyn cgroups::CgroupManager>> {
        let layout = cgroups::Layout::detect()?;
        Ok(cgroups::manager(&layout, &rec.cgroup_path))
    }
}

/// Signals the init through a pidfd after checking its start time, so a
/// recycled pid is never hit.
fn signal_init(rec: &Record, signal: i32) -> Result<()> {
    let pidfd = sys::pidfd_open(rec.pid).with_ctx(|| format!("container {:?}: init process {}", rec.id, rec.pid))?;
    if !state::process_alive(rec.pid, rec.start_time) {
        return Err(Error::WrongState { id: rec.id.clone(), action: "kill", status: "stopped".into() });
    }
    sys::pidfd_send_signal(pidfd.as_raw_fd(), signal).with_ctx(|| format!("sending signal {signal} to {}", rec.pid))
}

/// Waits until the init has exited (it is not our child: poll /proc).
fn wait_gone(rec: &Record, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while state::process_alive(rec.pid, rec.start_time) {
        if Instant::now() > deadline {
            return Err(Error::Init(format!("container {:?}: init {} did not exit after SIGKILL", rec.id, rec.pid)));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}
