//! The layer cache: what a step that makes a layer produced, keyed on the
//! state it ran on, its instruction and the content it read. One small JSON
//! file per key under `<root>/build/cache/`, written atomically, so it
//! survives restarts, is shared by concurrent builds, and hits across
//! unrelated tags that share steps. Each entry leases its layer and blob in
//! the image store, so image garbage collection keeps them until
//! `builder prune` drops the entries and their leases.

use std::fs;
use std::path::{Path, PathBuf};

use image::lease::Lease;
use image::{Digest, ImageStore, LayerRecord};
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
    store: ImageStore,
}

use image::lease::BUILD_CACHE as LEASE_OWNER;

fn dir_of(root: &Path) -> PathBuf {
    root.join("build").join("cache")
}

impl Cache {
    pub fn open(store: &ImageStore) -> Result<Cache> {
        let dir = dir_of(store.root());
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(Cache { dir, store: store.clone() })
    }

    pub fn get(&self, key: &Digest) -> Option<Entry> {
        let b = fs::read(self.dir.join(key.hex())).ok()?;
        serde_json::from_slice(&b).ok()
    }

    pub fn put(&self, key: &Digest, entry: &Entry) -> Result<()> {
        // The lease first: an entry is never there without what it names.
        let lease = Lease { layers: vec![entry.layer.chain_id.clone()], blobs: vec![entry.layer.blob.digest.clone()] };
        self.store.lease(LEASE_OWNER, key.hex(), &lease)?;
        let json = serde_json::to_vec(entry).map_err(|e| Error::Invalid(e.to_string()))?;
        let tmp = self.dir.join(format!(".{}.{}", key.hex(), std::process::id()));
        fs::write(&tmp, json).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        fs::rename(&tmp, self.dir.join(key.hex())).map_err(|e| Error::io("storing a cache entry", e))
    }
}

/// `builder prune`: forgets every entry (the layers go with the next image
/// garbage collection). Returns how many there were.
pub fn prune(store: &ImageStore) -> Result<usize> {
    let dir = dir_of(store.root());
    let mut n = 0;
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        fs::remove_file(e.path()).map_err(|err| Error::io(format!("removing {}", e.path().display()), err))?;
        n += 1;
    }
    store.release_all(LEASE_OWNER)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::manifest::{media, Descriptor};

    #[test]
    fn entries_survive_reopening_and_prune_forgets_them() {
        let d = tempfile::tempdir().unwrap();
        let store = ImageStore::open(d.path()).unwrap();
        let key = Digest::of(b"step");
        let layer = LayerRecord {
            blob: Descriptor::new(media::OCI_LAYER, Digest::of(b"blob"), 4),
            diff_id: Digest::of(b"blob"),
            chain_id: Digest::of(b"chain"),
        };
        let entry = Entry { layer: layer.clone(), created: "2026-11-23T00:00:00Z".into() };
        Cache::open(&store).unwrap().put(&key, &entry).unwrap();
        assert_eq!(Cache::open(&store).unwrap().get(&key), Some(entry));
        assert_eq!(store.leased(), Lease { layers: vec![layer.chain_id], blobs: vec![layer.blob.digest] });
        assert_eq!(prune(&store).unwrap(), 1);
        assert!(Cache::open(&store).unwrap().get(&key).is_none());
        assert_eq!(store.leased(), Lease::default(), "prune releases the leases");
    }
}
