//! The parent side of starting a process in a container: clone it, put it in
//! its cgroup, give it its id maps, then follow its progress over the sync
//! channel until it is created (init) or has exec'd (exec).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Context, Error, Result};
use crate::process::init::{self, Mode};
use crate::process::sync::{self, Channel, Msg};

/// One process to start in a container: what [`spawn`] clones and how.
pub struct Request {
    /// What the child does once released.
    pub config: init::Config,
    /// Whether it builds a new container or joins a running one.
    pub mode: Mode,
    /// CLONE_NEW* flags for the namespaces the clone creates.
    pub clone_flags: i32,
    /// A pid namespace to be born into (a joined one, or the container's for exec).
    pub pid_ns: Option<OwnedFd>,
    /// uid_map and gid_map contents for a user namespace created by the
    /// first clone, and for one created by a second clone.
    pub id_maps: Option<(String, String)>,
    /// uid_map and gid_map contents for the user namespace of the second
    /// clone.
    pub id_maps_for_second: Option<(String, String)>,
    /// Written by us through the host's /proc, before the child runs.
    pub oom_score_adj: Option<i32>,
}

/// A child and its end of the sync channel. Nothing in the runtime builds one
/// ([`spawn`] returns a [`ChildGuard`] and the channel).
pub struct Spawned {
    /// The child's pid in our pid namespace.
    pub pid: libc::pid_t,
    /// The parent's end of the sync channel.
    pub chan: Channel,
}

/// A process that is killed and reaped unless disarmed: whatever fails after
/// the clone, no half-made container process survives.
pub struct ChildGuard {
    /// The child's pid in our pid namespace.
    pub pid: libc::pid_t,
    armed: bool,
}

impl ChildGuard {
    /// Leaves the child running (it is the container's now) and returns its
    /// pid.
    pub fn disarm(mut self) -> libc::pid_t {
        self.armed = false;
        self.pid
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.armed {
            // SAFETY: signalling and reaping our own child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = sys::waitpid(self.pid, 0);
        }
    }
}

