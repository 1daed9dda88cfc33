//! The container process as the child will set it up: built from the spec in
//! the parent, where a bad value is still cheap to report.

use std::ffi::CString;
use std::path::PathBuf;

use oci_spec::runtime::{Linux, Process};

use crate::error::{invalid, Result};
use crate::security::caps::CapSets;
use crate::security::rlimits::{self, Rlimit};
use crate::security::user::User;

/// The PATH a process gets when its spec's env has none (runc's and docker's
/// default): both for finding its program and, by the engine, in its
/// environment.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A spec `process`, checked and converted into what the child needs (C
/// strings, capability bit masks, a compiled seccomp filter): a bad value is
/// reported by the parent, with the field it came from.
pub struct ProcessPlan {
    /// argv; never empty.
    pub args: Vec<CString>,
    /// The environment, `KEY=value`, as given.
    pub env: Vec<CString>,
    /// PATH used to find args[0], from the process's environment.
    pub search_path: String,
    /// HOME is added from the container's /etc/passwd when env lacks it.
    pub needs_home: bool,
    /// The working directory, resolved inside the container's root (absolute
    /// for exec).
    pub cwd: PathBuf,
    /// Who the process runs as.
    pub user: User,
    /// Its capability sets.
    pub caps: CapSets,
    /// `process.rlimits`, applied before the exec.
    pub rlimits: Vec<Rlimit>,
    /// `process.noNewPrivileges`: set PR_SET_NO_NEW_PRIVS before the exec.
    pub no_new_privs: bool,
    /// `process.oomScoreAdj`, written by the parent before the child runs.
    pub oom_score_adj: Option<i32>,
    /// `process.terminal`: give the process a new pty as its stdio and
    /// controlling terminal.
    pub terminal: bool,
    /// `process.consoleSize` as (rows, cols), clamped to u16.
    pub console_size: Option<(u16, u16)>,
    /// `linux.seccomp`, compiled. Installed just before the exec, or, without
    /// no_new_privs, early, while the process still has CAP_SYS_ADMIN.
    pub seccomp: Option<seccomp::Filter>,
    /// Run the program under a minimal init that forwards signals and reaps
    /// orphans (docker's --init; see stub/exec-stub.c). Set from the
    /// container's `INIT_ANNOTATION`; never for exec'd processes.
    pub init: bool,
}

/// The spec annotation ("true") asking for an init process (docker --init).
pub const INIT_ANNOTATION: &str = "run.berth.init";

impl ProcessPlan {
    /// Checks and converts `p`, with `linux` for its seccomp profile. Errors
    /// name the spec field: empty args, NUL bytes, an AppArmor profile or
    /// SELinux label (not supported), a profile that does not compile.
    pub fn from_spec(p: &Process, linux: Option<&Linux>) -> Result<ProcessPlan> {
        let args = p
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, a)| sys::cstring(a).map_err(|e| invalid(format!("process.args[{i}]"), e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        if args.is_empty() {
            return Err(invalid("process.args", "must name a program to run"));
        }
        let env_list = p.env().as_deref().unwrap_or_default();
        let env = env_list
            .iter()
            .enumerate()
            .map(|(i, e)| sys::cstring(e).map_err(|err| invalid(format!("process.env[{i}]"), err.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let search_path = env_list
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .map(str::to_string)
            .unwrap_or_else(|| DEFAULT_PATH.to_string());
        let needs_home = !env_list.iter().any(|e| e.starts_with("HOME="));
        if p.apparmor_profile().as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(invalid("process.apparmorProfile", "AppArmor profiles are not supported by berth yet"));
        }
        if p.selinux_label().as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(invalid("process.selinuxLabel", "SELinux labels are not supported by berth yet"));
        }
        let seccomp = match linux.and_then(|l| l.seccomp().as_ref()) {
            Some(profile) => Some(seccomp::Filter::compile(profile)?),
            None => None,
        };
        let console_size = p
            .console_size()
            .as_ref()
            .map(|b| (b.height().min(u16::MAX as u64) as u16, b.width().min(u16::MAX as u64) as u16));
        let u = p.user();
        Ok(ProcessPlan {
            args,
            env,
            search_path,
            needs_home,
            cwd: p.cwd().clone(),
            user: User {
                uid: u.uid(),
                gid: u.gid(),
                additional_gids: u.additional_gids().clone().unwrap_or_default(),
                umask: u.umask(),
            },
            caps: CapSets::from_spec(p.capabilities().as_ref()),
            rlimits: rlimits::from_spec(p.rlimits().as_ref()),
            no_new_privs: p.no_new_privileges().unwrap_or(false),
            oom_score_adj: p.oom_score_adj(),
            terminal: p.terminal().unwrap_or(false),
            console_size,
            seccomp,
            init: false,
        })
    }
}
