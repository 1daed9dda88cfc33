//! The event log behind `events` and the API's `/events`: what happened to
//! containers, networks and volumes, recorded in the database by whichever
//! process did it (CLI, monitor, API server), so every reader sees them all.
//! Only the most recent events are kept, like docker's in-memory ring.

use std::collections::BTreeMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Container;

/// How many events are kept.
const KEEP: i64 = 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
    /// "container", "network", "volume", "image".
    pub kind: String,
    pub action: String,
    pub actor: String,
    pub attributes: BTreeMap<String, String>,
}

/// Which events a reader wants (docker's `--filter`).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub kinds: Vec<String>,
    pub actions: Vec<String>,
    /// Matches the actor id (or prefix) or its `name` attribute.
    pub actors: Vec<String>,
    pub labels: Vec<String>,
}

impl Filter {
    /// Parses docker's `key=value` filters (type, event, container,
    /// network, volume, label).
    pub fn add(&mut self, f: &str) -> Result<()> {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("bad format of filter (expected name=value): {f}")))?;
        match k {
            "type" => self.kinds.push(v.into()),
            "event" | "status" => self.actions.push(v.into()),
            "container" | "network" | "volume" | "image" => {
                self.kinds.push(k.into());
                self.actors.push(v.into());
            }
            "label" => self.labels.push(v.into()),
            _ => return Err(Error::Invalid(format!("invalid filter '{k}'"))),
        }
        Ok(())
    }

    pub fn matches(&self, e: &Event) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&e.kind))
            && (self.actions.is_empty()
                || self.actions.iter().any(|a| e.action == *a || e.action.starts_with(&format!("{a}:"))))
            && (self.actors.is_empty()
                || self
                    .actors
                    .iter()
                    .any(|a| e.actor.starts_with(a.as_str()) || e.attributes.get("name").is_some_and(|n| n == a)))
            && self.labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => e.attributes.get(k).is_some_and(|x| x == v),
                None => e.attributes.contains_key(l),
            })
    }
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

impl Engine {
    /// Records an event. Failing to record one never fails the operation.
    pub fn emit(&self, kind: &str, action: &str, actor: &str, attributes: BTreeMap<String, String>) {
        let attrs = serde_json::to_string(&attributes).unwrap_or_default();
        let conn = self.db.conn();
        let _ = conn.execute(
            "INSERT INTO events (time_nano, kind, action, actor, attributes) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now_nanos(), kind, action, actor, attrs],
        );
        let seq = conn.last_insert_rowid();
        if seq % 64 == 0 {
            let _ = conn.execute("DELETE FROM events WHERE seq <= ?1", params![seq - KEEP]);
        }
    }

    /// A container event, with docker's attributes (name, image, labels).
    pub fn emit_container(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = c.config.labels.clone();
        attrs.insert("name".into(), c.name.clone());
        attrs.insert("image".into(), c.config.image.clone());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.emit("container", action, &c.id, attrs);
    }

    /// Events after `after_seq` (0: all kept), oldest first.
    pub fn events_since(&self, after_seq: i64) -> Result<Vec<Event>> {
        let mut st = self
            .db
            .conn()
            .prepare_cached(
                "SELECT seq, time_nano, kind, action, actor, attributes FROM events WHERE seq > ?1 ORDER BY seq",
            )
            .map_err(|e| Error::Db(format!("reading events: {e}")))?;
        let rows = st
            .query_map(params![after_seq], |r| {
                Ok(Event {
                    seq: r.get(0)?,
                    time_nano: r.get(1)?,
                    kind: r.get(2)?,
                    action: r.get(3)?,
                    actor: r.get(4)?,
                    attributes: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                })
            })
            .map_err(|e| Error::Db(format!("reading events: {e}")))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| Error::Db(format!("reading events: {e}")))
    }

    /// The newest event's sequence number (where a follower starts).
    pub fn last_event_seq(&self) -> Result<i64> {
        self.db
            .conn()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(|e| Error::Db(format!("reading events: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, name: &str) -> Event {
        Event {
            seq: 1,
            time_nano: 0,
            kind: kind.into(),
            action: action.into(),
            actor: "abcdef".into(),
            attributes: [("name".to_string(), name.to_string())].into(),
        }
    }

    #[test]
    fn filters_select_like_docker() {
        let mut f = Filter::default();
        f.add("container=web").unwrap();
        f.add("event=health_status").unwrap();
        assert!(f.matches(&ev("container", "health_status: healthy", "web")));
        assert!(!f.matches(&ev("container", "start", "web")));
        assert!(!f.matches(&ev("network", "health_status", "web")));
        let mut by_id = Filter::default();
        by_id.add("container=abc").unwrap();
        assert!(by_id.matches(&ev("container", "die", "other")));
        assert!(Filter::default().add("colour=red").unwrap_err().to_string().contains("invalid filter"));
        assert!(Filter::default().add("nonsense").is_err());
    }
}
