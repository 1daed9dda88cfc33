//! The image store: the content store, the unpacked layers, and the image
//! records (ids, tags, repo digests) in `images/db.json`.
//!
//! The record file is small and changed under an exclusive flock, rewritten
//! atomically (temp + rename), so several berth processes can pull, tag and
//! remove at once without losing an update.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::content::ContentStore;
use crate::digest::{chain_ids, Digest};
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Platform};
use crate::reference::Reference;

/// One layer of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The blob as stored and pushed (usually compressed).
    pub blob: Descriptor,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Names the unpacked layer together with the layers below it.
    pub chain_id: Digest,
}

/// An image as the store knows it. Its id is the config digest, as docker's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image id: its config's digest.
    pub id: Digest,
    /// The platform manifest, in the content store.
    pub manifest: Descriptor,
    /// The index it was selected from, if any (also in the content store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Descriptor>,
    /// `name@digest` for each repository it was pulled from or pushed to.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// The layers, base first, as the manifest lists them.
    pub layers: Vec<LayerRecord>,
    /// What the image is for, from its config.
    pub platform: Platform,
    /// From the config (`created`), RFC 3339; may be empty.
    #[serde(default)]
    pub created: String,
    /// Sum of the uncompressed layer sizes.
    pub size: u64,
}

impl ImageRecord {
    /// The chain ids of its layers, base first: the unpacked layers it needs.
    pub fn chain_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.chain_id.clone()).collect()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Db {
    #[serde(default)]
    images: BTreeMap<String, ImageRecord>,
    /// Fully qualified `registry/repo:tag` → image id.
    #[serde(default)]
    tags: BTreeMap<String, Digest>,
}

/// The image store at one root: content, unpacked layers and image records.
/// Clones share the root; several processes may use it at once.
#[derive(Clone, Debug)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
}

/// Metadata of an unpacked layer directory (`layers/<chain>/meta.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerMeta {
    /// sha256 of the layer's uncompressed tar.
    pub diff_id: Digest,
    /// The chain id the layer is stored under.
    pub chain_id: Digest,
    /// Bytes of the uncompressed tar (what garbage collection reports freed).
    pub size: u64,
}

/// A leftover of an interrupted write: see [`ImageStore::incomplete`].
#[derive(Clone, Debug)]
pub struct Incomplete {
    /// The leftover: an ingest file or a layer staging directory.
    pub path: PathBuf,
    /// Its size in bytes (a staging directory's allocated blocks).
    pub size: u64,
    /// A live process still holds it: it is no leftover yet.
    pub held: bool,
}

/// Staging directories are named by their process: one that is gone left
/// its directory behind (a pid reused since merely delays the sweep).
fn process_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Bytes allocated under `dir` (not following symlinks).
fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            }
            total += md.blocks() * 512;
        }
    }
    total
}

impl ImageStore {
    /// Opens (creating) the store under `root` (berth's `--root`).
    pub fn open(root: impl Into<PathBuf>) -> Result<ImageStore> {
        let root = root.into();
        let content = ContentStore::open(root.join("content"))?;
        for d in ["images", "layers"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
        }
        Ok(ImageStore { root, content })
    }

    /// The content store of blobs.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The store's root (berth's `--root`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    // ---- unpacked layers ----

