//! The spec's `mounts`: parsed into flags once in the parent (so option errors
//! are reported before anything exists), performed by the child in order.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use crate::error::{invalid, Result};
use crate::rootfs::resolve;
use sys::mount_attr;

/// What kind of mount a spec mount is, decided from its type and options.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A bind mount of a host path.
    Bind {
        /// The host path, absolute (a relative source is taken from the
        /// bundle).
        source: PathBuf,
        /// `rbind`: submounts of the source come along.
        recursive: bool,
    },
    /// A cgroup filesystem; how it is provided depends on the host layout.
    Cgroup,
    /// Any other filesystem, mounted with mount(2).
    Fs {
        /// The filesystem type (`proc`, `tmpfs`, ...).
        fstype: CString,
        /// The mount source (the type itself when the spec gives none).
        source: CString,
    },
}

/// One spec mount, parsed: the flags and data mount(2) and mount_setattr(2)
/// take.
#[derive(Debug, Clone)]
pub struct MountPlan {
    /// Its index in the spec's `mounts`, for messages.
    pub index: usize,
    /// Where it goes in the container, absolute (a relative destination is
    /// taken from /).
    pub destination: PathBuf,
    /// Bind, cgroup or another filesystem.
    pub kind: Kind,
    /// MS_* flags for mount(2) (RDONLY, NOSUID, ...).
    pub flags: libc::c_ulong,
    /// Propagation changes (MS_SHARED/SLAVE/PRIVATE/UNBINDABLE, maybe |MS_REC).
    pub propagation: Vec<libc::c_ulong>,
    /// Attributes for bind mounts via mount_setattr: MOUNT_ATTR_* flags the
    /// options set.
    pub attr_set: u64,
    /// MOUNT_ATTR_* flags the options clear.
    pub attr_clear: u64,
    /// An `r*` option (`rro`, `rnosuid`, ...) was given: the attributes apply
    /// to the whole bind tree, not only its top mount.
    pub attr_recursive: bool,
    /// The options mount(2) does not know, comma-joined, as its data; None
    /// when there are none.
    pub data: Option<CString>,
}

impl MountPlan {
    /// The mount's name in messages: `mounts[3] (/proc)`.
    pub fn field(&self) -> String {
        format!("mounts[{}] ({})", self.index, self.destination.display())
    }
}

const FLAGS: &[(&str, bool, libc::c_ulong)] = &[
    ("async", false, libc::MS_SYNCHRONOUS),
    ("atime", false, libc::MS_NOATIME),
    ("defaults", true, 0),
    ("dev", false, libc::MS_NODEV),
    ("diratime", false, libc::MS_NODIRATIME),
    ("dirsync", true, libc::MS_DIRSYNC),
    ("exec", false, libc::MS_NOEXEC),
    ("mand", true, libc::MS_MANDLOCK),
    ("noatime", true, libc::MS_NOATIME),
    ("nodev", true, libc::MS_NODEV),
    ("nodiratime", true, libc::MS_NODIRATIME),
    ("noexec", true, libc::MS_NOEXEC),
    ("nomand", false, libc::MS_MANDLOCK),
    ("norelatime", false, libc::MS_RELATIME),
    ("nostrictatime", false, libc::MS_STRICTATIME),
    ("nosuid", true, libc::MS_NOSUID),
    ("relatime", true, libc::MS_RELATIME),
    ("ro", true, libc::MS_RDONLY),
    ("rw", false, libc::MS_RDONLY),
    ("strictatime", true, libc::MS_STRICTATIME),
    ("suid", false, libc::MS_NOSUID),
    ("sync", true, libc::MS_SYNCHRONOUS),
];

