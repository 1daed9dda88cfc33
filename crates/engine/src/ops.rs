//! Operations on existing containers: stop, kill, remove, wait, pause,
//! rename, exec, prune.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use crate::db;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{Container, Mount, RestartPolicy, Status};

/// A signal by name or number ("SIGTERM", "TERM", "15", "SIGRTMIN+1"),
/// refused in dockerd's words.
pub fn parse_signal(s: &str) -> Result<i32> {
    sys::signal::parse(s).map_err(|_| Error::Invalid(format!("Invalid signal: {s}")))
}

/// What `wait` waits for (dockerd's `condition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    /// Returns at once for a container not running, else at its next stop.
    NotRunning,
    /// The next stop, even of a container not running now.
    NextExit,
    /// Its removal.
    Removed,
}

impl std::str::FromStr for WaitCondition {
    type Err = Error;

    fn from_str(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(Error::Invalid(format!("invalid condition: {s:?}"))),
        }
    }
}

/// A wait in progress (see `Engine::wait_begin`).
#[derive(Clone, Debug)]
pub struct Waiter {
    pub id: String,
    cond: WaitCondition,
    /// The last event before the wait began.
    seq: i64,
    done_at_once: bool,
    /// The exit code it had when the wait began.
    code: i32,
}

impl Engine {
    fn running(&self, key: &str) -> Result<Container> {
        let c = self.container(key)?;
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(Error::Conflict(format!("Container {} is not running", c.id)));
        }
        Ok(c)
    }

    /// Sends `signal` to the container's init; marks the stop as the
    /// user's (no restart) unless `keep_restart`.
    pub fn kill(&mut self, key: &str, signal: i32, by_user: bool) -> Result<()> {
        let c = self.running(key)?;
        if by_user {
            self.update_state(&c.id, |s| s.stopped_by_user = true)?;
        }
        if c.state.status == Status::Paused && signal == libc::SIGKILL {
            let _ = self.runtime.resume(&c.id);
        }
        self.runtime.kill(&c.id, signal, false)?;
        self.emit_container(&c, "kill", &[("signal", signal.to_string())]);
        if signal == libc::SIGKILL {
            // As dockerd: a SIGKILL returns once the container is dead, so
            // an inspect right after sees it exited. Other signals may be
            // handled (or ignored): they return at once.
            self.wait_recorded_exit(&c, Duration::from_secs(30))?;
        }
        Ok(())
    }

    /// Waits until the monitor has recorded the end of the run `c` saw:
    /// the container is no longer running, or runs again as another init
    /// (restarted by its policy).
    fn wait_recorded_exit(&self, c: &Container, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = match self.container(&c.id) {
                Ok(now) => now,
                Err(Error::NoSuchContainer(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            let same_run = now.state.pid == c.state.pid && now.state.pid_start == c.state.pid_start;
            if !matches!(now.state.status, Status::Running | Status::Paused) || !same_run {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Invalid(format!("container {} did not die after SIGKILL", c.name)));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// docker stop: the stop signal (the container's, or `signal`), then
    /// SIGKILL after `timeout` seconds. Stopping a container that is not
    /// running does nothing.
    pub fn stop(&mut self, key: &str, timeout: Option<u32>, signal: Option<i32>) -> Result<()> {
        let c = self.container(key)?;
        if !matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
            return Ok(());
        }
        self.update_state(&c.id, |s| s.stopped_by_user = true)?;
        if c.state.status == Status::Restarting {
            return self.wait_not_running(&c.id, Duration::from_secs(15));
        }
        let sig = match signal {
            Some(s) => s,
            None => parse_signal(c.config.stop_signal.as_deref().unwrap_or("SIGTERM"))?,
        };
        if c.state.status == Status::Paused {
            let _ = self.runtime.resume(&c.id);
        }
        let _ = self.runtime.kill(&c.id, sig, false);
        self.emit_container(&c, "kill", &[("signal", sig.to_string())]);
        let grace = Duration::from_secs(timeout.or(c.config.stop_timeout).unwrap_or(10) as u64);
        if !self.wait_exit(&c, grace) {
            let _ = self.runtime.kill(&c.id, libc::SIGKILL, true);
            self.emit_container(&c, "kill", &[("signal", libc::SIGKILL.to_string())]);
        }
        self.wait_not_running(&c.id, Duration::from_secs(15))?;
        self.emit_container(&c, "stop", &[]);
        Ok(())
    }

    /// Waits until the init process is gone (not the record).
    fn wait_exit(&self, c: &Container, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while runtime::state::process_alive(c.state.pid, c.state.pid_start) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Waits until the monitor has recorded the exit.
    fn wait_not_running(&self, id: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.container(id)?;
            if !matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Invalid(format!("container {} did not stop", c.name)));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// docker wait: blocks until the container is not running; its exit code.
    pub fn wait(&self, key: &str) -> Result<i32> {
        let w = self.wait_begin(key, WaitCondition::NotRunning)?;
        loop {
            if let Some(code) = self.wait_poll(&w)? {
                return Ok(code);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a wait for `cond`: what was the case when it was asked is
    /// kept, so exits in between polls are never missed (a container
    /// restarted by its policy is running again by the next look; its
    /// `die` event says it stopped).
    pub fn wait_begin(&self, key: &str, cond: WaitCondition) -> Result<Waiter> {
        let seq = self.last_event_seq()?;
        let c = self.container(key)?;
        let stopped_now = matches!(c.state.status, Status::Exited | Status::Dead | Status::Created);
        Ok(Waiter {
            id: c.id,
            cond,
            seq,
            done_at_once: stopped_now && cond == WaitCondition::NotRunning,
            code: c.state.exit_code,
        })
    }

    /// Whether the wait is over: the exit code, once it is.
    pub fn wait_poll(&self, w: &Waiter) -> Result<Option<i32>> {
        if w.done_at_once {
            return Ok(Some(w.code));
        }
        let mut died = None;
        let mut destroyed = false;
        for ev in self.events_since(w.seq)? {
            if ev.kind != "container" || ev.actor != w.id {
                continue;
            }
            match ev.action.as_str() {
                "die" => {
                    let code = ev.attributes.get("exitCode").and_then(|x| x.parse::<i32>().ok()).unwrap_or(w.code);
                    // The first stop ends the stopping conditions; removed
                    // reports the last one before the removal.
                    if w.cond != WaitCondition::Removed {
                        return Ok(Some(code));
                    }
                    died = Some(code);
                }
                "destroy" => destroyed = true,
                _ => {}
            }
        }
        let gone = destroyed
            || match self.container(&w.id) {
                Ok(_) => false,
                Err(Error::NoSuchContainer(_)) => true,
                Err(e) => return Err(e),
            };
        // Removed without a stop seen (never started, or removed at
        // once): the code it had.
        Ok(gone.then(|| died.unwrap_or(w.code)))
    }
    /// docker rm: a running container only with `force` (it is killed).
    /// `volumes` also removes its anonymous volumes.
    pub fn remove(&mut self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.container(key)?;
        if matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting) {
            if !force {
                return Err(Error::Conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            self.update_state(&c.id, |s| s.stopped_by_user = true)?;
            if c.state.status == Status::Paused {
                let _ = self.runtime.resume(&c.id);
            }
            let _ = self.runtime.kill(&c.id, libc::SIGKILL, true);
            let _ = self.wait_not_running(&c.id, Duration::from_secs(15));
        }
        // Whatever a dead monitor left behind.
        let _ = self.runtime.delete(&c.id, true);
        self.unwire_network(&c, &[]);
        let snap = image::snapshot::for_host(&self.images)?;
        snap.remove(&c.id)?;
        let dir = self.container_dir(&c.id);
        db::delete_container(self.db.conn(), &c.id)?;
        self.emit_container(&c, "destroy", &[]);
        runtime::timing::mark("engine: removed");
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("removing {}", dir.display()), e))
            }
            _ => {}
        }
        if volumes {
            for m in &c.config.mounts {
                if let Mount::Volume { name, anonymous: true, .. } = m {
                    let _ = self.volume_remove(name, false);
                }
            }
        }
        Ok(())
    }

    pub fn pause(&mut self, key: &str) -> Result<()> {
        let c = self.running(key)?;
        if c.state.status == Status::Paused {
            return Err(Error::Conflict(format!("Container {} is already paused", c.id)));
        }
        self.runtime.pause(&c.id)?;
        self.update_state(&c.id, |s| s.status = Status::Paused)?;
        self.emit_container(&c, "pause", &[]);
        Ok(())
    }

    pub fn unpause(&mut self, key: &str) -> Result<()> {
        let c = self.container(key)?;
        if c.state.status != Status::Paused {
            return Err(Error::Conflict(format!("Container {} is not paused", c.id)));
        }
        self.runtime.resume(&c.id)?;
        self.update_state(&c.id, |s| s.status = Status::Running)?;
        self.emit_container(&c, "unpause", &[]);
        Ok(())
    }

    pub fn rename(&mut self, key: &str, new_name: &str) -> Result<()> {
        let c = self.container(key)?;
        crate::names::check_name(new_name).map_err(Error::Invalid)?;
        self.db
            .conn()
            .execute("UPDATE containers SET name = ?2 WHERE id = ?1", rusqlite::params![c.id, new_name])
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Error::Conflict(format!(
                    "Error when allocating new name: Conflict. The container name \"/{new_name}\" is already in use"
                ))
                }
                e => Error::Db(e.to_string()),
            })?;
        let mut renamed = c.clone();
        renamed.name = new_name.to_string();
        self.emit_container(&renamed, "rename", &[("oldName", format!("/{}", c.name))]);
        Ok(())
    }

    /// docker update: new resource limits (and restart policy) for a
    /// container, applied to its cgroup at once when it runs and kept for
    /// its next starts. Fields left `None` keep their values.
    pub fn update(&mut self, key: &str, u: &crate::model::Resources, restart: Option<RestartPolicy>) -> Result<()> {
        let c = self.container(key)?;
        let mut config = c.config.clone();
        let r = &mut config.resources;
        r.memory = u.memory.or(r.memory);
        r.memory_swap = u.memory_swap.or(r.memory_swap);
        r.cpus = u.cpus.or(r.cpus);
        r.cpu_shares = u.cpu_shares.or(r.cpu_shares);
        r.pids_limit = u.pids_limit.or(r.pids_limit);
        r.cpuset_cpus = u.cpuset_cpus.clone().or(r.cpuset_cpus.take());
        r.cpuset_mems = u.cpuset_mems.clone().or(r.cpuset_mems.take());
        if let (Some(m), Some(s)) = (r.memory, r.memory_swap) {
            if s != -1 && s < m {
                return Err(Error::Invalid(
                    "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into(),
                ));
            }
        }
        config.resources.validate()?;
        if let Some(p) = restart {
            if config.auto_remove && p != RestartPolicy::No {
                return Err(Error::Invalid(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
            config.restart = p;
        }
        if matches!(c.state.status, Status::Running | Status::Paused) {
            // Only what this update names is written to the cgroup.
            let v = crate::spec::limits(u);
            let res: runtime::oci_spec::runtime::LinuxResources =
                serde_json::from_value(v).map_err(|e| Error::Invalid(format!("resource limits: {e}")))?;
            self.runtime.update(&c.id, &res)?;
        }
        db::update_config(self.db.conn(), &c.id, &db::to_json(&config)?)?;
        self.emit_container(&c, "update", &[]);
        Ok(())
    }

    /// Sets a running container's terminal size (docker's resize). The
    /// container's stdin is its terminal: setting the size there reaches
    /// the terminal's master held by the monitor, and the kernel sends the
    /// foreground process SIGWINCH.
    pub fn resize(&mut self, key: &str, rows: u16, cols: u16) -> Result<()> {
        let c = self.running(key)?;
        if !c.config.tty {
            return Err(Error::Invalid(format!("container {} has no terminal to resize", c.id)));
        }
        let path = format!("/proc/{}/fd/0", c.state.pid);
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .map_err(|e| Error::io(format!("opening the terminal of {}", c.id), e))?;
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer; the fd is open.
        if unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&tty), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(Error::io(format!("resizing the terminal of {}", c.id), std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Runs another process in a running container (docker exec). The
    /// process template is the container's own; `args`, `env`, `user`,
    /// `workdir`, `tty` override it. Foreground: the exit code.
    pub fn exec(&mut self, key: &str, e: &ExecRequest) -> Result<runtime::ExecOutcome> {
        let c = self.container(key)?;
        if c.state.status != Status::Running {
            return Err(Error::Conflict(format!("Container {} is not running", c.id)));
        }
        let spec = runtime::spec::load(&self.runtime.store().dir(&c.id).join(runtime::state::CONFIG_FILE))?;
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_args(Some(e.args.clone()));
        p.set_terminal(Some(e.tty));
        p.set_console_size(None);
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &e.env {
            let key = kv.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
        if let Some(w) = &e.workdir {
            p.set_cwd(w.into());
        }
        if let Some(u) = &e.user {
            let layers = self.layers_of(&c)?;
            let upper = image::snapshot::for_host(&self.images)?.upper(&c.id);
            let read = |path: &str| {
                self.images
                    .read_image_file(&layers, Some(&upper), path, 4 << 20)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            };
            let (uid, gid, extra) = crate::spec::resolve_user(u, &read("/etc/passwd"), &read("/etc/group"))?;
            let user = p.user_mut();
            user.set_uid(uid);
            user.set_gid(gid);
            user.set_additional_gids(Some(extra));
        }
        let opts = runtime::ExecOptions {
            process: p,
            console_socket: None,
            pid_file: None,
            detach: e.detach,
            preserve_fds: 0,
            stdio: e.stdio,
        };
        self.emit_container(&c, &format!("exec_start: {}", e.args.join(" ")), &[]);
        self.runtime.exec(&c.id, &opts).map_err(|e| Error::from(e).classify_start())
    }

    /// Removes every stopped container. Returns their ids and the bytes
    /// their writable layers held.
    pub fn prune(&mut self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let snap = image::snapshot::for_host(&self.images)?;
        for c in self.containers()? {
            if matches!(c.state.status, Status::Exited | Status::Dead | Status::Created) {
                let bytes = disk_usage(&snap.upper(&c.id));
                self.remove(&c.id, false, false)?;
                out.push((c.id, bytes));
            }
        }
        Ok(out)
    }
}

#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub detach: bool,
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
}

/// Bytes of the files under `dir` as allocated on disk (symlinks not
/// followed, hard-linked files counted once).
pub fn disk_usage(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for entry in rd.flatten() {
            let Ok(md) = entry.metadata() else { continue };
            if md.is_dir() {
                stack.push(entry.path());
            } else if md.nlink() <= 1 || seen.insert((md.dev(), md.ino())) {
                total += md.blocks() * 512;
            }
        }
    }
    total
}

impl Engine {
    /// `system reset`: every container (killed), user network, the default
    /// bridge's link and rules, and every volume. Images stay (the caller
    /// removes them through the image store). Returns what failed, if
    /// anything, after trying everything.
    pub fn reset(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        for c in self.containers().unwrap_or_default() {
            if let Err(e) = self.remove(&c.id, true, true) {
                failures.push(format!("container {}: {e}", c.name));
            }
        }
        for n in self.networks().unwrap_or_default() {
            if matches!(n.name.as_str(), "host" | "none") {
                continue;
            }
            let result = if n.name == "bridge" {
                n.bridge_spec().and_then(|s| {
                    net::remove_bridge(&s).map_err(|e| Error::Invalid(format!("removing bridge {}: {e}", n.bridge)))
                })
            } else {
                self.network_remove(&n.id)
            };
            if let Err(e) = result {
                failures.push(format!("network {}: {e}", n.name));
            }
        }
        for v in self.volumes().unwrap_or_default() {
            if let Err(e) = self.volume_remove(&v.name, true) {
                failures.push(format!("volume {}: {e}", v.name));
            }
        }
        failures
    }
}
