//! Health checks, run by the monitor: the check command is exec'd in the
//! container on its interval, with a timeout; `retries` failures in a row
//! make the container unhealthy, a success makes it healthy again.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::engine::{now_rfc3339, Engine};
use crate::model::{Container, HealthResult, Healthcheck};

pub struct Schedule {
    check: Option<Healthcheck>,
    next: Instant,
    started: Instant,
}

impl Schedule {
    pub fn new(c: &Container) -> Schedule {
        let check = c.config.healthcheck.clone().filter(|h| !h.test.is_empty() && h.test[0] != "NONE");
        let interval = check.as_ref().map_or(Duration::from_secs(3600), |h| secs(h.interval_secs));
        let now = Instant::now();
        Schedule { check, next: now + interval, started: now }
    }

    /// Milliseconds until the next check (a long time without checks).
    pub fn next_in_ms(&self) -> i32 {
        if self.check.is_none() {
            return i32::MAX;
        }
        self.next.saturating_duration_since(Instant::now()).as_millis().min(i32::MAX as u128) as i32
    }

    pub fn due(&self) -> bool {
        self.check.is_some() && Instant::now() >= self.next
    }

    /// Runs one check and records its result.
    pub fn run(&mut self, engine: &mut Engine, c: &Container) {
        let Some(h) = self.check.clone() else { return };
        self.next = Instant::now() + secs(h.interval_secs);
        let start = now_rfc3339();
        let (exit_code, output) = exec_check(engine, c, &h);
        let result = HealthResult { start, end: now_rfc3339(), exit_code, output };
        let in_start_period = self.started.elapsed() < Duration::from_secs_f64(h.start_period_secs.max(0.0));
        let before = engine.container(&c.id).ok().and_then(|x| x.state.health).map(|h| h.status);
        let after = engine.update_state(&c.id, |s| {
            let st = s.health.get_or_insert_with(Default::default);
            if result.exit_code == 0 {
                st.status = "healthy".into();
                st.failing_streak = 0;
            } else if !in_start_period {
                st.failing_streak += 1;
                if st.failing_streak >= h.retries.max(1) {
                    st.status = "unhealthy".into();
                }
            }
            st.log.push(result);
            // Docker keeps the last five results.
            let n = st.log.len();
            if n > 5 {
                st.log.drain(..n - 5);
            }
        });
        if let Ok(Some(h)) = after.map(|s| s.health) {
            if before.as_deref() != Some(h.status.as_str()) {
                engine.emit_container(c, &format!("health_status: {}", h.status), &[]);
            }
        }
    }
}

/// An interval or timeout; 0 (unset) is docker's default of 30 s.
fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s > 0.0 { s } else { 30.0 })
}

/// Exec's the check in the container; (exit code, first 4 KiB of output).
/// A check that runs past its timeout is killed and counts as failed (-1).
fn exec_check(engine: &Engine, c: &Container, h: &Healthcheck) -> (i32, String) {
    let args: Vec<String> = match h.test.first().map(String::as_str) {
        Some("CMD") => h.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
        _ => h.test.clone(),
    };
    let spec = match runtime::spec::load(&engine.runtime().store().dir(&c.id).join(runtime::state::CONFIG_FILE)) {
        Ok(s) => s,
        Err(e) => return (-1, format!("health check: {e}")),
    };
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(args));
    process.set_terminal(Some(false));
    let Ok((mut out_r, out_w)) = crate::start::pipe() else { return (-1, "health check: no pipe".into()) };
    let Ok(null) = std::fs::File::open("/dev/null") else { return (-1, "health check: no /dev/null".into()) };
    let opts = runtime::ExecOptions {
        process,
        console_socket: None,
        pid_file: None,
        detach: true,
        preserve_fds: 0,
        stdio: Some([null.as_raw_fd(), out_w.as_raw_fd(), out_w.as_raw_fd()]),
    };
    let pid = match engine.runtime().exec(&c.id, &opts) {
        Ok(runtime::ExecOutcome::Detached(pid)) => pid,
        Ok(runtime::ExecOutcome::Exited(code)) => return (code, String::new()),
        Err(e) => return (-1, format!("health check: {e}")),
    };
    drop(out_w);
    let deadline = Instant::now() + secs(h.timeout_secs);
    let code = loop {
        match sys::waitpid(pid, libc::WNOHANG) {
            Ok((p, st)) if p == pid => break sys::exit_code(st),
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(_) => {
                // SAFETY: signalling and reaping our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = sys::waitpid(pid, 0);
                return (-1, format!("Health check exceeded timeout ({:?})", secs(h.timeout_secs)));
            }
            Err(_) => break -1,
        }
    };
    let mut out = Vec::new();
    let _ = (&mut out_r).take(4096).read_to_end(&mut out);
    (code, String::from_utf8_lossy(&out).into_owned())
}
