//! Signal names and numbers, as docker, runc and kill(1) accept them:
//! `SIGTERM`, `TERM`, `term`, `15`, and the real-time `SIGRTMIN+3`.

use std::fmt;

/// Linux's signals by name, without the `SIG` prefix.
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The kernel's real-time range (glibc reserves the first two, so its
/// SIGRTMIN is 34; docker's names count from there too).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// A signal name or number that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSignal(pub String);

impl fmt::Display for InvalidSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid signal: {}", self.0)
    }
}

impl std::error::Error for InvalidSignal {}

/// Parses a signal: a number 1..=64 or a name with or without `SIG`, in
/// any case, `RTMIN+n` / `RTMAX-n` included.
pub fn parse(s: &str) -> Result<i32, InvalidSignal> {
    let bad = || InvalidSignal(s.to_string());
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=RTMAX).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(k, _)| *k == name) {
        return Ok(n);
    }
    let offset = |rest: &str| -> Option<i32> {
        if rest.is_empty() {
            Some(0)
        } else {
            rest.parse().ok()
        }
    };
    let rt = if let Some(rest) = name.strip_prefix("RTMIN") {
        offset(rest.strip_prefix('+').unwrap_or(rest)).map(|k| RTMIN + k)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        offset(rest.strip_prefix('-').unwrap_or(rest)).map(|k| RTMAX - k)
    } else {
        None
    };
    rt.filter(|n| (RTMIN..=RTMAX).contains(n)).ok_or_else(bad)
}

/// The name of signal `n` (`SIGTERM`, `SIGRTMIN+3`), if it has one.
pub fn name(n: i32) -> Option<String> {
    // SIGIOT and SIGPOLL are aliases: the first name listed wins.
    if let Some((k, _)) = NAMES.iter().find(|(k, v)| *v == n && !matches!(*k, "IOT" | "POLL")) {
        return Some(format!("SIG{k}"));
    }
    match n {
        RTMIN => Some("SIGRTMIN".into()),
        RTMAX => Some("SIGRTMAX".into()),
        n if (RTMIN..RTMAX).contains(&n) => Some(format!("SIGRTMIN+{}", n - RTMIN)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_cases_are_one_signal() {
        for s in ["SIGTERM", "TERM", "term", "SigTerm", "15"] {
            assert_eq!(parse(s), Ok(15), "{s}");
        }
        assert_eq!(parse("SIGKILL"), Ok(9));
        assert_eq!(parse("SIGIOT"), Ok(libc::SIGABRT));
        assert_eq!(parse("64"), Ok(64));
    }

    #[test]
    fn real_time_signals_count_from_rtmin() {
        assert_eq!(parse("SIGRTMIN"), Ok(34));
        assert_eq!(parse("RTMIN+3"), Ok(37));
        assert_eq!(parse("SIGRTMAX-1"), Ok(63));
        assert_eq!(name(37).as_deref(), Some("SIGRTMIN+3"));
        assert_eq!(name(64).as_deref(), Some("SIGRTMAX"));
    }

    #[test]
    fn what_is_not_a_signal_is_named_in_the_error() {
        for s in ["0", "65", "-9", "SIGNOPE", "", "RTMIN+40", "RTMIN+x"] {
            let e = parse(s).unwrap_err();
            assert_eq!(e.to_string(), format!("invalid signal: {s}"));
        }
    }

    #[test]
    fn every_name_reads_back() {
        for &(_, n) in NAMES {
            let shown = name(n).unwrap();
            assert_eq!(parse(&shown), Ok(n), "{shown}");
        }
    }
}
