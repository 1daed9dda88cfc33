//! `/containers/{id}/archive` (what `docker cp` uses): HEAD for a path's
//! stat, GET for a tar of it, PUT to extract a tar into the container. The
//! container's side is `berth internal archive`, a child that has entered
//! the container's root (see engine::copy), as the CLI's `cp` does.

use std::process::Stdio;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{self, ApiError, ApiResult, Body};
use crate::router::Ctx;

const STAT_HEADER: &str = "x-docker-container-path-stat";

fn path_param(cx: &Ctx) -> ApiResult<String> {
    cx.query
        .get("path")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("the path parameter is required"))
}

/// The archiver child for `verb` on container `id`.
async fn child(cx: &Ctx, args: Vec<String>) -> ApiResult<tokio::process::Command> {
    let launcher = cx.st.engine(|e| Ok(e.launcher().clone())).await?;
    let mut cmd = launcher.command("archive", &args[0]);
    cmd.args(&args[1..]);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    Ok(cmd)
}

/// The child's failure, with docker's statuses.
fn failure(stderr: &[u8]) -> ApiError {
    let msg =
        String::from_utf8_lossy(stderr).trim().trim_start_matches("berth: ").trim_start_matches("Error: ").to_string();
    if msg.contains("Could not find") || msg.contains("No such") || msg.contains("not found") {
        ApiError::not_found(msg)
    } else if msg.contains("refusing") || msg.contains("not a directory") {
        ApiError::bad_request(msg)
    } else {
        ApiError::internal(if msg.is_empty() { "the archiver failed".to_string() } else { msg })
    }
}

async fn resolve(cx: &Ctx, id: &str) -> ApiResult<engine::Container> {
    let id = id.to_string();
    cx.st.engine(move |e| Ok(e.container(&id)?)).await
}

/// A path's stat; a missing one is a 404 naming the container as the
/// client did, in dockerd's words.
async fn stat(cx: &Ctx, cid: &str, path: &str, named: &str) -> ApiResult<String> {
    let out = child(cx, vec!["stat".into(), cid.into(), path.into()])
        .await?
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("starting the archiver: {e}")))?;
    if !out.status.success() {
        return Err(match failure(&out.stderr) {
            e if e.status == StatusCode::NOT_FOUND => {
                ApiError::not_found(format!("Could not find the file {path} in container {named}"))
            }
            e => e,
        });
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(String::from_utf8_lossy(&out.stdout).trim()))
}

pub async fn head(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let c = resolve(cx, id).await?;
    let s = stat(cx, &c.id, &path_param(cx)?, id).await?;
    let mut r = http::response(StatusCode::OK, "application/json", http::empty());
    if let Ok(v) = s.parse() {
        r.headers_mut().insert(STAT_HEADER, v);
    }
    Ok(r)
}

pub async fn get(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let c = resolve(cx, id).await?;
    let path = path_param(cx)?;
    let s = stat(cx, &c.id, &path, id).await?;
    let mut proc = child(cx, vec!["out".into(), c.id.clone(), path])
        .await?
        .spawn()
        .map_err(|e| ApiError::internal(format!("starting the archiver: {e}")))?;
    let Some(mut out) = proc.stdout.take() else { return Err(ApiError::internal("no pipe from the archiver")) };
    let (tx, body) = http::channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = out.read(&mut buf).await {
            if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                break;
            }
        }
        let _ = proc.kill().await;
    });
    let mut r = http::response(StatusCode::OK, "application/x-tar", body);
    if let Ok(v) = s.parse() {
        r.headers_mut().insert(STAT_HEADER, v);
    }
    Ok(r)
}

pub async fn put(cx: &Ctx, id: &str, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let c = resolve(cx, id).await?;
    if c.config.read_only && c.state.status == engine::Status::Running {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "container rootfs is marked read-only"));
    }
    let path = path_param(cx)?;
    // The path is the directory to extract into, which must exist (the
    // client has resolved `cp`'s renaming already), in dockerd's words.
    let st = stat(cx, &c.id, &path, id).await?;
    let is_dir = base64::engine::general_purpose::STANDARD
        .decode(&st)
        .ok()
        .and_then(|j| serde_json::from_slice::<serde_json::Value>(&j).ok())
        .and_then(|v| v["mode"].as_u64())
        // A link is resolved in the container by the extraction.
        .is_some_and(|m| m & (1 << 31 | 1 << 27) != 0);
    if !is_dir {
        return Err(ApiError::bad_request("extraction point is not a directory"));
    }
    let mut args = vec!["in".to_string(), c.id.clone(), path];
    if cx.query.bool("copyUIDGID")? {
        args.push("--preserve-owner".into());
    }
    let mut cmd = child(cx, args).await?;
    cmd.stdin(Stdio::piped());
    let mut proc = cmd.spawn().map_err(|e| ApiError::internal(format!("starting the archiver: {e}")))?;
    let Some(mut stdin) = proc.stdin.take() else { return Err(ApiError::internal("no pipe to the archiver")) };
    let mut body = req.into_body();
    let mut upload_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    // The archiver stopping early says why on stderr.
                    if stdin.write_all(&d).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                upload_error = Some(format!("reading the archive: {e}"));
                break;
            }
        }
    }
    drop(stdin);
    let out = proc.wait_with_output().await.map_err(|e| ApiError::internal(format!("the archiver: {e}")))?;
    if let Some(e) = upload_error {
        return Err(ApiError::bad_request(e));
    }
    if !out.status.success() {
        return Err(failure(&out.stderr));
    }
    Ok(http::response(StatusCode::OK, "application/json", http::empty()))
}
