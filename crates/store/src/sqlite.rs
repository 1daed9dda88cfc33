//! The embedded store: one SQLite file holding a log of revisions, as
//! k3s's kine does. Every write appends a row whose id is the new revision
//! (a create, an update, or a delete marker carrying the old value); a
//! key's state at revision R is its latest row at or before R. Lists at a
//! revision, watches from one and compaction all fall out of that.
//!
//! Writes go through one writer thread that commits whatever requests are
//! waiting in one transaction (group commit). Durability is pipelined, as
//! etcd pipelines its log: the writer commits without waiting for the disk
//! and moves on to the next batch while sync threads fsync the log (two
//! may be in flight, so a commit never waits for an fsync that began
//! before it); a write is answered, published to watches and becomes the
//! current revision only once an fsync that began after its commit has
//! returned, and one fsync covers every commit made before it. Reads use their own
//! connections (WAL lets them run beside the writer) and never look past
//! the current revision, so nothing not yet durable is ever seen. Watches
//! catch up from the log when they start behind or fall behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{Backend, Error, Event, KeyValue, ListOptions, ListResult, Result, Watch};

/// How many waiting writes one transaction takes at most.
const MAX_BATCH: usize = 512;

enum Op {
    Create { key: String, value: Vec<u8> },
    Update { key: String, value: Vec<u8>, expected: i64 },
    Delete { key: String, expected: Option<i64> },
    Compact { revision: i64 },
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<KeyValue>>,
}

struct Shared {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    events: broadcast::Sender<Arc<Event>>,
    current: AtomicI64,
    compacted: AtomicI64,
}

/// The embedded [`Backend`]: one SQLite database file and its writer
/// thread. The current revision is kept in this process, so one process
/// at a time may use a file.
pub struct SqliteStore {
    shared: Arc<Shared>,
    writer: std::sync::mpsc::Sender<Request>,
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Backend(format!("sqlite: {e}"))
}

fn connect(path: &Path) -> Result<Connection> {
    let c = Connection::open(path).map_err(db_err)?;
    c.busy_timeout(std::time::Duration::from_secs(30)).map_err(db_err)?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
    // Commits do not fsync themselves: the sync thread does, before any
    // write is acknowledged (see the module's comment). NORMAL still syncs
    // the log before every checkpoint copies it into the database.
    c.pragma_update(None, "synchronous", "NORMAL").map_err(db_err)?;
    Ok(c)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    rev INTEGER PRIMARY KEY,
    key BLOB NOT NULL,
    deleted INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_rev ON kv(key, rev);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('current', 1), ('compacted', 0);
";

impl SqliteStore {
    /// Opens the store at `path`, creating the file (and its directory)
    /// when missing, and starts its writer thread; the revisions go on
    /// from where the file left them.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Backend(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = connect(path)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        // A previous process may have left committed but unsynced log pages
        // in the page cache: make them durable before serving them as such.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(db_err)?;
        let meta = |name: &str| -> Result<i64> {
            conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0)).map_err(db_err)
        };
        // The log's newest row is the current revision; the meta row keeps
        // it across compactions, which may drop that row. (Not updating it
        // on every commit saves a page write per commit.)
        let newest: i64 = conn.query_row("SELECT COALESCE(MAX(rev), 0) FROM kv", [], |r| r.get(0)).map_err(db_err)?;
        let (current, compacted) = (meta("current")?.max(newest), meta("compacted")?);
        let (events, _) = broadcast::channel(8192);
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
            events,
            current: AtomicI64::new(current),
            compacted: AtomicI64::new(compacted),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let s = shared.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer(conn, rx, s))
            .map_err(|e| Error::Backend(format!("starting the store's writer: {e}")))?;
        Ok(SqliteStore { shared, writer: tx })
    }

    async fn write(&self, op: Op) -> Result<KeyValue> {
        let (reply, rx) = oneshot::channel();
        self.writer.send(Request { op, reply }).map_err(|_| Error::Backend("the store's writer stopped".into()))?;
        rx.await.map_err(|_| Error::Backend("the store's writer stopped".into()))?
    }

    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T> + Send + 'static) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match shared.readers.lock().ok().and_then(|mut v| v.pop()) {
                Some(c) => c,
                None => connect(&shared.path)?,
            };
            let r = f(&conn);
            if let Ok(mut v) = shared.readers.lock() {
                if v.len() < 8 {
                    v.push(conn);
                }
            }
            r
        })
        .await
        .map_err(|e| Error::Backend(format!("store read: {e}")))?
    }
}

