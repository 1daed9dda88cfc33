//! `exec`: create records the request, start runs it and streams it over
//! the hijacked connection, inspect reports its exit. The process is run by
//! `berth exec` itself in a child (the runtime forks, which a threaded
//! server must not do), on a pseudo-terminal of ours when the exec has a
//! terminal (so resizes reach it), on pipes otherwise.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

use crate::create::StrOrList;
use crate::http::{self, ApiError, ApiResult, Body};
use crate::router::{read_body, Ctx};

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    attach_stdin: Option<bool>,
    attach_stdout: Option<bool>,
    attach_stderr: Option<bool>,
    tty: Option<bool>,
    console_size: Option<Vec<u16>>,
    env: Option<Vec<String>>,
    cmd: Option<StrOrList>,
    user: Option<String>,
    working_dir: Option<String>,
    privileged: Option<bool>,
    /// docker-py spells it `detachKeys` (Go's decoder ignores case).
    #[serde(alias = "detachKeys")]
    detach_keys: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: Option<bool>,
    tty: Option<bool>,
    console_size: Option<Vec<u16>>,
}

#[derive(Default)]
struct Progress {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: u32,
}

pub struct Exec {
    id: String,
    container_id: String,
    cmd: Vec<String>,
    env: Vec<String>,
    user: String,
    workdir: String,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    privileged: bool,
    console: Option<(u16, u16)>,
    /// What ends a terminal session, the process left running.
    detach_keys: Vec<u8>,
    progress: Mutex<Progress>,
    /// The terminal's master while it runs, for resize.
    master: Mutex<Option<OwnedFd>>,
}

fn size_of(v: &Option<Vec<u16>>) -> Option<(u16, u16)> {
    match v.as_deref() {
        Some([h, w]) if *h > 0 && *w > 0 => Some((*h, *w)),
        _ => None,
    }
}

pub async fn create(cx: &Ctx, id: &str, body: Bytes) -> ApiResult<Response<Body>> {
    let b: CreateBody = http::parse_body(&body)?;
    let cmd = b.cmd.map(StrOrList::into_vec).unwrap_or_default();
    if cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let detach_keys = crate::hijack::detach_keys(b.detach_keys.as_deref(), "escape")?;
    let id = id.to_string();
    let c = cx.st.engine(move |e| Ok(e.container(&id)?)).await?;
    if c.state.status != engine::Status::Running {
        return Err(ApiError::conflict(format!("container {} is not running", c.id)));
    }
    let exec = Arc::new(Exec {
        id: engine::names::new_id(),
        container_id: c.id,
        cmd,
        env: b.env.unwrap_or_default(),
        user: b.user.unwrap_or_default(),
        workdir: b.working_dir.unwrap_or_default(),
        tty: b.tty.unwrap_or(false),
        stdin: b.attach_stdin.unwrap_or(false),
        stdout: b.attach_stdout.unwrap_or(true),
        stderr: b.attach_stderr.unwrap_or(true),
        privileged: b.privileged.unwrap_or(false),
        console: size_of(&b.console_size),
        detach_keys,
        progress: Mutex::new(Progress::default()),
        master: Mutex::new(None),
    });
    let eid = exec.id.clone();
    if let Ok(mut m) = cx.st.execs.lock() {
        // Finished execs are kept for inspection, within reason.
        if m.len() > 512 {
            m.retain(|_, e| e.progress.lock().map(|p| p.running || !p.started).unwrap_or(false));
        }
        m.insert(eid.clone(), exec);
    }
    Ok(http::json(StatusCode::CREATED, &json!({ "Id": eid })))
}

fn find(cx: &Ctx, id: &str) -> ApiResult<Arc<Exec>> {
    cx.st
        .execs
        .lock()
        .ok()
        .and_then(|m| m.get(id).cloned())
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
}

pub async fn inspect(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let e = find(cx, id)?;
    let p = e.progress.lock().map_err(|_| ApiError::internal("exec state poisoned"))?;
    let (entry, args) = e.cmd.split_first().map_or((String::new(), vec![]), |(a, r)| (a.clone(), r.to_vec()));
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "ID": e.id, "Running": p.running, "ExitCode": p.exit_code, "CanRemove": false,
            "ProcessConfig": {"tty": e.tty, "entrypoint": entry, "arguments": args, "privileged": e.privileged, "user": e.user},
            "OpenStdin": e.stdin, "OpenStdout": e.stdout, "OpenStderr": e.stderr,
            "ContainerID": e.container_id, "DetachKeys": String::from_utf8_lossy(&e.detach_keys), "Pid": p.pid,
        }),
    ))
}

