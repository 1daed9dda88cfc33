//! The child side: everything between the clone and the exec of the
//! container's program. It runs in a forked copy of the runtime (no re-exec of
//! berth, which is where runc spends most of its start time), reports each
//! failure to the parent over the sync channel, and never returns.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::namespaces;
use crate::process::plan::ProcessPlan;
use crate::process::sync::{Channel, Msg};
use crate::process::{stub, tty};
use crate::rootfs;
use crate::security::{caps, rlimits, user};
use sys::Follow;

/// How the init learns that it may exec.
pub enum StartTrigger {
    /// A Start message on the sync channel (`run`, and library callers).
    Channel,
    /// A byte written to the exec fifo by a later `start` (`create`): the fd
    /// is the fifo opened read-write, so it never reports end-of-file.
    Fifo(OwnedFd),
}

/// What the child is there for.
pub enum Mode {
    /// A new container: build the rootfs, report Created, wait for start.
    Init {
        /// The root filesystem to build before pivot_root.
        rootfs: Box<rootfs::Plan>,
        /// What releases the init to exec once it is created.
        start: StartTrigger,
    },
    /// An extra process in a running container: `root` is the container's
    /// root directory (from /proc/PID/root), entered after the namespaces.
    Exec {
        /// The container's root, opened O_PATH through /proc/PID/root.
        root: OwnedFd,
    },
}

/// Everything the child needs, prepared by the parent before the clone: after
/// it, the child only makes system calls on these values.
pub struct Config {
    /// Namespaces to setns into, in
    /// [`JOIN_ORDER`](crate::namespaces::JOIN_ORDER).
    pub joins: Vec<namespaces::Join>,
    /// Unshare a cgroup namespace once in the cgroup (see
    /// `namespaces::Plan::new_cgroup`).
    pub new_cgroupns: bool,
    /// The spec's `hostname`, set in the new UTS namespace; None: left as it
    /// is.
    pub hostname: Option<CString>,
    /// The spec's `domainname`, likewise.
    pub domainname: Option<CString>,
    /// (spec key, /proc/sys path, value)
    pub sysctls: Vec<(String, PathBuf, String)>,
    /// The process to exec and the privileges it runs with.
    pub process: ProcessPlan,
    /// Whether setgroups(2) is allowed (a user namespace may deny it);
    /// None: the child reads /proc/self/setgroups itself.
    pub may_setgroups: Option<bool>,
    /// The process runs in a user namespace other than the host's.
    pub in_userns: bool,
    /// The connected `--console-socket`: the pty master goes there instead of
    /// to the parent.
    pub console_socket: Option<OwnedFd>,
    /// fds to install as 0, 1, 2 (None: keep the inherited ones).
    pub stdio: Option<[RawFd; 3]>,
    /// Extra fds (3, 4, ...) passed on to the program, as runc's --preserve-fds.
    pub preserve_fds: u32,
    /// The sealed exec stub (see [`stub`](crate::process::stub)) that is
    /// exec'd in place of the program.
    pub stub: OwnedFd,
    /// Set by spawn: the cgroup to enter first thing (see cgroups::JoinHandles).
    pub cgroup: Option<cgroups::JoinHandles>,
    /// CLONE_NEW* flags for a second clone after the joins (see
    /// `namespaces::Plan::needs_second_clone`); the first child then only
    /// reports the new child's pid and exits.
    pub second_clone: Option<i32>,
    /// The spec's hooks, when any runs at create or start (see `hooks`).
    pub hooks: Option<crate::hooks::Hooks>,
}

type Step<T> = Result<T, String>;

