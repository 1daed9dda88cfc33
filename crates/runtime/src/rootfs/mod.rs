//! Building the container's root filesystem inside its new mount namespace:
//! propagation, the spec's mounts, /dev, the terminal, masked and read-only
//! paths, then pivot_root. Runs in the child, before any container process
//! exists; every path inside the rootfs is opened through an in-root lookup.

pub mod dev;
pub mod mounts;
pub mod resolve;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use mounts::{Kind, MountPlan};
use sys::syscall::Syscall;
use sys::Follow;

/// One cgroup hierarchy as the container should see it.
#[derive(Debug, Clone)]
pub struct CgroupView {
    /// Directory name under the cgroup mount ("memory", "cpu,cpuacct",
    /// "unified"); empty on a pure v2 host, where the hierarchy is the mount.
    pub name: String,
    /// The container's own cgroup directory on the host.
    pub host_dir: PathBuf,
    /// "cgroup" or "cgroup2".
    pub fstype: &'static str,
    /// Mount data for cgroup v1: the controllers of this hierarchy.
    pub options: String,
    /// Names to link to `name` when controllers are co-mounted (cpu → cpu,cpuacct).
    pub links: Vec<String>,
}

/// A filesystem mounted on the rootfs directory before anything else (see
/// `CreateOptions::rootfs_mount`), e.g. overlay with lowerdir=…,upperdir=….
#[derive(Debug, Clone, Default)]
pub struct RootfsMount {
    /// The filesystem type, e.g. `overlay`.
    pub fstype: String,
    /// The mount source (for overlay, any name: it shows in /proc/mounts).
    pub source: String,
    /// The mount data, e.g. `lowerdir=…,upperdir=…,workdir=…`; empty: none.
    pub data: String,
}

/// How to build the container's root filesystem: the spec's root, mounts,
/// devices and paths, checked in the parent, for [`prepare`] in the child.
#[derive(Debug, Default)]
pub struct Plan {
    /// Mounted on `rootfs` before anything else (see [`RootfsMount`]).
    pub rootfs_mount: Option<RootfsMount>,
    /// The rootfs directory on the host, absolute.
    pub rootfs: PathBuf,
    /// The spec's `mounts`, in the spec's order (later ones may cover earlier
    /// ones).
    pub mounts: Vec<MountPlan>,
    /// `linux.devices`, created after the mounts.
    pub devices: Vec<dev::Device>,
    /// The spec mounts a fresh filesystem on /dev, so it gets the standard
    /// nodes and links.
    pub fresh_dev: bool,
    /// A devpts is mounted on /dev/pts, so /dev/ptmx links to pts/ptmx.
    pub devpts: bool,
    /// `linux.maskedPaths`: /dev/null is bind-mounted on files, an empty
    /// read-only tmpfs on directories; paths that do not exist are skipped.
    pub masked: Vec<String>,
    /// `linux.readonlyPaths`: bind-mounted read-only onto themselves; missing
    /// ones are skipped.
    pub readonly_paths: Vec<String>,
    /// `root.readonly`: / is remounted read-only after pivot_root; the mounts
    /// below it keep their own flags.
    pub readonly_root: bool,
    /// `linux.rootfsPropagation` as MS_* flags; None: MS_REC | MS_SLAVE, so
    /// nothing mounted in the container reaches the host.
    pub propagation: Option<libc::c_ulong>,
    /// The container has a user namespace (new or joined): mknod and some
    /// mounts (sysfs, devpts options) are not allowed and are replaced as
    /// runc does.
    pub userns: bool,
    /// How each cgroup hierarchy appears in the container, for `cgroup`
    /// mounts.
    pub cgroups: Vec<CgroupView>,
    /// The container has a cgroup namespace of its own: cgroup mounts are
    /// fresh cgroup filesystems rather than bind mounts of its host
    /// directories.
    pub new_cgroupns: bool,
    /// The container has a mount namespace of its own. Without one (the
    /// spec leaves it out) it shares the runtime's: its mounts are made on
    /// the host below the rootfs, kept from propagating, entered with chroot
    /// and detached again by [`detach_host_mounts`] at delete.
    pub new_mountns: bool,
    /// `process.cwd`, created in the rootfs if missing.
    pub cwd: PathBuf,
    /// `process.terminal`: a pty is opened in the container's devpts and
    /// bound on /dev/console.
    pub terminal: bool,
    /// `process.consoleSize` (rows, cols) for that pty.
    pub console_size: Option<(u16, u16)>,
}

