//! `/volumes/…`: the engine's local volumes in docker's shapes.

use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{self, ApiError, ApiResult, Body};
use crate::router::Ctx;

pub async fn list(cx: &Ctx) -> ApiResult<Response<Body>> {
    let filters = cx.query.filters()?;
    filters.only(&["name", "label", "dangling", "driver"])?;
    let list = cx
        .st
        .engine(move |e| {
            let mut out = Vec::new();
            for v in e.volumes()? {
                let dangling = match filters.get("dangling").first().map(String::as_str) {
                    None => true,
                    Some(d) => (d == "true" || d == "1") == e.volume_users(&v.name)?.is_empty(),
                };
                let ok = dangling
                    && filters.get("name").iter().all(|n| v.name.contains(n.as_str()))
                    && filters.get("driver").iter().all(|d| v.driver == *d)
                    && filters.labels_match(&v.labels);
                if ok {
                    out.push(engine::inspect::volume(&v));
                }
            }
            Ok(out)
        })
        .await?;
    Ok(http::json(StatusCode::OK, &json!({"Volumes": list, "Warnings": Value::Null})))
}

pub async fn inspect(cx: &Ctx, name: &str) -> ApiResult<Response<Body>> {
    let name = name.to_string();
    let doc = cx.st.engine(move |e| Ok(engine::inspect::volume(&e.volume(&name)?))).await?;
    Ok(http::json(StatusCode::OK, &doc))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

pub async fn create(cx: &Ctx, body: Bytes) -> ApiResult<Response<Body>> {
    let b: CreateBody = http::parse_body(&body)?;
    match b.driver.as_deref().unwrap_or("local") {
        "" | "local" => {}
        d => return Err(ApiError::not_found(format!("plugin \"{d}\" not found: berth volumes use the local driver"))),
    }
    if b.driver_opts.is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad_request("volume driver options are not supported by berth's local driver yet"));
    }
    let name = b.name.filter(|n| !n.is_empty()).unwrap_or_else(engine::names::new_id);
    let labels = b.labels.unwrap_or_default();
    let doc = cx
        .st
        .engine(move |e| {
            let (v, _) = e.volume_create(&name, labels, false)?;
            Ok(engine::inspect::volume(&v))
        })
        .await?;
    Ok(http::json(StatusCode::CREATED, &doc))
}

pub async fn remove(cx: &Ctx, name: &str) -> ApiResult<Response<Body>> {
    let force = cx.query.bool("force")?;
    let name = name.to_string();
    cx.st.engine(move |e| Ok(e.volume_remove(&name, force)?)).await?;
    Ok(http::no_content())
}

pub async fn prune(cx: &Ctx) -> ApiResult<Response<Body>> {
    let filters = cx.query.filters()?;
    filters.only(&["label", "label!", "all"])?;
    let all = match filters.get("all").first().map(String::as_str) {
        None | Some("0" | "false" | "False") => false,
        Some("1" | "true" | "True") => true,
        Some(v) => return Err(ApiError::bad_request(format!("invalid filter 'all={v}'"))),
    };
    let (removed, space) =
        cx.st.engine(move |e| Ok(e.volume_prune(all, &|v| filters.labels_match(&v.labels))?)).await?;
    Ok(http::json(StatusCode::OK, &json!({"VolumesDeleted": removed, "SpaceReclaimed": space})))
}
