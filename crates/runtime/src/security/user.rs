//! Switching to the container's user: supplementary groups, gid, uid; and the
//! HOME a login would give that user.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use sys::cvt;

/// `process.user`: who the container's process runs as, in ids of its user
/// namespace.
#[derive(Clone, Debug, Default)]
pub struct User {
    /// Real, effective and saved uid.
    pub uid: u32,
    /// Real, effective and saved gid.
    pub gid: u32,
    /// The supplementary groups, exactly (empty clears them); left as they
    /// are in a user namespace that denies setgroups.
    pub additional_gids: Vec<u32>,
    /// The umask to set before the exec (masked to 0777); None: inherited.
    pub umask: Option<u32>,
}

/// Sets groups, then gid, then uid (the order in which each step still has
/// the privilege the next needs). `may_setgroups` is false inside a user
/// namespace whose /proc/PID/setgroups is "deny".
pub fn switch(user: &User, may_setgroups: bool) -> io::Result<()> {
    if may_setgroups {
        let groups: Vec<libc::gid_t> = user.additional_gids.clone();
        // SAFETY: the pointer and length describe `groups`.
        cvt(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })?;
    }
    // SAFETY: plain syscalls with integer arguments.
    cvt(unsafe { libc::setresgid(user.gid, user.gid, user.gid) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::setresuid(user.uid, user.uid, user.uid) })?;
    Ok(())
}

/// The home directory of `uid` from the container's /etc/passwd, read
/// through an in-root lookup, or "/" when there is none (as runc does).
pub fn home_dir(root: &Path, uid: u32) -> String {
    let Ok(rootfd) = sys::open(root, libc::O_PATH | libc::O_DIRECTORY, 0) else { return "/".into() };
    let Ok(fd) = sys::root::open(rootfd.as_raw_fd(), Path::new("etc/passwd"), libc::O_RDONLY, 0, sys::Follow::InRoot)
    else {
        return "/".into();
    };
    // The container owns this file: only a regular file, and only so much of
    // it (a FIFO would hang us, /dev/zero would never end).
    if !sys::fstat(fd.as_raw_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG) {
        return "/".into();
    }
    let mut text = String::new();
    let _ = io::Read::read_to_string(&mut io::Read::take(std::fs::File::from(fd), 4 << 20), &mut text);
    home_from_passwd(&text, uid).unwrap_or_else(|| "/".into())
}

fn home_from_passwd(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid) && !f[5].is_empty()).then(|| f[5].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_read_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n\nbad line\nwww:x:33:33::/var/www:/bin/false\nnohome:x:7:7:::\n";
        assert_eq!(home_from_passwd(passwd, 0).as_deref(), Some("/root"));
        assert_eq!(home_from_passwd(passwd, 33).as_deref(), Some("/var/www"));
        assert_eq!(home_from_passwd(passwd, 7), None);
        assert_eq!(home_from_passwd(passwd, 1000), None);
    }
}