/// A key's latest row in the log.
struct Row {
    rev: i64,
    deleted: bool,
    create_rev: i64,
    value: Vec<u8>,
}

fn latest(tx: &Connection, key: &str) -> Result<Option<Row>> {
    // Cached statements: the writer thread is the one serial step of every
    // write, and parsing SQL on each call was a visible part of it. The
    // CAST keeps the planner from looking at the bound key (with `key = ?`
    // and an ORDER BY it does, and then re-prepares on every bind).
    tx.prepare_cached(
        "SELECT rev, deleted, create_rev, value FROM kv WHERE key = CAST(?1 AS BLOB) ORDER BY rev DESC LIMIT 1",
    )
    .map_err(db_err)?
    .query_row([key.as_bytes()], |r| {
        Ok(Row { rev: r.get(0)?, deleted: r.get::<_, i64>(1)? != 0, create_rev: r.get(2)?, value: r.get(3)? })
    })
    .optional()
    .map_err(db_err)
}

/// A key's current row, if it exists (not deleted).
fn live(tx: &Connection, key: &str) -> Result<Option<Row>> {
    Ok(latest(tx, key)?.filter(|r| !r.deleted))
}

/// A key's row as of revision `at` (reads: never past what is durable).
fn live_at(c: &Connection, key: &str, at: i64) -> Result<Option<Row>> {
    c.prepare_cached(
        "SELECT rev, deleted, create_rev, value FROM kv WHERE key = CAST(?1 AS BLOB) AND rev <= ?2
         ORDER BY rev DESC LIMIT 1",
    )
    .map_err(db_err)?
    .query_row(params![key.as_bytes(), at], |r| {
        Ok(Row { rev: r.get(0)?, deleted: r.get::<_, i64>(1)? != 0, create_rev: r.get(2)?, value: r.get(3)? })
    })
    .optional()
    .map_err(db_err)
    .map(|r| r.filter(|r| !r.deleted))
}

/// One write inside the open transaction at revision `rev`: its result and
/// the event it makes (none for a failed one or a compaction).
fn apply(tx: &Connection, op: &Op, rev: i64, compacted: &AtomicI64, durable: i64) -> Result<(KeyValue, Option<Event>)> {
    let insert = |key: &str, deleted: bool, create_rev: i64, prev_rev: i64, value: &[u8]| {
        tx.prepare_cached(
            "INSERT INTO kv (rev, key, deleted, create_rev, prev_rev, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(db_err)?
        .execute(params![rev, key.as_bytes(), deleted as i64, create_rev, prev_rev, value])
        .map_err(db_err)
    };
    match op {
        Op::Create { key, value } => {
            let cur = latest(tx, key)?;
            if cur.as_ref().is_some_and(|c| !c.deleted) {
                return Err(Error::AlreadyExists(key.clone()));
            }
            insert(key, false, rev, cur.map_or(0, |c| c.rev), value)?;
            let kv = KeyValue { key: key.clone(), value: value.clone(), create_revision: rev, mod_revision: rev };
            Ok((kv.clone(), Some(Event::Put { kv, prev: None })))
        }
        Op::Update { key, value, expected } => {
            let Some(Row { rev: cur_rev, create_rev, value: old, .. }) = live(tx, key)? else {
                return Err(Error::NotFound(key.clone()));
            };
            if cur_rev != *expected {
                return Err(Error::Conflict { key: key.clone(), expected: *expected, actual: cur_rev });
            }
            insert(key, false, create_rev, cur_rev, value)?;
            let prev = KeyValue { key: key.clone(), value: old, create_revision: create_rev, mod_revision: cur_rev };
            let kv =
                KeyValue { key: key.clone(), value: value.clone(), create_revision: create_rev, mod_revision: rev };
            Ok((kv.clone(), Some(Event::Put { kv, prev: Some(prev) })))
        }
        Op::Delete { key, expected } => {
            let Some(Row { rev: cur_rev, create_rev, value: old, .. }) = live(tx, key)? else {
                return Err(Error::NotFound(key.clone()));
            };
            if let Some(e) = expected {
                if cur_rev != *e {
                    return Err(Error::Conflict { key: key.clone(), expected: *e, actual: cur_rev });
                }
            }
            insert(key, true, create_rev, cur_rev, &old)?;
            let prev = KeyValue { key: key.clone(), value: old, create_revision: create_rev, mod_revision: cur_rev };
            let deleted = KeyValue { mod_revision: rev, ..prev.clone() };
            Ok((deleted, Some(Event::Delete { prev, revision: rev })))
        }
        Op::Compact { revision } => {
            // Only what is durable (and so readable) may be compacted.
            let current = durable.min(rev - 1);
            if *revision > current {
                return Err(Error::FutureRevision { requested: *revision, current });
            }
            let done = compacted.load(Ordering::SeqCst);
            if *revision <= done {
                return Err(Error::Compacted { requested: *revision, compacted: done });
            }
            // Drop every row older than `revision` that a later row at or
            // before it supersedes, and delete markers older than it: the
            // state at `revision` and everything after stay.
            tx.execute(
                "DELETE FROM kv WHERE rev < ?1 AND (deleted = 1 OR EXISTS (
                     SELECT 1 FROM kv AS later WHERE later.key = kv.key AND later.rev > kv.rev AND later.rev <= ?1))",
                [revision],
            )
            .map_err(db_err)?;
            tx.execute("UPDATE meta SET value = MAX(value, ?1) WHERE name = 'compacted'", [revision])
                .map_err(db_err)?;
            // The rows just dropped may have held the newest revision.
            tx.execute("UPDATE meta SET value = MAX(value, ?1) WHERE name = 'current'", [rev - 1]).map_err(db_err)?;
            Ok((KeyValue { key: String::new(), value: vec![], create_revision: 0, mod_revision: *revision }, None))
        }
    }
}

