//! A read-only view of an image's filesystem straight from its unpacked
//! layers (overlayfs's diff format), without mounting anything: what a
//! build step reads from a stage (`COPY --from`), the users and groups of
//! `--chown`, the metadata of the directories a COPY writes into.
//!
//! Lookups go component by component through the merged view (the topmost
//! layer holding a name wins, 0/0 character devices are whiteouts, opaque
//! directories hide what is below), symlinks are followed inside the image
//! as a container would see them, and every open is `openat2` with
//! RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS on the layer's directory: an
//! image's symlinks can never lead to the host's files.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use sys::root::Follow;

/// An entry found in the view: the layer (0 = top) and its metadata.
pub struct Entry {
    pub layer: usize,
    pub fd: OwnedFd,
    pub stat: libc::stat,
    /// Where it is in the image, symlinks resolved.
    pub path: PathBuf,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.stat.st_mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_symlink(&self) -> bool {
        self.stat.st_mode & libc::S_IFMT == libc::S_IFLNK
    }
    pub fn is_file(&self) -> bool {
        self.stat.st_mode & libc::S_IFMT == libc::S_IFREG
    }
}

pub struct View {
    /// Layer directories, top first.
    layers: Vec<OwnedFd>,
}

pub fn stat_fd(fd: &OwnedFd) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills the buffer on success; O_PATH fds support fstat.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful fstat.
    Ok(unsafe { st.assume_init() })
}

