//! Hijacked connections: `attach` and `exec start` answer `101 UPGRADED`
//! and the socket becomes a byte pipe: the container's output (docker's
//! 8-byte frames, or raw with a terminal) one way, its stdin the other.
//! Attach relays to the container's monitor, whose socket speaks the same
//! framing; a container not started yet is attached when its start comes.

use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::http::{self, ApiError, ApiResult, Body};
use crate::router::Ctx;

pub fn content_type(tty: bool) -> &'static str {
    stream_type(tty, (1, 50))
}

/// Below API 1.42 dockerd calls every hijacked stream raw (clients decide
/// the framing from the container's Tty anyway).
pub fn stream_type(tty: bool, version: (u32, u32)) -> &'static str {
    if tty || version < (1, 42) {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

pub fn wants_upgrade(req: &Request<Incoming>) -> bool {
    req.headers().get(hyper::header::UPGRADE).is_some()
}

/// The 101 answer; the connection is the handler's once it is sent.
pub fn upgraded(tty: bool, version: (u32, u32)) -> Response<Body> {
    let mut r = http::response(StatusCode::SWITCHING_PROTOCOLS, stream_type(tty, version), http::empty());
    let h = r.headers_mut();
    h.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("Upgrade"));
    h.insert(hyper::header::UPGRADE, hyper::header::HeaderValue::from_static("tcp"));
    r
}

/// docker-py reads the stream under a buffered reader that loses bytes
/// arriving with the 101 headers; Go clients keep them. Output to other
/// clients waits a moment so it comes in a read of its own.
pub fn needs_delay(cx: &Ctx) -> bool {
    !cx.headers
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("Docker-Client/") || ua.starts_with("Go-http-client"))
}

pub const DELAY: Duration = Duration::from_millis(50);

/// `detachKeys` of attach (or an exec's `DetachKeys`): the keys that end
/// a terminal session; docker's ctrl-p,ctrl-q when not given. `what`
/// names them in dockerd's refusal.
pub fn detach_keys(spec: Option<&str>, what: &str) -> ApiResult<Vec<u8>> {
    match spec.filter(|s| !s.is_empty()) {
        None => Ok(engine::attach::DEFAULT_DETACH_KEYS.to_vec()),
        Some(s) => engine::attach::parse_detach_keys(s)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid {what} keys ({s}) provided"))),
    }
}

/// What the container has logged so far, in the attach's framing
/// (`logs=1`): the streams asked for.
async fn past_output(cx: &Ctx, c: &engine::Container) -> ApiResult<Vec<u8>> {
    let opts = engine::logs::ReadOptions {
        tail: None,
        since: None,
        until: None,
        stdout: cx.query.bool("stdout")?,
        stderr: cx.query.bool("stderr")?,
    };
    let (id, tty) = (c.id.clone(), c.config.tty);
    cx.st
        .engine(move |e| {
            let mut out = Vec::new();
            let path = e.log_path(&id);
            engine::logs::read(&path, &opts, false, &mut || false, &mut |entry| {
                if tty {
                    out.extend_from_slice(entry.log.as_bytes());
                } else {
                    let stream = if entry.stream == "stderr" { 2 } else { 1 };
                    out.extend_from_slice(&crate::containers::frame(stream, entry.log.as_bytes()));
                }
                Ok(())
            })
            .map_err(|err| ApiError::internal(format!("reading the logs of {id}: {err}")))?;
            Ok(out)
        })
        .await
}

pub async fn attach(cx: &Ctx, id: &str, mut req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let want_stdin = cx.query.bool("stdin")?;
    let logs = cx.query.bool("logs")?;
    let stream = cx.query.bool("stream")?;
    let keys = detach_keys(cx.query.get("detachKeys"), "detach")?;
    let id = id.to_string();
    let c = cx.st.engine(move |e| Ok(e.container(&id)?)).await?;
    let tty = c.config.tty;
    let past = if logs { past_output(cx, &c).await? } else { Vec::new() };
    let delay = needs_delay(cx);
    if !stream {
        // The logs (if asked) and the end: nothing live is attached, so a
        // stopped container is no error and nobody waits for a start.
        if !wants_upgrade(&req) {
            return Ok(http::response(StatusCode::OK, content_type(tty), http::full(past)));
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(up) = on_upgrade.await else { return };
            let mut io = TokioIo::new(up);
            if delay {
                tokio::time::sleep(DELAY).await;
            }
            let _ = io.write_all(&past).await;
            let _ = io.shutdown().await;
        });
        return Ok(upgraded(tty, cx.version));
    }
    let running = matches!(c.state.status, engine::Status::Running | engine::Status::Paused);
    // Where the monitor's connection will come from.
    let source = if running {
        Source::Now(
            engine::attach::connect(&c.id).map_err(|e| ApiError::conflict(format!("attaching to {}: {e}", c.name)))?,
        )
    } else {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = cx.st.attach_waiters.lock() {
            w.entry(c.id.clone()).or_default().push(tx);
        }
        Source::AtStart(rx)
    };
    // The keys only end terminal sessions, as in dockerd.
    let watch = tty.then(|| engine::attach::DetachWatch::new(keys));
    if !wants_upgrade(&req) {
        // Without an upgrade (some SDK calls): the output as a plain stream.
        let (tx, body) = http::channel();
        tokio::spawn(async move {
            if !past.is_empty() && tx.send(bytes::Bytes::from(past)).await.is_err() {
                return;
            }
            let Some(s) = source.get::<tokio::io::Empty>(None).await else { return };
            let Ok(mut m) = tokio_stream(s) else { return };
            let mut buf = vec![0u8; 32 << 10];
            while let Ok(n) = m.read(&mut buf).await {
                if n == 0 || tx.send(bytes::Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    break;
                }
            }
        });
        return Ok(http::response(StatusCode::OK, content_type(tty), body));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let io = TokioIo::new(up);
        let (mut cr, mut cw) = tokio::io::split(io);
        if !past.is_empty() {
            if delay {
                tokio::time::sleep(DELAY).await;
            }
            if cw.write_all(&past).await.is_err() {
                return;
            }
        }
        // Until the start, the client may send stdin (kept) or go away.
        let mut early = Vec::new();
        let mut eof = false;
        let Some(s) = source.get(Some((&mut cr, &mut early, &mut eof))).await else { return };
        let Ok(m) = tokio_stream(s) else { return };
        relay(cr, cw, m, Input { early, eof, wanted: want_stdin, watch }, tty, delay).await;
    });
    Ok(upgraded(tty, cx.version))
}

