//! Image archives against real peers: images are made locally by `import`
//! (a busybox rootfs from Debian's static busybox, and a generated one of a
//! few MB), saved, loaded back, and exchanged with skopeo in both directions.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use image::archive::{self, Format, ImportConfig, Loaded};
use image::config::ImageConfig;
use image::manifest::{media, Compression, Descriptor, Manifest, Platform};
use image::{layer, Digest, ImageRecord, ImageStore, Reference};

// ---- fixtures ----

fn store() -> (tempfile::TempDir, ImageStore) {
    let d = tempfile::tempdir().unwrap();
    let s = ImageStore::open(d.path().join("root")).unwrap();
    (d, s)
}

fn r(s: &str) -> Reference {
    s.parse().unwrap()
}

/// Installs a Debian package if `bin` is missing, under a lock (tests run in
/// parallel processes). Fails, never skips, if it cannot.
fn ensure_tool(bin: &str, package: &str) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let have = |b: &str| {
        Path::new(b).is_file()
            || Command::new("sh").args(["-c", &format!("command -v {b}")]).output().is_ok_and(|o| o.status.success())
    };
    if have(bin) {
        return;
    }
    let lock = fs::File::create("/tmp/berth-image-tests-apt.lock").unwrap();
    // SAFETY: flock on our own fd; released when `lock` is closed.
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) }, 0);
    if !have(bin) {
        let install = |update: bool| {
            let cmd = if update {
                format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}")
            } else {
                format!("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}")
            };
            Command::new("sh").args(["-c", &cmd]).status().is_ok_and(|s| s.success())
        };
        let _ = install(false) || install(true);
    }
    assert!(have(bin), "{bin} is needed and `apt-get install {package}` did not provide it");
}

fn skopeo() -> Command {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| ensure_tool("skopeo", "skopeo"));
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy");
    c
}

fn run(mut c: Command) -> Vec<u8> {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out.stdout
}

fn skopeo_copy(src: &str, dst: &str) {
    let mut c = skopeo();
    c.args(["copy", "--quiet", src, dst]);
    run(c);
}

fn skopeo_inspect(what: &str, config: bool) -> Vec<u8> {
    let mut c = skopeo();
    c.args(["inspect", "--raw"]);
    if config {
        c.arg("--config");
    }
    c.arg(what);
    run(c)
}

fn header(path: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).unwrap();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    h
}

/// A busybox root filesystem as a tar: Debian's static busybox, applet
/// symlinks, a setuid file, hard links, a file owned by another user.
fn busybox_rootfs() -> Vec<u8> {
    ensure_tool("/bin/busybox", "busybox-static");
    let bb = fs::read("/bin/busybox").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for d in ["bin/", "etc/", "usr/", "usr/bin/"] {
        b.append(&header(d, tar::EntryType::Directory, 0, 0o755), io::empty()).unwrap();
    }
    b.append(&header("tmp/", tar::EntryType::Directory, 0, 0o1777), io::empty()).unwrap();
    b.append(&header("bin/busybox", tar::EntryType::Regular, bb.len() as u64, 0o755), &bb[..]).unwrap();
    for applet in ["sh", "ls", "echo", "cat"] {
        let mut h = header(&format!("bin/{applet}"), tar::EntryType::Symlink, 0, 0o777);
        h.set_link_name("busybox").unwrap();
        h.set_cksum();
        b.append(&h, io::empty()).unwrap();
    }
    let mut h = header("usr/bin/env", tar::EntryType::Symlink, 0, 0o777);
    h.set_link_name("../../bin/busybox").unwrap();
    h.set_cksum();
    b.append(&h, io::empty()).unwrap();
    let mut h = header("bin/busybox.hard", tar::EntryType::Link, 0, 0o755);
    h.set_link_name("bin/busybox").unwrap();
    h.set_cksum();
    b.append(&h, io::empty()).unwrap();
    let suid = b"#!/bin/sh\necho suid\n";
    b.append(&header("bin/suid-tool", tar::EntryType::Regular, suid.len() as u64, 0o4755), &suid[..]).unwrap();
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n";
    b.append(&header("etc/passwd", tar::EntryType::Regular, passwd.len() as u64, 0o644), &passwd[..]).unwrap();
    let mut h = header("etc/passwd-", tar::EntryType::Link, 0, 0o644);
    h.set_link_name("etc/passwd").unwrap();
    h.set_cksum();
    b.append(&h, io::empty()).unwrap();
    let mut h = header("etc/motd", tar::EntryType::Regular, 6, 0o640);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_cksum();
    b.append(&h, &b"hello\n"[..]).unwrap();
    b.into_inner().unwrap()
}

/// Pseudo-random bytes (xorshift), as a stream.
struct Random {
    state: u64,
    left: u64,
}

impl Read for Random {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left as usize) / 8 * 8;
        let n = if n == 0 { buf.len().min(self.left as usize) } else { n };
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The size of file `i` of `random_rootfs(_, _, seed)`: 256 KiB to 2.25 MiB.
fn random_file_size(seed: u64, i: u64) -> u64 {
    ((seed + i) * 7919) % (2 << 20) + (256 << 10)
}

