//! A build step's changes (a directory in overlayfs's diff format: a RUN's
//! upper directory, or the files a COPY wrote) made into a layer: a tar in
//! the content store (uncompressed, as docker keeps built layers locally; its
//! digest is then also the diff id) and the directory itself committed as
//! the unpacked layer, so no step ever unpacks what it just wrote.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use image::digest::chain_ids;
use image::manifest::{media, Descriptor};
use image::store::LayerMeta;
use image::{Digest, ImageStore, LayerRecord};

use crate::error::{Error, Result};

/// A directory being made into a layer: created in the store's staging area
/// (same filesystem as the layers, so committing is a rename), removed if
/// dropped before `commit`.
pub struct Staging {
    dir: PathBuf,
    committed: bool,
}

impl Staging {
    pub fn new(store: &ImageStore) -> Result<Staging> {
        Ok(Staging { dir: store.layer_staging()?, committed: false })
    }

    /// Where the layer's files go (overlay diff format).
    pub fn diff(&self) -> PathBuf {
        self.dir.join("diff")
    }

    /// Takes `upper` (a finished container's upper directory, on the same
    /// filesystem) as the layer's contents.
    pub fn adopt(&self, upper: &Path) -> Result<()> {
        let diff = self.diff();
        fs::remove_dir(&diff).map_err(|e| Error::io(format!("preparing {}", diff.display()), e))?;
        fs::rename(upper, &diff).map_err(|e| Error::io(format!("moving {} into the layer store", upper.display()), e))
    }

    /// Writes the tar, stores it, and publishes the directory as the layer
    /// on top of `parent` (the diff ids below it).
    pub fn commit(mut self, store: &ImageStore, parent: &[Digest]) -> Result<LayerRecord> {
        let diff = self.diff();
        let mut w = store.content().writer(None, None)?;
        write_tar(&diff, &mut w)?;
        let size = w.written();
        let digest = w.commit()?;
        let mut diff_ids = parent.to_vec();
        diff_ids.push(digest.clone());
        let chain_id = chain_ids(&diff_ids).pop().unwrap_or_else(|| digest.clone());
        let meta = LayerMeta { diff_id: digest.clone(), chain_id: chain_id.clone(), size };
        if store.has_layer(&chain_id) {
            // Same content on the same parent, made before: keep that one.
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            store.commit_layer(&self.dir, &meta)?;
        }
        self.committed = true;
        Ok(LayerRecord { blob: Descriptor::new(media::OCI_LAYER, digest.clone(), size), diff_id: digest, chain_id })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes `dir` (overlay diff format) as an OCI layer tar: names sorted,
/// 0/0 character devices as `.wh.NAME` whiteouts, opaque directories with
/// `.wh..wh..opq`, hard links as links, owners, modes and times kept.
pub fn write_tar(dir: &Path, out: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Complete);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(&mut b, dir, Path::new(""), &mut links).map_err(|e| Error::io(format!("archiving {}", dir.display()), e))?;
    b.into_inner().and_then(|mut w| w.flush()).map_err(|e| Error::io("writing the layer", e))?;
    Ok(())
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

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let path = rel.join(&name);
        let full = root.join(&path);
        let md = fs::symlink_metadata(&full)?;
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
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
            walk(b, root, &path, links)?;
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

fn is_opaque(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    let mut v = [0u8; 1];
    // SAFETY: lgetxattr with a valid path and a 1-byte buffer.
    let n = unsafe { libc::lgetxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), v.as_mut_ptr().cast(), 1) };
    n == 1 && v[0] == b'y'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_opaque_dirs_and_hard_links_become_oci_entries() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("etc/opaque")).unwrap();
        fs::write(root.join("etc/a"), "a").unwrap();
        fs::hard_link(root.join("etc/a"), root.join("etc/b")).unwrap();
        std::os::unix::fs::symlink("a", root.join("etc/link")).unwrap();
        let c = std::ffi::CString::new(root.join("etc/gone").to_str().unwrap()).unwrap();
        // SAFETY: a 0/0 character device, overlay's whiteout (root only).
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) }, 0);
        let o = std::ffi::CString::new(root.join("etc/opaque").to_str().unwrap()).unwrap();
        // SAFETY: an xattr on our own test directory.
        unsafe { libc::setxattr(o.as_ptr(), c"trusted.overlay.opaque".as_ptr(), b"y".as_ptr().cast(), 1, 0) };
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
    }
}