enum Source {
    Now(StdUnixStream),
    AtStart(oneshot::Receiver<StdUnixStream>),
}

impl Source {
    /// The monitor's connection; None when the start never came. While
    /// waiting, what the client sends goes to `early`; its end of input
    /// (a half-close, as clients without stdin do at once) sets `eof`.
    async fn get<R: AsyncRead + Unpin>(
        self,
        client: Option<(&mut R, &mut Vec<u8>, &mut bool)>,
    ) -> Option<StdUnixStream> {
        match self {
            Source::Now(s) => Some(s),
            Source::AtStart(mut rx) => match client {
                None => rx.await.ok(),
                Some((r, early, eof)) => {
                    let mut buf = [0u8; 4096];
                    while !*eof {
                        tokio::select! {
                            s = &mut rx => return s.ok(),
                            n = r.read(&mut buf) => match n {
                                Ok(0) | Err(_) => *eof = true,
                                Ok(n) => early.extend_from_slice(&buf[..n]),
                            },
                        }
                    }
                    rx.await.ok()
                }
            },
        }
    }
}

fn tokio_stream(s: StdUnixStream) -> std::io::Result<tokio::net::UnixStream> {
    s.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(s)
}

/// The client's side of a relay: what it sent before the container was
/// there, whether its input had ended, whether the container takes it, and
/// the detach keys to watch it for.
pub struct Input {
    pub early: Vec<u8>,
    pub eof: bool,
    pub wanted: bool,
    pub watch: Option<engine::attach::DetachWatch>,
}

/// Copies the client's input to `w` until it ends (Ok(false)) or the detach
/// keys come (Ok(true)).
pub async fn copy_input<R, W>(cr: &mut R, w: &mut W, watch: &mut Option<engine::attach::DetachWatch>) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 << 10];
    let mut out = Vec::with_capacity(buf.len());
    loop {
        let n = match cr.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        out.clear();
        let detach = match watch {
            Some(wt) => wt.feed(&buf[..n], &mut out),
            None => {
                out.extend_from_slice(&buf[..n]);
                false
            }
        };
        if !out.is_empty() && w.write_all(&out).await.is_err() {
            return false;
        }
        if detach {
            return true;
        }
    }
}

/// Copies both ways until the container's output ends. The client's end
/// of input is passed on as a half-close (without a terminal the output
/// goes on; with one the session ends and the container runs on). The
/// detach keys end the session, the container left running.
pub async fn relay<R, W, M>(mut cr: R, mut cw: W, m: M, input: Input, tty: bool, delay: bool)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    M: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut mr, mut mw) = tokio::io::split(m);
    let mut down = tokio::spawn(async move {
        if delay {
            tokio::time::sleep(DELAY).await;
        }
        let _ = tokio::io::copy(&mut mr, &mut cw).await;
        let _ = cw.shutdown().await;
    });
    let Input { early, eof, wanted, mut watch } = input;
    let mut up = tokio::spawn(async move {
        if wanted {
            let mut detached = false;
            if !early.is_empty() {
                let mut pending = Vec::new();
                detached = match &mut watch {
                    Some(w) => w.feed(&early, &mut pending),
                    None => {
                        pending = early;
                        false
                    }
                };
                let _ = mw.write_all(&pending).await;
            }
            if !eof && !detached {
                detached = copy_input(&mut cr, &mut mw, &mut watch).await;
            }
            if !detached {
                let _ = mw.shutdown().await;
            }
            detached
        } else {
            // Input is not wanted: the session lasts as long as the output.
            if !eof {
                let _ = tokio::io::copy(&mut cr, &mut tokio::io::sink()).await;
            }
            std::future::pending::<bool>().await
        }
    });
    tokio::select! {
        _ = &mut down => up.abort(),
        detached = &mut up => {
            if tty || detached.unwrap_or(false) {
                down.abort();
            } else {
                let _ = down.await;
            }
        }
    }
}
