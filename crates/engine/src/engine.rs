//! The engine handle: where state lives, and the records in the database.

use std::fs;
use std::path::{Path, PathBuf};

use image::ImageStore;
use runtime::Runtime;

use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::model::{Container, ContainerState};

pub struct Engine {
    root: PathBuf,
    pub(crate) settings: Settings,
    pub(crate) db: Db,
    pub(crate) images: ImageStore,
    pub(crate) runtime: Runtime,
    launcher: Launcher,
}

/// How the engine starts its helper processes (a container's monitor, a
/// network's DNS server): `exe PREFIX… KIND ARG`. By default the running
/// binary itself, as `berth --root ROOT internal KIND ARG`.
#[derive(Clone, Debug)]
pub struct Launcher {
    pub exe: PathBuf,
    pub prefix: Vec<std::ffi::OsString>,
}

impl Launcher {
    pub fn command(&self, kind: &str, arg: &str) -> std::process::Command {
        use std::process::Stdio;
        let mut c = std::process::Command::new(&self.exe);
        c.args(&self.prefix).arg(kind).arg(arg).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        c
    }
}

/// Host-wide choices of one state tree, from `<root>/engine.json` when it
/// exists (like dockerd's --bridge and --bip): the default bridge network's
/// Linux bridge and subnet, and the nftables table berth owns. A second
/// state tree beside the first (tests) must pick its own.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub bridge: String,
    pub subnet: String,
    pub nft_table: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bridge: crate::network::DEFAULT_BRIDGE.into(),
            subnet: crate::network::DEFAULT_SUBNET.into(),
            nft_table: "berth".into(),
        }
    }
}

impl Settings {
    pub const FILE: &'static str = "engine.json";

    fn load(root: &Path) -> Result<Settings> {
        let path = root.join(Self::FILE);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }
}

impl Engine {
    /// Opens the engine's state tree (`--root`, default /var/lib/berth).
    pub fn open(root: impl Into<PathBuf>) -> Result<Engine> {
        let root = root.into();
        fs::create_dir_all(root.join("containers"))
            .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        let settings = Settings::load(&root)?;
        if !net::use_table(&settings.nft_table) {
            return Err(Error::Invalid(format!(
                "this process already uses the nftables table {:?}, not {:?}",
                net::nft_table(),
                settings.nft_table
            )));
        }
        let db = Db::open(&root.join("engine.db"))?;
        let images = ImageStore::open(&root)?;
        let runtime = Runtime::new(root.join("runtime"));
        let launcher = Launcher {
            exe: PathBuf::from("/proc/self/exe"),
            prefix: vec!["--root".into(), root.clone().into_os_string(), "internal".into()],
        };
        Ok(Engine { root, settings, db, images, runtime, launcher })
    }

    pub fn launcher(&self) -> &Launcher {
        &self.launcher
    }

    pub fn set_launcher(&mut self, l: Launcher) {
        self.launcher = l;
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The directory of a container's own files (hosts, resolv.conf, logs,
    /// the rootfs mount point).
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    /// The layers (chain ids) a container's root is made of: its image's,
    /// or its own list (build steps).
    pub(crate) fn layers_of(&self, c: &Container) -> Result<Vec<image::Digest>> {
        if c.config.layers.is_empty() {
            return Ok(self.images.resolve(&c.config.image_id)?.chain_ids());
        }
        parse_layers(&c.config.layers)
    }

    /// A container by id, name or unique id prefix.
    pub fn container(&self, key: &str) -> Result<Container> {
        let row = db::find_container(self.db.conn(), key)?.ok_or_else(|| Error::NoSuchContainer(key.to_string()))?;
        let mut c = row_to_container(row)?;
        self.refresh(&mut c);
        Ok(c)
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for row in db::container_rows(self.db.conn())? {
            let mut c = row_to_container(row)?;
            self.refresh(&mut c);
            out.push(c);
        }
        Ok(out)
    }

    /// A recorded "running" whose process and monitor are both gone (a
    /// monitor killed with SIGKILL, a reboot) is shown as it really is:
    /// exited. While the monitor lives, it records the exit itself.
    fn refresh(&self, c: &mut Container) {
        use crate::model::Status;
        if matches!(c.state.status, Status::Running | Status::Paused)
            && !runtime::state::process_alive(c.state.pid, c.state.pid_start)
            && !runtime::state::process_alive(c.state.monitor_pid, c.state.monitor_start)
        {
            c.state.status = Status::Exited;
            c.state.pid = 0;
            if c.state.exit_code == 0 {
                c.state.exit_code = 255;
            }
            if c.state.error.is_empty() {
                c.state.error = "the container's process disappeared".into();
            }
        }
    }

    /// Reads the latest state, changes it, writes it back (in one transaction).
    pub(crate) fn update_state(&mut self, id: &str, f: impl FnOnce(&mut ContainerState)) -> Result<ContainerState> {
        self.db.write(|tx| {
            let row = db::find_container(tx, id)?.ok_or_else(|| Error::NoSuchContainer(id.to_string()))?;
            let mut state: ContainerState = db::from_json(&row.3)?;
            f(&mut state);
            db::update_state(tx, id, &db::to_json(&state)?)?;
            Ok(state)
        })
    }
}

pub(crate) fn parse_layers(layers: &[String]) -> Result<Vec<image::Digest>> {
    layers.iter().map(|l| l.parse::<image::Digest>().map_err(|e| Error::Invalid(format!("layer {l}: {e}")))).collect()
}

pub(crate) fn row_to_container(row: db::Row) -> Result<Container> {
    Ok(Container {
        id: row.0,
        name: row.1,
        config: db::from_json(&row.2)?,
        state: db::from_json(&row.3)?,
        created: row.4,
    })
}

/// Now, RFC 3339 with nanoseconds, as docker prints times.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let base = runtime::state::rfc3339(d.as_secs());
    format!("{}.{:09}Z", base.trim_end_matches('Z'), d.subsec_nanos())
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Seconds since the epoch as RFC 3339.
pub fn rfc3339_secs(secs: i64) -> String {
    runtime::state::rfc3339(secs.max(0) as u64)
}

/// Seconds since the epoch of an RFC 3339 timestamp (with an offset, or
/// none for UTC, as docker's `--since` accepts).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t.as_second());
    }
    let civil = s.parse::<jiff::civil::DateTime>().ok()?;
    civil.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_second())
}
