//! The registry API operations (OCI distribution spec): manifests, blobs
//! and uploads for one registry host.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use super::auth::{pull_scopes, push_scopes};
use super::endpoint::{percent_encode, resolve, with_query};
use super::errors::describe_error_body;
use super::transport::{discard, header, BodyStream, Call, Payload, Shared};
use super::{Fetched, PushOutcome, RegistryOptions};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::io::read_full;
use crate::manifest::media;

/// Manifests are small documents; containerd refuses larger ones too, and a
/// registry sending more is not sending a manifest.
const MAX_MANIFEST: u64 = 4 << 20;
/// Progress is reported about this often during a monolithic upload.
const PROGRESS_STEP: u64 = 256 << 10;

/// A client of one registry. Cloning is cheap, and clones share the
/// connection pool, what the registry said about authentication and the
/// tokens already obtained, so one client can serve several threads.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("registry", &self.shared.registry).field("base", &self.shared.base).finish()
    }
}

/// A repository name as the API takes it in a URL path: lowercase
/// components that start with a letter or digit (so never `..`).
fn check_repo(repo: &str) -> Result<()> {
    let ok = !repo.is_empty()
        && repo.len() <= 255
        && repo.split('/').all(|c| {
            c.as_bytes().first().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("invalid repository name {repo:?}")))
    }
}

/// A tag, or a digest (returned, so the content can be checked against it).
fn check_reference(reference: &str) -> Result<Option<Digest>> {
    if reference.contains(':') {
        return Ok(Some(reference.parse::<Digest>()?));
    }
    let b = reference.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || b"_.-".contains(&c));
    if ok {
        Ok(None)
    } else {
        Err(Error::Invalid(format!("invalid tag {reference:?}")))
    }
}

/// `repo:tag` or `repo@digest`, as docker names what was not found.
fn named(repo: &str, reference: &str) -> String {
    let sep = if reference.contains(':') { '@' } else { ':' };
    format!("{repo}{sep}{reference}")
}

/// The media type of a fetched manifest: the registry's `Content-Type`
/// when it is a manifest type; when it is generic or missing (static file
/// servers, some proxies), what the document says about itself.
fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> String {
    let ct = content_type.and_then(|c| c.split(';').next()).map(str::trim).filter(|c| !c.is_empty());
    let generic = match ct {
        None => true,
        Some(c) if media::is_manifest(c) || media::is_index(c) => return c.to_string(),
        Some(c) => matches!(c, "application/json" | "text/plain" | "application/octet-stream"),
    };
    if generic {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
            config: Option<serde_json::Value>,
        }
        if let Ok(p) = serde_json::from_slice::<Probe>(bytes) {
            match (p.media_type.filter(|m| !m.is_empty()), p.manifests, p.config) {
                (Some(m), _, _) => return m,
                (None, Some(_), _) => return media::OCI_INDEX.to_string(),
                (None, None, Some(_)) => return media::OCI_MANIFEST.to_string(),
                _ => {}
            }
        }
    }
    ct.unwrap_or_default().to_string()
}

fn content_type_base(value: Option<&str>) -> String {
    value.and_then(|c| c.split(';').next()).map_or(String::new(), |c| c.trim().to_string())
}

/// The registry's digest header, when it is one we can check against.
fn digest_header(resp: &ureq::http::Response<ureq::Body>) -> Option<Digest> {
    header(resp, "docker-content-digest").and_then(|d| d.trim().parse().ok())
}

/// Counts what a streamed upload has read from the caller, reports it,
/// never reads past the declared size, and notices a body that ends early.
struct Counting<'a> {
    inner: io::Take<&'a mut dyn Read>,
    size: u64,
    count: u64,
    reported: u64,
    short: bool,
    progress: &'a mut dyn FnMut(u64),
}

impl<'a> Counting<'a> {
    fn new(body: &'a mut dyn Read, size: u64, progress: &'a mut dyn FnMut(u64)) -> Counting<'a> {
        Counting { inner: body.take(size), size, count: 0, reported: 0, short: false, progress }
    }
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if n == 0 && !buf.is_empty() && self.count < self.size {
            // An error, not end-of-file: with a Content-Length promised,
            // the transport would otherwise wait for the rest forever.
            self.short = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the blob ended after {} of {} bytes", self.count, self.size),
            ));
        }
        if n == 0 || self.count - self.reported >= PROGRESS_STEP {
            self.reported = self.count;
            (self.progress)(self.count);
        }
        Ok(n)
    }
}

