//! Where COPY and ADD read from: the build context (a host directory, minus
//! what `.dockerignore` excludes, never followed outside itself) or another
//! stage or image (a `View` of its layers). Both are walked the same way
//! for wildcards, for the content hash that keys the cache, and for copying.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use image::digest::Hasher;
use sys::root::Follow;

use crate::error::{Error, Result};
use crate::ignore::{glob, Ignore};
use crate::view::{self, View};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

#[derive(Clone, Debug)]
pub struct Meta {
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    pub uid: u32,
    pub gid: u32,
}

fn meta_of_stat(st: &libc::stat) -> Meta {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    };
    Meta {
        kind,
        mode: st.st_mode & 0o7777,
        size: st.st_size as u64,
        mtime: st.st_mtime,
        uid: st.st_uid,
        gid: st.st_gid,
    }
}

/// A tree COPY reads from. Paths are relative to its root, `/`-separated.
pub trait Source {
    /// The entry itself (a symlink is not followed).
    fn stat(&self, rel: &Path) -> Result<Option<Meta>>;
    /// Names in a directory, sorted, without excluded ones.
    fn list(&self, rel: &Path) -> Result<Vec<OsString>>;
    fn open(&self, rel: &Path) -> Result<fs::File>;
    fn readlink(&self, rel: &Path) -> Result<PathBuf>;
    /// Resolves a symlink named by `rel` inside the tree (for a source that
    /// is itself a link, which COPY follows); the resolved relative path.
    fn resolve(&self, rel: &Path) -> Result<Option<PathBuf>>;
}

/// The build context.
pub struct Context {
    root: PathBuf,
    fd: OwnedFd,
    pub ignore: Ignore,
}

impl Context {
    pub fn open(root: &Path, ignore: Ignore) -> Result<Context> {
        let fd = sys::root::open_root(root)
            .map_err(|e| Error::io(format!("opening the build context {}", root.display()), e))?;
        Ok(Context { root: root.to_path_buf(), fd, ignore })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn excluded(&self, rel: &Path) -> bool {
        self.ignore.excludes(&rel.to_string_lossy())
    }

    fn open_path(&self, rel: &Path) -> std::io::Result<OwnedFd> {
        sys::root::open(self.fd.as_raw_fd(), rel, libc::O_PATH | libc::O_NOFOLLOW, 0, Follow::NotLast)
    }
}

fn io_err<'a>(what: &'a str, rel: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(format!("{what} {}", rel.display()), e)
}

