//! Registry credentials and the file that keeps them, in docker's
//! `config.json` format so the two tools read each other's logins:
//! `{"auths": {"<registry>": {"auth": base64("user:password")}}}`, Docker
//! Hub under `https://index.docker.io/v1/` as docker writes it.
//!
//! berth writes only its own file ([`default_config_path`]); docker's file
//! is read as a fallback, never written. Credential helpers (`credsStore`,
//! `credHelpers`) are not run.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::endpoint::canonical_registry;
use crate::error::{Error, Result};

/// The user name docker's credential code uses to mean "the password is an
/// identity token" (an OAuth2 refresh token, as `docker login` gets from
/// some registries).
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// The key docker files Docker Hub's credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password, or an identity token (username
/// [`IDENTITY_TOKEN_USERNAME`], the token as password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name, or [`IDENTITY_TOKEN_USERNAME`] for an identity token.
    pub username: String,
    /// The password, or the identity token. Never printed (Debug hides it).
    pub password: String,
}

impl Credentials {
    /// A user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials { username: username.into(), password: password.into() }
    }

    /// An identity token (docker's `identitytoken`): exchanged for bearer
    /// tokens with OAuth2's refresh_token grant.
    pub fn identity_token(token: impl Into<String>) -> Credentials {
        Credentials { username: IDENTITY_TOKEN_USERNAME.into(), password: token.into() }
    }

    /// The identity token, when these credentials are one.
    pub fn as_identity_token(&self) -> Option<&str> {
        (self.username == IDENTITY_TOKEN_USERNAME).then_some(self.password.as_str())
    }

    /// The value of an `Authorization: Basic` header.
    pub fn basic_authorization(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.username, self.password)))
    }
}

/// Never prints the password, so credentials can sit in logged options.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// `$BERTH_CONFIG` if set (a directory there means its `config.json`), else
/// `$HOME/.berth/config.json`.
pub fn default_config_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_CONFIG").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_dir() { p.join("config.json") } else { p };
    }
    home().join(".berth").join("config.json")
}

fn home() -> PathBuf {
    // home_dir is right on Unix ($HOME, then the password database); its
    // deprecation (for Windows behaviour) was lifted in Rust 1.86.
    #[allow(deprecated)]
    std::env::home_dir().unwrap_or_else(|| PathBuf::from("/"))
}

/// docker's own file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => home().join(".docker").join("config.json"),
    }
}

