//! The REST verbs over the store: create, get, list (with selectors and
//! paging), watch, update (optimistic concurrency on resourceVersion),
//! delete (finalizers, namespaces emptied first), deletecollection.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};
use store::{Backend, Event, ListOptions};
use tokio::sync::mpsc;

use crate::meta;
use crate::resources::{self, Resource};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};

/// etcd's default request limit: larger objects are refused.
pub const MAX_OBJECT_BYTES: usize = 1_572_864;

/// What a request addressed.
#[derive(Clone, Debug)]
pub struct Target {
    /// The resource the path named.
    pub r: &'static Resource,
    /// The namespace in the path; None for cluster-scoped resources and
    /// for lists and watches across all namespaces.
    pub namespace: Option<String>,
    /// The object's name; None for a collection (list, watch, create,
    /// deletecollection).
    pub name: Option<String>,
}

impl Target {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn key(&self) -> String {
        self.r.key(self.namespace.as_deref(), self.name())
    }

    /// The storage prefix of a collection request.
    fn prefix(&self) -> String {
        match (&self.namespace, self.r.namespaced) {
            (Some(ns), true) => format!("{}{ns}/", self.r.prefix()),
            _ => self.r.prefix(),
        }
    }
}

/// The query parameters of a list or watch, parsed.
pub struct ListQuery {
    /// `labelSelector`: only objects whose labels match.
    pub labels: LabelSelector,
    /// `fieldSelector`: only objects whose fields match.
    pub fields: FieldSelector,
    /// `limit`: at most this many objects per page, counted after the
    /// selectors (None: everything in one response).
    pub limit: Option<usize>,
    /// `continue`: the token of the previous page, which pins the list to
    /// that page's revision; too old a token is a 410.
    pub cont: Option<String>,
    /// `resourceVersion`: where a watch starts (None or "0": with the
    /// current objects as ADDED events). Lists read the current state
    /// whatever it says.
    pub resource_version: Option<String>,
    /// `timeoutSeconds`: a watch ends after this long (None: when the
    /// client goes away).
    pub timeout: Option<Duration>,
    /// `allowWatchBookmarks`: a watch sends a BOOKMARK event every minute.
    pub bookmarks: bool,
}

fn decode(kv: &store::KeyValue) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    Ok(meta::with_revision(v, kv.mod_revision))
}

