//! Writing COPY/ADD's files into a layer's staging directory. Every entry is
//! made relative to a directory fd with a single name (`*at` calls,
//! `O_NOFOLLOW`, parents opened with RESOLVE_NO_SYMLINKS), so a symlink that
//! an earlier source put in the staging tree can never redirect a write to
//! the host. Directories the image already has keep their metadata (a COPY
//! into /tmp must not turn /tmp into 0755); new ones are root's, 0755.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use sys::root::Follow;

use crate::error::{Error, Result};
use crate::source::{Kind, Meta, Source};
use crate::view::View;

/// Where and how files land.
pub struct Target<'a> {
    root: OwnedFd,
    /// The image the step builds on, for existing directories' metadata.
    pub lower: &'a View,
    /// `--chown`: owner of everything copied (default root).
    pub owner: (u32, u32),
    /// `--chmod`: mode of everything copied (default: the source's).
    pub chmod: Option<u32>,
}

fn cname(name: &std::ffi::OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn parts(p: &Path) -> Vec<&std::ffi::OsStr> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect()
}

impl<'a> Target<'a> {
    pub fn new(staging: &Path, lower: &'a View, owner: (u32, u32), chmod: Option<u32>) -> Result<Target<'a>> {
        let root = sys::root::open_root(staging).map_err(|e| Error::io(format!("opening {}", staging.display()), e))?;
        Ok(Target { root, lower, owner, chmod })
    }

    /// The directory `dir` (an image path) in the staging tree, with its
    /// ancestors; existing ones as the image has them.
    pub fn ensure_dir(&self, dir: &Path, new_owner: (u32, u32)) -> Result<OwnedFd> {
        let mut cur = PathBuf::from("/");
        let mut fd =
            sys::root::open(self.root.as_raw_fd(), Path::new("."), libc::O_PATH | libc::O_DIRECTORY, 0, Follow::Never)
                .map_err(|e| Error::io("opening the staging directory", e))?;
        let comps = parts(dir);
        for (i, name) in comps.iter().enumerate() {
            cur.push(name);
            let c = cname(name).map_err(|e| Error::io(format!("bad name in {}", dir.display()), e))?;
            // SAFETY: mkdirat with a directory fd and one component.
            let made = unsafe { libc::mkdirat(fd.as_raw_fd(), c.as_ptr(), 0o755) } == 0;
            if !made {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(Error::io(format!("creating {}", cur.display()), e));
                }
            }
            let next = sys::root::open(self.root.as_raw_fd(), &cur, libc::O_PATH | libc::O_DIRECTORY, 0, Follow::Never)
                .map_err(|e| Error::io(format!("{} is not a directory in this layer", cur.display()), e))?;
            if made {
                // As the image has it, else root's (the last one: `new_owner`).
                let existing = self.lower.lookup(&cur, true).ok().flatten().filter(|e| e.is_dir());
                let (mode, uid, gid, mtime) = match &existing {
                    Some(e) => (e.stat.st_mode & 0o7777, e.stat.st_uid, e.stat.st_gid, Some(e.stat.st_mtime)),
                    None if i + 1 == comps.len() => (0o755, new_owner.0, new_owner.1, None),
                    None => (0o755, 0, 0, None),
                };
                set_meta(fd.as_raw_fd(), &c, mode, uid, gid, mtime, false)
                    .map_err(|e| Error::io(format!("setting up {}", cur.display()), e))?;
            }
            fd = next;
        }
        Ok(fd)
    }

    /// Copies `rel` of `src` to the image path `dest` (its final name).
    pub fn copy(&self, src: &dyn Source, rel: &Path, meta: &Meta, dest: &Path) -> Result<()> {
        let parent = dest.parent().unwrap_or(Path::new("/"));
        let name = dest.file_name().ok_or_else(|| Error::Invalid(format!("cannot copy onto {}", dest.display())))?;
        let dir = self.ensure_dir(parent, (0, 0))?;
        self.copy_into(src, rel, meta, dir.as_raw_fd(), name, dest)
    }

    /// Copies the contents of directory `rel` into the image directory `dest`.
    pub fn copy_contents(&self, src: &dyn Source, rel: &Path, dest: &Path) -> Result<()> {
        let dir = self.ensure_dir(dest, self.owner)?;
        for child in src.list(rel)? {
            let crel = rel.join(&child);
            let Some(m) = src.stat(&crel)? else { continue };
            self.copy_into(src, &crel, &m, dir.as_raw_fd(), &child, &dest.join(&child))?;
        }
        Ok(())
    }

