//! The on-disk record of a container between CLI invocations:
//! `<root>/<id>/state.json` (what `state` prints, plus what `kill`, `exec` and
//! `delete` need), `config.json` (the spec it was created from) and, while the
//! container waits to be started, `exec.fifo`.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// The name of a container's record in its state directory; a directory without
/// one is not a container (a create still under way or a leftover).
pub const STATE_FILE: &str = "state.json";
/// The name of the spec saved in the state directory at create: what start,
/// exec and delete read, never the bundle's config.json, which may have changed
/// since.
pub const CONFIG_FILE: &str = "config.json";
/// The fifo the init of a created (not yet started) container blocks on;
/// `start` writes to it and removes it, so its presence is what makes the
/// status `created`.
pub const FIFO_FILE: &str = "exec.fifo";

/// A container's status, as the OCI runtime spec names them (serialized in
/// lowercase).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created: the status in the state the prestart and createRuntime
    /// hooks get; `state` never reports it.
    Creating,
    /// Created: the init is set up and waits on the exec fifo for `start`.
    Created,
    /// The init is alive, past the exec fifo, and its cgroup is not frozen.
    Running,
    /// Its cgroup is frozen.
    Paused,
    /// The init has exited (or its pid now belongs to another process); only
    /// `delete` is left.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // pad, not write_str: table columns use width specifiers.
        f.pad(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What berth records about a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// The container id, as checked by [`check_id`].
    pub id: String,
    /// The init's pid in the runtime's pid namespace; only meaningful together
    /// with `start_time`.
    pub pid: i32,
    /// Start time of the init process in clock ticks since boot: with the pid
    /// it identifies the process, so a reused pid is never signalled.
    pub start_time: u64,
    /// The bundle directory, canonicalized at create.
    pub bundle: PathBuf,
    /// The container's root filesystem on the host: the spec's `root.path`,
    /// resolved against the bundle.
    pub rootfs: PathBuf,
    /// Cgroup path relative to each hierarchy root.
    pub cgroup_path: PathBuf,
    /// The runtime created that cgroup (it did not exist), so delete removes it.
    #[serde(default = "yes")]
    pub cgroup_owned: bool,
    /// The container shares the runtime's mount namespace: its mounts are
    /// on the host below `rootfs`, for delete to detach.
    #[serde(default)]
    pub host_mounts: bool,
    /// Seconds since the epoch.
    pub created: u64,
    /// Who created the container: `root`, or the numeric uid (the OCI state's
    /// `owner`).
    pub owner: String,
    /// The spec's annotations, passed on in the OCI state.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

impl Record {
    /// The OCI state document with `status`: what `state` prints, and what
    /// hooks read on stdin. A stopped container has no pid.
    pub fn oci_state(&self, status: Status) -> String {
        let doc = OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            status,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            bundle: &self.bundle,
            annotations: &self.annotations,
            created: rfc3339(self.created),
            owner: &self.owner,
        };
        serde_json::to_string(&doc).unwrap_or_default()
    }
}

fn yes() -> bool {
    true
}

/// The OCI runtime-spec state, as `state` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OciState<'a> {
    pub oci_version: &'static str,
    pub id: &'a str,
    pub status: Status,
    pub pid: i32,
    pub bundle: &'a Path,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
    /// RFC 3339 creation time (runc prints this too).
    pub created: String,
    pub owner: &'a str,
}

/// The OCI runtime spec version berth implements: the `ociVersion` of the state
/// it prints and of the specs it generates.
pub const OCI_VERSION: &str = "1.2.0";

