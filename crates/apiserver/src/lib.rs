//! A Kubernetes-compatible API server over the cluster store, for the real
//! `kubectl` and client libraries: discovery (aggregated and legacy),
//! CRUD with optimistic concurrency, lists with selectors and paging,
//! watches, patches, server-side tables, bearer-token auth over HTTPS.
//!
//! `resources` is the table of served types; `discovery` renders it;
//! `rest` implements the verbs over `store`; `meta` owns the metadata the
//! server sets; `table` prints; `patch` merges; `tls` makes the
//! certificates, token and kubeconfig on first start.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod gc;
pub mod managed;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod pods;
pub mod protobuf;
pub mod resources;
pub mod rest;
pub mod reviews;
pub mod selector;
pub mod status;
pub mod table;
pub mod tls;
pub mod types;
pub mod validate;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use store::Backend;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::rustls;

use crate::resources::{Resource, Sub};
use crate::rest::{ListQuery, Target};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};

/// `berth server`'s settings, in k3s's names.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the server keeps its state: the SQLite store under `db/`, the
    /// certificates and token under `tls/`, the default kubeconfig. Created
    /// if missing; what is there is reused on the next start.
    pub data_dir: PathBuf,
    /// The IP address to listen on (0.0.0.0: every interface); it is also
    /// put in the serving certificate's names.
    pub bind_address: String,
    /// The HTTPS port (0: any free one; the URL given to `run`'s `ready`
    /// says which).
    pub https_port: u16,
    /// Plain HTTP as well (tests only; still needs the token).
    pub http_port: Option<u16>,
    /// Where to write the admin kubeconfig (default:
    /// `DATA_DIR/kubeconfig.yaml`); rewritten on every start, as the port
    /// may change.
    pub write_kubeconfig: Option<PathBuf>,
    /// An etcd cluster (`http://HOST:PORT[,…]`) or `sqlite:///path` to keep
    /// the objects in; None: the embedded SQLite store in `data_dir`.
    pub datastore_endpoint: Option<String>,
    /// The admin's bearer token; None (or empty): the one generated on
    /// first start and kept in `data_dir`.
    pub token: Option<String>,
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

struct Server {
    store: Arc<dyn Backend>,
    token: String,
    gc: gc::Collector,
}

struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn respond(code: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = code;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON body. `serde_json::to_vec`, not `Value`'s `Display`: that one
/// goes through the formatting machinery for every token and measured
/// several times slower.
pub(crate) fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()).into_bytes()))
}

fn json_response(code: StatusCode, v: &Value) -> Response<Body> {
    respond(code, "application/json", Full::new(json_bytes(v)).boxed_unsync())
}

/// Adds `Warning: 299 - "…"` headers, which kubectl prints as "Warning: …".
fn with_warnings(mut r: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = text.parse() {
            r.headers_mut().append(hyper::header::WARNING, v);
        }
    }
    r
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn bool(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }
}

/// What the path addresses under a group-version.
enum Addr {
    Collection(Target),
    Object(Target, Option<Sub>),
}

fn resolve(group: &str, version: &str, segs: &[&str]) -> ApiResult<Addr> {
    let find = |plural: &str| resources::find(group, version, plural).ok_or_else(ApiError::page_not_found);
    let sub_of = |r: &Resource, s: &str| -> ApiResult<Sub> {
        r.subresources.iter().copied().find(|x| x.name() == s).ok_or_else(ApiError::page_not_found)
    };
    let t = |r: &'static Resource, ns: Option<&str>, name: Option<&str>| Target {
        r,
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
    };
    match segs {
        [res] => Ok(Addr::Collection(t(find(res)?, None, None))),
        ["namespaces", ns, res] if group.is_empty() && matches!(*res, "status" | "finalize") => {
            let r = find("namespaces")?;
            Ok(Addr::Object(t(r, None, Some(ns)), Some(sub_of(r, res)?)))
        }
        ["namespaces", ns, res] => {
            let r = find(res)?;
            if !r.namespaced {
                return Err(ApiError::page_not_found());
            }
            Ok(Addr::Collection(t(r, Some(ns), None)))
        }
        ["namespaces", ns, res, name] => {
            let r = find(res)?;
            Ok(Addr::Object(t(r, Some(ns), Some(name)), None))
        }
        ["namespaces", ns, res, name, sub] => {
            let r = find(res)?;
            Ok(Addr::Object(t(r, Some(ns), Some(name)), Some(sub_of(r, sub)?)))
        }
        [res, name] => {
            let r = find(res)?;
            if r.namespaced {
                return Err(ApiError::page_not_found());
            }
            Ok(Addr::Object(t(r, None, Some(name)), None))
        }
        [res, name, sub] => {
            let r = find(res)?;
            if r.namespaced {
                return Err(ApiError::page_not_found());
            }
            Ok(Addr::Object(t(r, None, Some(name)), Some(sub_of(r, sub)?)))
        }
        _ => Err(ApiError::page_not_found()),
    }
}

