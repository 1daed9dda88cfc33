//! exec: an extra process in a running container. It joins every namespace
//! of the container's init and its cgroup, and gets the container's seccomp
//! profile, so it can do nothing the init could not.

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use super::{load_saved_spec, Runtime};
use crate::error::{invalid, Context, Error, Result};
use crate::namespaces::{self, Join};
use crate::process::foreground::{self, Signals};
use crate::process::init::{self, Mode};
use crate::process::plan::ProcessPlan;
use crate::process::spawn::{self, Request};
use crate::process::{stub, tty};
use crate::state::Status;

/// What to run with [`Runtime::exec`]: runc exec's arguments.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// The process, as the spec's `process` object (runc's --process file).
    /// Its cwd must be absolute. Its user, capabilities and rlimits are its
    /// own; the seccomp profile is the container's (`linux.seccomp` of the
    /// saved spec).
    pub process: Process,
    /// A unix socket to receive the pty master, when the process has a
    /// terminal (runc's --console-socket).
    pub console_socket: Option<PathBuf>,
    /// A file to write the process's pid to (in our pid namespace), once it
    /// has exec'd.
    pub pid_file: Option<PathBuf>,
    /// Return as soon as the process has exec'd, with its pid, instead of
    /// waiting for it.
    pub detach: bool,
    /// Pass fds 3 .. 3+N on to the process.
    pub preserve_fds: u32,
    /// fds to use as the process's stdin, stdout, stderr (default: ours).
    pub stdio: Option<[RawFd; 3]>,
}

/// How an exec ended, for the caller to report.
pub enum ExecOutcome {
    /// The process ran in the foreground and exited with this code.
    Exited(i32),
    /// Detached: the process runs on, with this pid (in our pid namespace).
    Detached(libc::pid_t),
}

impl Runtime {
    /// Runs `opts.process` in container `id`, which must be running or
    /// created: it joins every namespace of the init that differs from ours,
    /// its root and its cgroup. In the foreground it forwards signals and
    /// relays the terminal until the process exits; detached it returns once
    /// the program is exec'd.
    pub fn exec(&self, id: &str, opts: &ExecOptions) -> Result<ExecOutcome> {
        let (rec, status) = self.state(id)?;
        if !matches!(status, Status::Running | Status::Created) {
            return Err(Error::WrongState { id: id.into(), action: "exec in", status: status.to_string() });
        }
        let spec = load_saved_spec(&self.store, id)?;
        let process = ProcessPlan::from_spec(&opts.process, spec.linux().as_ref())?;
        if !process.cwd.is_absolute() {
            return Err(invalid("process.cwd", "must be an absolute path"));
        }
        let pid = rec.pid;

        let mut joins = Vec::new();
        for flag in namespaces::JOIN_ORDER {
            if flag == libc::CLONE_NEWPID {
                continue;
            }
            let name = namespaces::proc_name(flag);
            if namespaces::differs(pid, name) {
                let path = format!("/proc/{pid}/ns/{name}");
                joins.push(Join { flag, fd: namespaces::open_ns(Path::new(&path), flag, "container namespaces")? });
            }
        }
        let pid_ns = if namespaces::differs(pid, "pid") {
            Some(namespaces::open_ns(
                Path::new(&format!("/proc/{pid}/ns/pid")),
                libc::CLONE_NEWPID,
                "container pid namespace",
            )?)
        } else {
            None
        };
        let root = sys::open(Path::new(&format!("/proc/{pid}/root")), libc::O_PATH | libc::O_DIRECTORY, 0)
            .with_ctx(|| format!("opening the root of container {id:?}"))?;
        // Re-check after opening: the pid could have been reused in between.
        if !crate::state::process_alive(pid, rec.start_time) {
            return Err(Error::WrongState { id: id.into(), action: "exec in", status: "stopped".into() });
        }
        let may_setgroups =
            std::fs::read_to_string(format!("/proc/{pid}/setgroups")).map(|s| s.trim() != "deny").unwrap_or(true);
        let console_socket = opts
            .console_socket
            .as_deref()
            .map(|p| {
                tty::connect_console_socket(p).with_ctx(|| format!("connecting to the console socket {}", p.display()))
            })
            .transpose()?;
        let terminal = process.terminal;
        let config = init::Config {
            hooks: None,
            joins,
            new_cgroupns: false,
            hostname: None,
            domainname: None,
            sysctls: vec![],
            process,
            may_setgroups: Some(may_setgroups),
            in_userns: namespaces::differs(pid, "user"),
            console_socket,
            stdio: opts.stdio,
            preserve_fds: opts.preserve_fds,
            stub: stub::sealed().ctx("preparing the exec stub")?,
            cgroup: None,
            second_clone: None,
        };
        let cg = self.cgroup(&rec)?;
        let oom_score_adj = opts.process.oom_score_adj();
        let req = Request {
            config,
            mode: Mode::Exec { root },
            clone_flags: 0,
            pid_ns,
            id_maps: None,
            id_maps_for_second: None,
            oom_score_adj,
        };
        let (child, chan) = spawn::spawn(req, Some(cg.as_ref()))?;
        let signals = if opts.detach { None } else { Some(Signals::block().ctx("blocking signals")?) };
        let pty = spawn::await_exec(&chan)?;
        let pid = child.disarm();
        if let Some(path) = &opts.pid_file {
            std::fs::write(path, pid.to_string()).with_ctx(|| format!("writing pid file {}", path.display()))?;
        }
        match signals {
            None => Ok(ExecOutcome::Detached(pid)),
            Some(signals) => {
                let pty = if terminal && opts.console_socket.is_none() { pty } else { None };
                let code = foreground::wait(pid, &signals, pty).ctx("waiting for the process")?;
                Ok(ExecOutcome::Exited(code))
            }
        }
    }
}
