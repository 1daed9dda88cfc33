//! Path resolution confined to a root directory.
//!
//! Every lookup goes through openat2(2) with RESOLVE_IN_ROOT (symlinks and
//! `..` are resolved as if the root were `/`) and RESOLVE_NO_MAGICLINKS (no
//! /proc/self/fd tricks), and every creation makes one plain name inside a
//! directory fd already known to be inside the root. A symlink planted in a
//! container image, a layer tarball or a shared volume can therefore redirect
//! us only to another place inside the root, never to the host: the lesson of
//! runc's CVE-2025-31133/52565/52881 and of tar path-traversal bugs.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

use crate::{cstring, cvt, path_cstring, retry};

/// Opens a directory of the host as a root for the functions below.
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let c = path_cstring(path)?;
    // SAFETY: valid C string; the fd returned is owned by us.
    let fd = retry(|| cvt(unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) }))?;
    // SAFETY: fresh fd from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Which symlinks an in-root lookup may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Follow symlinks, but only ever inside the root (a `..` or an absolute
    /// link target is re-rooted at the root, as in a chroot).
    InRoot,
    /// Refuse a symlink in the last component (O_NOFOLLOW); earlier ones are
    /// still resolved inside the root.
    NotLast,
    /// Refuse every symlink and any `..` that would climb above the root
    /// (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): for unpacking archives, whose
    /// entries have no business passing through symlinks at all.
    Never,
}

/// Opens `path` relative to `root` with every component (symlinks and `..`
/// included) resolved inside `root`, never outside it, and never through
/// /proc magic links. This is the guard against the symlink-swap escapes of
/// runc's CVE-2025-31133/52565 family: a container can plant symlinks in its
/// own rootfs or in a shared volume, but cannot make us open a host path.
pub fn open(root: RawFd, path: &Path, flags: i32, mode: u32, follow: Follow) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let c = path_cstring(rel)?;
    let mut oflags = flags | libc::O_CLOEXEC;
    if follow == Follow::NotLast {
        oflags |= libc::O_NOFOLLOW;
    }
    let how = OpenHow {
        flags: oflags as u64,
        mode: mode as u64,
        resolve: match follow {
            Follow::Never => libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
            _ => libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        },
    };
    // openat2 answers EAGAIN when a rename or mount anywhere on the system
    // races with a lookup that goes through "..": try again a few times.
    let mut again = 0;
    retry(|| loop {
        // SAFETY: `c` is a valid NUL-terminated string and `how` a valid open_how
        // for the duration of the call; the returned fd is owned by us.
        let fd = unsafe {
            libc::syscall(libc::SYS_openat2, root, c.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>())
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAGAIN) && again < 16 {
                again += 1;
                continue;
            }
            break Err(e);
        }
        // SAFETY: the kernel just returned this fd to us and nobody else owns it.
        break Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    })
}

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

/// An O_PATH fd of what `path` names inside `root`, following symlinks
/// within the root (`Follow::InRoot`): for mounting onto or inspecting, not
/// for reading.
pub fn open_path(root: RawFd, path: &Path) -> io::Result<OwnedFd> {
    open(root, path, libc::O_PATH, 0, Follow::InRoot)
}

/// Opens the directory at `path`, creating it and any missing parents (mode
/// 0755) first. Returns an O_PATH fd of the directory.
pub fn mkdir_all(root: RawFd, path: &Path) -> io::Result<OwnedFd> {
    mkdir_all_with(root, path, Follow::InRoot)
}

/// `mkdir_all` with a choice of how symlinks on the way are treated.
pub fn mkdir_all_with(root: RawFd, path: &Path, follow: Follow) -> io::Result<OwnedFd> {
    match open(root, path, libc::O_PATH | libc::O_DIRECTORY, 0, follow) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    let mut cur: PathBuf = PathBuf::from("/");
    // SAFETY: dup of a valid fd; the new fd is owned by us.
    let mut dir = unsafe { OwnedFd::from_raw_fd(cvt(libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 0))?) };
    for name in components(path) {
        cur.push(name);
        let cname = cstring(name.as_encoded_bytes())?;
        // SAFETY: `dir` is a directory fd inside the root and `cname` a single
        // path component, so the new directory lands inside the root.
        let r = unsafe { libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), 0o755) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
        }
        dir = open(root, &cur, libc::O_PATH | libc::O_DIRECTORY, 0, follow)?;
    }
    Ok(dir)
}

/// Opens the file at `path`, creating an empty regular file (and missing
/// parent directories) when absent: the mount point for a file bind mount.
pub fn create_file(root: RawFd, path: &Path, mode: u32) -> io::Result<OwnedFd> {
    match open(root, path, libc::O_PATH, 0, Follow::InRoot) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    let parts = components(path);
    let Some((name, parents)) = parts.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot create the root itself"));
    };
    let parent: PathBuf = parents.iter().collect();
    let dir = mkdir_all(root, &parent)?;
    let cname = cstring(name.as_encoded_bytes())?;
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
    open(root, path, libc::O_PATH, 0, Follow::InRoot)
}

/// The parent directory fd and last component of `path`, creating parents.
pub fn parent_and_name(root: RawFd, path: &Path) -> io::Result<(OwnedFd, std::ffi::CString)> {
    let parts = components(path);
    let Some((name, parents)) = parts.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "path names the root itself"));
    };
    let parent: PathBuf = parents.iter().collect();
    Ok((mkdir_all(root, &parent)?, cstring(name.as_encoded_bytes())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, OwnedFd) {
        let dir = tempfile::tempdir().unwrap();
        let fd = open_root(dir.path()).unwrap();
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
        let host = open_root(Path::new("/")).unwrap();
        let e = open_path(host.as_raw_fd(), Path::new("/proc/self/fd/0")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn never_refuses_any_symlink_on_the_way() {
        let (dir, fd) = root();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        symlink("real", dir.path().join("link")).unwrap();
        let e = mkdir_all_with(fd.as_raw_fd(), Path::new("link/sub"), Follow::Never).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        assert!(!dir.path().join("real/sub").exists());
        let e = open(fd.as_raw_fd(), Path::new("../x"), libc::O_PATH, 0, Follow::Never).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EXDEV));
        mkdir_all_with(fd.as_raw_fd(), Path::new("real/sub"), Follow::Never).unwrap();
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