fn parse_json(body: &[u8], content_type: &str) -> ApiResult<Value> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    if ct == protobuf::CONTENT_TYPE {
        return protobuf::decode(body);
    }
    if !matches!(ct, "" | "application/json" | "*/*") {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

fn list_query(q: &Query) -> ApiResult<ListQuery> {
    Ok(ListQuery {
        labels: LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?,
        fields: FieldSelector::parse(q.get("fieldSelector").unwrap_or(""))?,
        limit: match q.get("limit") {
            None | Some("") => None,
            Some(l) => {
                Some(l.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?.max(0)
                    as usize)
                .filter(|l| *l > 0)
            }
        },
        cont: q.get("continue").map(str::to_string),
        resource_version: q.get("resourceVersion").map(str::to_string),
        timeout: match q.get("timeoutSeconds") {
            None | Some("") => None,
            Some(t) => Some(Duration::from_secs(
                t.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
            )),
        },
        bookmarks: q.bool("allowWatchBookmarks"),
    })
}

/// Where an object keeps its replica counts and selector: the built-in
/// kinds in `spec.replicas`, custom kinds where their definition says.
fn replica_paths(r: &Resource) -> (&str, &str) {
    match r.custom.and_then(|c| c.scale.as_ref()) {
        Some(p) => (&p.spec_replicas, &p.status_replicas),
        None => (".spec.replicas", ".status.replicas"),
    }
}

/// `autoscaling/v1` Scale of an object.
fn scale_of(r: &Resource, o: &Value) -> Value {
    let sel = match r.custom.and_then(|c| c.scale.as_ref()) {
        Some(p) => p
            .label_selector
            .as_deref()
            .and_then(|l| crd::at_path(o, l))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        None => o["spec"]["selector"]["matchLabels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
    };
    let (spec, status) = replica_paths(r);
    let default = if r.custom.is_some() { 0 } else { 1 };
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"], "uid": o["metadata"]["uid"],
                     "resourceVersion": o["metadata"]["resourceVersion"], "creationTimestamp": o["metadata"]["creationTimestamp"]},
        "spec": {"replicas": crd::at_path(o, spec).and_then(Value::as_i64).unwrap_or(default)},
        "status": {"replicas": crd::at_path(o, status).and_then(Value::as_i64).unwrap_or(0), "selector": sel},
    })
}