impl Source for Context {
    fn stat(&self, rel: &Path) -> Result<Option<Meta>> {
        // An excluded directory is still there when a `!` pattern may
        // bring back something below it (`dir` + `!dir/keep.txt`): as in
        // moby, the kept file comes with its parents.
        let excluded = !rel.as_os_str().is_empty() && self.excluded(rel);
        if excluded && !self.ignore.may_reinclude_below(&rel.to_string_lossy()) {
            return Ok(None);
        }
        match self.open_path(rel) {
            // fstat of an O_PATH|O_NOFOLLOW fd describes a symlink itself.
            Ok(fd) => {
                let meta = meta_of_stat(&view::stat_fd(&fd).map_err(io_err("examining", rel))?);
                Ok((!excluded || meta.kind == Kind::Dir).then_some(meta))
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
            Err(e) => Err(Error::io(format!("examining {}", rel.display()), e)),
        }
    }

    fn list(&self, rel: &Path) -> Result<Vec<OsString>> {
        let fd = sys::root::open(self.fd.as_raw_fd(), rel, libc::O_RDONLY | libc::O_DIRECTORY, 0, Follow::NotLast)
            .map_err(io_err("reading", rel))?;
        let mut names: Vec<OsString> = fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(io_err("reading", rel))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .filter(|n| !self.excluded(&rel.join(n)) || self.ignore.may_reinclude_below(&rel.join(n).to_string_lossy()))
            .collect();
        names.sort();
        Ok(names)
    }

    fn open(&self, rel: &Path) -> Result<fs::File> {
        let fd = sys::root::open(self.fd.as_raw_fd(), rel, libc::O_RDONLY, 0, Follow::NotLast)
            .map_err(io_err("opening", rel))?;
        Ok(fs::File::from(fd))
    }

    fn readlink(&self, rel: &Path) -> Result<PathBuf> {
        let fd = self.open_path(rel).map_err(io_err("reading link", rel))?;
        view::readlink(&fd).map_err(io_err("reading link", rel))
    }

    fn resolve(&self, rel: &Path) -> Result<Option<PathBuf>> {
        match sys::root::open(self.fd.as_raw_fd(), rel, libc::O_PATH, 0, Follow::InRoot) {
            Ok(fd) => {
                let real =
                    fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(io_err("resolving", rel))?;
                let base = fs::canonicalize(&self.root).map_err(io_err("resolving", rel))?;
                Ok(real.strip_prefix(&base).ok().map(Path::to_path_buf))
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
            Err(e) => Err(Error::io(format!("resolving {}", rel.display()), e)),
        }
    }
}

/// A stage's or an image's filesystem.
pub struct Layers {
    pub view: View,
}

impl Source for Layers {
    fn stat(&self, rel: &Path) -> Result<Option<Meta>> {
        let e = self.view.lookup(&Path::new("/").join(rel), false).map_err(io_err("examining", rel))?;
        Ok(e.map(|e| meta_of_stat(&e.stat)))
    }

    fn list(&self, rel: &Path) -> Result<Vec<OsString>> {
        self.view.list_dir(&Path::new("/").join(rel)).map_err(io_err("reading", rel))
    }

    fn open(&self, rel: &Path) -> Result<fs::File> {
        let e = self
            .view
            .lookup(&Path::new("/").join(rel), true)
            .map_err(io_err("opening", rel))?
            .ok_or_else(|| Error::Invalid(format!("{} disappeared", rel.display())))?;
        Ok(fs::File::from(view::reopen(&e.fd, libc::O_RDONLY).map_err(io_err("opening", rel))?))
    }

    fn readlink(&self, rel: &Path) -> Result<PathBuf> {
        let e = self
            .view
            .lookup(&Path::new("/").join(rel), false)
            .map_err(io_err("reading link", rel))?
            .ok_or_else(|| Error::Invalid(format!("{} disappeared", rel.display())))?;
        view::readlink(&e.fd).map_err(io_err("reading link", rel))
    }

    fn resolve(&self, rel: &Path) -> Result<Option<PathBuf>> {
        let e = self.view.lookup(&Path::new("/").join(rel), true).map_err(io_err("resolving", rel))?;
        Ok(e.map(|e| e.path.strip_prefix("/").map(Path::to_path_buf).unwrap_or(e.path)))
    }
}

/// A COPY source as written, cleaned: relative to the source's root, with
/// `..` that would climb out refused.
pub fn clean_source(src: &str, line: usize) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(src).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => out
                .pop()
                .then_some(())
                .ok_or_else(|| Error::at(line, format!("forbidden path outside the build context: {src}")))?,
            _ => {}
        }
    }
    Ok(out)
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The paths a COPY source names: itself, or what its wildcards match.
pub fn expand(src: &dyn Source, pattern: &Path) -> Result<Vec<PathBuf>> {
    let parts: Vec<String> = pattern.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if !parts.iter().any(|p| has_wildcard(p)) {
        return Ok(if src.stat(pattern)?.is_some() || pattern.as_os_str().is_empty() {
            vec![pattern.to_path_buf()]
        } else {
            vec![]
        });
    }
    let mut found = vec![PathBuf::new()];
    for part in &parts {
        let mut next = Vec::new();
        for base in &found {
            if has_wildcard(part) {
                if src.stat(base)?.map(|m| m.kind) != Some(Kind::Dir) && !base.as_os_str().is_empty() {
                    continue;
                }
                for name in src.list(base)? {
                    if glob(part, &name.to_string_lossy()) && src.stat(&base.join(&name))?.is_some() {
                        next.push(base.join(name));
                    }
                }
            } else {
                let p = base.join(part);
                if src.stat(&p)?.is_some() {
                    next.push(p);
                }
            }
        }
        found = next;
    }
    found.sort();
    Ok(found)
}

