//! `berth runtime` as a user drives it: real containers on the real kernel
//! (run as root), each test checking that nothing is left on the host.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::{assert_no_leftovers, unique, Bundle};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A runtime state root of its own, so tests never see each other.
struct Rt {
    root: tempfile::TempDir,
}

impl Rt {
    fn new() -> Rt {
        Rt { root: tempfile::Builder::new().prefix("berth-rt-").tempdir().unwrap() }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("runtime").arg("--root").arg(self.root.path()).stdin(Stdio::null());
        c
    }

    fn exec(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// `runtime run` in the foreground, capturing output.
    fn run(&self, bundle: &Bundle, id: &str) -> Output {
        self.cmd().args(["run", "--bundle"]).arg(bundle.path()).arg(id).output().unwrap()
    }

    /// A state root left empty: every container was removed.
    fn assert_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.root.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "state left behind: {left:?}");
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let out = self.exec(&["state", id]);
        assert!(out.status.success(), "state: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// create + start with stdio going to files in the bundle (a created
    /// container holds its stdio open, so they must not be our pipes).
    fn create_and_start(&self, bundle: &Bundle, id: &str) {
        let log = std::fs::File::create(bundle.path().join("out.log")).unwrap();
        let st = self
            .cmd()
            .args(["create", "--bundle"])
            .arg(bundle.path())
            .arg(id)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .unwrap();
        assert!(st.success(), "create failed: {}", read(bundle.path().join("out.log")));
        assert_eq!(self.state(id)["status"], "created");
        let out = self.exec(&["start", id]);
        assert!(out.status.success(), "start: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Even when a test fails half-way, every container it made is removed.
impl Drop for Rt {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.root.path()) else { return };
        for e in entries.flatten() {
            let _ = self.cmd().args(["delete", "--force"]).arg(e.file_name()).output();
        }
    }
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn bundle(args: &[&str]) -> Bundle {
    Bundle::busybox(Path::new(BERTH), args)
}

/// Runs `sh -c script` in a fresh container and returns its output, checking
/// for leftovers afterwards.
fn sh(script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Output {
    let rt = Rt::new();
    let b = bundle(&["sh", "-c", script]);
    b.edit(edit);
    let id = unique("sh");
    let out = rt.run(&b, &id);
    assert_no_leftovers(&id, b.path());
    rt.assert_empty();
    out
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_process_is_pid_1_and_exit_codes_propagate() {
    let out = sh("echo $$; exit 42", |_| {});
    assert_eq!(stdout(&out), "1\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(42));
}

#[test]
fn the_container_has_its_own_hostname() {
    let out = sh("hostname", |c| c["hostname"] = json!("box-7"));
    assert_eq!(stdout(&out), "box-7\n", "{}", stderr(&out));
}

#[test]
fn host_processes_are_invisible() {
    let out = sh("ls -d /proc/[0-9]*", |_| {});
    let text = stdout(&out);
    let pids: Vec<&str> = text.lines().map(|l| l.trim_start_matches("/proc/")).collect();
    // Only the shell (1) and ls itself.
    assert!(pids.len() <= 2 && pids.contains(&"1"), "saw {pids:?}");
    let me = std::process::id().to_string();
    assert!(!pids.contains(&me.as_str()));
}

#[test]
fn a_new_network_namespace_has_only_loopback() {
    let out = sh("ls /sys/class/net", |_| {});
    assert_eq!(stdout(&out), "lo\n", "{}", stderr(&out));
}

#[test]
fn the_memory_limit_oom_kills_and_the_exit_status_shows_it() {
    let out = sh("dd if=/dev/zero of=/dev/null bs=64M count=1", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 16 * 1024 * 1024});
    });
    assert_eq!(out.status.code(), Some(137), "stdout {} stderr {}", stdout(&out), stderr(&out));
}

#[test]
fn the_pids_limit_stops_a_fork_bomb() {
    let out = sh("i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo done", |c| {
        c["linux"]["resources"]["pids"] = json!({"limit": 10});
    });
    let err = stderr(&out);
    assert!(err.contains("Resource temporarily unavailable") || err.contains("can't fork"), "stderr: {err}");
}

#[test]
fn dropped_capabilities_forbid_mount_and_raw_sockets() {
    let out = sh("mount -t tmpfs none /tmp; echo mount=$?; ping -c 1 -W 1 127.0.0.1; echo ping=$?", |_| {});
    let o = stdout(&out);
    assert!(o.contains("mount=1") || o.contains("mount=255"), "{o} {}", stderr(&out));
    assert!(!o.contains("ping=0"), "{o}");
    let err = stderr(&out).to_lowercase();
    assert!(err.contains("permission denied") || err.contains("not permitted"), "stderr: {err}");
}

#[test]
fn seccomp_denies_a_blocked_syscall() {
    let out = sh("mkdir /tmp/x; echo mkdir=$?; touch /tmp/y; echo touch=$?", |c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let o = stdout(&out);
    assert!(o.contains("mkdir=1") && o.contains("touch=0"), "{o} {}", stderr(&out));
    assert!(stderr(&out).contains("Operation not permitted"), "{}", stderr(&out));
}

/// A busybox bundle running `args` under `berth runtime spec --seccomp`'s
/// config (the default profile, an allow-list).
fn seccomp_bundle(args: &[&str]) -> tempfile::TempDir {
    let b = tempfile::tempdir().unwrap();
    let out = Command::new(testkit::repo_root().join("scripts/make-bundle"))
        .arg(b.path())
        .arg("true")
        .env("BERTH", BERTH)
        .output()
        .unwrap();
    assert!(out.status.success(), "make-bundle: {}", stderr(&out));
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    let st = Command::new(BERTH)
        .args(["runtime", "spec", "--seccomp", "--no-terminal", "--bundle"])
        .arg(b.path())
        .arg("--args")
        .args(args)
        .status()
        .unwrap();
    assert!(st.success());
    b
}

#[test]
fn the_default_seccomp_profile_runs_programs_and_blocks_namespaces() {
    let rt = Rt::new();
    let b = seccomp_bundle(&["sh", "-c", "echo hello; unshare -U true; echo unshare=$?"]);
    let id = unique("seccomp");
    let out = rt.cmd().args(["run", "--bundle"]).arg(b.path()).arg(&id).output().unwrap();
    let o = stdout(&out);
    assert!(o.starts_with("hello\n"), "{o} {}", stderr(&out));
    assert!(o.contains("unshare=1"), "{o} {}", stderr(&out));
    assert_no_leftovers(&id, b.path());
}

#[test]
fn masked_proc_files_are_empty_and_sys_is_read_only() {
    // /proc/kcore is masked too, but this VM's kernel has none; these exist.
    let out = sh(
        "cat /proc/keys | wc -c; cat /proc/timer_list | wc -c; cat /proc/interrupts | wc -c; \
         [ ! -e /proc/kcore ] || cat /proc/kcore | wc -c; echo x > /sys/kernel/profiling; echo sys=$?",
        |_| {},
    );
    let o = stdout(&out);
    let lines: Vec<&str> = o.lines().map(str::trim).collect();
    assert_eq!(lines[..3], ["0", "0", "0"], "{o}");
    assert!(o.contains("sys=1"), "{o}");
    assert!(stderr(&out).contains("Read-only file system"), "{}", stderr(&out));
}

#[test]
fn proc_sys_is_read_only() {
    let out = sh("echo 1 > /proc/sys/kernel/panic; echo rc=$?", |_| {});
    assert!(stdout(&out).contains("rc=1"), "{}", stdout(&out));
}

#[test]
fn a_read_only_root_refuses_writes() {
    let out = sh("touch /newfile; echo rc=$?; touch /dev/shm/ok; echo shm=$?", |_| {});
    let o = stdout(&out);
    assert!(o.contains("rc=1"), "{o}");
    assert!(o.contains("shm=0"), "{o} {}", stderr(&out));
    assert!(stderr(&out).contains("Read-only file system"));
}

#[test]
fn uid_mapping_in_a_user_namespace() {
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let rt = Rt::new();
    let b = bundle(&["sh", "-c", "id -u; cat /proc/self/uid_map; touch /shared/file"]);
    chown_rootfs(&b);
    b.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": shared.path(), "options": ["rbind", "rw"]
        }));
    });
    let id = unique("userns");
    let out = rt.run(&b, &id);
    assert_no_leftovers(&id, b.path());
    let o = stdout(&out);
    let lines: Vec<Vec<&str>> = o.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines.first().map(|l| l.as_slice()), Some(&["0"][..]), "{o} {}", stderr(&out));
    assert_eq!(lines.get(1).map(|l| l.as_slice()), Some(&["0", "100000", "65536"][..]), "{o}");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(shared.path().join("file")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000), "a file made by root inside belongs to the mapped host id");
}