impl Server {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        match self.route(req).await {
            Ok(r) => r,
            Err(e) => error_response(&e),
        }
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let Some(h) = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let given = h.strip_prefix("Bearer ").unwrap_or("").trim().as_bytes();
        let want = self.token.as_bytes();
        // Constant time: a timing difference must not reveal the token.
        given.len() == want.len() && given.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    async fn route(self: &Arc<Self>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
        let path = req.uri().path().to_string();
        let q = Query(
            req.uri().query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default(),
        );
        let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let method = req.method().clone();
        match path.as_str() {
            "/version" => return Ok(json_response(StatusCode::OK, &discovery::version())),
            "/healthz" | "/livez" | "/readyz" => {
                return Ok(respond(StatusCode::OK, "text/plain", Full::new(Bytes::from("ok")).boxed_unsync()))
            }
            _ => {}
        }
        if !self.authorized(&req) {
            return Err(ApiError::unauthorized());
        }
        let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        match segs.as_slice() {
            ["api"] | ["apis"] => {
                let core = segs[0] == "api";
                return Ok(if discovery::wants_aggregated(&accept) {
                    respond(
                        StatusCode::OK,
                        discovery::AGGREGATED_CONTENT_TYPE,
                        Full::new(json_bytes(&discovery::aggregated(core))).boxed_unsync(),
                    )
                } else if core {
                    json_response(StatusCode::OK, &discovery::legacy_api())
                } else {
                    json_response(StatusCode::OK, &discovery::legacy_apis())
                });
            }
            ["api", "v1"] => {
                return Ok(json_response(StatusCode::OK, &discovery::resource_list("", "v1").unwrap_or(Value::Null)))
            }
            ["openapi", "v3"] => return Ok(json_response(StatusCode::OK, &openapi::index())),
            ["openapi", "v3", "api", v] | ["openapi", "v3", "apis", _, v] => {
                let group = if segs[2] == "api" { "" } else { segs[3] };
                return openapi::document(group, v)
                    .map(|d| {
                        respond(
                            StatusCode::OK,
                            "application/json",
                            Full::new(Bytes::from(d.to_string())).boxed_unsync(),
                        )
                    })
                    .ok_or_else(ApiError::page_not_found);
            }
            ["apis", g] => {
                return discovery::group(g)
                    .map(|v| json_response(StatusCode::OK, &v))
                    .ok_or_else(ApiError::page_not_found)
            }
            ["apis", g, v] => {
                return discovery::resource_list(g, v)
                    .map(|x| json_response(StatusCode::OK, &x))
                    .ok_or_else(ApiError::page_not_found)
            }
            _ => {}
        }
        let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
            ["api", "v1", rest @ ..] => ("", "v1", rest),
            ["apis", g, v, rest @ ..] => (g, v, rest),
            _ => return Err(ApiError::page_not_found()),
        };
        if let (Some(r), [_]) = (rest.first().and_then(|p| reviews::find(group, version, p)), rest) {
            if req.method() != Method::POST {
                return Err(ApiError::method_not_allowed(format!(
                    "{} may only be created: {} is not allowed",
                    r.plural,
                    req.method()
                )));
            }
            let content_type =
                req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let body = read_body(req).await?;
            let out = reviews::answer(r, parse_json(&body, &content_type)?)?;
            return Ok(json_response(StatusCode::CREATED, &out));
        }
        let addr = resolve(group, version, rest)?;
        let content_type =
            req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let dry_run = q.get("dryRun") == Some("All");
        let validation = validate::Mode::parse(q.get("fieldValidation"))?;
        let as_table = table::wanted(&accept);
        let store = self.store.as_ref();
        let user_agent =
            req.headers().get(hyper::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let author = rest::Author {
            manager: field_manager(q.get("fieldManager"), &user_agent)?,
            subresource: match &addr {
                Addr::Object(_, Some(s)) => Some(s.name()),
                _ => None,
            },
        };
        let author = Some(&author);
        let crd_write = method != Method::GET
            && matches!(&addr, Addr::Collection(t) | Addr::Object(t, _) if t.r.kind == "CustomResourceDefinition" && t.r.group == "apiextensions.k8s.io");
        // `return` in the block ends the request's handling, not `route`:
        // definitions written here are served as soon as the reply is sent.
        let out: ApiResult<Response<Body>> = async {
            match (method, addr) {
                (Method::GET, Addr::Collection(t)) => {
                    let lq = list_query(&q)?;
                    if q.bool("watch") {
                        let rx = rest::watch(self.store.clone(), t, lq, as_table).await?;
                        let ct = if as_table { table::CONTENT_TYPE } else { "application/json" };
                        return Ok(respond(StatusCode::OK, ct, ChannelBody(rx).boxed_unsync()));
                    }
                    let (items, rev, cont) = rest::list(store, &t, &lq).await?;
                    if as_table {
                        let tbl = table::table(t.r, &items, &rev.to_string(), cont.as_deref(), true);
                        return Ok(respond(
                            StatusCode::OK,
                            table::CONTENT_TYPE,
                            Full::new(json_bytes(&tbl)).boxed_unsync(),
                        ));
                    }
                    Ok(json_response(StatusCode::OK, &rest::list_object(&t, items, rev, cont)))
                }
                (Method::POST, Addr::Collection(t)) => {
                    let body = read_body(req).await?;
                    let mut obj = parse_json(&body, &content_type)?;
                    meta::check_type(t.r, &mut obj)?;
                    let warnings = validate::check(t.r, &mut obj, validation)?;
                    let created = rest::create(store, &t, obj, dry_run, author).await?;
                    Ok(with_warnings(json_response(StatusCode::CREATED, &created), &warnings))
                }
                (Method::DELETE, Addr::Collection(t)) => {
                    let lq = list_query(&q)?;
                    let (items, rev, _) = rest::list(store, &t, &lq).await?;
                    let mut deleted = Vec::new();
                    for o in &items {
                        let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                        let ns = o["metadata"]["namespace"].as_str().map(str::to_string);
                        let one = Target { r: t.r, namespace: ns, name: Some(name) };
                        match rest::delete(&self.store, &one, &rest::DeleteOptions::default(), dry_run).await {
                            Ok(d) => {
                                if t.r.kind == "CustomResourceDefinition" && !dry_run {
                                    crd::definition_deleted(store, &one, &d).await?;
                                }
                                deleted.push(d)
                            }
                            Err(e) if e.code == StatusCode::NOT_FOUND => {}
                            Err(e) => return Err(e),
                        }
                    }
                    self.gc.poke();
                    Ok(json_response(StatusCode::OK, &rest::list_object(&t, deleted, rev, None)))
                }
                (Method::GET, Addr::Object(t, None)) => {
                    let o = rest::get(store, &t).await?;
                    if as_table {
                        let rv = o["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
                        let tbl = table::table(t.r, &[o], &rv, None, true);
                        return Ok(respond(
                            StatusCode::OK,
                            table::CONTENT_TYPE,
                            Full::new(json_bytes(&tbl)).boxed_unsync(),
                        ));
                    }
                    Ok(json_response(StatusCode::OK, &o))
                }
                (Method::GET, Addr::Object(t, Some(Sub::Status))) => {
                    Ok(json_response(StatusCode::OK, &rest::get(store, &t).await?))
                }
                (Method::GET, Addr::Object(t, Some(Sub::Scale))) => {
                    let o = rest::get(store, &t).await?;
                    Ok(json_response(StatusCode::OK, &scale_of(t.r, &o)))
                }
                (Method::PUT, Addr::Object(t, sub @ (None | Some(Sub::Status) | Some(Sub::Finalize)))) => {
                    let body = read_body(req).await?;
                    let obj = parse_json(&body, &content_type)?;
                    let status_only = sub == Some(Sub::Status);
                    if sub == Some(Sub::Finalize) {
                        let spec = obj["spec"].clone();
                        let out = rest::modify(store, &t, false, dry_run, None, |cur| {
                            let mut n = cur.clone();
                            n["spec"] = spec.clone();
                            Ok(n)
                        })
                        .await?;
                        return Ok(json_response(StatusCode::OK, &out));
                    }
                    let mut obj = obj;
                    meta::check_type(t.r, &mut obj)?;
                    let warnings = validate::check(t.r, &mut obj, validation)?;
                    let out = rest::update(store, &t, obj, status_only, dry_run, author).await?;
                    Ok(with_warnings(json_response(StatusCode::OK, &out), &warnings))
                }
                (Method::PUT, Addr::Object(t, Some(Sub::Scale))) => {
                    let body = read_body(req).await?;
                    let scale = parse_json(&body, &content_type)?;
                    let out = self.set_replicas(&t, &scale, dry_run, author).await?;
                    Ok(json_response(StatusCode::OK, &out))
                }
                (Method::PATCH, Addr::Object(t, sub @ (None | Some(Sub::Status) | Some(Sub::Scale)))) => {
                    let body = read_body(req).await?;
                    let kind = content_type.split(';').next().unwrap_or("").trim().to_string();
                    if kind == "application/apply-patch+yaml" && sub.is_none() {
                        let manager = q.get("fieldManager").filter(|m| !m.is_empty()).ok_or_else(|| {
                            ApiError::bad_request(
                                "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
                            )
                        })?;
                        return self.apply(&t, &body, dry_run, validation, manager, q.bool("force")).await;
                    }
                    let patch: Value = serde_json::from_slice(&body)
                        .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))?;
                    let warnings = std::sync::Mutex::new(Vec::new());
                    let apply_patch = |cur: &Value| -> ApiResult<Value> {
                        let mut out = match kind.as_str() {
                            "application/merge-patch+json" => Ok(patch::merge_patch(cur, &patch)),
                            "application/strategic-merge-patch+json" => patch::strategic_merge(cur, &patch),
                            "application/json-patch+json" => patch::json_patch(cur, &patch),
                            other => Err(ApiError::unsupported_media_type(other)),
                        }?;
                        if sub != Some(Sub::Scale) {
                            meta::check_type(t.r, &mut out)?;
                            let w = validate::check(t.r, &mut out, validation)?;
                            if let Ok(mut all) = warnings.lock() {
                                *all = w;
                            }
                        }
                        Ok(out)
                    };
                    if sub == Some(Sub::Scale) {
                        let cur = rest::get(store, &t).await?;
                        let scale = apply_patch(&scale_of(t.r, &cur))?;
                        let out = self.set_replicas(&t, &scale, dry_run, author).await?;
                        return Ok(json_response(StatusCode::OK, &out));
                    }
                    let out = rest::modify(store, &t, sub == Some(Sub::Status), dry_run, author, apply_patch).await?;
                    let warnings = warnings.into_inner().unwrap_or_default();
                    Ok(with_warnings(json_response(StatusCode::OK, &out), &warnings))
                }
                (Method::DELETE, Addr::Object(t, None)) => {
                    let body = read_body(req).await?;
                    let mut opts: rest::DeleteOptions = if body.iter().all(u8::is_ascii_whitespace) {
                        rest::DeleteOptions::default()
                    } else {
                        serde_json::from_slice(&body)
                            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
                    };
                    if let Some(p) = q.get("propagationPolicy").filter(|p| !p.is_empty()) {
                        opts.propagation_policy = Some(p.to_string());
                    }
                    if let Some(g) = q.get("gracePeriodSeconds").filter(|g| !g.is_empty()) {
                        opts.grace_period_seconds = Some(
                            g.parse()
                                .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds {g:?}")))?,
                        );
                    }
                    let dry = dry_run || opts.dry_run.as_ref().is_some_and(|d| d.iter().any(|x| x == "All"));
                    let out = rest::delete(&self.store, &t, &opts, dry).await?;
                    if t.r.kind == "CustomResourceDefinition" && !dry {
                        crd::definition_deleted(store, &t, &out).await?;
                    }
                    self.gc.poke();
                    Ok(json_response(StatusCode::OK, &out))
                }
                (Method::POST, Addr::Object(t, Some(Sub::Binding))) => {
                    let body = parse_json(&read_body(req).await?, &content_type)?;
                    Ok(json_response(StatusCode::CREATED, &pods::bind(store, &t, &body, dry_run).await?))
                }
                (Method::POST, Addr::Object(t, Some(Sub::Eviction))) => {
                    let body = parse_json(&read_body(req).await?, &content_type)?;
                    let out = pods::evict(&self.store, &t, &body, dry_run).await?;
                    self.gc.poke();
                    Ok(json_response(StatusCode::CREATED, &out))
                }
                (
                    Method::GET | Method::POST,
                    Addr::Object(t, Some(s @ (Sub::Log | Sub::Exec | Sub::Attach | Sub::PortForward))),
                ) => Err(pods::node_served(store, &t, s).await),
                (m, Addr::Object(t, Some(s))) => {
                    Err(ApiError::method_not_allowed(format!("{m} on {}/{} is not served yet", t.r.plural, s.name())))
                }
                (m, _) => Err(ApiError::method_not_allowed(format!(
                    "the server does not allow this method on the requested resource: {m}"
                ))),
            }
        }
        .await;
        if crd_write && !dry_run {
            // The write stands either way; the follower retries on its events.
            if let Err(e) = crd::refresh(store).await {
                eprintln!("berth server: reading CustomResourceDefinitions: {e}");
            }
        }
        out
    }

    async fn set_replicas(
        &self,
        t: &Target,
        scale: &Value,
        dry_run: bool,
        author: Option<&rest::Author>,
    ) -> ApiResult<Value> {
        let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
            ApiError::invalid(
                "Scale",
                t.name.as_deref().unwrap_or(""),
                vec![("spec.replicas".into(), "Required value".into())],
            )
        })?;
        if replicas < 0 {
            return Err(ApiError::invalid(
                "Scale",
                t.name.as_deref().unwrap_or(""),
                vec![(
                    "spec.replicas".into(),
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                )],
            ));
        }
        let rv = scale["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
        let out = rest::modify(self.store.as_ref(), t, false, dry_run, author, |cur| {
            if !rv.is_empty() && cur["metadata"]["resourceVersion"].as_str() != Some(rv.as_str()) {
                return Err(ApiError::conflict(t.r.plural, t.name.as_deref().unwrap_or("")));
            }
            let mut n = cur.clone();
            crd::set_path(&mut n, replica_paths(t.r).0, json!(replicas));
            Ok(n)
        })
        .await?;
        Ok(scale_of(t.r, &out))
    }

    /// Server-side apply: creates the object, or merges the applied
    /// configuration into it as field ownership allows (409 naming the
    /// fields other managers own unless `force`).
    async fn apply(
        &self,
        t: &Target,
        body: &[u8],
        dry_run: bool,
        validation: validate::Mode,
        manager: &str,
        force: bool,
    ) -> ApiResult<Response<Body>> {
        let mut applied: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the applied configuration is not valid JSON: {e}")))?;
        meta::check_type(t.r, &mut applied)?;
        if let (Some(sent), Some(url)) = (applied["metadata"]["name"].as_str(), t.name.as_deref()) {
            if sent != url {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({sent}) does not match the name on the URL ({url})"
                )));
            }
        }
        let time = meta::now_rfc3339();
        let api_version = t.r.group_version();
        let w = managed::Writer { manager, api_version: &api_version, subresource: None, time: &time };
        let warnings = std::sync::Mutex::new(Vec::new());
        // The applier owns what it sent; checks, pruning and defaults apply
        // to the merged object (a partial configuration need not be valid
        // alone), and defaults are nobody's.
        let merge = |live: Option<&Value>| -> ApiResult<Value> {
            let mut out = managed::apply(live, &applied, &w, force).map_err(|c| ApiError::apply_conflict(&c))?;
            let w = validate::check(t.r, &mut out, validation)?;
            if let Ok(mut all) = warnings.lock() {
                *all = w;
            }
            Ok(out)
        };
        let (code, out) = match rest::get(self.store.as_ref(), t).await {
            Err(e) if e.code == StatusCode::NOT_FOUND => {
                let collection = Target { r: t.r, namespace: t.namespace.clone(), name: None };
                let mut obj = merge(None)?;
                obj["metadata"]["name"] = json!(t.name);
                (StatusCode::CREATED, rest::create(self.store.as_ref(), &collection, obj, dry_run, None).await?)
            }
            Err(e) => return Err(e),
            Ok(_) => (
                StatusCode::OK,
                rest::modify(self.store.as_ref(), t, false, dry_run, None, |cur| merge(Some(cur))).await?,
            ),
        };
        let warnings = warnings.into_inner().unwrap_or_default();
        Ok(with_warnings(json_response(code, &out), &warnings))
    }
}