fn io_step<T>(what: &str, r: std::io::Result<T>) -> Step<T> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Entry point in the child. Never returns.
pub fn main(cfg: Config, mode: Mode, chan: Channel) -> ! {
    let fifo_mode = matches!(&mode, Mode::Init { start: StartTrigger::Fifo(_), .. });
    let err = match run(cfg, mode, &chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // After Created in create/start mode nobody reads the channel any more:
    // the container's stderr is the only place left to say what went wrong.
    if chan.send(&Msg::Error(err.clone())).is_err() || fifo_mode {
        let line = format!("berth: container init: {err}\n");
        let _ = sys::write_all_fd(2, line.as_bytes());
    }
    // SAFETY: _exit ends the child without running the parent's atexit
    // handlers or flushing its stdio buffers twice.
    unsafe { libc::_exit(1) }
}

enum Never {}

fn run(mut cfg: Config, mode: Mode, chan: &Channel) -> Step<Never> {
    // Into the cgroup before anything else, so everything we do (and every
    // child) is accounted and limited there.
    if let Some(cg) = cfg.cgroup.take() {
        io_step("joining the container's cgroup", cg.join_self())?;
    }
    // Before anything else: nobody in the container may ptrace us or open
    // /proc/<us>/exe (the host's berth binary) while we are not yet exec'd.
    io_step("prctl(PR_SET_DUMPABLE)", sys::prctl(libc::PR_SET_DUMPABLE, 0))?;
    // If the runtime dies while we are being set up, so do we.
    io_step("prctl(PR_SET_PDEATHSIG)", sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong))?;
    // SAFETY: setsid has no memory effects; it fails only if we already lead a group.
    unsafe { libc::setsid() };

    crate::timing::mark("child: waiting for go");
    match chan.recv() {
        Ok(Some((Msg::Go, _))) => {}
        // The parent went away or said something else: stop quietly.
        // SAFETY: see `main`.
        _ => unsafe { libc::_exit(1) },
    }

    for j in &cfg.joins {
        let name = namespaces::proc_name(j.flag);
        io_step(&format!("joining the {name} namespace"), sys::setns(j.fd.as_raw_fd(), j.flag))?;
    }
    let second_makes_user = cfg.second_clone.is_some_and(|f| f & libc::CLONE_NEWUSER != 0);
    if cfg.in_userns && !second_makes_user {
        become_userns_root()?;
    }
    if let Some(flags) = cfg.second_clone {
        // SAFETY: this child is single-threaded, like its parent was.
        match unsafe { sys::clone_fork(flags as u64, None) } {
            Ok(0) => {
                // The new init. Its parent exits now and it is re-parented to
                // the runtime (a subreaper); a vanished runtime shows up as
                // end-of-file on the channel instead of a parent-death signal.
                // SAFETY: a new session, so a terminal can become ours.
                unsafe { libc::setsid() };
                crate::timing::mark("child: second clone");
                if second_makes_user {
                    // The runtime writes our id maps, then says Go again.
                    match chan.recv() {
                        Ok(Some((Msg::Go, _))) => {}
                        // SAFETY: the runtime gave up; leave quietly.
                        _ => unsafe { libc::_exit(1) },
                    }
                    become_userns_root()?;
                }
            }
            Ok(pid) => {
                let _ = chan.send(&Msg::Pid(pid));
                // SAFETY: the intermediate's job is done.
                unsafe { libc::_exit(0) }
            }
            Err(e) => return Err(format!("creating the container's namespaces after joining the others: {e}")),
        }
    }
    // In a user namespace whose setgroups is "deny", setgroups(2) fails.
    // Read through the host's procfs now, before the root changes.
    let may_setgroups = cfg
        .may_setgroups
        .unwrap_or_else(|| std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() != "deny").unwrap_or(true));
    if cfg.new_cgroupns {
        io_step("unshare(CLONE_NEWCGROUP)", sys::unshare(libc::CLONE_NEWCGROUP))?;
    }
    // Written through the host's procfs while we still see it; the files act
    // on the namespaces of the writer, which are now the container's.
    for (key, path, value) in &cfg.sysctls {
        let r = sys::open(path, libc::O_WRONLY | libc::O_NOFOLLOW, 0)
            .and_then(|fd| sys::write_all_fd(fd.as_raw_fd(), value.as_bytes()));
        io_step(&format!("linux.sysctl[{key:?}]: writing {value:?} to {}", path.display()), r)?;
    }
    if let Some(h) = &cfg.hostname {
        // SAFETY: valid pointer and length.
        let r = sys::cvt(unsafe { libc::sethostname(h.as_ptr(), h.as_bytes().len()) });
        io_step("hostname", r)?;
    }
    if let Some(d) = &cfg.domainname {
        // SAFETY: valid pointer and length.
        let r = sys::cvt(unsafe { libc::setdomainname(d.as_ptr(), d.as_bytes().len()) });
        io_step("domainname", r)?;
    }

    crate::timing::mark("child: go; ns joined, sysctl, hostname");
    let mut hook_state: Option<String> = None;
    let (pty, start) = match mode {
        Mode::Init { rootfs, start } => {
            let mut before_pivot = || -> Step<()> {
                let Some(h) = &cfg.hooks else { return Ok(()) };
                // prestart and createRuntime are the runtime's, in its own
                // namespaces; createContainer runs here, in ours.
                io_step("asking for the createRuntime hooks", chan.send(&Msg::CreateHooks))?;
                let state = match chan.recv() {
                    Ok(Some((Msg::HookState(s), _))) => s,
                    // SAFETY: the runtime gave up on us (a hook failed); leave quietly.
                    _ => unsafe { libc::_exit(1) },
                };
                crate::hooks::run_all(&h.create_container, state.as_bytes())?;
                hook_state = Some(state);
                Ok(())
            };
            let prepared = rootfs::prepare(&rootfs, &mut before_pivot)?;
            (prepared.pty, Some(start))
        }
        Mode::Exec { root } => {
            // Enter the container's root the way nsenter --root does: it works
            // whether the container pivoted or fell back to chroot.
            // SAFETY: fchdir/chroot on valid arguments.
            io_step("entering the container root", sys::cvt(unsafe { libc::fchdir(root.as_raw_fd()) }))?;
            // SAFETY: as above.
            io_step("chroot", sys::cvt(unsafe { libc::chroot(c".".as_ptr()) }))?;
            let pty = if cfg.process.terminal {
                let slash = io_step("opening /", sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0))?;
                Some(tty::open_in_root(slash.as_raw_fd(), cfg.process.console_size, false)?)
            } else {
                None
            };
            (pty, None)
        }
    };

    crate::timing::mark("child: rootfs ready");
    let p = &cfg.process;
    // After pivot_root, "/" is the container's root: resolve the working
    // directory and the program inside it, never through a magic link to
    // one of our host fds (CVE-2024-21626).
    let slash = io_step("opening /", sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0))?;
    let cwd = sys::root::open(slash.as_raw_fd(), &p.cwd, libc::O_PATH | libc::O_DIRECTORY, 0, Follow::InRoot)
        .map_err(|e| format!("process.cwd: {}: {e}", p.cwd.display()))?;
    // SAFETY: fchdir on a directory fd.
    io_step("process.cwd: chdir", sys::cvt(unsafe { libc::fchdir(cwd.as_raw_fd()) }))?;
    let program = find_program(slash.as_raw_fd(), p)?;
    let mut env = p.env.clone();
    if p.needs_home {
        let home = user::home_dir(Path::new("/"), p.user.uid);
        env.push(sys::cstring(format!("HOME={home}")).map_err(|e| e.to_string())?);
    }
    drop(slash);
    drop(cwd);

    // Hand out the terminal's master.
    let slave = match pty {
        Some((master, slave)) => {
            match &cfg.console_socket {
                Some(sock) => io_step(
                    "sending the pty to the console socket",
                    tty::send_to_console_socket(sock.as_raw_fd(), master.as_raw_fd()),
                )?,
                None => {
                    io_step("sending the pty to the runtime", chan.send_with_fd(&Msg::Pty, Some(master.as_raw_fd())))?
                }
            }
            Some(slave)
        }
        None => None,
    };
    cfg.console_socket = None;

    if let Some(start) = start {
        // Created: from here the parent may exit (create), so stop tying our
        // life to it.
        io_step("prctl(PR_SET_PDEATHSIG)", sys::prctl(libc::PR_SET_PDEATHSIG, 0))?;
        io_step("reporting created", chan.send(&Msg::Created))?;
        wait_for_start(start, chan)?;
        if let (Some(h), Some(state)) = (&cfg.hooks, &hook_state) {
            let state = with_status(state, "created");
            crate::hooks::run_all(&h.start_container, state.as_bytes())?;
        }
    }

    finalize(&cfg, slave, &program, &env, may_setgroups)
}