fn set_size(fd: i32, rows: u16, cols: u16) -> std::io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub async fn resize(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let e = find(cx, id)?;
    let h: u16 = cx.query.int("h")?.unwrap_or(0);
    let w: u16 = cx.query.int("w")?.unwrap_or(0);
    if let Some(m) = e.master.lock().ok().as_ref().and_then(|m| m.as_ref()) {
        set_size(m.as_raw_fd(), h, w).map_err(|err| ApiError::internal(format!("resizing exec {}: {err}", e.id)))?;
    } else if !e.tty {
        return Err(ApiError::bad_request(format!("exec {} has no terminal to resize", e.id)));
    }
    Ok(http::response(StatusCode::OK, "text/plain", http::empty()))
}

fn command(cx: &Ctx, e: &Exec, detach: bool) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(&cx.st.exe);
    c.arg("--root").arg(&cx.st.root).arg("exec");
    if detach {
        c.arg("-d");
    }
    if e.stdin && !detach {
        c.arg("-i");
    }
    if e.tty {
        c.arg("-t");
    }
    for kv in &e.env {
        c.arg("-e").arg(kv);
    }
    if !e.user.is_empty() {
        c.arg("-u").arg(&e.user);
    }
    if !e.workdir.is_empty() {
        c.arg("-w").arg(&e.workdir);
    }
    c.arg(&e.container_id).arg("--").args(&e.cmd);
    c.kill_on_drop(false);
    c
}

fn finish(e: &Exec, code: i32) {
    if let Ok(mut p) = e.progress.lock() {
        p.running = false;
        p.exit_code = Some(code);
    }
    if let Ok(mut m) = e.master.lock() {
        m.take();
    }
}

fn exit_code(st: std::io::Result<std::process::ExitStatus>) -> i32 {
    match st {
        Ok(s) => s.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0)),
        Err(_) => 126,
    }
}

pub async fn start(cx: &Ctx, id: &str, mut req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let e = find(cx, id)?;
    let upgrade = crate::hijack::wants_upgrade(&req);
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let b: StartBody = http::parse_body(&read_body(req).await?)?;
    {
        let mut p = e.progress.lock().map_err(|_| ApiError::internal("exec state poisoned"))?;
        if p.started {
            return Err(ApiError::conflict(format!("exec {} has already started", e.id)));
        }
        p.started = true;
        p.running = true;
    }
    let tty = b.tty.unwrap_or(e.tty);
    if b.detach.unwrap_or(false) {
        let st = command(cx, &e, true).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).output().await;
        let code = match st {
            Ok(o) if o.status.success() => 0,
            Ok(o) => {
                finish(&e, exit_code(Ok(o.status)));
                return Err(ApiError::internal(String::from_utf8_lossy(&o.stderr).trim().to_string()));
            }
            Err(err) => return Err(ApiError::internal(format!("starting exec: {err}"))),
        };
        finish(&e, code);
        return Ok(http::response(StatusCode::OK, "application/json", http::empty()));
    }
    let console = size_of(&b.console_size).or(e.console);
    let delay = crate::hijack::needs_delay(cx);
    let mut cmd = command(cx, &e, false);
    match on_upgrade {
        Some(on_upgrade) => {
            let child = spawn(&mut cmd, &e, tty, console)?;
            tokio::spawn(async move {
                let Ok(up) = on_upgrade.await else { return };
                let (cr, cw) = tokio::io::split(TokioIo::new(up));
                run(child, e, cr, cw, tty, delay).await;
            });
            Ok(crate::hijack::upgraded(tty, cx.version))
        }
        None => {
            // No upgrade asked: the output as the response body.
            let child = spawn(&mut cmd, &e, tty, console)?;
            let (tx, body) = http::channel();
            let (pr, pw) = tokio::io::duplex(64 << 10);
            tokio::spawn(async move {
                let (_, w) = tokio::io::split(pw);
                run(child, e, tokio::io::empty(), w, tty, false).await;
            });
            tokio::spawn(async move {
                let mut pr = pr;
                let mut buf = vec![0u8; 32 << 10];
                while let Ok(n) = pr.read(&mut buf).await {
                    if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            });
            Ok(http::response(StatusCode::OK, crate::hijack::content_type(tty), body))
        }
    }
}

struct Child {
    proc: tokio::process::Child,
    /// The terminal's master, when there is one.
    master: Option<OwnedFd>,
}

fn openpty() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (mut m, mut s) = (-1, -1);
    // SAFETY: openpty writes two fds; the name, termios and size pointers may be null.
    if unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds were just opened for us.
    Ok(unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) })
}