/// What the rootfs step hands back: the terminal, when one was asked for.
pub struct Prepared {
    /// The master and slave of the container's pty, in that order.
    pub pty: Option<(OwnedFd, OwnedFd)>,
}

type Step<T> = std::result::Result<T, String>;

fn step<T>(what: impl FnOnce() -> String, r: std::io::Result<T>) -> Step<T> {
    r.map_err(|e| format!("{}: {e}", what()))
}

/// Everything up to and including pivot_root. Errors are plain strings that
/// name the step; the child sends them to the parent.
/// `before_pivot` runs once everything is mounted, right before the root
/// changes: the moment of the createRuntime and createContainer hooks.
pub fn prepare(plan: &Plan, before_pivot: &mut dyn FnMut() -> Step<()>) -> Step<Prepared> {
    prepare_with(&sys::syscall::Linux, plan, before_pivot)
}

/// [`prepare`] with the mount and root changes made through `sc` (a
/// recorder in the unit tests below).
fn prepare_with(sc: &dyn Syscall, plan: &Plan, before_pivot: &mut dyn FnMut() -> Step<()>) -> Step<Prepared> {
    // Nothing we mount may leak back to the host, unless the spec asks for
    // shared propagation (e.g. Kubernetes' Bidirectional mounts): runc's rule.
    let propagation = plan.propagation.unwrap_or(libc::MS_REC | libc::MS_SLAVE);
    if plan.new_mountns {
        step(
            || "linux.rootfsPropagation: setting the propagation of /".into(),
            sc.mount(None, c"/", None, propagation, None),
        )?;
    }
    if plan.new_mountns && propagation & libc::MS_SHARED != 0 {
        // pivot_root refuses a new root whose parent mount is shared.
        step(|| "making the rootfs' parent mount private".into(), make_parent_private(&plan.rootfs))?;
    }
    let rootfs = step(|| "rootfs path".into(), sys::path_cstring(&plan.rootfs))?;
    if let Some(m) = &plan.rootfs_mount {
        let c = |s: &str| sys::cstring(s).map_err(|e| format!("root filesystem mount: {e}"));
        let (fstype, source, data) = (c(&m.fstype)?, c(&m.source)?, c(&m.data)?);
        let data = (!m.data.is_empty()).then_some(data.as_c_str());
        step(
            || format!("mounting the root filesystem ({}) on {}", m.fstype, plan.rootfs.display()),
            sc.mount(Some(&source), &rootfs, Some(&fstype), 0, data),
        )?;
    }
    step(
        || format!("bind-mounting the rootfs {}", plan.rootfs.display()),
        sc.mount(Some(&rootfs), &rootfs, None, libc::MS_BIND | libc::MS_REC, None),
    )?;
    if !plan.new_mountns {
        // In the host's namespace: nothing mounted below may reach the
        // mounts the rootfs' parent propagates to.
        step(
            || format!("making the rootfs {} private", plan.rootfs.display()),
            sc.mount(None, &rootfs, None, libc::MS_PRIVATE, None),
        )?;
    }
    // Opened after the bind, so the fd holds the new mount, not the directory below.
    let root = step(
        || format!("opening the rootfs {}", plan.rootfs.display()),
        sys::open(&plan.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0),
    )?;
    let r = root.as_raw_fd();

    crate::timing::mark("child: rootfs bound");
    for m in &plan.mounts {
        mount_one(r, m, plan).map_err(|e| format!("{}: {e}", m.field()))?;
    }
    crate::timing::mark("child: mounts done");
    if plan.fresh_dev {
        for d in dev::defaults() {
            step(|| format!("creating {}", d.path.display()), dev::create(r, &d, plan.userns))?;
        }
        step(|| "creating the /dev symlinks".into(), dev::symlinks(r, plan.devpts))?;
    }
    for (i, d) in plan.devices.iter().enumerate() {
        step(|| format!("linux.devices[{i}]: creating {}", d.path.display()), dev::create(r, d, plan.userns))?;
    }
    // runc creates a missing working directory; so do we (inside the root).
    step(|| format!("process.cwd: creating {}", plan.cwd.display()), resolve::mkdir_all(r, &plan.cwd))?;
    let pty = if plan.terminal { Some(crate::process::tty::open_in_root(r, plan.console_size, true)?) } else { None };
    crate::timing::mark("child: dev+pty done");
    mask_paths(r, &plan.masked)?;
    crate::timing::mark("child: masked");
    readonly_paths(r, &plan.readonly_paths)?;
    crate::timing::mark("child: readonly paths");
    before_pivot()?;
    if plan.new_mountns {
        pivot(sc, &root)?;
    } else {
        // pivot_root would move the host's own root.
        enter_with_chroot(sc, &root)?;
    }
    crate::timing::mark("child: pivoted");
    if plan.readonly_root {
        let slash = step(|| "opening /".into(), sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0))?;
        let locked = step(|| "reading flags of /".into(), sys::locked_mount_flags(slash.as_raw_fd()))?;
        step(
            || "root.readonly: remounting / read-only".into(),
            sc.mount(None, c"/", None, libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked, None),
        )?;
    }
    Ok(Prepared { pty })
}

