//! `/containers/…`: create, list, inspect, the lifecycle, logs, stats, top,
//! wait, prune. Each is one engine call; the shapes are docker's.

use std::time::Duration;

use bytes::Bytes;
use engine::{Container, Engine, Status};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::http::{self, ApiError, ApiResult, Body};
use crate::router::Ctx;

fn running(c: &Container) -> bool {
    matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn shell_join(args: &[String]) -> String {
    args.iter()
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One entry of `GET /containers/json`.
pub fn summary(e: &Engine, c: &Container) -> Value {
    let full = engine::inspect::container(e, c);
    let mut ports: Vec<Value> = Vec::new();
    if matches!(c.state.status, Status::Running | Status::Paused) {
        for (cp, ip, hp) in &c.state.ports {
            let (p, proto) = cp.split_once('/').unwrap_or((cp, "tcp"));
            ports
                .push(json!({"IP": ip, "PrivatePort": p.parse::<u16>().unwrap_or(0), "PublicPort": hp, "Type": proto}));
        }
    }
    for x in &c.config.exposed_ports {
        if !c.state.ports.iter().any(|(cp, _, _)| cp == x) || ports.is_empty() {
            let (p, proto) = x.split_once('/').unwrap_or((x, "tcp"));
            let port = p.parse::<u16>().unwrap_or(0);
            if !ports.iter().any(|v| v["PrivatePort"] == port && v["Type"] == proto) {
                ports.push(json!({"PrivatePort": port, "Type": proto}));
            }
        }
    }
    json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.config.image,
        "ImageID": c.config.image_id,
        "Command": shell_join(&c.config.args),
        "Created": c.created,
        "Ports": ports,
        "Labels": c.config.labels,
        "State": c.state.status.to_string(),
        "Status": engine::listing::status_text(c, now_secs()),
        "HostConfig": {"NetworkMode": full["HostConfig"]["NetworkMode"]},
        "NetworkSettings": {"Networks": full["NetworkSettings"]["Networks"]},
        "Mounts": full["Mounts"],
    })
}

pub async fn list(cx: &Ctx) -> ApiResult<Response<Body>> {
    let all = cx.query.bool("all")?;
    let limit: Option<i64> = cx.query.int("limit")?;
    let filters = cx.query.filters()?;
    filters.only(&["status", "name", "id", "label", "ancestor", "exited", "health", "network", "volume"])?;
    let list = cx
        .st
        .engine(move |e| {
            let mut cs = e.containers()?;
            cs.sort_by_key(|c| std::cmp::Reverse(c.created));
            let mut out = Vec::new();
            for c in &cs {
                // Without `all`, only running ones (unless a status filter asks).
                if !all && !running(c) && filters.get("status").is_empty() {
                    continue;
                }
                let mut keep = true;
                for (k, vals) in &filters.0 {
                    let any = match k.as_str() {
                        "label" => filters.labels_match(&c.config.labels),
                        "network" => {
                            let v = summary(e, c);
                            vals.iter().any(|n| v["NetworkSettings"]["Networks"].get(n).is_some())
                        }
                        "volume" => vals.iter().any(|n| {
                            c.config.mounts.iter().any(|m| match m {
                                engine::Mount::Volume { name, target, .. } => name == n || target == n,
                                engine::Mount::Bind { source, target, .. } => source == n || target == n,
                                _ => false,
                            })
                        }),
                        "name" => vals.iter().any(|v| c.name.contains(v.trim_start_matches('/'))),
                        _ => {
                            let mut any = false;
                            for v in vals {
                                any |= engine::listing::matches(c, k, v)?;
                            }
                            any
                        }
                    };
                    keep &= any;
                }
                if keep {
                    out.push(summary(e, c));
                }
                if limit.is_some_and(|l| l > 0 && out.len() as i64 >= l) {
                    break;
                }
            }
            Ok(out)
        })
        .await?;
    Ok(http::json(StatusCode::OK, &Value::Array(list)))
}

