//! The watch cache the API server keeps in front of its store: one backend
//! watch over every key feeds, in memory, the current objects of each
//! resource (`/registry/<group>/<resource>/`, loaded on first use) and a
//! window of recent events. Current-state lists and watches from a recent
//! revision are served from memory, so many watchers and large lists cost
//! the backend nothing more. A list first waits until the feed has reached
//! the backend's current revision, so a client always reads its own
//! writes; gets likewise. Lists at a given revision, older watches, and
//! writes go to the backend.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Notify, OnceCell};

use crate::{Backend, Error, Event, KeyValue, ListOptions, ListResult, Result, Watch};

/// Events kept for watches that start a little behind.
const WINDOW: usize = 10_000;
/// How long a list waits for the feed before asking the backend itself.
const CATCH_UP: Duration = Duration::from_secs(1);

enum Objects {
    /// Being loaded at a revision: events after it wait here.
    Loading(Vec<Arc<Event>>),
    Ready(BTreeMap<String, KeyValue>),
}

struct State {
    /// The last revision the feed delivered.
    revision: i64,
    /// Watches after this revision are served from `events`.
    oldest: i64,
    events: VecDeque<Arc<Event>>,
    resources: HashMap<String, Objects>,
    failed: Option<Error>,
}

/// A backend behind the watch cache, itself a [`Backend`]. Its feed starts
/// on first use; while the feed is broken reads and watches go to the
/// backend, and for good if events were compacted before it could resume.
pub struct Cached {
    inner: Arc<dyn Backend>,
    state: Arc<Mutex<State>>,
    live: broadcast::Sender<Arc<Event>>,
    progressed: Arc<Notify>,
    feed: OnceCell<()>,
}

/// `/registry/<group>/<resource>/` of a key or prefix (None: not cached).
fn resource_prefix(p: &str) -> Option<&str> {
    let mut parts = p.splitn(5, '/');
    if parts.next() != Some("") {
        return None;
    }
    let mut len = 1;
    for _ in 0..3 {
        let seg = parts.next().filter(|s| !s.is_empty())?;
        len += seg.len() + 1;
    }
    // A fourth '/' must follow the resource's segment.
    parts.next()?;
    Some(&p[..len])
}

/// A new backend watch from where the feed stopped, retried while the
/// backend is away. None when events were compacted meanwhile: the cache
/// cannot know what it missed and stays bypassed.
async fn resume(inner: &dyn Backend, from: i64) -> Option<Watch> {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match inner.watch("/", from).await {
            Ok(w) => return Some(w),
            Err(Error::Compacted { .. }) => {
                eprintln!("berth store: the watch cache missed compacted events; reading from the store directly");
                return None;
            }
            Err(_) => {}
        }
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Backend("the watch cache is poisoned".into())
}

fn apply(map: &mut BTreeMap<String, KeyValue>, e: &Event) {
    match e {
        Event::Put { kv, .. } => {
            map.insert(kv.key.clone(), kv.clone());
        }
        Event::Delete { prev, .. } => {
            map.remove(&prev.key);
        }
    }
}

impl Cached {
    /// Puts the cache in front of `inner`. Nothing is read or watched yet.
    pub fn new(inner: Arc<dyn Backend>) -> Cached {
        let (live, _) = broadcast::channel(4096);
        Cached {
            inner,
            state: Arc::new(Mutex::new(State {
                revision: 0,
                oldest: i64::MAX,
                events: VecDeque::new(),
                resources: HashMap::new(),
                failed: None,
            })),
            live,
            progressed: Arc::new(Notify::new()),
            feed: OnceCell::new(),
        }
    }

