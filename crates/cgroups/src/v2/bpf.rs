//! The four bpf(2) commands the device filter needs. The attribute structs
//! are the leading fields of the kernel's `union bpf_attr` for each
//! command; the kernel treats the bytes we do not pass as zero.

use std::fs::File;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::devices::Insn;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Lets other programs (a parent's, systemd's) stay attached next to ours.
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
struct RawInsn {
    code: u8,
    /// dst_reg:4, src_reg:4 — bitfield order follows the byte order.
    regs: u8,
    off: i16,
    imm: i32,
}

impl From<&Insn> for RawInsn {
    fn from(i: &Insn) -> RawInsn {
        let regs =
            if cfg!(target_endian = "little") { (i.src << 4) | (i.dst & 0x0f) } else { (i.dst << 4) | (i.src & 0x0f) };
        RawInsn { code: i.code, regs, off: i.off, imm: i.imm }
    }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, fully initialised #[repr(C)] prefix of
    // union bpf_attr for `cmd`, and its size is passed, so the kernel reads
    // and writes only within it. Pointers inside it (instructions, buffers)
    // are set by the callers to memory that outlives this call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size_of::<T>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn fd_of(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn raw_fd<T: AsRawFd>(f: &T) -> u32 {
    // Open fds are never negative.
    u32::try_from(f.as_raw_fd()).unwrap_or(u32::MAX)
}

/// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program. On failure, loads again
/// with the verifier log enabled and returns it with the error.
pub(super) fn load(prog: &[Insn]) -> Result<OwnedFd, (io::Error, String)> {
    let raw: Vec<RawInsn> = prog.iter().map(RawInsn::from).collect();
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let insn_cnt = u32::try_from(raw.len()).map_err(|_| (io::Error::from_raw_os_error(libc::E2BIG), String::new()))?;
    let attr = |log: &mut [u8]| ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt,
        insns: raw.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: u32::try_from(log.len()).unwrap_or(0),
        log_buf: if log.is_empty() { 0 } else { log.as_mut_ptr() as u64 },
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    let first = bpf(BPF_PROG_LOAD, &mut attr(&mut []));
    match first {
        Ok(ret) => fd_of(ret).map_err(|e| (e, String::new())),
        Err(e) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = bpf(BPF_PROG_LOAD, &mut attr(&mut log));
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            let text = if text.is_empty() { text } else { format!("; verifier log:\n{text}") };
            Err((e, text))
        }
    }
}

pub(super) fn attach(group: &File, prog: &OwnedFd) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: raw_fd(group),
        attach_bpf_fd: raw_fd(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Ids of the device programs attached directly to the group.
pub(super) fn query(group: &File) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: raw_fd(group),
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: 64,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt.min(64) as usize);
    Ok(ids)
}

pub(super) fn detach(group: &File, prog_id: u32) -> io::Result<()> {
    let mut get = GetFdAttr { prog_id, ..Default::default() };
    let prog = match bpf(BPF_PROG_GET_FD_BY_ID, &mut get) {
        Ok(ret) => fd_of(ret)?,
        // Already gone: nothing to detach.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut attr = AttachAttr {
        target_fd: raw_fd(group),
        attach_bpf_fd: raw_fd(&prog),
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_DETACH, &mut attr) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r.map(drop),
    }
}
