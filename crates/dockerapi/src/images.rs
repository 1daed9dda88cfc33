//! `/images/…` and `/build`: pull and push with docker's JSON progress
//! stream, list, inspect, history, tag, remove, prune, save and load, and
//! the legacy builder's endpoint over berth's builder.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use image::progress::{Event, Progress};
use image::{ImageStore, Reference};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::http::{self, ApiError, ApiResult, Body, Filters};
use crate::router::Ctx;
use crate::State;

/// `docker.io`, `localhost:5000`… from what `docker login` sends.
pub fn registry_host(server: &str) -> String {
    let h = server.trim_start_matches("https://").trim_start_matches("http://");
    let h = h.split('/').next().unwrap_or(h);
    match h {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// Credentials from `X-Registry-Auth` (base64url JSON; `e30=` is none).
fn registry_auth(cx: &Ctx) -> ApiResult<Option<image::registry::Credentials>> {
    let Some(raw) = cx.headers.get("x-registry-auth").and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let raw = raw.trim().trim_end_matches('=');
    if raw.is_empty() {
        return Ok(None);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(raw))
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    let user = v.get("username").and_then(Value::as_str).unwrap_or("");
    let pass = v.get("password").and_then(Value::as_str).unwrap_or("");
    if user.is_empty() && pass.is_empty() {
        return Ok(None);
    }
    Ok(Some(image::registry::Credentials { username: user.to_string(), password: pass.to_string() }))
}

/// Pull and push progress as docker's JSON messages.
pub(crate) struct JsonProgress {
    tx: mpsc::Sender<Bytes>,
    /// Set once anything was sent: from then on errors go in the stream.
    sent: Arc<AtomicBool>,
}

impl JsonProgress {
    pub(crate) fn send(&self, v: Value) {
        self.sent.store(true, Ordering::SeqCst);
        let _ = self.tx.blocking_send(http::line(&v));
    }

    /// Text written here goes out as `{"stream": …}` messages (the
    /// legacy builder's output).
    pub(crate) fn stream_writer(&self) -> StreamWriter {
        StreamWriter { tx: self.tx.clone(), sent: self.sent.clone() }
    }
}

pub(crate) struct StreamWriter {
    tx: mpsc::Sender<Bytes>,
    sent: Arc<AtomicBool>,
}

impl Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sent.store(true, Ordering::SeqCst);
        let v = json!({ "stream": String::from_utf8_lossy(buf) });
        self.tx.blocking_send(http::line(&v)).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bar(current: u64, total: u64) -> String {
    let width = 50u64;
    let done = (current.min(total) * width).checked_div(total).unwrap_or(0) as usize;
    let arrow = if done < width as usize { ">" } else { "" };
    format!(
        "[{}{}{}] {}/{}",
        "=".repeat(done),
        arrow,
        " ".repeat((width as usize).saturating_sub(done + arrow.len())),
        size(current),
        size(total)
    )
}

fn size(b: u64) -> String {
    let f = b as f64;
    if f >= 1e9 {
        format!("{:.3}GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2}MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1}kB", f / 1e3)
    } else {
        format!("{b}B")
    }
}

impl Progress for JsonProgress {
    fn layer(&self, id: &str, event: Event) {
        let (status, detail) = match event {
            Event::Waiting => ("Waiting".to_string(), json!({})),
            Event::AlreadyExists => ("Already exists".into(), json!({})),
            Event::Downloading { current, total } => {
                let v = json!({"status": "Downloading", "progressDetail": {"current": current, "total": total},
                               "progress": bar(current, total), "id": id});
                return self.send(v);
            }
            Event::Extracting => ("Extracting".into(), json!({})),
            Event::PullComplete => ("Pull complete".into(), json!({})),
            Event::Pushing { current, total } => {
                let v = json!({"status": "Pushing", "progressDetail": {"current": current, "total": total},
                               "progress": bar(current, total), "id": id});
                return self.send(v);
            }
            Event::Pushed => ("Pushed".into(), json!({})),
            Event::LayerExists => ("Layer already exists".into(), json!({})),
            Event::Mounted { from } => (format!("Mounted from {from}"), json!({})),
        };
        self.send(json!({"status": status, "progressDetail": detail, "id": id}));
    }

    fn message(&self, line: &str) {
        // "latest: Pulling from library/busybox" → id + status, as docker.
        match line.split_once(": Pulling from ") {
            Some((tag, repo)) => self.send(json!({"status": format!("Pulling from {repo}"), "id": tag})),
            None => self.send(json!({ "status": line })),
        }
    }
}

/// Runs `work` with a progress stream: an error before anything was sent
/// is the response (a 404 the CLI acts on); after that it ends the stream
/// with docker's error message.
pub(crate) async fn progress_stream<F>(work: F) -> ApiResult<Response<Body>>
where
    F: FnOnce(&JsonProgress) -> ApiResult<Vec<Value>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Bytes>(256);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Option<ApiError>>();
    tokio::task::spawn_blocking(move || {
        let p = JsonProgress { tx, sent: Arc::new(AtomicBool::new(false)) };
        match work(&p) {
            Ok(tail) => {
                for v in tail {
                    p.send(v);
                }
                let _ = done_tx.send(None);
            }
            Err(e) => {
                let started = p.sent.load(Ordering::SeqCst);
                if started {
                    let _ = p.tx.blocking_send(http::stream_error(&e.message));
                    let _ = done_tx.send(None);
                } else {
                    let _ = done_tx.send(Some(e));
                }
            }
        }
    });
    // Wait for the first message or the end. The work's end is looked at
    // first: a failure before any message is sent drops the sender too, and
    // an empty channel must not pass for success (a 200 with no body).
    let mut done_rx = done_rx;
    let first = tokio::select! {
        biased;
        d = &mut done_rx => {
            if let Ok(Some(e)) = d {
                return Err(e);
            }
            rx.recv().await
        }
        m = rx.recv() => match m {
            Some(m) => Some(m),
            None => {
                if let Ok(Some(e)) = done_rx.await {
                    return Err(e);
                }
                None
            }
        },
    };
    let (out, body) = http::channel();
    tokio::spawn(async move {
        if let Some(m) = first {
            if out.send(m).await.is_err() {
                return;
            }
        }
        while let Some(m) = rx.recv().await {
            if out.send(m).await.is_err() {
                return;
            }
        }
    });
    Ok(http::response(StatusCode::OK, "application/json", body))
}

pub async fn create(cx: &Ctx, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    if let Some(src) = cx.query.get("fromSrc") {
        return import(cx, src, req).await;
    }
    let from = cx
        .query
        .get("fromImage")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage is required"))?;
    let tag = cx.query.get("tag").filter(|s| !s.is_empty());
    let name = match tag {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_string(),
    };
    let reference: Reference =
        name.parse().map_err(|e| ApiError::bad_request(format!("invalid reference format {name:?}: {e}")))?;
    let platform = match cx.query.get("platform").filter(|p| !p.is_empty()) {
        Some(p) => image::manifest::Platform::parse(p).map_err(ApiError::bad_request)?,
        None => image::manifest::Platform::host(),
    };
    let credentials = registry_auth(cx)?;
    let root = cx.st.root.clone();
    progress_stream(move |p| {
        let engine = engine::Engine::open(&root)?;
        let registry = image::registry::RegistryOptions { credentials, ..engine::pull::registry_options(false) };
        let pulled = engine.pull(&reference, platform, registry, p)?;
        let status = if pulled.downloaded { "Downloaded newer image for" } else { "Image is up to date for" };
        Ok(vec![json!({"status": format!("Status: {status} {reference}")})])
    })
    .await
}

/// `POST /images/create?fromSrc=-`: the body is a root filesystem
/// tarball; the answer is docker's progress stream ending with the id.
async fn import(cx: &Ctx, src: &str, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    if src != "-" {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "importing from {src:?} is not supported: send the tarball as the request body with fromSrc=- \
                 (berth fetches nothing from URLs on the daemon's side)"
            ),
        ));
    }
    let changes: Vec<String> = cx.query.all("changes").into_iter().map(str::to_string).collect();
    let checked = (|| {
        engine::commit::parse_changes(&changes)?;
        let Some(repo) = cx.query.get("repo").filter(|r| !r.is_empty()) else { return Ok(None) };
        let name = match cx.query.get("tag").filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_string(),
        };
        name.parse::<Reference>()
            .map(Some)
            .map_err(|e| ApiError::bad_request(format!("invalid reference format {name:?}: {e}")))
    })();
    let tag = match checked {
        Ok(tag) => tag,
        Err(e) => {
            // Read the tarball anyway: a client still writing it when the
            // connection closes sees a broken pipe, not the 400.
            let mut body = req.into_body();
            while let Some(Ok(_)) = body.frame().await {}
            return Err(e);
        }
    };
    let message = cx.query.get("message").map(str::to_string);
    let root = cx.st.root.clone();
    let handle = tokio::runtime::Handle::current();
    progress_stream(move |_| {
        let store = ImageStore::open(&root)?;
        let mut r =
            std::io::BufReader::with_capacity(1 << 20, BodyReader { body: req.into_body(), handle, buf: Bytes::new() });
        let rec = engine::commit::import(&store, &mut r, tag.as_ref(), &changes, message).map_err(|e| {
            // The rest of the tarball is read first, so the client sees the
            // error rather than a broken pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            let e = ApiError::from(e);
            // A tarball that cannot be read is the client's.
            if e.status == StatusCode::INTERNAL_SERVER_ERROR {
                ApiError::bad_request(format!("importing the tarball: {}", e.message))
            } else {
                e
            }
        })?;
        Ok(vec![json!({"status": rec.id.to_string()})])
    })
    .await
}

