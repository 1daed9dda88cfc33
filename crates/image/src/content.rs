//! The content store: blobs by digest under `blobs/sha256/<hex>`.
//!
//! A blob is written to `ingest/` while it is hashed, and renamed to its
//! digest name only once the digest (and size, when known) match, after an
//! fdatasync: a blob under its name is always complete and verified. Renames
//! are atomic, so several berth processes may write the same blob at once;
//! the last rename wins with identical bytes.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<ContentStore> {
        let root = root.into();
        for d in ["blobs/sha256", "ingest"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
        }
        Ok(ContentStore { root })
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d)).ok().map(|m| m.len())
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(d.clone()),
            _ => Error::io(format!("opening blob {d}"), e),
        })
    }

    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.open_blob(d)?.read_to_end(&mut buf).map_err(|e| Error::io(format!("reading blob {d}"), e))?;
        Ok(buf)
    }

    /// Stores bytes already in memory (manifests, configs).
    pub fn put(&self, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        if self.exists(&d) {
            return Ok(d);
        }
        let mut w = self.writer(Some(d.clone()), Some(bytes.len() as u64))?;
        w.write_all(bytes).map_err(|e| Error::io("writing blob", e))?;
        w.commit()
    }

    /// A writer for one blob. With `expected`, commit fails unless the bytes
    /// hash to it; with `size`, unless exactly that many bytes came.
    pub fn writer(&self, expected: Option<Digest>, size: Option<u64>) -> Result<BlobWriter> {
        let (file, path) = self.temp()?;
        Ok(BlobWriter { store: self.clone(), file: Some(file), path, hasher: Hasher::new(), count: 0, expected, size })
    }

    fn temp(&self) -> Result<(File, PathBuf)> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("{}-{}-{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let path = self.root.join("ingest").join(name);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok((file, path))
    }

    pub fn delete(&self, d: &Digest) -> Result<()> {
        match fs::remove_file(self.path(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(format!("deleting blob {d}"), e)),
            _ => Ok(()),
        }
    }

    /// Every stored digest.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?.flatten() {
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes ingest files older than `age` (left by a crashed writer).
    pub fn clean_ingest(&self, age: std::time::Duration) -> usize {
        let now = std::time::SystemTime::now();
        let mut n = 0;
        for e in fs::read_dir(self.root.join("ingest")).into_iter().flatten().flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|a| a > age);
            if old && fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        n
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Hashes while writing; `commit` verifies and publishes under the digest,
/// dropping without commit removes the partial file.
pub struct BlobWriter {
    store: ContentStore,
    file: Option<File>,
    path: PathBuf,
    hasher: Hasher,
    count: u64,
    expected: Option<Digest>,
    size: Option<u64>,
}

impl BlobWriter {
    pub fn written(&self) -> u64 {
        self.count
    }

    /// Verifies digest and size, syncs, and renames into place.
    pub fn commit(mut self) -> Result<Digest> {
        let hasher = std::mem::take(&mut self.hasher);
        let actual = hasher.finish();
        if let Some(size) = self.size {
            if size != self.count {
                return Err(Error::SizeMismatch {
                    digest: self.expected.clone().unwrap_or(actual),
                    expected: size,
                    actual: self.count,
                });
            }
        }
        if let Some(expected) = &self.expected {
            if *expected != actual {
                return Err(Error::DigestMismatch { expected: expected.clone(), actual });
            }
        }
        let file = self.file.take().expect("file present until commit");
        file.sync_data().map_err(|e| Error::io(format!("syncing blob {actual}"), e))?;
        drop(file);
        let dest = self.store.path(&actual);
        fs::rename(&self.path, &dest).map_err(|e| Error::io(format!("storing blob {actual}"), e))?;
        Ok(actual)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self.file.as_mut().ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if let Some(size) = self.size {
            if self.count > size {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("more than the expected {size} bytes")));
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ContentStore::open(d.path()).unwrap();
        (d, s)
    }

    fn ingest_is_empty(s: &ContentStore) -> bool {
        fs::read_dir(s.root().join("ingest")).unwrap().next().is_none()
    }

    #[test]
    fn put_and_read_back() {
        let (_d, s) = store();
        let d = s.put(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(s.read(&d).unwrap(), b"hello");
        assert_eq!(s.size(&d), Some(5));
        assert_eq!(s.list().unwrap(), vec![d.clone()]);
        s.delete(&d).unwrap();
        assert!(matches!(s.read(&d), Err(Error::BlobNotFound(_))));
    }

    #[test]
    fn a_digest_mismatch_stores_nothing() {
        let (_d, s) = store();
        let claimed = Digest::of(b"something else");
        let mut w = s.writer(Some(claimed.clone()), None).unwrap();
        w.write_all(b"actual bytes").unwrap();
        let e = w.commit().unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert!(!s.exists(&claimed));
        assert!(s.list().unwrap().is_empty());
        assert!(ingest_is_empty(&s));
    }

    #[test]
    fn a_short_or_long_blob_is_refused() {
        let (_d, s) = store();
        let d = Digest::of(b"12345");
        let mut w = s.writer(Some(d.clone()), Some(5)).unwrap();
        w.write_all(b"123").unwrap();
        assert!(matches!(w.commit(), Err(Error::SizeMismatch { .. })));
        let mut w = s.writer(Some(d), Some(5)).unwrap();
        assert!(w.write_all(b"123456").is_err());
        drop(w);
        assert!(ingest_is_empty(&s));
    }

    #[test]
    fn an_abandoned_writer_leaves_nothing() {
        let (_d, s) = store();
        let mut w = s.writer(None, None).unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert!(ingest_is_empty(&s));
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn concurrent_writers_of_one_blob_both_succeed() {
        let (_d, s) = store();
        let data = vec![42u8; 1 << 20];
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                let data = data.clone();
                std::thread::spawn(move || {
                    let mut w = s.writer(Some(Digest::of(&data)), Some(data.len() as u64)).unwrap();
                    w.write_all(&data).unwrap();
                    w.commit().unwrap()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Digest::of(&data));
        }
        assert_eq!(s.read(&Digest::of(&data)).unwrap(), data);
    }
}