/// A running "pod sandbox": sleep in a new user namespace mapped to 100000,
/// with its own network namespace. Returns its bundle, id and pid.
fn start_userns_sandbox(rt: &Rt) -> (Bundle, String, i64) {
    let sandbox = bundle(&["sleep", "60"]);
    chown_rootfs(&sandbox);
    sandbox.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let sid = unique("sandbox");
    rt.create_and_start(&sandbox, &sid);
    let spid = rt.state(&sid)["pid"].as_i64().unwrap();
    (sandbox, sid, spid)
}

/// As with podman's user namespaces, the rootfs belongs to the mapped ids.
fn chown_rootfs(b: &Bundle) {
    assert!(Command::new("chown").args(["-R", "100000:100000"]).arg(b.rootfs()).status().unwrap().success());
}

#[test]
fn joining_a_pod_sandboxes_user_and_network_namespaces_with_a_new_pid_namespace() {
    // A "sandbox" container owns a user namespace (mapped to 100000) and a
    // network namespace; a second container joins both by path and gets new
    // pid, mount, ipc and uts namespaces, owned by the joined user namespace,
    // so its root can still mount its own /proc.
    let rt = Rt::new();
    let (sandbox, sid, spid) = start_userns_sandbox(&rt);

    let b = bundle(&["sh", "-c", "echo $$; cat /proc/self/uid_map; ls /proc | grep -c '^[0-9]'"]);
    chown_rootfs(&b);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            if n["type"] == "network" {
                n["path"] = json!(format!("/proc/{spid}/ns/net"));
            }
        }
        ns.retain(|n| n["type"] != "cgroup");
        ns.push(json!({"type": "user", "path": format!("/proc/{spid}/ns/user")}));
    });
    let id = unique("member");
    let out = rt.run(&b, &id);
    let o = stdout(&out);
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines.first(), Some(&"1"), "{o} {}", stderr(&out));
    assert_eq!(lines.get(1).map(|l| l.split_whitespace().collect::<Vec<_>>()), Some(vec!["0", "100000", "65536"]));
    assert_no_leftovers(&id, b.path());
    assert!(rt.exec(&["delete", "-f", &sid]).status.success());
    assert_no_leftovers(&sid, sandbox.path());
    rt.assert_empty();
}