/// The hook state with another status (the runtime sent it as "creating").
fn with_status(state: &str, status: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["status"] = status.into();
            v.to_string()
        }
        Err(_) => state.to_string(),
    }
}

/// Our ids are still the host's, which a new or joined user namespace does
/// not map: become its root, or nothing we create (mount points, device
/// files) could be owned by anyone (EOVERFLOW).
fn become_userns_root() -> Step<()> {
    // SAFETY: plain syscalls with integer arguments.
    let r = sys::cvt(unsafe { libc::setresgid(0, 0, 0) }).and_then(|_| sys::cvt(unsafe { libc::setresuid(0, 0, 0) }));
    io_step("becoming root in the user namespace (is container id 0 mapped?)", r.map(|_| ()))
}

fn wait_for_start(start: StartTrigger, chan: &Channel) -> Step<()> {
    match start {
        StartTrigger::Channel => match chan.recv() {
            Ok(Some((Msg::Start, _))) => Ok(()),
            // SAFETY: the runtime gave up on us; leave without a word.
            _ => unsafe { libc::_exit(1) },
        },
        StartTrigger::Fifo(fd) => {
            let mut b = [0u8; 1];
            loop {
                // SAFETY: reading one byte into a valid buffer.
                let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
                if n == 1 {
                    return Ok(());
                }
                let e = std::io::Error::last_os_error();
                if n < 0 && e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(format!("waiting for start on the exec fifo: {e}"));
                }
            }
        }
    }
}