fn encode(obj: &Value) -> ApiResult<Vec<u8>> {
    let bytes = serde_json::to_vec(obj).map_err(|e| ApiError::internal(e.to_string()))?;
    if bytes.len() > MAX_OBJECT_BYTES {
        return Err(ApiError::too_large(format!(
            "the object is {} bytes, more than the {MAX_OBJECT_BYTES} bytes an object may have",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The namespace must exist and not be terminating for a create in it.
/// Read as admission reads it, from the cache without waiting for it to
/// catch up, and only as far as the one field that matters.
async fn check_namespace(store: &dyn Backend, ns: &str) -> ApiResult<()> {
    #[derive(serde::Deserialize)]
    struct Namespace {
        metadata: Meta,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "deletionTimestamp")]
        deletion: Option<serde::de::IgnoredAny>,
    }
    static NAMESPACES: std::sync::OnceLock<Option<&'static Resource>> = std::sync::OnceLock::new();
    let nsr = NAMESPACES
        .get_or_init(|| resources::find("", "v1", "namespaces"))
        .ok_or_else(|| ApiError::internal("no namespaces resource"))?;
    match store.get_recent(&nsr.key(None, ns)).await? {
        None => Err(ApiError::not_found("namespaces", ns)),
        Some(kv) => {
            let o: Namespace = serde_json::from_slice(&kv.value)
                .map_err(|e| ApiError::internal(format!("stored object {} is not a namespace: {e}", kv.key)))?;
            if o.metadata.deletion.is_some() {
                return Err(ApiError::forbidden(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                )));
            }
            Ok(())
        }
    }
}

/// Who makes a client's write: the field manager whose ownership of the
/// fields it sets is recorded in `metadata.managedFields`. The server's
/// own writes (garbage collection, namespaces) pass none.
pub struct Author {
    /// The field manager (`fieldManager`, or derived from the User-Agent).
    pub manager: String,
    /// The subresource written through (`status`), if any.
    pub subresource: Option<&'static str>,
}

impl Author {
    fn record(&self, t: &Target, old: Option<&Value>, new: &mut Value) {
        let time = meta::now_rfc3339();
        let api_version = t.r.group_version();
        let w = crate::managed::Writer {
            manager: &self.manager,
            api_version: &api_version,
            subresource: self.subresource,
            time: &time,
        };
        crate::managed::record_update(old, new, &w);
    }
}

/// POST: stores `obj` as a new object of `t` (its name from the body, or
/// generated from `generateName`) after setting the server's metadata and
/// defaults; returns it with its resourceVersion. The namespace must exist
/// and not be terminating; a taken name is a 409 AlreadyExists. With
/// `dry_run` nothing is written.
pub async fn create(
    store: &dyn Backend,
    t: &Target,
    mut obj: Value,
    dry_run: bool,
    author: Option<&Author>,
) -> ApiResult<Value> {
    let name = meta::on_create(t.r, t.namespace.as_deref(), &mut obj)?;
    crate::defaults::apply(t.r, &mut obj);
    if let Some(a) = author {
        a.record(t, None, &mut obj);
    }
    if t.r.plural == "namespaces" {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
        let labels = obj["metadata"].get("labels").cloned().filter(Value::is_object).unwrap_or(json!({}));
        obj["metadata"]["labels"] = labels;
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
    }
    if let (true, Some(ns)) = (t.r.namespaced, &t.namespace) {
        check_namespace(store, ns).await?;
    }
    let key = t.r.key(t.namespace.as_deref(), &name);
    let bytes = encode(&obj)?;
    if dry_run {
        return match store.get(&key).await? {
            Some(_) => Err(ApiError::already_exists(t.r.plural, &name)),
            None => Ok(obj),
        };
    }
    match store.create(&key, bytes).await {
        Ok(kv) => Ok(meta::with_revision(obj, kv.mod_revision)),
        Err(store::Error::AlreadyExists(_)) => Err(ApiError::already_exists(t.r.plural, &name)),
        Err(e) => Err(e.into()),
    }
}

/// GET of one object, with its resourceVersion; 404 if it does not exist.
pub async fn get(store: &dyn Backend, t: &Target) -> ApiResult<Value> {
    match store.get(&t.key()).await? {
        Some(kv) => decode(&kv),
        None => Err(ApiError::not_found(t.r.plural, t.name())),
    }
}

fn continue_token(revision: i64, last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"rv": revision, "start": last}).to_string())
}

fn parse_continue(c: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::bad_request(format!("invalid continue token {c:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((v["rv"].as_i64().ok_or_else(bad)?, v["start"].as_str().ok_or_else(bad)?.to_string()))
}

fn matches(q: &ListQuery, o: &Value) -> bool {
    q.labels.matches(&o["metadata"]["labels"]) && q.fields.matches(o)
}

/// A list: the matching objects, the revision, and a continue token.
pub async fn list(store: &dyn Backend, t: &Target, q: &ListQuery) -> ApiResult<(Vec<Value>, i64, Option<String>)> {
    let (revision, start_after) = match q.cont.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            let (rv, start) = parse_continue(c)?;
            (Some(rv), Some(start))
        }
        None => (None, None),
    };
    let prefix = t.prefix();
    // With a selector, pages are filled after filtering: read on until
    // the page is full or the keys run out.
    let mut items = Vec::new();
    let mut after = start_after;
    let mut at = revision;
    loop {
        let want = q.limit.map(|l| l.saturating_sub(items.len()).max(1));
        let res = store
            .list(&prefix, ListOptions { revision: at, limit: want, start_after: after.clone() })
            .await
            .map_err(|e| match e {
                store::Error::Compacted { .. } => ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ),
                e => e.into(),
            })?;
        at = Some(res.revision);
        let last_key = res.items.last().map(|kv| kv.key.clone());
        for kv in &res.items {
            let o = decode(kv)?;
            if matches(q, &o) {
                items.push(o);
            }
        }
        let full = q.limit.is_some_and(|l| items.len() >= l);
        if !res.more {
            return Ok((items, res.revision, None));
        }
        if full {
            let last = last_key.unwrap_or_default();
            return Ok((items, res.revision, Some(continue_token(res.revision, &last))));
        }
        after = last_key;
    }
}

