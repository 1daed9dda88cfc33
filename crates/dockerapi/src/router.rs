//! Maps requests to handlers. Paths come with or without a `/v1.NN`
//! prefix; image names in paths keep their `/` and `:`
//! (`/images/reg:5000/team/app/push`), so image routes take every segment
//! between `images` and the action.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::http::{ApiError, ApiResult, Body, Query};
use crate::{
    archive, containers, exec, hijack, images, networks, system, volumes, State, API_VERSION, MIN_API_VERSION,
};

/// Request bodies read whole (JSON) are bounded; archives stream instead.
const MAX_JSON_BODY: usize = 16 << 20;

/// What a handler gets.
pub struct Ctx {
    pub st: Arc<State>,
    pub query: Query,
    pub headers: hyper::HeaderMap,
    /// The negotiated version (`1.50` when unprefixed).
    pub version: (u32, u32),
}

fn version_of(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Splits `/v1.44/containers/json` into the version and the rest.
fn split_version(path: &str) -> ApiResult<((u32, u32), &str)> {
    let max = version_of(API_VERSION).unwrap_or((1, 50));
    let min = version_of(MIN_API_VERSION).unwrap_or((1, 24));
    let Some(rest) = path.strip_prefix("/v") else { return Ok((max, path)) };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some(v) = version_of(ver) else { return Ok((max, path)) };
    if v > max {
        return Err(ApiError::bad_request(format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if v < min {
        return Err(ApiError::bad_request(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok((v, tail))
}

/// Percent-decoding of one path segment (docker-py quotes names).
fn decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn read_body(req: Request<Incoming>) -> ApiResult<Bytes> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_JSON_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(ApiError::bad_request(format!("reading the request body: {e}"))),
    }
}

pub async fn handle(st: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let trace = st.trace.then(|| format!("{} {}", req.method(), req.uri()));
    let mut resp = match route(st, req).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(t) = &trace {
                eprintln!("berth api: {t}: {} {}", e.status.as_u16(), e.message);
            }
            e.into_response()
        }
    };
    if let Some(t) = &trace {
        eprintln!("berth api: {t} -> {}", resp.status().as_u16());
    }
    let h = resp.headers_mut();
    h.insert("api-version", hyper::header::HeaderValue::from_static(API_VERSION));
    h.insert("ostype", hyper::header::HeaderValue::from_static("linux"));
    h.insert("docker-experimental", hyper::header::HeaderValue::from_static("false"));
    if let Ok(v) = format!("berth/{} (linux)", env!("CARGO_PKG_VERSION")).parse() {
        h.insert(hyper::header::SERVER, v);
    }
    resp
}

async fn route(st: Arc<State>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let path = req.uri().path().to_string();
    let (version, rest) = split_version(&path)?;
    let segs: Vec<String> = rest.trim_matches('/').split('/').map(decode).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let cx = Ctx { st, query: Query::parse(req.uri().query()), headers: req.headers().clone(), version };
    use Method as M;
    match (&method, s.as_slice()) {
        (&M::GET | &M::HEAD, ["_ping"]) => Ok(system::ping(&method)),
        (&M::GET, ["version"]) => system::version(&cx).await,
        (&M::GET, ["info"]) => system::info(&cx).await,
        (&M::GET, ["events"]) => system::events(&cx).await,
        (&M::GET, ["system", "df"]) => system::df(&cx).await,
        (&M::POST, ["auth"]) => system::auth(&cx, read_body(req).await?).await,

        (&M::GET, ["containers", "json"]) => containers::list(&cx).await,
        (&M::POST, ["containers", "create"]) => containers::create(&cx, read_body(req).await?).await,
        (&M::POST, ["containers", "prune"]) => containers::prune(&cx).await,
        (&M::GET, ["containers", id, "json"]) => containers::inspect(&cx, id).await,
        (&M::GET, ["containers", id, "top"]) => containers::top(&cx, id).await,
        (&M::GET, ["containers", id, "changes"]) => containers::changes(&cx, id).await,
        (&M::POST, ["commit"]) => containers::commit(&cx, read_body(req).await?).await,
        (&M::GET, ["containers", id, "logs"]) => containers::logs(&cx, id).await,
        (&M::GET, ["containers", id, "stats"]) => containers::stats(&cx, id).await,
        (&M::POST, ["containers", id, "start"]) => containers::start(&cx, id).await,
        (&M::POST, ["containers", id, "stop"]) => containers::stop(&cx, id).await,
        (&M::POST, ["containers", id, "restart"]) => containers::restart(&cx, id).await,
        (&M::POST, ["containers", id, "kill"]) => containers::kill(&cx, id).await,
        (&M::POST, ["containers", id, "pause"]) => containers::pause(&cx, id, true).await,
        (&M::POST, ["containers", id, "unpause"]) => containers::pause(&cx, id, false).await,
        (&M::POST, ["containers", id, "rename"]) => containers::rename(&cx, id).await,
        (&M::POST, ["containers", id, "wait"]) => containers::wait(&cx, id).await,
        (&M::POST, ["containers", id, "resize"]) => containers::resize(&cx, id).await,
        (&M::POST, ["containers", id, "update"]) => {
            let id = id.to_string();
            containers::update(&cx, &id, read_body(req).await?).await
        }
        (&M::POST, ["containers", id, "attach"]) => {
            let id = id.to_string();
            hijack::attach(&cx, &id, req).await
        }
        (&M::POST, ["containers", id, "exec"]) => exec::create(&cx, id, read_body(req).await?).await,
        (&M::DELETE, ["containers", id]) => containers::remove(&cx, id).await,
        (&M::HEAD, ["containers", id, "archive"]) => archive::head(&cx, id).await,
        (&M::GET, ["containers", id, "archive"]) => archive::get(&cx, id).await,
        (&M::PUT, ["containers", id, "archive"]) => {
            let id = id.to_string();
            archive::put(&cx, &id, req).await
        }
        (&M::POST, ["exec", id, "start"]) => {
            let id = id.to_string();
            exec::start(&cx, &id, req).await
        }
        (&M::POST, ["exec", id, "resize"]) => exec::resize(&cx, id).await,
        (&M::GET, ["exec", id, "json"]) => exec::inspect(&cx, id).await,

        (&M::GET, ["images", "json"]) => images::list(&cx).await,
        (&M::POST, ["images", "create"]) => images::create(&cx, req).await,
        (&M::POST, ["images", "load"]) => images::load(&cx, req).await,
        (&M::POST, ["images", "prune"]) => images::prune(&cx).await,
        (&M::GET, ["images", "get"]) => {
            let names: Vec<String> = cx.query.all("names").into_iter().map(str::to_string).collect();
            images::save(&cx, names).await
        }
        (&M::GET, ["images", "search"]) => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "search is not supported: registries that speak the OCI distribution API have no search, \
             and this host has no route to Docker Hub's index",
        )),
        (&M::DELETE, ["images", name @ ..]) if !name.is_empty() => images::remove(&cx, &name.join("/")).await,
        (&M::GET, ["images", name @ .., "json"]) if !name.is_empty() => images::inspect(&cx, &name.join("/")).await,
        (&M::GET, ["images", name @ .., "history"]) if !name.is_empty() => images::history(&cx, &name.join("/")).await,
        (&M::GET, ["images", name @ .., "get"]) if !name.is_empty() => images::save(&cx, vec![name.join("/")]).await,
        (&M::POST, ["images", name @ .., "tag"]) if !name.is_empty() => images::tag(&cx, &name.join("/")).await,
        (&M::POST, ["images", name @ .., "push"]) if !name.is_empty() => images::push(&cx, &name.join("/")).await,
        (&M::GET, ["distribution", name @ .., "json"]) if !name.is_empty() => {
            images::distribution(&cx, &name.join("/")).await
        }
        (&M::POST, ["build"]) => images::build(&cx, req).await,
        (&M::POST, ["build", "prune"]) => images::build_prune(&cx).await,

        (&M::GET, ["networks"]) => networks::list(&cx).await,
        (&M::POST, ["networks", "create"]) => networks::create(&cx, read_body(req).await?).await,
        (&M::POST, ["networks", "prune"]) => networks::prune(&cx).await,
        (&M::GET, ["networks", id]) => networks::inspect(&cx, id).await,
        (&M::DELETE, ["networks", id]) => networks::remove(&cx, id).await,
        (&M::POST, ["networks", id, "connect"]) => networks::connect(&cx, id, read_body(req).await?, true).await,
        (&M::POST, ["networks", id, "disconnect"]) => networks::connect(&cx, id, read_body(req).await?, false).await,

        (&M::GET, ["volumes"]) => volumes::list(&cx).await,
        (&M::POST, ["volumes", "create"]) => volumes::create(&cx, read_body(req).await?).await,
        (&M::POST, ["volumes", "prune"]) => volumes::prune(&cx).await,
        (&M::GET, ["volumes", name]) => volumes::inspect(&cx, name).await,
        (&M::DELETE, ["volumes", name]) => volumes::remove(&cx, name).await,

        // Without swarm mode dockerd answers every swarm route this way;
        // clients' clean-up code (compose, test suites) relies on the 503.
        (_, [first, ..]) if SWARM_ROUTES.contains(first) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
        )),

        _ => Err(ApiError::not_found(format!("page not found: {method} {path}"))),
    }
}

/// The first path segments of swarm mode's routes.
const SWARM_ROUTES: &[&str] = &["swarm", "services", "nodes", "secrets", "configs", "tasks"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked_and_stripped() {
        assert_eq!(split_version("/v1.44/containers/json").unwrap(), ((1, 44), "/containers/json"));
        assert_eq!(split_version("/containers/json").unwrap(), ((1, 50), "/containers/json"));
        assert!(split_version("/v1.52/info").unwrap_err().message.contains("too new"));
        assert!(split_version("/v1.12/info").unwrap_err().message.contains("too old"));
        // A name that only looks like a version prefix is a path.
        assert_eq!(split_version("/volumes/x").unwrap().1, "/volumes/x");
    }

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(decode("reg%3A5000"), "reg:5000");
        assert_eq!(decode("plain"), "plain");
        assert_eq!(decode("bad%zz"), "bad%zz");
        assert_eq!(decode("end%4"), "end%4");
    }
}