pub async fn create(cx: &Ctx, body: Bytes) -> ApiResult<Response<Body>> {
    let config = crate::create::config(http::parse_body(&body)?)?;
    let name = cx.query.get("name").filter(|n| !n.is_empty()).map(str::to_string);
    if let Some(p) = cx.query.get("platform").filter(|p| !p.is_empty()) {
        let want = image::manifest::Platform::parse(p).map_err(ApiError::bad_request)?;
        let host = image::manifest::Platform::host();
        if want.os != host.os || want.architecture != host.architecture {
            return Err(ApiError::bad_request(format!(
                "image platform {p} does not match this host ({}/{}): berth runs no emulation",
                host.os, host.architecture
            )));
        }
    }
    let c = cx.st.engine(move |e| Ok(e.create(name.as_deref(), config, engine::PullPolicy::Never)?)).await?;
    Ok(http::json(StatusCode::CREATED, &json!({"Id": c.id, "Warnings": []})))
}

pub async fn inspect(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let doc = cx
        .st
        .engine(move |e| {
            let c = e.container(&id)?;
            Ok(engine::inspect::container(e, &c))
        })
        .await?;
    Ok(http::json(StatusCode::OK, &doc))
}

pub async fn start(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let st = cx.st.clone();
    let resolved = cx
        .st
        .engine({
            let id = id.clone();
            move |e| Ok(e.container(&id)?)
        })
        .await?;
    if running(&resolved) {
        return Ok(http::status(StatusCode::NOT_MODIFIED));
    }
    // An attach waiting for this start gets the first connection, made
    // before the container runs, so it misses nothing.
    let waiter = st.attach_waiters.lock().ok().and_then(|mut w| w.remove(&resolved.id));
    match waiter {
        Some(waiters) if !waiters.is_empty() => {
            let cid = resolved.id.clone();
            let stream = cx.st.engine(move |e| Ok(e.start_attached(&cid)?)).await?;
            let mut waiters = waiters.into_iter();
            if let (Some(s), Some(first)) = (stream, waiters.next()) {
                let _ = first.send(s);
            }
            // Any further ones connect as the container runs.
            for w in waiters {
                if let Ok(s) = engine::attach::connect(&resolved.id) {
                    let _ = w.send(s);
                }
            }
        }
        _ => {
            let cid = resolved.id.clone();
            cx.st.engine(move |e| Ok(e.start(&cid)?)).await?;
        }
    }
    Ok(http::no_content())
}

fn signal_param(cx: &Ctx) -> ApiResult<Option<i32>> {
    match cx.query.get("signal").filter(|s| !s.is_empty()) {
        Some(s) => engine::ops::parse_signal(s).map(Some).map_err(|e| ApiError::bad_request(e.to_string())),
        None => Ok(None),
    }
}

pub async fn stop(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let timeout: Option<i64> = cx.query.int("t")?;
    let signal = signal_param(cx)?;
    let was_running = cx
        .st
        .engine(move |e| {
            let c = e.container(&id)?;
            if !running(&c) {
                return Ok(false);
            }
            e.stop(&c.id, timeout.map(|t| t.max(0) as u32), signal)?;
            Ok(true)
        })
        .await?;
    Ok(if was_running { http::no_content() } else { http::status(StatusCode::NOT_MODIFIED) })
}

pub async fn restart(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let timeout: Option<i64> = cx.query.int("t")?;
    let signal = signal_param(cx)?;
    cx.st
        .engine(move |e| {
            let c = e.container(&id)?;
            e.stop(&c.id, timeout.map(|t| t.max(0) as u32), signal)?;
            e.start(&c.id)?;
            Ok(())
        })
        .await?;
    Ok(http::no_content())
}