/// Makes the mount holding `path` private if it is shared (from mountinfo:
/// the longest mount point that is a prefix of `path`).
fn make_parent_private(path: &Path) -> std::io::Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut best: Option<(PathBuf, bool)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(mp) = f.get(4) else { continue };
        let mp = PathBuf::from(mp.replace("\\040", " "));
        if path.starts_with(&mp) && best.as_ref().is_none_or(|(b, _)| mp.as_os_str().len() >= b.as_os_str().len()) {
            let shared = f.iter().skip(6).take_while(|x| **x != "-").any(|x| x.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        sys::mount(None, &sys::path_cstring(&mp)?, None, libc::MS_PRIVATE, None)?;
    }
    Ok(())
}

fn mount_one(root: RawFd, m: &MountPlan, plan: &Plan) -> std::io::Result<()> {
    match &m.kind {
        Kind::Bind { source, recursive } => {
            let src = sys::open(source, libc::O_PATH, 0)?;
            let is_dir = sys::fstat(src.as_raw_fd())?.st_mode & libc::S_IFMT == libc::S_IFDIR;
            let target = if is_dir {
                resolve::mkdir_all(root, &m.destination)?
            } else {
                resolve::create_file(root, &m.destination, 0o644)?
            };
            mounts::bind(src.as_raw_fd(), target.as_raw_fd(), *recursive, m, root)
        }
        Kind::Fs { fstype, source } => {
            let target = resolve::mkdir_all(root, &m.destination)?;
            let tpath = sys::fd_path(target.as_raw_fd());
            let r = sys::mount(Some(source), &tpath, Some(fstype), m.flags, m.data.as_deref());
            match r {
                Err(e) if plan.userns && e.raw_os_error() == Some(libc::EPERM) && fstype.as_bytes() == b"sysfs" => {
                    // A user namespace without its own network namespace may not
                    // mount sysfs; runc binds the host's /sys instead.
                    let host = sys::open(Path::new("/sys"), libc::O_PATH | libc::O_DIRECTORY, 0)?;
                    mounts::bind(host.as_raw_fd(), target.as_raw_fd(), true, m, root)?;
                }
                Err(e) if plan.userns && e.raw_os_error() == Some(libc::EINVAL) && fstype.as_bytes() == b"devpts" => {
                    // gid=5 (tty) may be unmapped in the user namespace.
                    let data = m.data.as_ref().map(|d| {
                        d.to_string_lossy().split(',').filter(|o| !o.starts_with("gid=")).collect::<Vec<_>>().join(",")
                    });
                    let data = data.map(sys::cstring).transpose()?;
                    sys::mount(Some(source), &tpath, Some(fstype), m.flags, data.as_deref())?;
                }
                other => other?,
            }
            if !m.propagation.is_empty() {
                let top = resolve::open_path(root, &m.destination)?;
                for &p in &m.propagation {
                    sys::mount(None, &sys::fd_path(top.as_raw_fd()), None, p, None)?;
                }
            }
            Ok(())
        }
        Kind::Cgroup => mount_cgroups(root, m, plan),
    }
}

