//! `/networks/…`: the engine's bridge networks in docker's shapes.

use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{self, ApiError, ApiResult, Body};
use crate::router::Ctx;

pub async fn list(cx: &Ctx) -> ApiResult<Response<Body>> {
    let filters = cx.query.filters()?;
    filters.only(&["name", "id", "driver", "label", "type", "scope", "dangling"])?;
    let list = cx
        .st
        .engine(move |e| {
            let containers = e.containers()?;
            let mut out = Vec::new();
            for n in e.networks()? {
                let builtin = matches!(n.name.as_str(), "bridge" | "host" | "none");
                let ok = filters.get("name").iter().all(|v| n.name.contains(v.as_str()))
                    && filters.get("id").iter().all(|v| n.id.starts_with(v.as_str()))
                    && filters.get("driver").iter().all(|v| n.driver == *v)
                    && filters.labels_match(&n.labels)
                    && filters.get("type").iter().all(|t| (t == "builtin") == builtin);
                if ok {
                    out.push(engine::inspect::network(&n, &containers));
                }
            }
            Ok(out)
        })
        .await?;
    Ok(http::json(StatusCode::OK, &Value::Array(list)))
}

pub async fn inspect(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    let doc = cx
        .st
        .engine(move |e| {
            let n = e.network(&id)?;
            Ok(engine::inspect::network(&n, &e.containers()?))
        })
        .await?;
    Ok(http::json(StatusCode::OK, &doc))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: Option<String>,
    driver: Option<String>,
    internal: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    labels: Option<BTreeMap<String, String>>,
    enable_ipv6: Option<bool>,
}

pub async fn create(cx: &Ctx, body: Bytes) -> ApiResult<Response<Body>> {
    let b: CreateBody = http::parse_body(&body)?;
    let name = b.name.filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad_request("a network needs a Name"))?;
    match b.driver.as_deref().unwrap_or("bridge") {
        "" | "bridge" => {}
        d => {
            return Err(ApiError::not_found(format!("plugin \"{d}\" not found: berth networks use the bridge driver")))
        }
    }
    if b.enable_ipv6 == Some(true) {
        return Err(ApiError::bad_request("IPv6 networks are not supported by berth yet"));
    }
    let configs = b.ipam.and_then(|i| i.config).unwrap_or_default();
    if configs.len() > 1 {
        return Err(ApiError::bad_request("berth networks have one subnet: IPAM.Config has more than one entry"));
    }
    let (subnet, gateway) = configs.into_iter().next().map_or((None, None), |c| (c.subnet, c.gateway));
    let internal = b.internal.unwrap_or(false);
    let labels = b.labels.unwrap_or_default();
    let n = cx
        .st
        .engine(move |e| Ok(e.network_create(&name, subnet.as_deref(), gateway.as_deref(), internal, labels)?))
        .await?;
    Ok(http::json(StatusCode::CREATED, &json!({"Id": n.id, "Warning": ""})))
}

pub async fn remove(cx: &Ctx, id: &str) -> ApiResult<Response<Body>> {
    let id = id.to_string();
    cx.st.engine(move |e| Ok(e.network_remove(&id)?)).await?;
    Ok(http::no_content())
}

pub async fn prune(cx: &Ctx) -> ApiResult<Response<Body>> {
    let removed = cx.st.engine(|e| Ok(e.network_prune()?)).await?;
    Ok(http::json(StatusCode::OK, &json!({ "NetworksDeleted": removed })))
}

type EndpointConfig = crate::create::EndpointBody;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: Option<String>,
    endpoint_config: Option<EndpointConfig>,
    force: Option<bool>,
}

pub async fn connect(cx: &Ctx, id: &str, body: Bytes, connect: bool) -> ApiResult<Response<Body>> {
    let b: ConnectBody = http::parse_body(&body)?;
    let container =
        b.container.filter(|c| !c.is_empty()).ok_or_else(|| ApiError::bad_request("Container is required"))?;
    let ep = b.endpoint_config.unwrap_or_default();
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let ipam = ep.ipam_config.unwrap_or_default();
    let endpoint = engine::model::NetworkAttachment {
        network: id.to_string(),
        aliases: ep.aliases.unwrap_or_default(),
        ipv4_address: nonempty(ipam.ipv4_address),
        ipv6_address: nonempty(ipam.ipv6_address),
        mac_address: nonempty(ep.mac_address),
        driver_opts: ep.driver_opts.unwrap_or_default(),
        gw_priority: ep.gw_priority.unwrap_or(0),
    };
    let _ = b.force;
    let id = id.to_string();
    cx.st
        .engine(move |e| {
            if connect {
                e.network_connect(&id, &container, &endpoint)?;
            } else {
                e.network_disconnect(&id, &container)?;
            }
            Ok(())
        })
        .await?;
    Ok(http::response(StatusCode::OK, "application/json", http::empty()))
}
