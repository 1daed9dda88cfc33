//! OCI lifecycle hooks: programs the spec names for moments of a
//! container's life, each given the container's state as JSON on stdin.
//!
//! Where each runs (runtime-spec, config.md#posix-platform-hooks):
//! - `prestart` (deprecated) and `createRuntime`: during create, after the
//!   namespaces and mounts exist and before pivot_root, in the runtime's
//!   namespaces (run by the runtime itself).
//! - `createContainer`: right after, in the container's namespaces, before
//!   pivot_root (run by the container's init).
//! - `startContainer`: on start, in the container, just before the program
//!   (run by the init).
//! - `poststart`: after the program started, before start returns;
//!   `poststop`: after delete. Both in the runtime's namespaces; their
//!   failures are warnings, never errors.
//!
//! A failure of the others fails create (or start), and the container is
//! torn down as after any failed create.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook as SpecHook, Spec};

use crate::error::{invalid, Result};

/// One hook of the spec, checked: a program run with the container's state on
/// stdin. It succeeds by exiting 0 within its timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// For messages: `hooks.createRuntime[0]`.
    pub field: String,
    /// The program, absolute; exec'd as is (no PATH search).
    pub path: PathBuf,
    /// argv, `args[0]` included (execv's semantics); empty: just the path.
    pub args: Vec<String>,
    /// Its whole environment, `KEY=value` strings: nothing is inherited from
    /// the runtime.
    pub env: Vec<String>,
    /// How long it may run before it is killed and counted as failed; None:
    /// no limit.
    pub timeout: Option<Duration>,
}

/// The spec's `hooks`, by moment of the container's life (see the module docs
/// for where and when each runs); each list runs in the spec's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Deprecated by the spec, run alongside `create_runtime`, before it.
    pub prestart: Vec<Hook>,
    /// `createRuntime`: during create, in the runtime's namespaces, before
    /// pivot_root.
    pub create_runtime: Vec<Hook>,
    /// `createContainer`: in the container's namespaces, before pivot_root.
    pub create_container: Vec<Hook>,
    /// `startContainer`: in the container, just before its program.
    pub start_container: Vec<Hook>,
    /// `poststart`: after the program started; failures only warn.
    pub poststart: Vec<Hook>,
    /// `poststop`: after delete (and after a failed create); failures only
    /// warn.
    pub poststop: Vec<Hook>,
}

impl Hooks {
    /// The spec's hooks, checked: absolute paths, positive timeouts.
    pub fn from_spec(spec: &Spec) -> Result<Hooks> {
        let Some(h) = spec.hooks() else { return Ok(Hooks::default()) };
        let list = |name: &str, v: &Option<Vec<SpecHook>>| -> Result<Vec<Hook>> {
            let mut out = Vec::new();
            for (i, hook) in v.iter().flatten().enumerate() {
                let field = format!("hooks.{name}[{i}]");
                if !hook.path().is_absolute() {
                    return Err(invalid(field.clone(), format!("path {} is not absolute", hook.path().display())));
                }
                let timeout = match hook.timeout() {
                    None => None,
                    Some(t) if t > 0 => Some(Duration::from_secs(t as u64)),
                    Some(t) => return Err(invalid(field.clone(), format!("timeout must be positive, not {t}"))),
                };
                out.push(Hook {
                    field,
                    path: hook.path().clone(),
                    args: hook.args().clone().unwrap_or_default(),
                    env: hook.env().clone().unwrap_or_default(),
                    timeout,
                });
            }
            Ok(out)
        };
        #[allow(deprecated)]
        let prestart = list("prestart", h.prestart())?;
        Ok(Hooks {
            prestart,
            create_runtime: list("createRuntime", h.create_runtime())?,
            create_container: list("createContainer", h.create_container())?,
            start_container: list("startContainer", h.start_container())?,
            poststart: list("poststart", h.poststart())?,
            poststop: list("poststop", h.poststop())?,
        })
    }