/// Writes a rootfs tar of about `total` bytes of random files to `path`,
/// streaming (nothing of it is held in memory). Returns its sha256.
fn random_rootfs(path: &Path, total: u64, seed: u64) -> Digest {
    let file = fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(io::BufWriter::new(file));
    b.append(&header("data/", tar::EntryType::Directory, 0, 0o755), io::empty()).unwrap();
    let mut written = 0;
    let mut i = 0;
    while written < total {
        let size = random_file_size(seed, i).min(total - written);
        let h = header(&format!("data/file{i:03}"), tar::EntryType::Regular, size, 0o644);
        b.append(&h, Random { state: seed * 1_000_003 + i + 1, left: size }).unwrap();
        written += size;
        i += 1;
    }
    b.into_inner().unwrap().flush().unwrap();
    let mut hashing = image::digest::HashingReader::new(fs::File::open(path).unwrap());
    io::copy(&mut hashing, &mut io::sink()).unwrap();
    hashing.finish().0
}

fn import_busybox(store: &ImageStore, tag: &str, cmd: &str) -> ImageRecord {
    let tar = busybox_rootfs();
    let cfg = ImportConfig { cmd: Some(vec!["/bin/sh".into(), "-c".into(), cmd.into()]), ..Default::default() };
    archive::import(store, &mut &tar[..], Some(&r(tag)), cfg).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn sha_of(mut r: impl Read) -> Digest {
    let mut hashing = image::digest::HashingReader::new(&mut r);
    io::copy(&mut hashing, &mut io::sink()).unwrap();
    hashing.finish().0
}

/// A tar with one small file per (name, contents).
fn small_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        b.append(&header(name, tar::EntryType::Regular, data.len() as u64, 0o644), *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// An image put together by hand (as a pull would leave it): several layers,
/// each compressed as given, under a docker or an OCI manifest.
fn manual_image(store: &ImageStore, layers: &[(Vec<u8>, Compression)], docker_types: bool, tag: &str) -> ImageRecord {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (tar, c) in layers {
        let (blob, mt) = match (c, docker_types) {
            (Compression::None, false) => (tar.clone(), media::OCI_LAYER),
            (Compression::Gzip, false) => (gzip(tar), media::OCI_LAYER_GZIP),
            (Compression::Gzip, true) => (gzip(tar), media::DOCKER_LAYER_GZIP),
            (Compression::Zstd, false) => (
                ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest),
                media::OCI_LAYER_ZSTD,
            ),
            (c, true) => panic!("no docker media type for {c:?}"),
        };
        let d = store.content().put(&blob).unwrap();
        descs.push(Descriptor::new(mt, d, blob.len() as u64));
        diff_ids.push(Digest::of(tar));
    }
    let host = Platform::host();
    let config = serde_json::json!({
        "architecture": host.architecture, "os": host.os, "variant": host.variant, "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["/bin/true"], "Labels": {"made-by": tag}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "by hand"}]
    });
    let config = serde_json::to_vec(&config).unwrap();
    let id = store.content().put(&config).unwrap();
    let (mt, cmt) = if docker_types {
        (media::DOCKER_MANIFEST, media::DOCKER_CONFIG)
    } else {
        (media::OCI_MANIFEST, media::OCI_CONFIG)
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(mt.into()),
        config: Descriptor::new(cmt, id.clone(), config.len() as u64),
        layers: descs.clone(),
        annotations: BTreeMap::new(),
    };
    let mbytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let md = store.content().put(&mbytes).unwrap();
    let layers = ImageStore::layer_records(&descs, &diff_ids).unwrap();
    layer::ensure_unpacked(store, &layers).unwrap();
    let size = layers.iter().map(|l| store.layer_meta(&l.chain_id).unwrap().size).sum();
    let rec = ImageRecord {
        id,
        manifest: Descriptor::new(mt, md, mbytes.len() as u64),
        index: None,
        repo_digests: vec![],
        layers,
        platform: host,
        created: "2024-01-02T03:04:05Z".into(),
        size,
    };
    store.put_image(rec.clone(), &[r(tag)]).unwrap();
    rec
}

fn save_to(store: &ImageStore, names: &[&str], format: Format, path: &Path) {
    let mut f = fs::File::create(path).unwrap();
    archive::save(store, names, format, &mut f).unwrap();
    f.sync_all().unwrap();
}

fn save_bytes(store: &ImageStore, names: &[&str], format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    archive::save(store, names, format, &mut out).unwrap();
    out
}

fn load_file(store: &ImageStore, path: &Path) -> archive::Loaded {
    let mut loaded = archive::load(store, &mut fs::File::open(path).unwrap()).unwrap();
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    loaded.remove(0)
}

/// Regular files of a tar: path → contents (small archives only).
fn entries(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(tar).entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() == tar::EntryType::Regular {
            let p = e.path().unwrap().to_string_lossy().into_owned();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            assert!(out.insert(p.clone(), v).is_none(), "{p} appears twice");
        }
    }
    out
}

