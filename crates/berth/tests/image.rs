//! Image commands as a user drives them, against real peers on loopback: a
//! real registry (Debian's docker-registry) and skopeo, with images made
//! here from busybox-static.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use testkit::{oci, Registry};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A berth state tree of its own (`--root`), and its own credentials file.
struct Berth {
    root: tempfile::TempDir,
}

impl Berth {
    fn new() -> Berth {
        Berth { root: tempfile::Builder::new().prefix("berth-root-").tempdir().unwrap() }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root")
            .arg(self.root.path())
            .env("BERTH_CONFIG", self.root.path().join("config.json"))
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "berth {args:?} failed: {}{}", stdout(&out), stderr(&out));
        stdout(&out)
    }

    fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap();
        v[0].clone()
    }

    /// Nothing half-written: no staging layer dirs, no ingest files.
    fn assert_no_partial_state(&self) {
        let r = self.root.path();
        let staging: Vec<_> = std::fs::read_dir(r.join("layers"))
            .map(|d| d.flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with(".tmp")).collect())
            .unwrap_or_default();
        assert!(staging.is_empty(), "staging dirs left: {staging:?}");
        let ingest: Vec<_> = std::fs::read_dir(r.join("content/ingest"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(ingest.is_empty(), "ingest files left: {ingest:?}");
    }

    fn blobs(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path().join("content/blobs/sha256"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A busybox rootfs directory (from scripts/make-bundle).
fn busybox_rootfs() -> testkit::Bundle {
    testkit::Bundle::busybox(Path::new(BERTH), &["sh"])
}

/// An OCI layout with a busybox image, and optionally a second layer.
fn layout(extra_layer: Option<&[(&str, &[u8], u32)]>) -> (tempfile::TempDir, String, String) {
    let b = busybox_rootfs();
    let dir = tempfile::tempdir().unwrap();
    let mut tars = vec![oci::layer_from_dir(&b.rootfs())];
    if let Some(files) = extra_layer {
        tars.push(oci::layer(files));
    }
    let (m, c) = oci::write_image(dir.path(), "v1", &tars, &["/bin/sh"]);
    (dir, m, c)
}

fn skopeo() -> PathBuf {
    testkit::ensure_tool("skopeo", "skopeo")
}

#[test]
fn pull_what_skopeo_pushed_then_push_what_skopeo_pulls() {
    let reg = Registry::start();
    let (dir, manifest, config) = layout(Some(&[("etc/hello", b"hi\n", 0o644)]));
    oci::skopeo_push(dir.path(), "v1", &format!("{}/test/busybox:1", reg.addr), &[]);

    let b = Berth::new();
    let out = b.ok(&["pull", &format!("{}/test/busybox:1", reg.addr)]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {manifest}")), "{out}");
    let img = b.inspect(&format!("{}/test/busybox:1", reg.addr));
    assert_eq!(img["Id"], config.as_str(), "the image id is the config digest");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(img["Config"]["Cmd"][0], "/bin/sh");
    // The layers are unpacked, ready for a container.
    let lower = img["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap().to_string();
    let dirs: Vec<&str> = lower.split(':').collect();
    assert_eq!(std::fs::read(Path::new(dirs[0]).join("etc/hello")).unwrap(), b"hi\n");
    assert!(Path::new(dirs[1]).join("bin/busybox").is_file());
    let images = b.ok(&["images"]);
    assert!(images.starts_with("REPOSITORY"), "{images}");
    assert!(images.contains(&format!("{}/test/busybox", reg.addr)), "{images}");

    // Push under another name: the blobs are mounted across repositories,
    // and skopeo, which checks every digest, can fetch the result.
    b.ok(&["tag", &format!("{}/test/busybox:1", reg.addr), &format!("{}/other/bb:2", reg.addr)]);
    let out = b.ok(&["push", &format!("{}/other/bb:2", reg.addr)]);
    assert!(out.contains("Mounted from test/busybox") || out.contains("Layer already exists"), "{out}");
    assert!(out.contains(&format!("2: digest: {manifest}")), "{out}");
    let inspect = Command::new(skopeo())
        .args(["inspect", "--tls-verify=false", &format!("docker://{}/other/bb:2", reg.addr)])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v["Digest"], manifest.as_str());
    let copied = tempfile::tempdir().unwrap();
    let out = Command::new(skopeo())
        .args(["copy", "--src-tls-verify=false", &format!("docker://{}/other/bb:2", reg.addr)])
        .arg(format!("oci:{}:x", copied.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo could not pull what berth pushed: {}", stderr(&out));
    b.assert_no_partial_state();
}

#[test]
fn push_of_a_locally_made_image_uploads_every_blob_chunked() {
    let reg = Registry::start();
    let b = Berth::new();
    let tar = tempfile::NamedTempFile::new().unwrap();
    testkit::busybox_rootfs_tar(Path::new(BERTH), tar.path());
    let id = b.ok(&["import", tar.path().to_str().unwrap(), "local/busybox:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let target = format!("{}/local/busybox:1", reg.addr);
    b.ok(&["tag", "local/busybox:1", &target]);
    let out = b.ok(&["push", "--chunk-size", "65536", &target]);
    assert!(out.contains("Pushed"), "{out}");
    // A fresh store pulls it back: same image.
    let b2 = Berth::new();
    b2.ok(&["pull", "-q", &target]);
    assert_eq!(b2.inspect(&target)["Id"], b.inspect("local/busybox:1")["Id"]);
}

#[test]
fn zstd_and_uncompressed_layers_are_pulled_too() {
    let reg = Registry::start();
    let (dir, _, config) = layout(None);
    oci::skopeo_push(dir.path(), "v1", &format!("{}/zstd/img:1", reg.addr), &["--dest-compress-format", "zstd"]);
    oci::skopeo_push(dir.path(), "v1", &format!("{}/plain/img:1", reg.addr), &["--dest-decompress"]);
    let b = Berth::new();
    b.ok(&["pull", &format!("{}/zstd/img:1", reg.addr)]);
    b.ok(&["pull", &format!("{}/plain/img:1", reg.addr)]);
    assert_eq!(b.inspect(&format!("{}/zstd/img:1", reg.addr))["Id"], config.as_str());
    assert_eq!(b.inspect(&format!("{}/plain/img:1", reg.addr))["Id"], config.as_str());
}

#[test]
fn a_multi_platform_index_gives_the_host_platform() {
    let reg = Registry::start();
    let (dir, manifest, config) = layout(None);
    // Wrap the manifest in an index with two platforms (the arm64 entry is a
    // copy of the same manifest: only the choice is under test).
    let idx_path = dir.path().join("index.json");
    let top: serde_json::Value = serde_json::from_slice(&std::fs::read(&idx_path).unwrap()).unwrap();
    let m = top["manifests"][0].clone();
    let entry = |arch: &str| {
        serde_json::json!({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
            "platform": {"architecture": arch, "os": "linux"}})
    };
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry("arm64"), entry("amd64")]
    }))
    .unwrap();
    use sha2_hex::hex_sha256;
    let hex = hex_sha256(&index);
    std::fs::write(dir.path().join("blobs/sha256").join(&hex), &index).unwrap();
    std::fs::write(
        &idx_path,
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"), "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
        .unwrap(),
    )
    .unwrap();
    oci::skopeo_push(dir.path(), "v1", &format!("{}/multi/img:1", reg.addr), &["--all"]);
    let b = Berth::new();
    let out = b.ok(&["pull", "--platform", "linux/amd64", &format!("{}/multi/img:1", reg.addr)]);
    assert!(out.contains(&format!("Digest: sha256:{hex}")), "the index digest is reported: {out}");
    let img = b.inspect(&format!("{}/multi/img:1", reg.addr));
    assert_eq!(img["Id"], config.as_str());
    assert_eq!(img["Descriptor"]["digest"], manifest.as_str());
    let out = b.run(&["pull", "--platform", "linux/s390x", &format!("{}/multi/img:1", reg.addr)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no manifest for platform linux/s390x in the index (it has: linux/arm64, linux/amd64)"),
        "{}",
        stderr(&out)
    );
}

mod sha2_hex {
    pub fn hex_sha256(b: &[u8]) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
    }
}

#[test]
fn a_second_pull_skips_the_shared_base_layer() {
    let reg = Registry::start();
    let rootfs = busybox_rootfs();
    let base_tar = oci::layer_from_dir(&rootfs.rootfs());
    let (base, top) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    oci::write_image(base.path(), "v1", std::slice::from_ref(&base_tar), &["/bin/sh"]);
    oci::write_image(
        top.path(),
        "v1",
        &[base_tar, oci::layer(&[("app/run", b"#!/bin/sh\necho app\n", 0o755)])],
        &["/bin/sh"],
    );
    oci::skopeo_push(base.path(), "v1", &format!("{}/base:1", reg.addr), &[]);
    oci::skopeo_push(top.path(), "v1", &format!("{}/app:1", reg.addr), &[]);
    let b = Berth::new();
    b.ok(&["pull", &format!("{}/base:1", reg.addr)]);
    let out = b.ok(&["pull", &format!("{}/app:1", reg.addr)]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.iter().any(|l| l.ends_with(": Already exists")), "{out}");
    assert_eq!(lines.iter().filter(|l| l.ends_with(": Pull complete")).count(), 1, "{out}");
    // Pulling again does nothing.
    let out = b.ok(&["pull", &format!("{}/app:1", reg.addr)]);
    assert!(out.contains("Image is up to date"), "{out}");
}

#[test]
fn save_and_load_round_trip_with_skopeo() {
    let b = Berth::new();
    let tar = tempfile::NamedTempFile::new().unwrap();
    testkit::busybox_rootfs_tar(Path::new(BERTH), tar.path());
    b.ok(&["import", tar.path().to_str().unwrap(), "bb:1"]);
    let id = b.inspect("bb:1")["Id"].as_str().unwrap().to_string();
    let work = tempfile::tempdir().unwrap();
    for (format, transport) in [("docker", "docker-archive"), ("oci", "oci-archive")] {
        let archive = work.path().join(format!("saved-{format}.tar"));
        b.ok(&["save", "--format", format, "-o", archive.to_str().unwrap(), "bb:1"]);
        // skopeo reads what we wrote and writes it back in its own hands.
        let theirs = work.path().join(format!("theirs-{format}.tar"));
        let dest = if format == "docker" {
            format!("docker-archive:{}:bb:2", theirs.display())
        } else {
            format!("oci-archive:{}:2", theirs.display())
        };
        let out = Command::new(skopeo())
            .args(["copy", &format!("{transport}:{}", archive.display()), &dest])
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy {format}: {}", stderr(&out));
        let fresh = Berth::new();
        let out = fresh.ok(&["load", "-i", theirs.to_str().unwrap()]);
        assert!(out.contains("Loaded image"), "{out}");
        let loaded_id = fresh.ok(&["images", "-q", "--no-trunc"]);
        assert_eq!(loaded_id.trim(), id, "{format}: the config (and so the id) survives the round trip");
    }
}

#[test]
fn rmi_and_prune_free_the_blobs_and_layers() {
    let b = Berth::new();
    let tar = tempfile::NamedTempFile::new().unwrap();
    testkit::busybox_rootfs_tar(Path::new(BERTH), tar.path());
    b.ok(&["import", tar.path().to_str().unwrap(), "bb:1"]);
    b.ok(&["tag", "bb:1", "bb:2"]);
    let out = b.ok(&["rmi", "bb:1"]);
    assert_eq!(out.trim(), "Untagged: bb:1");
    assert!(!b.blobs().is_empty(), "still tagged as bb:2");
    let out = b.ok(&["rmi", "bb:2"]);
    assert!(out.contains("Untagged: bb:2") && out.contains("Deleted: sha256:"), "{out}");
    assert!(b.blobs().is_empty(), "{:?}", b.blobs());
    assert_eq!(std::fs::read_dir(b.root.path().join("layers")).unwrap().count(), 0);
    let out = b.run(&["rmi", "bb:1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("No such image: bb:1"), "{}", stderr(&out));
    // Untagged images go with prune.
    b.ok(&["import", tar.path().to_str().unwrap()]);
    assert_eq!(b.ok(&["images", "-q"]).lines().count(), 1);
    let out = b.ok(&["image", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert!(b.ok(&["images", "-q"]).trim().is_empty());
}

#[test]
fn images_format_and_history() {
    let b = Berth::new();
    let tar = tempfile::NamedTempFile::new().unwrap();
    testkit::busybox_rootfs_tar(Path::new(BERTH), tar.path());
    b.ok(&["import", "-m", "from a tarball", "-c", "CMD [\"/bin/sh\"]", tar.path().to_str().unwrap(), "fmt/test:7"]);
    assert_eq!(b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).trim(), "fmt/test:7");
    let table = b.ok(&["images", "--format", "table {{.Repository}}\t{{.Tag}}"]);
    assert!(table.starts_with("REPOSITORY   TAG"), "{table}");
    let d = b.ok(&["images", "--digests"]);
    assert!(d.lines().next().unwrap().contains("DIGEST"), "{d}");
    let h = b.ok(&["image", "history", "fmt/test:7"]);
    assert!(h.starts_with("IMAGE"), "{h}");
    assert!(h.contains("from a tarball"), "{h}");
    assert_eq!(b.inspect("fmt/test:7")["Config"]["Cmd"][0], "/bin/sh");
    // Go's template prints a list as [a b]; {{json}} as JSON, like docker.
    assert_eq!(b.ok(&["image", "inspect", "--format", "{{.Config.Cmd}}", "fmt/test:7"]).trim(), "[/bin/sh]");
    assert_eq!(b.ok(&["image", "inspect", "--format", "{{json .Config.Cmd}}", "fmt/test:7"]).trim(), r#"["/bin/sh"]"#);
}

#[test]
fn login_logout_against_a_registry_that_demands_basic_auth() {
    let htpasswd = testkit::ensure_tool("htpasswd", "apache2-utils");
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(htpasswd).args(["-Bbn", "alice", "s3cret"]).output().unwrap();
    std::fs::write(work.path().join("htpasswd"), &out.stdout).unwrap();
    let reg = Registry::start_with(&format!(
        "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
        work.path().join("htpasswd").display()
    ));
    let (dir, _, _) = layout(None);
    let skopeo_out = Command::new(skopeo())
        .args(["copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret"])
        .arg(format!("oci:{}:v1", dir.path().display()))
        .arg(format!("docker://{}/private/img:1", reg.addr))
        .output()
        .unwrap();
    assert!(skopeo_out.status.success(), "{} {}", stderr(&skopeo_out), reg.log());
    let b = Berth::new();
    let out = b.run(&["pull", &format!("{}/private/img:1", reg.addr)]);
    assert!(!out.status.success(), "anonymous pull must fail");
    assert!(stderr(&out).to_lowercase().contains("unauthorized"), "{}", stderr(&out));
    let out = b.run(&["login", "-u", "alice", "-p", "wrong", &reg.addr]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("login attempt"), "{}", stderr(&out));
    let out = b.ok(&["login", "-u", "alice", "-p", "s3cret", &reg.addr]);
    assert!(out.contains("Login Succeeded"), "{out}");
    let cfg = std::fs::read_to_string(b.root.path().join("config.json")).unwrap();
    assert!(cfg.contains(&reg.addr) && cfg.contains("auths"), "{cfg}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(b.root.path().join("config.json")).unwrap().permissions().mode() & 0o777, 0o600);
    // Every pull uses the stored credentials: run, create, build, pull.
    let private = format!("{}/private/img:1", reg.addr);
    let out = b.ok(&["run", "--rm", "--network", "none", &private, "echo", "from a private image"]);
    assert!(out.contains("from a private image"), "{out}");
    b.ok(&["rmi", &private]);
    b.ok(&["create", "--pull", "always", "--network", "none", "--name", "c1", &private]);
    b.ok(&["rm", "c1"]);
    b.ok(&["rmi", &private]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), format!("FROM {private}\nLABEL built=yes\n")).unwrap();
    b.ok(&["build", "-q", "-t", "derived:1", ctx.path().to_str().unwrap()]);
    b.ok(&["rmi", "derived:1", &private]);
    b.ok(&["pull", &private]);
    let out = b.ok(&["logout", &reg.addr]);
    assert!(out.contains("Removing login credentials"), "{out}");
    assert!(!std::fs::read_to_string(b.root.path().join("config.json")).unwrap().contains(&reg.addr));
}

// ---- bad input: clear errors, nothing half-written ----

#[test]
fn an_unknown_image_or_tag() {
    let reg = Registry::start();
    let b = Berth::new();
    let out = b.run(&["pull", &format!("{}/nope/nothing:1", reg.addr)]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("nope/nothing:1") && (e.contains("not found") || e.contains("unknown")), "{e}");
    assert!(b.ok(&["images", "-q"]).trim().is_empty());
    b.assert_no_partial_state();
}

#[test]
fn a_reference_that_does_not_parse() {
    let b = Berth::new();
    for bad in ["UPPER/case", "a:b:c:d", "busybox@sha256:123"] {
        let out = b.run(&["pull", bad]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("invalid reference format"), "{bad}: {}", stderr(&out));
    }
}

#[test]
fn a_blob_whose_content_does_not_match_its_digest() {
    let reg = Registry::start();
    let (dir, _, _) = layout(Some(&[("etc/x", b"x", 0o644)]));
    oci::skopeo_push(dir.path(), "v1", &format!("{}/corrupt:1", reg.addr), &[]);
    // Corrupt the top layer's bytes in the registry's storage (same size).
    let manifest: serde_json::Value = {
        let idx: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let hex = idx["manifests"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
        serde_json::from_slice(&std::fs::read(dir.path().join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let layer_hex = manifest["layers"][1]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let data = reg.blob_data(&layer_hex);
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();
    let b = Berth::new();
    let out = b.run(&["pull", &format!("{}/corrupt:1", reg.addr)]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("mismatch") || e.contains("corrupt"), "{e}");
    assert!(b.ok(&["images", "-q"]).trim().is_empty(), "no image recorded");
    assert!(!b.blobs().contains(&layer_hex), "the corrupt blob was not stored under its digest");
    b.assert_no_partial_state();
}

#[test]
fn a_manifest_that_names_a_missing_blob() {
    let reg = Registry::start();
    let (dir, manifest, _) = layout(None);
    oci::skopeo_push(dir.path(), "v1", &format!("{}/missing:1", reg.addr), &[]);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("blobs/sha256").join(&manifest[7..])).unwrap()).unwrap();
    let layer_hex = m["layers"][0]["digest"].as_str().unwrap()[7..].to_string();
    std::fs::remove_file(reg.blob_data(&layer_hex)).unwrap();
    let b = Berth::new();
    let out = b.run(&["pull", &format!("{}/missing:1", reg.addr)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&layer_hex[..12]) || stderr(&out).contains("blob unknown"), "{}", stderr(&out));
    assert!(b.ok(&["images", "-q"]).trim().is_empty());
    b.assert_no_partial_state();
}

#[test]
fn a_registry_that_fails_or_hangs() {
    // A server that answers 500 to everything, and one that never answers.
    let failing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fail_addr = failing.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in failing.incoming().flatten() {
            use std::io::{Read, Write};
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_addr = hanging.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hanging.incoming().flatten() {
            held.push(s);
        }
    });
    let b = Berth::new();
    let out = b.run(&["pull", &format!("{fail_addr}/x:1")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("500"), "{}", stderr(&out));
    let start = std::time::Instant::now();
    let out = b.cmd().env("BERTH_REGISTRY_TIMEOUT", "1").args(["pull", &format!("{hang_addr}/x:1")]).output().unwrap();
    assert!(!out.status.success());
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "the timeout applies");
    assert!(
        stderr(&out).to_lowercase().contains("timed out") || stderr(&out).to_lowercase().contains("timeout"),
        "{}",
        stderr(&out)
    );
    b.assert_no_partial_state();
}

#[test]
fn import_of_a_hostile_tarball_writes_nothing() {
    let b = Berth::new();
    let t = tempfile::NamedTempFile::new().unwrap();
    // A tar whose entry climbs out with "..": built by hand, since tar tools refuse.
    let mut h = [0u8; 512];
    let name = b"../../escaped";
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(b"00000000001");
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&x| x as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut tar = h.to_vec();
    tar.extend_from_slice(b"x");
    tar.extend(std::iter::repeat_n(0u8, 511 + 1024));
    std::fs::write(t.path(), &tar).unwrap();
    let out = b.run(&["import", t.path().to_str().unwrap(), "evil:1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("path escapes the layer root"), "{}", stderr(&out));
    assert!(b.ok(&["images", "-q"]).trim().is_empty());
    assert!(!b.root.path().parent().unwrap().join("escaped").exists());
    b.assert_no_partial_state();
}

#[test]
fn a_pull_killed_midway_is_resumed_shown_and_reclaimed() {
    let reg = Registry::start();
    let big = testkit::noise(12 << 20, 1);
    let (dir, _, _) = layout(Some(&[("big.bin", &big, 0o644)]));
    oci::skopeo_push(dir.path(), "v1", &format!("{}/test/big:1", reg.addr), &[]);
    // 4 MB/s: a pull of the 12 MB layer takes three seconds.
    let proxy = testkit::SlowProxy::start(&reg.addr, 4 << 20);
    let image = format!("{}/test/big:1", proxy.addr);
    let b = Berth::new();
    let ingest_dir = b.root.path().join("content/ingest");
    let ingest_bytes = || -> u64 {
        std::fs::read_dir(&ingest_dir)
            .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    };
    let kill_midway = || {
        let mut child = b.cmd().args(["pull", &image]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while ingest_bytes() < 3 << 20 {
            assert!(std::time::Instant::now() < deadline, "the pull never got going");
            assert!(child.try_wait().unwrap().is_none(), "the pull ended before it could be killed");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    };
    let ranged = || proxy.requests().iter().filter(|r| r.to_lowercase().contains("\nrange: bytes=")).count();

    // Killed: the partial download stays, and `system df` shows it.
    kill_midway();
    let df = b.ok(&["system", "df"]);
    let row = df.lines().find(|l| l.starts_with("Incomplete Pulls")).unwrap_or_else(|| panic!("{df}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert!(cols[2] != "0" && cols[4] != "0B", "{df}");
    assert_eq!(cols[6], "(100%)", "nothing holds them any more: all reclaimable: {df}");

    // The next pull resumes from it (asks for a range). A partial file that
    // was damaged meanwhile is caught (by the unpacker or the digest),
    // thrown away, and the blob downloaded again from the start.
    let partial =
        std::fs::read_dir(&ingest_dir).unwrap().flatten().max_by_key(|e| e.metadata().unwrap().len()).unwrap();
    let mut bytes = std::fs::read(partial.path()).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(partial.path(), &bytes).unwrap();
    let before = ranged();
    b.ok(&["pull", &image]);
    assert!(ranged() > before, "the pull resumed with a Range request: {:?}", proxy.requests());
    b.assert_no_partial_state();
    let layer_file = || {
        let img = b.inspect(&image);
        let lower = img["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap().split(':').next().unwrap().to_string();
        std::fs::read(Path::new(&lower).join("big.bin")).unwrap()
    };
    assert!(layer_file() == big, "the layer is whole, not the damaged bytes");
    b.ok(&["rmi", &image]);

    // Killed again: `system prune -a` reclaims what it left.
    kill_midway();
    let out = b.ok(&["system", "prune", "-a", "-f"]);
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    b.assert_no_partial_state();

    // Killed once more, then pulled to the end: resumed, complete, verified.
    kill_midway();
    let before = ranged();
    b.ok(&["pull", &image]);
    assert!(ranged() > before, "resumed: {:?}", proxy.requests());
    b.assert_no_partial_state();
    assert!(layer_file() == big, "the layer is whole");
    let df = b.ok(&["system", "df"]);
    assert!(df.lines().any(|l| l.starts_with("Incomplete Pulls") && l.contains(" 0B ")), "{df}");
}
