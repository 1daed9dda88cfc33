//! Named volumes: directories under `<root>/volumes/<name>/_data`, created on
//! first use and then filled from the image's content at the mount point
//! (docker's behaviour), kept across container removal unless `rm -v` (for
//! anonymous ones) or `volume rm`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::db;
use crate::engine::{now_rfc3339, Engine};
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub anonymous: bool,
}

/// The label dockerd puts on the volumes it makes for `-v /path` and an
/// image's VOLUMEs.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

impl Volume {
    /// Made for a container, or labelled so by its creator (as dockerd
    /// decides it: by the label).
    pub fn is_anonymous(&self) -> bool {
        self.anonymous || self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

pub fn check_volume_name(name: &str) -> Result<()> {
    let ok = name.len() >= 2
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

impl Engine {
    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.root().join("volumes").join(name).join("_data")
    }

    /// Creates a volume (idempotent: an existing one is returned as it is).
    /// The bool says whether it was created now.
    pub fn volume_create(
        &mut self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<(Volume, bool)> {
        check_volume_name(name)?;
        let mut labels = labels;
        if anonymous {
            // dockerd's mark of an anonymous volume: what its prune (and
            // so clients that read the labels) tells them apart by.
            labels.entry(ANONYMOUS_LABEL.to_string()).or_default();
        }
        let dir = self.volume_dir(name);
        let vol = Volume {
            name: name.to_string(),
            driver: "local".into(),
            mountpoint: dir.clone(),
            created_at: now_rfc3339(),
            labels,
            anonymous,
        };
        let json = db::to_json(&vol)?;
        let created = self.db.write(|tx| {
            let n = tx
                .execute("INSERT OR IGNORE INTO volumes (name, config) VALUES (?1, ?2)", params![name, json])
                .map_err(|e| Error::Db(format!("creating volume {name}: {e}")))?;
            Ok(n == 1)
        })?;
        if created {
            if let Err(e) = fs::create_dir_all(&dir) {
                let _ = self.db.conn().execute("DELETE FROM volumes WHERE name = ?1", params![name]);
                return Err(Error::io(format!("creating {}", dir.display()), e));
            }
            self.emit("volume", "create", name, [("driver".to_string(), "local".to_string())].into());
            return Ok((vol, true));
        }
        Ok((self.volume(name)?, false))
    }

    pub fn volume(&self, name: &str) -> Result<Volume> {
        let json: Option<String> = self
            .db
            .conn()
            .query_row("SELECT config FROM volumes WHERE name = ?1", params![name], |r| r.get(0))
            .optional()
            .map_err(|e| Error::Db(format!("reading volume {name}: {e}")))?;
        db::from_json(&json.ok_or_else(|| Error::NoSuchVolume(name.to_string()))?)
    }

    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let mut st = self
            .db
            .conn()
            .prepare("SELECT config FROM volumes ORDER BY name")
            .map_err(|e| Error::Db(format!("listing volumes: {e}")))?;
        let rows: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(|e| Error::Db(format!("listing volumes: {e}")))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Db(format!("listing volumes: {e}")))?;
        rows.iter().map(|j| db::from_json(j)).collect()
    }

    /// Names of the containers (any state) that mount a volume.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .containers()?
            .into_iter()
            .filter(|c| {
                c.config.mounts.iter().any(|m| matches!(m, crate::model::Mount::Volume { name: n, .. } if n == name))
            })
            .map(|c| c.name)
            .collect())
    }

    /// Removes a volume. One a container uses is refused (by docker too,
    /// even forced); `force` only makes a missing volume not an error.
    pub fn volume_remove(&mut self, name: &str, force: bool) -> Result<()> {
        match self.volume(name) {
            Err(Error::NoSuchVolume(_)) if force => return Ok(()),
            other => other?,
        };
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        self.db
            .conn()
            .execute("DELETE FROM volumes WHERE name = ?1", params![name])
            .map_err(|e| Error::Db(format!("removing volume {name}: {e}")))?;
        let dir = self.root().join("volumes").join(name);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("removing {}", dir.display()), e))
            }
            _ => {}
        }
        self.emit("volume", "destroy", name, [("driver".to_string(), "local".to_string())].into());
        Ok(())
    }

    /// Removes the volumes no container uses: anonymous ones only unless
    /// `all` (dockerd's default since API 1.42), and of those the ones
    /// `keep` accepts (the caller's label filters). Returns the names
    /// removed and the bytes they held.
    pub fn volume_prune(&mut self, all: bool, keep: &dyn Fn(&Volume) -> bool) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut space = 0;
        for v in self.volumes()? {
            if (all || v.is_anonymous()) && keep(&v) && self.volume_users(&v.name)?.is_empty() {
                let size = crate::ops::disk_usage(&self.volume_dir(&v.name));
                self.volume_remove(&v.name, false)?;
                space += size;
                removed.push(v.name);
            }
        }
        Ok((removed, space))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_follow_docker() {
        check_volume_name("data_1.x-y").unwrap();
        for bad in ["a", "/abs", "has space", "-x"] {
            assert!(check_volume_name(bad).is_err(), "{bad}");
        }
    }
}
