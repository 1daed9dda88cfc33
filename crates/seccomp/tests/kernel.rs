//! Installs compiled filters in the real kernel. Each test forks; the child
//! sets no_new_privs, installs a filter, probes it with raw syscalls and
//! reports through its exit code (a distinct code per failed check). After
//! fork the child only makes raw syscalls: the test process is
//! multi-threaded, so allocating or taking locks there could deadlock.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]
#![cfg(target_os = "linux")]

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::Path;

use oci_spec::runtime::{Capability, LinuxSeccomp};
use seccomp::{default_profile, Filter};
use serde_json::json;

#[derive(Debug, PartialEq, Eq)]
enum Status {
    Exited(i32),
    Signaled(i32),
}

/// Runs `child` in a forked process and returns how it ended.
fn in_child(child: impl FnOnce() -> i32) -> Status {
    // SAFETY: the child only runs `child`, which by this file's convention
    // makes raw syscalls and does not allocate or lock, then leaves through
    // `_exit`; the parent continues normally.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = child();
        // SAFETY: _exit is async-signal-safe and skips the parent's atexit
        // handlers and stdio buffers, which must not run twice.
        unsafe { libc::_exit(code) }
    }
    wait(pid)
}

fn wait(pid: libc::pid_t) -> Status {
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) {
        Status::Exited(libc::WEXITSTATUS(status))
    } else {
        Status::Signaled(libc::WTERMSIG(status))
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A raw syscall with up to three arguments: the result or the errno.
fn sys(nr: libc::c_long, a: u64, b: u64, c: u64) -> Result<i64, i32> {
    // SAFETY: the callers only issue syscalls whose pointer arguments are
    // null or valid; the others take plain integers.
    let r = unsafe { libc::syscall(nr, a, b, c) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// What every child does first. Returns false on failure.
fn confine(filter: &Filter) -> bool {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) only sets a flag on this process.
    let nnp = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    nnp == 0 && filter.install().is_ok()
}

fn compile(profile: &LinuxSeccomp) -> Filter {
    match Filter::compile(profile) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

fn compile_json(v: serde_json::Value) -> Filter {
    match serde_json::from_value(v) {
        Ok(p) => compile(&p),
        Err(e) => panic!("bad test profile: {e}"),
    }
}

#[test]
fn custom_profile_errno_rules() {
    let filter = compile_json(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES},
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS},
            // The high word of a 64-bit argument is seen by the filter even
            // though the kernel reads the fd as an int.
            {"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1234,
             "args": [{"index": 0, "value": 0x1_0000_0003u64, "op": "SCMP_CMP_EQ"}]},
        ]
    }));
    let status = in_child(|| {
        if !confine(&filter) {
            return 2;
        }
        if !matches!(sys(libc::SYS_getpid, 0, 0, 0), Ok(pid) if pid > 0) {
            return 10;
        }
        // A null path would be EFAULT if the call got to the kernel.
        if sys(libc::SYS_mkdirat, libc::AT_FDCWD as u64, 0, 0o755) != Err(libc::EACCES) {
            return 11;
        }
        if sys(libc::SYS_getppid, 0, 0, 0) != Err(libc::ENOSYS) {
            return 12;
        }
        if sys(libc::SYS_dup3, 0x1_0000_0003, 1000, 0) != Err(1234) {
            return 13;
        }
        // Same low word, high word 0: not the rule; the kernel answers.
        if sys(libc::SYS_dup3, 1_000_003, 1000, 0) != Err(libc::EBADF) {
            return 14;
        }
        0
    });
    assert_eq!(status, Status::Exited(0));
}

#[test]
fn default_profile_in_the_kernel() {
    let filter = compile(&default_profile(&[]));
    assert!(filter.skipped_syscalls().is_empty(), "{:?}", filter.skipped_syscalls());
    let status = in_child(|| {
        if !confine(&filter) {
            return 2;
        }
        if !matches!(sys(libc::SYS_getpid, 0, 0, 0), Ok(pid) if pid > 0) {
            return 10;
        }
        // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
        if sys(libc::SYS_keyctl, 0, -3i64 as u64, 0) != Err(libc::EPERM) {
            return 11;
        }
        if sys(libc::SYS_clone3, 0, 0, 0) != Err(libc::ENOSYS) {
            return 12;
        }
        if sys(libc::SYS_unshare, libc::CLONE_NEWUSER as u64, 0, 0) != Err(libc::EPERM) {
            return 13;
        }
        let stream = libc::SOCK_STREAM as u64;
        if sys(libc::SYS_socket, libc::AF_VSOCK as u64, stream, 0) != Err(libc::EPERM) {
            return 14;
        }
        // The kernel truncates the domain to an int: still AF_VSOCK.
        let smuggled = 0x1_0000_0000 | libc::AF_VSOCK as u64;
        if sys(libc::SYS_socket, smuggled, stream, 0) != Err(libc::EPERM) {
            return 15;
        }
        match sys(libc::SYS_socket, libc::AF_INET as u64, stream, 0) {
            Ok(fd) => {
                let _ = sys(libc::SYS_close, fd as u64, 0, 0);
            }
            Err(_) => return 16,
        }
        if sys(libc::SYS_personality, 0xffff_ffff, 0, 0).is_err() {
            return 17;
        }
        if sys(libc::SYS_personality, 1, 0, 0) != Err(libc::EPERM) {
            return 18;
        }
        // clone creating a user namespace: denied. Should the filter fail,
        // a new process would appear; make it leave at once.
        let newuser = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
        match sys(libc::SYS_clone, newuser, 0, 0) {
            Err(libc::EPERM) => {}
            // SAFETY: leaving the unexpected child without running anything.
            Ok(0) => unsafe { libc::_exit(0) },
            _ => return 19,
        }
        // A plain fork-style clone is fine.
        match sys(libc::SYS_clone, libc::SIGCHLD as u64, 0, 0) {
            // SAFETY: the clone child leaves at once.
            Ok(0) => unsafe { libc::_exit(7) },
            Ok(pid) => {
                let mut status = 0;
                // SAFETY: waits for our own child; `status` is a valid out
                // pointer.
                let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
                if r != pid as libc::pid_t || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 7 {
                    return 20;
                }
            }
            Err(_) => return 21,
        }
        0
    });
    assert_eq!(status, Status::Exited(0));
}