impl Client {
    /// A client for `registry` as in [`crate::Reference::registry`]
    /// (`docker.io`, `ghcr.io`, `127.0.0.1:5000`); `docker.io` is served
    /// from `registry-1.docker.io`. Nothing is sent until the first call.
    pub fn new(registry: &str, opts: RegistryOptions) -> Result<Client> {
        Ok(Client { shared: Arc::new(Shared::new(registry, opts)?) })
    }

    /// The registry as given to [`Client::new`].
    pub fn registry(&self) -> &str {
        &self.shared.registry
    }

    /// `scheme://host[:port]` the API is reached at.
    pub fn base_url(&self) -> &str {
        &self.shared.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.shared.base)
    }

    fn call(
        &self,
        method: &'static str,
        url: String,
        headers: Vec<(&'static str, String)>,
        scopes: &[String],
        payload: Payload,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        self.shared.call(&Call { method, url, headers, scopes }, payload)
    }

    /// `GET /v2/`, authenticated as the registry demands: succeeds when the
    /// registry is there and accepts these credentials (what `berth login`
    /// checks). With a token server, the credentials are checked by asking
    /// it for a token without scope, as docker does.
    pub fn ping(&self) -> Result<()> {
        let url = self.url("/v2/");
        let resp = self.call("GET", url.clone(), vec![], &[], Payload::Empty)?;
        match resp.status().as_u16() {
            200..=299 => {
                discard(resp);
                Ok(())
            }
            404 => Err(self
                .shared
                .error(format!("{} does not serve the registry API (GET /v2/ answered 404)", self.shared.base))),
            _ => Err(self.shared.status_error(resp, "GET", &url)),
        }
    }

    /// A manifest or index by tag or digest, in any of the types berth reads
    /// ([`media::ACCEPT_MANIFESTS`]). The bytes are checked against the
    /// registry's `Docker-Content-Digest` and, when `reference` is a digest,
    /// against it; a mismatch is [`Error::DigestMismatch`].
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Fetched> {
        check_repo(repo)?;
        let pinned = check_reference(reference)?;
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let accept = vec![("accept", media::ACCEPT_MANIFESTS.join(", "))];
        let mut resp = self.call("GET", url.clone(), accept, &pull_scopes(repo), Payload::Empty)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(self.not_found(resp, repo, reference)),
            401 | 403 => {
                let e = self.shared.status_error(resp, "GET", &url);
                let Error::Registry { registry, message } = e else { return Err(e) };
                return Err(Error::Registry {
                    registry,
                    message: format!(
                        "pull access denied for {repo}, repository does not exist or may require 'berth login': {message}"
                    ),
                });
            }
            _ => return Err(self.shared.status_error(resp, "GET", &url)),
        }
        let announced = digest_header(&resp);
        let content_type = header(&resp, "content-type").map(str::to_string);
        let bytes = resp.body_mut().with_config().limit(MAX_MANIFEST).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => self.shared.error(format!(
                "manifest {} is larger than {} MiB",
                named(repo, reference),
                MAX_MANIFEST >> 20
            )),
            e => self.shared.transport_error(e, "GET", &url),
        })?;
        let digest = Digest::of(&bytes);
        for expected in [announced, pinned].into_iter().flatten() {
            if expected != digest {
                return Err(Error::DigestMismatch { expected, actual: digest });
            }
        }
        let media_type = manifest_media_type(content_type.as_deref(), &bytes);
        Ok(Fetched { bytes, media_type, digest })
    }

    fn not_found(&self, mut resp: ureq::http::Response<ureq::Body>, repo: &str, reference: &str) -> Error {
        let body = resp.body_mut().with_config().limit(64 << 10).read_to_vec().unwrap_or_default();
        let said = describe_error_body(&body).unwrap_or_else(|| "manifest unknown".to_string());
        self.shared.error(format!("manifest for {} not found: {said}", named(repo, reference)))
    }

    /// The digest, media type and size of a manifest without downloading
    /// it; None if the registry does not have it. Registries that do not
    /// say the digest on HEAD are asked with GET instead.
    pub fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<(Digest, String, u64)>> {
        check_repo(repo)?;
        let pinned = check_reference(reference)?;
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let accept = vec![("accept", media::ACCEPT_MANIFESTS.join(", "))];
        let resp = self.call("HEAD", url.clone(), accept, &pull_scopes(repo), Payload::Empty)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.shared.status_error(resp, "HEAD", &url)),
        }
        let media_type = content_type_base(header(&resp, "content-type"));
        let size = header(&resp, "content-length").and_then(|s| s.trim().parse::<u64>().ok());
        match (digest_header(&resp), size) {
            (Some(digest), Some(size)) if media::is_manifest(&media_type) || media::is_index(&media_type) => {
                if let Some(expected) = pinned.filter(|p| *p != digest) {
                    return Err(Error::DigestMismatch { expected, actual: digest });
                }
                Ok(Some((digest, media_type, size)))
            }
            _ => {
                let f = self.get_manifest(repo, reference)?;
                let size = f.bytes.len() as u64;
                Ok(Some((f.digest, f.media_type, size)))
            }
        }
    }

    /// The blob's size if `repo` has it (HEAD), None if not.
    pub fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        check_repo(repo)?;
        self.blob_exists_for(repo, digest, &pull_scopes(repo))
    }

    fn blob_exists_for(&self, repo: &str, digest: &Digest, scopes: &[String]) -> Result<Option<u64>> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self.call("HEAD", url.clone(), vec![], scopes, Payload::Empty)?;
        match resp.status().as_u16() {
            200..=299 => {
                let size = header(&resp, "content-length").and_then(|s| s.trim().parse().ok()).unwrap_or(0);
                discard(resp);
                Ok(Some(size))
            }
            404 => Ok(None),
            _ => Err(self.shared.status_error(resp, "HEAD", &url)),
        }
    }

    /// The blob's bytes as they arrive, following the registry's redirect
    /// to its storage (without our credentials if that is another host).
    /// Nothing is verified here: the caller hashes what it reads. Read
    /// errors name the registry and the blob.
    pub fn get_blob(&self, repo: &str, digest: &Digest) -> Result<Box<dyn Read + Send>> {
        self.get_blob_from(repo, digest, 0)
    }

    /// The blob's bytes from `offset` on, to resume a download: a `Range`
    /// request; a registry that ignores it (200, the whole blob) has the
    /// first `offset` bytes skipped here, so the result is the same.
    pub fn get_blob_from(&self, repo: &str, digest: &Digest, offset: u64) -> Result<Box<dyn Read + Send>> {
        check_repo(repo)?;
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let headers = if offset > 0 { vec![("range", format!("bytes={offset}-"))] } else { vec![] };
        let resp = self.call("GET", url.clone(), headers, &pull_scopes(repo), Payload::Empty)?;
        let context = format!("registry {}: reading blob {digest} of {repo}", self.shared.registry);
        match resp.status().as_u16() {
            206 if offset > 0 => Ok(Box::new(BodyStream::new(resp, context, self.shared.opts.read_timeout))),
            200 => {
                let mut body = BodyStream::new(resp, context, self.shared.opts.read_timeout);
                if offset > 0 {
                    let skipped = io::copy(&mut (&mut body).take(offset), &mut io::sink())
                        .map_err(|e| self.shared.error(format!("skipping to byte {offset} of blob {digest}: {e}")))?;
                    if skipped < offset {
                        return Err(self.shared.error(format!("blob {digest} is shorter than {offset} bytes")));
                    }
                }
                Ok(Box::new(body))
            }
            404 => {
                let mut resp = resp;
                let body = resp.body_mut().with_config().limit(64 << 10).read_to_vec().unwrap_or_default();
                let said = describe_error_body(&body).unwrap_or_else(|| "blob unknown".into());
                Err(self.shared.error(format!("blob {digest} not found in {repo}: {said}")))
            }
            _ => Err(self.shared.status_error(resp, "GET", &url)),
        }
    }

    /// Stores a manifest under a tag (or its digest) with its media type as
    /// `Content-Type`. Returns the digest of `body`, after checking that the
    /// registry computed the same one.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Result<Digest> {
        check_repo(repo)?;
        let pinned = check_reference(reference)?;
        let digest = Digest::of(body);
        if let Some(expected) = pinned.filter(|p| *p != digest) {
            return Err(Error::DigestMismatch { expected, actual: digest });
        }
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let headers = vec![("content-type", media_type.to_string())];
        let resp = self.call("PUT", url.clone(), headers, &push_scopes(repo, None), Payload::Bytes(body))?;
        if !resp.status().is_success() {
            return Err(self.shared.status_error(resp, "PUT", &url));
        }
        let announced = digest_header(&resp);
        discard(resp);
        match announced {
            Some(theirs) if theirs != digest => Err(Error::DigestMismatch { expected: digest, actual: theirs }),
            _ => Ok(digest),
        }
    }

    /// Uploads a blob unless the registry has it; tries a cross-repository mount from `mount_from` (another repo on the
    /// same registry) first, and uploads normally if the registry will not mount.
    /// `chunk_size`: None (or zero) = monolithic (POST, then one PUT streaming the body), Some(n) = chunked (PATCH n
    /// bytes at a time with Content-Range, then PUT). Exactly `size` bytes are read from `body`; fewer is
    /// [`Error::SizeMismatch`]. `progress` gets the number of bytes sent so far. The registry checks the digest.
    // The argument list is the API the push orchestration was written against.
    #[allow(clippy::too_many_arguments)]
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: &mut dyn Read,
        chunk_size: Option<u64>,
        mount_from: Option<&str>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<PushOutcome> {
        check_repo(repo)?;
        if let Some(from) = mount_from {
            check_repo(from)?;
        }
        let mount_from = mount_from.filter(|f| *f != repo);
        // One token for everything this push does.
        let scopes = push_scopes(repo, mount_from);
        if self.blob_exists_for(repo, digest, &scopes)?.is_some() {
            return Ok(PushOutcome::Existed);
        }
        let mut location = None;
        if let Some(from) = mount_from {
            let url = self.url(&format!(
                "/v2/{repo}/blobs/uploads/?mount={}&from={}",
                percent_encode(&digest.to_string()),
                percent_encode(from)
            ));
            let resp = self.call("POST", url.clone(), vec![], &scopes, Payload::Bytes(&[]))?;
            match resp.status().as_u16() {
                201 => {
                    discard(resp);
                    return Ok(PushOutcome::Mounted);
                }
                // Not mounted (the source lacks it, or we may not read it):
                // the registry opened an ordinary upload instead.
                202 => location = Some(self.upload_location(resp, &url)?),
                // A registry without mount support: upload as usual.
                _ => discard(resp),
            }
        }
        let location = match location {
            Some(l) => l,
            None => {
                let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
                let resp = self.call("POST", url.clone(), vec![], &scopes, Payload::Bytes(&[]))?;
                if resp.status().as_u16() != 202 {
                    return Err(self.shared.status_error(resp, "POST", &url));
                }
                self.upload_location(resp, &url)?
            }
        };
        match chunk_size.filter(|n| *n > 0) {
            None => self.upload_monolithic(&location, digest, size, body, &scopes, progress)?,
            Some(n) => self.upload_chunked(location, digest, size, n, body, &scopes, progress)?,
        }
        Ok(PushOutcome::Uploaded)
    }

    /// Where to send the next part of an upload: the response's Location,
    /// which may be relative and carries the registry's upload state.
    fn upload_location(&self, resp: ureq::http::Response<ureq::Body>, url: &str) -> Result<String> {
        let location = header(&resp, "location").map(|l| resolve(url, l));
        discard(resp);
        location.ok_or_else(|| {
            self.shared.error(format!("the registry answered an upload request without a Location ({url})"))
        })
    }

    fn upload_monolithic(
        &self,
        location: &str,
        digest: &Digest,
        size: u64,
        body: &mut dyn Read,
        scopes: &[String],
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let url = with_query(location, "digest", &digest.to_string());
        let headers =
            vec![("content-type", "application/octet-stream".to_string()), ("content-length", size.to_string())];
        let mut counting = Counting::new(body, size, progress);
        let sent = self.call("PUT", url.clone(), headers, scopes, Payload::Stream(&mut counting));
        if counting.short {
            // The transport fails too when the body ends early; the short
            // body is the cause worth reporting.
            return Err(Error::SizeMismatch { digest: digest.clone(), expected: size, actual: counting.count });
        }
        let resp = sent?;
        if !resp.status().is_success() {
            return Err(self.shared.status_error(resp, "PUT", &url));
        }
        discard(resp);
        if counting.reported != size {
            (counting.progress)(size);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn upload_chunked(
        &self,
        mut location: String,
        digest: &Digest,
        size: u64,
        chunk: u64,
        body: &mut dyn Read,
        scopes: &[String],
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let capacity = usize::try_from(chunk.min(size).max(1)).unwrap_or(usize::MAX);
        let mut buf = vec![0u8; capacity];
        let mut offset = 0u64;
        while offset < size {
            let want = usize::try_from((size - offset).min(chunk)).unwrap_or(capacity).min(capacity);
            let got = read_full(body, &mut buf[..want])
                .map_err(|e| Error::io(format!("reading blob {digest} to push it"), e))?;
            if got == 0 {
                return Err(Error::SizeMismatch { digest: digest.clone(), expected: size, actual: offset });
            }
            let end = offset + got as u64 - 1;
            let headers = vec![
                ("content-type", "application/octet-stream".to_string()),
                ("content-range", format!("{offset}-{end}")),
            ];
            let resp = self.call("PATCH", location.clone(), headers, scopes, Payload::Bytes(&buf[..got]))?;
            if resp.status().as_u16() != 202 {
                return Err(self.shared.status_error(resp, "PATCH", &location));
            }
            location = self.upload_location(resp, &location)?;
            offset += got as u64;
            progress(offset);
        }
        let url = with_query(&location, "digest", &digest.to_string());
        let resp = self.call("PUT", url.clone(), vec![], scopes, Payload::Bytes(&[]))?;
        if !resp.status().is_success() {
            return Err(self.shared.status_error(resp, "PUT", &url));
        }
        discard(resp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_shareable_between_threads() {
        fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
        assert_shareable::<Client>();
    }

    #[test]
    fn hosts_and_schemes() {
        let c = |r: &str, insecure| Client::new(r, RegistryOptions { insecure, ..Default::default() }).unwrap();
        assert_eq!(c("docker.io", false).base_url(), "https://registry-1.docker.io");
        assert_eq!(c("docker.io", false).registry(), "docker.io");
        assert_eq!(c("127.0.0.1:5000", false).base_url(), "http://127.0.0.1:5000");
        assert_eq!(c("[::1]:5000", false).base_url(), "http://[::1]:5000");
        assert_eq!(c("reg.example.com:5000", false).base_url(), "https://reg.example.com:5000");
        assert_eq!(c("reg.example.com:5000", true).base_url(), "http://reg.example.com:5000");
        for bad in ["", "a b", "a/b", "user@host", "h?x"] {
            assert!(Client::new(bad, RegistryOptions::default()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_checked_before_they_reach_a_url() {
        for ok in ["a", "team/app", "a.b/c_d/e-f", "0x/1"] {
            check_repo(ok).unwrap();
        }
        for bad in ["", "A", "a//b", "../x", "a/./b", "a?b", "a b", "/a", "a/", "a/-b"] {
            assert!(check_repo(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_reference("v1.0_rc-1").unwrap(), None);
        let d = Digest::of(b"x");
        assert_eq!(check_reference(&d.to_string()).unwrap(), Some(d));
        for bad in ["", ".x", "a/b", "sha512:abcd", "sha256:zz", &"t".repeat(129)] {
            assert!(check_reference(bad).is_err(), "{bad:?}");
        }
        assert_eq!(named("a/b", "v1"), "a/b:v1");
        assert_eq!(named("a/b", "sha256:00"), "a/b@sha256:00");
    }

    #[test]
    fn media_type_from_header_or_document() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        let image = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let docker = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#;
        assert_eq!(
            manifest_media_type(Some("application/vnd.oci.image.index.v1+json; charset=utf-8"), image),
            media::OCI_INDEX
        );
        assert_eq!(manifest_media_type(Some("application/json"), index), media::OCI_INDEX);
        assert_eq!(manifest_media_type(None, image), media::OCI_MANIFEST);
        assert_eq!(manifest_media_type(Some("text/plain"), docker), media::DOCKER_MANIFEST);
        // An unknown specific type is passed on for the parser to refuse.
        assert_eq!(manifest_media_type(Some("application/vnd.example+json"), image), "application/vnd.example+json");
        assert_eq!(manifest_media_type(Some("application/json"), b"[]"), "application/json");
    }

    #[test]
    fn counting_reader_reports_and_stops_at_the_size() {
        let data = vec![1u8; (PROGRESS_STEP * 2 + 10) as usize];
        let mut src: &[u8] = &data;
        let mut seen = Vec::new();
        let mut report = |n| seen.push(n);
        let mut c = Counting::new(&mut src, PROGRESS_STEP * 2 + 5, &mut report);
        let mut out = Vec::new();
        io::copy(&mut c, &mut out).unwrap();
        assert!(!c.short);
        assert_eq!(out.len() as u64, PROGRESS_STEP * 2 + 5);
        assert_eq!(seen.last(), Some(&(PROGRESS_STEP * 2 + 5)));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        assert!(seen.len() >= 3, "{seen:?}");

        let mut tiny: &[u8] = b"abc";
        let mut ignore = |_| {};
        let mut c = Counting::new(&mut tiny, 10, &mut ignore);
        assert_eq!(io::copy(&mut c, &mut io::sink()).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(c.short && c.count == 3);
    }
}