    /// Hooks that need the init to stop before pivot_root and ask.
    pub fn at_create(&self) -> bool {
        !(self.prestart.is_empty() && self.create_runtime.is_empty() && self.create_container.is_empty())
    }

    /// Whether the container's init takes part (it then gets the hooks).
    pub fn in_init(&self) -> bool {
        self.at_create() || !self.start_container.is_empty()
    }
}

/// Runs `hooks` in order with `state` on stdin; the first failure ends it.
pub fn run_all(hooks: &[Hook], state: &[u8]) -> std::result::Result<(), String> {
    hooks.iter().try_for_each(|h| run(h, state))
}

/// Runs `hooks` in order; failures are printed as warnings (poststart,
/// poststop), and every hook runs.
pub fn run_warning(hooks: &[Hook], state: &[u8]) {
    for h in hooks {
        if let Err(e) = run(h, state) {
            eprintln!("berth: warning: {e}");
        }
    }
}

/// One hook: the program with exactly its args and env (nothing inherited),
/// the state on stdin, killed when its timeout passes.
pub fn run(h: &Hook, state: &[u8]) -> std::result::Result<(), String> {
    use std::os::unix::process::CommandExt;
    let fail = |why: String| format!("{} ({}): {why}", h.field, h.path.display());
    let mut cmd = Command::new(&h.path);
    if let Some((argv0, rest)) = h.args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for e in &h.env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is no failure.
        let _ = stdin.write_all(state);
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| fail(e.to_string()))? {
            Some(s) => break s,
            None if h.timeout.is_some_and(|t| started.elapsed() >= t) => {
                let _ = child.kill();
                let _ = child.wait();
                let secs = h.timeout.map_or(0, |t| t.as_secs());
                return Err(fail(format!("timed out after {secs}s")));
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let err = err.trim();
    Err(fail(if err.is_empty() { status.to_string() } else { format!("{status}: {err}") }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<u64>) -> Hook {
        Hook {
            field: "hooks.createRuntime[0]".into(),
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["GREETING=hi".into()],
            timeout: timeout.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_hook_reads_the_state_and_sees_only_its_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("cat > {0}; echo \" $GREETING ${{HOME:-nohome}}\" >> {0}", out.display());
        run(&hook(&script, None), br#"{"id":"c1"}"#).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"id\":\"c1\"} hi nohome\n");
    }

    #[test]
    fn failures_and_timeouts_name_the_hook() {
        let e = run(&hook("echo broken >&2; exit 3", None), b"{}").unwrap_err();
        assert!(e.starts_with("hooks.createRuntime[0] (/bin/sh): exit status: 3"), "{e}");
        assert!(e.ends_with("broken"), "{e}");
        let t = Instant::now();
        let e = run(&hook("sleep 30", Some(1)), b"{}").unwrap_err();
        assert!(e.contains("timed out after 1s"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
        let mut missing = hook("", None);
        missing.path = "/nonexistent/hook".into();
        assert!(run(&missing, b"{}").unwrap_err().contains("No such file"));
    }

    #[test]
    fn the_spec_is_checked() {
        let spec = |hooks: &str| -> Spec {
            serde_json::from_str(&format!(r#"{{"ociVersion":"1.2.0","hooks":{hooks}}}"#)).unwrap()
        };
        let h = Hooks::from_spec(&spec(r#"{"poststart":[{"path":"/bin/true","args":["true"],"timeout":5}]}"#)).unwrap();
        assert_eq!(h.poststart[0].timeout, Some(Duration::from_secs(5)));
        assert!(!h.at_create());
        let e = Hooks::from_spec(&spec(r#"{"createRuntime":[{"path":"true"}]}"#)).unwrap_err();
        assert_eq!(e.to_string(), "hooks.createRuntime[0]: path true is not absolute");
        let e = Hooks::from_spec(&spec(r#"{"prestart":[{"path":"/bin/true","timeout":0}]}"#)).unwrap_err();
        assert!(e.to_string().contains("timeout must be positive"), "{e}");
    }
}