/// One write's outcome and the event it makes, if any.
type Outcome = Result<(KeyValue, Option<Event>)>;

/// A committed batch waiting for its fsync.
struct Committed {
    revision: i64,
    compacted: Option<i64>,
    replies: Vec<(oneshot::Sender<Result<KeyValue>>, Outcome)>,
}

/// How many fsyncs of the log may be in flight at once. A commit that
/// lands while one is running starts its own rather than waiting for it
/// to end (the kernel overlaps them: measured 1.65x the syncs per second
/// with two on this class of disk, at +20% latency each).
const SYNCS_IN_FLIGHT: usize = 2;

/// Committed batches on their way to being durable.
#[derive(Default)]
struct Durability {
    pending: std::collections::VecDeque<Committed>,
    /// The newest revision an fsync has begun to cover.
    started: i64,
    /// The newest revision known durable.
    durable: i64,
    closed: bool,
    failed: Option<Error>,
    /// Sync threads waiting for work (a notify with none is a wasted syscall).
    idle: usize,
}

struct Syncs {
    state: Mutex<Durability>,
    /// Held, before `state`, by whoever answers: durable batches leave
    /// `state` in commit order under it and are answered in that order
    /// after `state` is released, so the writer never waits on answers.
    answering: Mutex<()>,
    work: std::sync::Condvar,
    log: PathBuf,
}

impl Syncs {
    /// Takes, in commit order, every batch now durable.
    fn take_durable(d: &mut Durability) -> Vec<Committed> {
        let n = d.pending.iter().take_while(|c| c.revision <= d.durable).count();
        d.pending.drain(..n).collect()
    }