/// Locates the program the way execvp would, inside the container root.
fn find_program(root: RawFd, p: &ProcessPlan) -> Step<CString> {
    let name = p.args[0].to_string_lossy().into_owned();
    let executable = |path: &Path| -> std::io::Result<bool> {
        let fd = sys::root::open(root, path, libc::O_PATH, 0, Follow::InRoot)?;
        let st = sys::fstat(fd.as_raw_fd())?;
        Ok(st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0)
    };
    if name.contains('/') {
        let path = if name.starts_with('/') { PathBuf::from(&name) } else { p.cwd.join(&name) };
        return match executable(&path) {
            Ok(true) => sys::cstring(&name).map_err(|e| e.to_string()),
            Ok(false) => Err(format!("exec: {name:?}: permission denied (not an executable file)")),
            Err(e) => Err(format!("exec: {name:?}: {e}")),
        };
    }
    for dir in p.search_path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(&name);
        if let Ok(true) = executable(&candidate) {
            return sys::path_cstring(&candidate).map_err(|e| e.to_string());
        }
    }
    Err(format!("exec: {name:?}: executable file not found in $PATH"))
}

/// Whether `user` may execute `program`, from its mode bits (what
/// faccessat would say, without ACLs): for a check before the user switch.
fn may_execute(program: &CString, user: &crate::security::user::User) -> Step<()> {
    let st = io_step("process.args[0]: stat", sys::stat(program))?;
    if exec_allowed(st.st_mode, st.st_uid, st.st_gid, user) {
        Ok(())
    } else {
        Err(format!("exec: {program:?}: permission denied"))
    }
}

fn exec_allowed(mode: u32, owner: u32, group: u32, user: &crate::security::user::User) -> bool {
    let bits = if user.uid == 0 {
        // root may execute anything that has an x bit for anyone.
        mode & 0o111
    } else if owner == user.uid {
        mode & 0o100
    } else if group == user.gid || user.additional_gids.contains(&group) {
        mode & 0o010
    } else {
        mode & 0o001
    };
    bits != 0
}

