//! Unpacking a layer tarball into a directory in overlayfs's diff format:
//! `.wh.NAME` whiteouts become 0/0 character devices, `.wh..wh..opq` marks its
//! directory opaque (`trusted.overlay.opaque=y`), so the directory can be an
//! overlay lower layer as it is, and many containers share it.
//!
//! The tarball is untrusted. Entries are checked before anything is written:
//! no absolute paths, no `..` above the root, no path through a symlink (all
//! lookups use openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), hard links only
//! to files of the same layer, no overlay xattrs smuggled in through PAX, and
//! device nodes only when running as root. Nothing is ever written outside
//! the destination.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

use sys::root::Follow;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::io::read_full;
use crate::manifest::Compression;
use crate::readahead::{with_readahead, CHUNK};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// What unpacking produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream: the layer's diff ID.
    pub diff_id: Digest,
    /// Bytes of the uncompressed stream.
    pub size: u64,
    /// Tar entries read from the stream.
    pub entries: u64,
}

/// Wraps a layer stream in its decompressor.
pub fn decompress<'a, R: Read + Send + 'a>(stream: R, compression: Compression) -> Result<Box<dyn Read + Send + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(stream),
        Compression::Gzip => {
            Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(256 << 10, stream)))
        }
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(io::BufReader::with_capacity(256 << 10, stream))
                .map_err(|e| Error::Invalid(format!("zstd stream: {e}")))?,
        ),
    })
}

/// Unpacks the (possibly compressed) tar `stream` into `dest`, an empty
/// directory. `layer` names the layer in errors.
///
/// Two stages on two threads, joined by a small bounded channel: one reads
/// the stream (in a pull: the network, the compressed digest and the blob
/// file behind it), decompresses and hashes the diff ID; the other parses the
/// tar and writes files. Each stage is about half the work.
pub fn unpack(stream: impl Read + Send, compression: Compression, dest: &Path, layer: &str) -> Result<Unpacked> {
    unpack_with(stream, compression, dest, layer, is_root())
}

/// `unpack`, saying whether we may create devices and set owners (root).
fn unpack_with(
    stream: impl Read + Send,
    compression: Compression,
    dest: &Path,
    layer: &str,
    as_root: bool,
) -> Result<Unpacked> {
    let root = sys::root::open_root(dest).map_err(|e| Error::io(format!("opening {}", dest.display()), e))?;
    let mut u = Unpacker { root: root.as_raw_fd(), layer, as_root, parent: None, dirs: VecDeque::new(), entries: 0 };
    // Decompression happens on the read-ahead thread; the diff ID is hashed
    // on this side, which balances the two (decompression is the heavier).
    let plain = decompress(stream, compression)?;
    let ((diff_id, size, consumed), produced) = with_readahead(plain, |chan| {
        let mut reader = HashingReader::new(chan);
        let consumed = (|| -> Result<()> {
            let mut archive = tar::Archive::new(&mut reader);
            let entries = archive.entries().map_err(|e| u.err("", format!("reading the tar stream: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| u.stream_err(e))?;
                u.entry(&mut entry)?;
                u.entries += 1;
            }
            // The diff ID covers the whole stream, the tar trailer included.
            io::copy(&mut reader, &mut io::sink()).map_err(|e| u.stream_err(e))?;
            Ok(())
        })();
        let (diff_id, size) = reader.finish();
        (diff_id, size, consumed)
    });
    // A stream error explains a tar error, so it is the one reported.
    produced.map_err(|e| Error::Layer {
        layer: layer.to_string(),
        entry: String::new(),
        reason: format!("corrupt or truncated layer stream: {e}"),
    })?;
    consumed?;
    u.finish_dirs()?;
    Ok(Unpacked { diff_id, size, entries: u.entries })
}

/// Copies a file's data with large writes; read errors are the stream's
/// (truncated, corrupt), write errors the disk's.
fn copy_data(from: &mut impl Read, to: &mut std::fs::File) -> std::result::Result<(), (bool, io::Error)> {
    use std::io::Write;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = read_full(from, &mut buf).map_err(|e| (true, e))?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n]).map_err(|e| (false, e))?;
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Lexically cleans a tar path into plain components; refuses absolute
/// paths and `..` that climbs above the root.
fn clean(raw: &Path) -> std::result::Result<PathBuf, &'static str> {
    if raw.is_absolute() {
        return Err("absolute path in a layer");
    }
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err("path escapes the layer root");
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err("absolute path in a layer"),
        }
    }
    Ok(out)
}

