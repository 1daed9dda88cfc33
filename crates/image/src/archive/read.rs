//! Reading an archive in one pass: it is a stream (a pipe, or gzip), and the
//! file that says what is in it (`manifest.json`, `index.json`) usually comes
//! last. So every file is hashed as it passes: small ones are kept in memory,
//! larger ones (layers) are written to the content store's ingest area and
//! published only once an image turns out to reference them. A file named
//! for its digest (`blobs/sha256/<hex>`) must hash to it, or the load fails
//! there, before anything is published.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use crate::content::BlobWriter;
use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::store::ImageStore;

use super::{bad, not_an_archive, sniffed};

/// Files up to this size are kept in memory (configs, manifests, tiny layers)...
const SMALL: u64 = 1 << 20;
/// ...as long as all of those together stay under this.
const MEMORY_CAP: u64 = 64 << 20;
/// The archive's own metadata files are always read into memory, up to this.
const METADATA_MAX: u64 = 64 << 20;
const METADATA: &[&str] = &["manifest.json", "index.json", "oci-layout", "repositories"];

pub(super) enum Data {
    Memory(Vec<u8>),
    /// In the ingest area; None once published, or when the store already
    /// had the blob.
    Ingest(Option<BlobWriter>),
}

pub(super) struct File {
    pub digest: Digest,
    pub size: u64,
    /// The first bytes, to tell compressed layers from plain ones.
    pub head: Vec<u8>,
    data: Data,
}

pub(super) struct Files {
    files: BTreeMap<String, File>,
    /// Symlinks and hard links: path → target path, both normalised.
    links: BTreeMap<String, String>,
}

pub(super) fn collect(store: &ImageStore, input: &mut (dyn Read + Send)) -> Result<Files> {
    let stream = sniffed(input)?;
    let mut archive = tar::Archive::new(stream);
    let mut files = Files { files: BTreeMap::new(), links: BTreeMap::new() };
    let mut in_memory = 0u64;
    let mut last = String::new();
    let entries = archive.entries().map_err(|e| not_an_archive(&format!("not a tar stream: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            if last.is_empty() {
                not_an_archive(&format!("not a tar stream: {e}"))
            } else {
                Error::Invalid(format!("image archive: corrupt or truncated after {last}: {e}"))
            }
        })?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(path) = normalise("", &raw) else { continue };
        last = path.clone();
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let f = read_file(store, &mut entry, &path, &mut in_memory)?;
                files.links.remove(&path);
                files.files.insert(path, f);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target =
                    entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                // A symlink is relative to its directory, a hard link to the archive's root.
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    path.rsplit_once('/').map_or("", |(dir, _)| dir)
                } else {
                    ""
                };
                if let Some(t) = normalise(base, &target) {
                    files.files.remove(&path);
                    files.links.insert(path, t);
                }
            }
            _ => {}
        }
    }
    Ok(files)
}

