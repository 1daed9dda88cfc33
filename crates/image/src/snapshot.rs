//! Snapshots: a container's root filesystem made of an image's unpacked
//! layers plus a writable layer of its own.
//!
//! Two snapshotters share one interface (and one conformance suite):
//! `Overlay` stacks the read-only layer directories under a per-snapshot
//! upper directory, so any number of containers share the layers; `Native`
//! copies the layers into a private directory, for hosts without overlayfs.
//! Both read the same unpacked layers, which are in overlay's diff format.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::ImageStore;

/// How to mount a snapshot: what `mount(8)` would be given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// The filesystem type: `overlay`, or `bind` for a native snapshot.
    pub fstype: String,
    /// The mount source (`overlay`, or the directory to bind).
    pub source: PathBuf,
    /// The mount options, one per entry (`lowerdir=…`, `rbind`).
    pub options: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SnapshotInfo {
    snapshotter: String,
    /// Chain ids, bottom layer first.
    layers: Vec<Digest>,
}

/// A way to give a container a writable root made of unpacked layers, under
/// `<root>/snapshots/<key>`. A key is one path component not starting with
/// `.`; the caller (the engine) picks one per container.
pub trait Snapshotter: Send + Sync {
    /// `overlay` or `native`, as recorded with each snapshot.
    fn name(&self) -> &'static str;
    /// Creates snapshot `key` over `layers` (chain ids, bottom first; all
    /// unpacked) and says how to mount it.
    fn prepare(&self, key: &str, layers: &[Digest]) -> Result<Vec<MountSpec>>;
    /// The mounts of an existing snapshot.
    fn mounts(&self, key: &str) -> Result<Vec<MountSpec>>;
    /// The snapshot's own writable directory (what a commit turns into a layer).
    fn upper(&self, key: &str) -> PathBuf;
    /// Deletes the snapshot's own data. Unmount it first.
    fn remove(&self, key: &str) -> Result<()>;
}

/// The snapshotter for this host: overlay when it works here, else native.
pub fn for_host(store: &ImageStore) -> Result<Box<dyn Snapshotter>> {
    let base = store.root().join("snapshots");
    fs::create_dir_all(&base).map_err(|e| Error::io(format!("creating {}", base.display()), e))?;
    if overlay_works(&base) {
        Ok(Box::new(Overlay { store: store.clone(), base }))
    } else {
        Ok(Box::new(Native { store: store.clone(), base }))
    }
}

/// Probes overlayfs once per state directory (the answer is cached in a file:
/// it depends on the kernel and the filesystem, not on the moment).
fn overlay_works(base: &Path) -> bool {
    let marker = base.join(".overlay");
    if let Ok(s) = fs::read_to_string(&marker) {
        return s.trim() == "yes";
    }
    // Unique per call: threads of one process (the API server creating
    // containers at once) probe at the same moment too.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = base.join(format!(".probe-{}-{n}", std::process::id()));
    let ok = (|| -> io::Result<()> {
        for d in ["lower", "upper", "work", "merged"] {
            fs::create_dir_all(probe.join(d))?;
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            probe.join("lower").display(),
            probe.join("upper").display(),
            probe.join("work").display()
        );
        mount_raw("overlay", &probe.join("merged"), "overlay", &opts)?;
        let _ = unmount(&probe.join("merged"));
        Ok(())
    })()
    .is_ok();
    let _ = fs::remove_dir_all(&probe);
    // Atomically: a process probing at the same moment must never read a
    // half-written answer (an empty file would read as "no").
    let tmp = base.join(format!(".overlay-{}-{n}", std::process::id()));
    if fs::write(&tmp, if ok { "yes\n" } else { "no\n" }).is_ok() {
        let _ = fs::rename(&tmp, &marker);
    }
    ok
}

fn snap_dir(base: &Path, key: &str) -> Result<PathBuf> {
    if key.is_empty() || key.contains('/') || key.starts_with('.') {
        return Err(Error::Invalid(format!("invalid snapshot key {key:?}")));
    }
    Ok(base.join(key))
}

fn write_info(dir: &Path, info: &SnapshotInfo) -> Result<()> {
    let json = serde_json::to_vec(info).map_err(|e| Error::Invalid(e.to_string()))?;
    fs::write(dir.join("info.json"), json).map_err(|e| Error::io(format!("writing {}", dir.display()), e))
}

fn read_info(dir: &Path) -> Result<SnapshotInfo> {
    let p = dir.join("info.json");
    let b = fs::read(&p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
    serde_json::from_slice(&b).map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))
}