const PROPAGATION: &[(&str, libc::c_ulong)] = &[
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

/// Recursive attribute options (applied to every mount of a bind tree).
const RECURSIVE_ATTRS: &[(&str, bool, u64)] = &[
    ("rro", true, mount_attr::RDONLY),
    ("rrw", false, mount_attr::RDONLY),
    ("rnosuid", true, mount_attr::NOSUID),
    ("rsuid", false, mount_attr::NOSUID),
    ("rnodev", true, mount_attr::NODEV),
    ("rdev", false, mount_attr::NODEV),
    ("rnoexec", true, mount_attr::NOEXEC),
    ("rexec", false, mount_attr::NOEXEC),
];

fn flags_to_attr(flags: libc::c_ulong) -> (u64, u64) {
    let mut set = 0;
    let mut clear = 0;
    for (ms, attr) in [
        (libc::MS_RDONLY, mount_attr::RDONLY),
        (libc::MS_NOSUID, mount_attr::NOSUID),
        (libc::MS_NODEV, mount_attr::NODEV),
        (libc::MS_NOEXEC, mount_attr::NOEXEC),
        (libc::MS_NODIRATIME, mount_attr::NODIRATIME),
    ] {
        if flags & ms != 0 {
            set |= attr;
        }
    }
    let atime = if flags & libc::MS_NOATIME != 0 {
        Some(mount_attr::NOATIME)
    } else if flags & libc::MS_STRICTATIME != 0 {
        Some(mount_attr::STRICTATIME)
    } else if flags & libc::MS_RELATIME != 0 {
        Some(mount_attr::RELATIME)
    } else {
        None
    };
    if let Some(a) = atime {
        set |= a;
        clear |= mount_attr::ATIME_MASK;
    }
    (set, clear)
}

/// Parses one spec mount. `bundle` anchors relative bind sources.
pub fn plan(index: usize, m: &Mount, bundle: &Path) -> Result<MountPlan> {
    let field = format!("mounts[{index}]");
    let dest = m.destination();
    let destination = if dest.is_absolute() { dest.clone() } else { Path::new("/").join(dest) };
    let fstype = m.typ().clone().unwrap_or_default();
    let mut flags: libc::c_ulong = 0;
    let mut propagation = Vec::new();
    let mut bind = fstype == "bind";
    let mut recursive = false;
    let (mut rset, mut rclear) = (0u64, 0u64);
    let mut data = Vec::new();
    for opt in m.options().as_deref().unwrap_or_default() {
        let opt = opt.as_str();
        if opt == "bind" {
            bind = true;
        } else if opt == "rbind" {
            bind = true;
            recursive = true;
        } else if let Some(&(_, set, f)) = FLAGS.iter().find(|(n, _, _)| *n == opt) {
            if set {
                flags |= f;
            } else {
                flags &= !f;
            }
        } else if let Some(&(_, p)) = PROPAGATION.iter().find(|(n, _)| *n == opt) {
            propagation.push(p);
        } else if let Some(&(_, set, a)) = RECURSIVE_ATTRS.iter().find(|(n, _, _)| *n == opt) {
            if set {
                rset |= a;
                rclear &= !a;
            } else {
                rclear |= a;
                rset &= !a;
            }
        } else if opt == "remount" {
            return Err(invalid(format!("{field}.options"), "\"remount\" is not supported for container mounts"));
        } else if opt == "tmpcopyup" || opt == "idmap" || opt == "ridmap" {
            return Err(invalid(format!("{field}.options"), format!("{opt:?} is not supported yet")));
        } else {
            data.push(opt);
        }
    }
    let data = if data.is_empty() {
        None
    } else {
        Some(sys::cstring(data.join(",")).map_err(|e| invalid(format!("{field}.options"), e.to_string()))?)
    };
    let kind = if bind {
        let src =
            m.source().clone().ok_or_else(|| invalid(format!("{field}.source"), "a bind mount needs a source"))?;
        let source = if src.is_absolute() { src } else { bundle.join(src) };
        if let Err(e) = std::fs::metadata(&source) {
            return Err(invalid(format!("{field}.source"), format!("{}: {e}", source.display())));
        }
        Kind::Bind { source, recursive }
    } else if fstype == "cgroup" || fstype == "cgroup2" {
        Kind::Cgroup
    } else {
        if fstype.is_empty() {
            return Err(invalid(format!("{field}.type"), "missing (and the mount is not a bind mount)"));
        }
        let source = m.source().as_ref().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| fstype.clone());
        Kind::Fs {
            fstype: sys::cstring(&fstype).map_err(|e| invalid(format!("{field}.type"), e.to_string()))?,
            source: sys::cstring(source).map_err(|e| invalid(format!("{field}.source"), e.to_string()))?,
        }
    };
    // Plain flags on a bind mount become mount_setattr attributes on the top
    // mount; r* options apply to the whole tree.
    let (mut attr_set, mut attr_clear) = flags_to_attr(flags);
    let attr_recursive = rset != 0 || rclear != 0;
    if attr_recursive {
        attr_set |= rset;
        attr_clear |= rclear;
    }
    Ok(MountPlan { index, destination, kind, flags, propagation, attr_set, attr_clear, attr_recursive, data })
}

