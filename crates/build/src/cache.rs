//! The layer cache: what a step that makes a layer produced, keyed on the
//! state it ran on, its instruction and the content it read. One small JSON
//! file per key under `<root>/build/cache/`, written atomically, so it
//! survives restarts, is shared by concurrent builds, and hits across
//! unrelated tags that share steps. The layers and blobs it names are kept
//! by image garbage collection until `builder prune` drops the entries.

use std::fs;
use std::path::{Path, PathBuf};

use image::{Digest, LayerRecord};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub layer: LayerRecord,
    /// When the step first ran: its history entry's time, so a fully
    /// cached rebuild reproduces the same image (and id).
    pub created: String,
}

pub struct Cache {
    dir: PathBuf,
}

fn dir_of(root: &Path) -> PathBuf {
    root.join("build").join("cache")
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache> {
        let dir = dir_of(root);
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(Cache { dir })
    }

    pub fn get(&self, key: &Digest) -> Option<Entry> {
        let b = fs::read(self.dir.join(key.hex())).ok()?;
        serde_json::from_slice(&b).ok()
    }

    pub fn put(&self, key: &Digest, entry: &Entry) -> Result<()> {
        let json = serde_json::to_vec(entry).map_err(|e| Error::Invalid(e.to_string()))?;
        let tmp = self.dir.join(format!(".{}.{}", key.hex(), std::process::id()));
        fs::write(&tmp, json).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        fs::rename(&tmp, self.dir.join(key.hex())).map_err(|e| Error::io("storing a cache entry", e))
    }
}

/// What the cache keeps alive: (layer chain ids, blob digests), for image
/// garbage collection.
pub fn roots(root: &Path) -> Result<(Vec<Digest>, Vec<Digest>)> {
    let mut layers = Vec::new();
    let mut blobs = Vec::new();
    for e in fs::read_dir(dir_of(root)).into_iter().flatten().flatten() {
        let Ok(b) = fs::read(e.path()) else { continue };
        let Ok(entry) = serde_json::from_slice::<Entry>(&b) else { continue };
        layers.push(entry.layer.chain_id);
        blobs.push(entry.layer.blob.digest);
    }
    Ok((layers, blobs))
}

/// `builder prune`: forgets every entry (the layers go with the next image
/// garbage collection). Returns how many there were.
pub fn prune(root: &Path) -> Result<usize> {
    let dir = dir_of(root);
    let mut n = 0;
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        fs::remove_file(e.path()).map_err(|err| Error::io(format!("removing {}", e.path().display()), err))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::manifest::{media, Descriptor};

    #[test]
    fn entries_survive_reopening_and_prune_forgets_them() {
        let d = tempfile::tempdir().unwrap();
        let key = Digest::of(b"step");
        let layer = LayerRecord {
            blob: Descriptor::new(media::OCI_LAYER, Digest::of(b"blob"), 4),
            diff_id: Digest::of(b"blob"),
            chain_id: Digest::of(b"chain"),
        };
        let entry = Entry { layer: layer.clone(), created: "2026-11-23T00:00:00Z".into() };
        Cache::open(d.path()).unwrap().put(&key, &entry).unwrap();
        assert_eq!(Cache::open(d.path()).unwrap().get(&key), Some(entry));
        assert_eq!(roots(d.path()).unwrap(), (vec![layer.chain_id], vec![layer.blob.digest]));
        assert_eq!(prune(d.path()).unwrap(), 1);
        assert!(Cache::open(d.path()).unwrap().get(&key).is_none());
    }
}