#[test]
fn a_pod_member_joining_the_sandboxes_pid_namespace_is_tracked_by_its_host_pid() {
    // User, network and pid namespaces joined by path plus a new mount
    // namespace: the init comes from a second clone, and the runtime must
    // record the pid that it has in *our* pid namespace.
    let rt = Rt::new();
    let (sandbox, sid, spid) = start_userns_sandbox(&rt);

    let b = bundle(&["sleep", "60"]);
    chown_rootfs(&b);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            if n["type"] == "network" || n["type"] == "pid" {
                let name = if n["type"] == "network" { "net" } else { "pid" };
                n["path"] = json!(format!("/proc/{spid}/ns/{name}"));
            }
        }
        ns.retain(|n| n["type"] != "cgroup");
        ns.push(json!({"type": "user", "path": format!("/proc/{spid}/ns/user")}));
    });
    let id = unique("member");
    rt.create_and_start(&b, &id);
    let mpid = rt.state(&id)["pid"].as_i64().unwrap();
    let ns = |pid: i64, n: &str| std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
    assert_eq!(ns(mpid, "pid"), ns(spid, "pid"), "the recorded pid is the member's init, in the sandbox's pid ns");
    assert_ne!(ns(mpid, "mnt"), ns(spid, "mnt"));
    assert!(read(format!("/proc/{mpid}/cmdline")).starts_with("sleep"), "{}", read(format!("/proc/{mpid}/cmdline")));
    assert!(rt.exec(&["delete", "-f", &id]).status.success());
    assert_eq!(rt.state(&sid)["status"], "running", "deleting the member leaves the sandbox alone");
    assert!(rt.exec(&["delete", "-f", &sid]).status.success());
    assert_no_leftovers(&id, b.path());
    assert_no_leftovers(&sid, sandbox.path());
    rt.assert_empty();
}

#[test]
fn a_cgroup_in_use_is_refused() {
    let rt = Rt::new();
    let first = bundle(&["sleep", "60"]);
    let fid = unique("owner");
    rt.create_and_start(&first, &fid);
    let b = bundle(&["true"]);
    let fid2 = fid.clone();
    b.edit(move |c| c["linux"]["cgroupsPath"] = json!(format!("/berth/{fid2}")));
    expect_failure(&b, "linux.cgroupsPath: cgroup berth/");
    assert_eq!(rt.state(&fid)["status"], "running", "the other container was not touched");
    assert!(rt.exec(&["delete", "-f", &fid]).status.success());
    assert_no_leftovers(&fid, first.path());
}

#[test]
fn no_host_file_descriptor_reaches_the_container() {
    let out = sh("for f in /proc/$$/fd/*; do echo \"$f -> $(readlink $f)\"; done", |_| {});
    let o = stdout(&out);
    for line in o.lines() {
        let fd: u32 =
            line.split('/').nth(4).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap_or(99);
        assert!(fd <= 2 || line.contains("/proc/"), "unexpected fd in the container: {line}\n{o}");
    }
    assert!(!o.contains("memfd") && !o.contains("socket") && !o.contains("berth"), "{o}");
}

