//! A writable layer (a directory in overlayfs's diff format: a container's
//! upper directory, a build step's changes) as an OCI layer tar, and as
//! docker's list of changes against the layers below it.
//!
//! Both the builder (a RUN's layer), `commit` and `diff` read upper
//! directories the same way: 0/0 character devices are whiteouts, the
//! `trusted.overlay.opaque` xattr marks a directory that hides what is
//! below it.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::digest::{chain_ids, Digest};
use crate::error::{Error, Result};
use crate::manifest::{media, Compression, Descriptor};
use crate::store::{ImageStore, LayerRecord};

/// Paths (relative to the layer's root, no leading `/`) left out of a tar
/// or a change list: what only a container's own mounts put in its upper
/// directory.
pub type Skip<'a> = &'a dyn Fn(&Path) -> bool;

/// Writes `dir` (overlay diff format) as an OCI layer tar: names sorted,
/// 0/0 character devices as `.wh.NAME` whiteouts, opaque directories with
/// `.wh..wh..opq`, hard links as links, owners, modes and times kept.
pub fn write_tar(dir: &Path, out: impl Write) -> Result<()> {
    write_tar_skipping(dir, out, &|_| false)
}

/// [`write_tar`] without the paths `skip` says.
pub fn write_tar_skipping(dir: &Path, out: impl Write, skip: Skip) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Complete);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(&mut b, dir, Path::new(""), &mut links, skip)
        .map_err(|e| Error::io(format!("archiving {}", dir.display()), e))?;
    b.into_inner().and_then(|mut w| w.flush()).map_err(|e| Error::io("writing the layer", e))?;
    Ok(())
}

/// Stores `upper` as a new layer on top of `parent` (the diff ids below
/// it), leaving `upper` as it is (a live container keeps using it): the tar
/// goes into the content store (uncompressed, as docker keeps committed
/// layers locally, so its digest is also the diff id) and is unpacked as
/// the layer's directory unless the same layer is there already.
pub fn store_layer(store: &ImageStore, upper: &Path, parent: &[Digest], skip: Skip) -> Result<LayerRecord> {
    let mut w = store.content().writer(None, None)?;
    write_tar_skipping(upper, &mut w, skip)?;
    let size = w.written();
    let digest = w.commit()?;
    let record = layer_record(digest, size, parent);
    if !store.has_layer(&record.chain_id) {
        let blob = store.content().open_blob(&record.blob.digest)?;
        crate::layer::unpack_layer(store, blob, Compression::None, &record)?;
    }
    Ok(record)
}

/// The record of an uncompressed layer blob `digest` on top of `parent`.
pub fn layer_record(digest: Digest, size: u64, parent: &[Digest]) -> LayerRecord {
    let mut diff_ids = parent.to_vec();
    diff_ids.push(digest.clone());
    let chain_id = chain_ids(&diff_ids).pop().unwrap_or_else(|| digest.clone());
    LayerRecord { blob: Descriptor::new(media::OCI_LAYER, digest.clone(), size), diff_id: digest, chain_id }
}

fn header_for(md: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(u64::from(md.uid()));
    h.set_gid(u64::from(md.gid()));
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn sorted_names(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names: Vec<_> = fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<_>>()?;
    names.sort();
    Ok(names)
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    skip: Skip,
) -> io::Result<()> {
    for name in sorted_names(&root.join(rel))? {
        let path = rel.join(&name);
        if skip(&path) {
            continue;
        }
        let full = root.join(&path);
        let md = fs::symlink_metadata(&full)?;
        let ft = md.file_type();
        if is_whiteout(&md) {
            let mut wh = std::ffi::OsString::from(".wh.");
            wh.push(&name);
            let mut h = header_for(&md, tar::EntryType::Regular);
            h.set_mode(0o644);
            b.append_data(&mut h, rel.join(wh), io::empty())?;
        } else if ft.is_dir() {
            let mut h = header_for(&md, tar::EntryType::Directory);
            b.append_data(&mut h, &path, io::empty())?;
            if is_opaque(&full) {
                let mut h = header_for(&md, tar::EntryType::Regular);
                h.set_mode(0o644);
                b.append_data(&mut h, path.join(".wh..wh..opq"), io::empty())?;
            }
            walk(b, root, &path, links, skip)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&full)?;
            let mut h = header_for(&md, tar::EntryType::Symlink);
            b.append_link(&mut h, &path, &target)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    let mut h = header_for(&md, tar::EntryType::Link);
                    b.append_link(&mut h, &path, first)?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), path.clone());
            }
            let mut h = header_for(&md, tar::EntryType::Regular);
            h.set_size(md.len());
            b.append_data(&mut h, &path, fs::File::open(&full)?)?;
        } else {
            let kind = if ft.is_fifo() {
                tar::EntryType::Fifo
            } else if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                // Sockets have no place in a layer (docker skips them too).
                continue;
            };
            let mut h = header_for(&md, kind);
            let rdev = md.rdev();
            h.set_device_major(libc::major(rdev))?;
            h.set_device_minor(libc::minor(rdev))?;
            b.append_data(&mut h, &path, io::empty())?;
        }
    }
    Ok(())
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    let mut v = [0u8; 1];
    // SAFETY: lgetxattr with a valid path and a 1-byte buffer.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), v.as_mut_ptr().cast(), 1) };
    n == 1 && v[0] == b'y'
}