/// Container ids become directory and cgroup names: keep them to what runc allows.
pub fn check_id(id: &str) -> Result<()> {
    let bad = |reason| Err(Error::InvalidId { id: id.to_string(), reason });
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return bad("reserved name");
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b)) {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Seconds since the epoch as RFC 3339 UTC, whole seconds.
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The state directory of all containers (`--root`).
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// A store rooted at `root`; nothing is created until the first
    /// [`Store::claim`].
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The state root (runc's `--root`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The state directory of container `id`, whether or not it exists; `id` is
    /// not checked.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Claims the id: the directory is created exclusively, so two concurrent
    /// creates of one id cannot both succeed.
    pub fn claim(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        if !self.root.is_dir() {
            fs::create_dir_all(&self.root).with_ctx(|| format!("creating state root {}", self.root.display()))?;
            // The saved specs hold the containers' environments: root only.
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700));
        }
        let dir = self.dir(id);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Exists(id.to_string())),
            Err(e) => Err(e).with_ctx(|| format!("creating {}", dir.display())),
        }
    }

    /// Reads the record of `id`: [`Error::NotFound`] without a state.json,
    /// [`Error::Config`] when it cannot be parsed.
    pub fn load(&self, id: &str) -> Result<Record> {
        check_id(id)?;
        let path = self.dir(id).join(STATE_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotFound(id.to_string())),
            Err(e) => return Err(e).with_ctx(|| format!("reading {}", path.display())),
        };
        serde_json::from_slice(&text).map_err(|e| Error::Config { path, reason: e.to_string() })
    }

    /// Writes the record atomically (temp file + rename), so a reader never
    /// sees half a state file.
    pub fn save(&self, rec: &Record) -> Result<()> {
        let dir = self.dir(&rec.id);
        let tmp = dir.join(".state.json.tmp");
        let json = serde_json::to_vec(rec).map_err(|e| Error::Init(format!("encoding state: {e}")))?;
        let mut f = private_file(&tmp).with_ctx(|| format!("writing {}", tmp.display()))?;
        f.write_all(&json).with_ctx(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, dir.join(STATE_FILE)).with_ctx(|| format!("renaming {}", tmp.display()))
    }

    /// Removes the state directory of `id` with everything in it; a missing one
    /// is not an error.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_ctx(|| format!("removing {}", dir.display()))
            }
            _ => Ok(()),
        }
    }

    /// The ids of all containers with a record, sorted; a root that does not
    /// exist yet has none.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e).with_ctx(|| format!("listing {}", self.root.display())),
        };
        for e in entries.flatten() {
            if e.path().join(STATE_FILE).exists() {
                if let Some(name) = e.file_name().to_str() {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The live status: from the init process and the exec fifo, never from a
    /// cached field that could be stale after a crash.
    pub fn status(&self, rec: &Record, frozen: impl FnOnce() -> bool) -> Status {
        if !process_alive(rec.pid, rec.start_time) {
            return Status::Stopped;
        }
        if self.dir(&rec.id).join(FIFO_FILE).exists() {
            return Status::Created;
        }
        if frozen() {
            return Status::Paused;
        }
        Status::Running
    }
}

/// Creates (truncating) a file only its owner can read.
pub fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

/// True if `pid` is still the process that started at `start_time` and has
/// not exited (a zombie has exited).
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match sys::proc_stat(pid) {
        Ok((state, start)) => start == start_time && state != 'Z' && state != 'X',
        Err(_) => false,
    }
}

pub(crate) fn owner() -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        "root".into()
    } else {
        uid.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        check_id("abc-1.2_x+y").unwrap();
        for bad in ["", ".", "..", "a/b", "a b", "ä"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_formats_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_435_200), "2026-11-23T12:00:00Z");
    }

    #[test]
    fn claim_is_exclusive_and_load_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.claim("c1").unwrap();
        assert!(matches!(store.claim("c1"), Err(Error::Exists(_))));
        assert!(matches!(store.load("nope"), Err(Error::NotFound(_))));
    }

    #[test]
    fn records_round_trip_and_dead_pids_are_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store.claim("c2").unwrap();
        let rec = Record {
            id: "c2".into(),
            pid: i32::MAX - 1,
            start_time: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            cgroup_path: "berth/c2".into(),
            cgroup_owned: true,
            host_mounts: false,
            created: 0,
            owner: "root".into(),
            annotations: HashMap::new(),
        };
        store.save(&rec).unwrap();
        let back = store.load("c2").unwrap();
        assert_eq!(back.cgroup_path, rec.cgroup_path);
        assert_eq!(store.status(&back, || false), Status::Stopped);
        assert_eq!(store.ids().unwrap(), vec!["c2".to_string()]);
        store.remove("c2").unwrap();
        assert!(store.ids().unwrap().is_empty());
    }

    #[test]
    fn our_own_process_is_alive_only_with_its_start_time() {
        let pid = std::process::id() as i32;
        let (_, start) = sys::proc_stat(pid).unwrap();
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 1));
    }
}