#[test]
fn proc_self_exe_never_leads_to_the_host_binary() {
    // The program asks for /proc/self/exe: what runs is the sealed stub, not
    // berth, and it cannot be opened for writing.
    let out = sh("exec /proc/self/exe --version", |_| {});
    assert!(!stdout(&out).contains("berth"), "the host binary ran inside the container: {}", stdout(&out));
    let out = sh("ls -l /proc/self/exe; echo x >> /proc/1/exe; echo rc=$?", |c| c["root"]["readonly"] = json!(false));
    assert!(stdout(&out).contains("rc=1"), "{} {}", stdout(&out), stderr(&out));
}

#[test]
fn the_lifecycle_create_start_state_kill_delete() {
    let rt = Rt::new();
    let b = bundle(&["sh", "-c", "trap 'echo got-usr1 > /tmp/sig; exit 3' USR1; while :; do sleep 0.05; done"]);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let id = unique("life");
    rt.create_and_start(&b, &id);
    let st = rt.state(&id);
    assert_eq!(st["status"], "running");
    assert_eq!(st["id"], id.as_str());
    assert!(st["pid"].as_i64().unwrap() > 1);
    let list = stdout(&rt.exec(&["list", "-q"]));
    assert_eq!(list.trim(), id);

    // Delete refuses a running container without --force.
    let out = rt.exec(&["delete", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is running"), "{}", stderr(&out));
    assert_eq!(rt.state(&id)["status"], "running", "a refused delete leaves the container alone");

    let out = rt.exec(&["kill", &id, "USR1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the trap", Duration::from_secs(5), || read(b.rootfs().join("tmp/sig")) == "got-usr1\n");
    wait_for("stopped", Duration::from_secs(5), || rt.state(&id)["status"] == "stopped");
    let out = rt.exec(&["kill", &id, "KILL"]);
    assert!(!out.status.success(), "killing a stopped container is an error");

    let out = rt.exec(&["delete", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = rt.exec(&["state", &id]);
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert_no_leftovers(&id, b.path());
    rt.assert_empty();
}

#[test]
fn exec_joins_the_same_namespaces_and_cgroup() {
    let rt = Rt::new();
    let b = bundle(&["sleep", "60"]);
    b.edit(|c| c["hostname"] = json!("exec-host"));
    let id = unique("exec");
    rt.create_and_start(&b, &id);
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    let out = rt.exec(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; readlink /proc/self/ns/net",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "exec-host");
    assert_eq!(lines[1].trim(), "sleep 60");
    let host_view = std::fs::read_link(format!("/proc/{init}/ns/net")).unwrap();
    assert_eq!(lines[2], host_view.to_string_lossy());
    // exit codes of exec'd processes come back too
    let out = rt.exec(&["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    // and the exec'd process sits in the container's cgroup (seen from the
    // host: inside, the cgroup namespace shows it as "/")
    let pid_file = b.path().join("exec.pid");
    // Detached, it keeps the stdio it was given: not our pipes, or we would
    // wait for it.
    let st = rt
        .cmd()
        .args(["exec", "--detach", "--pid-file"])
        .arg(&pid_file)
        .args([&id, "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let pid = read(&pid_file);
    let cgroups = read(format!("/proc/{pid}/cgroup"));
    assert!(cgroups.contains(&format!("berth/{id}")), "{cgroups}");
    // A detached exec outlives `berth exec` (no parent-death signal left on it).
    std::thread::sleep(Duration::from_millis(200));
    let stat = read(format!("/proc/{pid}/stat"));
    let state = stat.rsplit_once(')').map(|(_, r)| r.trim_start().chars().next()).unwrap_or(None);
    assert!(matches!(state, Some('S') | Some('R')), "exec -d process should still run: {stat}");
    let out = rt.exec(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_leftovers(&id, b.path());
    rt.assert_empty();
}

#[test]
fn exec_of_a_missing_program_fails_clearly() {
    let rt = Rt::new();
    let b = bundle(&["sleep", "60"]);
    let id = unique("exec-missing");
    rt.create_and_start(&b, &id);
    let out = rt.exec(&["exec", &id, "no-such-program"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exec: \"no-such-program\": executable file not found in $PATH"), "{}", stderr(&out));
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(rt.exec(&["delete", "-f", &id]).status.success());
    assert_no_leftovers(&id, b.path());
}

#[test]
fn run_forwards_signals_to_the_container() {
    let rt = Rt::new();
    let b = bundle(&["sh", "-c", "trap 'exit 7' TERM; touch /tmp/ready; while :; do sleep 0.05; done"]);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    let id = unique("fwd");
    let mut child = rt.cmd().args(["run", "--bundle"]).arg(b.path()).arg(&id).stdout(Stdio::null()).spawn().unwrap();
    wait_for("ready", Duration::from_secs(5), || b.rootfs().join("tmp/ready").exists());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(7));
    assert_no_leftovers(&id, b.path());
    rt.assert_empty();
}

#[test]
fn stats_report_the_memory_limit_and_pids() {
    let rt = Rt::new();
    let b = bundle(&["sleep", "60"]);
    b.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
        c["linux"]["resources"]["pids"] = json!({"limit": 50});
    });
    let id = unique("stats");
    rt.create_and_start(&b, &id);
    let out = rt.exec(&["stats", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["memory"]["limit"], 64 * 1024 * 1024);
    assert_eq!(s["pids"]["current"], 1);
    assert_eq!(s["pids"]["limit"], 50);
    assert!(s["memory"]["usage"].as_u64().unwrap() > 0);
    assert!(rt.exec(&["delete", "-f", &id]).status.success());
    assert_no_leftovers(&id, b.path());
}

#[test]
fn pause_and_resume() {
    let rt = Rt::new();
    let b = bundle(&["sleep", "60"]);
    let id = unique("pause");
    rt.create_and_start(&b, &id);
    assert!(rt.exec(&["pause", &id]).status.success());
    assert_eq!(rt.state(&id)["status"], "paused");
    assert!(rt.exec(&["resume", &id]).status.success());
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(rt.exec(&["delete", "-f", &id]).status.success());
    assert_no_leftovers(&id, b.path());
}

#[test]
fn delete_force_of_a_paused_container() {
    let rt = Rt::new();
    let b = bundle(&["sleep", "60"]);
    let id = unique("pausedel");
    rt.create_and_start(&b, &id);
    assert!(rt.exec(&["pause", &id]).status.success());
    let out = rt.exec(&["delete", "-f", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_leftovers(&id, b.path());
    rt.assert_empty();
}

#[test]
fn a_duplicate_id_is_refused_without_harming_the_first() {
    let rt = Rt::new();
    let b = bundle(&["sleep", "60"]);
    let id = unique("dup");
    rt.create_and_start(&b, &id);
    let out = rt.exec(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(rt.exec(&["delete", "-f", &id]).status.success());
    assert_no_leftovers(&id, b.path());
}

#[test]
fn delete_force_cleans_up_after_a_create_that_was_killed() {
    // What a runtime SIGKILLed half-way through create leaves (its init dies
    // with it, by the parent-death signal): a state directory without
    // state.json, and a cgroup.
    let rt = Rt::new();
    let b = bundle(&["true"]);
    let id = unique("killed");
    let dir = rt.root.path().join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(b.path().join("config.json"), dir.join("config.json")).unwrap();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let cg = PathBuf::from(if v2 { "/sys/fs/cgroup/berth" } else { "/sys/fs/cgroup/pids/berth" }).join(&id);
    std::fs::create_dir_all(&cg).unwrap();
    let out = rt.exec(&["delete", &id]);
    assert!(!out.status.success(), "without --force a half-made container is reported");
    let out = rt.exec(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!cg.exists() && !dir.exists());
    assert_no_leftovers(&id, b.path());
}

// ---- bad input: a clear error naming the field, non-zero exit, nothing left ----

fn expect_failure(b: &Bundle, expected: &str) {
    let rt = Rt::new();
    let id = unique("bad");
    let out = rt.run(b, &id);
    assert!(!out.status.success(), "should fail");
    let err = stderr(&out);
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
    assert_no_leftovers(&id, b.path());
    rt.assert_empty();
}

#[test]
fn malformed_config_json() {
    let b = bundle(&["true"]);
    std::fs::write(b.path().join("config.json"), "{\"process\": ").unwrap();
    expect_failure(&b, "config.json: process: EOF while parsing a value at line 1 column 12");
}

#[test]
fn a_field_with_the_wrong_type() {
    let b = bundle(&["true"]);
    b.edit(|c| c["process"]["args"] = json!("true"));
    expect_failure(&b, "process.args: invalid type: string");
}

#[test]
fn a_missing_config_json() {
    let b = bundle(&["true"]);
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    expect_failure(&b, "config.json: No such file or directory");
}

#[test]
fn a_missing_rootfs() {
    let b = bundle(&["true"]);
    b.edit(|c| c["root"]["path"] = json!("nope"));
    expect_failure(&b, "root.path: ");
}

#[test]
fn absent_args() {
    let b = bundle(&["true"]);
    b.edit(|c| {
        c["process"].as_object_mut().unwrap().remove("args");
    });
    expect_failure(&b, "process.args: missing");
}

#[test]
fn invalid_id_mappings() {
    let b = bundle(&["true"]);
    b.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 0}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1}]);
    });
    expect_failure(&b, "linux.uidMappings[0].size: must be greater than 0");
}

#[test]
fn a_cgroup_value_the_kernel_refuses() {
    let b = bundle(&["true"]);
    b.edit(|c| c["linux"]["resources"]["cpu"] = json!({"cpus": "99"}));
    expect_failure(&b, "linux.resources.cpu.cpus");
}

#[test]
fn a_mount_that_fails_inside_the_child() {
    let b = bundle(&["true"]);
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
    });
    expect_failure(&b, "(/x): No such device");
}

#[test]
fn a_program_that_does_not_exist() {
    let b = bundle(&["no-such-program"]);
    expect_failure(&b, "exec: \"no-such-program\": executable file not found in $PATH");
}

#[test]
fn a_program_the_user_may_not_execute() {
    let b = bundle(&["/bin/busybox", "true"]);
    b.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    std::fs::set_permissions(b.rootfs().join("bin/busybox"), std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .unwrap();
    expect_failure(&b, "exec: \"/bin/busybox\": Permission denied");
}

#[test]
fn a_sysctl_that_would_change_the_host() {
    let b = bundle(&["true"]);
    b.edit(|c| c["linux"]["sysctl"] = json!({"vm.swappiness": "10"}));
    expect_failure(&b, "linux.sysctl[\"vm.swappiness\"]: not a namespaced sysctl");
}

#[test]
fn namespaced_sysctls_are_applied() {
    let out = sh("cat /proc/sys/net/ipv4/ip_forward", |c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    });
    assert_eq!(stdout(&out), "1\n", "{}", stderr(&out));
}

#[test]
fn process_settings_env_cwd_user_umask_rlimits() {
    let out = sh("echo $FOO; pwd; id -u; id -g; id -G; umask; ulimit -n; echo $HOME", |c| {
        c["process"]["env"].as_array_mut().unwrap().push(json!("FOO=bar"));
        c["process"]["cwd"] = json!("/work/dir");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 63});
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]);
    });
    let o = stdout(&out);
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines, ["bar", "/work/dir", "1000", "1000", "1000 5 7", "0077", "321", "/"], "{}", stderr(&out));
}