fn cstr(s: &std::ffi::OsStr) -> io::Result<CString> {
    sys::cstring(s.as_encoded_bytes())
}

struct Unpacker<'a> {
    root: RawFd,
    layer: &'a str,
    as_root: bool,
    /// The last parent directory opened: entries come grouped by directory.
    parent: Option<(PathBuf, OwnedFd)>,
    /// Directories whose times are set at the end (creating children touches them).
    dirs: VecDeque<(PathBuf, i64)>,
    entries: u64,
}

impl Unpacker<'_> {
    fn err(&self, entry: &str, reason: impl Into<String>) -> Error {
        Error::Layer { layer: self.layer.to_string(), entry: entry.to_string(), reason: reason.into() }
    }

    fn stream_err(&self, e: io::Error) -> Error {
        self.err("", format!("corrupt or truncated layer stream: {e}"))
    }

    /// An fd of the parent directory of `rel`, creating missing directories
    /// (never through a symlink).
    fn parent_fd(&mut self, parent: &Path, shown: &str) -> Result<RawFd> {
        if self.parent.as_ref().is_none_or(|(p, _)| p != parent) {
            let fd = if parent.as_os_str().is_empty() {
                sys::root::open(self.root, Path::new("."), libc::O_PATH | libc::O_DIRECTORY, 0, Follow::Never)
            } else {
                sys::root::mkdir_all_with(self.root, parent, Follow::Never)
            }
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => self.err(shown, "a parent directory is a symlink"),
                Some(libc::ENOTDIR) => self.err(shown, "a parent path is not a directory"),
                _ => self.err(shown, format!("creating the parent directory: {e}")),
            })?;
            self.parent = Some((parent.to_path_buf(), fd));
        }
        Ok(self.parent.as_ref().map_or(-1, |(_, fd)| fd.as_raw_fd()))
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path().map_err(|e| self.err("", format!("invalid path: {e}")))?.into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let rel = clean(&raw).map_err(|r| self.err(&shown, r))?;
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            return Ok(()); // the root directory itself
        };
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let kind = entry.header().entry_type();
        let name_str = name.to_string_lossy();

        if name_str == OPAQUE {
            let dir = sys::root::mkdir_all_with(self.root, &parent, Follow::Never)
                .map_err(|e| self.err(&shown, format!("opaque directory: {e}")))?;
            self.set_xattr_dir(dir.as_raw_fd(), "trusted.overlay.opaque", b"y")
                .map_err(|e| self.err(&shown, format!("marking opaque: {e}")))?;
            return Ok(());
        }
        if let Some(target) = name_str.strip_prefix(WHITEOUT_PREFIX) {
            if target.is_empty() || target.contains('/') {
                return Err(self.err(&shown, "malformed whiteout"));
            }
            if !self.as_root {
                return Err(self.err(&shown, "whiteouts need root (they are device nodes in overlayfs)"));
            }
            let pfd = self.parent_fd(&parent, &shown)?;
            let c = cstr(std::ffi::OsStr::new(target)).map_err(|e| self.err(&shown, e.to_string()))?;
            remove_any(pfd, &c).map_err(|e| self.err(&shown, format!("replacing: {e}")))?;
            // SAFETY: a single name under a directory fd inside the layer.
            if unsafe { libc::mknodat(pfd, c.as_ptr(), libc::S_IFCHR, libc::makedev(0, 0)) } < 0 {
                return Err(self.err(&shown, format!("whiteout: {}", io::Error::last_os_error())));
            }
            return Ok(());
        }

        let hdr = entry.header();
        let mode = hdr.mode().map_err(|e| self.err(&shown, e.to_string()))? & 0o7777;
        let uid = hdr.uid().map_err(|e| self.err(&shown, e.to_string()))? as u32;
        let gid = hdr.gid().map_err(|e| self.err(&shown, e.to_string()))? as u32;
        let mtime = hdr.mtime().unwrap_or(0) as i64;
        let cname = cstr(&name).map_err(|e| self.err(&shown, e.to_string()))?;
        let pfd = self.parent_fd(&parent, &shown)?;

        match kind {
            tar::EntryType::Directory => {
                // SAFETY: one name under a directory fd inside the layer.
                if unsafe { libc::mkdirat(pfd, cname.as_ptr(), 0o700) } < 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(self.err(&shown, format!("mkdir: {e}")));
                    }
                    if !is_dir_at(pfd, &cname) {
                        remove_any(pfd, &cname).map_err(|e| self.err(&shown, format!("replacing: {e}")))?;
                        // SAFETY: as above.
                        if unsafe { libc::mkdirat(pfd, cname.as_ptr(), 0o700) } < 0 {
                            return Err(self.err(&shown, format!("mkdir: {}", io::Error::last_os_error())));
                        }
                    }
                }
                let dir = sys::root::open(self.root, &rel, libc::O_RDONLY | libc::O_DIRECTORY, 0, Follow::Never)
                    .map_err(|e| self.err(&shown, format!("opening: {e}")))?;
                self.owner_mode(dir.as_raw_fd(), uid, gid, mode).map_err(|e| self.err(&shown, e.to_string()))?;
                self.xattrs(entry, dir.as_raw_fd(), &shown)?;
                self.dirs.push_back((rel, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let fd = create_file(pfd, &cname).map_err(|e| self.err(&shown, format!("create: {e}")))?;
                let mut f = std::fs::File::from(fd);
                copy_data(entry, &mut f).map_err(|(stream, e)| {
                    if stream {
                        self.stream_err(e)
                    } else {
                        self.err(&shown, format!("write: {e}"))
                    }
                })?;
                self.owner_mode(f.as_raw_fd(), uid, gid, mode).map_err(|e| self.err(&shown, e.to_string()))?;
                self.xattrs(entry, f.as_raw_fd(), &shown)?;
                set_times_fd(f.as_raw_fd(), mtime).map_err(|e| self.err(&shown, e.to_string()))?;
            }
            tar::EntryType::Symlink => {
                let target =
                    entry.link_name_bytes().ok_or_else(|| self.err(&shown, "symlink without a target"))?.into_owned();
                let t = sys::cstring(&target).map_err(|e| self.err(&shown, e.to_string()))?;
                remove_any(pfd, &cname).map_err(|e| self.err(&shown, format!("replacing: {e}")))?;
                // SAFETY: valid C strings; the link is made under a directory inside the layer.
                if unsafe { libc::symlinkat(t.as_ptr(), pfd, cname.as_ptr()) } < 0 {
                    return Err(self.err(&shown, format!("symlink: {}", io::Error::last_os_error())));
                }
                if self.as_root {
                    // SAFETY: AT_SYMLINK_NOFOLLOW changes the link itself.
                    unsafe { libc::fchownat(pfd, cname.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) };
                }
                set_times_at(pfd, &cname, mtime).map_err(|e| self.err(&shown, e.to_string()))?;
            }
            tar::EntryType::Link => {
                let raw_target = entry.link_name().map_err(|e| self.err(&shown, e.to_string()))?;
                let raw_target = raw_target.ok_or_else(|| self.err(&shown, "hard link without a target"))?.into_owned();
                let target = clean(&raw_target).map_err(|r| self.err(&shown, format!("hard link target: {r}")))?;
                let (tname, tparent) = match (target.file_name(), target.parent()) {
                    (Some(n), Some(p)) => (n.to_os_string(), p.to_path_buf()),
                    _ => return Err(self.err(&shown, "hard link to the layer root")),
                };
                let tdir = sys::root::open(
                    self.root,
                    if tparent.as_os_str().is_empty() { Path::new(".") } else { &tparent },
                    libc::O_PATH | libc::O_DIRECTORY,
                    0,
                    Follow::Never,
                )
                .map_err(|_| self.err(&shown, format!("hard link target {raw_target:?} is not in this layer")))?;
                let tc = cstr(&tname).map_err(|e| self.err(&shown, e.to_string()))?;
                remove_any(pfd, &cname).map_err(|e| self.err(&shown, format!("replacing: {e}")))?;
                // SAFETY: both names are single components under directory fds
                // inside the layer; flags 0 never follows a symlink target.
                if unsafe { libc::linkat(tdir.as_raw_fd(), tc.as_ptr(), pfd, cname.as_ptr(), 0) } < 0 {
                    let e = io::Error::last_os_error();
                    return Err(if e.raw_os_error() == Some(libc::ENOENT) {
                        self.err(&shown, format!("hard link target {raw_target:?} is not in this layer"))
                    } else {
                        self.err(&shown, format!("hard link: {e}"))
                    });
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ftype = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                if ftype != libc::S_IFIFO && !self.as_root {
                    return Err(self.err(&shown, "device nodes need root"));
                }
                let major = hdr.device_major().ok().flatten().unwrap_or(0);
                let minor = hdr.device_minor().ok().flatten().unwrap_or(0);
                remove_any(pfd, &cname).map_err(|e| self.err(&shown, format!("replacing: {e}")))?;
                // SAFETY: one name under a directory fd inside the layer.
                if unsafe { libc::mknodat(pfd, cname.as_ptr(), ftype | mode, libc::makedev(major, minor)) } < 0 {
                    return Err(self.err(&shown, format!("mknod: {}", io::Error::last_os_error())));
                }
                if self.as_root {
                    // SAFETY: as above.
                    unsafe { libc::fchownat(pfd, cname.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) };
                }
                set_times_at(pfd, &cname, mtime).map_err(|e| self.err(&shown, e.to_string()))?;
            }
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            other => return Err(self.err(&shown, format!("unsupported tar entry type {other:?}"))),
        }
        Ok(())
    }

    fn owner_mode(&self, fd: RawFd, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
        if self.as_root {
            // SAFETY: fchown on our fd. Before chmod: chown clears set-id bits.
            if unsafe { libc::fchown(fd, uid, gid) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: fchmod on our fd.
        if unsafe { libc::fchmod(fd, mode) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// PAX `SCHILY.xattr.*` records. Overlay's own xattrs are refused: a
    /// layer must not be able to fake whiteouts, opacity or redirects.
    fn xattrs<R: Read>(&self, entry: &mut tar::Entry<'_, R>, fd: RawFd, shown: &str) -> Result<()> {
        let Ok(Some(exts)) = entry.pax_extensions() else { return Ok(()) };
        for ext in exts.flatten() {
            let Ok(key) = ext.key() else { continue };
            let Some(name) = key.strip_prefix("SCHILY.xattr.") else { continue };
            if name.starts_with("trusted.overlay.") {
                return Err(self.err(shown, format!("xattr {name} is reserved for overlayfs")));
            }
            if !self.as_root && !name.starts_with("user.") {
                continue;
            }
            let cname = sys::cstring(name).map_err(|e| self.err(shown, e.to_string()))?;
            let value = ext.value_bytes();
            // SAFETY: valid name and value buffers for the duration of the call.
            let r = unsafe { libc::fsetxattr(fd, cname.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                // Filesystems without xattr support: the file is still usable.
                if e.raw_os_error() != Some(libc::ENOTSUP) {
                    return Err(self.err(shown, format!("xattr {name}: {e}")));
                }
            }
        }
        Ok(())
    }

    fn set_xattr_dir(&self, dir: RawFd, name: &str, value: &[u8]) -> io::Result<()> {
        // An O_PATH fd cannot carry xattrs: reopen it for reading.
        let path = CString::new(format!("/proc/self/fd/{dir}")).map_err(io::Error::other)?;
        // SAFETY: valid C string; the fd returned is ours.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let cname = sys::cstring(name)?;
        // SAFETY: valid buffers.
        if unsafe { libc::fsetxattr(fd.as_raw_fd(), cname.as_ptr(), value.as_ptr().cast(), value.len(), 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<()> {
        self.parent = None;
        // Deepest first, so setting a child's times does not change its parent's.
        let mut dirs: Vec<_> = self.dirs.drain(..).collect();
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (rel, mtime) in dirs {
            if let Ok(fd) = sys::root::open(self.root, &rel, libc::O_RDONLY | libc::O_DIRECTORY, 0, Follow::Never) {
                set_times_fd(fd.as_raw_fd(), mtime).map_err(|e| self.err(&rel.to_string_lossy(), e.to_string()))?;
            }
        }
        Ok(())
    }
}

fn is_dir_at(dir: RawFd, name: &CString) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid out-pointer; AT_SYMLINK_NOFOLLOW inspects the entry itself.
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    // SAFETY: initialised when fstatat succeeded.
    r == 0 && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Removes whatever is at `name` (a later entry replaces an earlier one).
fn remove_any(dir: RawFd, name: &CString) -> io::Result<()> {
    // SAFETY: one name under a directory fd.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => Ok(()),
        Some(libc::EISDIR) => {
            // The magic link names exactly our directory fd; remove_dir_all
            // never follows symlinks inside what it removes.
            use std::os::unix::ffi::OsStrExt;
            let path = PathBuf::from(format!("/proc/self/fd/{dir}")).join(std::ffi::OsStr::from_bytes(name.as_bytes()));
            std::fs::remove_dir_all(path)
        }
        _ => Err(e),
    }
}

fn create_file(dir: RawFd, name: &CString) -> io::Result<OwnedFd> {
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    for attempt in 0..2 {
        // SAFETY: one name under a directory fd; O_EXCL|O_NOFOLLOW never
        // write through an existing symlink.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, 0o600) };
        if fd >= 0 {
            // SAFETY: fresh fd.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) || attempt == 1 {
            return Err(e);
        }
        remove_any(dir, name)?;
    }
    Err(io::Error::other("unreachable"))
}

fn times(mtime: i64) -> [libc::timespec; 2] {
    let t = libc::timespec { tv_sec: mtime, tv_nsec: 0 };
    [t, t]
}

fn set_times_fd(fd: RawFd, mtime: i64) -> io::Result<()> {
    let ts = times(mtime);
    // SAFETY: two valid timespecs.
    if unsafe { libc::futimens(fd, ts.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_times_at(dir: RawFd, name: &CString, mtime: i64) -> io::Result<()> {
    let ts = times(mtime);
    // SAFETY: two valid timespecs; AT_SYMLINK_NOFOLLOW sets the entry itself.
    if unsafe { libc::utimensat(dir, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unpacks, from blobs already in the content store, every layer of `layers`
/// that is not unpacked yet; layers in parallel (each is its own directory).
/// Each layer's diff ID is checked against its record.
pub fn ensure_unpacked(store: &crate::ImageStore, layers: &[crate::LayerRecord]) -> Result<()> {
    let todo: Vec<&crate::LayerRecord> = layers.iter().filter(|l| !store.has_layer(&l.chain_id)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = todo
            .iter()
            .map(|l| {
                s.spawn(move || -> Result<()> {
                    let blob = store.content().open_blob(&l.blob.digest)?;
                    let compression = Compression::of_layer(&l.blob.media_type).unwrap_or(Compression::Gzip);
                    unpack_layer(store, blob, compression, l).map(|_| ())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|_| Err(Error::Invalid("layer unpacking panicked".into()))))
    })
}

/// Unpacks one layer stream into a staging directory, checks its diff ID and
/// publishes it under its chain ID.
pub fn unpack_layer(
    store: &crate::ImageStore,
    stream: impl Read + Send,
    compression: Compression,
    l: &crate::LayerRecord,
) -> Result<Unpacked> {
    let staged = stage_layer(store, stream, compression, l)?;
    let u = staged.unpacked.clone();
    staged.commit(store)?;
    Ok(u)
}

/// A layer unpacked and checked but not yet published: the caller may still
/// verify something else (the compressed blob) first. Dropped uncommitted,
/// it is removed.
pub struct Staged {
    dir: PathBuf,
    meta: crate::store::LayerMeta,
    /// What unpacking found: the diff id and size.
    pub unpacked: Unpacked,
    committed: bool,
}

impl Staged {
    /// Publishes the layer under its chain id (see
    /// [`ImageStore::commit_layer`](crate::ImageStore::commit_layer)); a
    /// layer committed meanwhile by another process wins, with the same
    /// bytes.
    pub fn commit(mut self, store: &crate::ImageStore) -> Result<()> {
        self.committed = true;
        store.commit_layer(&self.dir, &self.meta)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Unpacks one layer stream into a staging directory and checks its diff id
/// against `l`'s ([`Error::Layer`] when it differs), without publishing it:
/// [`Staged::commit`] does.
pub fn stage_layer(
    store: &crate::ImageStore,
    stream: impl Read + Send,
    compression: Compression,
    l: &crate::LayerRecord,
) -> Result<Staged> {
    let dir = store.layer_staging()?;
    let meta = crate::store::LayerMeta { diff_id: l.diff_id.clone(), chain_id: l.chain_id.clone(), size: 0 };
    let mut staged =
        Staged { dir, meta, unpacked: Unpacked { diff_id: l.diff_id.clone(), size: 0, entries: 0 }, committed: false };
    let u = unpack(stream, compression, &staged.dir.join("diff"), l.blob.digest.short())?;
    if u.diff_id != l.diff_id {
        return Err(Error::Layer {
            layer: l.blob.digest.short().to_string(),
            entry: String::new(),
            reason: format!("diff id mismatch: the config says {}, the layer is {}", l.diff_id, u.diff_id),
        });
    }
    staged.meta.size = u.size;
    staged.unpacked = u;
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// A tar built entry by entry, with raw names (the tar crate's builder
    /// refuses the hostile ones we need to test).
    struct Tar(Vec<u8>);

    impl Tar {
        fn new() -> Tar {
            Tar(Vec::new())
        }
        fn raw(&mut self, name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8], mode: u32) -> &mut Tar {
            let mut h = tar::Header::new_gnu();
            {
                let old = h.as_old_mut();
                old.name[..name.len()].copy_from_slice(name.as_bytes());
                if let Some(l) = link {
                    old.linkname[..l.len()].copy_from_slice(l.as_bytes());
                }
            }
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_uid(1234);
            h.set_gid(5678);
            h.set_mtime(1_000_000);
            h.set_cksum();
            self.0.extend_from_slice(h.as_bytes());
            self.0.extend_from_slice(data);
            let pad = (512 - data.len() % 512) % 512;
            self.0.extend(std::iter::repeat_n(0, pad));
            self
        }
        fn file(&mut self, name: &str, data: &[u8]) -> &mut Tar {
            self.raw(name, tar::EntryType::Regular, None, data, 0o644)
        }
        fn dir(&mut self, name: &str) -> &mut Tar {
            self.raw(name, tar::EntryType::Directory, None, b"", 0o755)
        }
        fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
            self.raw(name, tar::EntryType::Symlink, Some(target), b"", 0o777)
        }
        fn hardlink(&mut self, name: &str, target: &str) -> &mut Tar {
            self.raw(name, tar::EntryType::Link, Some(target), b"", 0o644)
        }
        fn bytes(&mut self) -> Vec<u8> {
            let mut v = self.0.clone();
            v.extend(std::iter::repeat_n(0, 1024));
            v
        }
    }

    fn unpack_into(tar: &[u8]) -> (tempfile::TempDir, Result<Unpacked>) {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("layer");
        std::fs::create_dir(&dest).unwrap();
        let r = unpack(tar, Compression::None, &dest, "test");
        (d, r)
    }

    fn nothing_outside(d: &tempfile::TempDir) {
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("layer")], "something was written outside the layer");
    }

    #[test]
    fn files_dirs_links_and_metadata() {
        let tar = Tar::new()
            .dir("etc/")
            .file("etc/hosts", b"127.0.0.1 localhost\n")
            .raw("bin/tool", tar::EntryType::Regular, None, b"#!", 0o4755)
            .symlink("etc/link", "/etc/hosts")
            .hardlink("etc/hosts2", "etc/hosts")
            .raw("dev/null", tar::EntryType::Char, None, b"", 0o666)
            .bytes();
        let (d, r) = unpack_into(&tar);
        let u = r.unwrap();
        assert_eq!(u.diff_id, Digest::of(&tar));
        assert_eq!(u.entries, 6);
        let l = d.path().join("layer");
        assert_eq!(std::fs::read(l.join("etc/hosts")).unwrap(), b"127.0.0.1 localhost\n");
        let m = std::fs::metadata(l.join("etc/hosts")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()), (1234, 5678, 0o644, 1_000_000));
        assert_eq!(std::fs::metadata(l.join("bin/tool")).unwrap().mode() & 0o7777, 0o4755, "setuid kept");
        assert_eq!(std::fs::read_link(l.join("etc/link")).unwrap(), Path::new("/etc/hosts"));
        assert_eq!(std::fs::metadata(l.join("etc/hosts2")).unwrap().ino(), m.ino(), "hard link");
        assert!(std::fs::metadata(l.join("dev/null")).unwrap().file_type().is_char_device());
        assert_eq!(std::fs::metadata(l.join("etc")).unwrap().mtime(), 1_000_000, "dir times set last");
        nothing_outside(&d);
    }

    #[test]
    fn device_nodes_need_root() {
        let tar = Tar::new().raw("dev/sda", tar::EntryType::Block, None, b"", 0o660).bytes();
        let d = tempfile::tempdir().unwrap();
        let e = unpack_with(&tar[..], Compression::None, d.path(), "test", false).unwrap_err();
        assert_eq!(e.to_string(), "layer test: entry \"dev/sda\": device nodes need root");
        assert!(!d.path().join("dev/sda").exists());
        // A FIFO is no device: fine without root.
        let tar = Tar::new().raw("run/fifo", tar::EntryType::Fifo, None, b"", 0o600).bytes();
        let d = tempfile::tempdir().unwrap();
        unpack_with(&tar[..], Compression::None, d.path(), "test", false).unwrap();
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        let tar = Tar::new()
            .dir("a/")
            .file("a/.wh.gone", b"")
            .dir("b/")
            .file("b/.wh..wh..opq", b"")
            .file("b/kept", b"x")
            .bytes();
        let (d, r) = unpack_into(&tar);
        r.unwrap();
        let l = d.path().join("layer");
        let m = std::fs::symlink_metadata(l.join("a/gone")).unwrap();
        assert!(m.file_type().is_char_device() && m.rdev() == 0, "0/0 char device");
        assert!(!l.join("a/.wh.gone").exists());
        let mut buf = [0u8; 8];
        let path = CString::new(l.join("b").to_str().unwrap()).unwrap();
        // SAFETY: valid path and buffer.
        let n = unsafe {
            libc::getxattr(path.as_ptr(), c"trusted.overlay.opaque".as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        assert_eq!(&buf[..n.max(0) as usize], b"y");
        assert!(!l.join("b/.wh..wh..opq").exists());
    }

    #[test]
    fn dot_dot_paths_are_refused() {
        let (d, r) = unpack_into(&Tar::new().file("../escape", b"x").bytes());
        assert_eq!(r.unwrap_err().to_string(), "layer test: entry \"../escape\": path escapes the layer root");
        nothing_outside(&d);
        let (d, r) = unpack_into(&Tar::new().file("a/../../escape", b"x").bytes());
        assert!(r.unwrap_err().to_string().contains("escapes"));
        nothing_outside(&d);
    }

    #[test]
    fn absolute_paths_are_refused() {
        let (d, r) = unpack_into(&Tar::new().file("/etc/passwd", b"x").bytes());
        assert!(r.unwrap_err().to_string().contains("absolute path"));
        nothing_outside(&d);
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        let (d, r) = unpack_into(&Tar::new().symlink("evil", "..").file("evil/escaped", b"x").bytes());
        assert_eq!(r.unwrap_err().to_string(), "layer test: entry \"evil/escaped\": a parent directory is a symlink");
        nothing_outside(&d);
        let (d, r) = unpack_into(&Tar::new().symlink("etc", "/etc").file("etc/shadow", b"x").bytes());
        assert!(r.unwrap_err().to_string().contains("symlink"));
        nothing_outside(&d);
    }

    #[test]
    fn a_file_entry_never_writes_through_an_existing_symlink() {
        // The same name first as a symlink to a host file, then as a file: the
        // symlink is replaced, the host file untouched.
        let victim = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(victim.path(), "original").unwrap();
        let tar = Tar::new().symlink("x", victim.path().to_str().unwrap()).file("x", b"overwritten").bytes();
        let (d, r) = unpack_into(&tar);
        r.unwrap();
        assert_eq!(std::fs::read_to_string(victim.path()).unwrap(), "original");
        assert_eq!(std::fs::read(d.path().join("layer/x")).unwrap(), b"overwritten");
    }

    #[test]
    fn hard_links_to_outside_files_are_refused() {
        let (d, r) = unpack_into(&Tar::new().hardlink("passwd", "../../../etc/passwd").bytes());
        assert!(r.unwrap_err().to_string().contains("hard link target: path escapes"));
        nothing_outside(&d);
        let (d, r) = unpack_into(&Tar::new().hardlink("passwd", "/etc/passwd").bytes());
        assert!(r.unwrap_err().to_string().contains("hard link target: absolute path"));
        nothing_outside(&d);
        let (d, r) = unpack_into(&Tar::new().hardlink("x", "not/here").bytes());
        assert!(r.unwrap_err().to_string().contains("is not in this layer"));
        nothing_outside(&d);
    }

    #[test]
    fn overlay_xattrs_cannot_be_smuggled_in() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("SCHILY.xattr.trusted.overlay.opaque", b"y".as_slice())]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_path("dir/").unwrap();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let (_d, r) = unpack_into(&tar);
        let e = r.map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string());
        assert!(e.contains("reserved for overlayfs"), "{e}");
    }

    #[test]
    fn truncated_and_corrupt_streams_fail_clearly() {
        let mut tar = Tar::new().file("big", &vec![1u8; 10_000]).bytes();
        tar.truncate(3000);
        let (_d, r) = unpack_into(&tar);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("corrupt or truncated"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let e = unpack(&b"\x1f\x8b\x08\x00garbage"[..], Compression::Gzip, d.path(), "gz").unwrap_err().to_string();
        assert!(e.contains("corrupt or truncated") || e.contains("tar stream"), "{e}");
    }

    #[test]
    fn gzip_layers_unpack_and_the_diff_id_is_of_the_plain_tar() {
        let tar = Tar::new().file("hello", b"world").bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let d = tempfile::tempdir().unwrap();
        let u = unpack(&gz[..], Compression::Gzip, d.path(), "gz").unwrap();
        assert_eq!(u.diff_id, Digest::of(&tar));
        assert_eq!(std::fs::read(d.path().join("hello")).unwrap(), b"world");
    }
}
