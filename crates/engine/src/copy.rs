//! Copying files into and out of containers (`cp`, the API's `/archive`),
//! as tar streams. The side that touches the container's filesystem runs in
//! a process of its own that has entered the container's root with
//! chroot(2) (`enter_root`), so a symlink in the container — planted by
//! whatever runs there — resolves inside the container and never reaches
//! the host: the lesson of docker's CVE-2018-15664 and CVE-2019-14271.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{Mount, Status};

/// What `cp` needs to know about a source path, from its spelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    /// `SRC/.`: a directory's contents rather than the directory.
    pub contents_only: bool,
}

impl Source {
    pub fn parse(s: &str) -> Source {
        let contents_only = s.ends_with("/.") || s == ".";
        Source { path: PathBuf::from(s), contents_only }
    }

    /// The name the copy gets inside the archive.
    fn archive_name(&self) -> String {
        if self.contents_only {
            return ".".into();
        }
        let trimmed = self.path.to_string_lossy().trim_end_matches('/').to_string();
        Path::new(&trimmed).file_name().map_or_else(|| ".".into(), |n| n.to_string_lossy().into_owned())
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::io(what, e)
}

/// Writes `src` (a file, directory or symlink; with `follow`, a symlink's
/// target) as a tar stream whose top entry is the source's base name (or
/// `.` with its contents for `SRC/.`).
pub fn pack(src: &Source, follow: bool, out: impl Write) -> Result<()> {
    let path = &src.path;
    let md = if follow { fs::metadata(path) } else { fs::symlink_metadata(path) }
        .map_err(|e| not_found_or(e, format!("Could not find the file {} in container", path.display())))?;
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let name = src.archive_name();
    if md.is_dir() {
        b.append_dir_all(&name, path).map_err(io(format!("archiving {}", path.display())))?;
    } else if md.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(io(format!("reading link {}", path.display())))?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&md);
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, &name, &target).map_err(io(format!("archiving {}", path.display())))?;
    } else {
        let mut f = fs::File::open(path).map_err(io(format!("opening {}", path.display())))?;
        b.append_file(&name, &mut f).map_err(io(format!("archiving {}", path.display())))?;
    }
    b.into_inner().map_err(io("finishing the archive"))?.flush().map_err(io("writing the archive"))?;
    Ok(())
}

fn not_found_or(e: std::io::Error, msg: String) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound(msg)
    } else {
        Error::io(msg, e)
    }
}

/// Where an archive made by `pack` lands for `cp SRC DEST`, by docker's
/// rules: into DEST when it is a directory, as DEST when it does not exist
/// (its parent must), over DEST when both are files.
#[derive(Debug, PartialEq, Eq)]
enum Placement {
    /// Extract as is into this directory.
    Into(PathBuf),
    /// Extract into this directory, the archive's top entry renamed.
    Renamed(PathBuf, String),
}

fn placement(dest: &Path, src_is_dir: bool, contents_only: bool) -> Result<Placement> {
    let spelled_dir = dest.to_string_lossy().ends_with('/');
    match fs::metadata(dest) {
        Ok(md) if md.is_dir() => Ok(Placement::Into(dest.to_path_buf())),
        Ok(_) if src_is_dir => Err(Error::Invalid(format!("cannot copy a directory to a file: {}", dest.display()))),
        Ok(_) if spelled_dir => Err(Error::Invalid(format!("{} is not a directory", dest.display()))),
        Ok(_) => split(dest),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if spelled_dir && !src_is_dir {
                return Err(Error::NotFound(format!("destination directory {} must exist", dest.display())));
            }
            if src_is_dir && contents_only {
                // `cp dir/. new`: `new` becomes a copy of dir.
                return split(dest);
            }
            let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(Error::NotFound(format!("destination directory {} must exist", parent.display())));
            }
            split(dest)
        }
        Err(e) => Err(Error::io(format!("examining {}", dest.display()), e)),
    }
}

