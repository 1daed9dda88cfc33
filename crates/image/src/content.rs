//! The content store: blobs by digest under `blobs/sha256/<hex>`.
//!
//! A blob is written to `ingest/` while it is hashed, and renamed to its
//! digest name only once the digest (and size, when known) match, after an
//! fdatasync: a blob under its name is always complete and verified. Renames
//! are atomic, so several berth processes may write the same blob at once;
//! the last rename wins with identical bytes.
//!
//! Every ingest file is `flock`ed by the writer that fills it, so a file
//! nobody holds belongs to no live process: a writer that died (a pull
//! killed midway). Downloads of a known digest write to `ingest/<hex>`, the
//! blob's own name, like containerd's ingest refs: a later pull of the same
//! blob takes the file over and resumes where it stopped. Sweeping removes
//! every ingest file no process holds.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// A content store at one root; clones share the root, and several processes
/// may use one at once.
#[derive(Clone, Debug)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating its directories if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ContentStore> {
        let root = root.into();
        for d in ["blobs/sha256", "ingest"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
        }
        Ok(ContentStore { root })
    }

    /// Where blob `d` lives, whether or not it is there. Its bytes are
    /// verified: never write there directly, use [`ContentStore::writer`].
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    /// Whether blob `d` is stored (complete and verified).
    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// The stored blob's size in bytes; None when it is not stored.
    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d)).ok().map(|m| m.len())
    }

    /// Opens blob `d` for reading: [`Error::BlobNotFound`] when it is not
    /// stored.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(d.clone()),
            _ => Error::io(format!("opening blob {d}"), e),
        })
    }

    /// The whole blob in memory, for small ones (manifests, configs); errors
    /// as [`ContentStore::open_blob`].
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
        Ok(BlobWriter {
            store: self.clone(),
            file: Some(file),
            path,
            hasher: Hasher::new(),
            count: 0,
            expected,
            size,
            keep: false,
        })
    }

    /// A writer for a download of `expected` (`size` bytes) that survives
    /// the process: what an earlier, interrupted download left in
    /// `ingest/<hex>` is taken over. Returns the writer and how many bytes
    /// it already holds (hashed); the caller supplies the rest. If another
    /// process is downloading the same blob right now, this one gets a
    /// private writer of its own and starts at 0.
    pub fn resumable_writer(&self, expected: &Digest, size: u64) -> Result<(BlobWriter, u64)> {
        let path = self.root.join("ingest").join(expected.hex());
        let Some(mut file) = open_locked(&path, false)? else {
            return Ok((self.writer(Some(expected.clone()), Some(size))?, 0));
        };
        let io_err = |e| Error::io(format!("resuming {}", path.display()), e);
        let mut have = file.metadata().map_err(io_err)?.len();
        if have > size {
            file.set_len(0).map_err(io_err)?;
            have = 0;
        }
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut read = 0;
        while read < have {
            let n = file.read(&mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            read += n as u64;
        }
        use io::Seek;
        file.seek(io::SeekFrom::Start(read)).map_err(io_err)?;
        let w = BlobWriter {
            store: self.clone(),
            file: Some(file),
            path,
            hasher,
            count: read,
            expected: Some(expected.clone()),
            size: Some(size),
            keep: true,
        };
        Ok((w, read))
    }

    /// The first `len` bytes of an ingest file being resumed, to replay
    /// them to whatever consumes the download (the layer unpacker).
    pub fn ingest_prefix(&self, w: &BlobWriter, len: u64) -> Result<impl Read + Send + use<>> {
        let f = File::open(&w.path).map_err(|e| Error::io(format!("opening {}", w.path.display()), e))?;
        Ok(f.take(len))
    }

    fn temp(&self) -> Result<(File, PathBuf)> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        loop {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let name = format!("{}-{}-{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
            let path = self.root.join("ingest").join(name);
            if let Some(file) = open_locked(&path, true)? {
                return Ok((file, path));
            }
        }
    }

    /// Ingest files: each with its size and whether a live process holds it.
    pub fn ingests(&self) -> Vec<Ingest> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.root.join("ingest")).into_iter().flatten().flatten() {
            let Ok(f) = File::open(e.path()) else { continue };
            let size = f.metadata().map_or(0, |m| m.len());
            let held = !try_lock(&f).unwrap_or(false);
            out.push(Ingest { path: e.path(), size, held });
        }
        out
    }

    /// Removes every ingest file no live process holds (interrupted
    /// downloads and writes). Returns the bytes freed.
    pub fn sweep_ingest(&self) -> u64 {
        let mut freed = 0;
        for e in fs::read_dir(self.root.join("ingest")).into_iter().flatten().flatten() {
            let Ok(f) = File::open(e.path()) else { continue };
            // Removed while locked: a writer that opens the name meanwhile
            // sees that its file is no longer the one under the name.
            if try_lock(&f).unwrap_or(false) {
                let size = f.metadata().map_or(0, |m| m.len());
                if fs::remove_file(e.path()).is_ok() {
                    freed += size;
                }
            }
        }
        freed
    }

    /// Removes blob `d`; a missing one is not an error. Nothing checks that
    /// no image still uses it: that is garbage collection's job.
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

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// An ingest file: its path, size, and whether a live writer holds it.
#[derive(Clone, Debug)]
pub struct Ingest {
    /// The ingest file.
    pub path: PathBuf,
    /// Its current length in bytes.
    pub size: u64,
    /// A live writer holds its flock; sweeping leaves it alone.
    pub held: bool,
}

