//! Which namespaces a container gets: new ones are requested as clone flags,
//! existing ones (by path, e.g. a pod's shared network namespace) are opened
//! in the parent, checked to be of the right type, and joined by the child.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::error::{invalid, Result};

/// The kernel's CLONE_NEW* bit for a namespace type.
pub fn clone_flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The entry name under /proc/PID/ns/ for a clone flag.
pub fn proc_name(flag: i32) -> &'static str {
    match flag {
        libc::CLONE_NEWNS => "mnt",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWNET => "net",
        libc::CLONE_NEWTIME => "time",
        _ => "?",
    }
}

/// The order in which joined namespaces are entered: the user namespace
/// last, because joining it drops our capabilities over namespaces owned by
/// the host, while host root may enter any of the others first.
pub const JOIN_ORDER: [i32; 8] = [
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWTIME,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUSER,
];

/// A namespace to enter with setns: the spec gave it a `path`.
pub struct Join {
    /// Its CLONE_NEW* flag, as setns's nstype.
    pub flag: i32,
    /// The namespace file, opened and type-checked by [`open_ns`].
    pub fd: OwnedFd,
}

/// The container's namespaces from `linux.namespaces`: which the clone
/// creates, which are joined.
#[derive(Default)]
pub struct Plan {
    /// Namespaces created by the clone itself (cgroup excluded: see `new_cgroup`).
    pub clone_flags: i32,
    /// A new cgroup namespace is unshared by the child only after the parent
    /// has moved it into its cgroup, so that cgroup becomes the namespace root.
    pub new_cgroup: bool,
    /// Namespaces joined by path, in [`JOIN_ORDER`].
    pub joins: Vec<Join>,
}

impl Plan {
    /// Reads `linux.namespaces`, opening every `path` now so that a wrong one
    /// is an [`Error::InvalidSpec`](crate::Error::InvalidSpec) naming its
    /// entry, before anything is created.
    pub fn from_spec(linux: &Linux) -> Result<Plan> {
        let mut plan = Plan::default();
        for (i, ns) in linux.namespaces().as_deref().unwrap_or_default().iter().enumerate() {
            let flag = clone_flag(ns.typ());
            match ns.path() {
                None if flag == libc::CLONE_NEWCGROUP => plan.new_cgroup = true,
                None => plan.clone_flags |= flag,
                Some(path) => {
                    plan.joins.push(Join { flag, fd: open_ns(path, flag, &format!("linux.namespaces[{i}].path"))? })
                }
            }
        }
        plan.joins.sort_by_key(|j| JOIN_ORDER.iter().position(|&f| f == j.flag));
        Ok(plan)
    }

    /// A user namespace is joined by path.
    pub fn joins_user(&self) -> bool {
        self.joins.iter().any(|j| j.flag == libc::CLONE_NEWUSER)
    }

    /// A second clone, after the joins, is needed when new namespaces must
    /// belong to a joined user namespace (they can only be created after
    /// joining it), and when a new user namespace comes with namespaces
    /// joined by path (host root must join those before it gives up its
    /// privilege by entering the new user namespace).
    pub fn needs_second_clone(&self) -> bool {
        (self.joins_user() && self.clone_flags != 0) || (self.new_user() && !self.joins.is_empty())
    }

    /// The clone creates a new user namespace (`linux.uidMappings` then
    /// apply).
    pub fn new_user(&self) -> bool {
        self.clone_flags & libc::CLONE_NEWUSER != 0
    }

    /// A joined pid namespace: the parent enters it for its next child only
    /// (setns on a pid namespace changes where children are born, not us).
    pub fn take_pid_join(&mut self) -> Option<OwnedFd> {
        let i = self.joins.iter().position(|j| j.flag == libc::CLONE_NEWPID)?;
        Some(self.joins.remove(i).fd)
    }
}

/// Opens a namespace file and checks with NS_GET_NSTYPE that it really is a
/// namespace of the wanted type.
pub fn open_ns(path: &Path, flag: i32, field: &str) -> Result<OwnedFd> {
    let fd = sys::open(path, libc::O_RDONLY, 0).map_err(|e| invalid(field, format!("{}: {e}", path.display())))?;
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    let t = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if t < 0 {
        return Err(invalid(field, format!("{} is not a namespace file", path.display())));
    }
    if t != flag {
        return Err(invalid(field, format!("{} is not a {} namespace", path.display(), proc_name(flag))));
    }
    Ok(fd)
}

/// Whether the namespace `name` of process `pid` differs from ours; joining
/// one's own user namespace is an error (EINVAL), and re-joining the others
/// is wasted work.
pub fn differs(pid: libc::pid_t, name: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
    let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
    match (theirs, ours) {
        (Ok(a), Ok(b)) => a.ino() != b.ino() || a.dev() != b.dev(),
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}