pub async fn kill(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let signal = signal_param(cx)?.unwrap_or(libc::SIGKILL);
    cx.st
        .engine(move |e| {
            let c = e.container(&id)?;
            if !running(&c) {
                return Err(ApiError::conflict(format!(
                    "cannot kill container: {id}: container {} is not running",
                    c.id
                )));
            }
            // Only a signal that ends the container counts as stopped by
            // the user (the CLI forwards WINCH and the like too).
            let fatal = matches!(signal, libc::SIGKILL | libc::SIGTERM | libc::SIGINT | libc::SIGQUIT | libc::SIGHUP);
            e.kill(&c.id, signal, fatal)?;
            Ok(())
        })
        .await?;
    Ok(http::no_content())
}

pub async fn pause(cx: &Ctx, id: &str, pause: bool) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    cx.st
        .engine(move |e| {
            if pause {
                e.pause(&id)?;
            } else {
                e.unpause(&id)?;
            }
            Ok(())
        })
        .await?;
    Ok(http::no_content())
}

pub async fn rename(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let name =
        cx.query.get("name").filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad_request("rename needs a name"))?;
    let name = name.trim_start_matches('/').to_string();
    cx.st.engine(move |e| Ok(e.rename(&id, &name)?)).await?;
    Ok(http::no_content())
}

pub async fn remove(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let force = cx.query.bool("force")?;
    let volumes = cx.query.bool("v")?;
    cx.st
        .engine(move |e| {
            let c = e.container(&id)?;
            if running(&c) && !force {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.name
                )));
            }
            e.remove(&c.id, force, volumes)?;
            Ok(())
        })
        .await?;
    Ok(http::no_content())
}

pub async fn prune(cx: &Ctx) -> ApiResult<Response<Body>> {
    let removed = cx.st.engine(|e| Ok(e.prune()?)).await?;
    let ids: Vec<&String> = removed.iter().map(|(id, _)| id).collect();
    let space: u64 = removed.iter().map(|(_, s)| s).sum();
    Ok(http::json(StatusCode::OK, &json!({"ContainersDeleted": ids, "SpaceReclaimed": space})))
}

pub async fn resize(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let h: u16 = cx.query.int("h")?.unwrap_or(0);
    let w: u16 = cx.query.int("w")?.unwrap_or(0);
    cx.st
        .engine(move |e| {
            let c = e.container(&id)?;
            if !running(&c) {
                return Err(ApiError::conflict(format!("container {} is not running", c.id)));
            }
            e.resize(&c.id, h, w)?;
            Ok(())
        })
        .await?;
    Ok(http::response(StatusCode::OK, "text/plain", http::empty()))
}

/// `GET /containers/{id}/changes`: docker's `null` when nothing changed.
pub async fn changes(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let list = cx.st.engine(move |e| Ok(e.diff(&id)?)).await?;
    let list: Vec<Value> = list.iter().map(|c| json!({"Path": c.path, "Kind": c.kind as u8})).collect();
    Ok(http::json(StatusCode::OK, &if list.is_empty() { Value::Null } else { Value::Array(list) }))
}

