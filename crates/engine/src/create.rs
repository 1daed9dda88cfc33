//! create: resolve the image (pulling it if missing), merge its config with
//! the user's options, prepare the snapshot, and record the container.

use std::fs;

use image::config::ImageConfig;

use crate::db;
use crate::engine::{now_secs, Engine};
use crate::error::{Error, Result};
use crate::model::{Container, ContainerConfig, ContainerState, Healthcheck, Mount, NetworkMode};
use crate::names;
use crate::pull::PullPolicy;

impl Engine {
    /// Creates a container from `config` (image and user options; the rest is
    /// filled in from the image) named `name` (random if None).
    pub fn create(&mut self, name: Option<&str>, mut config: ContainerConfig, pull: PullPolicy) -> Result<Container> {
        let name = match name {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                names::check_name(n).map_err(Error::Invalid)?;
                Some(n.to_string())
            }
            None => None,
        };
        config.validate()?;
        match &config.network {
            Some(NetworkMode::Networks(list)) => {
                for a in list {
                    let n = self
                        .network(&a.network)
                        .map_err(|_| Error::NotFound(format!("network {} not found", a.network)))?;
                    crate::network::check_endpoint(&n, a)?;
                }
            }
            Some(NetworkMode::Container(other)) => {
                self.container(other)?;
            }
            _ => {}
        }
        runtime::timing::mark("engine: create");
        let record = self.image_for(&config.image, pull)?;
        let image_config = ImageConfig::parse(&self.images.content().read(&record.id)?, &record.id)?;
        resolve_from_image(&mut config, &image_config)?;
        config.image_id = record.id.to_string();
        self.store_new(name, config, &record.chain_ids())
    }

    /// Prepares the writable layer on `layers` and records the container
    /// under `name`, or a name drawn at random.
    fn store_new(
        &mut self,
        name: Option<String>,
        config: ContainerConfig,
        layers: &[image::Digest],
    ) -> Result<Container> {
        let id = names::new_id();
        let dir = self.container_dir(&id);
        fs::create_dir_all(dir.join("rootfs")).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let undo = |engine: &Engine| {
            let _ = image::snapshot::for_host(&engine.images).map(|s| s.remove(&id));
            let _ = fs::remove_dir_all(engine.container_dir(&id));
        };
        runtime::timing::mark("engine: image config resolved");
        let snap = image::snapshot::for_host(&self.images)?;
        if let Err(e) = snap.prepare(&id, layers) {
            undo(self);
            return Err(e.into());
        }
        let mut container = Container {
            id: id.clone(),
            name: name.clone().unwrap_or_default(),
            created: now_secs(),
            config,
            state: ContainerState::default(),
        };
        let mut row = (
            container.id.clone(),
            container.name.clone(),
            db::to_json(&container.config)?,
            db::to_json(&container.state)?,
            container.created,
        );
        let stored = self.db.write(|tx| match name {
            Some(_) => db::insert_container(tx, &row),
            None => db::insert_with_drawn_name(tx, &mut row, names::random_name_attempt),
        });
        if let Err(e) = stored {
            undo(self);
            return Err(e);
        }
        container.name = row.1;
        runtime::timing::mark("engine: snapshot prepared, container stored");
        self.emit_container(&container, "create", &[]);
        Ok(container)
    }

    /// Creates a container on explicit layers rather than an image: a build
    /// step. `config` must be complete (args, env, workdir…: nothing is
    /// taken from an image); its layers must be unpacked.
    pub fn create_on_layers(&mut self, name: Option<&str>, mut config: ContainerConfig) -> Result<Container> {
        if config.args.is_empty() {
            return Err(Error::Invalid("no command specified".into()));
        }
        config.validate()?;
        let layers = crate::engine::parse_layers(&config.layers)?;
        if config.network.is_none() {
            config.network = Some(NetworkMode::Networks(vec![crate::model::NetworkAttachment {
                network: "bridge".into(),
                ..Default::default()
            }]));
        }
        if config.workdir.is_empty() {
            config.workdir = "/".into();
        }
        self.store_new(name.map(str::to_string), config, &layers)
    }
}

