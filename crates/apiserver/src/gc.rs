//! The garbage collector: objects whose owners (by `ownerReferences` uid)
//! are all gone are deleted, and owners being deleted in the foreground
//! (finalizer `foregroundDeletion`) wait for their dependents and then go.
//! It runs a pass whenever something was deleted (and a little after, as
//! deletions cascade), over every object that has owners.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use store::{Backend, ListOptions};
use tokio::sync::Notify;

use crate::resources::{self, Resource};
use crate::rest::{self, Target};

pub(crate) const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer `orphan` (metav1.FinalizerOrphanDependents) that old
/// clients set to have dependents orphaned. Nothing here acts on it: an
/// object carrying it waits, as for any finalizer, until a client removes
/// it; `propagationPolicy: Orphan` is what orphans.
pub const ORPHAN: &str = "orphan";

/// A handle on the running collector; clones share it.
#[derive(Clone)]
pub struct Collector {
    wake: Arc<Notify>,
}

impl Collector {
    /// Spawns the collector's task on the current Tokio runtime (it runs
    /// until the runtime stops). It waits for a [`Collector::poke`] before
    /// its first pass.
    pub fn start(store: Arc<dyn Backend>) -> Collector {
        let wake = Arc::new(Notify::new());
        let w = wake.clone();
        tokio::spawn(async move {
            loop {
                w.notified().await;
                // Deletions come in bursts: collect them in one pass.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while pass(store.as_ref()).await {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
        Collector { wake }
    }

    /// Something was deleted: look for orphans.
    pub fn poke(&self) {
        self.wake.notify_one();
    }
}

struct Obj {
    r: &'static Resource,
    value: Value,
}

impl Obj {
    fn uid(&self) -> &str {
        self.value["metadata"]["uid"].as_str().unwrap_or("")
    }
    fn target(&self) -> Target {
        Target {
            r: self.r,
            namespace: self.value["metadata"]["namespace"].as_str().map(str::to_string),
            name: self.value["metadata"]["name"].as_str().map(str::to_string),
        }
    }
    fn owners(&self) -> Vec<String> {
        self.value["metadata"]["ownerReferences"]
            .as_array()
            .map(|refs| refs.iter().filter_map(|r| r["uid"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
    fn has_finalizer(&self, f: &str) -> bool {
        self.value["metadata"]["finalizers"].as_array().is_some_and(|fs| fs.iter().any(|x| x == f))
    }
    fn deleting(&self) -> bool {
        self.value["metadata"].get("deletionTimestamp").is_some()
    }
}

async fn everything(store: &dyn Backend) -> Vec<Obj> {
    let mut out = Vec::new();
    for r in resources::all() {
        let Ok(res) = store.list(&r.prefix(), ListOptions::default()).await else { continue };
        for kv in res.items {
            if let Ok(v) = serde_json::from_slice::<Value>(&kv.value) {
                out.push(Obj { r, value: crate::meta::with_revision(v, kv.mod_revision) });
            }
        }
    }
    out
}

/// One pass; true when it changed something (another may be needed).
async fn pass(store: &dyn Backend) -> bool {
    let all = everything(store).await;
    let alive: HashMap<&str, &Obj> = all.iter().map(|o| (o.uid(), o)).collect();
    let mut changed = false;
    let mut dependents_of: HashMap<String, usize> = HashMap::new();
    for o in &all {
        let owners = o.owners();
        if owners.is_empty() {
            continue;
        }
        for u in &owners {
            *dependents_of.entry(u.clone()).or_default() += 1;
        }
        let gone = owners.iter().all(|u| !alive.contains_key(u.as_str()));
        let owner_in_foreground =
            owners.iter().any(|u| alive.get(u.as_str()).is_some_and(|w| w.deleting() && w.has_finalizer(FOREGROUND)));
        if (gone || owner_in_foreground) && !o.deleting() {
            // Dependents of a foreground deletion go in the foreground too.
            let policy = if owner_in_foreground { "Foreground" } else { "Background" };
            let opts = rest::DeleteOptions { propagation_policy: Some(policy.into()), ..Default::default() };
            if delete_with_policy(store, &o.target(), &opts).await.is_ok() {
                changed = true;
            }
        }
    }
    // Foreground owners whose dependents are all gone lose the finalizer
    // (and with it, go).
    let waiting: HashSet<&str> =
        all.iter().filter(|o| o.deleting() && o.has_finalizer(FOREGROUND)).map(Obj::uid).collect();
    for o in all.iter().filter(|o| waiting.contains(o.uid())) {
        if dependents_of.get(o.uid()).copied().unwrap_or(0) == 0 {
            let t = o.target();
            let r = rest::modify(store, &t, false, false, None, |cur| {
                let mut n = cur.clone();
                if let Some(fs) = n["metadata"]["finalizers"].as_array_mut() {
                    fs.retain(|f| f != FOREGROUND);
                }
                Ok(n)
            })
            .await;
            changed |= r.is_ok();
        }
    }
    changed
}

/// Removes `owner_uid` from every dependent's ownerReferences (Orphan).
async fn orphan_dependents(store: &dyn Backend, owner_uid: &str) {
    for o in everything(store).await {
        if !o.owners().iter().any(|u| u == owner_uid) {
            continue;
        }
        let _ = rest::modify(store, &o.target(), false, false, None, |cur| {
            let mut n = cur.clone();
            if let Some(refs) = n["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"] != owner_uid);
                if refs.is_empty() {
                    if let Some(m) = n["metadata"].as_object_mut() {
                        m.remove("ownerReferences");
                    }
                }
            }
            Ok(n)
        })
        .await;
    }
}

/// A delete honouring `propagationPolicy`: Orphan strips the owner from its
/// dependents first; Foreground marks the owner and lets the collector
/// delete the dependents before it; Background (the default) deletes the
/// owner now and the dependents after.
pub async fn delete_with_policy(
    store: &dyn Backend,
    t: &Target,
    opts: &rest::DeleteOptions,
) -> crate::status::ApiResult<Value> {
    match opts.propagation_policy.as_deref() {
        Some("Orphan") => {
            let cur = rest::get(store, t).await?;
            if let Some(uid) = cur["metadata"]["uid"].as_str() {
                orphan_dependents(store, uid).await;
            }
        }
        Some("Foreground") if t.r.plural != "namespaces" => {
            return rest::modify_internal(store, t, |cur| {
                let mut n = cur.clone();
                if n["metadata"].get("deletionTimestamp").is_none() {
                    n["metadata"]["deletionTimestamp"] = json!(crate::meta::now_rfc3339());
                    n["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                }
                let fs = n["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
                if !fs.iter().any(|f| f == FOREGROUND) {
                    let mut fs = fs;
                    fs.push(json!(FOREGROUND));
                    n["metadata"]["finalizers"] = json!(fs);
                }
                Ok(n)
            })
            .await;
        }
        Some("Background") | Some("Foreground") | None => {}
        Some(other) => {
            return Err(crate::status::ApiError::bad_request(format!(
                "invalid propagationPolicy {other:?}: use Background, Foreground or Orphan"
            )))
        }
    }
    rest::delete_plain(store, t, opts).await
}