    /// The directory of unpacked layer `chain_id` (its `diff/` and
    /// `meta.json`), whether or not it exists.
    pub fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join("layers").join(chain_id.hex())
    }

    /// The diff directory of an unpacked layer (an overlay lower dir).
    pub fn layer_diff(&self, chain_id: &Digest) -> PathBuf {
        self.layer_dir(chain_id).join("diff")
    }

    /// Whether layer `chain_id` is unpacked and committed.
    pub fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layer_dir(chain_id).join("meta.json").is_file()
    }

    /// The metadata of unpacked layer `chain_id`; an error when it is not
    /// there or its meta.json is damaged.
    pub fn layer_meta(&self, chain_id: &Digest) -> Result<LayerMeta> {
        let p = self.layer_dir(chain_id).join("meta.json");
        let bytes = fs::read(&p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))
    }

    /// A fresh temporary directory to unpack a layer into; `commit_layer`
    /// moves it into place.
    pub fn layer_staging(&self) -> Result<PathBuf> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let p =
            self.root.join("layers").join(format!(".tmp-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(p.join("diff")).map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
        Ok(p)
    }

    /// Publishes a staged layer under its chain id. If another process got
    /// there first, ours is discarded: both are the same bytes.
    pub fn commit_layer(&self, staging: &Path, meta: &LayerMeta) -> Result<()> {
        let json = serde_json::to_vec(meta).map_err(|e| Error::Invalid(e.to_string()))?;
        fs::write(staging.join("meta.json"), json).map_err(|e| Error::io("writing layer metadata", e))?;
        let dest = self.layer_dir(&meta.chain_id);
        match fs::rename(staging, &dest) {
            Ok(()) => Ok(()),
            Err(_) if self.has_layer(&meta.chain_id) => {
                let _ = fs::remove_dir_all(staging);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_dir_all(staging);
                Err(Error::io(format!("storing layer {}", meta.chain_id), e))
            }
        }
    }

    /// Chain ids of every unpacked layer.
    pub fn layers(&self) -> Vec<Digest> {
        let mut out: Vec<Digest> = fs::read_dir(self.root.join("layers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| format!("sha256:{}", e.file_name().to_string_lossy()).parse().ok())
            .collect();
        out.sort();
        out
    }

    /// A file of an image as a container would see it, read from the unpacked
    /// layers top-down (`extra_top`, e.g. a container's upper dir, first):
    /// the first layer with the path wins, an overlay whiteout (0/0 device)
    /// or an opaque parent hides what is below. For small files (/etc/passwd,
    /// /etc/group): None beyond `max` bytes, for symlinks, and for non-files.
    pub fn read_image_file(
        &self,
        layers: &[Digest],
        extra_top: Option<&Path>,
        path: &str,
        max: u64,
    ) -> Option<Vec<u8>> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let rel = path.trim_start_matches('/');
        let mut dirs: Vec<PathBuf> = extra_top.into_iter().map(Path::to_path_buf).collect();
        dirs.extend(layers.iter().rev().map(|c| self.layer_diff(c)));
        for d in dirs {
            let p = d.join(rel);
            if let Ok(m) = fs::symlink_metadata(&p) {
                if m.file_type().is_char_device() && m.rdev() == 0 {
                    return None;
                }
                if !m.is_file() || m.len() > max {
                    return None;
                }
                return fs::read(&p).ok();
            }
            // An opaque directory on the way hides the layers below.
            let opaque = Path::new(rel).ancestors().skip(1).any(|a| !a.as_os_str().is_empty() && is_opaque(&d.join(a)));
            if opaque {
                return None;
            }
        }
        None
    }

    // ---- records ----

    fn with_db<T>(&self, write: bool, f: impl FnOnce(&mut Db) -> Result<T>) -> Result<T> {
        let lock_path = self.root.join("images/lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("opening {}", lock_path.display()), e))?;
        let op = if write { libc::LOCK_EX } else { libc::LOCK_SH };
        // SAFETY: flock on our own fd; released when `lock` is closed.
        if unsafe { libc::flock(lock.as_raw_fd(), op) } < 0 {
            return Err(Error::io("locking the image records", std::io::Error::last_os_error()));
        }
        let path = self.root.join("images/db.json");
        let mut db: Db = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Db::default(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let out = f(&mut db)?;
        if write {
            let tmp = self.root.join("images/.db.json.tmp");
            let json = serde_json::to_vec_pretty(&db).map_err(|e| Error::Invalid(e.to_string()))?;
            let mut file = File::create(&tmp).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
            file.write_all(&json).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
            file.sync_data().map_err(|e| Error::io("syncing image records", e))?;
            fs::rename(&tmp, &path).map_err(|e| Error::io(format!("renaming {}", tmp.display()), e))?;
        }
        drop(lock);
        Ok(out)
    }

    /// Adds or updates an image and points `tags` at it. A tag that pointed
    /// elsewhere moves (the old image keeps its other tags, or none).
    pub fn put_image(&self, rec: ImageRecord, tags: &[Reference]) -> Result<()> {
        self.with_db(true, |db| {
            let key = rec.id.to_string();
            let merged = match db.images.remove(&key) {
                Some(mut old) => {
                    for d in rec.repo_digests.iter() {
                        if !old.repo_digests.contains(d) {
                            old.repo_digests.push(d.clone());
                        }
                    }
                    ImageRecord { repo_digests: old.repo_digests, ..rec }
                }
                None => rec,
            };
            for t in tags {
                if t.tag.is_some() {
                    db.tags.insert(t.with_tag(t.tag.as_deref().unwrap_or("latest")).full(), merged.id.clone());
                }
            }
            db.images.insert(key, merged);
            Ok(())
        })
    }

    /// The image a user means by `name`: a reference (tagged or by digest), a
    /// full id, or an unambiguous id prefix of at least 4 hex characters.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        self.with_db(false, |db| resolve_in(db, name).cloned())
    }

    /// Every image with its tags, by id; tags that no longer parse are left
    /// out.
    pub fn images(&self) -> Result<Vec<(ImageRecord, Vec<Reference>)>> {
        self.with_db(false, |db| {
            Ok(db
                .images
                .values()
                .map(|rec| {
                    let tags =
                        db.tags.iter().filter(|(_, id)| **id == rec.id).filter_map(|(t, _)| t.parse().ok()).collect();
                    (rec.clone(), tags)
                })
                .collect())
        })
    }

    /// The tags pointing at image `id`; none if it has none (or is unknown).
    pub fn tags_of(&self, id: &Digest) -> Result<Vec<Reference>> {
        self.with_db(false, |db| {
            Ok(db.tags.iter().filter(|(_, i)| *i == id).filter_map(|(t, _)| t.parse().ok()).collect())
        })
    }

    /// `tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<()> {
        self.with_db(true, |db| {
            let id = resolve_in(db, source)?.id.clone();
            if target.digest.is_some() && target.tag.is_none() {
                return Err(Error::Invalid(format!("refusing to create a tag with a digest reference: {target}")));
            }
            db.tags.insert(target.full(), id);
            Ok(())
        })
    }

    /// Removes a tag, or (given an id, or the last tag with `force`) the image.
    /// Returns what was untagged and the id of the image deleted, if any.
    /// Blobs and layers are left for `gc`.
    pub fn remove(&self, name: &str, force: bool) -> Result<(Vec<String>, Option<Digest>)> {
        self.with_db(true, |db| {
            let rec = resolve_in(db, name)?.clone();
            let by_ref = name.parse::<Reference>().ok().map(|r| r.full()).filter(|k| db.tags.contains_key(k));
            let mut untagged = Vec::new();
            if let Some(key) = by_ref {
                db.tags.remove(&key);
                untagged.push(key);
                if db.tags.values().any(|id| *id == rec.id) {
                    return Ok((untagged, None));
                }
            } else {
                let tags: Vec<String> = db.tags.iter().filter(|(_, i)| **i == rec.id).map(|(t, _)| t.clone()).collect();
                if tags.len() > 1 && !force {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        rec.id.short()
                    )));
                }
                for t in tags {
                    db.tags.remove(&t);
                    untagged.push(t);
                }
            }
            db.images.remove(&rec.id.to_string());
            Ok((untagged, Some(rec.id)))
        })
    }

    /// Removes `name`'s tags (a tag: that one; an id: all of them) and
    /// keeps the image, dangling: what `rmi -f` does to an image a stopped
    /// container still uses.
    pub fn untag(&self, name: &str) -> Result<Vec<String>> {
        self.with_db(true, |db| {
            let rec = resolve_in(db, name)?.clone();
            let by_ref = name.parse::<Reference>().ok().map(|r| r.full()).filter(|k| db.tags.contains_key(k));
            let keys: Vec<String> = match by_ref {
                Some(k) => vec![k],
                None => db.tags.iter().filter(|(_, i)| **i == rec.id).map(|(t, _)| t.clone()).collect(),
            };
            for k in &keys {
                db.tags.remove(k);
            }
            Ok(keys)
        })
    }

    /// Images with no tag.
    pub fn dangling(&self) -> Result<Vec<Digest>> {
        self.with_db(false, |db| {
            Ok(db.images.values().filter(|r| !db.tags.values().any(|id| *id == r.id)).map(|r| r.id.clone()).collect())
        })
    }

    /// Deletes every blob and unpacked layer that no image references, no
    /// container's snapshot stands on and no lease keeps, and what
    /// interrupted writes left. Returns bytes freed.
    pub fn gc(&self) -> Result<u64> {
        let in_use = crate::snapshot::layers_in_use(self)?;
        let leased = self.leased();
        self.with_db(true, |db| {
            let mut blobs: std::collections::HashSet<Digest> = leased.blobs.into_iter().collect();
            let mut layers: std::collections::HashSet<Digest> = leased.layers.into_iter().chain(in_use).collect();
            for rec in db.images.values() {
                blobs.insert(rec.id.clone());
                blobs.insert(rec.manifest.digest.clone());
                if let Some(i) = &rec.index {
                    blobs.insert(i.digest.clone());
                }
                for l in &rec.layers {
                    blobs.insert(l.blob.digest.clone());
                    layers.insert(l.chain_id.clone());
                }
            }
            let mut freed = 0;
            for d in self.content.list()? {
                if !blobs.contains(&d) {
                    freed += self.content.size(&d).unwrap_or(0);
                    self.content.delete(&d)?;
                }
            }
            for c in self.layers() {
                if !layers.contains(&c) {
                    freed += self.layer_meta(&c).map(|m| m.size).unwrap_or(0);
                    let dir = self.layer_dir(&c);
                    fs::remove_dir_all(&dir).map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
                }
            }
            freed += self.sweep_incomplete();
            Ok(freed)
        })
    }

    /// What interrupted pulls, loads and builds left: ingest files and
    /// layer staging directories. `held` ones belong to a live process.
    pub fn incomplete(&self) -> Vec<Incomplete> {
        let mut out: Vec<Incomplete> = self
            .content
            .ingests()
            .into_iter()
            .map(|i| Incomplete { path: i.path, size: i.size, held: i.held })
            .collect();
        for (path, pid) in self.stagings() {
            out.push(Incomplete { size: dir_size(&path), held: process_alive(pid), path });
        }
        out
    }

    /// Removes whatever [`ImageStore::incomplete`] lists that no live process
    /// holds; the bytes freed.
    pub fn sweep_incomplete(&self) -> u64 {
        self.content.sweep_ingest() + self.sweep_staging()
    }

    /// Removes the layer staging directories of processes that are gone
    /// (a half-unpacked layer cannot be resumed; its blob can). The bytes
    /// freed.
    pub fn sweep_staging(&self) -> u64 {
        let mut freed = 0;
        for (path, pid) in self.stagings() {
            if !process_alive(pid) {
                let size = dir_size(&path);
                if fs::remove_dir_all(&path).is_ok() {
                    freed += size;
                }
            }
        }
        freed
    }

    /// Layer staging directories (`layers/.tmp-PID-N`) and their owners.
    fn stagings(&self) -> Vec<(PathBuf, i32)> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.root.join("layers")).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) =
                name.strip_prefix(".tmp-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<i32>().ok())
            {
                out.push((e.path(), pid));
            }
        }
        out
    }

    /// Builds the layer records of an image from its config's diff ids.
    pub fn layer_records(blobs: &[Descriptor], diff_ids: &[Digest]) -> Result<Vec<LayerRecord>> {
        if blobs.len() != diff_ids.len() {
            return Err(Error::Invalid(format!(
                "the manifest has {} layers but the config lists {} diff ids",
                blobs.len(),
                diff_ids.len()
            )));
        }
        Ok(blobs
            .iter()
            .zip(diff_ids)
            .zip(chain_ids(diff_ids))
            .map(|((b, d), c)| LayerRecord { blob: b.clone(), diff_id: d.clone(), chain_id: c })
            .collect())
    }
}