/// The same archive with its regular files changed by `f` (None drops one).
fn rewrite(tar: &[u8], f: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in tar::Archive::new(tar).entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        let v = if h.entry_type() == tar::EntryType::Regular {
            match f(&p, v) {
                Some(v) => v,
                None => continue,
            }
        } else {
            v
        };
        h.set_size(v.len() as u64);
        h.set_cksum();
        b.append(&h, &v[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn assert_busybox_files(store: &ImageStore, rec: &ImageRecord) {
    let diff = store.layer_diff(&rec.layers.last().unwrap().chain_id);
    let out = Command::new(diff.join("bin/busybox")).args(["echo", "hi from the layer"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi from the layer\n");
    assert_eq!(fs::read_link(diff.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert_eq!(fs::read_link(diff.join("usr/bin/env")).unwrap(), Path::new("../../bin/busybox"));
    let suid = fs::metadata(diff.join("bin/suid-tool")).unwrap();
    assert_eq!(suid.permissions().mode() & 0o7777, 0o4755, "setuid kept");
    let bb = fs::metadata(diff.join("bin/busybox")).unwrap();
    assert_eq!(fs::metadata(diff.join("bin/busybox.hard")).unwrap().ino(), bb.ino(), "hard link");
    assert_eq!(
        fs::metadata(diff.join("etc/passwd-")).unwrap().ino(),
        fs::metadata(diff.join("etc/passwd")).unwrap().ino()
    );
    let motd = fs::metadata(diff.join("etc/motd")).unwrap();
    assert_eq!((motd.uid(), motd.gid(), motd.mode() & 0o777), (1000, 1000, 0o640));
    assert_eq!(fs::metadata(diff.join("tmp")).unwrap().mode() & 0o7777, 0o1777);
}

fn config_of(store: &ImageStore, id: &Digest) -> ImageConfig {
    ImageConfig::parse(&store.content().read(id).unwrap(), id).unwrap()
}

fn ingest_is_empty(store: &ImageStore) -> bool {
    fs::read_dir(store.content().root().join("ingest")).unwrap().next().is_none()
}

fn no_staging_left(store: &ImageStore) -> bool {
    fs::read_dir(store.root().join("layers"))
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))
}

fn tags(loaded: &Loaded) -> Vec<String> {
    let mut t: Vec<String> = loaded.tags.iter().map(|t| t.to_string()).collect();
    t.sort();
    t
}

// ---- import ----

#[test]
fn import_makes_a_one_layer_image_of_a_rootfs() {
    let (_d, s) = store();
    let tar = busybox_rootfs();
    let cfg = ImportConfig {
        cmd: Some(vec!["sh".into()]),
        entrypoint: Some(vec!["/bin/busybox".into()]),
        env: vec!["PATH=/bin:/usr/bin".into(), "A=b".into()],
        workdir: Some("/tmp".into()),
        message: Some("made by the test".into()),
        ..Default::default()
    };
    let rec = archive::import(&s, &mut &tar[..], Some(&r("busybox:imported")), cfg).unwrap();
    assert_eq!(s.resolve("busybox:imported").unwrap(), rec);
    assert_eq!(rec.layers.len(), 1);
    let l = &rec.layers[0];
    assert_eq!(l.diff_id, Digest::of(&tar), "the diff id is the sha256 of the tar as given");
    assert_eq!(l.chain_id, l.diff_id);
    assert_eq!(l.blob.media_type, media::OCI_LAYER_GZIP);
    assert_eq!(s.content().size(&l.blob.digest), Some(l.blob.size));
    let stored = s.content().read(&l.blob.digest).unwrap();
    assert_eq!(&stored[..2], &[0x1f, 0x8b], "stored gzip-compressed");
    assert_eq!(sha_of(flate2::read::GzDecoder::new(&stored[..])), l.diff_id, "the blob decompresses to the tar");
    assert_eq!(rec.size, tar.len() as u64);
    assert_eq!(rec.platform, Platform::host());

    let c = config_of(&s, &rec.id);
    assert_eq!(Digest::of(&s.content().read(&rec.id).unwrap()), rec.id, "the id is the config digest");
    assert_eq!((c.architecture.as_str(), c.os.as_str()), (Platform::host().architecture.as_str(), "linux"));
    assert_eq!(c.config.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(c.config.entrypoint, Some(vec!["/bin/busybox".to_string()]));
    assert_eq!(c.config.env, Some(vec!["PATH=/bin:/usr/bin".to_string(), "A=b".to_string()]));
    assert_eq!(c.config.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(c.rootfs.diff_ids, vec![l.diff_id.clone()]);
    assert_eq!(c.history.len(), 1);
    assert_eq!(c.history[0].comment.as_deref(), Some("made by the test"));
    let created = c.created.clone().unwrap();
    assert_eq!(created, rec.created);
    let b = created.as_bytes();
    assert!(
        b[4] == b'-' && b[10] == b'T' && b[13] == b':' && created.ends_with('Z') && !created.ends_with("0Z"),
        "{created}"
    );
    assert!(created.as_str() > "2024-01-01", "{created}");

    let m: Manifest = serde_json::from_slice(&s.content().read(&rec.manifest.digest).unwrap()).unwrap();
    assert_eq!(m.config.digest, rec.id);
    assert_eq!(m.config.media_type, media::OCI_CONFIG);
    assert_eq!(m.layers, vec![l.blob.clone()]);
    assert_eq!(rec.manifest.media_type, media::OCI_MANIFEST);
    assert_busybox_files(&s, &rec);

    // gzip and zstd input: the same layer (diff id of the plain tar).
    let gz = archive::import(&s, &mut &gzip(&tar)[..], None, ImportConfig::default()).unwrap();
    assert_eq!(gz.layers[0].diff_id, l.diff_id);
    let zst = ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest);
    let zs = archive::import(&s, &mut &zst[..], None, ImportConfig::default()).unwrap();
    assert_eq!(zs.layers[0].diff_id, l.diff_id);
    assert!(s.tags_of(&zs.id).unwrap().is_empty(), "imported without a tag");
    assert!(ingest_is_empty(&s) && no_staging_left(&s));
}

#[test]
fn import_of_something_that_is_not_a_tar_stores_nothing() {
    let (_d, s) = store();
    let mut junk: Vec<u8> = Vec::new();
    Random { state: 42, left: 100_000 }.read_to_end(&mut junk).unwrap();
    let e = archive::import(&s, &mut &junk[..], Some(&r("junk:1")), ImportConfig::default()).unwrap_err();
    assert!(e.to_string().contains("layer import"), "{e}");
    // A tar cut short.
    let tar = busybox_rootfs();
    let e = archive::import(&s, &mut &tar[..tar.len() / 2], Some(&r("junk:1")), ImportConfig::default()).unwrap_err();
    assert!(e.to_string().contains("corrupt or truncated"), "{e}");
    assert!(s.images().unwrap().is_empty());
    assert!(s.content().list().unwrap().is_empty(), "no blob published");
    assert!(s.layers().is_empty() && no_staging_left(&s) && ingest_is_empty(&s));
    let e =
        archive::import(&s, &mut &tar[..], Some(&r(&format!("junk@{}", Digest::of(b"x")))), ImportConfig::default());
    assert!(e.unwrap_err().to_string().contains("not a tag"));
}

// ---- docker-archive ----

/// Two images sharing their layer (same rootfs, different configs).
fn two_busyboxes(s: &ImageStore) -> (ImageRecord, ImageRecord) {
    let a = import_busybox(s, "busybox:latest", "echo a");
    s.tag("busybox:latest", &r("127.0.0.1:5000/app:v1")).unwrap();
    let b = import_busybox(s, "busybox:other", "echo b");
    assert_ne!(a.id, b.id);
    assert_eq!(a.layers[0].diff_id, b.layers[0].diff_id);
    (a, b)
}

#[test]
fn docker_archive_is_what_docker_writes_and_skopeo_reads() {
    let (d, s) = store();
    let (a, b) = two_busyboxes(&s);
    let path = d.path().join("ours.tar");
    save_to(&s, &["busybox:latest", "127.0.0.1:5000/app:v1", "busybox:other"], Format::Docker, &path);

    let files = entries(&fs::read(&path).unwrap());
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let diff = a.layers[0].diff_id.hex().to_string();
    let layer_path = format!("{diff}/layer.tar");
    assert_eq!(
        manifest,
        serde_json::json!([
            {"Config": format!("{}.json", a.id.hex()), "RepoTags": ["busybox:latest", "127.0.0.1:5000/app:v1"], "Layers": [layer_path]},
            {"Config": format!("{}.json", b.id.hex()), "RepoTags": ["busybox:other"], "Layers": [layer_path]},
        ])
    );
    assert_eq!(Digest::of(&files[&layer_path]), a.layers[0].diff_id, "the layer is the uncompressed tar");
    assert_eq!(files[&format!("{}.json", a.id.hex())], s.content().read(&a.id).unwrap(), "the config as stored");
    let repositories: serde_json::Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(
        repositories,
        serde_json::json!({"busybox": {"latest": diff, "other": diff}, "127.0.0.1:5000/app": {"v1": diff}})
    );
    assert_eq!(files.len(), 5, "{:?}", files.keys().collect::<Vec<_>>());

    // skopeo reads each image of it.
    for (rec, name) in [(&a, "busybox:latest"), (&b, "busybox:other")] {
        let dir = d.path().join(format!("oci-{}", rec.id.short()));
        skopeo_copy(&format!("docker-archive:{}:{name}", path.display()), &format!("oci:{}:t", dir.display()));
        let m: Manifest = serde_json::from_slice(&skopeo_inspect(&format!("oci:{}:t", dir.display()), false)).unwrap();
        assert_eq!(m.config.digest, rec.id, "skopeo sees our image id");
        let c: ImageConfig =
            serde_json::from_slice(&skopeo_inspect(&format!("oci:{}:t", dir.display()), true)).unwrap();
        assert_eq!(c.rootfs.diff_ids, vec![rec.layers[0].diff_id.clone()]);
        assert_eq!(c.config.cmd.as_ref().unwrap()[2], if rec.id == a.id { "echo a" } else { "echo b" });
    }
}

#[test]
fn docker_archives_written_by_skopeo_load() {
    let (d, s) = store();
    let a = import_busybox(&s, "busybox:latest", "echo a");
    let ours = d.path().join("ours.tar");
    save_to(&s, &["busybox:latest"], Format::Oci, &ours);
    let dir = d.path().join("oci");
    skopeo_copy(&format!("oci-archive:{}", ours.display()), &format!("oci:{}:latest", dir.display()));
    let theirs = d.path().join("their.tar");
    skopeo_copy(
        &format!("oci:{}:latest", dir.display()),
        &format!("docker-archive:{}:berth.test/theirs:v2", theirs.display()),
    );

    let (_d2, fresh) = store();
    let loaded = load_file(&fresh, &theirs);
    assert_eq!(loaded.id, a.id, "the same image id after skopeo's docker-archive");
    assert_eq!(tags(&loaded), vec!["berth.test/theirs:v2"]);
    let rec = fresh.resolve("berth.test/theirs:v2").unwrap();
    assert_eq!(rec.id, a.id);
    assert_eq!(rec.layers[0].diff_id, a.layers[0].diff_id);
    assert_eq!(rec.layers[0].blob.media_type, media::OCI_LAYER, "stored as the uncompressed tar");
    assert_eq!(rec.layers[0].blob.digest, a.layers[0].diff_id);
    assert_eq!(rec.size, a.size);
    let m: Manifest = serde_json::from_slice(&fresh.content().read(&rec.manifest.digest).unwrap()).unwrap();
    assert_eq!(m.config, Descriptor::new(media::OCI_CONFIG, a.id.clone(), fresh.content().size(&a.id).unwrap()));
    assert_busybox_files(&fresh, &rec);
    assert!(ingest_is_empty(&fresh));
}

#[test]
fn docker_save_streams_layers_that_are_not_unpacked_and_notices_damage() {
    let (_d, s) = store();
    let top = small_tar(&[("bin/tool", b"v2"), ("var/data", &[7u8; 300_000])]);
    let rec = manual_image(
        &s,
        &[(small_tar(&[("a", b"1")]), Compression::Gzip), (top.clone(), Compression::Zstd)],
        false,
        "multi:1",
    );
    let before = save_bytes(&s, &["multi:1"], Format::Docker);
    // Without the unpacked layers, the sizes come from decompressing once more.
    for l in &rec.layers {
        fs::remove_dir_all(s.layer_dir(&l.chain_id)).unwrap();
    }
    assert_eq!(save_bytes(&s, &["multi:1"], Format::Docker), before);
    assert_eq!(entries(&before)[&format!("{}/layer.tar", rec.layers[1].diff_id.hex())], top);
    // A blob damaged in the store is not written out as if it were the layer.
    let blob = s.content().path(&rec.layers[1].blob.digest);
    let other =
        ruzstd::encoding::compress_to_vec(&small_tar(&[("x", b"y")])[..], ruzstd::encoding::CompressionLevel::Fastest);
    fs::write(&blob, other).unwrap();
    for format in [Format::Docker, Format::Oci] {
        let e = archive::save(&s, &["multi:1"], format, &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains(&rec.layers[1].blob.digest.to_string()), "{format:?}: {e}");
    }
    let e = archive::save(&s, &["nope:1"], Format::Docker, &mut Vec::new()).unwrap_err();
    assert_eq!(e.to_string(), "No such image: nope:1");
    assert!(archive::save(&s, &[], Format::Docker, &mut Vec::new()).is_err());
}

// ---- OCI layout ----

#[test]
fn oci_archive_keeps_blobs_as_stored_and_skopeo_reads_it() {
    let (d, s) = store();
    let (a, b) = two_busyboxes(&s);
    let path = d.path().join("ours.tar");
    save_to(&s, &["busybox:latest", "127.0.0.1:5000/app:v1", "busybox:other"], Format::Oci, &path);

    let files = entries(&fs::read(&path).unwrap());
    let layout: serde_json::Value = serde_json::from_slice(&files["oci-layout"]).unwrap();
    assert_eq!(layout, serde_json::json!({"imageLayoutVersion": "1.0.0"}));
    let index: image::manifest::Index = serde_json::from_slice(&files["index.json"]).unwrap();
    let names: Vec<(String, String, Digest)> = index
        .manifests
        .iter()
        .map(|m| {
            (
                m.annotations["io.containerd.image.name"].clone(),
                m.annotations["org.opencontainers.image.ref.name"].clone(),
                m.digest.clone(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("docker.io/library/busybox:latest".into(), "latest".into(), a.manifest.digest.clone()),
            ("127.0.0.1:5000/app:v1".into(), "v1".into(), a.manifest.digest.clone()),
            ("docker.io/library/busybox:other".into(), "other".into(), b.manifest.digest.clone()),
        ]
    );
    // Every blob byte for byte as stored, the shared layer once.
    let mut want: Vec<Digest> = vec![
        a.manifest.digest.clone(),
        a.id.clone(),
        b.manifest.digest.clone(),
        b.id.clone(),
        a.layers[0].blob.digest.clone(),
    ];
    want.sort();
    let mut got: Vec<Digest> = files
        .keys()
        .filter_map(|k| k.strip_prefix("blobs/sha256/"))
        .map(|h| format!("sha256:{h}").parse().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, want);
    for d in &want {
        assert_eq!(files[&format!("blobs/sha256/{}", d.hex())], s.content().read(d).unwrap());
    }

    let dir = d.path().join("oci2");
    skopeo_copy(&format!("oci-archive:{}:other", path.display()), &format!("oci:{}:x", dir.display()));
    let raw = skopeo_inspect(&format!("oci:{}:x", dir.display()), false);
    assert_eq!(Digest::of(&raw), b.manifest.digest, "skopeo copied our manifest unchanged");
    let c: ImageConfig = serde_json::from_slice(&skopeo_inspect(&format!("oci:{}:x", dir.display()), true)).unwrap();
    assert_eq!(c.rootfs.diff_ids, vec![b.layers[0].diff_id.clone()]);
}

#[test]
fn oci_archives_written_by_skopeo_load() {
    let (d, s) = store();
    let a = import_busybox(&s, "busybox:latest", "echo a");
    let ours = d.path().join("ours.tar");
    save_to(&s, &["busybox:latest"], Format::Docker, &ours);
    let dir = d.path().join("oci");
    skopeo_copy(&format!("docker-archive:{}", ours.display()), &format!("oci:{}:tag", dir.display()));
    let m: Manifest = serde_json::from_slice(&skopeo_inspect(&format!("oci:{}:tag", dir.display()), false)).unwrap();

    // A bare ref name (what skopeo writes) names no repository: untagged.
    let theirs = d.path().join("their2.tar");
    skopeo_copy(&format!("oci:{}:tag", dir.display()), &format!("oci-archive:{}:tag", theirs.display()));
    let (_d2, fresh) = store();
    let loaded = load_file(&fresh, &theirs);
    assert_eq!(loaded.id, a.id);
    assert!(loaded.tags.is_empty(), "{loaded:?}");
    let rec = fresh.resolve(&a.id.to_string()).unwrap();
    assert_eq!(rec.manifest.digest, Digest::of(&skopeo_inspect(&format!("oci:{}:tag", dir.display()), false)));
    assert_eq!(
        rec.layers.iter().map(|l| l.blob.clone()).collect::<Vec<_>>(),
        m.layers,
        "the layer blobs as skopeo wrote them"
    );
    assert_busybox_files(&fresh, &rec);

    // A full name as the ref name tags the image.
    let named = d.path().join("their3.tar");
    skopeo_copy(
        &format!("oci:{}:tag", dir.display()),
        &format!("oci-archive:{}:localhost:5000/team/app:v3", named.display()),
    );
    let loaded = load_file(&fresh, &named);
    assert_eq!((loaded.id.clone(), tags(&loaded)), (a.id.clone(), vec!["localhost:5000/team/app:v3".to_string()]));
    assert_eq!(fresh.resolve("localhost:5000/team/app:v3").unwrap().id, a.id);
}

// ---- round trips ----

#[test]
fn load_of_save_gives_back_the_images_in_both_formats() {
    let (_d, s) = store();
    let (a, b) = two_busyboxes(&s);
    let untagged = archive::import(&s, &mut &small_tar(&[("only", b"me")])[..], None, ImportConfig::default()).unwrap();
    let base = small_tar(&[("etc/os-release", b"ID=test\n"), ("bin/tool", b"v1")]);
    let top = small_tar(&[("bin/tool", b"v2"), ("var/data", &[7u8; 5000])]);
    let docker_typed =
        manual_image(&s, &[(base.clone(), Compression::Gzip), (top.clone(), Compression::Gzip)], true, "multi:docker");
    let oci_typed =
        manual_image(&s, &[(base.clone(), Compression::Zstd), (top.clone(), Compression::None)], false, "multi:oci");
    let all = [&a, &b, &untagged, &docker_typed, &oci_typed];
    let untagged_id = untagged.id.to_string();
    let names =
        ["busybox:latest", "127.0.0.1:5000/app:v1", "busybox:other", untagged_id.as_str(), "multi:docker", "multi:oci"];
    let want_tags: BTreeMap<Digest, Vec<String>> = [
        (a.id.clone(), vec!["127.0.0.1:5000/app:v1".to_string(), "busybox:latest".to_string()]),
        (b.id.clone(), vec!["busybox:other".to_string()]),
        (untagged.id.clone(), vec![]),
        (docker_typed.id.clone(), vec!["multi:docker".to_string()]),
        (oci_typed.id.clone(), vec!["multi:oci".to_string()]),
    ]
    .into();

    for format in [Format::Docker, Format::Oci] {
        let bytes = save_bytes(&s, &names, format);
        assert_eq!(bytes, save_bytes(&s, &names, format), "{format:?}: the same images make the same archive");
        for compressed in [false, true] {
            let input = if compressed { gzip(&bytes) } else { bytes.clone() };
            let (_d2, fresh) = store();
            let loaded = archive::load(&fresh, &mut &input[..]).unwrap();
            let got: BTreeMap<Digest, Vec<String>> = loaded.iter().map(|l| (l.id.clone(), tags(l))).collect();
            assert_eq!(got, want_tags, "{format:?}");
            for orig in all {
                let rec = fresh.resolve(&orig.id.to_string()).unwrap();
                let mut want_fresh = want_tags[&orig.id].clone();
                want_fresh.sort();
                let mut have: Vec<String> = fresh.tags_of(&orig.id).unwrap().iter().map(|t| t.to_string()).collect();
                have.sort();
                assert_eq!(have, want_fresh);
                assert_eq!(
                    rec.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>(),
                    orig.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()
                );
                assert_eq!(rec.chain_ids(), orig.chain_ids());
                assert_eq!(
                    (rec.size, &rec.platform, &rec.created),
                    (orig.size, &orig.platform, &orig.created),
                    "{format:?}"
                );
                for l in &rec.layers {
                    assert!(fresh.has_layer(&l.chain_id) && fresh.content().exists(&l.blob.digest));
                }
                match format {
                    // The OCI layout keeps manifests (docker-typed ones too) and blobs.
                    Format::Oci => assert_eq!((&rec.manifest, &rec.layers), (&orig.manifest, &orig.layers)),
                    Format::Docker => {
                        assert_eq!(rec.manifest.media_type, media::OCI_MANIFEST);
                        assert!(rec
                            .layers
                            .iter()
                            .all(|l| l.blob.media_type == media::OCI_LAYER && l.blob.digest == l.diff_id));
                    }
                }
            }
            let multi = fresh.resolve("multi:oci").unwrap();
            let top_dir = fresh.layer_diff(&multi.layers[1].chain_id);
            assert_eq!(fs::read(top_dir.join("bin/tool")).unwrap(), b"v2");
            assert_eq!(
                fs::read(fresh.layer_diff(&multi.layers[0].chain_id).join("etc/os-release")).unwrap(),
                b"ID=test\n"
            );
            assert_busybox_files(&fresh, &fresh.resolve("busybox:other").unwrap());
            assert!(ingest_is_empty(&fresh) && no_staging_left(&fresh));
            // Loading again, and into the store it came from, changes nothing.
            assert_eq!(archive::load(&fresh, &mut &input[..]).unwrap(), loaded);
            assert_eq!(archive::load(&s, &mut &input[..]).unwrap(), loaded);
        }
    }
    assert_eq!(s.images().unwrap().len(), 5);
}

// ---- streaming ----

const STREAM_CHILD: &str = "BERTH_ARCHIVE_STREAM_CHILD";

fn vm_hwm_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Import, save in both formats and load back an image of `STREAM_MB` of
/// random files, in a process of its own whose peak memory is measured: a
/// layer held in memory anywhere would show.
#[test]
fn large_images_stream_through_import_save_and_load() {
    const STREAM_MB: u64 = 32;
    let d = tempfile::tempdir().unwrap();
    let rootfs = d.path().join("rootfs.tar");
    let diff_id = random_rootfs(&rootfs, STREAM_MB << 20, 7);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stream_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(STREAM_CHILD, &rootfs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("STREAM ").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("no report:\n{stdout}"));
    let v: BTreeMap<&str, &str> = line.split(' ').filter_map(|kv| kv.split_once('=')).collect();
    assert_eq!(v["diff_id"], diff_id.to_string());
    let (start, peak): (u64, u64) = (v["start_kib"].parse().unwrap(), v["peak_kib"].parse().unwrap());
    let grew_mib = peak.saturating_sub(start) / 1024;
    assert!(
        grew_mib < STREAM_MB / 2,
        "peak memory grew by {grew_mib} MiB for a {STREAM_MB} MiB image: something holds a layer"
    );
}

#[test]
#[ignore = "run in a child process by large_images_stream_through_import_save_and_load"]
fn stream_child() {
    let Some(rootfs) = std::env::var_os(STREAM_CHILD).map(PathBuf::from) else { return };
    let start = vm_hwm_kib();
    let dir = rootfs.parent().unwrap().to_path_buf();
    let s = ImageStore::open(dir.join("store")).unwrap();
    let rec =
        archive::import(&s, &mut fs::File::open(&rootfs).unwrap(), Some(&r("big:1")), ImportConfig::default()).unwrap();
    assert!(rec.layers[0].blob.size > 30 << 20, "random data does not compress");
    for (i, format) in [Format::Docker, Format::Oci].into_iter().enumerate() {
        let path = dir.join(format!("big-{i}.tar"));
        save_to(&s, &["big:1"], format, &path);
        let fresh = ImageStore::open(dir.join(format!("fresh-{i}"))).unwrap();
        let loaded = load_file(&fresh, &path);
        assert_eq!((loaded.id.clone(), tags(&loaded)), (rec.id.clone(), vec!["big:1".to_string()]));
        let diff = fresh.layer_diff(&rec.layers[0].chain_id);
        assert_eq!(fs::metadata(diff.join("data/file000")).unwrap().len(), random_file_size(7, 0));
    }
    println!("STREAM diff_id={} start_kib={start} peak_kib={}", rec.layers[0].diff_id, vm_hwm_kib());
}

// ---- bad input ----

#[test]
fn a_tampered_blob_fails_the_load_and_publishes_nothing() {
    let (d, s) = store();
    let small = import_busybox(&s, "busybox:latest", "echo a");
    // A layer too large to be held in memory while loading, as well.
    let rootfs = d.path().join("rootfs.tar");
    random_rootfs(&rootfs, 3 << 20, 3);
    let big =
        archive::import(&s, &mut fs::File::open(&rootfs).unwrap(), Some(&r("big:1")), ImportConfig::default()).unwrap();
    let archive_bytes = save_bytes(&s, &["busybox:latest", "big:1"], Format::Oci);
    for victim in [&small.layers[0].blob.digest, &big.layers[0].blob.digest] {
        let name = format!("blobs/sha256/{}", victim.hex());
        let tampered = rewrite(&archive_bytes, |p, mut v| {
            if p == name {
                let mid = v.len() / 2;
                v[mid] ^= 1;
            }
            Some(v)
        });
        let (_d2, fresh) = store();
        let e = archive::load(&fresh, &mut &tampered[..]).unwrap_err().to_string();
        assert!(e.contains(&name) && e.contains("digest mismatch"), "{e}");
        assert!(fresh.images().unwrap().is_empty(), "no image recorded");
        assert!(!fresh.content().exists(victim), "nothing under the claimed digest");
        assert!(fresh.content().list().unwrap().is_empty(), "nothing published at all");
        assert!(fresh.layers().is_empty() && ingest_is_empty(&fresh) && no_staging_left(&fresh));
    }
}

#[test]
fn things_that_are_not_image_archives_are_refused() {
    let (_d, s) = store();
    let mut random = Vec::new();
    Random { state: 99, left: 10_000 }.read_to_end(&mut random).unwrap();
    let plain_tar = small_tar(&[("hello.txt", b"hello"), ("etc/passwd", b"root:x:0:0::/:/bin/sh\n")]);
    for (what, input) in [
        ("random bytes", random),
        ("a tar of other files", plain_tar.clone()),
        ("nothing", vec![]),
        ("gzip of a plain tar", gzip(&plain_tar)),
    ] {
        let e = archive::load(&s, &mut &input[..]).unwrap_err().to_string();
        assert!(e.starts_with("not an image archive"), "{what}: {e}");
    }
    let e = archive::load(&s, &mut &plain_tar[..]).unwrap_err().to_string();
    assert!(e.contains("neither manifest.json") && e.contains("nor index.json"), "{e}");
    assert!(s.images().unwrap().is_empty() && s.content().list().unwrap().is_empty() && ingest_is_empty(&s));
}

#[test]
fn a_damaged_docker_archive_is_refused_naming_the_file() {
    let (_d, s) = store();
    let a = import_busybox(&s, "busybox:latest", "echo a");
    let other =
        archive::import(&s, &mut &small_tar(&[("x", b"y")])[..], Some(&r("other:1")), ImportConfig::default()).unwrap();
    let good = save_bytes(&s, &["busybox:latest"], Format::Docker);
    let layer = format!("{}/layer.tar", a.layers[0].diff_id.hex());
    let config = format!("{}.json", a.id.hex());
    let check = |archive: Vec<u8>, want: &[&str]| {
        let (_d2, fresh) = store();
        let e = archive::load(&fresh, &mut &archive[..]).unwrap_err().to_string();
        for w in want {
            assert!(e.contains(w), "{e:?} does not mention {w:?}");
        }
        assert!(fresh.images().unwrap().is_empty(), "no image recorded");
        assert!(fresh.layers().is_empty() && ingest_is_empty(&fresh));
    };
    // manifest.json names a layer that is not there.
    check(rewrite(&good, |p, v| (p != layer).then_some(v)), &["manifest.json", &layer, "not in the archive"]);
    // ... or a config that is not there.
    check(rewrite(&good, |p, v| (p != config).then_some(v)), &["manifest.json", &config, "not in the archive"]);
    // A layer whose content is not the config's diff id.
    let other_layer = small_tar(&[("x", b"y")]);
    assert_eq!(Digest::of(&other_layer), other.layers[0].diff_id);
    check(
        rewrite(&good, |p, v| Some(if p == layer { other_layer.clone() } else { v })),
        &[&layer, "diff id 0", &config],
    );
    // A config edited after the fact (no longer its name's digest).
    check(
        rewrite(&good, |p, v| {
            Some(if p == config { String::from_utf8(v).unwrap().replace("echo a", "echo b").into_bytes() } else { v })
        }),
        &[&config, "digest mismatch"],
    );
    // A config that lists more diff ids than manifest.json lists layers.
    let manifest = format!(r#"[{{"Config":"{config}","RepoTags":["x:1"],"Layers":[]}}]"#);
    check(
        rewrite(&good, |p, v| Some(if p == "manifest.json" { manifest.clone().into_bytes() } else { v })),
        &[&config, "1 diff ids", "0 layers"],
    );
    // manifest.json that is not one.
    check(
        rewrite(&good, |p, v| Some(if p == "manifest.json" { b"{\"x\":1}".to_vec() } else { v })),
        &["manifest.json", "not a docker-archive manifest"],
    );
    // A bad tag.
    let manifest = format!(r#"[{{"Config":"{config}","RepoTags":["Not A Tag"],"Layers":["{layer}"]}}]"#);
    check(
        rewrite(&good, |p, v| Some(if p == "manifest.json" { manifest.clone().into_bytes() } else { v })),
        &["manifest.json", "RepoTags"],
    );
    // A truncated archive.
    check(good[..good.len() / 2].to_vec(), &["corrupt or truncated"]);
    // And the undamaged one loads.
    let (_d2, fresh) = store();
    assert_eq!(archive::load(&fresh, &mut &good[..]).unwrap()[0].id, a.id);
}

#[test]
fn a_damaged_oci_archive_is_refused_naming_the_file() {
    let (_d, s) = store();
    let a = import_busybox(&s, "busybox:latest", "echo a");
    let good = save_bytes(&s, &["busybox:latest"], Format::Oci);
    let layer = format!("blobs/sha256/{}", a.layers[0].blob.digest.hex());
    let manifest = format!("blobs/sha256/{}", a.manifest.digest.hex());
    let check = |archive: Vec<u8>, want: &[&str]| {
        let (_d2, fresh) = store();
        let e = archive::load(&fresh, &mut &archive[..]).unwrap_err().to_string();
        for w in want {
            assert!(e.contains(w), "{e:?} does not mention {w:?}");
        }
        assert!(fresh.images().unwrap().is_empty());
        assert!(ingest_is_empty(&fresh));
    };
    check(rewrite(&good, |p, v| (p != layer).then_some(v)), &["not in the archive", &layer, &manifest]);
    check(rewrite(&good, |p, v| (p != manifest).then_some(v)), &["index.json", &manifest, "not in the archive"]);
    check(
        rewrite(&good, |p, v| Some(if p == "index.json" { b"[]".to_vec() } else { v })),
        &["index.json", "not an OCI image index"],
    );
    check(
        rewrite(&good, |p, v| Some(if p == "oci-layout" { br#"{"imageLayoutVersion":"2.0.0"}"#.to_vec() } else { v })),
        &["oci-layout", "2.0.0"],
    );
}