/// The `<Kind>List` object of a list response: `items`, and the list's
/// revision (and `cont`, the continue token, when more pages follow) in
/// its metadata.
pub fn list_object(t: &Target, items: Vec<Value>, revision: i64, cont: Option<String>) -> Value {
    let mut m = json!({"resourceVersion": revision.to_string()});
    if let Some(c) = cont {
        m["continue"] = json!(c);
    }
    json!({"kind": format!("{}List", t.r.kind), "apiVersion": t.r.group_version(), "metadata": m, "items": items})
}

/// PUT: a full replacement, compare-and-swap on the resourceVersion when
/// the body carries one.
pub async fn update(
    store: &dyn Backend,
    t: &Target,
    mut obj: Value,
    status_only: bool,
    dry_run: bool,
    author: Option<&Author>,
) -> ApiResult<Value> {
    let key = t.key();
    let Some(cur) = store.get(&key).await? else {
        return Err(ApiError::not_found(t.r.plural, t.name()));
    };
    let old = decode(&cur)?;
    let given: Option<i64> = match obj["metadata"].get("resourceVersion").and_then(Value::as_str) {
        Some("") | None => None,
        Some(rv) => Some(rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?),
    };
    if given.is_some_and(|g| g != cur.mod_revision) {
        return Err(ApiError::conflict(t.r.plural, t.name()));
    }
    meta::on_update(t.r, &old, &mut obj, status_only)?;
    crate::defaults::apply(t.r, &mut obj);
    if let Some(a) = author {
        a.record(t, Some(&old), &mut obj);
    }
    write(store, t, &key, obj, cur.mod_revision, dry_run).await
}