/// The key a registry's credentials are filed under.
pub fn config_key(registry: &str) -> String {
    if canonical_registry(registry) == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Whether a key of `auths` names `registry`: docker has written keys as
/// `host`, `https://host`, `http://host/v1/` over the years.
fn key_matches(key: &str, registry: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let host = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")).unwrap_or(&lower);
    let host = host.split('/').next().unwrap_or(host);
    canonical_registry(host) == canonical_registry(registry)
}

/// The credentials for `registry` from `config`, or, when it has none, from
/// docker's config file (read-only). A missing file is no credentials; a
/// malformed berth file is an error, a malformed docker file is ignored
/// (berth should not fail because of another tool's file).
pub fn load_credentials(config: &Path, registry: &str) -> Result<Option<Credentials>> {
    load_with_fallback(config, &[docker_config_path()], registry)
}

fn load_with_fallback(config: &Path, fallbacks: &[PathBuf], registry: &str) -> Result<Option<Credentials>> {
    if let Some(c) = read_credentials(config, registry)? {
        return Ok(Some(c));
    }
    for f in fallbacks.iter().filter(|f| f.as_path() != config) {
        if let Ok(Some(c)) = read_credentials(f, registry) {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn read_credentials(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    let Some(doc) = read_config(path)? else { return Ok(None) };
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else { return Ok(None) };
    // The exact key first, then any spelling of the same registry.
    let exact = config_key(registry);
    let keys =
        auths.keys().filter(|k| **k == exact).chain(auths.keys().filter(|k| **k != exact && key_matches(k, registry)));
    for key in keys {
        if let Some(c) =
            entry_credentials(&auths[key]).map_err(|why| invalid(path, &format!("auths[{key:?}]: {why}")))?
        {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// One `auths` entry. Entries may be empty (docker leaves them when a
/// credential helper holds the secret), which is no credentials.
fn entry_credentials(entry: &Value) -> std::result::Result<Option<Credentials>, String> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    if let Some(token) = field("identitytoken") {
        return Ok(Some(Credentials::identity_token(token)));
    }
    if let Some(auth) = field("auth") {
        // docker writes padded base64; accept it unpadded too.
        let lenient = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let raw = lenient.decode(auth.trim()).map_err(|e| format!("auth is not valid base64: {e}"))?;
        let text = String::from_utf8(raw).map_err(|_| "auth is not UTF-8".to_string())?;
        let (user, password) = text.split_once(':').ok_or("auth is not base64 of \"user:password\"")?;
        return Ok(Some(Credentials::new(user, password)));
    }
    match (field("username"), field("password")) {
        (Some(u), Some(p)) => Ok(Some(Credentials::new(u, p))),
        _ => Ok(None),
    }
}

/// Saves `creds` for `registry` in `config`, replacing any other spelling
/// of the same registry and keeping every other key of the file. The file
/// is replaced atomically and is readable by its owner only.
pub fn store_credentials(config: &Path, registry: &str, creds: &Credentials) -> Result<()> {
    let mut doc = read_config(config)?.unwrap_or_default();
    let auths = match doc.entry("auths").or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(m) => m,
        _ => return Err(invalid(config, "\"auths\" is not an object")),
    };
    auths.retain(|k, _| !key_matches(k, registry));
    let mut entry = Map::new();
    match creds.as_identity_token() {
        Some(token) => {
            entry.insert("identitytoken".into(), Value::String(token.to_string()));
        }
        None => {
            let auth = STANDARD.encode(format!("{}:{}", creds.username, creds.password));
            entry.insert("auth".into(), Value::String(auth));
        }
    }
    auths.insert(config_key(registry), Value::Object(entry));
    write_config(config, &doc)
}

/// Forgets `registry` (every spelling of it) in `config`. Returns whether
/// there was anything to forget; the file is not rewritten otherwise.
pub fn remove_credentials(config: &Path, registry: &str) -> Result<bool> {
    let Some(mut doc) = read_config(config)? else { return Ok(false) };
    let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) else { return Ok(false) };
    let before = auths.len();
    auths.retain(|k, _| !key_matches(k, registry));
    if auths.len() == before {
        return Ok(false);
    }
    write_config(config, &doc)?;
    Ok(true)
}

fn invalid(path: &Path, why: &str) -> Error {
    Error::Invalid(format!("credentials file {}: {why}", path.display()))
}

/// The file's top-level object; None if there is no file. An empty file
/// counts as an empty object, as docker treats it.
fn read_config(path: &Path) -> Result<Option<Map<String, Value>>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(invalid(path, "not a JSON object")),
        Err(e) => Err(invalid(path, &format!("invalid JSON: {e}"))),
    }
}

/// Writes through a temporary file in the same directory and a rename, so a
/// crash leaves the old file or the new one, never half of one; the
/// temporary file is created 0600 so the secrets are never readable by
/// others, not even briefly. A symlinked config (dotfile managers) is
/// replaced at its target, keeping the link.
fn write_config(path: &Path, doc: &Map<String, Value>) -> Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|e| Error::Invalid(format!("encoding credentials: {e}")))?;
    bytes.push(b'\n');

    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().map_or_else(|| "config.json".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let result = (|| -> io::Result<()> {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        // The umask can only remove bits; set exactly 0600 anyway.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)?;
        // The rename is durable once the directory is synced; not being able
        // to sync it is no reason to fail.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(format!("writing {}", target.display()), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_other_keys_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        assert_eq!(load_with_fallback(&path, &[], "127.0.0.1:5000").unwrap(), None);
        store_credentials(&path, "127.0.0.1:5000", &Credentials::new("alice", "pa:ss")).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

        // Another tool's keys survive our writes.
        let mut doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        doc["psFormat"] = Value::String("table {{.ID}}".into());
        doc["auths"]["other.example.com"] = serde_json::json!({"auth": STANDARD.encode("bob:x"), "email": "b@x"});
        fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

        store_credentials(&path, "docker.io", &Credentials::new("carol", "secret")).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "table {{.ID}}");
        assert_eq!(doc["auths"]["other.example.com"]["email"], "b@x");
        assert_eq!(doc["auths"]["127.0.0.1:5000"]["auth"], STANDARD.encode("alice:pa:ss"));
        assert_eq!(doc["auths"][DOCKER_HUB_KEY]["auth"], STANDARD.encode("carol:secret"));

        let load = |r: &str| load_with_fallback(&path, &[], r).unwrap();
        assert_eq!(load("127.0.0.1:5000"), Some(Credentials::new("alice", "pa:ss")), "passwords may contain ':'");
        assert_eq!(load("docker.io"), Some(Credentials::new("carol", "secret")));
        assert_eq!(load("index.docker.io"), Some(Credentials::new("carol", "secret")));
        assert_eq!(load("other.example.com"), Some(Credentials::new("bob", "x")));
        assert_eq!(load("127.0.0.1:5001"), None);

        assert!(remove_credentials(&path, "docker.io").unwrap());
        assert!(!remove_credentials(&path, "docker.io").unwrap());
        assert_eq!(load("docker.io"), None);
        assert_eq!(load("127.0.0.1:5000"), Some(Credentials::new("alice", "pa:ss")));
        let doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "table {{.ID}}");
        assert!(!remove_credentials(&dir.path().join("missing.json"), "x").unwrap());
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }

    #[test]
    fn other_spellings_and_identity_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let doc = serde_json::json!({"auths": {
            "https://registry.example.com/v1/": {"auth": STANDARD.encode("u:p").trim_end_matches('=')},
            "http://LOCALHOST:5000": {"username": "x", "password": "y"},
            "https://index.docker.io/v1/": {"auth": STANDARD.encode("ignored:"), "identitytoken": "refresh-1"},
            "helper.example.com": {},
        }, "credsStore": "desktop"});
        fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
        let load = |r: &str| load_with_fallback(&path, &[], r).unwrap();
        assert_eq!(load("registry.example.com"), Some(Credentials::new("u", "p")));
        assert_eq!(load("localhost:5000"), Some(Credentials::new("x", "y")));
        let hub = load("docker.io").unwrap();
        assert_eq!(hub.as_identity_token(), Some("refresh-1"));
        assert_eq!(load("helper.example.com"), None);

        // Storing replaces the old spelling instead of adding a second entry.
        store_credentials(&path, "registry.example.com", &Credentials::new("u2", "p2")).unwrap();
        store_credentials(&path, "docker.io", &Credentials::identity_token("refresh-2")).unwrap();
        let doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let mut keys: Vec<&String> = doc["auths"].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["helper.example.com", "http://LOCALHOST:5000", DOCKER_HUB_KEY, "registry.example.com"]);
        assert_eq!(doc["credsStore"], "desktop");
        assert_eq!(load("registry.example.com"), Some(Credentials::new("u2", "p2")));
        assert_eq!(load("docker.io"), Some(Credentials::identity_token("refresh-2")));
    }

    #[test]
    fn docker_file_is_a_read_only_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("berth.json");
        let docker = dir.path().join("docker.json");
        fs::write(
            &docker,
            serde_json::to_vec(&serde_json::json!({"auths": {"ghcr.io": {"auth": STANDARD.encode("d:1")}}})).unwrap(),
        )
        .unwrap();
        let fallbacks = [docker.clone()];
        assert_eq!(load_with_fallback(&ours, &fallbacks, "ghcr.io").unwrap(), Some(Credentials::new("d", "1")));
        store_credentials(&ours, "ghcr.io", &Credentials::new("b", "2")).unwrap();
        assert_eq!(load_with_fallback(&ours, &fallbacks, "ghcr.io").unwrap(), Some(Credentials::new("b", "2")));
        assert!(fs::read_to_string(&docker).unwrap().contains(&STANDARD.encode("d:1")));
        // A broken docker file is not our problem; a broken berth file is.
        fs::write(&docker, "{not json").unwrap();
        assert_eq!(load_with_fallback(&ours, &fallbacks, "quay.io").unwrap(), None);
        fs::write(&ours, "[1]").unwrap();
        let e = load_with_fallback(&ours, &fallbacks, "quay.io").unwrap_err().to_string();
        assert!(e.contains("berth.json") && e.contains("not a JSON object"), "{e}");
        fs::write(&ours, r#"{"auths":{"quay.io":{"auth":"!!!"}}}"#).unwrap();
        let e = load_with_fallback(&ours, &fallbacks, "quay.io").unwrap_err().to_string();
        assert!(e.contains("not valid base64"), "{e}");
    }

    #[test]
    fn symlinked_config_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("config.json");
        fs::write(&real, "{}").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        store_credentials(&link, "r.example", &Credentials::new("a", "b")).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(load_with_fallback(&link, &[], "r.example").unwrap(), Some(Credentials::new("a", "b")));
    }

    #[test]
    fn debug_hides_the_password() {
        let s = format!("{:?}", Credentials::new("alice", "hunter2"));
        assert!(s.contains("alice") && !s.contains("hunter2"), "{s}");
        assert_eq!(Credentials::new("a", "b").basic_authorization(), "Basic YTpi");
        assert_eq!(Credentials::new("a", "b").as_identity_token(), None);
    }

    #[test]
    fn hub_key_is_dockers() {
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("registry-1.docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