/// /sys/fs/cgroup: with a cgroup namespace the real cgroup filesystems are
/// mounted (they show the container's cgroup as their root); without one the
/// container's own cgroup directories are bind-mounted from the host.
fn mount_cgroups(root: RawFd, m: &MountPlan, plan: &Plan) -> std::io::Result<()> {
    let target = resolve::mkdir_all(root, &m.destination)?;
    let hier = |v: &CgroupView, t: RawFd| -> std::io::Result<()> {
        if plan.new_cgroupns {
            let opts = (!v.options.is_empty()).then(|| sys::cstring(&v.options)).transpose()?;
            let fstype = sys::cstring(v.fstype)?;
            sys::mount(Some(&fstype), &sys::fd_path(t), Some(&fstype), m.flags, opts.as_deref())
        } else {
            let host = sys::open(&v.host_dir, libc::O_PATH | libc::O_DIRECTORY, 0)?;
            mounts::bind(host.as_raw_fd(), t, false, m, root)
        }
    };
    if let [v] = plan.cgroups.as_slice() {
        if v.name.is_empty() {
            return hier(v, target.as_raw_fd());
        }
    }
    // v1 (and hybrid): a tmpfs holding one directory per hierarchy.
    let flags = (m.flags & !libc::MS_RDONLY) | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    sys::mount(Some(c"tmpfs"), &sys::fd_path(target.as_raw_fd()), Some(c"tmpfs"), flags, Some(c"mode=755"))?;
    for v in &plan.cgroups {
        let dir = resolve::mkdir_all(root, &m.destination.join(&v.name))?;
        hier(v, dir.as_raw_fd())?;
        let top = resolve::open_path(root, &m.destination)?;
        for link in &v.links {
            let (t, n) = (sys::cstring(&v.name)?, sys::cstring(link)?);
            // SAFETY: valid C strings; the link is created inside the cgroup tmpfs.
            unsafe { libc::symlinkat(t.as_ptr(), top.as_raw_fd(), n.as_ptr()) };
        }
    }
    if m.flags & libc::MS_RDONLY != 0 {
        let top = resolve::open_path(root, &m.destination)?;
        sys::mount(None, &sys::fd_path(top.as_raw_fd()), None, libc::MS_REMOUNT | libc::MS_RDONLY | flags, None)?;
    }
    Ok(())
}

/// Hides each masked path: a directory under an empty read-only tmpfs, a file
/// under the host's /dev/null (checked to be the real null device, so a
/// container cannot make us bind something else; CVE-2025-31133).
fn mask_paths(root: RawFd, paths: &[String]) -> Step<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let null = step(|| "opening /dev/null".into(), sys::open(Path::new("/dev/null"), libc::O_PATH, 0))?;
    let st = step(|| "checking /dev/null".into(), sys::fstat(null.as_raw_fd()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err("the host's /dev/null is not the null device: refusing to mask paths with it".into());
    }
    for p in paths {
        let fd = match sys::root::open(root, Path::new(p), libc::O_PATH, 0, Follow::InRoot) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(format!("linux.maskedPaths: {p}: {e}")),
        };
        let st = step(|| format!("linux.maskedPaths: {p}"), sys::fstat(fd.as_raw_fd()))?;
        let r = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            sys::mount(Some(c"tmpfs"), &sys::fd_path(fd.as_raw_fd()), Some(c"tmpfs"), libc::MS_RDONLY, None)
        } else {
            dev::bind_fd(null.as_raw_fd(), fd.as_raw_fd())
        };
        step(|| format!("linux.maskedPaths: masking {p}"), r)?;
    }
    Ok(())
}