#[test]
fn capabilities_are_set_in_all_five_sets() {
    let out = sh("grep Cap /proc/self/status", |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["noNewPrivileges"] = json!(false);
        let caps = json!(["CAP_NET_BIND_SERVICE", "CAP_KILL"]);
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps});
    });
    let o = stdout(&out);
    // KILL = bit 5, NET_BIND_SERVICE = bit 10 → 0x420
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let line = o.lines().find(|l| l.starts_with(set)).unwrap_or_default();
        assert!(line.ends_with("0000000000000420"), "{set}: {line}\n{o} {}", stderr(&out));
    }
}

#[test]
fn no_new_privileges_is_set() {
    let out = sh("grep NoNewPrivs /proc/self/status", |_| {});
    assert!(stdout(&out).contains("NoNewPrivs:\t1"), "{}", stdout(&out));
}

#[test]
fn oom_score_adj_is_set() {
    let out = sh("cat /proc/self/oom_score_adj", |c| c["process"]["oomScoreAdj"] = json!(500));
    assert_eq!(stdout(&out), "500\n", "{}", stderr(&out));
}

#[test]
fn joining_a_network_namespace_by_path() {
    // A namespace made for the test, as a pod sandbox would hold one.
    let name = unique("berthns");
    assert!(Command::new("ip").args(["netns", "add", &name]).status().unwrap().success());
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "delete", &self.0]).status();
        }
    }
    let _del = Del(name.clone());
    let path = PathBuf::from("/run/netns").join(&name);
    let out = sh("readlink /proc/self/ns/net", |c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!(path);
            }
        }
    });
    let want = std::fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
    assert_eq!(stdout(&out).trim(), format!("net:[{want}]"), "{}", stderr(&out));
}