#[test]
fn sys_admin_opens_clone_namespaces() {
    let filter = compile(&default_profile(&[Capability::SysAdmin]));
    let status = in_child(|| {
        if !confine(&filter) {
            return 2;
        }
        // The kernel's answer (ENOSYS would mean our filter).
        if sys(libc::SYS_clone3, 0, 0, 0) == Err(libc::ENOSYS) {
            return 10;
        }
        if sys(libc::SYS_unshare, libc::CLONE_NEWUTS as u64, 0, 0).is_err() {
            return 11;
        }
        0
    });
    assert_eq!(status, Status::Exited(0));
}

#[test]
fn flags_are_accepted() {
    let filter = compile_json(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}]
    }));
    let status = in_child(|| {
        if !confine(&filter) {
            return 2;
        }
        if sys(libc::SYS_getppid, 0, 0, 0) != Err(77) {
            return 10;
        }
        0
    });
    assert_eq!(status, Status::Exited(0));
}

#[test]
fn far_jumps_are_accepted_by_the_kernel() {
    // Every syscall gets a condition on args[1] that ordinary calls never
    // meet, so the child keeps working while the program is big enough to
    // need trampolines.
    let magic = |nr: u64| (nr << 32) | 0xabc;
    let calls: Vec<(&str, u64)> =
        (0..330).filter_map(syscalls::Sysno::new).map(|s| (s.name(), s.id() as u64)).collect();
    let rules: Vec<serde_json::Value> = calls
        .iter()
        .map(|&(name, nr)| {
            json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": nr + 1,
                   "args": [{"index": 1, "value": magic(nr), "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let filter = compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
    assert!(filter.instructions().iter().any(|i| i.code == 0x05 && i.k > 255));
    let status = in_child(|| {
        if !confine(&filter) {
            return 2;
        }
        for (i, nr) in [libc::SYS_getppid, libc::SYS_getuid, libc::SYS_getpid, libc::SYS_gettid].into_iter().enumerate()
        {
            let code = 10 + 2 * i as i32;
            if sys(nr, 0, magic(nr as u64), 0) != Err(nr as i32 + 1) {
                return code;
            }
            if sys(nr, 0, magic(nr as u64) + 1, 0).is_err() {
                return code + 1;
            }
        }
        0
    });
    assert_eq!(status, Status::Exited(0));
}

/// Runs `argv` (absolute path first) under the default profile; returns how
/// it ended and what it wrote to stdout.
fn exec_confined(argv: &[&str]) -> (Status, String) {
    let filter = compile(&default_profile(&[]));
    let cstrings = |v: &[&str]| -> Vec<CString> { v.iter().map(|s| CString::new(*s).unwrap_or_default()).collect() };
    let args = cstrings(argv);
    let env = cstrings(&["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C"]);
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
    };
    let (argp, envp) = (ptrs(&args), ptrs(&env));

    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let [rfd, wfd] = fds;
    // SAFETY: as in `in_child`: the child makes raw syscalls only (dup2,
    // prctl, seccomp, execve) before exec or _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: dup2 on descriptors we own; execve gets NUL-terminated
        // strings and null-terminated pointer arrays that outlive the call.
        unsafe {
            if libc::dup2(wfd, 1) != 1 || !confine(&filter) {
                libc::_exit(100);
            }
            libc::execve(args[0].as_ptr(), argp.as_ptr(), envp.as_ptr());
            libc::_exit(101);
        }
    }
    // SAFETY: the write end belongs to us and is not used again.
    unsafe { libc::close(wfd) };
    let mut out = String::new();
    // SAFETY: `rfd` is an open descriptor we own; File takes it over.
    let mut reader = unsafe { File::from_raw_fd(rfd) };
    let _ = reader.read_to_string(&mut out);
    (wait(pid), out)
}

#[test]
fn busybox_runs_under_the_default_profile() {
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipped: /bin/busybox is not installed");
        return;
    }
    assert_eq!(exec_confined(&["/bin/busybox", "true"]), (Status::Exited(0), String::new()));
    assert_eq!(exec_confined(&["/bin/busybox", "sh", "-c", "echo ok"]), (Status::Exited(0), "ok\n".into()));
    // A shell that forks, pipes, reads /proc and runs applets.
    let script = "set -e; ls / >/dev/null; cat /proc/self/status | grep -q Seccomp; \
                  d=$(mktemp -d); echo hi > $d/f; test \"$(cat $d/f)\" = hi; rm -r $d; \
                  sleep 0.01; date >/dev/null; id -u; echo done";
    let (status, out) = exec_confined(&["/bin/busybox", "sh", "-c", script]);
    assert_eq!(status, Status::Exited(0), "output: {out}");
    assert!(out.ends_with("done\n"), "{out}");
}

#[test]
fn glibc_programs_run_under_the_default_profile() {
    if Path::new("/bin/ls").exists() {
        let (status, out) = exec_confined(&["/bin/ls", "-la", "/"]);
        assert_eq!(status, Status::Exited(0));
        assert!(out.contains("proc"), "{out}");
    }
    let python = "/usr/bin/python3";
    if Path::new(python).exists() {
        // Threads, sockets, subprocesses, and the interpreter's startup.
        let code = "import threading, socket, subprocess, os\n\
                    t = threading.Thread(target=lambda: None); t.start(); t.join()\n\
                    a, b = socket.socketpair(); a.send(b'x'); assert b.recv(1) == b'x'\n\
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.bind(('127.0.0.1', 0)); s.close()\n\
                    assert subprocess.run(['/bin/true']).returncode == 0\n\
                    print(1)";
        let (status, out) = exec_confined(&[python, "-c", code]);
        assert_eq!((status, out.as_str()), (Status::Exited(0), "1\n"));
    } else {
        eprintln!("skipped python3: not installed");
    }
}

/// i386 syscalls from a 64-bit process: `int 0x80` enters the kernel with
/// `AUDIT_ARCH_I386` and i386 numbers, which exercises the arch dispatch.
#[cfg(target_arch = "x86_64")]
mod i386 {
    use super::*;

    const I386_GETPID: u32 = 20;
    const I386_MKDIR: u32 = 39;

    fn int80(nr: u32, arg1: u32) -> i32 {
        let ret: u64;
        // SAFETY: `int 0x80` runs the i386 syscall `nr` with `arg1` in ebx
        // (swapped in and out, since rbx is reserved by LLVM). The callers
        // only use syscalls without memory effects (getpid) or with a null
        // pointer (mkdir). The compat entry path clobbers r8-r11.
        unsafe {
            std::arch::asm!(
                "xchg {arg1}, rbx",
                "int 0x80",
                "xchg {arg1}, rbx",
                arg1 = inout(reg) u64::from(arg1) => _,
                inlateout("rax") u64::from(nr) => ret,
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            );
        }
        ret as u32 as i32
    }

    fn ia32_available() -> bool {
        in_child(|| {
            // SAFETY: getpid has no memory effects.
            let pid = unsafe { libc::getpid() };
            if int80(I386_GETPID, 0) == pid {
                0
            } else {
                1
            }
        }) == Status::Exited(0)
    }

    #[test]
    fn i386_numbers_are_filtered_separately() {
        if !ia32_available() {
            eprintln!("skipped: no IA-32 emulation in this kernel");
            return;
        }
        let filter = compile_json(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 55}]
        }));
        let status = in_child(|| {
            if !confine(&filter) {
                return 2;
            }
            if int80(I386_GETPID, 0) != -55 {
                return 10;
            }
            if sys(libc::SYS_getpid, 0, 0, 0) != Err(55) {
                return 11;
            }
            // 39 is getpid on x86_64 but mkdir on i386: not filtered, so the
            // kernel reports the null path.
            if int80(I386_MKDIR, 0) != -libc::EFAULT {
                return 12;
            }
            0
        });
        assert_eq!(status, Status::Exited(0));
    }

    #[test]
    fn unlisted_arch_kills_the_process() {
        if !ia32_available() {
            eprintln!("skipped: no IA-32 emulation in this kernel");
            return;
        }
        let filter = compile_json(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
        }));
        let status = in_child(|| {
            if !confine(&filter) {
                return 2;
            }
            int80(I386_GETPID, 0);
            3
        });
        assert_eq!(status, Status::Signaled(libc::SIGSYS));
    }

    #[test]
    fn default_profile_covers_i386() {
        if !ia32_available() {
            eprintln!("skipped: no IA-32 emulation in this kernel");
            return;
        }
        let filter = compile(&default_profile(&[]));
        let status = in_child(|| {
            if !confine(&filter) {
                return 2;
            }
            // SAFETY: getpid has no memory effects.
            if int80(I386_GETPID, 0) != unsafe { libc::getpid() } {
                return 10;
            }
            // i386 keyctl is 288.
            if int80(288, 0) != -libc::EPERM {
                return 11;
            }
            0
        });
        assert_eq!(status, Status::Exited(0));
    }
}