/// The container config of `POST /commit`'s body (docker-py's `conf`):
/// what it sets goes over the container's, under the `changes`. Empty
/// lists and strings set nothing, as in dockerd's merge.
fn commit_config(body: &[u8]) -> ApiResult<image::archive::ImportConfig> {
    let mut out = image::archive::ImportConfig::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(out);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if v.is_null() {
        return Ok(out);
    }
    let Some(o) = v.as_object() else { return Err(ApiError::bad_request("invalid JSON: the config is not an object")) };
    let bad = |k: &str, want: &str| ApiError::bad_request(format!("invalid JSON: {k} must be {want}"));
    let list = |k: &str| -> ApiResult<Option<Vec<String>>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(v) => serde_json::from_value::<Vec<String>>(v.clone())
                .map(|l| Some(l).filter(|l| !l.is_empty()))
                .map_err(|_| bad(k, "a list of strings")),
        }
    };
    let text = |k: &str| -> ApiResult<Option<String>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
            Some(_) => Err(bad(k, "a string")),
        }
    };
    let keys = |k: &str| -> ApiResult<Vec<String>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Object(m)) => Ok(m.keys().cloned().collect()),
            Some(_) => Err(bad(k, "an object")),
        }
    };
    out.cmd = list("Cmd")?;
    out.entrypoint = list("Entrypoint")?;
    out.env = list("Env")?.unwrap_or_default();
    out.workdir = text("WorkingDir")?;
    out.user = text("User")?;
    out.stop_signal = text("StopSignal")?;
    out.exposed_ports = keys("ExposedPorts")?;
    out.volumes = keys("Volumes")?;
    if let Some(l) = o.get("Labels").filter(|l| !l.is_null()) {
        out.labels = serde_json::from_value(l.clone()).map_err(|_| bad("Labels", "an object of strings"))?;
    }
    Ok(out)
}

/// `POST /commit?container=…`: 201 with the new image's id.
pub async fn commit(cx: &Ctx, body: Bytes) -> ApiResult<Response<Body>> {
    let config = commit_config(&body)?;
    let container = cx
        .query
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("container is required"))?
        .to_string();
    let reference = match cx.query.get("repo").filter(|r| !r.is_empty()) {
        None => None,
        Some(repo) => {
            let name = match cx.query.get("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{repo}:{t}"),
                None => repo.to_string(),
            };
            Some(
                name.parse::<image::Reference>()
                    .map_err(|e| ApiError::bad_request(format!("invalid reference format {name:?}: {e}")))?,
            )
        }
    };
    let opts = engine::commit::CommitOptions {
        reference,
        comment: cx.query.get("comment").map(str::to_string),
        author: cx.query.get("author").map(str::to_string),
        pause: cx.query.bool_or("pause", true)?,
        changes: cx.query.all("changes").into_iter().map(str::to_string).collect(),
        config,
    };
    let id = cx.st.engine(move |e| Ok(e.commit(&container, &opts)?)).await?;
    Ok(http::json(StatusCode::CREATED, &json!({"Id": id.to_string()})))
}

pub async fn top(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let procs = cx.st.engine(move |e| Ok(e.top(&id)?)).await?;
    let hz = engine::stats::ticks_per_second().max(1);
    let rows: Vec<Vec<String>> = procs
        .iter()
        .map(|p| {
            let cpu = p.cpu_ticks / hz;
            vec![
                p.uid.to_string(),
                p.pid.to_string(),
                p.ppid.to_string(),
                "0".into(),
                String::new(),
                if p.tty.is_empty() { "?".into() } else { p.tty.clone() },
                format!("{:02}:{:02}:{:02}", cpu / 3600, cpu / 60 % 60, cpu % 60),
                p.cmd.clone(),
            ]
        })
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "Processes": rows}),
    ))
}

