//! The cluster store: what the API server keeps its objects in. One
//! interface (`Backend`), as etcd's v3 key-value model: a global revision
//! that every write advances, per-key create and modify revisions,
//! compare-and-swap on the modify revision, ranged lists at a revision with
//! paging, watches from a revision, and compaction of old revisions.
//!
//! Two backends behave identically (one conformance suite runs against
//! both): `sqlite`, embedded, the default (a log of revisions in one file,
//! like k3s's kine), and `etcd`, an etcd v3 cluster. `cache` puts the
//! watch cache in front of either.

#![forbid(unsafe_code)]

pub mod cache;
pub mod etcd;
pub mod sqlite;

use std::sync::Arc;

use tokio::sync::mpsc;

/// A stored key with its value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision that created the key (the current incarnation of it).
    pub create_revision: i64,
    /// The revision of its last change: its object's resourceVersion.
    pub mod_revision: i64,
}

/// One change, as a watch reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Created (`prev` is None) or updated.
    Put { kv: KeyValue, prev: Option<KeyValue> },
    /// Deleted at `revision`; `prev` is the value it had.
    Delete { prev: KeyValue, revision: i64 },
}

impl Event {
    pub fn revision(&self) -> i64 {
        match self {
            Event::Put { kv, .. } => kv.mod_revision,
            Event::Delete { revision, .. } => *revision,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Event::Put { kv, .. } => &kv.key,
            Event::Delete { prev, .. } => &prev.key,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// List the state at this revision (None: the current one).
    pub revision: Option<i64>,
    /// At most this many items (None: all).
    pub limit: Option<usize>,
    /// Only keys after this one (paging: the last key of the previous page).
    pub start_after: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    /// The revision the list is a snapshot of.
    pub revision: i64,
    /// More keys follow the last one returned.
    pub more: bool,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("key {0} not found")]
    NotFound(String),
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// The compare-and-swap failed: the key changed since `expected`.
    #[error("key {key} was modified: expected revision {expected}, it is at {actual}")]
    Conflict { key: String, expected: i64, actual: i64 },
    /// A read or watch asked for a revision that compaction removed.
    #[error("revision {requested} has been compacted (the oldest kept is {compacted})")]
    Compacted { requested: i64, compacted: i64 },
    /// A revision in the future.
    #[error("revision {requested} is newer than the store's current revision {current}")]
    FutureRevision { requested: i64, current: i64 },
    #[error("store: {0}")]
    Backend(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A stream of events in revision order. It ends with an error (a
/// compacted start, a broken connection) or when the store closes.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<Result<Event>>,
}

impl Watch {
    pub fn new(rx: mpsc::Receiver<Result<Event>>) -> Watch {
        Watch { rx }
    }

    pub async fn next(&mut self) -> Option<Result<Event>> {
        self.rx.recv().await
    }
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// "sqlite" or "etcd".
    fn name(&self) -> &'static str;
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Like `get`, but may miss the latest writes to a key that exists (a
    /// cache answers from memory); for checks that tolerate that.
    async fn get_recent(&self, key: &str) -> Result<Option<KeyValue>> {
        self.get(key).await
    }
    /// Keys under `prefix`, in key order.
    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult>;
    /// Fails with `AlreadyExists` if the key exists.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;
    /// Compare-and-swap: only if the key is at `expected` (its mod revision).
    async fn update(&self, key: &str, value: Vec<u8>, expected: i64) -> Result<KeyValue>;
    /// Deletes (only at `expected` when given); returns what was deleted,
    /// its `mod_revision` being the deletion's revision.
    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<KeyValue>;
    /// Every change under `prefix` after revision `after`, in order, then
    /// live ones. `Compacted` when `after` is older than what is kept.
    async fn watch(&self, prefix: &str, after: i64) -> Result<Watch>;
    /// Forgets the history before `revision` (the state at it is kept).
    async fn compact(&self, revision: i64) -> Result<()>;
    async fn current_revision(&self) -> Result<i64>;
}

/// Where the store lives: an etcd endpoint, or the embedded SQLite file;
/// either behind the watch cache.
pub async fn open(datastore_endpoint: Option<&str>, data_dir: &std::path::Path) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(cache::Cached::new(open_backend(datastore_endpoint, data_dir).await?)))
}

/// The backend itself, without the cache.
pub async fn open_backend(datastore_endpoint: Option<&str>, data_dir: &std::path::Path) -> Result<Arc<dyn Backend>> {
    match datastore_endpoint {
        Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
            Ok(Arc::new(etcd::EtcdStore::connect(&e.split(',').map(str::to_string).collect::<Vec<_>>()).await?))
        }
        Some(e) if e.starts_with("sqlite://") => {
            Ok(Arc::new(sqlite::SqliteStore::open(std::path::Path::new(&e["sqlite://".len()..]))?))
        }
        Some(e) => Err(Error::Backend(format!(
            "unsupported datastore endpoint {e:?}: use http://HOST:PORT (etcd) or sqlite:///path"
        ))),
        None => Ok(Arc::new(sqlite::SqliteStore::open(&data_dir.join("state.db"))?)),
    }
}

/// How relaying live events to a watcher ended.
pub(crate) enum Relay {
    /// The broadcast dropped events for this receiver: catch up elsewhere.
    Lagged,
    /// The broadcast ended (the store is gone).
    Closed,
    /// The watcher went away.
    Gone,
}

/// Passes the live events after revision `*last` whose key lies in
/// `[lo, hi)` to the watcher, keeping `*last` at the newest event seen.
/// Shared by the SQLite store's watches and the watch cache's.
pub(crate) async fn relay(
    live: &mut tokio::sync::broadcast::Receiver<Arc<Event>>,
    last: &mut i64,
    lo: &[u8],
    hi: &[u8],
    tx: &mpsc::Sender<Result<Event>>,
) -> Relay {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match live.recv().await {
            Ok(e) => {
                if e.revision() <= *last {
                    continue;
                }
                *last = e.revision();
                let k = e.key().as_bytes();
                if k >= lo && k < hi && tx.send(Ok((*e).clone())).await.is_err() {
                    return Relay::Gone;
                }
            }
            Err(RecvError::Lagged(_)) => return Relay::Lagged,
            Err(RecvError::Closed) => return Relay::Closed,
        }
    }
}

/// The first key after every key that starts with `prefix` (etcd's range end).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every key: etcd's "\0" range end.
    vec![0]
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_ends_bound_exactly_the_prefix() {
        assert_eq!(super::prefix_end("/registry/pods/"), b"/registry/pods0".to_vec());
        assert_eq!(super::prefix_end("a\u{7f}"), b"a\x80".to_vec());
        assert_eq!(super::prefix_end(""), vec![0]);
    }
}