/// `GET /distribution/{name}/json`: the registry's descriptor of the name
/// and its platforms, without pulling.
pub async fn distribution(cx: &Ctx, name: &str) -> ApiResult<Response<Body>> {
    let reference: Reference =
        name.parse().map_err(|e| ApiError::bad_request(format!("invalid reference format {name:?}: {e}")))?;
    let credentials = registry_auth(cx)?;
    let data = State::blocking(move || {
        let registry = image::registry::RegistryOptions { credentials, ..engine::pull::registry_options(false) };
        engine::pull::registry_data(&reference, registry).map_err(|e| {
            let e = ApiError::from(e);
            // dockerd's status for credentials the registry refuses.
            if e.message.contains("pull access denied") || e.message.contains("unauthorized") {
                ApiError::new(StatusCode::UNAUTHORIZED, e.message)
            } else {
                e
            }
        })
    })
    .await?;
    Ok(http::json(StatusCode::OK, &json!({"Descriptor": data.descriptor, "Platforms": data.platforms})))
}

pub async fn push(cx: &Ctx, name: &str) -> ApiResult<Response<Body>> {
    let name = match cx.query.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let target: Reference =
        name.parse().map_err(|e| ApiError::bad_request(format!("invalid reference format {name:?}: {e}")))?;
    let credentials = registry_auth(cx)?;
    let root = cx.st.root.clone();
    progress_stream(move |p| {
        let store = ImageStore::open(&root)?;
        store.resolve(&name)?;
        p.send(json!({"status": format!("The push refers to repository [{}]", target.name())}));
        let opts = image::push::PushOptions {
            registry: engine::pull::with_stored_credentials(
                image::registry::RegistryOptions { credentials, ..engine::pull::registry_options(false) },
                &target.registry,
            )?,
            progress: p,
            chunk_size: None,
            concurrency: 5,
        };
        let digest = image::push::push(&store, &name, &target, &opts)?;
        let size = store.resolve(&name)?.manifest.size;
        let tag = target.tag.clone().unwrap_or_else(|| "latest".into());
        Ok(vec![
            json!({"status": format!("{tag}: digest: {digest} size: {size}")}),
            json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size}}),
        ])
    })
    .await
}

