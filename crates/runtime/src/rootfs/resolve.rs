//! Creating paths inside the container's root without ever leaving it. Each
//! step opens the path so far with an in-root lookup (see `sys::openat_in_root`)
//! and creates only a single plain name inside a directory fd that is known to
//! be inside the root, so a symlink planted by the image or by a concurrently
//! running container can redirect us only to another place inside the root.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

use crate::sys::{self, cvt, Follow};

/// Normalises a container path to its plain components (no `.`, no `..`
/// above the root). `..` is resolved lexically only for naming; the kernel's
/// in-root resolution still decides where symlinks lead.
fn components(path: &Path) -> Vec<&std::ffi::OsStr> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

pub fn open_path(root: RawFd, path: &Path) -> io::Result<OwnedFd> {
    sys::openat_in_root(root, path, libc::O_PATH, 0, Follow::InRoot)
}

/// Opens the directory at `path`, creating it and any missing parents (mode
/// 0755) first. Returns an O_PATH fd of the directory.
pub fn mkdir_all(root: RawFd, path: &Path) -> io::Result<OwnedFd> {
    match sys::openat_in_root(root, path, libc::O_PATH | libc::O_DIRECTORY, 0, Follow::InRoot) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    let mut cur: PathBuf = PathBuf::from("/");
    // SAFETY: dup of a valid fd; the new fd is owned by us.
    let mut dir = unsafe { OwnedFd::from_raw_fd(cvt(libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 0))?) };
    for name in components(path) {
        cur.push(name);
        let cname = sys::cstring(name.as_encoded_bytes())?;
        // SAFETY: `dir` is a directory fd inside the root and `cname` a single
        // path component, so the new directory lands inside the root.
        let r = unsafe { libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), 0o755) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
        }
        dir = sys::openat_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY, 0, Follow::InRoot)?;
    }
    Ok(dir)
}

/// Opens the file at `path`, creating an empty regular file (and missing
/// parent directories) when absent: the mount point for a file bind mount.
pub fn create_file(root: RawFd, path: &Path, mode: u32) -> io::Result<OwnedFd> {
    match sys::openat_in_root(root, path, libc::O_PATH, 0, Follow::InRoot) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    let parts = components(path);
    let Some((name, parents)) = parts.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot create the root itself"));
    };
    let parent: PathBuf = parents.iter().collect();
    let dir = mkdir_all(root, &parent)?;
    let cname = sys::cstring(name.as_encoded_bytes())?;
    // SAFETY: single component under a directory fd inside the root;
    // O_NOFOLLOW|O_EXCL refuse to follow a symlink someone planted meanwhile.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            cname.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_RDONLY | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd >= 0 {
        // SAFETY: fresh fd from the kernel.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    sys::openat_in_root(root, path, libc::O_PATH, 0, Follow::InRoot)
}

/// The parent directory fd and last component of `path`, creating parents.
pub fn parent_and_name(root: RawFd, path: &Path) -> io::Result<(OwnedFd, std::ffi::CString)> {
    let parts = components(path);
    let Some((name, parents)) = parts.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "path names the root itself"));
    };
    let parent: PathBuf = parents.iter().collect();
    Ok((mkdir_all(root, &parent)?, sys::cstring(name.as_encoded_bytes())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, OwnedFd) {
        let dir = tempfile::tempdir().unwrap();
        let fd = sys::open(dir.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        (dir, fd)
    }

    #[test]
    fn mkdir_all_creates_nested_directories() {
        let (dir, fd) = root();
        mkdir_all(fd.as_raw_fd(), Path::new("/a/b/c")).unwrap();
        assert!(dir.path().join("a/b/c").is_dir());
        // Existing is fine.
        mkdir_all(fd.as_raw_fd(), Path::new("a/b")).unwrap();
    }

    #[test]
    fn symlinks_pointing_outside_stay_inside_the_root() {
        let (dir, fd) = root();
        let outside = tempfile::tempdir().unwrap();
        // An absolute symlink to a host directory, and one climbing out with "..".
        symlink(outside.path(), dir.path().join("abs")).unwrap();
        symlink("../../../../..", dir.path().join("up")).unwrap();
        // The absolute target is re-rooted: it means <root>/<outside path>.
        let rerooted = dir.path().join(outside.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&rerooted).unwrap();
        mkdir_all(fd.as_raw_fd(), Path::new("/abs/evil")).unwrap();
        mkdir_all(fd.as_raw_fd(), Path::new("/up/evil2")).unwrap();
        create_file(fd.as_raw_fd(), Path::new("/abs/file"), 0o644).unwrap();
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "nothing may appear outside the root");
        assert!(rerooted.join("evil").is_dir());
        assert!(rerooted.join("file").is_file());
        assert!(dir.path().join("evil2").is_dir());
    }

    #[test]
    fn proc_magic_links_are_refused() {
        let (dir, fd) = root();
        symlink("/proc/self/fd/0", dir.path().join("magic")).unwrap();
        // Inside the root there is no /proc, so it cannot resolve at all; with a
        // real /proc mounted inside, RESOLVE_NO_MAGICLINKS refuses it (ELOOP).
        assert!(open_path(fd.as_raw_fd(), Path::new("/magic")).is_err());
        let host = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let e = open_path(host.as_raw_fd(), Path::new("/proc/self/fd/0")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn create_file_makes_an_empty_file_and_keeps_existing_ones() {
        let (dir, fd) = root();
        create_file(fd.as_raw_fd(), Path::new("/etc/resolv.conf"), 0o644).unwrap();
        assert!(dir.path().join("etc/resolv.conf").is_file());
        std::fs::write(dir.path().join("etc/hosts"), "x").unwrap();
        create_file(fd.as_raw_fd(), Path::new("/etc/hosts"), 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("etc/hosts")).unwrap(), "x");
    }
}
