//! Step timing for measuring where container start time goes: with
//! BERTH_TIMING set, each `mark` prints the microseconds since the first mark,
//! the pid (the container's init shows as pid 1) and the step, to stderr.
//! Off by default; then a mark costs one cached flag check.

use std::sync::OnceLock;
use std::time::Instant;

/// Notes that `step` just finished, when BERTH_TIMING was set at this
/// process's first mark; otherwise does nothing. Write errors are ignored.
pub fn mark(step: &str) {
    static ON: OnceLock<bool> = OnceLock::new();
    static START: OnceLock<Instant> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("BERTH_TIMING").is_some()) {
        let t = START.get_or_init(Instant::now).elapsed().as_micros();
        let line = format!("[{t:>6}us pid {}] {step}\n", std::process::id());
        let _ = sys::write_all_fd(2, line.as_bytes());
    }
}