/// Feeds everything under `rel` (names, kinds, modes, owners, sizes, link
/// targets and file contents, in order) to `h`: the part of a COPY's cache
/// key that changes exactly when what it would copy changes.
pub fn hash_tree(src: &dyn Source, rel: &Path, h: &mut Hasher) -> Result<()> {
    let Some(m) = src.stat(rel)? else { return Ok(()) };
    h.update(rel.to_string_lossy().as_bytes());
    h.update(format!("\0{:?}\0{:o}\0{}\0{}\0{}\0", m.kind, m.mode, m.uid, m.gid, m.size).as_bytes());
    match m.kind {
        Kind::File => {
            let mut f = src.open(rel)?;
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = f.read(&mut buf).map_err(io_err("reading", rel))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
        Kind::Symlink => h.update(src.readlink(rel)?.to_string_lossy().as_bytes()),
        Kind::Dir => {
            for name in src.list(rel)? {
                hash_tree(src, &rel.join(name), h)?;
            }
        }
        Kind::Other => {}
    }
    h.update(b"\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ignore: &str) -> (tempfile::TempDir, Context) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("src/sub")).unwrap();
        fs::write(r.join("src/a.rs"), "a").unwrap();
        fs::write(r.join("src/b.rs"), "b").unwrap();
        fs::write(r.join("src/sub/c.txt"), "c").unwrap();
        fs::write(r.join("notes.md"), "n").unwrap();
        fs::write(r.join("secret.key"), "k").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("escape")).unwrap();
        let c = Context::open(r, Ignore::parse(ignore)).unwrap();
        (d, c)
    }

    #[test]
    fn wildcards_and_plain_names_expand_without_ignored_files() {
        let (_d, c) = ctx("*.key\n");
        assert_eq!(expand(&c, Path::new("src/*.rs")).unwrap(), [PathBuf::from("src/a.rs"), PathBuf::from("src/b.rs")]);
        assert_eq!(expand(&c, Path::new("*.md")).unwrap(), [PathBuf::from("notes.md")]);
        assert!(expand(&c, Path::new("secret.key")).unwrap().is_empty(), "ignored files are not there");
        assert!(expand(&c, Path::new("*.key")).unwrap().is_empty());
        assert!(expand(&c, Path::new("nope")).unwrap().is_empty());
        assert!(clean_source("../x", 3)
            .unwrap_err()
            .to_string()
            .contains("Dockerfile:3: forbidden path outside the build context"));
        assert_eq!(clean_source("./a/../b", 1).unwrap(), PathBuf::from("b"));
    }

    #[test]
    fn the_content_hash_changes_exactly_with_the_content() {
        let (d, c) = ctx("");
        let hash = |c: &Context| {
            let mut h = Hasher::new();
            hash_tree(c, Path::new("src"), &mut h).unwrap();
            h.finish()
        };
        let before = hash(&c);
        assert_eq!(before, hash(&c));
        fs::write(d.path().join("notes.md"), "changed elsewhere").unwrap();
        assert_eq!(before, hash(&c), "a file outside the source does not count");
        fs::write(d.path().join("src/sub/c.txt"), "C").unwrap();
        assert_ne!(before, hash(&c));
    }

    #[test]
    fn links_resolve_inside_the_context() {
        let (_d, c) = ctx("");
        assert_eq!(c.stat(Path::new("escape")).unwrap().unwrap().kind, Kind::Symlink);
        // /etc/passwd inside the context does not exist: no host file.
        assert_eq!(c.resolve(Path::new("escape")).unwrap(), None);
    }
}