/// `GET /images/json` entries.
pub fn summaries(store: &ImageStore, filters: &Filters) -> ApiResult<Vec<Value>> {
    // `name` matches every tag of it, `name:tag` that one.
    let refs: Vec<(Reference, bool)> = filters
        .get("reference")
        .iter()
        .filter_map(|r| {
            let tagged = r.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@'));
            r.parse().ok().map(|p| (p, tagged))
        })
        .collect();
    let dangling = match filters.get("dangling").first().map(String::as_str) {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(v) => return Err(ApiError::bad_request(format!("invalid filter 'dangling={v}'"))),
    };
    let mut out = Vec::new();
    for (rec, tags) in store.images()? {
        if dangling.is_some_and(|d| d != tags.is_empty()) {
            continue;
        }
        if !refs.is_empty()
            && !tags.iter().any(|t| refs.iter().any(|(r, tagged)| r.name() == t.name() && (!tagged || r.tag == t.tag)))
        {
            continue;
        }
        let cfg: Value =
            store.content().read(&rec.id).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(json!({}));
        let labels = cfg.pointer("/config/Labels").cloned().filter(|v| !v.is_null()).unwrap_or(json!({}));
        if !filters.get("label").is_empty() {
            let map: std::collections::BTreeMap<String, String> =
                serde_json::from_value(labels.clone()).unwrap_or_default();
            if !filters.labels_match(&map) {
                continue;
            }
        }
        let created = engine::engine::parse_rfc3339(&rec.created).unwrap_or(0);
        let repo_tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        out.push(json!({
            "Id": rec.id.to_string(),
            "ParentId": "",
            "RepoTags": repo_tags,
            "RepoDigests": rec.repo_digests,
            "Created": created,
            "Size": rec.size,
            "SharedSize": -1,
            "VirtualSize": rec.size,
            "Labels": labels,
            "Containers": -1,
        }));
    }
    out.sort_by(|a, b| b["Created"].as_i64().cmp(&a["Created"].as_i64()));
    Ok(out)
}