fn stats_json(
    c: &Container,
    s: &engine::stats::Sample,
    prev: &engine::stats::Sample,
    read: &str,
    preread: &str,
) -> Value {
    let cpu = |x: &engine::stats::Sample| {
        json!({"cpu_usage": {"total_usage": x.cpu_ns, "usage_in_kernelmode": 0, "usage_in_usermode": x.cpu_ns},
               "system_cpu_usage": x.system_cpu_ns, "online_cpus": x.online_cpus, "throttling_data": {}})
    };
    json!({
        "read": read,
        "preread": preread,
        "name": format!("/{}", c.name),
        "id": c.id,
        "pids_stats": {"current": s.pids},
        "cpu_stats": cpu(s),
        "precpu_stats": cpu(prev),
        "memory_stats": {"usage": s.memory_usage, "limit": s.memory_limit,
                         "stats": {"inactive_file": s.memory_cache, "cache": s.memory_cache}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": s.block_read},
            {"major": 0, "minor": 0, "op": "write", "value": s.block_write}]},
        "networks": {"eth0": {"rx_bytes": s.net_rx, "tx_bytes": s.net_tx, "rx_packets": 0, "tx_packets": 0,
                              "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}},
    })
}

fn now_rfc3339() -> String {
    engine::engine::now_rfc3339()
}

pub async fn stats(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let stream = cx.query.bool_or("stream", true)?;
    let one_shot = cx.query.bool("one-shot")?;
    let id = id.to_string();
    let (c, first) = cx
        .st
        .engine({
            let id = id.clone();
            move |e| {
                let c = e.container(&id)?;
                let s = if matches!(c.state.status, Status::Running | Status::Paused) {
                    e.stats(&c.id)?
                } else {
                    Default::default()
                };
                Ok((c, s))
            }
        })
        .await?;
    if !stream {
        // One sample and its predecessor a moment apart, so CPU% means
        // something (docker waits for two reads too), unless one-shot.
        let (prev, prev_at) = (first.clone(), now_rfc3339());
        let mut cur = first;
        if !one_shot && matches!(c.state.status, Status::Running) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let cid = c.id.clone();
            cur = cx.st.engine(move |e| Ok(e.stats(&cid).unwrap_or_default())).await?;
        }
        return Ok(http::json(StatusCode::OK, &stats_json(&c, &cur, &prev, &now_rfc3339(), &prev_at)));
    }
    let (tx, body) = http::channel();
    let st = cx.st.clone();
    tokio::spawn(async move {
        let mut prev = Default::default();
        let mut prev_at = String::new();
        loop {
            let cid = c.id.clone();
            let Ok(Ok(s)) = st.engine(move |e| Ok(e.stats(&cid))).await else { return };
            let now = now_rfc3339();
            if tx.send(http::line(&stats_json(&c, &s, &prev, &now, &prev_at))).await.is_err() {
                return;
            }
            prev = s;
            prev_at = now;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(http::response(StatusCode::OK, "application/json", body))
}

/// docker's frame for one chunk of a non-terminal stream.
pub fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut f = Vec::with_capacity(data.len() + 8);
    f.extend_from_slice(&[stream, 0, 0, 0]);
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    Bytes::from(f)
}

fn time_param(v: Option<&str>) -> ApiResult<Option<String>> {
    let Some(v) = v.filter(|v| !v.is_empty() && *v != "0") else { return Ok(None) };
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(Some(engine::engine::rfc3339_secs(secs as i64)));
    }
    if engine::engine::parse_rfc3339(v).is_some() {
        return Ok(Some(v.to_string()));
    }
    Err(ApiError::bad_request(format!("invalid time {v:?}")))
}

pub async fn logs(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let follow = cx.query.bool("follow")?;
    let stdout = cx.query.bool("stdout")?;
    let stderr = cx.query.bool("stderr")?;
    if !stdout && !stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let timestamps = cx.query.bool("timestamps")?;
    let tail = match cx.query.get("tail") {
        None | Some("" | "all") => None,
        Some(t) => {
            Some(t.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid tail {t:?}")))?.max(0) as usize)
        }
    };
    let since = time_param(cx.query.get("since"))?;
    let until = time_param(cx.query.get("until"))?;
    let id = id.to_string();
    let c = cx.st.engine(move |e| Ok(e.container(&id)?)).await?;
    engine::logs::check_readable(&c.config.log)?;
    let tty = c.config.tty;
    let (tx, body) = http::channel();
    let st = cx.st.clone();
    let opts = engine::logs::ReadOptions { tail, since, until, stdout, stderr };
    tokio::task::spawn_blocking(move || {
        let Ok(e) = Engine::open(&st.root) else { return };
        let id = c.id.clone();
        let sender = tx.clone();
        let mut keep_going = || !sender.is_closed() && e.container(&id).map(|c| running(&c)).unwrap_or(false);
        let _ = engine::logs::read(&e.log_path(&c.id), &opts, follow, &mut keep_going, &mut |entry| {
            let text = if timestamps { format!("{} {}", entry.time, entry.log) } else { entry.log.clone() };
            let chunk = if tty {
                Bytes::from(text)
            } else {
                frame(if entry.stream == "stderr" { 2 } else { 1 }, text.as_bytes())
            };
            tx.blocking_send(chunk).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        });
    });
    let ctype = if tty { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    Ok(http::response(StatusCode::OK, ctype, body))
}

/// `wait?condition=not-running|next-exit|removed`: the headers go at once
/// (the CLI waits for them before it sends start), the body at the
/// condition, which the engine judges (a restarting container's stop
/// counts though it runs again by the next look).
pub async fn wait(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let condition: engine::WaitCondition = cx.query.get("condition").unwrap_or("").parse()?;
    let id = id.to_string();
    let waiter = cx.st.engine(move |e| Ok(e.wait_begin(&id, condition)?)).await?;
    let (tx, body) = http::channel();
    let st = cx.st.clone();
    tokio::spawn(async move {
        loop {
            let w = waiter.clone();
            let code = match st.engine(move |e| Ok(e.wait_poll(&w)?)).await {
                Ok(Some(code)) => code,
                Ok(None) => {
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(e) => {
                    let _ = tx.send(http::line(&json!({"StatusCode": -1, "Error": {"Message": e.message}}))).await;
                    return;
                }
            };
            let _ = tx.send(http::line(&json!({"StatusCode": code, "Error": null}))).await;
            return;
        }
    });
    Ok(http::response(StatusCode::OK, "application/json", body))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateBody {
    memory: Option<i64>,
    memory_swap: Option<i64>,
    nano_cpus: Option<i64>,
    cpu_quota: Option<i64>,
    cpu_period: Option<i64>,
    cpu_shares: Option<u64>,
    pids_limit: Option<i64>,
    cpuset_cpus: Option<String>,
    cpuset_mems: Option<String>,
    restart_policy: Option<crate::create::RestartBody>,
}

/// `docker update`: limits applied to the running container's cgroup and
/// kept for its next starts.
pub async fn update(cx: &Ctx, id: &str, body: Bytes) -> ApiResult<Response<Body>> {
    let b: UpdateBody = http::parse_body(&body)?;
    let cpus = match (b.nano_cpus.filter(|n| *n > 0), b.cpu_quota.filter(|q| *q > 0)) {
        (Some(n), _) => Some(n as f64 / 1e9),
        (None, Some(q)) => Some(q as f64 / b.cpu_period.filter(|p| *p > 0).unwrap_or(100_000) as f64),
        _ => None,
    };
    let r = engine::model::Resources {
        memory: b.memory.filter(|m| *m > 0),
        memory_swap: b.memory_swap.filter(|s| *s != 0),
        cpus,
        cpu_shares: b.cpu_shares.filter(|s| *s > 0),
        pids_limit: b.pids_limit.filter(|p| *p != 0),
        cpuset_cpus: b.cpuset_cpus.filter(|s| !s.is_empty()),
        cpuset_mems: b.cpuset_mems.filter(|s| !s.is_empty()),
    };
    let restart = match b.restart_policy {
        Some(p) => match p.name.as_deref().unwrap_or("") {
            "" => None,
            "on-failure" => {
                Some(engine::model::RestartPolicy::OnFailure { max_retries: p.maximum_retry_count.unwrap_or(0) })
            }
            other => Some(engine::model::RestartPolicy::parse(other).map_err(ApiError::bad_request)?),
        },
        None => None,
    };
    let id = id.to_string();
    cx.st.engine(move |e| Ok(e.update(&id, &r, restart)?)).await?;
    Ok(http::json(StatusCode::OK, &json!({ "Warnings": [] })))
}