    fn copy_into(
        &self,
        src: &dyn Source,
        rel: &Path,
        m: &Meta,
        dir: RawFd,
        name: &std::ffi::OsStr,
        dest: &Path,
    ) -> Result<()> {
        let c = cname(name).map_err(|e| Error::io(format!("bad name {}", dest.display()), e))?;
        let ctx = |what: &str| {
            let d = dest.display().to_string();
            let w = what.to_string();
            move |e: io::Error| Error::io(format!("{w} {d}"), e)
        };
        let (uid, gid) = self.owner;
        let mode = self.chmod.unwrap_or(m.mode);
        match m.kind {
            Kind::Dir => {
                // SAFETY: mkdirat with a directory fd and one component.
                if unsafe { libc::mkdirat(dir, c.as_ptr(), 0o700) } < 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(ctx("creating")(e));
                    }
                }
                let sub = open_dir_at(dir, &c).map_err(ctx("opening"))?;
                for child in src.list(rel)? {
                    let crel = rel.join(&child);
                    let Some(cm) = src.stat(&crel)? else { continue };
                    self.copy_into(src, &crel, &cm, sub.as_raw_fd(), &child, &dest.join(&child))?;
                }
                set_meta(dir, &c, mode, uid, gid, Some(m.mtime), false).map_err(ctx("setting up"))?;
            }
            Kind::File => {
                remove_non_dir(dir, &c).map_err(ctx("replacing"))?;
                // SAFETY: openat with one component; O_EXCL|O_NOFOLLOW create a
                // new file and never follow a link.
                let fd = unsafe {
                    libc::openat(
                        dir,
                        c.as_ptr(),
                        libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o600,
                    )
                };
                check(fd).map_err(ctx("creating"))?;
                // SAFETY: just opened for us.
                let mut out = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
                let mut input = src.open(rel)?;
                io::copy(&mut input, &mut out).map_err(ctx("writing"))?;
                drop(out);
                set_meta(dir, &c, mode, uid, gid, Some(m.mtime), false).map_err(ctx("setting up"))?;
            }
            Kind::Symlink => {
                let target = src.readlink(rel)?;
                remove_non_dir(dir, &c).map_err(ctx("replacing"))?;
                let t = CString::new(target.as_os_str().as_bytes())
                    .map_err(|_| Error::Invalid(format!("bad link {}", dest.display())))?;
                // SAFETY: symlinkat with valid strings, relative to our dir fd.
                check(unsafe { libc::symlinkat(t.as_ptr(), dir, c.as_ptr()) }).map_err(ctx("creating"))?;
                set_meta(dir, &c, 0, uid, gid, Some(m.mtime), true).map_err(ctx("setting up"))?;
            }
            // Devices, fifos and sockets are not copied (docker skips sockets
            // and needs privileges for devices).
            Kind::Other => {}
        }
        Ok(())
    }
}

fn open_dir_at(dir: RawFd, name: &CString) -> io::Result<OwnedFd> {
    // SAFETY: openat with one component, refusing links.
    let fd = unsafe {
        libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
    };
    check(fd)?;
    // SAFETY: just opened for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A later source overwrites an earlier file or link of the same name.
fn remove_non_dir(dir: RawFd, name: &CString) -> io::Result<()> {
    // SAFETY: unlinkat of one component (fails on directories, which stay).
    if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } < 0 {
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::ENOENT)) {
            return Err(e);
        }
    }
    Ok(())
}

fn set_meta(
    dir: RawFd,
    name: &CString,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Option<i64>,
    link: bool,
) -> io::Result<()> {
    // SAFETY: *at calls on one component of a directory we hold; links are
    // never followed.
    unsafe {
        check(libc::fchownat(dir, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW))?;
        if !link {
            check(libc::fchmodat(dir, name.as_ptr(), mode, 0))?;
        }
        if let Some(t) = mtime {
            let ts = [libc::timespec { tv_sec: t, tv_nsec: 0 }, libc::timespec { tv_sec: t, tv_nsec: 0 }];
            check(libc::utimensat(dir, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW))?;
        }
    }
    Ok(())
}