pub async fn list(cx: &Ctx) -> ApiResult<Response<Body>> {
    let filters = cx.query.filters()?;
    filters.only(&["reference", "dangling", "label", "before", "since"])?;
    let root = cx.st.root.clone();
    let list = State::blocking(move || summaries(&ImageStore::open(&root)?, &filters)).await?;
    Ok(http::json(StatusCode::OK, &Value::Array(list)))
}

pub async fn inspect(cx: &Ctx, name: &str) -> ApiResult<Response<Body>> {
    let root = cx.st.root.clone();
    let name = name.to_string();
    let doc = State::blocking(move || {
        let store = ImageStore::open(&root)?;
        let rec = store.resolve(&name)?;
        Ok(engine::images::inspect(&store, &rec)?)
    })
    .await?;
    Ok(http::json(StatusCode::OK, &doc))
}

pub async fn history(cx: &Ctx, name: &str) -> ApiResult<Response<Body>> {
    let root = cx.st.root.clone();
    let name = name.to_string();
    let rows = State::blocking(move || {
        let store = ImageStore::open(&root)?;
        let rec = store.resolve(&name)?;
        let cfg = image::config::ImageConfig::parse(&store.content().read(&rec.id)?, &rec.id)?;
        let mut sizes = rec.layers.iter().map(|l| store.layer_meta(&l.chain_id).map(|m| m.size).unwrap_or(0));
        let n = cfg.history.len();
        let tags: Vec<String> = store.tags_of(&rec.id)?.iter().map(|t| t.to_string()).collect();
        let mut rows = Vec::new();
        for (i, h) in cfg.history.iter().enumerate() {
            let size = if h.empty_layer { 0 } else { sizes.next().unwrap_or(0) };
            let last = i + 1 == n;
            rows.push(json!({
                "Id": if last { rec.id.to_string() } else { "<missing>".to_string() },
                "Created": h.created.as_deref().and_then(engine::engine::parse_rfc3339).unwrap_or(0),
                "CreatedBy": h.created_by.clone().unwrap_or_default(),
                "Tags": if last { json!(tags) } else { Value::Null },
                "Size": size,
                "Comment": h.comment.clone().unwrap_or_default(),
            }));
        }
        rows.reverse();
        Ok(rows)
    })
    .await?;
    Ok(http::json(StatusCode::OK, &Value::Array(rows)))
}

pub async fn tag(cx: &Ctx, name: &str) -> ApiResult<Response<Body>> {
    let repo =
        cx.query.get("repo").filter(|r| !r.is_empty()).ok_or_else(|| ApiError::bad_request("repo is required"))?;
    let target = match cx.query.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_string(),
    };
    let target: Reference =
        target.parse().map_err(|e| ApiError::bad_request(format!("invalid reference format {target:?}: {e}")))?;
    let root = cx.st.root.clone();
    let name = name.to_string();
    State::blocking(move || Ok(ImageStore::open(&root)?.tag(&name, &target)?)).await?;
    Ok(http::status(StatusCode::CREATED))
}

pub async fn remove(cx: &Ctx, name: &str) -> ApiResult<Response<Body>> {
    let force = cx.query.bool("force")?;
    let root = cx.st.root.clone();
    let name = name.to_string();
    let done = State::blocking(move || {
        let store = ImageStore::open(&root)?;
        Ok(engine::images::remove(&root, &store, &name, force)?)
    })
    .await?;
    let list: Vec<Value> = done
        .into_iter()
        .map(|r| match r {
            engine::images::Removed::Untagged(t) => json!({ "Untagged": t }),
            engine::images::Removed::Deleted(d) => json!({ "Deleted": d }),
        })
        .collect();
    Ok(http::json(StatusCode::OK, &Value::Array(list)))
}