#[test]
fn a_namespace_path_of_the_wrong_type_is_refused() {
    let b = bundle(&["true"]);
    b.edit(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!("/proc/self/ns/uts");
            }
        }
    });
    expect_failure(&b, "is not a net namespace");
}

#[test]
fn bind_mounts_with_read_only_and_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hi\n").unwrap();
    let out = sh("cat /data/hello.txt; cat /one.txt; touch /data/new; echo rc=$?", |c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "bind", "source": dir.path(), "options": ["rbind", "ro"]}));
        m.push(json!({"destination": "/one.txt", "type": "bind", "source": dir.path().join("hello.txt"), "options": ["bind"]}));
    });
    assert_eq!(stdout(&out), "hi\nhi\nrc=1\n", "{}", stderr(&out));
    assert!(!dir.path().join("new").exists());
}

#[test]
fn a_symlink_in_the_rootfs_cannot_redirect_a_mount_to_the_host() {
    let host_target = tempfile::tempdir().unwrap();
    let b = bundle(&["sh", "-c", "echo hi > /evil/marker && cat /evil/marker"]);
    // The image plants /evil -> <a host dir>: it must mean that path inside the
    // rootfs, never the host's.
    std::os::unix::fs::symlink(host_target.path(), b.rootfs().join("evil")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    });
    // Dangling inside the rootfs: a clear error, nothing mounted anywhere.
    let rt = Rt::new();
    let id = unique("symlink");
    let out = rt.run(&b, &id);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("mounts[7] (/evil)"), "{}", stderr(&out));
    assert_no_leftovers(&id, b.path());
    // With the target present inside the rootfs, the mount lands there.
    std::fs::create_dir_all(b.rootfs().join(host_target.path().strip_prefix("/").unwrap())).unwrap();
    let out = rt.run(&b, &id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n");
    assert_eq!(testkit::mounts_mentioning(&host_target.path().to_string_lossy()), Vec::<String>::new());
    assert!(std::fs::read_dir(host_target.path()).unwrap().next().is_none(), "nothing may appear in the host dir");
    assert_no_leftovers(&id, b.path());
    rt.assert_empty();
}