/// Performs a bind mount: clone the source tree detached, set its attributes,
/// then attach it on the target fd — no path is looked up twice. Falls back to
/// mount(2) plus a remount on kernels without the new mount API.
pub fn bind(source: RawFd, target: RawFd, recursive: bool, plan: &MountPlan, root: RawFd) -> io::Result<()> {
    if bind_new_api(source, target, recursive, plan)? {
        return Ok(());
    }
    let mut flags = libc::MS_BIND;
    if recursive {
        flags |= libc::MS_REC;
    }
    sys::mount(Some(&sys::fd_path(source)), &sys::fd_path(target), None, flags, None)?;
    // The target fd still names the covered inode; look the path up
    // again (inside the root) to reach the new mount on top.
    let top = resolve::open_path(root, &plan.destination)?;
    let remount = plan.flags & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    if remount != 0 {
        let locked = sys::locked_mount_flags(top.as_raw_fd())?;
        sys::mount(
            None,
            &sys::fd_path(top.as_raw_fd()),
            None,
            libc::MS_BIND | libc::MS_REMOUNT | remount | locked,
            None,
        )?;
    }
    for &p in &plan.propagation {
        sys::mount(None, &sys::fd_path(top.as_raw_fd()), None, p, None)?;
    }
    Ok(())
}

/// The race-free way (Linux 5.12+). Ok(false) when the kernel lacks a piece
/// of the new mount API, so the caller falls back to mount(2).
fn bind_new_api(source: RawFd, target: RawFd, recursive: bool, plan: &MountPlan) -> io::Result<bool> {
    let tree = match sys::open_tree_clone(source, recursive) {
        Ok(t) => t,
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Ok(false),
        Err(e) => return Err(e),
    };
    if plan.attr_set != 0 || plan.attr_clear != 0 {
        match sys::mount_setattr(tree.as_raw_fd(), plan.attr_set, plan.attr_clear, plan.attr_recursive) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Ok(false),
            other => other?,
        }
    }
    sys::move_mount(tree.as_raw_fd(), target)?;
    for &p in &plan.propagation {
        sys::mount(None, &sys::fd_path(tree.as_raw_fd()), None, p, None)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(json: &str) -> Mount {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn proc_mount_has_no_flags_and_no_data() {
        let p = plan(0, &mount(r#"{"destination":"/proc","type":"proc","source":"proc"}"#), Path::new("/b")).unwrap();
        assert!(matches!(p.kind, Kind::Fs { .. }));
        assert_eq!(p.flags, 0);
        assert!(p.data.is_none());
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let p = plan(
            1,
            &mount(r#"{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]}"#),
            Path::new("/b"),
        )
        .unwrap();
        assert_eq!(p.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(p.data.unwrap().to_str().unwrap(), "mode=755,size=65536k");
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let p = plan(
            0,
            &mount(r#"{"destination":"/x","type":"tmpfs","options":["ro","rw","nodev","dev"]}"#),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(p.flags, 0);
    }

    #[test]
    fn bind_mounts_need_an_existing_source_relative_to_the_bundle() {
        let bundle = tempfile::tempdir().unwrap();
        std::fs::create_dir(bundle.path().join("data")).unwrap();
        let p = plan(
            2,
            &mount(r#"{"destination":"/data","source":"data","options":["rbind","ro","rprivate"]}"#),
            bundle.path(),
        )
        .unwrap();
        match &p.kind {
            Kind::Bind { source, recursive } => {
                assert_eq!(source, &bundle.path().join("data"));
                assert!(recursive);
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(p.attr_set, mount_attr::RDONLY);
        assert_eq!(p.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        let e = plan(3, &mount(r#"{"destination":"/d","source":"missing","type":"bind"}"#), bundle.path()).unwrap_err();
        assert!(e.to_string().starts_with("mounts[3].source: "), "{e}");
    }

    #[test]
    fn recursive_read_only_is_recursive() {
        let p = plan(
            0,
            &mount(r#"{"destination":"/d","source":"/","type":"bind","options":["rbind","rro"]}"#),
            Path::new("/"),
        )
        .unwrap();
        assert!(p.attr_recursive);
        assert_eq!(p.attr_set & mount_attr::RDONLY, mount_attr::RDONLY);
    }

    #[test]
    fn relative_destinations_are_under_root() {
        let p = plan(0, &mount(r#"{"destination":"tmp","type":"tmpfs"}"#), Path::new("/")).unwrap();
        assert_eq!(p.destination, Path::new("/tmp"));
    }

    #[test]
    fn a_mount_without_type_or_bind_is_refused() {
        let e = plan(4, &mount(r#"{"destination":"/x","source":"/y"}"#), Path::new("/")).unwrap_err();
        assert_eq!(e.to_string(), "mounts[4].type: missing (and the mount is not a bind mount)");
    }
}