pub async fn prune(cx: &Ctx) -> ApiResult<Response<Body>> {
    let filters = cx.query.filters()?;
    filters.only(&["dangling", "until", "label"])?;
    let all = filters.get("dangling").first().is_some_and(|d| d == "false" || d == "0");
    let root = cx.st.root.clone();
    let (removed, freed) = State::blocking(move || {
        let store = ImageStore::open(&root)?;
        Ok(engine::images::prune(&store, all)?)
    })
    .await?;
    let list: Vec<Value> = removed
        .into_iter()
        .map(|r| match r {
            engine::images::Removed::Untagged(t) => json!({ "Untagged": t }),
            engine::images::Removed::Deleted(d) => json!({ "Deleted": d }),
        })
        .collect();
    Ok(http::json(StatusCode::OK, &json!({"ImagesDeleted": list, "SpaceReclaimed": freed})))
}

/// A writer that sends what is written as body chunks.
struct ChunkWriter(mpsc::Sender<Bytes>);

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn save(cx: &Ctx, names: Vec<String>) -> ApiResult<Response<Body>> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given (names=…)"));
    }
    let root = cx.st.root.clone();
    // Every name must exist before the 200 goes out.
    let check = names.clone();
    let r2 = root.clone();
    State::blocking(move || {
        let store = ImageStore::open(&r2)?;
        for n in &check {
            store.resolve(n)?;
        }
        Ok(())
    })
    .await?;
    let (tx, body) = http::channel();
    tokio::task::spawn_blocking(move || {
        let Ok(store) = ImageStore::open(&root) else { return };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, ChunkWriter(tx));
        // A failure midway leaves a short tar: the client sees it end early.
        let _ = image::archive::save(&store, &names, image::archive::Format::Docker, &mut w);
        let _ = w.flush();
    });
    Ok(http::response(StatusCode::OK, "application/x-tar", body))
}

/// A request body read synchronously, from a blocking thread.
pub(crate) struct BodyReader {
    pub body: Incoming,
    pub handle: tokio::runtime::Handle,
    pub buf: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.handle.block_on(self.body.frame()) {
                None => return Ok(0),
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf = d;
                    }
                }
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

pub async fn load(cx: &Ctx, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let quiet = cx.query.bool("quiet")?;
    let root = cx.st.root.clone();
    let handle = tokio::runtime::Handle::current();
    let loaded = State::blocking(move || {
        let store = ImageStore::open(&root)?;
        let mut r =
            std::io::BufReader::with_capacity(1 << 20, BodyReader { body: req.into_body(), handle, buf: Bytes::new() });
        let loaded = image::archive::load(&store, &mut r);
        if loaded.is_err() {
            // Read the rest: a client still writing the archive when the
            // connection closes sees a broken pipe, not the error.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        }
        Ok(loaded)
    })
    .await?;
    let loaded = match loaded {
        Ok(l) => l,
        // dockerd has answered 200 by the time it reads the archive: the
        // failure is the stream's last message (the CLI prints it and
        // fails, docker-py raises it).
        Err(e) => {
            return Ok(http::response(
                StatusCode::OK,
                "application/json",
                http::full(http::stream_error(&format!("loading the archive: {e}")).to_vec()),
            ))
        }
    };
    let mut text = Vec::new();
    for l in loaded {
        if l.tags.is_empty() {
            text.push(http::line(&json!({"stream": format!("Loaded image ID: {}\n", l.id)})));
        }
        for t in l.tags {
            text.push(http::line(&json!({"stream": format!("Loaded image: {t}\n")})));
        }
    }
    let _ = quiet;
    let mut body = Vec::new();
    for t in text {
        body.extend_from_slice(&t);
    }
    Ok(http::response(StatusCode::OK, "application/json", http::full(body)))
}

pub async fn build(cx: &Ctx, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    crate::legacy_build::build(cx, req).await
}

pub async fn build_prune(cx: &Ctx) -> ApiResult<Response<Body>> {
    let root = cx.st.root.clone();
    let (n, freed) = State::blocking(move || {
        let store = ImageStore::open(&root)?;
        let n = build::cache::prune(&store).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok((n, store.gc()?))
    })
    .await?;
    Ok(http::json(StatusCode::OK, &json!({"CachesDeleted": [], "SpaceReclaimed": freed, "EntriesDeleted": n})))
}