fn is_whiteout(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

/// Plain components of an image path (`..` resolved lexically, as a
/// container's root would: it cannot climb above `/`).
fn components(path: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Components as written, `..` kept (symlink targets are resolved
/// against the directories already walked).
fn raw_components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

fn join(parts: &[OsString]) -> PathBuf {
    let mut p = PathBuf::new();
    for c in parts {
        p.push(c);
    }
    p
}

impl View {
    /// `dirs`: the layers' diff directories, bottom first (as an image lists them).
    pub fn open(dirs: &[PathBuf]) -> io::Result<View> {
        let mut layers = Vec::new();
        for d in dirs.iter().rev() {
            layers.push(sys::root::open_root(d)?);
        }
        Ok(View { layers })
    }

    /// The topmost entry named exactly `parts` (no symlink followed).
    fn find(&self, parts: &[OsString]) -> io::Result<Option<(usize, OwnedFd, libc::stat)>> {
        let rel = join(parts);
        for (i, layer) in self.layers.iter().enumerate() {
            match sys::root::open(layer.as_raw_fd(), &rel, libc::O_PATH | libc::O_NOFOLLOW, 0, Follow::Never) {
                Ok(fd) => {
                    let st = stat_fd(&fd)?;
                    if is_whiteout(&st) {
                        return Ok(None);
                    }
                    return Ok(Some((i, fd, st)));
                }
                // A symlink or non-directory on the way in this layer: in
                // the merged view that name is a directory from above, and
                // this layer (and those below) cannot add to it.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => return Ok(None),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    if self.hides_below(layer, parts)? {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Whether, in `layer`, an ancestor of `parts` is a whiteout or an
    /// opaque directory (so lower layers do not show through).
    fn hides_below(&self, layer: &OwnedFd, parts: &[OsString]) -> io::Result<bool> {
        for n in (1..parts.len()).rev() {
            let rel = join(&parts[..n]);
            match sys::root::open(layer.as_raw_fd(), &rel, libc::O_RDONLY | libc::O_DIRECTORY, 0, Follow::Never) {
                Ok(fd) => return Ok(is_opaque(&fd)),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    // A whiteout (or file) where the directory was.
                    return Ok(true);
                }
                Err(_) => return Ok(true),
            }
        }
        Ok(false)
    }

    /// Looks `path` up as a container would, following symlinks inside the
    /// image (the last one only with `follow_last`). None: not there.
    pub fn lookup(&self, path: &Path, follow_last: bool) -> io::Result<Option<Entry>> {
        // A stack of raw components still to walk (next on top), and the
        // resolved directories so far.
        let mut todo: Vec<OsString> = raw_components(path);
        todo.reverse();
        let mut done: Vec<OsString> = Vec::new();
        let mut hops = 0;
        let mut last: Option<(usize, OwnedFd, libc::stat)> = None;
        while let Some(c) = todo.pop() {
            if c == ".." {
                done.pop();
                last = None;
                continue;
            }
            done.push(c);
            let Some((layer, fd, st)) = self.find(&done)? else { return Ok(None) };
            let is_last = todo.is_empty();
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK && (!is_last || follow_last) {
                hops += 1;
                if hops > 40 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = readlink(&fd)?;
                done.pop();
                if target.is_absolute() {
                    done.clear();
                }
                todo.extend(raw_components(&target).into_iter().rev());
                last = None;
                continue;
            }
            if !is_last && st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Ok(None);
            }
            last = Some((layer, fd, st));
        }
        let last = match last {
            Some(l) => Some(l),
            // The root itself (or a path that resolved back to it).
            None if done.is_empty() => self.find(&[])?,
            None => self.find(&done)?,
        };
        Ok(last.map(|(layer, fd, stat)| Entry { layer, fd, stat, path: Path::new("/").join(join(&done)) }))
    }

    /// The contents of a regular file (following symlinks), at most `max` bytes.
    pub fn read_file(&self, path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(e) = self.lookup(path, true)? else { return Ok(None) };
        if !e.is_file() || e.stat.st_size as u64 > max {
            return Ok(None);
        }
        let f = reopen(&e.fd, libc::O_RDONLY)?;
        let mut buf = Vec::new();
        use std::io::Read;
        std::fs::File::from(f).read_to_end(&mut buf)?;
        Ok(Some(buf))
    }

    /// The names in a directory of the view (merged across layers).
    pub fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let Some(e) = self.lookup(dir, true)? else { return Ok(vec![]) };
        if !e.is_dir() {
            return Ok(vec![]);
        }
        let parts = components(&e.path);
        let rel = join(&parts);
        let mut names = std::collections::BTreeSet::new();
        let mut hidden = std::collections::BTreeSet::new();
        for layer in &self.layers {
            let fd =
                match sys::root::open(layer.as_raw_fd(), &rel, libc::O_RDONLY | libc::O_DIRECTORY, 0, Follow::Never) {
                    Ok(fd) => fd,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        if self.hides_below(layer, &parts)? {
                            break;
                        }
                        continue;
                    }
                    Err(_) => break,
                };
            let opaque = is_opaque(&fd);
            for name in read_dir_fd(&fd)? {
                if names.contains(&name) || hidden.contains(&name) {
                    continue;
                }
                let child = sys::root::open(
                    layer.as_raw_fd(),
                    &rel.join(&name),
                    libc::O_PATH | libc::O_NOFOLLOW,
                    0,
                    Follow::Never,
                )?;
                if is_whiteout(&stat_fd(&child)?) {
                    hidden.insert(name);
                } else {
                    names.insert(name);
                }
            }
            if opaque {
                break;
            }
        }
        Ok(names.into_iter().collect())
    }
}

/// Opens what an O_PATH fd names, for reading (through /proc/self/fd: the
/// fd already pins the inode, so nothing can be swapped in between).
pub fn reopen(fd: &OwnedFd, flags: i32) -> io::Result<OwnedFd> {
    let p = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a valid C string; the new fd is ours.
    let n = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just opened for us.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

pub fn readlink(fd: &OwnedFd) -> io::Result<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat on an O_PATH symlink fd with an empty path reads that
    // link; the buffer is valid for its length.
    let n = unsafe { libc::readlinkat(fd.as_raw_fd(), c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(OsStr::from_bytes(&buf)))
}

fn is_opaque(fd: &OwnedFd) -> bool {
    let mut v = [0u8; 1];
    // SAFETY: fgetxattr on a directory fd we own, into a 1-byte buffer.
    let n = unsafe { libc::fgetxattr(fd.as_raw_fd(), c"trusted.overlay.opaque".as_ptr(), v.as_mut_ptr().cast(), 1) };
    n == 1 && v[0] == b'y'
}

fn read_dir_fd(fd: &OwnedFd) -> io::Result<Vec<OsString>> {
    // SAFETY: dup gives fdopendir an fd of its own to own and close.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` is an open directory fd, now owned by the DIR stream.
    let dir = unsafe { libc::fdopendir(dup) };
    if dir.is_null() {
        // SAFETY: fdopendir failed, so the fd is still ours to close.
        unsafe { libc::close(dup) };
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: `dir` is a valid DIR stream until closedir.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated array inside the entry.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        let b = name.to_bytes();
        if b != b"." && b != b".." {
            out.push(OsStr::from_bytes(b).to_os_string());
        }
    }
    // SAFETY: closing the stream we opened (and its fd).
    unsafe { libc::closedir(dir) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn whiteout(p: &Path) {
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: mknod of a 0/0 char device (overlay's whiteout); needs root.
        assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) }, 0);
    }

    #[test]
    fn the_merged_view_follows_overlay_rules_and_never_leaves_the_layers() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("lower"), d.path().join("upper"));
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::create_dir_all(lower.join("usr/bin")).unwrap();
        fs::write(lower.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(lower.join("etc/gone"), "x").unwrap();
        fs::write(lower.join("usr/bin/tool"), "tool").unwrap();
        symlink("usr/bin", lower.join("bin")).unwrap();
        symlink("/etc/hostname", lower.join("escape")).unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/new"), "new").unwrap();
        whiteout(&upper.join("etc/gone"));
        let v = View::open(&[lower.clone(), upper.clone()]).unwrap();

        assert_eq!(v.read_file(Path::new("/etc/passwd"), 1 << 20).unwrap().unwrap(), b"root:x:0:0::/root:/bin/sh\n");
        assert_eq!(v.read_file(Path::new("/etc/new"), 1 << 20).unwrap().unwrap(), b"new");
        assert!(v.lookup(Path::new("/etc/gone"), true).unwrap().is_none(), "whited out");
        assert_eq!(v.read_file(Path::new("/bin/tool"), 1 << 20).unwrap().unwrap(), b"tool", "through a relative link");
        assert!(v.read_file(Path::new("/escape"), 1 << 20).unwrap().is_none(), "an absolute link stays in the image");
        let names: Vec<_> = v.list_dir(Path::new("/etc")).unwrap();
        assert_eq!(names, ["new", "passwd"]);

        // An opaque directory hides everything below it.
        fs::create_dir_all(upper.join("usr")).unwrap();
        let c = CString::new(upper.join("usr").as_os_str().as_bytes()).unwrap();
        // SAFETY: setting an xattr on our own test directory (root).
        unsafe { libc::setxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        let v = View::open(&[lower, upper]).unwrap();
        assert!(v.lookup(Path::new("/usr/bin/tool"), true).unwrap().is_none());
        assert!(v.list_dir(Path::new("/usr")).unwrap().is_empty());
    }
}