fn spawn(cmd: &mut tokio::process::Command, e: &Exec, tty: bool, console: Option<(u16, u16)>) -> ApiResult<Child> {
    let fail = |err: std::io::Error| ApiError::internal(format!("starting exec: {err}"));
    if tty {
        let (master, slave) = openpty().map_err(fail)?;
        let _ = rustix_cloexec(master.as_raw_fd());
        if let Some((h, w)) = console {
            let _ = set_size(master.as_raw_fd(), h, w);
        }
        let dup = |f: &OwnedFd| f.try_clone().map(Stdio::from).map_err(fail);
        cmd.stdin(dup(&slave)?).stdout(dup(&slave)?).stderr(dup(&slave)?);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // Its own session with the terminal as its controlling one,
                // so a resize signals it.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let proc = cmd.spawn().map_err(fail)?;
        drop(slave);
        if let Ok(mut m) = e.master.lock() {
            *m = master.try_clone().ok();
        }
        Ok(Child { proc, master: Some(master) })
    } else {
        cmd.stdin(if e.stdin { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let proc = cmd.spawn().map_err(fail)?;
        Ok(Child { proc, master: None })
    }
}

fn rustix_cloexec(fd: i32) -> std::io::Result<()> {
    // SAFETY: F_SETFD on an fd we own.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Streams the child's output to the client (framed unless a terminal),
/// the client's input to the child; records the exit before the client's
/// stream ends, so its inspect right after sees it.
async fn run<R, W>(mut child: Child, e: Arc<Exec>, mut cr: R, mut cw: W, tty: bool, delay: bool)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if let Ok(mut p) = e.progress.lock() {
        p.pid = child.proc.id().unwrap_or(0);
    }
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(64);
    // The detach keys end the client's session, not the process: its
    // output is drained from then on, so it never blocks on a full pipe
    // (or sees its terminal hang up).
    let detached = Arc::new(AtomicBool::new(false));
    let detach = Arc::new(Notify::new());
    let writer = tokio::spawn({
        let detach = detach.clone();
        async move {
            if delay {
                tokio::time::sleep(crate::hijack::DELAY).await;
            }
            loop {
                tokio::select! {
                    b = out_rx.recv() => match b {
                        Some(b) if cw.write_all(&b).await.is_ok() => {}
                        _ => break,
                    },
                    _ = detach.notified() => {
                        let _ = cw.shutdown().await;
                        return None;
                    }
                }
            }
            let _ = cw.flush().await;
            Some(cw)
        }
    });
    let mut readers = Vec::new();
    let input;
    match child.master.take() {
        Some(master) => {
            let Ok(wfd) = master.try_clone() else { return };
            let mut r = tokio::fs::File::from_std(std::fs::File::from(master));
            let mut w = tokio::fs::File::from_std(std::fs::File::from(wfd));
            let tx = out_tx.clone();
            let gone = detached.clone();
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 16 << 10];
                // A terminal's master reads EIO once the child side closes.
                while let Ok(n) = r.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() && !gone.load(Ordering::SeqCst) {
                        break;
                    }
                }
            }));
            let mut watch = Some(engine::attach::DetachWatch::new(e.detach_keys.clone()));
            let (gone, detach) = (detached.clone(), detach.clone());
            input = tokio::spawn(async move {
                if crate::hijack::copy_input(&mut cr, &mut w, &mut watch).await {
                    gone.store(true, Ordering::SeqCst);
                    detach.notify_one();
                }
            });
        }
        None => {
            for (stream, pipe) in [
                (1u8, child.proc.stdout.take().map(|p| Box::new(p) as Box<dyn AsyncRead + Unpin + Send>)),
                (2u8, child.proc.stderr.take().map(|p| Box::new(p) as Box<dyn AsyncRead + Unpin + Send>)),
            ] {
                let Some(mut pipe) = pipe else { continue };
                let tx = out_tx.clone();
                let wanted = if stream == 1 { e.stdout } else { e.stderr };
                readers.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 << 10];
                    while let Ok(n) = pipe.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if wanted && tx.send(crate::containers::frame(stream, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            let stdin = child.proc.stdin.take();
            input = tokio::spawn(async move {
                match stdin {
                    Some(mut s) => {
                        let _ = tokio::io::copy(&mut cr, &mut s).await;
                        let _ = s.shutdown().await;
                    }
                    None => {
                        let _ = tokio::io::copy(&mut cr, &mut tokio::io::sink()).await;
                    }
                }
            });
        }
    }
    drop(out_tx);
    let status = child.proc.wait().await;
    let code = exit_code(status);
    // What the child wrote before it exited is still in the pipes.
    if tty {
        // A process left in the background may hold the terminal open.
        for mut r in readers {
            if tokio::time::timeout(std::time::Duration::from_millis(200), &mut r).await.is_err() {
                r.abort();
            }
        }
    } else {
        for r in readers {
            let _ = r.await;
        }
    }
    finish(&e, code);
    input.abort();
    if let Ok(Some(mut cw)) = writer.await {
        let _ = cw.shutdown().await;
    }
}