/// Stores `obj` over the version at `expected`; an object being deleted
/// whose last finalizer went is deleted instead.
async fn write(
    store: &dyn Backend,
    t: &Target,
    key: &str,
    obj: Value,
    expected: i64,
    dry_run: bool,
) -> ApiResult<Value> {
    let finalizers_gone = obj["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty);
    // A pod in its grace period waits for its node agent, which deletes it.
    let graceful = obj["metadata"]["deletionGracePeriodSeconds"].as_i64().is_some_and(|g| g > 0);
    if obj["metadata"].get("deletionTimestamp").is_some() && finalizers_gone && !graceful && t.r.plural != "namespaces"
    {
        if dry_run {
            return Ok(obj);
        }
        let kv = store.delete(key, Some(expected)).await.map_err(|e| match e {
            store::Error::Conflict { .. } => ApiError::conflict(t.r.plural, t.name()),
            e => e.into(),
        })?;
        return Ok(meta::with_revision(obj, kv.mod_revision));
    }
    let bytes = encode(&obj)?;
    if dry_run {
        return Ok(meta::with_revision(obj, expected));
    }
    match store.update(key, bytes, expected).await {
        Ok(kv) => Ok(meta::with_revision(obj, kv.mod_revision)),
        Err(store::Error::Conflict { .. }) => Err(ApiError::conflict(t.r.plural, t.name())),
        Err(store::Error::NotFound(_)) => Err(ApiError::not_found(t.r.plural, t.name())),
        Err(e) => Err(e.into()),
    }
}

/// Applies `change` to the current object and writes it, retrying on a
/// concurrent write (patches are not tied to a resourceVersion unless the
/// patch itself sets one).
pub async fn modify(
    store: &dyn Backend,
    t: &Target,
    status_only: bool,
    dry_run: bool,
    author: Option<&Author>,
    change: impl Fn(&Value) -> ApiResult<Value>,
) -> ApiResult<Value> {
    for _ in 0..16 {
        let key = t.key();
        let Some(cur) = store.get(&key).await? else {
            return Err(ApiError::not_found(t.r.plural, t.name()));
        };
        let old = decode(&cur)?;
        let mut obj = change(&old)?;
        if let Some(rv) = obj["metadata"].get("resourceVersion").and_then(Value::as_str) {
            if !rv.is_empty() && rv != cur.mod_revision.to_string() {
                return Err(ApiError::conflict(t.r.plural, t.name()));
            }
        }
        meta::on_update(t.r, &old, &mut obj, status_only)?;
        crate::defaults::apply(t.r, &mut obj);
        if let Some(a) = author {
            a.record(t, Some(&old), &mut obj);
        }
        match write(store, t, &key, obj, cur.mod_revision, dry_run).await {
            Err(e) if e.reason == "Conflict" && e.details.get("uid").is_none() => continue,
            other => return other,
        }
    }
    Err(ApiError::conflict(t.r.plural, t.name()))
}

/// The server's own change of an object (marking it deleted): no
/// client-facing checks, a compare-and-swap retried on concurrent writes.
pub async fn modify_internal(
    store: &dyn Backend,
    t: &Target,
    change: impl Fn(&Value) -> ApiResult<Value>,
) -> ApiResult<Value> {
    for _ in 0..16 {
        let key = t.key();
        let Some(cur) = store.get(&key).await? else {
            return Err(ApiError::not_found(t.r.plural, t.name()));
        };
        let mut obj = change(&decode(&cur)?)?;
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        match store.update(&key, encode(&obj)?, cur.mod_revision).await {
            Ok(kv) => return Ok(meta::with_revision(obj, kv.mod_revision)),
            Err(store::Error::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(t.r.plural, t.name()))
}

/// A DELETE's options (metav1.DeleteOptions, from the body; the query's
/// `propagationPolicy` and `gracePeriodSeconds` override it). The default
/// is a plain delete.
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeleteOptions {
    /// Seconds a running pod is given to stop (None: its
    /// `terminationGracePeriodSeconds`, else 30; 0: delete at once). Only
    /// pods have a grace period.
    pub grace_period_seconds: Option<i64>,
    /// `Background` (the default), `Foreground` or `Orphan`: what happens
    /// to the object's dependents; anything else is a 400.
    pub propagation_policy: Option<String>,
    /// What the object must still be for the delete to go ahead.
    pub preconditions: Option<Preconditions>,
    /// `["All"]`: check the delete but do not make it.
    pub dry_run: Option<Vec<String>>,
}

/// Conditions on the object a delete removes; one that does not hold is a
/// 409 Conflict. Empty values are no condition.
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Preconditions {
    /// The object must have this uid (not a new object of the same name).
    pub uid: Option<String>,
    /// The object must still be at this resourceVersion.
    pub resource_version: Option<String>,
}

/// DELETE: a namespace is marked and emptied in the background; other
/// objects go by their propagation policy (see `gc`). The object as it was
/// (or as marked) is returned.
pub async fn delete(store: &Arc<dyn Backend>, t: &Target, opts: &DeleteOptions, dry_run: bool) -> ApiResult<Value> {
    if dry_run {
        let obj = get(store.as_ref(), t).await?;
        check_preconditions(t, &obj, opts)?;
        return Ok(obj);
    }
    if t.r.plural == "namespaces" {
        let obj = delete_plain(store.as_ref(), t, opts).await?;
        let ns = t.name().to_string();
        let store = store.clone();
        tokio::spawn(async move { finalize_namespace(store, ns).await });
        return Ok(obj);
    }
    crate::gc::delete_with_policy(store.as_ref(), t, opts).await
}

fn check_preconditions(t: &Target, obj: &Value, opts: &DeleteOptions) -> ApiResult<()> {
    if let Some(p) = &opts.preconditions {
        if let Some(uid) = p.uid.as_deref().filter(|u| !u.is_empty()) {
            if obj["metadata"]["uid"].as_str() != Some(uid) {
                return Err(ApiError::conflict(t.r.plural, t.name())
                    .with_details(json!({"name": t.name(), "kind": t.r.plural, "uid": uid})));
            }
        }
        if let Some(rv) = p.resource_version.as_deref().filter(|r| !r.is_empty()) {
            if obj["metadata"]["resourceVersion"].as_str() != Some(rv) {
                return Err(ApiError::conflict(t.r.plural, t.name()));
            }
        }
    }
    Ok(())
}

/// Deletes one object now, or marks it (deletionTimestamp) when
/// finalizers hold it or it is a namespace.
pub async fn delete_plain(store: &dyn Backend, t: &Target, opts: &DeleteOptions) -> ApiResult<Value> {
    let key = t.key();
    let Some(cur) = store.get(&key).await? else {
        return Err(ApiError::not_found(t.r.plural, t.name()));
    };
    let mut obj = decode(&cur)?;
    check_preconditions(t, &obj, opts)?;
    if let Some(grace) = pod_grace(t, &obj, opts) {
        return mark_terminating(store, t, &key, cur.mod_revision, obj, grace).await;
    }
    let has_finalizers = obj["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    // A forced deletion of an object in its grace period ends the grace
    // period even while finalizers still hold it.
    let in_grace = obj["metadata"]["deletionGracePeriodSeconds"].as_i64().is_some_and(|g| g > 0);
    if t.r.plural == "namespaces" || has_finalizers {
        if obj["metadata"].get("deletionTimestamp").is_none() || in_grace {
            if obj["metadata"].get("deletionTimestamp").is_none() {
                obj["metadata"]["deletionTimestamp"] = json!(meta::now_rfc3339());
            }
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if t.r.plural == "namespaces" {
                obj["status"]["phase"] = json!("Terminating");
            }
            let mut stored = obj.clone();
            if let Some(m) = stored["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            let kv = store.update(&key, encode(&stored)?, cur.mod_revision).await.map_err(|e| match e {
                store::Error::Conflict { .. } => ApiError::conflict(t.r.plural, t.name()),
                e => e.into(),
            })?;
            obj = meta::with_revision(obj, kv.mod_revision);
        }
        return Ok(obj);
    }
    match store.delete(&key, Some(cur.mod_revision)).await {
        Ok(kv) => Ok(meta::with_revision(obj, kv.mod_revision)),
        Err(store::Error::Conflict { .. }) => Err(ApiError::conflict(t.r.plural, t.name())),
        Err(store::Error::NotFound(_)) => Err(ApiError::not_found(t.r.plural, t.name())),
        Err(e) => Err(e.into()),
    }
}

/// The grace period of a pod's deletion when it must be graceful: a pod
/// bound to a node is marked and left for its node agent to stop and then
/// delete (as the kubelet does); unbound or finished pods, and a grace
/// period of 0 (`--force --grace-period=0`), go at once.
fn pod_grace(t: &Target, obj: &Value, opts: &DeleteOptions) -> Option<i64> {
    if !t.r.group.is_empty() || t.r.plural != "pods" {
        return None;
    }
    let bound = obj["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty());
    let finished = matches!(obj["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
    let grace = opts.grace_period_seconds.or(obj["spec"]["terminationGracePeriodSeconds"].as_i64()).unwrap_or(30);
    let current = obj["metadata"]["deletionGracePeriodSeconds"].as_i64();
    // A second deletion may shorten the grace period, never lengthen it.
    let grace = current.map_or(grace, |c| grace.min(c));
    (bound && !finished && grace > 0).then_some(grace)
}

async fn mark_terminating(
    store: &dyn Backend,
    t: &Target,
    key: &str,
    revision: i64,
    mut obj: Value,
    grace: i64,
) -> ApiResult<Value> {
    if obj["metadata"]["deletionGracePeriodSeconds"].as_i64() == Some(grace) {
        return Ok(obj);
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    obj["metadata"]["deletionTimestamp"] = json!(meta::rfc3339(now + grace));
    obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    obj["metadata"]["generation"] = json!(obj["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
    let mut stored = obj.clone();
    if let Some(m) = stored["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let kv = store.update(key, encode(&stored)?, revision).await.map_err(|e| match e {
        store::Error::Conflict { .. } => ApiError::conflict(t.r.plural, t.name()),
        e => e.into(),
    })?;
    Ok(meta::with_revision(obj, kv.mod_revision))
}

/// Empties a terminating namespace, then removes it (the namespace
/// controller's work, done by the server that marked it).
pub async fn finalize_namespace(store: Arc<dyn Backend>, ns: String) {
    for _ in 0..600 {
        let mut left = 0;
        for r in resources::all().into_iter().filter(|r| r.namespaced) {
            let prefix = format!("{}{ns}/", r.prefix());
            let Ok(res) = store.list(&prefix, ListOptions::default()).await else { continue };
            for kv in res.items {
                left += 1;
                let _ = remove_or_mark(store.as_ref(), &kv).await;
            }
        }
        if left == 0 {
            if let Some(r) = resources::find("", "v1", "namespaces") {
                let _ = store.delete(&r.key(None, &ns), None).await;
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Deletes a stored object, or marks it deleted when finalizers hold it.
async fn remove_or_mark(store: &dyn Backend, kv: &store::KeyValue) -> ApiResult<()> {
    let mut obj = decode(kv)?;
    if obj["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty()) {
        if obj["metadata"].get("deletionTimestamp").is_none() {
            obj["metadata"]["deletionTimestamp"] = json!(meta::now_rfc3339());
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            store.update(&kv.key, encode(&obj)?, kv.mod_revision).await?;
        }
        return Ok(());
    }
    store.delete(&kv.key, Some(kv.mod_revision)).await?;
    Ok(())
}

/// A watch event line.
fn event_line(kind: &str, object: Value) -> Bytes {
    let mut s = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    s.push(b'\n');
    Bytes::from(s)
}

/// What one store event means for a watcher with selectors: ADDED,
/// MODIFIED, DELETED (also when an object stops matching), or nothing.
fn translate(q: &ListQuery, e: &Event) -> ApiResult<Option<(&'static str, Value)>> {
    Ok(match e {
        Event::Put { kv, prev } => {
            let new = decode(kv)?;
            let before = match prev {
                Some(p) => Some(decode(p)?),
                None => None,
            };
            let now_in = matches(q, &new);
            let was_in = before.as_ref().is_some_and(|b| matches(q, b));
            match (was_in, now_in) {
                (false, true) => Some(("ADDED", new)),
                (true, true) => Some(("MODIFIED", new)),
                (true, false) => Some(("DELETED", new)),
                (false, false) => None,
            }
        }
        Event::Delete { prev, revision } => {
            let old = meta::with_revision(decode(prev)?, *revision);
            matches(q, &old).then_some(("DELETED", old))
        }
    })
}

/// A watch as a stream of lines: synthetic ADDED events for what exists
/// (no resourceVersion, or "0"), then every change after.
pub async fn watch(
    store: Arc<dyn Backend>,
    t: Target,
    q: ListQuery,
    as_table: bool,
) -> ApiResult<mpsc::Receiver<Bytes>> {
    let from: Option<i64> = match q.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?),
    };
    let (tx, rx) = mpsc::channel(256);
    let mut headers = true;
    let mut emit = move |kind: &str, obj: Value| -> Bytes {
        if as_table {
            let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
            let tbl = crate::table::table(t.r, &[obj], &rv, None, headers);
            headers = false;
            event_line(kind, tbl)
        } else {
            event_line(kind, obj)
        }
    };
    let prefix = t.prefix();
    let (start, initial) = match from {
        Some(rv) => (rv, Vec::new()),
        None => {
            let res = store.list(&prefix, ListOptions::default()).await?;
            let mut objs = Vec::new();
            for kv in &res.items {
                let o = decode(kv)?;
                if matches(&q, &o) {
                    objs.push(o);
                }
            }
            (res.revision, objs)
        }
    };
    let mut w = match store.watch(&prefix, start).await {
        Ok(w) => Some(w),
        Err(store::Error::Compacted { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let timeout = q.timeout;
    tokio::spawn(async move {
        for o in initial {
            if tx.send(emit("ADDED", o)).await.is_err() {
                return;
            }
        }
        let Some(w) = w.as_mut() else {
            let status = ApiError::gone(format!("too old resource version: {start}")).to_status();
            let _ = tx.send(event_line("ERROR", status)).await;
            return;
        };
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        let bookmark_every = Duration::from_secs(60);
        let mut last = start;
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, w.next()).await.ok(),
                    None => Some(w.next().await),
                }
            };
            let ev = tokio::select! {
                e = next => e,
                _ = tokio::time::sleep(bookmark_every), if q.bookmarks => {
                    let mark = json!({"kind": t.r.kind, "apiVersion": t.r.group_version(), "metadata": {"resourceVersion": last.to_string()}});
                    if tx.send(event_line("BOOKMARK", mark)).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let Some(ev) = ev else { return };
            let Some(ev) = ev else { return };
            let ev = match ev {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.send(event_line("ERROR", ApiError::from(e).to_status())).await;
                    return;
                }
            };
            last = ev.revision();
            match translate(&q, &ev) {
                Ok(Some((kind, obj))) => {
                    if tx.send(emit(kind, obj)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = tx.send(event_line("ERROR", e.to_status())).await;
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// The namespaces every cluster has.
pub async fn ensure_default_namespaces(store: &dyn Backend) -> ApiResult<()> {
    let r = resources::find("", "v1", "namespaces").ok_or_else(|| ApiError::internal("no namespaces resource"))?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if store.get(&r.key(None, ns)).await?.is_none() {
            let t = Target { r, namespace: None, name: None };
            match create(store, &t, json!({"metadata": {"name": ns}}), false, None).await {
                Ok(_) => {}
                Err(e) if e.code == StatusCode::CONFLICT => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_refuse_garbage() {
        let t = continue_token(42, "/registry/core/pods/d/p9");
        assert_eq!(parse_continue(&t).unwrap(), (42, "/registry/core/pods/d/p9".to_string()));
        assert!(parse_continue("!!").is_err());
    }
}