/// Cleans a path inside the archive (`./a//b` → `a/b`), relative to `base`
/// (absolute targets start at the archive root). None for the root itself or
/// a path that climbs above it.
fn normalise(base: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    let start = if path.starts_with('/') { "" } else { base };
    for c in start.split('/').chain(path.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The digest a file claims by its name: `blobs/sha256/<hex>`.
fn claimed(path: &str) -> Option<Digest> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    format!("sha256:{hex}").parse().ok()
}

fn read_file<R: Read>(
    store: &ImageStore,
    entry: &mut tar::Entry<'_, R>,
    path: &str,
    in_memory: &mut u64,
) -> Result<File> {
    let size = entry.size();
    let truncated = |e: io::Error| Error::Invalid(format!("image archive: {path}: corrupt or truncated: {e}"));
    let claim = claimed(path);
    let metadata = METADATA.contains(&path);
    if metadata && size > METADATA_MAX {
        return Err(bad(path, format!("{size} bytes is too large for archive metadata")));
    }
    let (digest, head, data) = if metadata || (size <= SMALL && *in_memory + size <= MEMORY_CAP) {
        let mut bytes = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut bytes).map_err(truncated)?;
        *in_memory += bytes.len() as u64;
        let head = bytes[..bytes.len().min(8)].to_vec();
        (Digest::of(&bytes), head, Data::Memory(bytes))
    } else {
        let mut writer = match &claim {
            Some(d) if store.content().exists(d) => None,
            _ => Some(store.content().writer(claim.clone(), Some(size))?),
        };
        let mut hasher = Hasher::new();
        let mut head = Vec::with_capacity(8);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(truncated(e)),
            };
            hasher.update(&buf[..n]);
            if head.len() < 8 {
                let take = (8 - head.len()).min(n);
                head.extend_from_slice(&buf[..take]);
            }
            if let Some(w) = writer.as_mut() {
                w.write_all(&buf[..n]).map_err(|e| Error::io(format!("storing {path} from the archive"), e))?;
            }
        }
        (hasher.finish(), head, Data::Ingest(writer))
    };
    if let Some(c) = claim {
        if c != digest {
            return Err(bad(path, format!("digest mismatch: the blob is named {c} but its content is {digest}")));
        }
    }
    Ok(File { digest, size, head, data })
}

impl Files {
    /// An OCI layout: index.json, with oci-layout (docker 25+ archives have
    /// both layouts; the OCI one keeps the original manifests).
    pub fn is_oci(&self) -> bool {
        self.has("index.json") && (self.has("oci-layout") || !self.has("manifest.json"))
    }

    pub fn has(&self, path: &str) -> bool {
        self.resolve(path).is_some()
    }

    /// The file a path names, following links; None if it is not there.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut p = normalise("", path)?;
        for _ in 0..32 {
            if self.files.contains_key(&p) {
                return Some(p);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

    pub fn get(&self, path: &str) -> Option<&File> {
        self.files.get(&self.resolve(path)?)
    }

    /// The contents of a small file (metadata, a config, a manifest). One
    /// that was too large for memory is published and read from the store.
    pub fn bytes(&mut self, store: &ImageStore, path: &str) -> Result<Vec<u8>> {
        let resolved = self.resolve(path).ok_or_else(|| bad(path, "not in the archive"))?;
        if let Some(File { data: Data::Memory(b), .. }) = self.files.get(&resolved) {
            return Ok(b.clone());
        }
        let d = self.publish(store, &resolved)?;
        store.content().read(&d)
    }

    /// Puts a file into the content store under its digest (once).
    pub fn publish(&mut self, store: &ImageStore, path: &str) -> Result<Digest> {
        let resolved = self.resolve(path).ok_or_else(|| bad(path, "not in the archive"))?;
        let f = self.files.get_mut(&resolved).ok_or_else(|| bad(path, "not in the archive"))?;
        match &mut f.data {
            Data::Memory(b) => {
                store.content().put(b)?;
            }
            Data::Ingest(w) => {
                if let Some(w) = w.take() {
                    let d = w.commit()?;
                    if d != f.digest {
                        return Err(Error::DigestMismatch { expected: f.digest.clone(), actual: d });
                    }
                }
            }
        }
        Ok(f.digest.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalise("", "./manifest.json").as_deref(), Some("manifest.json"));
        assert_eq!(normalise("", "/a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(normalise("abc", "../def.tar").as_deref(), Some("def.tar"));
        assert_eq!(normalise("abc", "/x").as_deref(), Some("x"));
        assert_eq!(normalise("", "../x"), None);
        assert_eq!(normalise("", "./"), None);
    }

    #[test]
    fn blob_names_claim_digests() {
        let d = Digest::of(b"x");
        assert_eq!(claimed(&format!("blobs/sha256/{}", d.hex())), Some(d));
        assert_eq!(claimed("blobs/sha256/zz"), None);
        assert_eq!(claimed("manifest.json"), None);
    }
}