/// Clones the child, joins it to `cgroup` and releases it with Go.
pub fn spawn(req: Request, cgroup: Option<&dyn cgroups::CgroupManager>) -> Result<(ChildGuard, Channel)> {
    let threads = sys::thread_count();
    let second_clone = req.config.second_clone.is_some();
    let second_makes_user = req.config.second_clone.is_some_and(|f| f & libc::CLONE_NEWUSER != 0);
    if second_clone {
        // The init will be our grandchild: adopt it when its parent exits.
        sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1).ctx("prctl(PR_SET_CHILD_SUBREAPER)")?;
    }
    if threads > 1 {
        return Err(Error::Threaded(threads));
    }
    let (parent, child) = sync::pair().ctx("creating the sync socket")?;
    let own_pid_ns = match &req.pid_ns {
        Some(target) => {
            let own = sys::open(Path::new("/proc/self/ns/pid"), libc::O_RDONLY, 0).ctx("opening our pid namespace")?;
            sys::setns(target.as_raw_fd(), libc::CLONE_NEWPID).ctx("entering the container's pid namespace")?;
            Some(own)
        }
        None => None,
    };
    // The child joins its cgroup by itself, without the kernel's global cgroup
    // lock (an RCU grace period, several ms, which a cgroup.procs write by us
    // would cost): born into the cgroup2 group, then moving itself into each v1 one.
    let mut config = req.config;
    let mut joined_by_child = false;
    if let Some(cg) = cgroup {
        let handles = cg.join_handles()?;
        joined_by_child = true;
        config.cgroup = Some(handles);
    }
    let into = config.cgroup.as_ref().and_then(|h| h.clone_into.as_ref()).map(|fd| fd.as_raw_fd());
    // The child must be non-dumpable from its first instruction (it may be
    // born straight into a container's pid namespace, visible to its
    // processes): the flag is copied by the clone, so set it around it.
    let dumpable = sys::prctl(libc::PR_GET_DUMPABLE, 0).unwrap_or(1);
    sys::prctl(libc::PR_SET_DUMPABLE, 0).ctx("prctl(PR_SET_DUMPABLE)")?;
    // SAFETY: the runtime checked above that this process is single-threaded.
    let mut forked = unsafe { sys::clone_fork(req.clone_flags as u64, into) };
    if into.is_some() && forked.is_err() {
        // A kernel without CLONE_INTO_CGROUP (before 5.7): plain clone, and
        // we move the child below.
        joined_by_child = false;
        // SAFETY: as above.
        forked = unsafe { sys::clone_fork(req.clone_flags as u64, None) };
    }
    if let Ok(0) = forked {
        drop(parent);
        init::main(config, req.mode, child);
    }
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong);
    // Our own children are born in our pid namespace again.
    if let Some(own) = own_pid_ns {
        sys::setns(own.as_raw_fd(), libc::CLONE_NEWPID).ctx("returning to our pid namespace")?;
    }
    let pid = forked.ctx("clone")?;
    let guard = ChildGuard { pid, armed: true };
    drop(child);
    drop(config);
    drop(req.mode);

    crate::timing::mark("cloned");
    if let (Some(cg), false) = (cgroup, joined_by_child) {
        cg.add_process(pid)?;
    }
    crate::timing::mark("added to cgroup");
    if let Some((uid_map, gid_map)) = &req.id_maps {
        write_proc(pid, "uid_map", uid_map).ctx("linux.uidMappings: writing uid_map")?;
        write_proc(pid, "gid_map", gid_map).ctx("linux.gidMappings: writing gid_map")?;
    }
    // Inherited by a second clone's init too.
    if let Some(adj) = req.oom_score_adj {
        write_proc(pid, "oom_score_adj", &adj.to_string()).ctx("process.oomScoreAdj")?;
    }
    parent.send(&Msg::Go).ctx("releasing the container's init")?;
    if !second_clone {
        return Ok((guard, parent));
    }
    let init = match parent.recv().ctx("waiting for the container's init")? {
        Some((Msg::Pid(p), _)) => p,
        Some((Msg::Error(e), _)) => return Err(Error::Init(e)),
        _ => return Err(Error::Init("the intermediate process exited without starting the init".into())),
    };
    // Reap the intermediate (it exits at once) and adopt the init. Its pid is
    // one of ours: the intermediate stayed in our pid namespace.
    let first = guard.disarm();
    let _ = sys::waitpid(first, 0);
    let guard = ChildGuard { pid: init, armed: true };
    if let (Some((uid_map, gid_map)), true) = (&req.id_maps_for_second, second_makes_user) {
        write_proc(init, "uid_map", uid_map).ctx("linux.uidMappings: writing uid_map")?;
        write_proc(init, "gid_map", gid_map).ctx("linux.gidMappings: writing gid_map")?;
        parent.send(&Msg::Go).ctx("releasing the container's init")?;
    }
    Ok((guard, parent))
}

fn write_proc(pid: libc::pid_t, file: &str, text: &str) -> std::io::Result<()> {
    let fd = sys::open(Path::new(&format!("/proc/{pid}/{file}")), libc::O_WRONLY, 0)?;
    sys::write_all_fd(fd.as_raw_fd(), text.as_bytes())
}

/// Waits until the child has exec'd the program (end-of-file on the channel)
/// or reports why it could not.
pub fn await_exec(chan: &Channel) -> Result<Option<OwnedFd>> {
    let mut pty = None;
    loop {
        match chan.recv().ctx("waiting for the container's process")? {
            None => return Ok(pty),
            Some((Msg::Pty, fd)) => pty = fd,
            Some((Msg::Error(e), _)) => return Err(Error::Init(e)),
            Some((other, _)) => return Err(Error::Init(format!("unexpected message {other:?}"))),
        }
    }
}

/// The uid_map/gid_map text for a list of spec mappings.
pub fn id_map(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}
