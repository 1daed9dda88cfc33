//! The registry client against a real registry (Debian's `docker-registry`,
//! distribution 2.8, started per test on a free loopback port), and against
//! fake registries and token servers in this file that check exactly what
//! the client sends: token scopes, credentials, retries, redirects, and how
//! failures and hangs are reported.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use image::digest::HashingReader;
use image::manifest::{media, Document};
use image::registry::{Client, Credentials, PushOutcome, RegistryOptions};
use image::{Digest, Error};

fn opts() -> RegistryOptions {
    RegistryOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(20),
        ..Default::default()
    }
}

fn opts_with(creds: Credentials) -> RegistryOptions {
    RegistryOptions { credentials: Some(creds), ..opts() }
}

fn basic(user: &str, password: &str) -> String {
    Credentials::new(user, password).basic_authorization()
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 server for fakes: one thread per connection, keep-alive,
// Content-Length and chunked request bodies, every request logged.

#[derive(Clone, Debug)]
struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn form_values(encoded: &str, key: &str) -> Vec<String> {
    encoded
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }
    fn query(&self, key: &str) -> Vec<String> {
        form_values(self.target.split_once('?').map_or("", |(_, q)| q), key)
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Announce this length instead of the body's, and then stall.
    stall_after_body: Option<u64>,
}

impl Resp {
    fn new(status: u16) -> Resp {
        Resp { status, headers: vec![], body: vec![], stall_after_body: None }
    }
    fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
    fn body(mut self, b: impl Into<Vec<u8>>) -> Resp {
        self.body = b.into();
        self
    }
    fn json(self, b: &str) -> Resp {
        self.header("Content-Type", "application/json").body(b)
    }
}

enum Action {
    Respond(Resp),
    /// Keep the connection open and never answer.
    Hang,
}

type Handler = dyn Fn(&Req) -> Action + Send + Sync;

struct Fake {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Fake {
    fn start(handler: impl Fn(&Req) -> Action + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (l, s) = (log.clone(), stop.clone());
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (l, s, h) = (l.clone(), s.clone(), handler.clone());
                thread::spawn(move || serve(conn, &l, &s, &*h));
            }
        });
        Fake { addr, log, stop, accept: Some(accept) }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Req { method, target, headers, body: vec![] };
    if req.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = req.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let mut body = vec![0; n];
        r.read_exact(&mut body).ok()?;
        req.body = body;
    }
    Some(req)
}

fn serve(conn: TcpStream, log: &Mutex<Vec<Req>>, stop: &AtomicBool, handler: &Handler) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    let wait_for_stop = || {
        while !stop.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
        }
    };
    while let Some(req) = read_request(&mut reader) {
        log.lock().unwrap().push(req.clone());
        let resp = match handler(&req) {
            Action::Hang => return wait_for_stop(),
            Action::Respond(r) => r,
        };
        let reason = match resp.status {
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            307 => "Temporary Redirect",
            401 => "Unauthorized",
            404 => "Not Found",
            500 => "Internal Server Error",
            _ => "Whatever",
        };
        let len = resp.stall_after_body.unwrap_or(resp.body.len() as u64);
        let mut out = format!("HTTP/1.1 {} {reason}\r\nContent-Length: {len}\r\n", resp.status);
        for (k, v) in &resp.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if req.method != "HEAD" {
            bytes.extend_from_slice(&resp.body);
        }
        if writer.write_all(&bytes).is_err() {
            return;
        }
        if resp.stall_after_body.is_some() {
            return wait_for_stop();
        }
    }
}

// ---------------------------------------------------------------------------
// The real registry.