/// Makes each path read-only by binding it onto itself with MOUNT_ATTR_RDONLY
/// on the whole tree below it.
fn readonly_paths(root: RawFd, paths: &[String]) -> Step<()> {
    for p in paths {
        let fd = match sys::root::open(root, Path::new(p), libc::O_PATH, 0, Follow::InRoot) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(format!("linux.readonlyPaths: {p}: {e}")),
        };
        let new_api = || -> std::io::Result<bool> {
            let tree = match sys::open_tree_clone(fd.as_raw_fd(), true) {
                Ok(t) => t,
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Ok(false),
                Err(e) => return Err(e),
            };
            match sys::mount_setattr(tree.as_raw_fd(), sys::mount_attr::RDONLY, 0, true) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return Ok(false),
                other => other?,
            }
            sys::move_mount(tree.as_raw_fd(), fd.as_raw_fd())?;
            Ok(true)
        };
        let r = (|| match new_api() {
            Ok(true) => Ok(()),
            Ok(false) => {
                let path = sys::fd_path(fd.as_raw_fd());
                sys::mount(Some(&path), &path, None, libc::MS_BIND | libc::MS_REC, None)?;
                let top = sys::root::open(root, Path::new(p), libc::O_PATH, 0, Follow::InRoot)?;
                let locked = sys::locked_mount_flags(top.as_raw_fd())?;
                let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked;
                sys::mount(None, &sys::fd_path(top.as_raw_fd()), None, flags, None)
            }
            Err(e) => Err(e),
        })();
        step(|| format!("linux.readonlyPaths: {p}"), r)?;
    }
    Ok(())
}

/// pivot_root into the rootfs and detach the old root, runc's way: pivot
/// onto "." so the old root is stacked on the new one, then unmount it lazily.
/// Falls back to MS_MOVE + chroot only where pivot_root is impossible (a
/// rootfs on the initramfs).
fn enter_with_chroot(sc: &dyn Syscall, root: &OwnedFd) -> Step<()> {
    sc.fchdir(root.as_raw_fd())
        .and_then(|()| sc.chroot(c"."))
        .and_then(|()| sc.chdir(c"/"))
        .map_err(|e| format!("entering the rootfs (chroot): {e}"))
}

/// Undoes what [`prepare`] mounted on the host for a container without a
/// mount namespace of its own: every mount stacked on the rootfs, with
/// everything below them (a lazy detach, so busy ones go too).
pub fn detach_host_mounts(rootfs: &Path) -> std::io::Result<()> {
    let c = sys::path_cstring(rootfs)?;
    // The rootfs' own mount (a bundle's root mount) and our bind on top of
    // it: a handful at most.
    for _ in 0..8 {
        // SAFETY: umount2 with a valid C string.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                // No longer a mount point (or gone): done.
                Some(libc::EINVAL | libc::ENOENT) => Ok(()),
                _ => Err(e),
            };
        }
    }
    Ok(())
}

