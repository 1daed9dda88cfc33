//! v1 freezer.state: THAWED, FREEZING (some tasks not frozen yet), FROZEN.

use std::path::Path;
use std::time::Instant;

use crate::common::{read_file, set, Poll};
use crate::{Error, Result, WAIT_TIMEOUT};

const STATE: &str = "freezer.state";

pub(super) fn freeze(dir: &Path) -> Result<()> {
    set(dir, STATE, "FROZEN", "freeze")?;
    let start = Instant::now();
    let mut poll = Poll::new();
    let mut tries = 0u32;
    loop {
        if state(dir)? == "FROZEN" {
            return Ok(());
        }
        if start.elapsed() > WAIT_TIMEOUT {
            // Leave the group usable rather than half frozen.
            let _ = set(dir, STATE, "THAWED", "freeze");
            return Err(Error::Timeout {
                what: "freezing",
                path: dir.to_path_buf(),
                waited: start.elapsed(),
                detail: "; a task did not stop (uninterruptible sleep?)".into(),
            });
        }
        tries += 1;
        // Writing FROZEN again makes the kernel retry tasks that were busy
        // (in a syscall, forking) during the previous attempt.
        if tries == 10 {
            tries = 0;
            set(dir, STATE, "FROZEN", "freeze")?;
        }
        poll.sleep();
    }
}

pub(super) fn thaw(dir: &Path) -> Result<()> {
    set(dir, STATE, "THAWED", "thaw")?;
    let start = Instant::now();
    let mut poll = Poll::new();
    while state(dir)? != "THAWED" {
        if start.elapsed() > WAIT_TIMEOUT {
            return Err(Error::Timeout {
                what: "thawing",
                path: dir.to_path_buf(),
                waited: start.elapsed(),
                detail: String::new(),
            });
        }
        poll.sleep();
    }
    Ok(())
}

pub(super) fn frozen(dir: &Path) -> Result<bool> {
    Ok(state(dir)? == "FROZEN")
}

fn state(dir: &Path) -> Result<String> {
    Ok(read_file(&dir.join(STATE))?.trim().to_string())
}