/// A `docker-registry` process with its own storage and port, killed (and
/// its directory removed) when dropped, also when a test panics.
struct RealRegistry {
    child: Child,
    host: String,
    dir: tempfile::TempDir,
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry_binary() -> Option<PathBuf> {
    let found = || {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join("docker-registry")).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain([PathBuf::from("/usr/bin/docker-registry")])
            .find(|p| p.is_file())
    };
    if let Some(p) = found() {
        return Some(p);
    }
    eprintln!("docker-registry not found; trying apt-get install -y docker-registry");
    let ok = |c: &mut Command| c.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok(Command::new("apt-get")
        .args(["install", "-y", "-q", "docker-registry"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    {
        ok(Command::new("apt-get").args(["update", "-q"]));
        ok(Command::new("apt-get")
            .args(["install", "-y", "-q", "docker-registry"])
            .env("DEBIAN_FRONTEND", "noninteractive"));
    }
    found()
}

impl RealRegistry {
    /// None (after saying why) only when the registry cannot be had at all.
    fn start() -> Option<RealRegistry> {
        let Some(bin) = registry_binary() else {
            eprintln!("SKIPPED: /usr/bin/docker-registry is missing and `apt-get install docker-registry` failed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg(&config).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches no memory of
            // the parent; it makes the kernel kill the registry if this test
            // process dies without running destructors (SIGKILL, abort).
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().unwrap();
        let mut reg = RealRegistry { child, host: format!("127.0.0.1:{port}"), dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        let probe = Client::new(&reg.host, RegistryOptions { read_timeout: Duration::from_secs(2), ..opts() }).unwrap();
        loop {
            if probe.ping().is_ok() {
                return Some(reg);
            }
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!("docker-registry exited with {status}: {}", reg.log());
            }
            assert!(Instant::now() < deadline, "docker-registry did not come up: {}", reg.log());
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn storage(&self) -> &Path {
        self.dir.path()
    }
}

fn push(client: &Client, repo: &str, data: &[u8], chunk: Option<u64>, from: Option<&str>) -> (PushOutcome, Vec<u64>) {
    let mut seen = Vec::new();
    let out = client
        .push_blob(repo, &Digest::of(data), data.len() as u64, &mut &data[..], chunk, from, &mut |n| seen.push(n))
        .unwrap();
    (out, seen)
}

fn read_blob(client: &Client, repo: &str, d: &Digest) -> (Digest, u64) {
    let mut r = HashingReader::new(client.get_blob(repo, d).unwrap());
    std::io::copy(&mut r, &mut std::io::sink()).unwrap();
    r.finish()
}

#[test]
fn real_registry_push_mount_manifest_and_pull() {
    let Some(reg) = RealRegistry::start() else { return };
    let client = Client::new(&reg.host, opts()).unwrap();
    assert!(client.base_url().starts_with("http://127.0.0.1:"), "loopback registries use plain HTTP");
    client.ping().unwrap();

    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let layer1 = testkit::noise(700_000, 1);
    let layer2 = testkit::noise(200_001, 2);
    let (dc, d1, d2) = (Digest::of(&config), Digest::of(&layer1), Digest::of(&layer2));

    // Monolithic: one PUT with the body; progress ends at the size.
    let (out, seen) = push(&client, "team/app", &layer1, None, None);
    assert_eq!(out, PushOutcome::Uploaded);
    assert_eq!(seen.last(), Some(&700_000));
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    // Present already: nothing is read or sent.
    let mut untouched: &[u8] = b"";
    let again =
        client.push_blob("team/app", &d1, 700_000, &mut untouched, None, None, &mut |_| panic!("no progress")).unwrap();
    assert_eq!(again, PushOutcome::Existed);

    // Chunked: PATCHes of 64 KiB with Content-Range, then the PUT.
    let (out, seen) = push(&client, "team/app", &layer2, Some(65_536), None);
    assert_eq!(out, PushOutcome::Uploaded);
    assert_eq!(seen, [65_536, 131_072, 196_608, 200_001]);
    let (out, seen) = push(&client, "team/app", &config, Some(1 << 20), None);
    assert_eq!((out, seen), (PushOutcome::Uploaded, vec![config.len() as u64]));
    // The empty blob: no PATCH at all, only the closing PUT.
    let (out, seen) = push(&client, "team/app", b"", Some(1024), None);
    assert_eq!((out, seen.len()), (PushOutcome::Uploaded, 0));

    assert_eq!(client.blob_exists("team/app", &d1).unwrap(), Some(700_000));
    assert_eq!(client.blob_exists("team/app", &d2).unwrap(), Some(200_001));
    assert_eq!(client.blob_exists("team/app", &Digest::of(b"never pushed")).unwrap(), None);
    assert_eq!(client.blob_exists("other/repo", &d1).unwrap(), None);

    // Cross-repository mount: linked, not uploaded.
    let mut untouched: &[u8] = b"";
    let mounted = client
        .push_blob("other/repo", &d1, 700_000, &mut untouched, None, Some("team/app"), &mut |_| panic!("sent"))
        .unwrap();
    assert_eq!(mounted, PushOutcome::Mounted);
    assert_eq!(client.blob_exists("other/repo", &d1).unwrap(), Some(700_000));
    // A mount the source cannot satisfy turns into an ordinary upload.
    let fresh = testkit::noise(1000, 3);
    let (out, _) = push(&client, "other/repo", &fresh, None, Some("team/app"));
    assert_eq!(out, PushOutcome::Uploaded);
    assert_eq!(read_blob(&client, "other/repo", &Digest::of(&fresh)), (Digest::of(&fresh), 1000));

    // A hand-made OCI manifest over those blobs.
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{dc}","size":{}}},"layers":[{{"mediaType":"{l}","digest":"{d1}","size":700000}},{{"mediaType":"{l}","digest":"{d2}","size":200001}}]}}"#,
        media::OCI_MANIFEST,
        media::OCI_CONFIG,
        config.len(),
        l = media::OCI_LAYER_GZIP
    );
    let md = client.put_manifest("team/app", "v1", media::OCI_MANIFEST, manifest.as_bytes()).unwrap();
    assert_eq!(md, Digest::of(manifest.as_bytes()));

    let got = client.get_manifest("team/app", "v1").unwrap();
    assert_eq!(
        (got.bytes.as_slice(), got.media_type.as_str(), &got.digest),
        (manifest.as_bytes(), media::OCI_MANIFEST, &md)
    );
    let Document::Manifest(m) = Document::parse(&got.bytes, Some(&got.media_type)).unwrap() else {
        panic!("not a manifest")
    };
    assert_eq!(m.layers.len(), 2);
    let by_digest = client.get_manifest("team/app", &md.to_string()).unwrap();
    assert_eq!(by_digest, got);
    assert_eq!(
        client.head_manifest("team/app", "v1").unwrap(),
        Some((md.clone(), media::OCI_MANIFEST.to_string(), manifest.len() as u64))
    );
    assert_eq!(client.head_manifest("team/app", "v2").unwrap(), None);
    // Also under its digest, as pushes of index children do.
    assert_eq!(client.put_manifest("team/app", &md.to_string(), media::OCI_MANIFEST, manifest.as_bytes()).unwrap(), md);

    // Blobs stream back intact, from several threads sharing one client.
    let readers: Vec<_> =
        [(d1.clone(), 700_000u64), (d2.clone(), 200_001), (dc.clone(), config.len() as u64), (d1.clone(), 700_000)]
            .into_iter()
            .map(|(d, n)| {
                let c = client.clone();
                thread::spawn(move || assert_eq!(read_blob(&c, "team/app", &d), (d.clone(), n)))
            })
            .collect();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(read_blob(&client, "other/repo", &d1), (d1.clone(), 700_000));
    assert!(reg.storage().join("storage/docker/registry/v2/repositories/team/app").is_dir());
}

#[test]
fn real_registry_refusals_read_well() {
    let Some(reg) = RealRegistry::start() else { return };
    let client = Client::new(&reg.host, opts()).unwrap();
    push(&client, "team/app", b"some layer", None, None);

    let e = client.get_manifest("team/app", "nope").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Registry { .. }), "{e:?}");
    assert!(msg.contains(&reg.host) && msg.contains("manifest for team/app:nope not found: manifest unknown"), "{msg}");
    let msg = client.get_manifest("no/such-repo", "latest").unwrap_err().to_string();
    assert!(msg.contains("manifest for no/such-repo:latest not found"), "{msg}");
    let missing = Digest::of(b"missing");
    let msg = client.get_manifest("team/app", &missing.to_string()).unwrap_err().to_string();
    assert!(msg.contains(&format!("team/app@{missing} not found")), "{msg}");

    // The registry checks the digest; its complaint reaches the user.
    let wrong = Digest::of(b"something else");
    let e = client.push_blob("team/app", &wrong, 5, &mut &b"hello"[..], None, None, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("digest invalid"), "{e}");
    let e = client.push_blob("team/app", &wrong, 5, &mut &b"hello"[..], Some(2), None, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("digest invalid"), "{e}");

    // A body shorter than announced is the caller's problem, named as such.
    let short = Digest::of(b"0123456789");
    for chunk in [None, Some(4)] {
        let e = client.push_blob("team/app", &short, 10, &mut &b"01234"[..], chunk, None, &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::SizeMismatch { expected: 10, actual: 5, .. }), "{chunk:?}: {e:?}");
    }

    // A manifest whose blobs are missing is refused with the registry's words.
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{missing}","size":7}},"layers":[]}}"#,
        media::OCI_MANIFEST,
        media::OCI_CONFIG
    );
    let e = client.put_manifest("team/app", "broken", media::OCI_MANIFEST, manifest.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("blob unknown"), "{e}");
    let e = client.get_blob("team/app", &missing).err().unwrap();
    assert!(e.to_string().contains(&format!("blob {missing} not found in team/app")), "{e}");
    // Names are checked before anything is sent.
    assert!(matches!(client.get_manifest("../etc", "latest"), Err(Error::Invalid(_))));
    assert!(client.get_manifest("team/app", "sha256:short").is_err());
}

// ---------------------------------------------------------------------------
// Authentication, against fakes.

/// A token server: GET /token with basic alice:s3cret, or POST with the
/// identity token "rt-1"; the token lists the granted scopes.
fn token_server() -> Fake {
    Fake::start(|req| {
        let deny = || {
            Action::Respond(Resp::new(401).json(r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#))
        };
        if req.path() != "/token" {
            return Action::Respond(Resp::new(404));
        }
        let scopes = match req.method.as_str() {
            "GET" if req.header("authorization") == Some(basic("alice", "s3cret").as_str()) => req.query("scope"),
            "POST" => {
                let form = String::from_utf8(req.body.clone()).unwrap();
                let ok = form_values(&form, "grant_type") == ["refresh_token"]
                    && form_values(&form, "refresh_token") == ["rt-1"];
                if !ok || req.header("authorization").is_some() {
                    return deny();
                }
                form_values(&form, "scope").iter().flat_map(|s| s.split(' ')).map(String::from).collect()
            }
            _ => return deny(),
        };
        let token = format!("tok|{}", scopes.join("|"));
        let field = if req.method == "POST" { "access_token" } else { "token" };
        Action::Respond(Resp::new(200).json(&format!(r#"{{"{field}":"{token}","expires_in":300}}"#)))
    })
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
const EXTERNAL: &[u8] = b"bytes kept in external storage";
const INTERNAL: &[u8] = b"bytes behind a same-origin redirect";

/// What a request to the fake registry needs: pull to read a repository,
/// push to write it, pull on a mount's source.
fn needed_scopes(req: &Req) -> Vec<String> {
    let path = req.path();
    let repo = if path.starts_with("/internal/") {
        "team/app"
    } else {
        let Some(rest) = path.strip_prefix("/v2/") else { return vec![] };
        match rest.find("/manifests/").or_else(|| rest.find("/blobs/")) {
            Some(i) => &rest[..i],
            None => return vec![],
        }
    };
    let mut need = vec![format!(
        "repository:{repo}:{}",
        if matches!(req.method.as_str(), "GET" | "HEAD") { "pull" } else { "push" }
    )];
    need.extend(req.query("from").into_iter().map(|f| format!("repository:{f}:pull")));
    need
}

fn granted(token: &str, need: &str) -> bool {
    let (resource, action) = need.rsplit_once(':').unwrap();
    token.split('|').skip(1).any(|g| {
        g.rsplit_once(':').is_some_and(|(r, actions)| r == resource && actions.split(',').any(|a| a == action))
    })
}

/// A registry that wants bearer tokens from `tokens`, serves one manifest,
/// mounts blobs, and redirects two blobs: to `storage` (another origin) and
/// to a path of its own.
fn bearer_registry(tokens: &Fake, storage: &Fake) -> Fake {
    let realm = format!("http://{}/token", tokens.host());
    let storage = storage.host();
    Fake::start(move |req| {
        let need = needed_scopes(req);
        let token = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
        if !token.starts_with("tok|") || !need.iter().all(|n| granted(token, n)) {
            let challenge = format!(r#"Bearer realm="{realm}",service="fake-registry",scope="{}""#, need.join(" "));
            return Action::Respond(
                Resp::new(401)
                    .header("WWW-Authenticate", &challenge)
                    .json(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#),
            );
        }
        let ext = format!("/v2/team/app/blobs/{}", Digest::of(EXTERNAL));
        let int = format!("/v2/team/app/blobs/{}", Digest::of(INTERNAL));
        let r = match (req.method.as_str(), req.path()) {
            ("GET", "/v2/") => Resp::new(200).json("{}"),
            ("GET" | "HEAD", "/v2/team/app/manifests/v1") => Resp::new(200)
                .header("Content-Type", media::OCI_MANIFEST)
                .header("Docker-Content-Digest", &Digest::of(MANIFEST.as_bytes()).to_string())
                .body(MANIFEST),
            ("GET", p) if p == ext => {
                Resp::new(307).header("Location", &format!("http://{storage}/blob?X-Signature=secret"))
            }
            ("GET", p) if p == int => Resp::new(307).header("Location", "/internal/blob"),
            ("GET", "/internal/blob") => Resp::new(200).body(INTERNAL),
            ("POST", "/v2/team/app/blobs/uploads/") if !req.query("mount").is_empty() => {
                Resp::new(201).header("Location", &format!("/v2/team/app/blobs/{}", req.query("mount")[0]))
            }
            _ => Resp::new(404).json(r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#),
        };
        Action::Respond(r)
    })
}

fn storage_server() -> Fake {
    Fake::start(|req| {
        Action::Respond(if req.path() == "/blob" { Resp::new(200).body(EXTERNAL) } else { Resp::new(404) })
    })
}

#[test]
fn bearer_tokens_have_the_right_scope_and_credentials_and_are_cached() {
    let (tokens, storage) = (token_server(), storage_server());
    let reg = bearer_registry(&tokens, &storage);
    let client = Client::new(&reg.host(), opts_with(Credentials::new("alice", "s3cret"))).unwrap();

    let f = client.get_manifest("team/app", "v1").unwrap();
    assert_eq!((f.bytes.as_slice(), f.digest.clone()), (MANIFEST.as_bytes(), Digest::of(MANIFEST.as_bytes())));
    let t = tokens.requests();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].method, "GET");
    assert_eq!(t[0].query("service"), ["fake-registry"]);
    assert_eq!(t[0].query("scope"), ["repository:team/app:pull"]);
    assert_eq!(t[0].header("authorization"), Some(basic("alice", "s3cret").as_str()));
    let r = reg.requests();
    assert_eq!(r.len(), 2, "anonymous try, then one retry");
    assert_eq!(r[0].header("authorization"), None);
    assert_eq!(r[1].header("authorization"), Some("Bearer tok|repository:team/app:pull"));
    assert!(r[1].header("accept").unwrap().contains(media::OCI_INDEX));

    // The token is cached, and clones on other threads use it too.
    let c2 = client.clone();
    thread::spawn(move || assert!(c2.head_manifest("team/app", "v1").unwrap().is_some())).join().unwrap();
    client.get_manifest("team/app", "v1").unwrap();
    assert_eq!(tokens.requests().len(), 1);
    let r = reg.requests();
    assert_eq!(r.len(), 4);
    assert!(r[2..].iter().all(|q| q.header("authorization") == Some("Bearer tok|repository:team/app:pull")));

    // A push with a mount asks for push on the target and pull on the source, once.
    let d = Digest::of(b"abc");
    let out = client.push_blob("team/app", &d, 3, &mut &b"abc"[..], None, Some("base/img"), &mut |_| {}).unwrap();
    assert_eq!(out, PushOutcome::Mounted);
    let t = tokens.requests();
    assert_eq!(t.len(), 2);
    let mut scopes = t[1].query("scope");
    scopes.sort();
    assert_eq!(scopes, ["repository:base/img:pull", "repository:team/app:pull,push"]);
    let mount = reg.requests().into_iter().find(|q| q.method == "POST").unwrap();
    assert_eq!(mount.query("mount"), [d.to_string()]);
    assert_eq!(mount.query("from"), ["base/img"]);
}

#[test]
fn redirects_carry_credentials_only_to_the_registry_itself() {
    let (tokens, storage) = (token_server(), storage_server());
    let reg = bearer_registry(&tokens, &storage);
    let client = Client::new(&reg.host(), opts_with(Credentials::new("alice", "s3cret"))).unwrap();

    assert_eq!(read_blob(&client, "team/app", &Digest::of(EXTERNAL)), (Digest::of(EXTERNAL), EXTERNAL.len() as u64));
    let s = storage.requests();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].query("X-Signature"), ["secret"]);
    assert_eq!(s[0].header("authorization"), None, "the token must not leak to another origin");

    assert_eq!(read_blob(&client, "team/app", &Digest::of(INTERNAL)), (Digest::of(INTERNAL), INTERNAL.len() as u64));
    let internal = reg.requests().into_iter().find(|q| q.path() == "/internal/blob").unwrap();
    assert_eq!(internal.header("authorization"), Some("Bearer tok|repository:team/app:pull"));
}

#[test]
fn bad_or_missing_credentials_are_reported_as_unauthorized() {
    let (tokens, storage) = (token_server(), storage_server());
    let reg = bearer_registry(&tokens, &storage);

    let wrong = Client::new(&reg.host(), opts_with(Credentials::new("alice", "wrong"))).unwrap();
    let e = wrong.get_manifest("team/app", "v1").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&reg.host()) && msg.contains("unauthorized: incorrect username or password"), "{msg}");
    assert!(msg.contains("bad credentials"), "the token server's words are kept: {msg}");
    assert_eq!(reg.requests().len(), 1, "no retry without a token");

    let anonymous = Client::new(&reg.host(), opts()).unwrap();
    let msg = anonymous.ping().unwrap_err().to_string();
    assert!(msg.contains("unauthorized: authentication required"), "{msg}");
    assert_eq!(tokens.requests().last().unwrap().header("authorization"), None);
}

#[test]
fn identity_tokens_use_the_oauth2_refresh_grant() {
    let (tokens, storage) = (token_server(), storage_server());
    let reg = bearer_registry(&tokens, &storage);
    let client = Client::new(&reg.host(), opts_with(Credentials::identity_token("rt-1"))).unwrap();
    client.get_manifest("team/app", "v1").unwrap();
    let t = tokens.requests();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].method, "POST");
    let form = String::from_utf8(t[0].body.clone()).unwrap();
    assert_eq!(form_values(&form, "service"), ["fake-registry"]);
    assert_eq!(form_values(&form, "scope"), ["repository:team/app:pull"]);
    assert_eq!(form_values(&form, "client_id"), ["berth"]);
}

#[test]
fn basic_auth_is_sent_only_when_asked_and_retried_once() {
    let reg = Fake::start(|req| {
        Action::Respond(if req.header("authorization") == Some(basic("alice", "s3cret").as_str()) {
            Resp::new(200).json("{}")
        } else {
            Resp::new(401)
                .header("WWW-Authenticate", r#"Basic realm="fake, with a comma""#)
                .json(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)
        })
    });
    let client = Client::new(&reg.host(), opts_with(Credentials::new("alice", "s3cret"))).unwrap();
    client.ping().unwrap();
    let r = reg.requests();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].header("authorization"), None);
    assert_eq!(r[1].header("authorization"), Some(basic("alice", "s3cret").as_str()));
    // Once the scheme is known, credentials go with the first request.
    client.ping().unwrap();
    assert_eq!(reg.requests().len(), 3);

    let msg = Client::new(&reg.host(), opts()).unwrap().ping().unwrap_err().to_string();
    assert_eq!(msg, format!("registry {}: unauthorized: authentication required", reg.host()));
    assert_eq!(reg.requests().len(), 4, "nothing to retry with");

    let wrong = Client::new(&reg.host(), opts_with(Credentials::new("alice", "nope"))).unwrap();
    let msg = wrong.ping().unwrap_err().to_string();
    assert!(msg.contains("unauthorized: authentication required"), "{msg}");
    assert_eq!(reg.requests().len(), 6, "one retry, not a loop");
}

// ---------------------------------------------------------------------------
// Failures: a broken registry, a silent one, a stalled download, no registry.

fn quick() -> RegistryOptions {
    RegistryOptions {
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

#[test]
fn server_errors_say_the_registry_failed() {
    let reg = Fake::start(|_| {
        Action::Respond(Resp::new(500).json(r#"{"errors":[{"code":"UNKNOWN","message":"storage backend exploded"}]}"#))
    });
    let client = Client::new(&reg.host(), quick()).unwrap();
    let msg = client.get_manifest("team/app", "v1").unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "registry {h}: the registry failed with 500 Internal Server Error (GET http://{h}/v2/team/app/manifests/v1): unknown: storage backend exploded",
            h = reg.host()
        )
    );
    let d = Digest::of(b"x");
    assert!(client.blob_exists("team/app", &d).unwrap_err().to_string().contains("500"));
    // HEAD answers have no body: the status alone must say it.
    let e = client.push_blob("team/app", &d, 1, &mut &b"x"[..], None, None, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("failed with 500 Internal Server Error (HEAD"), "{e}");
}

#[test]
fn a_silent_registry_times_out_and_is_named() {
    let reg = Fake::start(|_| Action::Hang);
    let client = Client::new(&reg.host(), quick()).unwrap();
    let start = Instant::now();
    let msg = client.get_manifest("team/app", "v1").unwrap_err().to_string();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
    assert!(msg.contains(&reg.host()) && msg.contains("timed out after 1s"), "{msg}");
    assert!(reg.requests().len() <= 2, "no retry storm");
}

#[test]
fn a_stalled_download_times_out_while_reading() {
    let d = Digest::of(b"never complete");
    let reg = Fake::start(|_| {
        let mut r = Resp::new(200).body(&b"first bytes"[..]);
        r.stall_after_body = Some(1_000_000);
        Action::Respond(r)
    });
    let client = Client::new(&reg.host(), quick()).unwrap();
    let mut body = client.get_blob("team/app", &d).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let e = body.read_to_end(&mut got).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(got, b"first bytes");
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    let msg = e.to_string();
    assert!(msg.contains(&reg.host()) && msg.contains(&d.to_string()) && msg.contains("timed out"), "{msg}");
}

#[test]
fn no_registry_at_all_is_named() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = Client::new(&format!("127.0.0.1:{port}"), quick()).unwrap();
    let msg = client.ping().unwrap_err().to_string();
    assert!(msg.starts_with(&format!("registry 127.0.0.1:{port}: ")) && msg.contains("refused"), "{msg}");
}
