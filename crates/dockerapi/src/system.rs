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

pub async fn version(_cx: &Ctx) -> ApiResult<Response<Body>> {
    let v = engine::system::Version::current();
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "berth"},
            "Components": [{
                "Name": "Engine", "Version": v.version,
                "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": v.os,
                            "Arch": v.arch, "KernelVersion": v.kernel_version, "Experimental": "false"},
            }],
            "Version": v.version,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": v.os,
            "Arch": v.arch,
            "KernelVersion": v.kernel_version,
            "BuildTime": "",
        }),
    ))
}

/// The engine's facts, with what docker clients also expect of a daemon
/// that has no swarm, plugins or mirrors.
pub async fn info(cx: &Ctx) -> ApiResult<Response<Body>> {
    let exe = cx.st.exe.clone();
    let info = cx.st.engine(move |e| Ok(e.info(&exe)?)).await?;
    let mut v = serde_json::to_value(&info).map_err(|e| ApiError::internal(e.to_string()))?;
    // dockerd reports the proxies of its own environment.
    let env = |k: &str| std::env::var(k).or_else(|_| std::env::var(k.to_lowercase())).unwrap_or_default();
    let extra = json!({
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file"],
                    "Authorization": null},
        "Debug": false,
        "ExperimentalBuild": false,
        "NFd": open_fds(),
        "NGoroutines": threads(),
        "NEventsListener": 0,
        "GenericResources": null,
        "HttpProxy": env("HTTP_PROXY"),
        "HttpsProxy": env("HTTPS_PROXY"),
        "NoProxy": env("NO_PROXY"),
        // No containerd, runc or docker-init: berth is all three.
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        "Containerd": null,
        "ProductLicense": "",
        "DefaultAddressPools": [],
        "FirewallBackend": {"Driver": "nftables"},
        "CDISpecDirs": [],
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "Mirrors": []},
        "Labels": [],
        "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false,
                  "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "berth",
    });
    if let (Some(map), Value::Object(extra)) = (v.as_object_mut(), extra) {
        map.extend(extra);
    }
    Ok(http::json(StatusCode::OK, &v))
}

/// The server's open file descriptors (dockerd's NFd).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The server's threads: what stands for dockerd's goroutines.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
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
    let (containers, images, volumes, cache) = cx
        .st
        .engine(|e| {
            let usage = e.disk_usage()?;
            let cache: Vec<Value> = usage
                .build_cache
                .iter()
                .map(|c| {
                    json!({"ID": c.layer.hex(), "Type": "regular", "Description": "a build step's layer",
                           "InUse": false, "Shared": c.shared, "Size": c.size, "UsageCount": 0})
                })
                .collect();
            let cs: Vec<Value> = usage
                .containers
                .iter()
                .map(|u| {
                    let mut j = crate::containers::summary(e, &u.container);
                    j["SizeRw"] = json!(u.size_rw);
                    j
                })
                .collect();
            let mut images: Vec<Value> = crate::images::summaries(e.images(), &http::Filters::default())?;
            for j in &mut images {
                let used = usage.images.iter().find(|i| Some(i.id.to_string().as_str()) == j["Id"].as_str());
                j["Containers"] = json!(used.map_or(0, |i| i.containers));
            }
            let vols: Vec<Value> = usage
                .volumes
                .iter()
                .map(|u| {
                    let mut j = engine::inspect::volume(&u.volume);
                    j["UsageData"] = json!({"Size": u.size, "RefCount": u.users});
                    j
                })
                .collect();
            Ok((cs, images, vols, cache))
        })
        .await?;
    let layers: u64 = images.iter().filter_map(|i| i["Size"].as_u64()).sum();
    Ok(http::json(
        StatusCode::OK,
        &json!({"LayersSize": layers, "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache}),
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