/// Takes the flock of `path` for this process (opening it, creating it; with
/// `create_new` it must not exist). None when another process holds it. A
/// file swept away between open and lock is not ours: open again.
fn open_locked(path: &Path, create_new: bool) -> Result<Option<File>> {
    use std::os::unix::fs::MetadataExt;
    let io_err = |e| Error::io(format!("opening {}", path.display()), e);
    loop {
        let mut o = fs::OpenOptions::new();
        o.read(true).write(true);
        if create_new {
            o.create_new(true);
        } else {
            o.create(true);
        }
        let file = o.open(path).map_err(io_err)?;
        if !try_lock(&file).map_err(io_err)? {
            return Ok(None);
        }
        let same = match fs::metadata(path) {
            Ok(m) => file.metadata().map_err(io_err)?.ino() == m.ino(),
            Err(_) => false,
        };
        if same {
            return Ok(Some(file));
        }
    }
}

/// A non-blocking exclusive flock; false when someone else holds it.
fn try_lock(f: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this File owns for the whole call; no
    // memory is passed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Hashes while writing; `commit` verifies and publishes under the digest.
/// Dropping without commit removes the partial file, except a resumable
/// download's, which stays for the next pull to continue.
pub struct BlobWriter {
    store: ContentStore,
    file: Option<File>,
    path: PathBuf,
    hasher: Hasher,
    count: u64,
    expected: Option<Digest>,
    size: Option<u64>,
    /// Keep the partial file on drop (a resumable download).
    keep: bool,
}

impl BlobWriter {
    /// Bytes accepted so far (a resumed download's prefix included).
    pub fn written(&self) -> u64 {
        self.count
    }

    /// Gives up on the blob, removing the partial file even of a resumable
    /// download (its bytes are known to be wrong).
    pub fn discard(mut self) {
        self.keep = false;
    }

    /// Verifies digest and size, syncs, and renames into place.
    pub fn commit(mut self) -> Result<Digest> {
        // Bytes that fail the check are no prefix worth resuming.
        self.keep = false;
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
        // An empty file is nothing to resume.
        if self.file.take().is_some() && (!self.keep || self.count == 0) {
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
    fn an_interrupted_download_resumes_where_it_stopped() {
        let (_d, s) = store();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::of(&data);
        let (mut w, have) = s.resumable_writer(&d, data.len() as u64).unwrap();
        assert_eq!(have, 0);
        w.write_all(&data[..123_456]).unwrap();
        drop(w); // the pull dies: the partial file stays for the next one
        assert_eq!(s.ingests().iter().map(|i| (i.size, i.held)).collect::<Vec<_>>(), vec![(123_456, false)]);

        let (mut w, have) = s.resumable_writer(&d, data.len() as u64).unwrap();
        assert_eq!(have, 123_456);
        let mut prefix = Vec::new();
        s.ingest_prefix(&w, have).unwrap().read_to_end(&mut prefix).unwrap();
        assert_eq!(prefix, &data[..123_456]);
        assert!(s.ingests()[0].held, "the resuming writer holds it");
        assert_eq!(s.sweep_ingest(), 0, "a held file is not swept");
        w.write_all(&data[123_456..]).unwrap();
        assert_eq!(w.commit().unwrap(), d);
        assert_eq!(s.read(&d).unwrap(), data);
        assert!(ingest_is_empty(&s));
    }

    #[test]
    fn a_resumed_prefix_that_does_not_match_is_discarded() {
        let (_d, s) = store();
        let data = b"the real blob".to_vec();
        let d = Digest::of(&data);
        fs::write(s.root().join("ingest").join(d.hex()), b"garbage").unwrap();
        let (mut w, have) = s.resumable_writer(&d, data.len() as u64).unwrap();
        assert_eq!(have, 7);
        w.write_all(&data[7..]).unwrap();
        assert!(matches!(w.commit(), Err(Error::DigestMismatch { .. })));
        assert!(ingest_is_empty(&s), "the bad prefix is gone: the next pull starts afresh");
        // Longer than the blob: truncated at once.
        fs::write(s.root().join("ingest").join(d.hex()), vec![0u8; 100]).unwrap();
        assert_eq!(s.resumable_writer(&d, data.len() as u64).unwrap().1, 0);
    }

    #[test]
    fn a_download_in_progress_elsewhere_gets_its_own_file() {
        let (_d, s) = store();
        let data = b"shared blob".to_vec();
        let d = Digest::of(&data);
        let (mut a, _) = s.resumable_writer(&d, data.len() as u64).unwrap();
        let (mut b, have) = s.resumable_writer(&d, data.len() as u64).unwrap();
        assert_eq!(have, 0);
        a.write_all(&data).unwrap();
        b.write_all(&data).unwrap();
        assert_eq!(b.commit().unwrap(), d);
        assert_eq!(a.commit().unwrap(), d);
        assert!(ingest_is_empty(&s));
    }

    #[test]
    fn sweeping_removes_only_what_no_live_writer_holds() {
        let (_d, s) = store();
        let mut live = s.writer(None, None).unwrap();
        live.write_all(b"in progress").unwrap();
        fs::write(s.root().join("ingest").join("4242-0-1"), b"left by a dead writer").unwrap();
        assert_eq!(s.sweep_ingest(), 21);
        let left = s.ingests();
        assert_eq!((left.len(), left[0].held), (1, true));
        live.write_all(b" still").unwrap();
        live.commit().unwrap();
        assert!(ingest_is_empty(&s));
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