/// docker's kinds of change (`GET /containers/{id}/changes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The path was there below and differs (content, metadata, or something
    /// under it).
    Modified = 0,
    /// The path is new.
    Added = 1,
    /// The path was removed (a whiteout).
    Deleted = 2,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path, absolute (`/etc/passwd`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The path in the container, absolute.
    pub path: String,
    /// Added, modified or deleted.
    pub kind: ChangeKind,
}

/// What `upper` changes over `lowers` (layer directories, top first), as
/// docker's list sorted by path: an entry the lower layers do not have is
/// added, one they have is modified, a whiteout is a deletion. A directory
/// the lower layers have is listed (modified) when something below it
/// changed or its owner or mode did: copying a directory up to create a
/// file in it is no change of its own.
pub fn changes(upper: &Path, lowers: &[PathBuf], skip: Skip) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    changes_in(upper, Path::new(""), lowers, skip, &mut out)
        .map_err(|e| Error::io(format!("reading the changes in {}", upper.display()), e))?;
    out.sort();
    Ok(out)
}

/// Appends the changes under `rel`; says whether there were any.
fn changes_in(upper: &Path, rel: &Path, lowers: &[PathBuf], skip: Skip, out: &mut Vec<Change>) -> io::Result<bool> {
    let start = out.len();
    for name in sorted_names(&upper.join(rel))? {
        let path = rel.join(&name);
        if skip(&path) {
            continue;
        }
        let md = fs::symlink_metadata(upper.join(&path))?;
        let shown = format!("/{}", path.display());
        let below = lower_entry(lowers, &path);
        if is_whiteout(&md) {
            // A whiteout of something no lower layer has hides nothing.
            if below.is_some() {
                out.push(Change { path: shown, kind: ChangeKind::Deleted });
            }
            continue;
        }
        match below {
            None => out.push(Change { path: shown, kind: ChangeKind::Added }),
            Some(lower) if md.is_dir() && lower.is_dir() && !is_opaque(&upper.join(&path)) => {
                let own = md.mode() != lower.mode() || md.uid() != lower.uid() || md.gid() != lower.gid();
                let at = out.len();
                if changes_in(upper, &path, lowers, skip, out)? || own {
                    out.insert(at, Change { path: shown, kind: ChangeKind::Modified });
                }
                continue;
            }
            Some(_) => out.push(Change { path: shown, kind: ChangeKind::Modified }),
        }
        if md.is_dir() {
            // Under an added (or opaque) directory everything is added.
            add_all(upper, &path, skip, out)?;
        }
    }
    Ok(out.len() > start)
}

fn add_all(upper: &Path, rel: &Path, skip: Skip, out: &mut Vec<Change>) -> io::Result<()> {
    for name in sorted_names(&upper.join(rel))? {
        let path = rel.join(&name);
        if skip(&path) {
            continue;
        }
        let md = fs::symlink_metadata(upper.join(&path))?;
        if is_whiteout(&md) {
            continue;
        }
        out.push(Change { path: format!("/{}", path.display()), kind: ChangeKind::Added });
        if md.is_dir() {
            add_all(upper, &path, skip, out)?;
        }
    }
    Ok(())
}