#[test]
fn a_terminal_through_the_console_socket() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::net::UnixListener;
    let rt = Rt::new();
    let b = bundle(&["sh", "-c", "tty; echo cols=$(stty size)"]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    });
    let sock_dir = tempfile::tempdir().unwrap();
    let sock_path = sock_dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let id = unique("tty");
    let log = std::fs::File::create(b.path().join("run.log")).unwrap();
    let mut child = rt
        .cmd()
        .args(["run", "--console-socket"])
        .arg(&sock_path)
        .arg("--bundle")
        .arg(b.path())
        .arg(&id)
        .stderr(log)
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    // Receive the pty master over SCM_RIGHTS.
    let mut buf = [0u8; 64];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: a zeroed msghdr pointing at our buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len();
    use std::os::fd::AsRawFd;
    // SAFETY: recvmsg into the buffers above.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0);
    // SAFETY: the control message carries one fd.
    let fd = unsafe { *(libc::CMSG_DATA(libc::CMSG_FIRSTHDR(&msg)) as *const i32) };
    // SAFETY: the fd is ours now.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut out = Vec::new();
    let mut f = std::fs::File::from(master);
    let st = child.wait().unwrap();
    let _ = std::io::Read::read_to_end(&mut f, &mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(st.success(), "{}", read(b.path().join("run.log")));
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("cols=30 100"), "{text}");
    assert_no_leftovers(&id, b.path());
}

#[test]
fn an_allow_list_profile_without_faccessat2_still_runs_the_program() {
    // The program is looked up and checked before the filter is loaded:
    // after it, only what the program itself does is filtered.
    for nnp in [true, false] {
        let rt = Rt::new();
        let b = seccomp_bundle(&["sh", "-c", "echo ran as $(id -u)"]);
        let path = b.path().join("config.json");
        let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(c["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO", "an allow-list");
        for rule in c["linux"]["seccomp"]["syscalls"].as_array_mut().unwrap() {
            if let Some(names) = rule["names"].as_array_mut() {
                names.retain(|n| n != "faccessat2");
            }
        }
        c["process"]["noNewPrivileges"] = json!(nnp);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
        let id = unique("nofaccessat2");
        let out = rt.cmd().args(["run", "--bundle"]).arg(b.path()).arg(&id).output().unwrap();
        assert_eq!(stdout(&out), "ran as 1000\n", "noNewPrivileges={nnp}: {}", stderr(&out));
        assert_no_leftovers(&id, b.path());
    }
}

#[test]
fn a_namespace_left_out_of_the_spec_is_the_runtimes_own() {
    let ns = |name: &str| std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap().to_string_lossy().into_owned();
    let kinds = ["mnt", "net", "uts", "ipc", "pid", "cgroup"];
    // Each one left out alone, then all of them (the mount namespace too:
    // the rootfs is then built on the host below the bundle and entered with
    // chroot, and nothing of it stays mounted afterwards).
    let spec_names = ["mount", "network", "uts", "ipc", "pid", "cgroup"];
    let mut cases: Vec<Vec<&str>> = spec_names.iter().map(|n| vec![*n]).collect();
    cases.push(spec_names.to_vec());
    for left_out in cases {
        let script = kinds.iter().map(|k| format!("readlink /proc/self/ns/{k}")).collect::<Vec<_>>().join("; ");
        let out = sh(&script, |c| {
            let list = c["linux"]["namespaces"].as_array_mut().unwrap();
            list.retain(|n| !left_out.contains(&n["type"].as_str().unwrap_or("")));
            if left_out.contains(&"uts") {
                c.as_object_mut().unwrap().remove("hostname");
            }
        });
        assert!(out.status.success(), "without {left_out:?}: {}", stderr(&out));
        let seen: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        for ((kind, spec_name), seen) in kinds.iter().zip(spec_names).zip(&seen) {
            // A pid namespace is only entered by children: readlink is one.
            let host = ns(kind);
            if left_out.contains(&spec_name) {
                assert_eq!(*seen, host, "without {spec_name} the container is in the host's {kind} namespace");
            } else {
                assert_ne!(*seen, host, "with {spec_name} the container has its own {kind} namespace");
            }
        }
    }
}

/// A hook that saves its stdin (the state) as `<dir>/<name>.json` and its
/// mount namespace as `<dir>/<name>.ns`, then runs `then`.
fn recording_hook(dir: &Path, name: &str, then: &str) -> serde_json::Value {
    let d = dir.display();
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {d}/{name}.json; readlink /proc/self/ns/mnt > {d}/{name}.ns; {then}")],
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    })
}