fn split(dest: &Path) -> Result<Placement> {
    let trimmed = PathBuf::from(dest.to_string_lossy().trim_end_matches('/'));
    let name = trimmed
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("invalid destination {}", dest.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = trimmed.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    Ok(Placement::Renamed(parent, name))
}

/// Extracts a `pack` archive for `cp … DEST`. `preserve_owner`: keep the
/// archive's uid/gid (`cp -a`), else files belong to whoever extracts.
pub fn unpack(archive: impl Read, dest: &Path, preserve_owner: bool) -> Result<()> {
    let mut a = tar::Archive::new(archive);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(preserve_owner);
    a.set_preserve_mtime(true);
    a.set_overwrite(true);
    let mut placement: Option<(Placement, String)> = None;
    for entry in a.entries().map_err(io("reading the archive"))? {
        let mut entry = entry.map_err(io("reading the archive"))?;
        let path = entry.path().map_err(io("reading the archive"))?.into_owned();
        let rel = clean(&path)?;
        if placement.is_none() {
            let top = rel.components().next().map_or(".".to_string(), |c| c.as_os_str().to_string_lossy().into_owned());
            let is_dir = entry.header().entry_type().is_dir();
            let contents_only = top == "." || rel.as_os_str().is_empty();
            placement = Some((placement_for(dest, is_dir, contents_only)?, top));
        }
        let Some((place, top)) = &placement else { continue };
        let (base, target) = match place {
            Placement::Into(dir) => (dir.clone(), dir.join(&rel)),
            Placement::Renamed(dir, name) => {
                let rest = rel.strip_prefix(top).unwrap_or(&rel);
                (dir.clone(), if rest.as_os_str().is_empty() { dir.join(name) } else { dir.join(name).join(rest) })
            }
        };
        if target == base && entry.header().entry_type().is_dir() {
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
            inside(&base, parent)?;
        }
        if let Ok(md) = fs::symlink_metadata(&target) {
            if md.is_dir() && !entry.header().entry_type().is_dir() {
                return Err(Error::Invalid(format!(
                    "cannot overwrite directory {} with non-directory",
                    target.display()
                )));
            }
        }
        entry.unpack(&target).map_err(io(format!("extracting {}", target.display())))?;
    }
    if placement.is_none() {
        return Err(Error::Invalid("the archive is empty".into()));
    }
    Ok(())
}

fn placement_for(dest: &Path, is_dir: bool, contents_only: bool) -> Result<Placement> {
    placement(dest, is_dir, contents_only)
}

/// A relative path without `..` or absolute parts.
fn clean(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return Err(Error::Invalid(format!("invalid path in archive: {}", p.display()))),
        }
    }
    Ok(out)
}

/// Refuses a directory that resolved (through a symlink) outside `base`.
fn inside(base: &Path, dir: &Path) -> Result<()> {
    let b = fs::canonicalize(base).map_err(io(format!("resolving {}", base.display())))?;
    let d = fs::canonicalize(dir).map_err(io(format!("resolving {}", dir.display())))?;
    if d.starts_with(&b) {
        Ok(())
    } else {
        Err(Error::Invalid(format!("refusing to write through a link outside the destination: {}", dir.display())))
    }
}

/// A Unix mode in Go's `os.FileMode` bits, which docker clients decode.
pub fn go_file_mode(mode: u32) -> u32 {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => 1 << 26 | 1 << 21,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        _ => 0,
    };
    let special = if mode & libc::S_ISUID != 0 { 1 << 23 } else { 0 }
        | if mode & libc::S_ISGID != 0 { 1 << 22 } else { 0 }
        | if mode & libc::S_ISVTX != 0 { 1 << 20 } else { 0 };
    kind | special | (mode & 0o777)
}

/// The size and mode of a path, as the API's X-Docker-Container-Path-Stat.
pub fn path_stat(path: &Path) -> Result<serde_json::Value> {
    let md = fs::symlink_metadata(path)
        .map_err(|e| not_found_or(e, format!("Could not find the file {} in container", path.display())))?;
    let link = if md.file_type().is_symlink() {
        fs::read_link(path).map(|l| l.display().to_string()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(serde_json::json!({
        "name": path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into()),
        "size": md.size(),
        "mode": go_file_mode(md.mode()),
        "mtime": crate::engine::rfc3339_secs(md.mtime()),
        "linkTarget": link,
    }))
}

impl Engine {
    /// Makes this process's root the container's filesystem, as the
    /// container sees it: a running one's root directly; a stopped one's
    /// overlay with its volumes and bind mounts, mounted in a mount
    /// namespace of this process only (so nothing is left behind).
    ///
    /// Only for a process of its own (`berth internal archive`): it chroots.
    pub fn enter_root(&mut self, key: &str) -> Result<()> {
        let c = self.container(key)?;
        let root = if matches!(c.state.status, Status::Running | Status::Paused) {
            PathBuf::from(format!("/proc/{}/root", c.state.pid))
        } else {
            self.mount_stopped(&c)?
        };
        std::env::set_current_dir(&root).map_err(io(format!("entering {}", root.display())))?;
        // SAFETY: a NUL-terminated literal.
        if unsafe { libc::chroot(c".".as_ptr()) } != 0 {
            return Err(Error::io("chroot into the container", std::io::Error::last_os_error()));
        }
        std::env::set_current_dir("/").map_err(io("entering the container's /"))?;
        Ok(())
    }

    fn mount_stopped(&mut self, c: &crate::model::Container) -> Result<PathBuf> {
        // SAFETY: plain syscalls; this process is single-threaded (a
        // dedicated child) so the new mount namespace covers all of it.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(Error::io("unshare(CLONE_NEWNS)", std::io::Error::last_os_error()));
            }
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(Error::io("making mounts private", std::io::Error::last_os_error()));
            }
        }
        let snap = image::snapshot::for_host(&self.images)?;
        let rootfs = self.container_dir(&c.id).join("rootfs");
        fs::create_dir_all(&rootfs).map_err(io(format!("creating {}", rootfs.display())))?;
        for m in snap.mounts(&c.id)? {
            let data = m.options.join(",");
            sys_mount(
                &m.fstype,
                &m.source.to_string_lossy(),
                &rootfs,
                if m.fstype == "bind" { libc::MS_BIND } else { 0 },
                &data,
            )?;
        }
        let root_fd = sys::root::open_root(&rootfs).map_err(io("opening the container's root"))?;
        use std::os::fd::AsRawFd;
        // A container never started has no volumes yet: they are made now,
        // as its start would, so a copy into one is there once it runs
        // (dockerd makes them at create).
        let layers = if c.state.status == Status::Created { Some(self.layers_of(c)?) } else { None };
        for m in &c.config.mounts {
            let source = match (m, &layers) {
                (Mount::Volume { .. }, Some(layers)) => self.prepare_volume(m, layers)?,
                (Mount::Volume { name, .. }, None) => self.volume_dir(name),
                (Mount::Bind { source, .. }, _) => PathBuf::from(source),
                (Mount::Tmpfs { .. }, _) => continue,
            };
            if !source.exists() {
                continue;
            }
            let target = Path::new(m.target());
            let fd = if source.is_dir() {
                sys::root::mkdir_all(root_fd.as_raw_fd(), target)
            } else {
                sys::root::create_file(root_fd.as_raw_fd(), target, 0o644)
            }
            .map_err(io(format!("preparing {}", target.display())))?;
            sys_mount(
                "",
                &source.to_string_lossy(),
                Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())),
                libc::MS_BIND | libc::MS_REC,
                "",
            )?;
        }
        Ok(rootfs)
    }
}

