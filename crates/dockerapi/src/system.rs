//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`, `/auth`.

use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{self, ApiError, ApiResult, Body};
use crate::router::Ctx;
use crate::{State, API_VERSION, MIN_API_VERSION};

pub fn ping(method: &Method) -> Response<Body> {
    let body = if method == Method::HEAD { http::empty() } else { http::full("OK") };
    let mut r = http::response(StatusCode::OK, "text/plain; charset=utf-8", body);
    let h = r.headers_mut();
    for (k, v) in [
        ("builder-version", "1"),
        ("swarm", "inactive"),
        ("cache-control", "no-cache, no-store, must-revalidate"),
        ("pragma", "no-cache"),
    ] {
        h.insert(k, hyper::header::HeaderValue::from_static(v));
    }
    r
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default()
}

fn os_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

pub async fn version(_cx: &Ctx) -> ApiResult<Response<Body>> {
    let v = env!("CARGO_PKG_VERSION");
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "berth"},
            "Components": [{
                "Name": "Engine", "Version": v,
                "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
                            "Arch": arch(), "KernelVersion": kernel_version(), "Experimental": "false"},
            }],
            "Version": v,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": arch(),
            "KernelVersion": kernel_version(),
            "BuildTime": "",
        }),
    ))
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

pub async fn info(cx: &Ctx) -> ApiResult<Response<Body>> {
    let root = cx.st.root.clone();
    let exe = cx.st.exe.clone();
    let (containers, images) = cx
        .st
        .engine(|e| {
            let cs = e.containers()?;
            let images = e.images().images()?.len();
            Ok((cs, images))
        })
        .await?;
    use engine::Status as S;
    let count = |f: &dyn Fn(&S) -> bool| containers.iter().filter(|c| f(&c.state.status)).count();
    let running = count(&|s| matches!(s, S::Running | S::Restarting));
    let paused = count(&|s| *s == S::Paused);
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" };
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "ID": hostname(),
            "Containers": containers.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": containers.len() - running - paused,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
            "CPUShares": true, "CPUSet": true, "PidsLimit": true, "IPv4Forwarding": true,
            "Debug": false,
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "KernelVersion": kernel_version(),
            "OperatingSystem": os_name(),
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "NCPU": ncpu,
            "MemTotal": host_memory(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "Mirrors": []},
            "DockerRootDir": root,
            "Name": hostname(),
            "Labels": [],
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"berth": {"path": exe}},
            "DefaultRuntime": "berth",
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false,
                      "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "berth",
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": null,
        }),
    ))
}

/// docker's `since`/`until`: unix seconds (with a fraction), or RFC 3339.
fn time_param(v: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(v) = v.filter(|v| !v.is_empty()) else { return Ok(None) };
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(Some((secs * 1e9) as i64));
    }
    engine::engine::parse_rfc3339(v)
        .map(|s| Some(s * 1_000_000_000))
        .ok_or_else(|| ApiError::bad_request(format!("invalid timestamp {v:?}")))
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

fn event_json(e: &engine::events::Event) -> Value {
    let mut v = json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": {"ID": e.actor, "Attributes": e.attributes},
        "scope": "local",
        "time": e.time_nano / 1_000_000_000,
        "timeNano": e.time_nano,
    });
    if e.kind == "container" {
        v["status"] = json!(e.action);
        v["id"] = json!(e.actor);
        v["from"] = json!(e.attributes.get("image").cloned().unwrap_or_default());
    }
    v
}

pub async fn events(cx: &Ctx) -> ApiResult<Response<Body>> {
    let since = time_param(cx.query.get("since"))?;
    let until = time_param(cx.query.get("until"))?;
    let mut filter = engine::events::Filter::default();
    for (k, vals) in &cx.query.filters()?.0 {
        for v in vals {
            filter.add(&format!("{k}={v}"))?;
        }
    }
    let start = if since.is_some() { 0 } else { cx.st.engine(|e| Ok(e.last_event_seq()?)).await? };
    let (tx, body) = http::channel();
    let st = cx.st.clone();
    tokio::spawn(async move {
        let mut seq = start;
        loop {
            let f = filter.clone();
            let batch = st.engine(move |e| Ok(e.events_since(seq)?)).await;
            let Ok(batch) = batch else { return };
            let now = now_nanos();
            for ev in batch {
                seq = seq.max(ev.seq);
                if since.is_some_and(|s| ev.time_nano < s) || !f.matches(&ev) {
                    continue;
                }
                if until.is_some_and(|u| ev.time_nano > u) {
                    return;
                }
                if tx.send(http::line(&event_json(&ev))).await.is_err() {
                    return;
                }
            }
            if until.is_some_and(|u| now >= u) || tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Ok(http::response(StatusCode::OK, "application/json", body))
}

pub async fn df(cx: &Ctx) -> ApiResult<Response<Body>> {
    let (containers, images, volumes) = cx
        .st
        .engine(|e| {
            let cs: Vec<Value> = e.containers()?.iter().map(|c| crate::containers::summary(e, c)).collect();
            let images: Vec<Value> = crate::images::summaries(e.images(), &http::Filters::default())?;
            let vols: Vec<Value> = e
                .volumes()?
                .iter()
                .map(|v| {
                    let mut j = engine::inspect::volume(v);
                    let size = engine::ops::disk_usage(&e.volume_dir(&v.name));
                    let refs = e.volume_users(&v.name).map(|u| u.len()).unwrap_or(0);
                    j["UsageData"] = json!({"Size": size, "RefCount": refs});
                    j
                })
                .collect();
            Ok((cs, images, vols))
        })
        .await?;
    let layers: u64 = images.iter().filter_map(|i| i["Size"].as_u64()).sum();
    Ok(http::json(
        StatusCode::OK,
        &json!({"LayersSize": layers, "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": []}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthBody {
    username: Option<String>,
    password: Option<String>,
    serveraddress: Option<String>,
}

/// `docker login`: checks the credentials against the registry; the
/// client keeps them (and sends them with each pull and push).
pub async fn auth(_cx: &Ctx, body: Bytes) -> ApiResult<Response<Body>> {
    let b: AuthBody = http::parse_body(&body)?;
    let server = b.serveraddress.unwrap_or_else(|| "docker.io".into());
    let host = crate::images::registry_host(&server);
    let creds = image::registry::Credentials {
        username: b.username.unwrap_or_default(),
        password: b.password.unwrap_or_default(),
    };
    State::blocking(move || {
        let opts = image::registry::RegistryOptions { credentials: Some(creds), ..Default::default() };
        let client = image::registry::Client::new(&host, opts)?;
        client.ping().map_err(|e| {
            ApiError::new(StatusCode::UNAUTHORIZED, format!("login attempt to {host} failed with status: {e}"))
        })?;
        Ok(())
    })
    .await?;
    Ok(http::json(StatusCode::OK, &json!({"Status": "Login Succeeded", "IdentityToken": ""})))
}