/// Fills in what the user left to the image: the program (docker's
/// entrypoint/cmd rules), environment, working directory, user, exposed
/// ports, volumes, stop signal, labels, health check.
pub fn resolve_from_image(config: &mut ContainerConfig, image: &ImageConfig) -> Result<()> {
    let ic = &image.config;
    let entrypoint = config.entrypoint.clone().or_else(|| ic.entrypoint.clone()).unwrap_or_default();
    // A user entrypoint resets the image's CMD (docker's rule).
    let cmd = match (&config.cmd, &config.entrypoint) {
        (Some(c), _) => c.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => ic.cmd.clone().unwrap_or_default(),
    };
    config.args = entrypoint.into_iter().chain(cmd).collect();
    if config.args.is_empty() {
        return Err(Error::Invalid("no command specified".into()));
    }
    // Image env first, the user's overriding by name.
    let mut env: Vec<String> = ic.env.clone().unwrap_or_default();
    for e in std::mem::take(&mut config.env) {
        let key = e.split('=').next().unwrap_or("").to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={}", runtime::process::plan::DEFAULT_PATH));
    }
    config.env = env;
    if config.workdir.is_empty() {
        config.workdir = ic.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
    }
    if !config.workdir.starts_with('/') {
        return Err(Error::Invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            config.workdir
        )));
    }
    if config.user.is_empty() {
        config.user = ic.user.clone().unwrap_or_default();
    }
    if let Some(ports) = &ic.exposed_ports {
        for p in ports.keys() {
            if !config.exposed_ports.contains(p) {
                config.exposed_ports.push(p.clone());
            }
        }
    }
    // Image VOLUMEs become anonymous volumes unless something is mounted there.
    if let Some(vols) = &ic.volumes {
        for target in vols.keys() {
            if !config.mounts.iter().any(|m| m.target() == target) {
                config.mounts.push(Mount::Volume {
                    name: names::new_id(),
                    target: target.clone(),
                    readonly: false,
                    anonymous: true,
                    subpath: None,
                });
            }
        }
    }
    if config.stop_signal.is_none() {
        config.stop_signal = ic.stop_signal.clone();
    }
    // The image's labels, under the user's.
    for (k, v) in ic.labels.iter().flatten() {
        config.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if config.healthcheck.is_none() {
        if let Some(h) = &ic.healthcheck {
            config.healthcheck = parse_image_healthcheck(h);
        }
    }
    if config.network.is_none() {
        config.network = Some(NetworkMode::Networks(vec![crate::model::NetworkAttachment {
            network: "bridge".into(),
            ..Default::default()
        }]));
    }
    Ok(())
}

/// Docker's image Healthcheck: durations are nanoseconds.
fn parse_image_healthcheck(h: &serde_json::Value) -> Option<Healthcheck> {
    let test: Vec<String> = serde_json::from_value(h.get("Test")?.clone()).ok()?;
    if test.first().map(String::as_str) == Some("NONE") {
        return None;
    }
    let secs =
        |k: &str, default: f64| h.get(k).and_then(|v| v.as_f64()).filter(|&n| n > 0.0).map_or(default, |n| n / 1e9);
    Some(Healthcheck {
        test,
        interval_secs: secs("Interval", 30.0),
        timeout_secs: secs("Timeout", 30.0),
        start_period_secs: secs("StartPeriod", 0.0),
        retries: h.get("Retries").and_then(|v| v.as_u64()).filter(|&n| n > 0).unwrap_or(3) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(json: &str) -> ImageConfig {
        let d = image::Digest::of(b"x");
        ImageConfig::parse(json.as_bytes(), &d).unwrap()
    }

    const IMG: &str = r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
        "config":{"Entrypoint":["/entry"],"Cmd":["serve","--port","80"],"Env":["PATH=/bin","A=1"],
        "WorkingDir":"/app","User":"www","ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"StopSignal":"SIGQUIT"}}"#;

    #[test]
    fn entrypoint_and_cmd_follow_docker() {
        let img = image(IMG);
        let mut c = ContainerConfig::default();
        resolve_from_image(&mut c, &img).unwrap();
        assert_eq!(c.args, ["/entry", "serve", "--port", "80"]);
        let mut c = ContainerConfig { cmd: Some(vec!["debug".into()]), ..Default::default() };
        resolve_from_image(&mut c, &img).unwrap();
        assert_eq!(c.args, ["/entry", "debug"]);
        let mut c = ContainerConfig { entrypoint: Some(vec!["/bin/sh".into()]), ..Default::default() };
        resolve_from_image(&mut c, &img).unwrap();
        assert_eq!(c.args, ["/bin/sh"], "a user entrypoint drops the image CMD");
    }

    #[test]
    fn image_config_fills_the_gaps() {
        let mut c = ContainerConfig { env: vec!["A=2".into(), "B=3".into()], ..Default::default() };
        resolve_from_image(&mut c, &image(IMG)).unwrap();
        assert_eq!(c.env, ["PATH=/bin", "A=2", "B=3"]);
        assert_eq!((c.workdir.as_str(), c.user.as_str()), ("/app", "www"));
        assert_eq!(c.exposed_ports, ["80/tcp"]);
        assert!(matches!(&c.mounts[0], Mount::Volume { target, anonymous: true, .. } if target == "/data"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert!(matches!(c.network, Some(NetworkMode::Networks(_))));
    }

    #[test]
    fn the_image_healthcheck_applies_unless_disabled() {
        let img = image(
            r#"{"rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":["sh"],"Labels":{"a":"1"},
            "Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":2000000000,"Retries":5}}}"#,
        );
        let mut c = ContainerConfig::default();
        resolve_from_image(&mut c, &img).unwrap();
        let h = c.healthcheck.unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "true"]);
        assert_eq!((h.interval_secs, h.timeout_secs, h.retries), (2.0, 30.0, 5));
        assert_eq!(c.labels["a"], "1");
        let none = image(
            r#"{"rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":["sh"],"Healthcheck":{"Test":["NONE"]}}}"#,
        );
        let mut c = ContainerConfig::default();
        resolve_from_image(&mut c, &none).unwrap();
        assert!(c.healthcheck.is_none());
    }

    #[test]
    fn no_command_is_an_error() {
        let img = image(r#"{"rootfs":{"type":"layers","diff_ids":[]}}"#);
        let e = resolve_from_image(&mut ContainerConfig::default(), &img).unwrap_err();
        assert_eq!(e.to_string(), "no command specified");
    }
}