fn check_layers(store: &ImageStore, layers: &[Digest]) -> Result<()> {
    for l in layers {
        if !store.has_layer(l) {
            return Err(Error::Invalid(format!("layer {l} is not unpacked")));
        }
    }
    Ok(())
}

/// Chain ids of every layer some snapshot uses: what `gc` must keep.
pub fn layers_in_use(store: &ImageStore) -> Result<Vec<Digest>> {
    let base = store.root().join("snapshots");
    let mut out = Vec::new();
    for e in fs::read_dir(&base).into_iter().flatten().flatten() {
        if let Ok(info) = read_info(&e.path()) {
            out.extend(info.layers);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Overlayfs snapshots: the layers are the lower dirs, nothing is copied; the
/// snapshot holds only the upper and work dirs.
pub struct Overlay {
    store: ImageStore,
    base: PathBuf,
}

impl Snapshotter for Overlay {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn prepare(&self, key: &str, layers: &[Digest]) -> Result<Vec<MountSpec>> {
        check_layers(&self.store, layers)?;
        let dir = snap_dir(&self.base, key)?;
        if dir.exists() {
            return Err(Error::Conflict(format!("snapshot {key} already exists")));
        }
        for d in ["upper", "work"] {
            fs::create_dir_all(dir.join(d)).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        write_info(&dir, &SnapshotInfo { snapshotter: "overlay".into(), layers: layers.to_vec() })?;
        self.mounts(key)
    }

    fn mounts(&self, key: &str) -> Result<Vec<MountSpec>> {
        let dir = snap_dir(&self.base, key)?;
        let info = read_info(&dir)?;
        // overlay needs at least one lower layer; an empty image gets an empty one.
        let mut lowers: Vec<String> =
            info.layers.iter().rev().map(|c| self.store.layer_diff(c).to_string_lossy().into_owned()).collect();
        if lowers.is_empty() {
            let empty = self.base.join(".empty");
            fs::create_dir_all(&empty).map_err(|e| Error::io("creating the empty lower layer", e))?;
            lowers.push(empty.to_string_lossy().into_owned());
        }
        Ok(vec![MountSpec {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", lowers.join(":")),
                format!("upperdir={}", dir.join("upper").display()),
                format!("workdir={}", dir.join("work").display()),
            ],
        }])
    }

    fn upper(&self, key: &str) -> PathBuf {
        self.base.join(key).join("upper")
    }

    fn remove(&self, key: &str) -> Result<()> {
        remove_dir(&snap_dir(&self.base, key)?)
    }
}

/// The fallback where overlayfs does not work (no kernel support, or a
/// filesystem it cannot use): each snapshot is a full copy of its layers,
/// whiteouts applied, bind-mounted.
pub struct Native {
    store: ImageStore,
    base: PathBuf,
}

impl Snapshotter for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn prepare(&self, key: &str, layers: &[Digest]) -> Result<Vec<MountSpec>> {
        check_layers(&self.store, layers)?;
        let dir = snap_dir(&self.base, key)?;
        if dir.exists() {
            return Err(Error::Conflict(format!("snapshot {key} already exists")));
        }
        let fs_dir = dir.join("fs");
        fs::create_dir_all(&fs_dir).map_err(|e| Error::io(format!("creating {}", fs_dir.display()), e))?;
        let r = (|| {
            for l in layers {
                apply_diff(&self.store.layer_diff(l), &fs_dir)
                    .map_err(|e| Error::io(format!("copying layer {l}"), e))?;
            }
            write_info(&dir, &SnapshotInfo { snapshotter: "native".into(), layers: layers.to_vec() })
        })();
        if let Err(e) = r {
            let _ = remove_dir(&dir);
            return Err(e);
        }
        self.mounts(key)
    }

    fn mounts(&self, key: &str) -> Result<Vec<MountSpec>> {
        let dir = snap_dir(&self.base, key)?;
        read_info(&dir)?;
        Ok(vec![MountSpec { fstype: "bind".into(), source: dir.join("fs"), options: vec!["rbind".into()] }])
    }

    fn upper(&self, key: &str) -> PathBuf {
        self.base.join(key).join("fs")
    }

    fn remove(&self, key: &str) -> Result<()> {
        remove_dir(&snap_dir(&self.base, key)?)
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(format!("removing {}", dir.display()), e)),
        _ => Ok(()),
    }
}

/// Copies what the image's layers hold at `subpath` into `dest`, as a
/// container would see it (later layers over earlier ones, whiteouts
/// applied): how a new volume is populated from the image.
pub fn copy_image_path(store: &ImageStore, layers: &[Digest], subpath: &str, dest: &Path) -> Result<()> {
    let rel = subpath.trim_start_matches('/');
    for l in layers {
        let src = store.layer_diff(l).join(rel);
        match fs::symlink_metadata(&src) {
            Ok(m) if m.is_dir() => {
                if is_opaque(&src) {
                    clear_dir(dest).map_err(|e| Error::io(format!("emptying {}", dest.display()), e))?;
                }
                apply_diff(&src, dest).map_err(|e| Error::io(format!("copying {subpath} from layer {l}"), e))?;
            }
            // A file, symlink or whiteout where the directory was: nothing below.
            Ok(_) => clear_dir(dest).map_err(|e| Error::io(format!("emptying {}", dest.display()), e))?,
            Err(_) => {}
        }
    }
    Ok(())
}

fn clear_dir(dir: &Path) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        remove_any(&e?.path())?;
    }
    Ok(())
}

