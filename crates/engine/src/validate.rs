//! What a container's configuration may say, checked once for every
//! frontend (the CLI, the Docker API, compose, the builder) in dockerd's
//! words, before anything is created.

use crate::error::{Error, Result};
use crate::model::{ContainerConfig, Mount, NetworkMode, Resources, RestartPolicy};

/// The smallest memory limit dockerd accepts.
pub const MIN_MEMORY: i64 = 6 << 20;

impl Resources {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Invalid(m.into()));
        if self.memory.is_some_and(|m| m < MIN_MEMORY) {
            return bad("Minimum memory limit allowed is 6MB");
        }
        if let Some(swap) = self.memory_swap.filter(|s| *s != -1) {
            match self.memory {
                None => return bad("You should always set the Memory limit when using Memoryswap limit, see usage"),
                Some(m) if swap < m => {
                    return bad("Minimum memoryswap limit should be larger than memory limit, see usage")
                }
                Some(_) => {}
            }
        }
        if let Some(cpus) = self.cpus {
            let host = std::thread::available_parallelism().map_or(1, |n| n.get());
            if !(cpus > 0.0 && cpus <= host as f64) {
                return Err(Error::Invalid(format!(
                    "Range of CPUs is from 0.01 to {host}.00, as there are only {host} CPUs available"
                )));
            }
        }
        Ok(())
    }
}

impl ContainerConfig {
    /// Checks the options against each other and against what the host
    /// can do; the image's part is checked when it is merged in (create).
    pub fn validate(&self) -> Result<()> {
        let invalid = |m: String| Err(Error::Invalid(m));
        self.resources.validate()?;
        if self.auto_remove && self.restart != RestartPolicy::No {
            return invalid("conflicting options: cannot specify both --restart and --rm".into());
        }
        if matches!(self.network, Some(NetworkMode::None)) && (!self.ports.is_empty() || self.publish_all) {
            return invalid("conflicting options: port publishing and the container type network mode".into());
        }
        for m in &self.mounts {
            if !m.target().starts_with('/') {
                return invalid(format!("invalid mount config: mount path must be absolute: {}", m.target()));
            }
            if let Mount::Bind { source, .. } = m {
                if !source.starts_with('/') {
                    return invalid(format!("invalid mount config: bind source path must be absolute: {source}"));
                }
            }
        }
        if let Some(s) = &self.stop_signal {
            crate::ops::parse_signal(s)?;
        }
        if let Some(h) = &self.healthcheck {
            for (what, secs) in [("Interval", h.interval_secs), ("Timeout", h.timeout_secs)] {
                if secs != 0.0 && secs < 0.001 {
                    return invalid(format!("{what} in Healthcheck cannot be less than 1ms"));
                }
            }
            if h.start_period_secs < 0.0 {
                return invalid("StartPeriod in Healthcheck cannot be negative".into());
            }
        }
        match self.ipc.as_deref() {
            None | Some("" | "host" | "private" | "shareable" | "none") => {}
            Some(m) if m.strip_prefix("container:").is_some_and(|c| !c.is_empty()) => {}
            Some(m) => return invalid(format!("invalid IPC mode: {m}")),
        }
        match self.pid.as_deref() {
            None | Some("" | "host") => {}
            Some(m) if m.strip_prefix("container:").is_some_and(|c| !c.is_empty()) => {}
            Some(m) => return invalid(format!("invalid PID mode: {m}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Healthcheck, PortSpec};

    fn config() -> ContainerConfig {
        ContainerConfig { image: "bb".into(), ..Default::default() }
    }

    fn refused(c: &ContainerConfig) -> String {
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn memory_limits_follow_dockerd() {
        let mut c = config();
        c.resources.memory = Some(4 << 20);
        assert!(refused(&c).contains("Minimum memory limit allowed is 6MB"));
        c.resources.memory = Some(MIN_MEMORY);
        c.validate().unwrap();
        c.resources.memory_swap = Some(MIN_MEMORY - 1);
        assert!(refused(&c).contains("memoryswap limit should be larger"));
        c.resources.memory_swap = Some(-1);
        c.validate().unwrap();
        c.resources.memory = None;
        c.resources.memory_swap = Some(MIN_MEMORY);
        assert!(refused(&c).contains("always set the Memory limit"));
    }

    #[test]
    fn cpus_beyond_the_host_are_refused() {
        let mut c = config();
        c.resources.cpus = Some(10_000.0);
        assert!(refused(&c).starts_with("Range of CPUs is from 0.01 to"), "{}", refused(&c));
        c.resources.cpus = Some(0.0);
        assert!(c.validate().is_err());
        c.resources.cpus = Some(0.5);
        c.validate().unwrap();
    }

    #[test]
    fn options_that_contradict_each_other() {
        let mut c = config();
        c.auto_remove = true;
        c.restart = RestartPolicy::Always;
        assert!(refused(&c).contains("cannot specify both --restart and --rm"));

        let mut c = config();
        c.network = Some(NetworkMode::None);
        c.ports.push(PortSpec { host_ip: None, host_port: Some(80), container_port: 80, protocol: "tcp".into() });
        assert!(refused(&c).contains("port publishing"));
    }

    #[test]
    fn mounts_signals_health_and_namespace_modes() {
        let mut c = config();
        c.mounts.push(Mount::Tmpfs { target: "relative".into(), options: vec![] });
        assert!(refused(&c).contains("mount path must be absolute: relative"));

        let mut c = config();
        c.stop_signal = Some("SIGNOPE".into());
        assert_eq!(refused(&c), "Invalid signal: SIGNOPE");

        let mut c = config();
        c.healthcheck = Some(Healthcheck { test: vec!["NONE".into()], interval_secs: 0.0001, ..Default::default() });
        assert!(refused(&c).contains("Interval in Healthcheck cannot be less than 1ms"));

        let mut c = config();
        c.ipc = Some("bogus".into());
        assert_eq!(refused(&c), "invalid IPC mode: bogus");
        c.ipc = Some("container:web".into());
        c.pid = Some("container:".into());
        assert_eq!(refused(&c), "invalid PID mode: container:");
    }
}
