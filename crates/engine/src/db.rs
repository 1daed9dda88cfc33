//! The engine's state: one SQLite database (WAL mode) that several berth
//! processes use at once — CLIs, monitors, the API server. Records are JSON
//! documents in a few tables; names and addresses are unique by constraint,
//! so two concurrent `run --name x` or address allocations cannot both win.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Bump with every change to SCHEMA (its statements must stay idempotent).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    config  TEXT NOT NULL,
    state   TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS networks (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    config  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS addresses (
    network   TEXT NOT NULL,
    address   TEXT NOT NULL,
    container TEXT NOT NULL,
    PRIMARY KEY (network, address)
);
CREATE INDEX IF NOT EXISTS addresses_by_container ON addresses(container);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time_nano  INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS volumes (
    name    TEXT PRIMARY KEY,
    config  TEXT NOT NULL
);
";

pub struct Db {
    conn: Connection,
}

fn db_err(what: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::Db(format!("{what}: {e}"))
}

impl Db {
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path).map_err(db_err("opening the state database"))?;
        // Other berth processes may hold the write lock for a moment.
        conn.busy_timeout(Duration::from_secs(10)).map_err(db_err("busy timeout"))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=128;")
            .map_err(db_err("configuring the state database"))?;
        // Every CLI run opens and closes the database: no checkpoint (and
        // its fsyncs) at each close; the WAL is checkpointed as it grows
        // instead, kept small (128 pages) because a process that opens it
        // with no other connection open rebuilds its index by reading it.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(db_err("configuring the state database"))?;
        // The schema (and WAL mode, which the file remembers) once per
        // database, not at every open: a version number says it is there.
        let version: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db_err("reading the schema version"))?;
        if version < SCHEMA_VERSION {
            conn.execute_batch("PRAGMA journal_mode=WAL;").map_err(db_err("configuring the state database"))?;
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"))
                .map_err(db_err("creating the schema"))?;
        }
        Ok(Db { conn })
    }

    /// Runs `f` in an immediate (write-locked) transaction: read-modify-write
    /// sequences see no interleaved writer.
    pub fn write<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err("starting a transaction"))?;
        let out = f(&tx)?;
        tx.commit().map_err(db_err("committing"))?;
        Ok(out)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

pub fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Db(format!("encoding a record: {e}")))
}

pub fn from_json<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Db(format!("decoding a record: {e}")))
}

/// A container row: id, name, config JSON, state JSON, created (unix secs).
pub type Row = (String, String, String, String, i64);

pub fn container_rows(conn: &Connection) -> Result<Vec<Row>> {
    let mut st = conn
        .prepare_cached("SELECT id, name, config, state, created FROM containers ORDER BY created DESC, id")
        .map_err(db_err("listing containers"))?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .map_err(db_err("listing containers"))?
        .collect::<std::result::Result<Vec<Row>, _>>()
        .map_err(db_err("listing containers"))?;
    Ok(rows)
}

/// A container by exact id, exact name, or unique id prefix (docker's rules).
pub fn find_container(conn: &Connection, key: &str) -> Result<Option<Row>> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let q = "SELECT id, name, config, state, created FROM containers WHERE id = ?1 OR name = ?1";
    let exact: Option<Row> = conn
        .query_row(q, params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()
        .map_err(db_err("finding a container"))?;
    if exact.is_some() || key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(exact);
    }
    let mut st = conn
        .prepare_cached("SELECT id, name, config, state, created FROM containers WHERE id LIKE ?1 || '%' LIMIT 2")
        .map_err(db_err("finding a container"))?;
    let rows = st
        .query_map(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .map_err(db_err("finding a container"))?
        .collect::<std::result::Result<Vec<Row>, _>>()
        .map_err(db_err("finding a container"))?;
    match rows.len() {
        1 => Ok(rows.into_iter().next()),
        0 => Ok(None),
        _ => Err(Error::Invalid(format!("multiple containers match the id prefix {key:?}"))),
    }
}

pub fn insert_container(tx: &rusqlite::Transaction, row: &Row) -> Result<()> {
    tx.execute(
        "INSERT INTO containers (id, name, config, state, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![row.0, row.1, row.2, row.3, row.4],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => Error::Conflict(
            format!("Conflict. The container name \"/{}\" is already in use. You have to remove (or rename) that container to be able to reuse that name.", row.1),
        ),
        e => Error::Db(format!("storing container {}: {e}", row.1)),
    })?;
    Ok(())
}