    /// Answers and publishes batches taken by `take_durable` (under `answering`).
    fn publish(ready: Vec<Committed>, shared: &Shared) {
        for c in ready {
            shared.current.store(c.revision.max(shared.current.load(Ordering::SeqCst)), Ordering::SeqCst);
            if let Some(r) = c.compacted {
                shared.compacted.fetch_max(r, Ordering::SeqCst);
            }
            for (reply, out) in c.replies {
                match out {
                    Ok((kv, ev)) => {
                        if let Some(ev) = ev {
                            let _ = shared.events.send(Arc::new(ev));
                        }
                        let _ = reply.send(Ok(kv));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }

    /// Stops the store for good: every waiting batch is answered with `e`.
    fn fail(d: &mut Durability, e: Error) {
        d.failed = Some(e.clone());
        for c in d.pending.drain(..) {
            for (reply, _) in c.replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }

    /// A sync worker: fsyncs the log whenever a commit is not yet covered
    /// by one, then publishes what that made durable.
    fn run(&self, shared: &Shared) {
        let mut log: Option<std::fs::File> = None;
        let Ok(mut d) = self.state.lock() else { return };
        loop {
            let uncovered = d.pending.back().map(|c| c.revision).filter(|r| *r > d.started);
            let Some(cover) = uncovered else {
                if d.closed {
                    return;
                }
                d.idle += 1;
                d = match self.work.wait(d) {
                    Ok(d) => d,
                    Err(_) => return,
                };
                d.idle -= 1;
                continue;
            };
            d.started = cover;
            drop(d);
            let file = match &log {
                Some(f) => Ok(f),
                None => std::fs::File::open(&self.log).map(|f| &*log.insert(f)),
            };
            let synced = file.and_then(|f| f.sync_data());
            let Ok(answering) = self.answering.lock() else { return };
            d = match self.state.lock() {
                Ok(d) => d,
                Err(_) => return,
            };
            match synced {
                // A later fsync may succeed after one failed (the kernel
                // reports a writeback error once): still nothing is published.
                Ok(()) if d.failed.is_none() => {
                    d.durable = d.durable.max(cover);
                    let ready = Syncs::take_durable(&mut d);
                    drop(d);
                    Syncs::publish(ready, shared);
                    drop(answering);
                    d = match self.state.lock() {
                        Ok(d) => d,
                        Err(_) => return,
                    };
                }
                Ok(()) => {}
                Err(e) => {
                    // Like etcd, a log that cannot be synced stops the store:
                    // nothing after this point could be promised durable.
                    let e = Error::Backend(format!("syncing the store's log {}: {e}", self.log.display()));
                    Syncs::fail(&mut d, e);
                }
            }
        }
    }
}

fn writer(conn: Connection, rx: std::sync::mpsc::Receiver<Request>, shared: Arc<Shared>) {
    let mut log = shared.path.clone().into_os_string();
    log.push("-wal");
    let start = shared.current.load(Ordering::SeqCst);
    let syncs = Arc::new(Syncs {
        state: Mutex::new(Durability { started: start, durable: start, ..Default::default() }),
        answering: Mutex::new(()),
        work: std::sync::Condvar::new(),
        log: PathBuf::from(log),
    });
    for i in 0..SYNCS_IN_FLIGHT {
        let (w, s) = (syncs.clone(), shared.clone());
        if let Err(e) = std::thread::Builder::new().name(format!("store-sync-{i}")).spawn(move || w.run(&s)) {
            eprintln!("berth store: starting a sync thread: {e}");
            if let Ok(mut d) = syncs.state.lock() {
                d.closed = true;
            }
            syncs.work.notify_all();
            return;
        }
    }
    // The last revision committed (possibly not yet durable).
    let mut committed_rev = start;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let failed = syncs.state.lock().ok().and_then(|d| d.failed.clone());
        if let Some(e) = failed {
            for req in batch {
                let _ = req.reply.send(Err(e.clone()));
            }
            continue;
        }
        let mut rev = committed_rev;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut pending_compaction = None;
        let durable = shared.current.load(Ordering::SeqCst);
        let committed = (|| -> Result<()> {
            // BEGIN and COMMIT as cached statements too (a Transaction
            // parses them on every batch).
            conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut s| s.execute([])).map_err(db_err)?;
            let done = (|| -> Result<()> {
                for req in &batch {
                    // A failed write uses no revision: the next one takes it.
                    let r = apply(&conn, &req.op, rev + 1, &shared.compacted, durable);
                    if conn.is_autocommit() {
                        // SQLite rolled the whole transaction back itself (disk
                        // full, I/O error): nothing of the batch may stand.
                        return Err(Error::Backend("sqlite rolled the transaction back".into()));
                    }
                    if let Ok((_, Some(_))) = &r {
                        rev += 1;
                    }
                    if let (Op::Compact { revision }, Ok(_)) = (&req.op, &r) {
                        pending_compaction = Some(*revision);
                    }
                    outcomes.push(r);
                }
                // Readers must not use rows a compaction drops from here on.
                if let Some(c) = pending_compaction {
                    shared.compacted.fetch_max(c, Ordering::SeqCst);
                }
                conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).map(drop).map_err(db_err)
            })();
            if done.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            done
        })();
        if let Err(e) = committed {
            for req in batch {
                let _ = req.reply.send(Err(e.clone()));
            }
            // What the log holds is the truth for the next revision.
            if let Ok(newest) = conn.query_row("SELECT COALESCE(MAX(rev), 0) FROM kv", [], |r| r.get::<_, i64>(0)) {
                committed_rev = committed_rev.max(newest);
            }
            continue;
        }
        committed_rev = rev;
        let replies: Vec<_> = batch.into_iter().map(|r| r.reply).zip(outcomes).collect();
        let Ok(mut d) = syncs.state.lock() else { return };
        if let Some(e) = d.failed.clone() {
            for (reply, _) in replies {
                let _ = reply.send(Err(e.clone()));
            }
            continue;
        }
        d.pending.push_back(Committed { revision: rev, compacted: pending_compaction, replies });
        // A batch that wrote nothing new is durable as soon as what came
        // before it is.
        let ready = d.pending.front().is_some_and(|c| c.revision <= d.durable);
        let idle = d.idle > 0;
        drop(d);
        if ready {
            let Ok(_answering) = syncs.answering.lock() else { return };
            let Ok(mut d) = syncs.state.lock() else { return };
            let ready = Syncs::take_durable(&mut d);
            drop(d);
            Syncs::publish(ready, &shared);
        }
        if idle {
            syncs.work.notify_one();
        }
    }
    if let Ok(mut d) = syncs.state.lock() {
        d.closed = true;
    }
    syncs.work.notify_all();
}

fn check_revision(shared: &Shared, r: i64) -> Result<()> {
    let current = shared.current.load(Ordering::SeqCst);
    if r > current {
        return Err(Error::FutureRevision { requested: r, current });
    }
    let compacted = shared.compacted.load(Ordering::SeqCst);
    if r < compacted {
        return Err(Error::Compacted { requested: r, compacted });
    }
    Ok(())
}

/// Events under `[lo, hi)` after revision `after`, from the log, with the
/// previous values the log still holds.
fn history(conn: &Connection, lo: &[u8], hi: &[u8], after: i64, upto: i64) -> Result<Vec<Event>> {
    let mut st = conn
        .prepare_cached(
            "SELECT k.rev, k.key, k.deleted, k.create_rev, k.prev_rev, k.value, p.value, p.create_rev
             FROM kv AS k LEFT JOIN kv AS p ON p.rev = k.prev_rev AND p.deleted = 0
             WHERE k.rev > ?1 AND k.rev <= ?4 AND k.key >= ?2 AND k.key < ?3 ORDER BY k.rev",
        )
        .map_err(db_err)?;
    let rows = st
        .query_map(params![after, lo, hi, upto], |r| {
            let rev: i64 = r.get(0)?;
            let key = String::from_utf8_lossy(&r.get::<_, Vec<u8>>(1)?).into_owned();
            let deleted = r.get::<_, i64>(2)? != 0;
            let create_rev: i64 = r.get(3)?;
            let prev_rev: i64 = r.get(4)?;
            let value: Vec<u8> = r.get(5)?;
            let prev_value: Option<Vec<u8>> = r.get(6)?;
            let prev_create: Option<i64> = r.get(7)?;
            Ok(if deleted {
                Event::Delete {
                    prev: KeyValue { key, value, create_revision: create_rev, mod_revision: prev_rev },
                    revision: rev,
                }
            } else {
                let prev = prev_value.map(|v| KeyValue {
                    key: key.clone(),
                    value: v,
                    create_revision: prev_create.unwrap_or(create_rev),
                    mod_revision: prev_rev,
                });
                // A create after a delete has no previous value.
                let prev = if create_rev == rev { None } else { prev };
                Event::Put { kv: KeyValue { key, value, create_revision: create_rev, mod_revision: rev }, prev }
            })
        })
        .map_err(db_err)?;
    rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db_err)
}

#[async_trait::async_trait]
impl Backend for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_string();
        let at = self.shared.current.load(Ordering::SeqCst);
        self.read(move |c| {
            Ok(live_at(c, &key, at)?.map(|r| KeyValue {
                key: key.clone(),
                value: r.value,
                create_revision: r.create_rev,
                mod_revision: r.rev,
            }))
        })
        .await
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let at = match opts.revision.filter(|r| *r > 0) {
            Some(r) => {
                check_revision(&self.shared, r)?;
                r
            }
            None => self.shared.current.load(Ordering::SeqCst),
        };
        let lo = match &opts.start_after {
            // The smallest key after `start_after`.
            Some(a) if a.as_str() >= prefix => format!("{a}\0").into_bytes(),
            _ => prefix.as_bytes().to_vec(),
        };
        let hi = crate::prefix_end(prefix);
        let limit = opts.limit.filter(|l| *l > 0).map_or(-1, |l| l as i64 + 1);
        let mut items = self
            .read(move |c| {
                let mut st = c
                    .prepare_cached(
                        "SELECT k.key, k.rev, k.create_rev, k.value FROM kv AS k
                         JOIN (SELECT key, MAX(rev) AS mr FROM kv WHERE key >= ?1 AND key < ?2 AND rev <= ?3 GROUP BY key) AS m
                           ON k.key = m.key AND k.rev = m.mr
                         WHERE k.deleted = 0 ORDER BY k.key LIMIT ?4",
                    )
                    .map_err(db_err)?;
                let rows = st
                    .query_map(params![lo, hi, at, limit], |r| {
                        Ok(KeyValue {
                            key: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(0)?).into_owned(),
                            mod_revision: r.get(1)?,
                            create_revision: r.get(2)?,
                            value: r.get(3)?,
                        })
                    })
                    .map_err(db_err)?;
                rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db_err)
            })
            .await?;
        // A compaction between the check and the read would have changed
        // what "at" means: check again.
        if opts.revision.is_some_and(|r| r > 0) {
            check_revision(&self.shared, at)?;
        }
        let more = opts.limit.is_some_and(|l| l > 0 && items.len() > l);
        if more {
            items.truncate(opts.limit.unwrap_or(0));
        }
        Ok(ListResult { items, revision: at, more })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        self.write(Op::Create { key: key.to_string(), value }).await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: i64) -> Result<KeyValue> {
        self.write(Op::Update { key: key.to_string(), value, expected }).await
    }

    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<KeyValue> {
        self.write(Op::Delete { key: key.to_string(), expected }).await
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<Watch> {
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        // Compaction keeps the row at its revision, so a watch may start
        // right before it (as etcd allows a start revision equal to it).
        if after < compacted - 1 {
            return Err(Error::Compacted { requested: after, compacted });
        }
        let current = self.shared.current.load(Ordering::SeqCst);
        if after > current {
            return Err(Error::FutureRevision { requested: after, current });
        }
        // Subscribe before reading the log, so nothing falls between.
        let mut live = self.shared.events.subscribe();
        let (tx, rx) = mpsc::channel(1024);
        let lo = prefix.as_bytes().to_vec();
        let hi = crate::prefix_end(prefix);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut last = after;
            loop {
                // Catch up from the log.
                let (l, h) = (lo.clone(), hi.clone());
                let s = shared.clone();
                let from = last;
                let past = tokio::task::spawn_blocking(move || {
                    let conn = connect(&s.path)?;
                    let upto = s.current.load(Ordering::SeqCst);
                    history(&conn, &l, &h, from, upto)
                })
                .await
                .unwrap_or_else(|e| Err(Error::Backend(e.to_string())));
                // A compaction past where the log was read from took events
                // this watch never saw: it must start again (410).
                let floor = shared.compacted.load(Ordering::SeqCst);
                let past = past.and_then(|events| {
                    if from < floor - 1 {
                        Err(Error::Compacted { requested: from, compacted: floor })
                    } else {
                        Ok(events)
                    }
                });
                match past {
                    Ok(events) => {
                        for e in events {
                            last = e.revision();
                            if tx.send(Ok(e)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
                // Then live, until we fall behind.
                match crate::relay(&mut live, &mut last, &lo, &hi, &tx).await {
                    crate::Relay::Lagged => {}
                    crate::Relay::Closed | crate::Relay::Gone => return,
                }
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(Watch::new(rx))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        self.write(Op::Compact { revision }).await.map(|_| ())
    }

    async fn current_revision(&self) -> Result<i64> {
        Ok(self.shared.current.load(Ordering::SeqCst))
    }
}