/// The entry at `rel` in the merged view of `lowers` (top first): the
/// topmost layer holding it wins; a whiteout, a non-directory or an opaque
/// directory on the way hides what is below.
pub fn lower_entry(lowers: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    let comps: Vec<_> = rel.components().collect();
    for layer in lowers {
        let mut dir = layer.clone();
        let mut hidden = false;
        for (i, c) in comps.iter().enumerate() {
            let p = dir.join(c);
            let Ok(md) = fs::symlink_metadata(&p) else { break };
            if is_whiteout(&md) {
                return None;
            }
            if i + 1 == comps.len() {
                return Some(md);
            }
            if !md.is_dir() {
                return None;
            }
            if is_opaque(&p) {
                hidden = true;
            }
            dir = p;
        }
        if hidden {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whiteout(p: &Path) {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a 0/0 character device, overlay's whiteout (root only).
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) }, 0);
    }

    fn opaque(p: &Path) {
        let o = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: an xattr on our own test directory.
        unsafe { libc::setxattr(o.as_ptr(), c"trusted.overlay.opaque".as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    }

    #[test]
    fn whiteouts_opaque_dirs_and_hard_links_become_oci_entries() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("etc/opaque")).unwrap();
        fs::write(root.join("etc/a"), "a").unwrap();
        fs::hard_link(root.join("etc/a"), root.join("etc/b")).unwrap();
        std::os::unix::fs::symlink("a", root.join("etc/link")).unwrap();
        whiteout(&root.join("etc/gone"));
        opaque(&root.join("etc/opaque"));
        let mut out = Vec::new();
        write_tar(root, &mut out).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let entries: Vec<(String, tar::EntryType)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type())
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        // In the order of the names in the directory (a whiteout sorts as its name).
        assert_eq!(
            names,
            ["etc", "etc/a", "etc/b", "etc/.wh.gone", "etc/link", "etc/opaque", "etc/opaque/.wh..wh..opq"]
        );
        assert_eq!(entries[2].1, tar::EntryType::Link);
        assert_eq!(entries[4].1, tar::EntryType::Symlink);
        // The same tree gives the same bytes (cache keys depend on it).
        let mut again = Vec::new();
        write_tar(root, &mut again).unwrap();
        assert_eq!(out, again);
        // Skipped paths are not in it.
        let mut fewer = Vec::new();
        write_tar_skipping(root, &mut fewer, &|p| p == Path::new("etc/a")).unwrap();
        let mut a = tar::Archive::new(&fewer[..]);
        assert_eq!(a.entries().unwrap().count(), names.len() - 1);
    }

    #[test]
    fn changes_are_dockers_added_modified_and_deleted() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("lower"), d.path().join("upper"));
        for p in ["etc", "usr/lib", "var/old", "tmp"] {
            fs::create_dir_all(lower.join(p)).unwrap();
        }
        fs::write(lower.join("etc/passwd"), "root").unwrap();
        fs::write(lower.join("etc/group"), "root").unwrap();
        fs::write(lower.join("var/old/f"), "x").unwrap();
        // Upper: passwd modified, group deleted, /new/x added (directory
        // and all), /var/old made opaque, /usr/lib copied up for nothing,
        // a mount point skipped, a whiteout of nothing ignored.
        for p in ["etc", "new/sub", "var/old", "usr/lib", "tmp"] {
            fs::create_dir_all(upper.join(p)).unwrap();
        }
        fs::write(upper.join("etc/passwd"), "root\nme").unwrap();
        whiteout(&upper.join("etc/group"));
        whiteout(&upper.join("etc/never"));
        fs::write(upper.join("new/sub/x"), "x").unwrap();
        fs::write(upper.join("var/old/g"), "g").unwrap();
        opaque(&upper.join("var/old"));
        fs::write(upper.join("etc/hosts"), "").unwrap();
        let got = changes(&upper, std::slice::from_ref(&lower), &|p| p == Path::new("etc/hosts")).unwrap();
        let got: Vec<String> = got.iter().map(|c| format!("{} {}", c.kind.letter(), c.path)).collect();
        assert_eq!(
            got,
            [
                "C /etc",
                "D /etc/group",
                "C /etc/passwd",
                "A /new",
                "A /new/sub",
                "A /new/sub/x",
                "C /var",
                "C /var/old",
                "A /var/old/g"
            ]
        );
        assert!(lower_entry(std::slice::from_ref(&lower), Path::new("var/old/f")).is_some());
        assert!(lower_entry(&[upper.clone(), lower.clone()], Path::new("var/old/f")).is_none());
        assert!(lower_entry(&[upper, lower], Path::new("etc/group")).is_none());
    }
}