/// How many names berth draws for an unnamed container before it falls
/// back to the id's first twelve digits (which no other container has).
const NAME_DRAWS: u32 = 10;

/// Stores a container whose name berth chooses. A drawn name that is taken
/// is not the user's conflict, so another is drawn, as dockerd does; `draw`
/// is called with the attempt number. `row.1` ends as the stored name.
pub fn insert_with_drawn_name(
    tx: &rusqlite::Transaction,
    row: &mut Row,
    mut draw: impl FnMut(u32) -> String,
) -> Result<()> {
    for attempt in 0..NAME_DRAWS {
        row.1 = draw(attempt);
        match insert_container(tx, row) {
            Err(Error::Conflict(_)) => continue,
            other => return other,
        }
    }
    row.1 = row.0.chars().take(12).collect();
    insert_container(tx, row)
}

pub fn update_state(conn: &Connection, id: &str, state: &str) -> Result<()> {
    conn.execute("UPDATE containers SET state = ?2 WHERE id = ?1", params![id, state])
        .map_err(db_err("updating a container's state"))?;
    Ok(())
}

pub fn update_config(conn: &Connection, id: &str, config: &str) -> Result<()> {
    conn.execute("UPDATE containers SET config = ?2 WHERE id = ?1", params![id, config])
        .map_err(db_err("updating a container's configuration"))?;
    Ok(())
}

pub fn delete_container(conn: &Connection, id: &str) -> Result<()> {
    conn.execute("DELETE FROM containers WHERE id = ?1", params![id]).map_err(db_err("removing a container"))?;
    conn.execute("DELETE FROM addresses WHERE container = ?1", params![id]).map_err(db_err("releasing addresses"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str) -> Row {
        (id.into(), name.into(), "{}".into(), "{}".into(), 1)
    }

    #[test]
    fn names_are_unique_and_lookups_follow_docker() {
        let d = tempfile::tempdir().unwrap();
        let mut db = Db::open(&d.path().join("state.db")).unwrap();
        db.write(|tx| insert_container(tx, &row("abc123", "web"))).unwrap();
        db.write(|tx| insert_container(tx, &row("abd456", "db"))).unwrap();
        let e = db.write(|tx| insert_container(tx, &row("ffff", "web"))).unwrap_err();
        assert!(e.to_string().contains("The container name \"/web\" is already in use"), "{e}");
        assert_eq!(find_container(db.conn(), "web").unwrap().unwrap().0, "abc123");
        assert_eq!(find_container(db.conn(), "/web").unwrap().unwrap().0, "abc123");
        assert_eq!(find_container(db.conn(), "abc").unwrap().unwrap().1, "web");
        assert!(find_container(db.conn(), "ab").is_err(), "ambiguous prefix");
        assert!(find_container(db.conn(), "zzz").unwrap().is_none());
        delete_container(db.conn(), "abc123").unwrap();
        assert!(find_container(db.conn(), "web").unwrap().is_none());
    }

    #[test]
    fn a_drawn_name_that_is_taken_is_drawn_again_never_a_conflict() {
        let d = tempfile::tempdir().unwrap();
        let mut db = Db::open(&d.path().join("state.db")).unwrap();
        db.write(|tx| insert_container(tx, &row("aaa", "busy_bee"))).unwrap();
        let mut r = row("bbb", "");
        let mut draws = vec![];
        db.write(|tx| {
            insert_with_drawn_name(tx, &mut r, |n| {
                draws.push(n);
                if n == 0 {
                    "busy_bee".into()
                } else {
                    "calm_cat".into()
                }
            })
        })
        .unwrap();
        assert_eq!((r.1.as_str(), draws), ("calm_cat", vec![0, 1]));
        assert_eq!(find_container(db.conn(), "calm_cat").unwrap().unwrap().0, "bbb");

        // Every draw taken: the id's prefix, still no error.
        let mut r = row("cccccccccccccccc", "");
        db.write(|tx| insert_with_drawn_name(tx, &mut r, |_| "busy_bee".into())).unwrap();
        assert_eq!(r.1, "cccccccccccc");
        assert_eq!(find_container(db.conn(), "busy_bee").unwrap().unwrap().0, "aaa");
    }

    #[test]
    fn concurrent_writers_in_several_connections() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("state.db");
        Db::open(&path).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut db = Db::open(&path).unwrap();
                    for j in 0..10 {
                        db.write(|tx| insert_container(tx, &row(&format!("{i}-{j}"), &format!("n{i}-{j}")))).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(container_rows(Db::open(&path).unwrap().conn()).unwrap().len(), 80);
    }
}
