//! Leases: layers and blobs that something besides an image keeps alive
//! (containerd's leases). The build cache leases what its entries name;
//! garbage collection treats every lease as a root, so no frontend has to
//! gather what to keep. One small JSON file per lease under
//! `leases/<owner>/<id>`, written atomically.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::ImageStore;

/// The builder's layer cache (see `build::cache`).
pub const BUILD_CACHE: &str = "build-cache";

/// What one lease keeps from garbage collection, besides what images use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Unpacked layers, by chain id.
    pub layers: Vec<Digest>,
    /// Blobs in the content store, by digest.
    pub blobs: Vec<Digest>,
}

/// Owners and ids are single path components of this alphabet.
fn check_name(kind: &str, s: &str) -> Result<()> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) && !s.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("invalid lease {kind} {s:?}: only letters, digits and - _ . are allowed")))
    }
}

impl ImageStore {
    fn lease_dir(&self, owner: &str) -> PathBuf {
        self.root().join("leases").join(owner)
    }

    /// Records (or replaces) lease `id` of `owner`.
    pub fn lease(&self, owner: &str, id: &str, lease: &Lease) -> Result<()> {
        check_name("owner", owner)?;
        check_name("id", id)?;
        let dir = self.lease_dir(owner);
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let json = serde_json::to_vec(lease).map_err(|e| Error::Invalid(e.to_string()))?;
        let tmp = dir.join(format!(".{id}.{}", std::process::id()));
        fs::write(&tmp, json).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        fs::rename(&tmp, dir.join(id)).map_err(|e| Error::io(format!("storing lease {owner}/{id}"), e))
    }

    /// Drops every lease of `owner` (what they kept goes with the next
    /// garbage collection). Returns how many there were.
    pub fn release_all(&self, owner: &str) -> Result<usize> {
        check_name("owner", owner)?;
        let dir = self.lease_dir(owner);
        let mut n = 0;
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            fs::remove_file(e.path()).map_err(|err| Error::io(format!("removing {}", e.path().display()), err))?;
            if !e.file_name().to_string_lossy().starts_with('.') {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The leases of `owner`.
    pub fn leases_of(&self, owner: &str) -> Vec<Lease> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.lease_dir(owner)).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(b) = fs::read(e.path()) else { continue };
            if let Ok(l) = serde_json::from_slice::<Lease>(&b) {
                out.push(l);
            }
        }
        out
    }

    /// Everything every lease keeps.
    pub fn leased(&self) -> Lease {
        let mut all = Lease::default();
        for owner in fs::read_dir(self.root().join("leases")).into_iter().flatten().flatten() {
            for l in self.leases_of(&owner.file_name().to_string_lossy()) {
                all.layers.extend(l.layers);
                all.blobs.extend(l.blobs);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_kept_until_their_owner_releases_them() {
        let d = tempfile::tempdir().unwrap();
        let s = ImageStore::open(d.path()).unwrap();
        let blob = s.content().put(b"a cached layer's blob").unwrap();
        let other = s.content().put(b"nobody's").unwrap();
        s.lease("build-cache", "k1", &Lease { layers: vec![], blobs: vec![blob.clone()] }).unwrap();
        s.gc().unwrap();
        assert!(s.content().exists(&blob), "leased");
        assert!(!s.content().exists(&other), "not leased, not an image's");
        assert_eq!(s.release_all("build-cache").unwrap(), 1);
        s.gc().unwrap();
        assert!(!s.content().exists(&blob));
    }

    #[test]
    fn lease_names_stay_inside_their_directory() {
        let d = tempfile::tempdir().unwrap();
        let s = ImageStore::open(d.path()).unwrap();
        for (owner, id) in [("../x", "a"), ("o", "a/b"), ("o", ""), ("o", ".hidden")] {
            let e = s.lease(owner, id, &Lease::default()).unwrap_err();
            assert!(e.to_string().contains("invalid lease"), "{e}");
        }
    }
}