#[test]
fn oci_hooks_run_at_their_moments_in_their_namespaces_with_the_state() {
    let rt = Rt::new();
    let logs = tempfile::tempdir().unwrap();
    let l = logs.path();
    let b = bundle(&["sh", "-c", "sleep 60"]);
    b.edit(|c| {
        c["root"]["readonly"] = json!(false);
        c["hooks"] = json!({
            "prestart": [recording_hook(l, "prestart", "")],
            "createRuntime": [recording_hook(l, "createRuntime", "")],
            "createContainer": [recording_hook(l, "createContainer", "")],
            // In the container, after pivot_root: paths are the container's.
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer.json"]}],
            "poststart": [recording_hook(l, "poststart", "")],
            "poststop": [recording_hook(l, "poststop", "")],
        });
    });
    let state = |name: &str| -> serde_json::Value {
        serde_json::from_str(&read(l.join(format!("{name}.json")))).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap().to_string_lossy().into_owned();
    let id = unique("hooks");
    rt.create_and_start(&b, &id);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let container_mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().to_string_lossy().into_owned();
    for (name, status, ns) in [
        ("prestart", "creating", &host_mnt),
        ("createRuntime", "creating", &host_mnt),
        ("createContainer", "creating", &container_mnt),
        ("poststart", "running", &host_mnt),
    ] {
        let s = state(name);
        assert_eq!((s["id"].as_str(), s["status"].as_str()), (Some(id.as_str()), Some(status)), "{name}: {s}");
        assert_eq!(s["pid"].as_i64(), Some(pid), "{name}: {s}");
        assert_eq!(read(l.join(format!("{name}.ns"))).trim(), ns.as_str(), "{name} runs in the wrong namespace");
    }
    let started: serde_json::Value =
        serde_json::from_str(&read(b.rootfs().join("startContainer.json"))).expect("startContainer ran inside");
    assert_eq!(started["status"], "created");
    assert!(!l.join("poststop.json").exists());
    assert!(rt.exec(&["delete", "-f", &id]).status.success());
    assert_eq!(state("poststop")["status"], "stopped");
    assert_no_leftovers(&id, b.path());
}

#[test]
fn a_failing_hook_fails_create_as_the_spec_says_and_leaves_nothing() {
    let logs = tempfile::tempdir().unwrap();
    let l = logs.path();
    let cases = [
        ("createRuntime", recording_hook(l, "createRuntime", "echo no network for you >&2; exit 3"), "exit status: 3"),
        ("createContainer", json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}), "timed out after 1s"),
        ("prestart", json!({"path": "/nonexistent/hook"}), "No such file"),
    ];
    for (kind, hook, why) in cases {
        let rt = Rt::new();
        let b = bundle(&["true"]);
        b.edit(|c| c["hooks"] = json!({kind: [hook], "poststop": [recording_hook(l, "poststop", "")]}));
        let id = unique("badhook");
        let out = rt.cmd().args(["create", "--bundle"]).arg(b.path()).arg(&id).output().unwrap();
        assert!(!out.status.success(), "{kind}: a failing hook must fail create");
        let err = stderr(&out);
        assert!(err.contains(&format!("hooks.{kind}[0]")) && err.contains(why), "{kind}: {err}");
        assert!(l.join("poststop.json").exists(), "{kind}: the lifecycle ends with poststop");
        std::fs::remove_file(l.join("poststop.json")).unwrap();
        assert_no_leftovers(&id, b.path());
        rt.assert_empty();
    }
    // poststart and poststop failures are warnings: the container runs.
    let rt = Rt::new();
    let b = bundle(&["sh", "-c", "echo ran"]);
    b.edit(|c| c["hooks"] = json!({"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]}));
    let out = rt.run(&b, &unique("warnhook"));
    assert!(out.status.success() && stdout(&out) == "ran\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: hooks.poststart[0]"), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: hooks.poststop[0]"), "{}", stderr(&out));
    rt.assert_empty();
}