fn is_opaque(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else { return false };
    let mut buf = [0u8; 2];
    // SAFETY: valid path and buffer; lgetxattr does not follow symlinks.
    let n =
        unsafe { libc::lgetxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    n == 1 && buf[0] == b'y'
}

fn resolve_in<'a>(db: &'a Db, name: &str) -> Result<&'a ImageRecord> {
    let not_found = || Error::ImageNotFound(name.to_string());
    // A full id, or sha256:…
    if let Ok(d) = name.parse::<Digest>() {
        if let Some(r) = db.images.get(&d.to_string()) {
            return Ok(r);
        }
    }
    if let Ok(r) = name.parse::<Reference>() {
        if let Some(d) = &r.digest {
            let want = format!("{}@{d}", r.name());
            if let Some(rec) =
                db.images.values().find(|rec| rec.repo_digests.contains(&want) || rec.manifest.digest == *d)
            {
                return Ok(rec);
            }
        }
        if r.tag.is_some() {
            if let Some(id) = db.tags.get(&r.full()) {
                return db.images.get(&id.to_string()).ok_or_else(not_found);
            }
        }
    }
    // An id prefix (docker accepts down to a few characters).
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let matches: Vec<&ImageRecord> = db.images.values().filter(|r| r.id.hex().starts_with(hex)).collect();
        match matches.as_slice() {
            [one] => return Ok(one),
            [] => {}
            _ => return Err(Error::Invalid(format!("image id prefix {name:?} is ambiguous"))),
        }
    }
    Err(not_found())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::media;

    fn rec(seed: &str) -> ImageRecord {
        let id = Digest::of(seed.as_bytes());
        ImageRecord {
            id: id.clone(),
            manifest: Descriptor::new(media::OCI_MANIFEST, Digest::of(format!("m{seed}").as_bytes()), 10),
            index: None,
            repo_digests: vec![],
            layers: vec![],
            platform: Platform::host(),
            created: String::new(),
            size: 0,
        }
    }

    fn store() -> (tempfile::TempDir, ImageStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ImageStore::open(d.path()).unwrap();
        (d, s)
    }

    #[test]
    fn images_resolve_by_tag_id_and_prefix() {
        let (_d, s) = store();
        let r = rec("a");
        s.put_image(r.clone(), &["busybox:1".parse().unwrap()]).unwrap();
        assert_eq!(s.resolve("busybox:1").unwrap().id, r.id);
        assert_eq!(s.resolve("docker.io/library/busybox:1").unwrap().id, r.id);
        assert_eq!(s.resolve(&r.id.to_string()).unwrap().id, r.id);
        assert_eq!(s.resolve(r.id.short()).unwrap().id, r.id);
        assert!(matches!(s.resolve("busybox:2"), Err(Error::ImageNotFound(_))));
        assert_eq!(s.resolve("nope").unwrap_err().to_string(), "No such image: nope");
    }

    #[test]
    fn tags_move_and_removal_untags_before_deleting() {
        let (_d, s) = store();
        let (a, b) = (rec("a"), rec("b"));
        s.put_image(a.clone(), &["app:1".parse().unwrap()]).unwrap();
        s.tag("app:1", &"app:latest".parse().unwrap()).unwrap();
        s.put_image(b.clone(), &["app:1".parse().unwrap()]).unwrap();
        assert_eq!(s.resolve("app:1").unwrap().id, b.id, "the tag moved");
        assert_eq!(s.resolve("app:latest").unwrap().id, a.id);
        // Removing one of two tags only untags.
        s.tag("app:1", &"other:x".parse().unwrap()).unwrap();
        let (untagged, deleted) = s.remove("app:1", false).unwrap();
        assert_eq!(untagged, vec!["docker.io/library/app:1"]);
        assert_eq!(deleted, None);
        let (_, deleted) = s.remove("other:x", false).unwrap();
        assert_eq!(deleted, Some(b.id));
        // By id with several tags: refused without force.
        s.tag("app:latest", &"again:1".parse().unwrap()).unwrap();
        assert!(matches!(s.remove(&a.id.to_string(), false), Err(Error::Conflict(_))));
        assert_eq!(s.remove(&a.id.to_string(), true).unwrap().1, Some(a.id));
        assert!(s.images().unwrap().is_empty());
    }

    #[test]
    fn gc_keeps_referenced_blobs_and_layers_only() {
        let (_d, s) = store();
        let kept = s.content().put(b"config").unwrap();
        let junk = s.content().put(b"junk").unwrap();
        let mut r = rec("x");
        r.id = kept.clone();
        s.put_image(r, &["x:1".parse().unwrap()]).unwrap();
        let staging = s.layer_staging().unwrap();
        let chain = Digest::of(b"layer");
        s.commit_layer(&staging, &LayerMeta { diff_id: chain.clone(), chain_id: chain.clone(), size: 1 }).unwrap();
        let freed = s.gc().unwrap();
        assert!(freed >= 4);
        assert!(s.content().exists(&kept));
        assert!(!s.content().exists(&junk));
        assert!(!s.has_layer(&chain), "an unreferenced layer goes");
    }

    #[test]
    fn concurrent_writers_do_not_lose_records() {
        let (_d, s) = store();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    s.put_image(rec(&i.to_string()), &[format!("img{i}:latest").parse().unwrap()]).unwrap()
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(s.images().unwrap().len(), 8);
    }
}
