//! cgroup.freeze asks; cgroup.events' "frozen" says when the kernel is done.

use std::path::Path;
use std::time::Instant;

use crate::common::{keyed, read_file, set, unsupported_file, Poll};
use crate::{Error, Result, WAIT_TIMEOUT};

pub(crate) fn freeze(dir: &Path) -> Result<()> {
    change(dir, true)
}

pub(crate) fn thaw(dir: &Path) -> Result<()> {
    change(dir, false)
}

pub(crate) fn frozen(dir: &Path) -> Result<bool> {
    let events = dir.join("cgroup.events");
    if !events.exists() && dir.is_dir() {
        return Err(unsupported_file("freezer", "cgroup.events"));
    }
    let text = read_file(&events)?;
    Ok(keyed(&text, "frozen") == Some(1))
}

fn change(dir: &Path, freeze: bool) -> Result<()> {
    let what = if freeze { "freeze" } else { "thaw" };
    set(dir, "cgroup.freeze", if freeze { "1" } else { "0" }, what)?;
    let start = Instant::now();
    let mut poll = Poll::new();
    while frozen(dir)? != freeze {
        if start.elapsed() > WAIT_TIMEOUT {
            if freeze {
                // Leave the group usable rather than half frozen.
                let _ = set(dir, "cgroup.freeze", "0", what);
            }
            return Err(Error::Timeout {
                what: if freeze { "freezing" } else { "thawing" },
                path: dir.to_path_buf(),
                waited: start.elapsed(),
                detail: String::new(),
            });
        }
        poll.sleep();
    }
    Ok(())
}