/// Copies an overlay-format diff onto `dest`, interpreting whiteouts (0/0
/// character devices delete, opaque directories replace) the way overlayfs
/// would show them.
fn apply_diff(diff: &Path, dest: &Path) -> io::Result<()> {
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    copy_dir(diff, dest, &mut links)
}

fn is_opaque(dir: &Path) -> bool {
    let Ok(c) = CString::new(dir.as_os_str().as_encoded_bytes()) else { return false };
    let mut buf = [0u8; 4];
    // SAFETY: valid path and buffer.
    let n =
        unsafe { libc::lgetxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    n == 1 && buf[0] == b'y'
}

fn copy_dir(src: &Path, dest: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> io::Result<()> {
    for e in fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dest.join(e.file_name());
        let m = fs::symlink_metadata(&from)?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            remove_any(&to)?;
            continue;
        }
        if ft.is_dir() {
            let existing = fs::symlink_metadata(&to).ok();
            if is_opaque(&from) || existing.as_ref().is_some_and(|x| !x.is_dir()) {
                remove_any(&to)?;
            }
            if !to.is_dir() {
                fs::create_dir(&to)?;
            }
            copy_dir(&from, &to, links)?;
            copy_meta(&from, &to, &m)?;
            continue;
        }
        remove_any(&to)?;
        if m.nlink() > 1 {
            if let Some(first) = links.get(&(m.dev(), m.ino())) {
                fs::hard_link(first, &to)?;
                continue;
            }
            links.insert((m.dev(), m.ino()), to.clone());
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            fs::copy(&from, &to)?;
        } else {
            let c = CString::new(to.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
            // SAFETY: valid path; type and device come from the source node.
            if unsafe { libc::mknod(c.as_ptr(), m.mode(), m.rdev()) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        copy_meta(&from, &to, &m)?;
    }
    Ok(())
}

fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn copy_meta(_from: &Path, to: &Path, m: &fs::Metadata) -> io::Result<()> {
    let c = CString::new(to.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    // SAFETY: valid path; lchown never follows a symlink.
    unsafe { libc::lchown(c.as_ptr(), m.uid(), m.gid()) };
    if !m.file_type().is_symlink() {
        // SAFETY: valid path (not a symlink, so chmod cannot be redirected).
        unsafe { libc::chmod(c.as_ptr(), m.mode() & 0o7777) };
    }
    let ts = [
        libc::timespec { tv_sec: m.atime(), tv_nsec: m.atime_nsec() },
        libc::timespec { tv_sec: m.mtime(), tv_nsec: m.mtime_nsec() },
    ];
    // SAFETY: valid path and timespecs.
    unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    Ok(())
}

fn mount_raw(source: &str, target: &Path, fstype: &str, data: &str) -> io::Result<()> {
    let s = CString::new(source).map_err(io::Error::other)?;
    let t = CString::new(target.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    let f = CString::new(fstype).map_err(io::Error::other)?;
    let d = CString::new(data).map_err(io::Error::other)?;
    // SAFETY: valid C strings.
    if unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), 0, d.as_ptr().cast()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mounts a snapshot at `target`. Overlay layer lists longer than mount(2)'s
/// one-page option limit go through the new mount API, one layer at a time.
pub fn mount(specs: &[MountSpec], target: &Path) -> Result<()> {
    for m in specs {
        let r = match m.fstype.as_str() {
            "bind" => {
                let s =
                    CString::new(m.source.as_os_str().as_encoded_bytes()).map_err(|e| Error::Invalid(e.to_string()))?;
                let t =
                    CString::new(target.as_os_str().as_encoded_bytes()).map_err(|e| Error::Invalid(e.to_string()))?;
                // SAFETY: valid C strings.
                match unsafe {
                    libc::mount(
                        s.as_ptr(),
                        t.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REC,
                        std::ptr::null(),
                    )
                } {
                    0 => Ok(()),
                    _ => Err(io::Error::last_os_error()),
                }
            }
            "overlay" => {
                let data = m.options.join(",");
                if data.len() < 4000 {
                    mount_raw("overlay", target, "overlay", &data)
                } else {
                    mount_overlay_fsconfig(&m.options, target)
                }
            }
            other => return Err(Error::Invalid(format!("unknown snapshot mount type {other}"))),
        };
        r.map_err(|e| Error::io(format!("mounting the snapshot on {}", target.display()), e))?;
    }
    Ok(())
}

fn mount_overlay_fsconfig(options: &[String], target: &Path) -> io::Result<()> {
    const FSCONFIG_SET_STRING: u32 = 1;
    const FSCONFIG_CMD_CREATE: u32 = 6;
    // SAFETY: fsopen with a valid name; the fd is ours.
    let fsfd = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), 1u32) };
    if fsfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd.
    let fsfd = unsafe { OwnedFd::from_raw_fd(fsfd as i32) };
    let set = |k: &str, v: &str| -> io::Result<()> {
        let k = CString::new(k).map_err(io::Error::other)?;
        let v = CString::new(v).map_err(io::Error::other)?;
        // SAFETY: valid strings for the fs context.
        if unsafe {
            libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), FSCONFIG_SET_STRING, k.as_ptr(), v.as_ptr(), 0)
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    for o in options {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        if k == "lowerdir" {
            // "lowerdir+" (Linux 6.8) appends one layer per call, top first.
            for l in v.split(':') {
                set("lowerdir+", l)?;
            }
        } else {
            set(k, v)?;
        }
    }
    // SAFETY: plain syscalls on our fds.
    if unsafe { libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), FSCONFIG_CMD_CREATE, 0usize, 0usize, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; FSMOUNT_CLOEXEC = 1.
    let mfd = unsafe { libc::syscall(libc::SYS_fsmount, fsfd.as_raw_fd(), 1u32, 0u32) };
    if mfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd.
    let mfd = unsafe { OwnedFd::from_raw_fd(mfd as i32) };
    let t = CString::new(target.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    // SAFETY: MOVE_MOUNT_F_EMPTY_PATH (4) moves the detached mount onto the target path.
    if unsafe { libc::syscall(libc::SYS_move_mount, mfd.as_raw_fd(), c"".as_ptr(), libc::AT_FDCWD, t.as_ptr(), 4u32) }
        < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Detaches the mount on `target` (lazily: a busy mount goes once unused);
/// nothing mounted there is not an error.
pub fn unmount(target: &Path) -> Result<()> {
    let t = CString::new(target.as_os_str().as_encoded_bytes()).map_err(|e| Error::Invalid(e.to_string()))?;
    // SAFETY: valid C string. MNT_DETACH: a busy mount goes away once unused.
    if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) } < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::ENOENT) {
            return Err(Error::io(format!("unmounting {}", target.display()), e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LayerMeta;

    #[test]
    fn threads_probing_overlay_at_once_all_get_the_true_answer() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().to_path_buf();
        let alone = {
            let d = tempfile::tempdir().unwrap();
            overlay_works(d.path())
        };
        let answers: Vec<bool> = (0..8)
            .map(|_| {
                let b = base.clone();
                std::thread::spawn(move || overlay_works(&b))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert!(answers.iter().all(|a| *a == alone), "{answers:?} vs {alone}");
        assert_eq!(overlay_works(&base), alone, "the cached answer");
    }

    /// Layer 1: a/x, a/y, d/old, f; layer 2: a/y whited out, d opaque with d/new, f replaced.
    fn store_with_layers() -> (tempfile::TempDir, ImageStore, Vec<Digest>) {
        let t = tempfile::tempdir().unwrap();
        let store = ImageStore::open(t.path()).unwrap();
        let mut chains = Vec::new();
        for (i, build) in [
            Box::new(|d: &Path| {
                fs::create_dir_all(d.join("a")).unwrap();
                fs::write(d.join("a/x"), "x1").unwrap();
                fs::write(d.join("a/y"), "y1").unwrap();
                fs::create_dir_all(d.join("d")).unwrap();
                fs::write(d.join("d/old"), "old").unwrap();
                fs::write(d.join("f"), "f1").unwrap();
            }) as Box<dyn Fn(&Path)>,
            Box::new(|d: &Path| {
                fs::create_dir_all(d.join("a")).unwrap();
                let c = CString::new(d.join("a/y").to_str().unwrap()).unwrap();
                // SAFETY: valid path.
                assert_eq!(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) }, 0);
                fs::create_dir_all(d.join("d")).unwrap();
                let c = CString::new(d.join("d").to_str().unwrap()).unwrap();
                assert_eq!(
                    // SAFETY: valid path and value.
                    unsafe {
                        libc::lsetxattr(c.as_ptr(), c"trusted.overlay.opaque".as_ptr(), b"y".as_ptr().cast(), 1, 0)
                    },
                    0
                );
                fs::write(d.join("d/new"), "new").unwrap();
                fs::write(d.join("f"), "f2").unwrap();
            }),
        ]
        .iter()
        .enumerate()
        {
            let staging = store.layer_staging().unwrap();
            build(&staging.join("diff"));
            let chain = Digest::of(format!("layer{i}").as_bytes());
            store
                .commit_layer(&staging, &LayerMeta { diff_id: chain.clone(), chain_id: chain.clone(), size: 1 })
                .unwrap();
            chains.push(chain);
        }
        (t, store, chains)
    }

    fn conformance(make: fn(&ImageStore) -> Box<dyn Snapshotter>) {
        let (t, store, chains) = store_with_layers();
        let snap = make(&store);
        let specs = snap.prepare("c1", &chains).unwrap();
        assert!(matches!(snap.prepare("c1", &chains), Err(Error::Conflict(_))));
        let target = t.path().join("mnt");
        fs::create_dir_all(&target).unwrap();
        mount(&specs, &target).unwrap();
        {
            let _m = Unmount(&target);
            assert_eq!(fs::read_to_string(target.join("a/x")).unwrap(), "x1");
            assert!(!target.join("a/y").exists(), "whited out");
            assert!(!target.join("d/old").exists(), "hidden by the opaque dir");
            assert_eq!(fs::read_to_string(target.join("d/new")).unwrap(), "new");
            assert_eq!(fs::read_to_string(target.join("f")).unwrap(), "f2");
            fs::write(target.join("written"), "w").unwrap();
        }
        // Writes went to the snapshot, never into the shared layers.
        assert!(snap.upper("c1").join("written").exists());
        for c in &chains {
            assert!(!store.layer_diff(c).join("written").exists());
        }
        assert_eq!(layers_in_use(&store).unwrap(), {
            let mut v = chains.clone();
            v.sort();
            v
        });
        // A second snapshot of the same layers is independent.
        let specs2 = snap.prepare("c2", &chains).unwrap();
        mount(&specs2, &target).unwrap();
        {
            let _m = Unmount(&target);
            assert!(!target.join("written").exists());
        }
        snap.remove("c1").unwrap();
        snap.remove("c2").unwrap();
        snap.remove("c2").unwrap();
        assert!(layers_in_use(&store).unwrap().is_empty());
        assert!(snap.prepare("c3", &[Digest::of(b"missing")]).unwrap_err().to_string().contains("not unpacked"));
        assert!(snap.prepare("../x", &chains).is_err());
        assert!(!fs::read_to_string("/proc/self/mountinfo").unwrap().contains(t.path().to_str().unwrap()));
    }

    /// Unmounts even when an assertion fails, so a failing test leaks no mount.
    struct Unmount<'a>(&'a Path);

    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = unmount(self.0);
        }
    }

    #[test]
    fn overlay_conformance() {
        conformance(|s| Box::new(Overlay { store: s.clone(), base: s.root().join("snapshots") }));
    }

    #[test]
    fn native_conformance() {
        conformance(|s| Box::new(Native { store: s.clone(), base: s.root().join("snapshots") }));
    }

    #[test]
    fn many_layers_mount_through_the_new_mount_api() {
        let t = tempfile::tempdir().unwrap();
        let store = ImageStore::open(t.path()).unwrap();
        let mut chains = Vec::new();
        for i in 0..120 {
            let staging = store.layer_staging().unwrap();
            fs::write(staging.join("diff").join(format!("f{i}")), "x").unwrap();
            let chain = Digest::of(format!("many{i}").as_bytes());
            store
                .commit_layer(&staging, &LayerMeta { diff_id: chain.clone(), chain_id: chain.clone(), size: 1 })
                .unwrap();
            chains.push(chain);
        }
        let snap = Overlay { store: store.clone(), base: store.root().join("snapshots") };
        let specs = snap.prepare("big", &chains).unwrap();
        assert!(specs[0].options.join(",").len() > 4000);
        let target = t.path().join("mnt");
        fs::create_dir_all(&target).unwrap();
        mount(&specs, &target).unwrap();
        let _m = Unmount(&target);
        assert_eq!(fs::read_dir(&target).unwrap().count(), 120);
    }
}