    /// Starts the one backend watch that feeds the cache.
    async fn start(&self) -> Result<()> {
        self.feed
            .get_or_try_init(|| async {
                let from = self.inner.current_revision().await?;
                let mut w = self.inner.watch("/", from).await?;
                {
                    let mut s = self.state.lock().map_err(poisoned)?;
                    s.revision = from;
                    s.oldest = from;
                }
                let (state, live, progressed) = (self.state.clone(), self.live.clone(), self.progressed.clone());
                let inner = self.inner.clone();
                tokio::spawn(async move {
                    loop {
                        let ev = match w.next().await {
                            Some(Ok(e)) => Arc::new(e),
                            broken => {
                                // Until the feed is back, reads and watches go
                                // to the backend itself.
                                let why = match broken {
                                    Some(Err(e)) => e,
                                    _ => Error::Backend("the store's watch ended".into()),
                                };
                                let from = {
                                    let Ok(mut s) = state.lock() else { return };
                                    s.failed = Some(why);
                                    s.revision
                                };
                                progressed.notify_waiters();
                                let Some(nw) = resume(inner.as_ref(), from).await else { return };
                                w = nw;
                                if let Ok(mut s) = state.lock() {
                                    s.failed = None;
                                }
                                continue;
                            }
                        };
                        let Ok(mut s) = state.lock() else { return };
                        s.revision = ev.revision();
                        s.events.push_back(ev.clone());
                        if s.events.len() > WINDOW {
                            if let Some(old) = s.events.pop_front() {
                                s.oldest = old.revision();
                            }
                        }
                        if let Some(rp) = resource_prefix(ev.key()) {
                            match s.resources.get_mut(rp) {
                                Some(Objects::Ready(map)) => apply(map, &ev),
                                Some(Objects::Loading(buf)) => buf.push(ev.clone()),
                                None => {}
                            }
                        }
                        drop(s);
                        let _ = live.send(ev);
                        progressed.notify_waiters();
                    }
                });
                Ok::<(), Error>(())
            })
            .await
            .map(|_| ())
    }

    /// Waits until the feed has delivered `revision` (false: it did not in time).
    async fn reached(&self, revision: i64) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            let notified = self.progressed.notified();
            {
                let s = self.state.lock().map_err(poisoned)?;
                if s.failed.is_some() {
                    // The feed is down: the caller reads the backend.
                    return Ok(false);
                }
                if s.revision >= revision {
                    return Ok(true);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(false);
            }
        }
    }

    /// The resource's objects, loading them at the feed's revision first.
    async fn load(&self, rp: &str) -> Result<()> {
        let at = {
            let mut s = self.state.lock().map_err(poisoned)?;
            match s.resources.get(rp) {
                Some(Objects::Ready(_)) => return Ok(()),
                Some(Objects::Loading(_)) => None,
                None => {
                    s.resources.insert(rp.to_string(), Objects::Loading(Vec::new()));
                    Some(s.revision)
                }
            }
        };
        let Some(at) = at else {
            // Another request is loading it: wait for that.
            for _ in 0..200 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let s = self.state.lock().map_err(poisoned)?;
                match s.resources.get(rp) {
                    Some(Objects::Ready(_)) => return Ok(()),
                    Some(Objects::Loading(_)) => {}
                    None => return Err(Error::Backend("loading the watch cache failed".into())),
                }
            }
            return Err(Error::Backend("loading the watch cache timed out".into()));
        };
        let snapshot = self.inner.list(rp, ListOptions { revision: Some(at), ..Default::default() }).await;
        let mut s = self.state.lock().map_err(poisoned)?;
        let buffered = match s.resources.remove(rp) {
            Some(Objects::Loading(b)) => b,
            _ => Vec::new(),
        };
        let snapshot = snapshot?;
        let mut map: BTreeMap<String, KeyValue> = snapshot.items.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
        for e in buffered.iter().filter(|e| e.revision() > at) {
            apply(&mut map, e);
        }
        s.resources.insert(rp.to_string(), Objects::Ready(map));
        Ok(())
    }
}