fn pivot(sc: &dyn Syscall, root: &OwnedFd) -> Step<()> {
    sc.fchdir(root.as_raw_fd()).map_err(|e| format!("entering the rootfs: {e}"))?;
    if let Err(e) = sc.pivot_root(c".", c".") {
        // pivot_root cannot leave a ramfs/tmpfs initial root (initramfs); that
        // is the only case where MS_MOVE + chroot stands in for it. Anything
        // else (a runtime started inside a chroot, odd propagation) is an
        // error, since a chroot leaves the host's mounts reachable.
        const RAMFS_MAGIC: i64 = 0x8584_58f6;
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        let host_root = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
            .and_then(|fd| sys::fstatfs_magic(fd.as_raw_fd()));
        let initramfs = matches!(host_root, Ok(RAMFS_MAGIC) | Ok(TMPFS_MAGIC));
        if e.raw_os_error() != Some(libc::EINVAL) || !initramfs {
            return Err(format!("pivot_root: {e}"));
        }
        step(|| "moving the rootfs to /".into(), sc.mount(Some(c"."), c"/", None, libc::MS_MOVE, None))?;
        sc.chroot(c".").map_err(|e| format!("chroot: {e}"))?;
    } else {
        // Make sure the unmount below cannot propagate to the host.
        step(|| "making the old root a slave".into(), sc.mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None))?;
        sc.umount2(c".", libc::MNT_DETACH).map_err(|e| format!("detaching the old root: {e}"))?;
    }
    sc.chdir(c"/").map_err(|e| format!("chdir /: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::syscall::Recorder;

    /// A rootfs with nothing to mount in it: only the ordering of the
    /// mount-namespace and root changes is left, which the recorder sees.
    fn plan(dir: &Path, new_mountns: bool) -> Plan {
        Plan { rootfs: dir.to_path_buf(), new_mountns, cwd: "/".into(), ..Default::default() }
    }

    fn run(sc: &Recorder, plan: &Plan) -> Step<Vec<String>> {
        let mut hook_ran_at = None;
        let mut before_pivot = || {
            hook_ran_at = Some(sc.calls().len());
            Ok(())
        };
        prepare_with(sc, plan, &mut before_pivot)?;
        let mut calls = sc.calls();
        if let Some(i) = hook_ran_at {
            calls.insert(i, "<before_pivot>".into());
        }
        Ok(calls)
    }

    #[test]
    fn in_a_new_mount_namespace_the_root_becomes_a_slave_then_is_pivoted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let mut p = plan(dir.path(), true);
        p.readonly_root = true;
        let calls = run(&Recorder::default(), &p).unwrap();
        let remount = calls.last().cloned().unwrap_or_default();
        assert_eq!(
            calls[..calls.len() - 1],
            [
                "mount(-, /, -, MS_REC|MS_SLAVE)".to_string(),
                format!("mount({root}, {root}, -, MS_BIND|MS_REC)"),
                "<before_pivot>".into(),
                "fchdir(root)".into(),
                "pivot_root(., .)".into(),
                "mount(-, ., -, MS_REC|MS_SLAVE)".into(),
                "umount2(., MNT_DETACH)".into(),
                "chdir(/)".into(),
            ]
        );
        assert!(remount.starts_with("mount(-, /, -, MS_RDONLY|MS_REMOUNT|MS_BIND"), "{remount}");
    }

    #[test]
    fn in_the_hosts_mount_namespace_nothing_of_the_host_changes_and_chroot_enters() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let calls = run(&Recorder::default(), &plan(dir.path(), false)).unwrap();
        assert_eq!(
            calls,
            [
                format!("mount({root}, {root}, -, MS_BIND|MS_REC)"),
                format!("mount(-, {root}, -, MS_PRIVATE)"),
                "<before_pivot>".into(),
                "fchdir(root)".into(),
                "chroot(.)".into(),
                "chdir(/)".into(),
            ],
            "no propagation change of /, no pivot_root"
        );
    }

    #[test]
    fn a_failing_step_is_named_and_nothing_after_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let sc = Recorder::default().failing("pivot_root", libc::EPERM);
        let e = run(&sc, &plan(dir.path(), true)).unwrap_err();
        assert!(e.starts_with("pivot_root: "), "{e}");
        assert_eq!(sc.calls().last().map(String::as_str), Some("pivot_root(., .)"));

        let sc = Recorder::default().failing("mount(-, /,", libc::EACCES);
        let e = run(&sc, &plan(dir.path(), true)).unwrap_err();
        assert!(e.starts_with("linux.rootfsPropagation: setting the propagation of /:"), "{e}");
        assert_eq!(sc.calls().len(), 1);
    }
}