fn sys_mount(fstype: &str, source: &str, target: &Path, flags: libc::c_ulong, data: &str) -> Result<()> {
    let c = |s: &str| std::ffi::CString::new(s).map_err(|_| Error::Invalid(format!("NUL in mount argument {s:?}")));
    let (fstype, source, data) = (c(fstype)?, c(source)?, c(data)?);
    let t = c(&target.to_string_lossy())?;
    // SAFETY: all pointers are valid C strings for the call's duration.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            t.as_ptr(),
            if fstype.is_empty() { std::ptr::null() } else { fstype.as_ptr() },
            flags,
            if data.is_empty() { std::ptr::null() } else { data.as_ptr().cast() },
        )
    };
    if rc != 0 {
        return Err(Error::io(
            format!("mounting {} on {}", source.to_string_lossy(), target.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(d: &Path) {
        fs::create_dir_all(d.join("src/sub")).unwrap();
        fs::write(d.join("src/a.txt"), "a").unwrap();
        fs::write(d.join("src/sub/b.txt"), "b").unwrap();
        std::os::unix::fs::symlink("a.txt", d.join("src/link")).unwrap();
    }

    fn roundtrip(src: &str, dest: &Path) -> Result<()> {
        let mut buf = Vec::new();
        pack(&Source::parse(src), false, &mut buf)?;
        unpack(&buf[..], dest, false)
    }

    #[test]
    fn directories_follow_dockers_cp_rules() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let src = d.path().join("src");
        // Into an existing directory: dest/src/...
        fs::create_dir(d.path().join("existing")).unwrap();
        roundtrip(src.to_str().unwrap(), &d.path().join("existing")).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("existing/src/sub/b.txt")).unwrap(), "b");
        assert_eq!(fs::read_link(d.path().join("existing/src/link")).unwrap(), Path::new("a.txt"));
        // To a new name: the directory is copied as that name.
        roundtrip(src.to_str().unwrap(), &d.path().join("copy")).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("copy/a.txt")).unwrap(), "a");
        // SRC/. into an existing directory: its contents.
        fs::create_dir(d.path().join("flat")).unwrap();
        roundtrip(&format!("{}/.", src.display()), &d.path().join("flat")).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("flat/a.txt")).unwrap(), "a");
        // A directory onto a file is refused.
        let e = roundtrip(src.to_str().unwrap(), &d.path().join("copy/a.txt")).unwrap_err();
        assert!(e.to_string().contains("cannot copy a directory to a file"), "{e}");
    }

    #[test]
    fn files_land_as_named_or_into_directories() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let a = d.path().join("src/a.txt");
        roundtrip(a.to_str().unwrap(), &d.path().join("renamed.txt")).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("renamed.txt")).unwrap(), "a");
        roundtrip(a.to_str().unwrap(), &d.path().join("src/sub")).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("src/sub/a.txt")).unwrap(), "a");
        let e = roundtrip(a.to_str().unwrap(), &d.path().join("missing/x.txt")).unwrap_err();
        assert!(e.to_string().contains("must exist"), "{e}");
        let e = roundtrip(d.path().join("nope").to_str().unwrap(), d.path()).unwrap_err();
        assert!(e.to_string().contains("Could not find the file"), "{e}");
    }

    #[test]
    fn archives_cannot_climb_out() {
        let d = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // tar's own set_path refuses "..", so write the name bytes directly.
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let data = b.into_inner().unwrap();
        fs::create_dir(d.path().join("dest")).unwrap();
        let e = unpack(&data[..], &d.path().join("dest"), false).unwrap_err();
        assert!(e.to_string().contains("invalid path in archive"), "{e}");
        assert!(!d.path().join("escape").exists());
    }
}
