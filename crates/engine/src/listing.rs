//! What `ps` and the API's container list show: docker's status text and
//! filters.

use crate::error::{Error, Result};
use crate::model::{Container, Status};

/// docker's STATUS column.
pub fn status_text(c: &Container, now: i64) -> String {
    let since =
        |t: &str| crate::engine::parse_rfc3339(t).map_or_else(|| "a while".to_string(), |s| human_duration(now - s));
    let health = c
        .state
        .health
        .as_ref()
        .map(|h| format!(" ({})", if h.status == "starting" { "health: starting" } else { &h.status }));
    match c.state.status {
        Status::Running => format!("Up {}{}", since(&c.state.started_at), health.unwrap_or_default()),
        Status::Paused => format!("Up {} (Paused)", since(&c.state.started_at)),
        Status::Restarting => format!("Restarting ({}) {} ago", c.state.exit_code, since(&c.state.finished_at)),
        Status::Exited | Status::Dead => format!("Exited ({}) {} ago", c.state.exit_code, since(&c.state.finished_at)),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
    }
}

pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", s / 604_800),
        5_184_000..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

/// Whether `c` passes docker's `ps --filter KEY=VALUE`.
pub fn matches(c: &Container, k: &str, v: &str) -> Result<bool> {
    Ok(match k {
        "status" => c.state.status.to_string() == v,
        "name" => c.name.contains(v),
        "id" => c.id.starts_with(v),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.config.labels.get(lk).is_some_and(|x| x == lv),
            None => c.config.labels.contains_key(v),
        },
        "ancestor" => {
            c.config.image == v
                || c.config.image_id.starts_with(v)
                || c.config.image_id.trim_start_matches("sha256:").starts_with(v)
        }
        "exited" => c.state.status == Status::Exited && c.state.exit_code.to_string() == v,
        "health" => c.state.health.as_ref().is_some_and(|h| h.status == v),
        _ => return Err(Error::Invalid(format!("invalid filter '{k}'"))),
    })
}
