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
#![deny(missing_docs)]

pub mod cache;
pub mod etcd;
pub mod sqlite;

use std::sync::Arc;

use tokio::sync::mpsc;

/// A stored key with its value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The full key, e.g. `/registry/core/pods/default/web`.
    pub key: String,
    /// The stored bytes, opaque to the store (the API server keeps JSON).
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
    Put {
        /// The key as this write left it; its `mod_revision` is the event's.
        kv: KeyValue,
        /// The value it replaced, within the same incarnation of the key:
        /// None for a create, and also when compaction has already
        /// removed the old value from the history a watch replays.
        prev: Option<KeyValue>,
    },
    /// Deleted at `revision`; `prev` is the value it had.
    Delete {
        /// The key's last value before the delete, with that value's own
        /// revisions (not the deletion's).
        prev: KeyValue,
        /// The revision of the delete itself.
        revision: i64,
    },
}

impl Event {
    /// The revision this change was made at: what a watcher resumes after.
    pub fn revision(&self) -> i64 {
        match self {
            Event::Put { kv, .. } => kv.mod_revision,
            Event::Delete { revision, .. } => *revision,
        }
    }

    /// The key that changed, for either kind of event.
    pub fn key(&self) -> &str {
        match self {
            Event::Put { kv, .. } => &kv.key,
            Event::Delete { prev, .. } => &prev.key,
        }
    }
}

/// What `Backend::list` returns and from when; the default is every key
/// at the current revision.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// List the state at this revision (None: the current one).
    pub revision: Option<i64>,
    /// At most this many items (None: all).
    pub limit: Option<usize>,
    /// Only keys after this one (paging: the last key of the previous page).
    pub start_after: Option<String>,
}

/// One page of a list, all from the same snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListResult {
    /// The keys of the page, in key order.
    pub items: Vec<KeyValue>,
    /// The revision the list is a snapshot of.
    pub revision: i64,
    /// More keys follow the last one returned.
    pub more: bool,
}

/// Why a store operation failed. The first five are answers about the
/// data (the API server maps them to 404, 409, 410 and so on); `Backend`
/// is the store itself failing.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The key (given) does not exist, or no longer does: an update or
    /// delete of a missing key.
    #[error("key {0} not found")]
    NotFound(String),
    /// A create of a key (given) that exists.
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// The compare-and-swap failed: the key changed since `expected`.
    #[error("key {key} was modified: expected revision {expected}, it is at {actual}")]
    Conflict {
        /// The key written.
        key: String,
        /// The mod revision the caller said the key was at.
        expected: i64,
        /// The mod revision it is really at.
        actual: i64,
    },
    /// A read or watch asked for a revision that compaction removed.
    #[error("revision {requested} has been compacted (the oldest kept is {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: i64,
        /// The compaction revision, or 0 where the backend does not say
        /// (etcd, except on watches).
        compacted: i64,
    },
    /// A revision in the future.
    #[error("revision {requested} is newer than the store's current revision {current}")]
    FutureRevision {
        /// The revision asked for.
        requested: i64,
        /// The store's current revision, or 0 where the backend does not
        /// say (etcd's lists and compactions).
        current: i64,
    },
    /// The store could not do the operation (I/O, a lost connection, a
    /// stopped writer); the text says what. Whether the write happened is
    /// unknown.
    #[error("store: {0}")]
    Backend(String),
}

/// A result whose error is the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A stream of events in revision order. It ends with an error (a
/// compacted start, a broken connection) or when the store closes.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<Result<Event>>,
}

impl Watch {
    /// A watch over what a backend sends on `rx`: its events in revision
    /// order, then at most one error, then the sender dropped.
    pub fn new(rx: mpsc::Receiver<Result<Event>>) -> Watch {
        Watch { rx }
    }

    /// The next event, waiting for it; None once the watch has ended (after
    /// its error, if it ended with one).
    pub async fn next(&mut self) -> Option<Result<Event>> {
        self.rx.recv().await
    }
}

/// A key-value store with etcd v3's revision model; every backend passes
/// the one conformance suite (`tests/conformance.rs`), so callers need not
/// know which they have. Revisions are positive, start at 1 and only grow.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// "sqlite" or "etcd".
    fn name(&self) -> &'static str;
    /// The key's current value; None if it does not exist.
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
    /// The revision of the newest write that readers can see.
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