/// The last steps, in the order that keeps each one possible: limits and
/// the bounding set while we are still root, then the user switch with
/// capabilities kept, then the final capability sets, then seccomp, then exec.
fn finalize(
    cfg: &Config,
    slave: Option<OwnedFd>,
    program: &CString,
    env: &[CString],
    may_setgroups: bool,
) -> Step<Never> {
    let p = &cfg.process;
    // Whatever happens to the runtime from now on, this process is the
    // container's (exec --detach included).
    io_step("prctl(PR_SET_PDEATHSIG)", sys::prctl(libc::PR_SET_PDEATHSIG, 0))?;
    if let Err((i, e)) = rlimits::apply(&p.rlimits) {
        return Err(format!("process.rlimits[{i}]: {e}"));
    }
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which the
    // user switch below may drop: install it first (runc does the same). The
    // check that the user may run the program must then come before it too:
    // an allow-list need not allow faccessat2 (the program does not use it).
    let early_filter = p.seccomp.is_some() && !p.no_new_privs;
    if early_filter {
        may_execute(program, &p.user)?;
    }
    if let (Some(f), false) = (&p.seccomp, p.no_new_privs) {
        f.install().map_err(|e| format!("linux.seccomp: {e}"))?;
    }
    io_step("process.capabilities.bounding", caps::drop_bounding(p.caps.bounding))?;
    io_step("prctl(PR_SET_KEEPCAPS)", sys::prctl(libc::PR_SET_KEEPCAPS, 1))?;
    io_step("process.user", user::switch(&p.user, may_setgroups))?;
    io_step("prctl(PR_SET_KEEPCAPS)", sys::prctl(libc::PR_SET_KEEPCAPS, 0))?;
    // As the container's user now: may it execute the program? Failing here
    // gives a clear error instead of a 127 from the stub after the exec.
    // SAFETY: faccessat with a valid C string.
    if !early_filter && unsafe { libc::faccessat(libc::AT_FDCWD, program.as_ptr(), libc::X_OK, libc::AT_EACCESS) } < 0 {
        return Err(format!("exec: {:?}: {}", p.args[0], std::io::Error::last_os_error()));
    }
    io_step("process.capabilities", caps::set(p.caps.effective, p.caps.permitted, p.caps.inheritable))?;
    // The kernel only lets a capability into the ambient set when it is both
    // permitted and inheritable; like runc, specs that list more (older
    // `runc spec` output did) get the rest silently left out.
    let ambient = p.caps.ambient & p.caps.permitted & p.caps.inheritable;
    io_step("process.capabilities.ambient", caps::set_ambient(ambient))?;
    if let Some(mask) = p.user.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask & 0o777) };
    }
    // stdio: the terminal, or the fds we were given.
    if let Some(slave) = &slave {
        io_step("process.terminal: making the pty the controlling terminal", tty::make_controlling(slave.as_raw_fd()))?;
    } else if let Some(fds) = cfg.stdio {
        for (to, from) in fds.into_iter().enumerate() {
            if from != to as RawFd {
                io_step("setting up stdio", sys::dup2(from, to as RawFd))?;
            }
        }
    }
    for fd in 0..3 {
        let _ = sys::set_cloexec(fd, false);
    }
    // Nothing else of ours may cross the exec: every other fd is marked
    // close-on-exec, except the ones the caller asked to pass.
    io_step("closing fds", sys::cloexec_from(3 + cfg.preserve_fds as RawFd))?;
    for fd in 3..3 + cfg.preserve_fds as RawFd {
        let _ = sys::set_cloexec(fd, false);
    }
    reset_signals();
    if p.no_new_privs {
        io_step("process.noNewPrivileges", sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1))?;
    }

    // Build the exec arrays before seccomp: nothing may allocate afterwards.
    let mut argv: Vec<*const libc::c_char> = Vec::with_capacity(p.args.len() + 3);
    // An empty first argument makes the stub the container's init too.
    if p.init {
        argv.push(c"".as_ptr());
    }
    argv.push(program.as_ptr());
    argv.extend(p.args.iter().map(|a| a.as_ptr()));
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    crate::timing::mark("child: exec");
    if let (Some(f), true) = (&p.seccomp, p.no_new_privs) {
        f.install().map_err(|e| format!("linux.seccomp: {e}"))?;
    }
    let e = stub::exec(&cfg.stub, &argv, &envp, program);
    Err(format!("exec {:?}: {e}", program))
}

/// Default dispositions and an empty mask: ignored signals survive exec, and
/// the runtime ignores SIGPIPE (Rust does by default), which would otherwise
/// leak into every container.
fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always valid; errors for signals
        // glibc reserves are harmless.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigprocmask reads it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::user::User;

    #[test]
    fn exec_permission_follows_the_mode_bits_for_owner_group_and_others() {
        let user = |uid, gid, extra: &[u32]| User { uid, gid, additional_gids: extra.to_vec(), umask: None };
        assert!(exec_allowed(0o100, 5, 5, &user(0, 0, &[])), "root: any x bit");
        assert!(!exec_allowed(0o644, 5, 5, &user(0, 0, &[])), "root: none");
        assert!(exec_allowed(0o700, 1000, 1, &user(1000, 1000, &[])));
        assert!(!exec_allowed(0o070, 1000, 1000, &user(1000, 1000, &[])), "the owner's bits win");
        assert!(exec_allowed(0o010, 0, 50, &user(1000, 1000, &[50])), "an additional group");
        assert!(exec_allowed(0o001, 0, 0, &user(1000, 1000, &[])));
        assert!(!exec_allowed(0o750, 0, 0, &user(1000, 1000, &[])));
    }
}