/// The field manager of a write: as the client names it, else (like
/// kube-apiserver) the product part of its User-Agent.
fn field_manager(given: Option<&str>, user_agent: &str) -> ApiResult<String> {
    let name = match given.filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => user_agent.split('/').next().unwrap_or("").chars().take(128).collect(),
    };
    if name.chars().count() > 128 || name.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_request(format!(
            "fieldManager: Invalid value: {name:?}: must be at most 128 printable characters"
        )));
    }
    Ok(name)
}

async fn read_body(req: Request<Incoming>) -> ApiResult<Bytes> {
    // A little over the object limit, so a too-large object gets its own error.
    let limited = http_body_util::Limited::new(req.into_body(), rest::MAX_OBJECT_BYTES * 2);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.to_string().contains("length limit") => Err(ApiError::too_large("the request is too large")),
        Err(e) => Err(ApiError::bad_request(format!("reading the request body: {e}"))),
    }
}

fn tls_acceptor(m: &tls::Material) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(m.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the serving certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.as_bytes()).map_err(|e| format!("the serving key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the serving certificate: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Compacts the store's history as kube-apiserver does: every interval,
/// up to the revision that was current one interval before (so watchers a
/// little behind are not cut off). `BERTH_COMPACTION_INTERVAL_MS` shortens
/// the 5-minute interval (for tests).
fn spawn_compactor(store: Arc<dyn Backend>) {
    let every = std::env::var("BERTH_COMPACTION_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(300), Duration::from_millis);
    tokio::spawn(async move {
        let mut previous: Option<i64> = None;
        loop {
            tokio::time::sleep(every).await;
            let Ok(now) = store.current_revision().await else { continue };
            if let Some(p) = previous.filter(|p| *p > 1) {
                match store.compact(p).await {
                    // Already compacted there (another server on one etcd): fine.
                    Ok(()) | Err(store::Error::Compacted { .. }) => {}
                    Err(e) => eprintln!("berth server: compacting the store to revision {p}: {e}"),
                }
            }
            previous = Some(now);
        }
    });
}

/// Runs the server until SIGINT/SIGTERM. `ready` gets the HTTPS URL once
/// the kubeconfig is written and the listeners are up.
pub fn run(cfg: Config, ready: impl FnOnce(&str)) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the server's runtime: {e}"))?;
    rt.block_on(async move {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| format!("creating {}: {e}", cfg.data_dir.display()))?;
        let store = store::open(cfg.datastore_endpoint.as_deref(), &cfg.data_dir.join("db"))
            .await
            .map_err(|e| format!("opening the datastore: {e}"))?;
        rest::ensure_default_namespaces(store.as_ref())
            .await
            .map_err(|e| format!("creating the default namespaces: {e}"))?;
        let tls_dir = cfg.data_dir.join("tls");
        let material = tls::ensure(&tls_dir, std::slice::from_ref(&cfg.bind_address))?;
        let token = tls::token(&tls_dir, cfg.token.as_deref())?;
        let acceptor = tls_acceptor(&material)?;
        let https: SocketAddr = format!("{}:{}", cfg.bind_address, cfg.https_port)
            .parse()
            .map_err(|e| format!("invalid --bind-address {}: {e}", cfg.bind_address))?;
        let listener = TcpListener::bind(https).await.map_err(|e| format!("listening on {https}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let host = if local.ip().is_unspecified() { "127.0.0.1".to_string() } else { local.ip().to_string() };
        let url = format!("https://{host}:{}", local.port());
        let kubeconfig = cfg.write_kubeconfig.clone().unwrap_or_else(|| cfg.data_dir.join("kubeconfig.yaml"));
        tls::write_kubeconfig(&kubeconfig, &tls::kubeconfig(&url, Some(&material.ca_pem), &token))?;
        spawn_compactor(store.clone());
        let collector = gc::Collector::start(store.clone());
        crd::follow(store.clone());
        // Whatever a previous run left half-collected.
        collector.poke();
        let srv = Arc::new(Server { store: store.clone(), token: token.clone(), gc: collector });
        if let Some(p) = cfg.http_port {
            let addr: SocketAddr =
                format!("{}:{p}", cfg.bind_address).parse().map_err(|e| format!("invalid address: {e}"))?;
            let plain = TcpListener::bind(addr).await.map_err(|e| format!("listening on {addr}: {e}"))?;
            let srv = srv.clone();
            let handler = move |req| {
                let srv = srv.clone();
                async move { srv.handle(req).await }
            };
            tokio::spawn(serve::accept_until(serve::Listener::Tcp(plain), None, handler, std::future::pending()));
        }
        ready(&url);
        let handler = move |req| {
            let srv = srv.clone();
            async move { srv.handle(req).await }
        };
        serve::accept_until_signal(serve::Listener::Tcp(listener), Some(acceptor), handler)
            .await
            .map_err(|e| format!("installing signal handlers: {e}"))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_resources_namespaces_and_subresources() {
        let ok = |g: &str, v: &str, p: &str| resolve(g, v, &p.split('/').collect::<Vec<_>>());
        assert!(matches!(ok("", "v1", "pods").unwrap(), Addr::Collection(t) if t.namespace.is_none()));
        assert!(
            matches!(ok("", "v1", "namespaces/d/pods").unwrap(), Addr::Collection(t) if t.namespace.as_deref() == Some("d"))
        );
        assert!(matches!(ok("", "v1", "namespaces/d").unwrap(), Addr::Object(t, None) if t.r.plural == "namespaces"));
        assert!(
            matches!(ok("", "v1", "namespaces/d/status").unwrap(), Addr::Object(t, Some(Sub::Status)) if t.r.plural == "namespaces")
        );
        assert!(matches!(
            ok("apps", "v1", "namespaces/d/deployments/x/scale").unwrap(),
            Addr::Object(_, Some(Sub::Scale))
        ));
        assert!(matches!(ok("", "v1", "nodes/n1").unwrap(), Addr::Object(t, None) if t.name.as_deref() == Some("n1")));
        assert!(ok("", "v1", "pods/p").is_err(), "a namespaced object needs its namespace");
        assert!(ok("", "v1", "namespaces/d/nodes").is_err());
        assert!(ok("", "v1", "widgets").is_err());
        assert!(ok("", "v1", "namespaces/d/configmaps/x/scale").is_err());
    }
}