#[async_trait::async_trait]
impl Backend for Cached {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// Served from memory like lists (and as kube-apiserver's admission
    /// reads namespaces from its informers): once the feed has reached the
    /// backend's current revision, the cached object is the latest one.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let Some(rp) = resource_prefix(key) else {
            return self.inner.get(key).await;
        };
        self.start().await?;
        let current = self.inner.current_revision().await?;
        if !self.reached(current).await? || self.load(rp).await.is_err() {
            return self.inner.get(key).await;
        }
        {
            let s = self.state.lock().map_err(poisoned)?;
            if let Some(Objects::Ready(map)) = s.resources.get(rp) {
                return Ok(map.get(key).cloned());
            }
        }
        self.inner.get(key).await
    }

    /// From memory without waiting for the feed to catch up (a key not
    /// there yet is read as `get` does), as kube-apiserver's admission
    /// reads namespaces from its informers.
    async fn get_recent(&self, key: &str) -> Result<Option<KeyValue>> {
        if let Some(rp) = resource_prefix(key) {
            let s = self.state.lock().map_err(poisoned)?;
            if let (None, Some(Objects::Ready(map))) = (&s.failed, s.resources.get(rp)) {
                if let Some(kv) = map.get(key) {
                    return Ok(Some(kv.clone()));
                }
            }
        }
        self.get(key).await
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let Some(rp) = resource_prefix(prefix).filter(|_| opts.revision.is_none_or(|r| r <= 0)) else {
            return self.inner.list(prefix, opts).await;
        };
        self.start().await?;
        let current = self.inner.current_revision().await?;
        if !self.reached(current).await? || self.load(rp).await.is_err() {
            return self.inner.list(prefix, opts).await;
        }
        let served = {
            let s = self.state.lock().map_err(poisoned)?;
            match s.resources.get(rp) {
                Some(Objects::Ready(map)) => {
                    let from = match &opts.start_after {
                        Some(a) if a.as_str() >= prefix => format!("{a}\0"),
                        _ => prefix.to_string(),
                    };
                    let end = crate::prefix_end(prefix);
                    let limit = opts.limit.filter(|l| *l > 0);
                    let mut items = Vec::new();
                    let mut more = false;
                    for (k, kv) in map.range(from..) {
                        if k.as_bytes() >= end.as_slice() {
                            break;
                        }
                        if limit.is_some_and(|l| items.len() >= l) {
                            more = true;
                            break;
                        }
                        items.push(kv.clone());
                    }
                    Some(ListResult { items, revision: s.revision, more })
                }
                _ => None,
            }
        };
        match served {
            Some(r) => Ok(r),
            None => self.inner.list(prefix, opts).await,
        }
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        self.inner.create(key, value).await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: i64) -> Result<KeyValue> {
        self.inner.update(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<KeyValue> {
        self.inner.delete(key, expected).await
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<Watch> {
        self.start().await?;
        // Decided under the lock, acted on after it.
        let plan = {
            let s = self.state.lock().map_err(poisoned)?;
            if after < s.oldest || s.failed.is_some() {
                None
            } else {
                let past: Vec<Arc<Event>> = s.events.iter().filter(|e| e.revision() > after).cloned().collect();
                Some((past, self.live.subscribe(), after > s.revision))
            }
        };
        // Older than the window: the backend has it (or says it is compacted).
        let Some((past, mut live, behind)) = plan else { return self.inner.watch(prefix, after).await };
        if behind {
            let current = self.inner.current_revision().await?;
            if after > current {
                return Err(Error::FutureRevision { requested: after, current });
            }
        }
        let (tx, rx) = mpsc::channel(1024);
        let lo = prefix.as_bytes().to_vec();
        let hi = crate::prefix_end(prefix);
        let inner = self.inner.clone();
        let prefix = prefix.to_string();
        tokio::spawn(async move {
            let mut last = after;
            for e in past {
                last = e.revision();
                let k = e.key().as_bytes();
                if k >= lo.as_slice() && k < hi.as_slice() && tx.send(Ok((*e).clone())).await.is_err() {
                    return;
                }
            }
            if let crate::Relay::Lagged = crate::relay(&mut live, &mut last, &lo, &hi, &tx).await {
                // Fell behind: the backend catches this watcher up.
                match inner.watch(&prefix, last).await {
                    Ok(mut w) => {
                        while let Some(e) = w.next().await {
                            if tx.send(e).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                    }
                }
            }
        });
        Ok(Watch::new(rx))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        self.inner.compact(revision).await?;
        // Watches from before the compaction get the backend's answer (410).
        let mut s = self.state.lock().map_err(poisoned)?;
        while s.events.front().is_some_and(|e| e.revision() <= revision) {
            s.events.pop_front();
        }
        s.oldest = s.oldest.max(revision);
        Ok(())
    }

    async fn current_revision(&self) -> Result<i64> {
        self.inner.current_revision().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_prefixes_are_the_first_three_segments() {
        assert_eq!(resource_prefix("/registry/core/pods/default/web"), Some("/registry/core/pods/"));
        assert_eq!(resource_prefix("/registry/core/pods/"), Some("/registry/core/pods/"));
        assert_eq!(resource_prefix("/registry//pods/x"), None);
        assert_eq!(resource_prefix("/registry/core/pods"), None);
        assert_eq!(resource_prefix("/p/"), None);
    }

    fn cached() -> (tempfile::TempDir, Arc<Cached>) {
        let d = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Backend> = Arc::new(crate::sqlite::SqliteStore::open(&d.path().join("s.db")).unwrap());
        (d, Arc::new(Cached::new(inner)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn recent_gets_find_new_keys_and_drop_deleted_ones() {
        let (_d, c) = cached();
        for i in 0..20 {
            let key = format!("/registry/core/namespaces/n{i}");
            // A key just written and not yet in memory is read from the store.
            assert!(c.get_recent(&key).await.unwrap().is_none());
            let kv = c.create(&key, b"1".to_vec()).await.unwrap();
            assert_eq!(c.get_recent(&key).await.unwrap().map(|kv| kv.mod_revision), Some(kv.mod_revision));
        }
        let key = "/registry/core/namespaces/n0";
        c.delete(key, None).await.unwrap();
        // Once the feed has the deletion, the key is gone from memory too.
        assert!(c.get(key).await.unwrap().is_none());
        assert!(c.get_recent(key).await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lists_read_their_own_writes_from_memory() {
        let (_d, c) = cached();
        c.create("/registry/core/cms/a/x", b"1".to_vec()).await.unwrap();
        let l = c.list("/registry/core/cms/", ListOptions::default()).await.unwrap();
        assert_eq!(l.items.len(), 1);
        for i in 0..20 {
            let kv = c.create(&format!("/registry/core/cms/a/k{i:02}"), vec![]).await.unwrap();
            // Every list right after a write sees it.
            let l = c.list("/registry/core/cms/a/", ListOptions::default()).await.unwrap();
            assert!(l.items.iter().any(|i| i.key == kv.key), "{i}");
            assert!(l.revision >= kv.mod_revision);
        }
        c.delete("/registry/core/cms/a/x", None).await.unwrap();
        let l = c.list("/registry/core/cms/a/", ListOptions { limit: Some(5), ..Default::default() }).await.unwrap();
        assert_eq!(l.items.len(), 5);
        assert!(l.more);
        assert_eq!(l.items[0].key, "/registry/core/cms/a/k00");
        let other = c.list("/registry/apps/deps/", ListOptions::default()).await.unwrap();
        assert!(other.items.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watches_start_in_the_window_or_fall_back_to_the_backend() {
        let (_d, c) = cached();
        let before = c.current_revision().await.unwrap();
        let a = c.create("/registry/core/cms/a/x", b"1".to_vec()).await.unwrap();
        // Older than the cache: the backend replays it.
        let mut w = c.watch("/registry/core/cms/", before).await.unwrap();
        assert!(matches!(w.next().await, Some(Ok(Event::Put { kv, .. })) if kv == a));
        // Within the window, and live.
        let b = c.update("/registry/core/cms/a/x", b"2".to_vec(), a.mod_revision).await.unwrap();
        let mut w2 = c.watch("/registry/core/cms/", a.mod_revision).await.unwrap();
        assert!(matches!(w2.next().await, Some(Ok(Event::Put { kv, .. })) if kv == b));
        assert!(matches!(w.next().await, Some(Ok(Event::Put { kv, .. })) if kv == b));
        c.create("/registry/core/other/z", vec![]).await.unwrap();
        let d = c.create("/registry/core/cms/a/y", vec![]).await.unwrap();
        assert!(
            matches!(w2.next().await, Some(Ok(Event::Put { kv, .. })) if kv == d),
            "other resources are filtered out"
        );
        // After a compaction, older watches get the backend's answer.
        let now = c.current_revision().await.unwrap();
        c.compact(now).await.unwrap();
        assert!(matches!(c.watch("/registry/core/cms/", a.mod_revision).await, Err(Error::Compacted { .. })));
        assert!(matches!(c.watch("/registry/core/cms/", now + 100).await, Err(Error::FutureRevision { .. })));
    }
}
