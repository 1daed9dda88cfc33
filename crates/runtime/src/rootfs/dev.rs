//! The container's /dev: the standard device nodes, the spec's
//! `linux.devices`, and the usual symlinks.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::error::{invalid, Result};
use crate::rootfs::resolve;
use sys::cvt;

/// A device node to create in the container's /dev.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its absolute path in the container, under /dev.
    pub path: PathBuf,
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: libc::mode_t,
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
    /// Permission bits (`fileMode`, default 0666).
    pub mode: u32,
    /// The owner to chown it to (None: leave it); ignored by the bind mount
    /// used in a user namespace.
    pub uid: Option<u32>,
    /// The group, likewise.
    pub gid: Option<u32>,
}

/// What every container gets when its /dev is a fresh filesystem; the same set
/// as runc and Docker (console comes from the terminal, if any).
pub fn defaults() -> Vec<Device> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .into_iter()
        .map(|(name, major, minor)| Device {
            path: Path::new("/dev").join(name),
            kind: libc::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: Some(0),
            gid: Some(0),
        })
        .collect()
}

/// `linux.devices[i]`, checked: a path under /dev, a type that makes a node
/// (not `a`), numbers that fit.
pub fn from_spec(i: usize, d: &LinuxDevice) -> Result<Device> {
    let field = format!("linux.devices[{i}]");
    if !d.path().starts_with("/dev/") {
        return Err(invalid(format!("{field}.path"), format!("{} is not under /dev", d.path().display())));
    }
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(invalid(format!("{field}.type"), "\"a\" is only valid in device cgroup rules"))
        }
    };
    let num = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| invalid(format!("{field}.{what}"), format!("{v} is out of range")))
    };
    Ok(Device {
        path: d.path().clone(),
        kind,
        major: num(d.major(), "major")?,
        minor: num(d.minor(), "minor")?,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid(),
        gid: d.gid(),
    })
}

/// Creates one device node. Inside a user namespace mknod is not allowed,
/// so the host's node is bind-mounted onto an empty file instead (as runc does).
pub fn create(root: RawFd, dev: &Device, userns: bool) -> io::Result<()> {
    if userns {
        let host = sys::open(&dev.path, libc::O_PATH, 0)?;
        let target = resolve::create_file(root, &dev.path, 0o644)?;
        return bind_fd(host.as_raw_fd(), target.as_raw_fd());
    }
    let (dir, name) = resolve::parent_and_name(root, &dev.path)?;
    let devno = libc::makedev(dev.major, dev.minor);
    // umask 0 for the call, so the node gets exactly the spec's mode with no
    // chmod afterwards (a chmod by name could follow a symlink swapped in).
    // SAFETY: umask cannot fail; this process is single-threaded.
    let old = unsafe { libc::umask(0) };
    // SAFETY: `dir` is a directory fd inside the root and `name` one component.
    let r = unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), dev.kind | dev.mode, devno) };
    let err = io::Error::last_os_error();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    if r < 0 {
        // An image that ships its own node keeps it (runc does the same).
        return if err.raw_os_error() == Some(libc::EEXIST) { Ok(()) } else { Err(err) };
    }
    if dev.uid.is_some() || dev.gid.is_some() {
        let uid = dev.uid.unwrap_or(u32::MAX);
        let gid = dev.gid.unwrap_or(u32::MAX);
        // SAFETY: as above; -1 (u32::MAX) leaves an id unchanged.
        cvt(unsafe { libc::fchownat(dir.as_raw_fd(), name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })?;
    }
    Ok(())
}

/// A plain bind mount of one inode onto another, both given as fds.
pub fn bind_fd(source: RawFd, target: RawFd) -> io::Result<()> {
    match sys::open_tree_clone(source, false) {
        Ok(tree) => sys::move_mount(tree.as_raw_fd(), target),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            sys::mount(Some(&sys::fd_path(source)), &sys::fd_path(target), None, libc::MS_BIND, None)
        }
        Err(e) => Err(e),
    }
}

/// The standard links in /dev. `ptmx` points at the container's own devpts
/// instance when one is mounted at /dev/pts.
pub fn symlinks(root: RawFd, devpts: bool) -> io::Result<()> {
    let dev = resolve::mkdir_all(root, Path::new("/dev"))?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    if devpts {
        let ptmx = sys::cstring("ptmx")?;
        // SAFETY: one component under the /dev directory fd; a missing node is fine.
        unsafe { libc::unlinkat(dev.as_raw_fd(), ptmx.as_ptr(), 0) };
        links.push(("pts/ptmx", "ptmx"));
    }
    for (target, name) in links {
        let t = sys::cstring(target)?;
        let n = sys::cstring(name)?;
        // SAFETY: valid C strings; the link is created inside the /dev fd.
        if unsafe { libc::symlinkat(t.as_ptr(), dev.as_raw_fd(), n.as_ptr()) } < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_devices_are_checked() {
        let d: LinuxDevice =
            serde_json::from_str(r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":8630}"#).unwrap();
        let dev = from_spec(0, &d).unwrap();
        assert_eq!((dev.kind, dev.major, dev.minor, dev.mode), (libc::S_IFCHR, 10, 229, 0o666));
        let d: LinuxDevice = serde_json::from_str(r#"{"path":"/etc/x","type":"c","major":1,"minor":3}"#).unwrap();
        assert_eq!(from_spec(2, &d).unwrap_err().to_string(), "linux.devices[2].path: /etc/x is not under /dev");
        let d: LinuxDevice = serde_json::from_str(r#"{"path":"/dev/x","type":"c","major":-1,"minor":3}"#).unwrap();
        assert_eq!(from_spec(1, &d).unwrap_err().to_string(), "linux.devices[1].major: -1 is out of range");
    }

    #[test]
    fn nodes_are_created_inside_the_root_with_the_exact_mode() {
        let dir = tempfile::tempdir().unwrap();
        let root = sys::open(dir.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let null = defaults().into_iter().next().unwrap();
        create(root.as_raw_fd(), &null, false).unwrap();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let m = std::fs::metadata(dir.path().join("dev/null")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.mode() & 0o7777, 0o666);
        assert_eq!(m.rdev(), libc::makedev(1, 3));
        // Creating again keeps the node.
        create(root.as_raw_fd(), &null, false).unwrap();
        symlinks(root.as_raw_fd(), true).unwrap();
        assert_eq!(std::fs::read_link(dir.path().join("dev/ptmx")).unwrap(), Path::new("pts/ptmx"));
        assert_eq!(std::fs::read_link(dir.path().join("dev/fd")).unwrap(), Path::new("/proc/self/fd"));
    }
}
