//! The engine as a user drives it: `berth run`, `ps`, `exec`, `logs`,
//! networks and volumes, through the binary, on the real kernel (as root).
//! Every test has a state tree of its own with its own default bridge and
//! subnet (engine.json), and ends with `system reset`, after which nothing
//! of it may be left on the host: no process, mount, cgroup, link or
//! firewall table.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
use testkit::host::{stderr, stdout, NFT_TABLE};

fn busybox_tar() -> &'static Path {
    testkit::host::busybox_tar(Path::new(BERTH))
}

/// A berth of this test's own (`n` picks its subnets: 1..=99 here).
fn host(n: u8) -> testkit::host::Host {
    testkit::host::Host::new(Path::new(BERTH), n)
}

/// An HTTP GET over TCP; the response body.
fn http_get(addr: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    testkit::cgroup_dirs(id)
}

#[test]
fn a_web_server_with_a_published_port_serves_the_host() {
    let h = host(1);
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from berth\n").unwrap();
    let port = testkit::free_port();
    let vol = format!("{}:/www:ro", www.path().display());
    let publish = format!("127.0.0.1:{port}:80");
    let id = h.ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "-v", &vol, "bb", "httpd", "-f", "-v", "-p", "80", "-h", "/www",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the id: {id}");

    let mut body = String::new();
    h.eventually(5, "the web server", || {
        body = http_get(&format!("127.0.0.1:{port}")).unwrap_or_default();
        !body.is_empty()
    });
    assert_eq!(body, "hello from berth\n");

    let ps = h.ok(&["ps"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    assert!(ps.contains("web") && ps.contains("Up "), "{ps}");
    assert_eq!(h.ok(&["port", "web"]).trim(), format!("80/tcp -> 127.0.0.1:{port}"));
    assert_eq!(h.ok(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(h.ok(&["ps", "--format", "{{.Names}} {{.State}}"]).trim(), "web running");

    // The container's address is on this test's bridge; the gateway reaches it.
    let ip = h.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]);
    assert!(ip.trim().starts_with(&format!("10.201.{}.", h.n)), "{ip}");
    assert_eq!(http_get(&format!("{}:80", ip.trim())).unwrap(), "hello from berth\n");

    // busybox httpd logs to stderr, and so does `logs` for those lines.
    h.eventually(5, "the access log", || stderr(&h.run(&["logs", "web"])).contains("response:200"));
    let top = h.ok(&["top", "web"]);
    assert!(top.lines().next().unwrap().contains("PID") && top.contains("httpd -f"), "{top}");
    let stats = h.ok(&["stats", "--no-stream", "web"]);
    assert!(stats.contains("web") && stats.contains("MiB") || stats.contains("KiB"), "{stats}");

    h.ok(&["rm", "-f", "web"]);
    assert!(http_get(&format!("127.0.0.1:{port}")).is_err(), "the port is released");
    assert_eq!(cgroup_dirs_of(id), Vec::<PathBuf>::new());
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    let h = host(2);
    h.ok(&["network", "create", "--subnet", &h.subnet(0), "app"]);
    h.ok(&["run", "-d", "--name", "db", "--network", "app", "--network-alias", "database", "bb", "sleep", "300"]);
    let out = h.ok(&[
        "run",
        "--rm",
        "--network",
        "app",
        "bb",
        "sh",
        "-c",
        "ping -c1 -W2 db && ping -c1 -W2 database && nslookup db",
    ]);
    assert!(out.contains("1 packets received"), "{out}");
    let db_ip = h.ok(&["inspect", "-f", "{{(index .NetworkSettings.Networks \"app\").IPAddress}}", "db"]);
    assert!(out.contains(&format!("Address: {}", db_ip.trim())), "{out}");

    // The default bridge has no name resolution, like docker's.
    let out = h.run(&["run", "--rm", "bb", "ping", "-c1", "-W1", "db"]);
    assert!(!out.status.success());

    // Networks in use stay; connect and disconnect a running container.
    let err = h.fails(&["network", "rm", "app"]);
    assert!(err.contains("has active endpoints"), "{err}");
    h.ok(&["run", "-d", "--name", "other", "bb", "sleep", "300"]);
    h.ok(&["network", "connect", "--alias", "second", "app", "other"]);
    let out = h.ok(&["exec", "db", "ping", "-c1", "-W2", "second"]);
    assert!(out.contains("1 packets received"), "{out}");
    h.ok(&["network", "disconnect", "app", "other"]);
    let out = h.run(&["exec", "db", "ping", "-c1", "-W1", "other"]);
    assert!(!out.status.success(), "disconnected: {}", stdout(&out));

    let ls = h.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls.lines().collect::<Vec<_>>(), ["app", "bridge", "host", "none"]);
    let inspect: serde_json::Value = serde_json::from_str(&h.ok(&["network", "inspect", "app"])).unwrap();
    assert_eq!(inspect[0]["IPAM"]["Config"][0]["Subnet"], h.subnet(0));
    h.ok(&["rm", "-f", "db", "other"]);
    h.ok(&["network", "rm", "app"]);
    assert_eq!(testkit::processes_mentioning(&format!("{} internal dns", h.root_str())), Vec::<u32>::new());
}

#[test]
fn a_volume_outlives_its_container_and_starts_with_the_image_content() {
    let h = host(3);
    h.ok(&["run", "--rm", "-v", "data:/data", "bb", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(h.ok(&["run", "--rm", "-v", "data:/data:ro", "bb", "cat", "/data/f"]), "kept\n");
    let err = h.fails(&["run", "--rm", "-v", "data:/data:ro", "bb", "touch", "/data/g"]);
    assert!(err.contains("Read-only file system"), "{err}");
    let ls = h.ok(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert_eq!(ls.trim(), "data local");

    // A new volume mounted over image content starts with that content.
    let out = h.ok(&["run", "--rm", "-v", "etc:/etc", "bb", "cat", "/etc/passwd"]);
    assert!(out.contains("root:"), "{out}");

    // In use: not removable; rm -v removes anonymous volumes only.
    h.ok(&["run", "-d", "--name", "user", "-v", "data:/data", "-v", "/anon", "bb", "sleep", "300"]);
    let err = h.fails(&["volume", "rm", "data"]);
    assert!(err.contains("volume is in use"), "{err}");
    h.ok(&["rm", "-f", "-v", "user"]);
    let ls = h.ok(&["volume", "ls", "-q"]);
    assert_eq!(ls.lines().collect::<Vec<_>>(), ["data", "etc"], "the anonymous volume went with rm -v");
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["volume", "inspect", "data"])).unwrap();
    assert!(Path::new(v[0]["Mountpoint"].as_str().unwrap()).join("f").exists());

    // tmpfs mounts and bind mounts.
    let out = h.ok(&["run", "--rm", "--tmpfs", "/scratch", "bb", "sh", "-c", "grep /scratch /proc/mounts"]);
    assert!(out.contains("tmpfs"), "{out}");
    h.ok(&["volume", "rm", "data", "etc"]);
    assert_eq!(h.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn logs_follow_streams_new_lines() {
    let h = host(4);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "bb",
        "sh",
        "-c",
        "i=0; while true; do echo line $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done",
    ]);
    let mut follow: Child =
        h.cmd().args(["logs", "-f", "talker"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == "line 8") {
        assert!(Instant::now() < deadline, "logs -f stopped at {seen:?}");
        seen.push(lines.next().unwrap().unwrap());
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(seen[0], "line 0");
    // stderr lines go to stderr; --tail counts both streams; -t.
    let out = h.run(&["logs", "--tail", "4", "-t", "talker"]);
    assert_eq!(stdout(&out).lines().count() + stderr(&out).lines().count(), 4, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("20"), "timestamps: {}", stdout(&out));
    assert!(stderr(&out).contains(" err "), "{}", stderr(&out));
    h.ok(&["rm", "-f", "talker"]);
}

/// A pty pair: (master, slave).
fn openpty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut m, mut s) = (0, 0);
    // SAFETY: valid out-pointers; NULL name, termios and winsize.
    let rc = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both fds were just opened for us.
    unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s)) }
}

#[test]
fn exec_it_gives_an_interactive_shell_on_a_terminal() {
    let h = host(5);
    h.ok(&["run", "-d", "--name", "box", "bb", "sleep", "300"]);
    let (mut master, slave) = openpty();
    let mut child = h
        .cmd()
        .args(["exec", "-it", "box", "sh"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    master.write_all(b"tty; echo $((6*7))\n").unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    // SAFETY: making our own master fd non-blocking.
    unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&master), libc::F_SETFL, libc::O_NONBLOCK) };
    while !String::from_utf8_lossy(&got).contains("\n42") {
        assert!(Instant::now() < deadline, "no answer from the shell: {}", String::from_utf8_lossy(&got));
        match master.read(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(
        String::from_utf8_lossy(&got).contains("/dev/pts/"),
        "the shell has a terminal: {}",
        String::from_utf8_lossy(&got)
    );
    master.write_all(b"exit 3\n").unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(3));

    // Without a terminal: stdin, env, user, workdir, exit codes, -d.
    let out = h
        .cmd()
        .args([
            "exec",
            "-i",
            "-e",
            "X=1",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "box",
            "sh",
            "-c",
            "cat; echo $X $(id -un) $PWD",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out_child = out;
    out_child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let out = out_child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "piped\n1 nobody /tmp\n");
    assert_eq!(h.run(&["exec", "box", "sh", "-c", "exit 7"]).status.code(), Some(7));
    h.ok(&["exec", "-d", "box", "sh", "-c", "echo detached > /tmp/d"]);
    h.eventually(5, "the detached exec", || h.run(&["exec", "box", "cat", "/tmp/d"]).status.success());
    h.ok(&["rm", "-f", "box"]);
}

#[test]
fn stop_falls_back_to_sigkill_and_restart_policies_are_applied() {
    let h = host(6);
    h.ok(&["run", "-d", "--name", "stubborn", "bb", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]);
    let t = Instant::now();
    h.ok(&["stop", "-t", "1", "stubborn"]);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(8), "stop took {took:?}");
    assert_eq!(h.ok(&["inspect", "-f", "{{.State.ExitCode}}", "stubborn"]).trim(), "137");
    let ps = h.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Exited (137)"), "{ps}");

    // A container that exits on SIGTERM stops at once.
    h.ok(&["run", "-d", "--name", "polite", "bb", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    let t = Instant::now();
    h.ok(&["stop", "polite"]);
    assert!(t.elapsed() < Duration::from_secs(3), "stop took {:?}", t.elapsed());
    assert_eq!(h.ok(&["inspect", "-f", "{{.State.ExitCode}}", "polite"]).trim(), "0");

    // on-failure:3 restarts exactly three times, then stays down.
    h.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:3", "bb", "sh", "-c", "echo run; exit 3"]);
    h.eventually(20, "three restarts", || {
        h.status("flaky") == "exited" && h.ok(&["inspect", "-f", "{{.RestartCount}}", "flaky"]).trim() == "3"
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(h.ok(&["inspect", "-f", "{{.RestartCount}}", "flaky"]).trim(), "3");
    assert_eq!(h.ok(&["logs", "flaky"]), "run\nrun\nrun\nrun\n", "the first run and three restarts");
    assert_eq!(h.ok(&["wait", "flaky"]).trim(), "3");

    // always: comes back after the process dies; stop ends that.
    h.ok(&["run", "-d", "--name", "phoenix", "--restart", "always", "bb", "sleep", "300"]);
    let pid = h.ok(&["inspect", "-f", "{{.State.Pid}}", "phoenix"]);
    // SAFETY: killing the container's process from outside, as the OOM killer would.
    unsafe { libc::kill(pid.trim().parse().unwrap(), libc::SIGKILL) };
    h.eventually(10, "the restart", || {
        let now = h.ok(&["inspect", "-f", "{{.State.Pid}} {{.State.Status}}", "phoenix"]);
        now.trim().ends_with("running") && !now.starts_with(pid.trim())
    });
    h.ok(&["stop", "phoenix"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(h.status("phoenix"), "exited");
    h.ok(&["rm", "stubborn", "polite", "flaky", "phoenix"]);
}

#[test]
fn memory_limits_show_in_stats_and_kill_on_excess() {
    let h = host(7);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "small",
        "--memory",
        "32m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "bb",
        "sleep",
        "300",
    ]);
    let stats = h.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "small"]);
    assert!(stats.contains("/ 32MiB"), "{stats}");
    assert!(stats.starts_with("small "), "{stats}");
    let hc = h.inspect("small")["HostConfig"].clone();
    assert_eq!(hc["Memory"], 32 << 20);
    assert_eq!(hc["NanoCpus"], 500_000_000);

    // Allocating past the limit: the kernel OOM-kills it, and berth says so.
    let out = h.run(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "bb",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert_eq!(h.ok(&["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog"]).trim(), "true 137");
    h.ok(&["rm", "-f", "small", "hog"]);
}

#[test]
fn a_detached_container_outlives_the_cli_and_later_clis_manage_it() {
    let h = host(8);
    let id = h.ok(&["run", "-d", "--name", "lasting", "bb", "sh", "-c", "echo started; exec sleep 300"]);
    // The CLI that started it has exited (output() returned); it runs on.
    h.eventually(5, "its output", || h.ok(&["logs", "lasting"]) == "started\n");
    assert_eq!(h.status("lasting"), "running");
    h.ok(&["pause", "lasting"]);
    assert_eq!(h.status("lasting"), "paused");
    let err = h.fails(&["exec", "lasting", "true"]);
    assert!(err.contains("is not running") || err.contains("paused"), "{err}");
    h.ok(&["unpause", "lasting"]);
    h.ok(&["rename", "lasting", "renamed"]);
    assert_eq!(h.ok(&["exec", "renamed", "cat", "/proc/1/comm"]).trim(), "sleep");
    h.ok(&["restart", "-t", "1", "renamed"]);
    assert_eq!(h.status("renamed"), "running");
    assert_eq!(h.ok(&["logs", "renamed"]), "started\nstarted\n");
    let filter = format!("container={}", &id.trim()[..12]);
    let events = h.ok(&["events", "--since", "5m", "--until", "0s", "--filter", &filter, "--format", "{{.Action}}"]);
    for action in ["create", "start", "pause", "unpause", "rename", "kill", "die", "stop"] {
        assert!(events.lines().any(|l| l == action), "no {action} event in {events}");
    }
    h.ok(&["rm", "-f", "renamed"]);
    assert_eq!(cgroup_dirs_of(id.trim()), Vec::<PathBuf>::new());
}

#[test]
fn rm_force_removes_a_running_container_and_everything_it_had() {
    let h = host(9);
    let port = testkit::free_port();
    let id = h.ok(&["run", "-d", "--name", "doomed", "-p", &format!("{port}:80"), "bb", "sleep", "300"]);
    let id = id.trim().to_string();
    let pid = h.ok(&["inspect", "-f", "{{.State.Pid}}", "doomed"]).trim().to_string();
    let err = h.fails(&["rm", "doomed"]);
    assert!(err.contains("You cannot remove a running container"), "{err}");
    h.ok(&["rm", "-f", "doomed"]);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the process is gone");
    assert_eq!(cgroup_dirs_of(&id), Vec::<PathBuf>::new());
    let rules = stdout(&Command::new("nft").args(["list", "table", "inet", NFT_TABLE]).output().unwrap());
    assert!(!rules.contains(&id), "its port rule is gone: {rules}");
    let err = h.fails(&["inspect", "doomed"]);
    assert!(err.contains("No such object: doomed"), "{err}");
}

#[test]
fn parallel_runs_from_many_processes_do_not_corrupt_state() {
    let h = host(10);
    let children: Vec<Child> = (0..8)
        .map(|i| {
            h.cmd()
                .args(["run", "-d", "--name", &format!("p{i}"), "bb", "sleep", "300"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let names = h.ok(&["ps", "--format", "{{.Names}}"]);
    let mut names: Vec<_> = names.lines().collect();
    names.sort();
    assert_eq!(names, (0..8).map(|i| format!("p{i}")).collect::<Vec<_>>());
    let mut ips: Vec<String> = (0..8)
        .map(|i| h.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &format!("p{i}")]).trim().to_string())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 8, "every container has its own address: {ips:?}");
    // Same name from two processes at once: exactly one wins.
    let racers: Vec<Child> = (0..2)
        .map(|_| {
            h.cmd()
                .args(["create", "--name", "same", "bb"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let wins = racers
        .into_iter()
        .filter(|_| true)
        .map(|c| c.wait_with_output().unwrap().status.success())
        .filter(|ok| *ok)
        .count();
    assert_eq!(wins, 1);
    let removers: Vec<Child> =
        (0..8).map(|i| h.cmd().args(["rm", "-f", &format!("p{i}")]).stdout(Stdio::null()).spawn().unwrap()).collect();
    for mut c in removers {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(h.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "same");
}

#[test]
fn namespaces_are_shared_with_another_container_and_init_reaps() {
    let h = host(11);
    h.ok(&["run", "-d", "--name", "pod", "--hostname", "podhost", "bb", "sleep", "300"]);
    let ip = h.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "pod"]);
    let out = h.ok(&[
        "run",
        "--rm",
        "--network",
        "container:pod",
        "--ipc",
        "container:pod",
        "--pid",
        "container:pod",
        "bb",
        "sh",
        "-c",
        "ip -4 addr show eth0; ps",
    ]);
    assert!(out.contains(ip.trim()), "same network namespace: {out}");
    assert!(out.contains("sleep 300"), "same pid namespace: {out}");
    // --network host: the host's namespace and name.
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let out = h.ok(&["run", "--rm", "--network", "host", "bb", "sh", "-c", "readlink /proc/self/ns/net; hostname"]);
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(out, format!("{}\n{}\n", host_ns.display(), host_name.trim()));
    // --init: the program is not PID 1; a plain run's is.
    assert_eq!(h.ok(&["run", "--rm", "bb", "sh", "-c", "echo $$"]).trim(), "1");
    assert_ne!(h.ok(&["run", "--rm", "--init", "bb", "sh", "-c", "echo $$"]).trim(), "1");
    assert_eq!(h.run(&["run", "--rm", "--init", "bb", "sh", "-c", "exit 4"]).status.code(), Some(4));
    h.ok(&["rm", "-f", "pod"]);
}

#[test]
fn health_checks_report_and_files_copy_both_ways() {
    let h = host(12);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "bb",
        "sleep",
        "300",
    ]);
    h.eventually(10, "unhealthy", || h.ok(&["inspect", "-f", "{{.State.Health.Status}}", "svc"]).trim() == "unhealthy");
    h.ok(&["exec", "svc", "touch", "/tmp/ready"]);
    h.eventually(10, "healthy", || h.ok(&["inspect", "-f", "{{.State.Health.Status}}", "svc"]).trim() == "healthy");
    assert!(h.ok(&["ps"]).contains("(healthy)"));

    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("in.txt"), "from the host\n").unwrap();
    h.ok(&["cp", d.path().join("in.txt").to_str().unwrap(), "svc:/tmp/"]);
    assert_eq!(h.ok(&["exec", "svc", "cat", "/tmp/in.txt"]), "from the host\n");
    h.ok(&["cp", "svc:/etc/passwd", d.path().join("passwd").to_str().unwrap()]);
    assert!(std::fs::read_to_string(d.path().join("passwd")).unwrap().contains("root:"));
    // A symlink in the container to a host path resolves inside the container.
    h.ok(&["exec", "svc", "ln", "-s", "/etc/hostname", "/tmp/link"]);
    h.ok(&["cp", "-L", "svc:/tmp/link", d.path().join("h").to_str().unwrap()]);
    let host_hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let copied = std::fs::read_to_string(d.path().join("h")).unwrap();
    assert_ne!(copied, host_hostname);
    // A stopped container too.
    h.ok(&["stop", "-t", "0", "svc"]);
    h.ok(&["cp", d.path().join("in.txt").to_str().unwrap(), "svc:/root.txt"]);
    h.ok(&["cp", "svc:/root.txt", d.path().join("back.txt").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(d.path().join("back.txt")).unwrap(), "from the host\n");
    let err = h.fails(&["cp", "svc:/nope", d.path().to_str().unwrap()]);
    assert!(err.contains("Could not find the file /nope"), "{err}");
    h.ok(&["rm", "svc"]);
}

#[test]
fn bad_input_is_refused_clearly_and_leaves_nothing() {
    let h = host(13);
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--pull", "never", "nosuch:image"], "Unable to find image"),
        (&["run", "-p", "80:abc", "bb"], "port"),
        (&["run", "-p", "99999:80", "bb"], "port"),
        (&["run", "--memory", "12q", "bb"], "invalid"),
        (&["run", "--cpus", "lots", "bb"], "cpus"),
        (&["run", "-v", "rel/path:/x", "bb"], "includes invalid characters for a local volume name"),
        (&["run", "-v", "/host:relative", "bb"], "must be absolute"),
        (&["run", "--network", "nowhere", "bb", "true"], "nowhere"),
        (&["run", "--restart", "sometimes", "bb"], "invalid restart policy"),
        (&["run", "--name", "bad name", "bb"], "Invalid container name"),
        (&["exec", "nobody-here", "true"], "No such container: nobody-here"),
        (&["network", "create", "--subnet", "10.300.0.0/16", "x"], "10.300.0.0/16"),
        (&["stop", "ghost"], "No such container: ghost"),
    ];
    for (args, want) in cases {
        let err = h.fails(args);
        assert!(err.contains(want), "berth {args:?}: {err:?} should mention {want:?}");
    }
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "", "nothing was created by bad input");

    // Name in use; port in use; exec into a stopped container.
    h.ok(&["create", "--name", "taken", "bb"]);
    let err = h.fails(&["create", "--name", "taken", "bb"]);
    assert!(err.contains("is already in use"), "{err}");
    let err = h.fails(&["exec", "taken", "true"]);
    assert!(err.contains("is not running"), "{err}");
    let busy = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let err = h.fails(&["run", "-d", "--name", "clash", "-p", &format!("{port}:80"), "bb", "sleep", "300"]);
    assert!(err.contains("already allocated") || err.contains("in use"), "{err}");
    assert_ne!(h.status("clash"), "running");
    let rules = stdout(&Command::new("nft").args(["list", "table", "inet", NFT_TABLE]).output().unwrap());
    assert!(!rules.contains(&format!(":{port}")), "no rule left for the port: {rules}");
    h.ok(&["rm", "taken", "clash"]);
}

#[test]
fn the_image_config_and_run_flags_shape_the_container() {
    let h = host(14);
    h.ok(&[
        "import",
        "-c",
        "ENV GREETING=hi",
        "-c",
        "WORKDIR /srv",
        "-c",
        "USER nobody",
        "-c",
        "EXPOSE 8080",
        "-c",
        "VOLUME /cache",
        "-c",
        "LABEL tier=demo",
        "-c",
        "STOPSIGNAL SIGUSR1",
        "-c",
        r#"CMD ["sh", "-c", "echo $GREETING $(id -un) $PWD"]"#,
        busybox_tar().to_str().unwrap(),
        "configured",
    ]);
    assert_eq!(h.ok(&["run", "--rm", "configured"]), "hi nobody /srv\n");
    assert_eq!(h.ok(&["run", "--rm", "-e", "GREETING=yo", "-u", "root", "-w", "/tmp", "configured"]), "yo root /tmp\n");
    assert_eq!(h.ok(&["run", "--rm", "--entrypoint", "echo", "configured", "hello"]), "hello\n");
    let env_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(env_file.path(), "# comment\nGREETING=from-file\n").unwrap();
    assert_eq!(
        h.ok(&["run", "--rm", "--env-file", env_file.path().to_str().unwrap(), "configured"]),
        "from-file nobody /srv\n"
    );

    // VOLUME gives an anonymous volume; EXPOSE + -P a published port; the
    // label and stop signal carry over.
    h.ok(&["run", "-d", "--name", "svc", "-P", "configured", "sleep", "300"]);
    let c = h.inspect("svc");
    assert_eq!(c["Mounts"][0]["Destination"], "/cache");
    assert_eq!(c["Mounts"][0]["Type"], "volume");
    assert_eq!(c["Config"]["StopSignal"], "SIGUSR1");
    assert_eq!(c["Config"]["Labels"]["tier"], "demo");
    let port = h.ok(&["port", "svc", "8080"]);
    assert!(port.starts_with("8080/tcp -> 0.0.0.0:"), "{port}");
    assert_eq!(h.ok(&["ps", "--filter", "label=tier=demo", "--format", "{{.Names}}"]).trim(), "svc");
    assert_eq!(h.ok(&["ps", "--filter", "label=tier=other", "-q"]), "");
    h.ok(&["rm", "-f", "-v", "svc"]);
    assert_eq!(h.ok(&["volume", "ls", "-q"]), "", "rm -v took the anonymous volume");

    // Security and resource flags.
    let err = h.fails(&["run", "--rm", "--read-only", "bb", "touch", "/x"]);
    assert!(err.contains("Read-only file system"), "{err}");
    h.ok(&["run", "--rm", "--read-only", "--tmpfs", "/run", "bb", "touch", "/run/x"]);
    let err = h.fails(&["run", "--rm", "--cap-drop", "ALL", "bb", "chown", "nobody", "/tmp"]);
    assert!(err.contains("Operation not permitted"), "{err}");
    let err = h.fails(&["run", "--rm", "bb", "ip", "addr", "add", "10.9.9.9/32", "dev", "lo"]);
    assert!(err.contains("Operation not permitted"), "{err}");
    h.ok(&["run", "--rm", "--cap-add", "NET_ADMIN", "bb", "ip", "addr", "add", "10.9.9.9/32", "dev", "lo"]);
    let mount = "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t";
    h.fails(&["run", "--rm", "bb", "sh", "-c", mount]);
    h.ok(&["run", "--rm", "--privileged", "bb", "sh", "-c", mount]);
    let profile = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        profile.path(),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.path().display());
    let err = h.fails(&["run", "--rm", "--security-opt", &opt, "bb", "mkdir", "/tmp/d"]);
    assert!(err.contains("Operation not permitted"), "{err}");
    h.ok(&["run", "--rm", "--security-opt", "seccomp=unconfined", "bb", "mkdir", "/tmp/d"]);
    let shares = h.ok(&[
        "run",
        "--rm",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "20",
        "bb",
        "cat",
        "/sys/fs/cgroup/pids/pids.max",
    ]);
    assert_eq!(shares.trim(), "20");
}

#[test]
fn attach_logs_of_foreground_runs_and_images_in_use() {
    let h = host(15);
    // A foreground run's output is in its log too.
    let out = h.run(&["run", "--name", "fg", "bb", "sh", "-c", "echo out; echo err >&2; exit 2"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "out\n");
    let logs = h.run(&["logs", "fg"]);
    assert_eq!((stdout(&logs).as_str(), stderr(&logs).as_str()), ("out\n", "err\n"));

    // attach: live output, and input to a container with -i.
    h.ok(&["run", "-d", "-i", "--name", "echo", "bb", "sh", "-c", "while read l; do echo got $l; done"]);
    let mut att = h.cmd().args(["attach", "echo"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut input = att.stdin.take().unwrap();
    let mut lines = BufReader::new(att.stdout.take().unwrap()).lines();
    // The attach socket may take a moment to be there; say it again until heard.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
    });
    let heard = loop {
        input.write_all(b"ping\n").unwrap();
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
            break l;
        }
        assert!(Instant::now() < deadline, "attach relayed nothing");
    };
    assert_eq!(heard, "got ping");
    let _ = att.kill();
    let _ = att.wait();
    assert_eq!(h.status("echo"), "running", "detaching leaves it running");
    let err = h.fails(&["attach", "fg"]);
    assert!(err.contains("stopped container"), "{err}");

    // An image a container uses: rmi refuses (even forced while one runs),
    // -f only untags, the container still starts; once it is gone the image
    // can go.
    let err = h.fails(&["rmi", "-f", "bb"]);
    assert!(err.contains("cannot be forced") && err.contains("being used by running container"), "{err}");
    h.ok(&["rm", "-f", "echo"]);
    let err = h.fails(&["rmi", "bb"]);
    assert!(err.contains("must force") && err.contains("is using its referenced image"), "{err}");
    h.ok(&["rmi", "-f", "bb"]);
    assert!(h.ok(&["images", "--format", "{{.Repository}}"]).contains("<none>"));
    assert_eq!(h.run(&["start", "-a", "fg"]).status.code(), Some(2));

    // system df counts it; prunes remove stopped containers, then the image.
    let df = h.ok(&["system", "df"]);
    assert!(df.lines().any(|l| l.starts_with("Containers") && l.split_whitespace().nth(1) == Some("1")), "{df}");
    let pruned = h.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers:") && pruned.contains("Total reclaimed space:"), "{pruned}");
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
    h.ok(&["system", "prune", "-a", "-f"]);
    assert_eq!(h.ok(&["images", "-q"]), "");
}

#[test]
fn run_pulls_a_missing_image_and_ports_answer_on_the_hosts_addresses() {
    let h = host(16);
    let reg = testkit::Registry::start();
    let b = testkit::Bundle::busybox(Path::new(BERTH), &["sh"]);
    let layout = tempfile::tempdir().unwrap();
    let files: &[(&str, &[u8], u32)] = &[("www/index.html", b"pulled and served\n", 0o644)];
    let tars = vec![testkit::oci::layer_from_dir(&b.rootfs()), testkit::oci::layer(files)];
    testkit::oci::write_image(layout.path(), "v1", &tars, &["httpd", "-f", "-p", "80", "-h", "/www"]);
    let image = format!("{}/test/web:1", reg.addr);
    testkit::oci::skopeo_push(layout.path(), "v1", &image, &[]);

    let port = testkit::free_port();
    let out = h.run(&["run", "-d", "--name", "web", "-p", &format!("{port}:80"), &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Unable to find image") && err.contains("Pull complete"), "{err}");
    assert_eq!(stdout(&out).trim().len(), 64, "stdout is only the id: {}", stdout(&out));
    assert!(h.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).contains("test/web:1"));

    // Every address of the host reaches it, not only loopback.
    let addrs = Command::new("ip").args(["-4", "-o", "addr", "show", "scope", "global"]).output().unwrap();
    let host_ip = stdout(&addrs)
        .lines()
        .filter(|l| !l.contains(" bt") && !l.contains(" br-") && !l.contains("berth"))
        .find_map(|l| l.split_whitespace().nth(3)?.split('/').next().map(str::to_string));
    let mut targets = vec!["127.0.0.1".to_string()];
    targets.extend(host_ip);
    for ip in targets {
        let mut body = String::new();
        h.eventually(5, &format!("the server on {ip}:{port}"), || {
            body = http_get(&format!("{ip}:{port}")).unwrap_or_default();
            !body.is_empty()
        });
        assert_eq!(body, "pulled and served\n", "through {ip}");
    }
    // A second container may not take the same port. (UDP publishing is
    // tested in crates/net: busybox has no UDP server to run here.)
    let err = h.fails(&["run", "-d", "--name", "clash", "-p", &format!("{port}:80"), "bb", "sleep", "300"]);
    assert!(err.contains("port is already allocated"), "{err}");
    h.ok(&["rm", "-f", "web", "clash"]);
}

#[test]
fn containers_starting_at_once_on_a_new_network_share_one_dns_server() {
    let h = host(17);
    for round in 0..3 {
        let net = format!("burst{round}");
        h.ok(&["network", "create", "--subnet", &h.subnet(round), &net]);
        let names: Vec<String> = (0..4).map(|i| format!("b{round}-{i}")).collect();
        for n in &names {
            h.ok(&["create", "--name", n, "--network", &net, "bb", "sleep", "300"]);
        }
        // Every start races to bring the network's DNS server up.
        let starts: Vec<_> = names
            .iter()
            .map(|n| h.cmd().args(["start", n]).stderr(std::process::Stdio::piped()).spawn().unwrap())
            .collect();
        for s in starts {
            let out = s.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", stderr(&out));
        }
        let out = h.ok(&["exec", &names[0], "nslookup", &names[3]]);
        assert!(out.contains("Address"), "{out}");
        h.ok(&["rm", "-f", &names[0], &names[1], &names[2], &names[3]]);
        h.ok(&["network", "rm", &net]);
    }
}

#[test]
fn a_program_that_cannot_be_run_exits_127_or_126_and_rm_leaves_nothing() {
    let h = host(60);
    let cases = [
        ("/nonexistent", 127, "stat /nonexistent: no such file or directory"),
        ("nonexistent", 127, "executable file not found in $PATH"),
        ("/etc/passwd", 126, "permission denied"),
    ];
    for (program, code, why) in cases {
        for detach in [false, true] {
            let mut args = vec!["run", "--rm", "--network", "none"];
            if detach {
                args.push("-d");
            }
            args.extend(["bb", program]);
            let out = h.run(&args);
            assert_eq!(out.status.code(), Some(code), "run {args:?}: {}", stderr(&out));
            assert!(stderr(&out).contains(why), "run {args:?}: {}", stderr(&out));
        }
    }
    assert_eq!(h.ok(&["ps", "-aq"]).trim(), "", "every --rm container is removed");

    // Without --rm it stays Created, with docker's exit code and the error.
    let out = h.run(&["run", "--name", "typo", "--network", "none", "bb", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let state = &h.inspect("typo")["State"];
    assert_eq!(state["Status"], "created");
    assert_eq!(state["ExitCode"], 127);
    assert!(state["Error"].as_str().unwrap_or("").contains("no such file or directory"), "{state}");

    // exec of a program that cannot be run: the same codes; others pass through.
    h.ok(&["run", "-d", "--name", "up", "--network", "none", "bb", "sleep", "60"]);
    for (program, code) in [("/nonexistent", 127), ("nonexistent", 127), ("/etc/passwd", 126)] {
        let out = h.run(&["exec", "up", program]);
        assert_eq!(out.status.code(), Some(code), "exec {program}: {}", stderr(&out));
    }
    assert_eq!(h.run(&["exec", "up", "sh", "-c", "exit 3"]).status.code(), Some(3));
}

#[test]
fn the_commands_a_docker_user_types_first_answer_as_docker() {
    let h = host(61);
    let v = h.ok(&["version"]);
    assert!(v.starts_with("Client:\n Version:") && v.contains("\nServer: berth\n Engine:\n"), "{v}");
    assert_eq!(h.ok(&["version", "--format", "{{.Server.Version}}"]).trim(), env!("CARGO_PKG_VERSION"));
    let doc: serde_json::Value = serde_json::from_str(&h.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(doc["Server"]["Os"], "linux");

    h.ok(&["run", "-d", "--name", "up", "--network", "none", "bb", "sleep", "60"]);
    let info = h.ok(&["info"]);
    for line in
        [" Containers: 1\n", "  Running: 1\n", " Images: 1\n", " Storage Driver: overlay2\n", " Cgroup Version: "]
    {
        assert!(info.contains(line), "{line:?} missing from {info}");
    }
    assert!(info.contains(&format!(" Docker Root Dir: {}\n", h.root_str())), "{info}");
    let fields = h.ok(&["system", "info", "--format", "{{.Driver}} {{.Containers}} {{.ContainersRunning}}"]);
    assert_eq!(fields.trim(), "overlay2 1 1");
    let doc: serde_json::Value = serde_json::from_str(&h.ok(&["info", "--format", "json"])).unwrap();
    assert!(["1", "2"].contains(&doc["CgroupVersion"].as_str().unwrap_or("")), "{doc}");
    assert!(doc["KernelVersion"].as_str().is_some_and(|k| !k.is_empty()), "{doc}");

    // `--format json`: one JSON object per line for listings, a compact
    // array for inspect.
    let ps = h.ok(&["ps", "-a", "--format", "json"]);
    let rows: Vec<serde_json::Value> = ps.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1, "{ps}");
    assert_eq!((rows[0]["Names"].as_str(), rows[0]["State"].as_str()), (Some("up"), Some("running")));
    let images = h.ok(&["images", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(images.trim()).unwrap();
    assert_eq!(row["Repository"], "bb");
    let inspect = h.ok(&["inspect", "--format", "json", "up", "bb"]);
    assert_eq!(inspect.lines().count(), 1, "{inspect}");
    let docs: Vec<serde_json::Value> = serde_json::from_str(&inspect).unwrap();
    assert_eq!((docs[0]["Name"].as_str(), docs.len()), (Some("/up"), 2));

    for shell in ["bash", "zsh", "fish"] {
        let script = h.ok(&["completion", shell]);
        assert!(script.contains("berth") && script.contains("inspect"), "{shell}: {script}");
    }
    assert!(h.fails(&["completion", "tcsh"]).contains("invalid value 'tcsh'"));
    for cmd in ["pause", "unpause", "rename"] {
        let help = h.ok(&[cmd, "--help"]);
        assert!(!help.starts_with("Usage"), "{cmd} has no help text: {help}");
    }
}

#[test]
fn system_reset_removes_the_firewall_table_with_the_last_network() {
    // A table of this test's own: the shared one is in use by other tests.
    // A fixed name, so that runs leave no trail of lock files in /run/berth.
    let table = "berthrsttest".to_string();
    let root = tempfile::Builder::new().prefix("berth-rst-").tempdir().unwrap();
    let settings = format!(
        r#"{{"bridge":"bt62-{}","subnet":"10.201.62.0/24","nft_table":"{table}"}}"#,
        std::process::id() % 100_000
    );
    std::fs::write(root.path().join("engine.json"), settings).unwrap();
    let berth = |args: &[&str]| {
        let out = Command::new(BERTH).arg("--root").arg(root.path()).args(args).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "berth {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let has_table = || Command::new("nft").args(["list", "table", "inet", &table]).output().unwrap().status.success();
    berth(&["import", "-c", r#"CMD ["/bin/sh"]"#, busybox_tar().to_str().unwrap(), "bb"]);
    berth(&["network", "create", "--subnet", "10.202.62.0/24", "side"]);
    berth(&["run", "-d", "--name", "web", "-p", "127.0.0.1::80", "bb", "sleep", "60"]);
    berth(&["run", "-d", "--name", "other", "--network", "side", "bb", "sleep", "60"]);
    assert!(has_table(), "the table exists while containers use it");
    berth(&["system", "reset", "--force"]);
    let left = has_table();
    if left {
        let _ = Command::new("nft").args(["delete", "table", "inet", &table]).status();
    }
    assert!(!left, "system reset left the table inet {table}");
}

#[test]
fn diff_lists_a_containers_changes_and_commit_makes_an_image_of_them() {
    let h = host(63);
    h.ok(&[
        "run",
        "--name",
        "work",
        "--network",
        "none",
        "bb",
        "sh",
        "-c",
        "echo hi > /hello; mkdir -p /data/sub; echo x > /data/sub/f; rm /etc/group; echo me >> /etc/passwd",
    ]);
    assert_eq!(
        h.ok(&["diff", "work"]),
        "A /data\nA /data/sub\nA /data/sub/f\nC /etc\nD /etc/group\nC /etc/passwd\nA /hello\n",
        "sorted by path, the mount points left out"
    );
    let id = h.ok(&[
        "commit",
        "-a",
        "Ann <ann@example.com>",
        "-m",
        "my change",
        "-c",
        r#"CMD ["cat", "/hello"]"#,
        "-c",
        "ENV MODE=committed",
        "-c",
        "LABEL stage=two",
        "work",
        "snap:1",
    ]);
    assert!(id.trim().starts_with("sha256:") && id.trim().len() == 71, "{id}");
    assert_eq!(h.ok(&["run", "--rm", "--network", "none", "snap:1"]), "hi\n");
    assert_eq!(
        h.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "snap:1",
            "sh",
            "-c",
            "echo $MODE; cat /data/sub/f; test -e /etc/group || echo gone"
        ]),
        "committed\nx\ngone\n"
    );
    let img: serde_json::Value = serde_json::from_str(&h.ok(&["image", "inspect", "snap:1"])).unwrap();
    let img = &img[0];
    assert_eq!(img["Id"].as_str(), Some(id.trim()), "{img}");
    assert_eq!(img["Author"], "Ann <ann@example.com>", "{img}");
    assert_eq!(img["Config"]["Labels"]["stage"], "two", "{img}");
    let bb: serde_json::Value = serde_json::from_str(&h.ok(&["image", "inspect", "bb"])).unwrap();
    let layers = |v: &serde_json::Value| v["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
    assert_eq!(layers(img), layers(&bb[0]) + 1, "the image's layers and one more");
    let history = h.ok(&["image", "history", "--no-trunc", "snap:1"]);
    assert!(history.contains("my change"), "{history}");

    // A running container is committed (paused meanwhile) and keeps running.
    h.ok(&["run", "-d", "--name", "live", "--network", "none", "bb", "sh", "-c", "echo up > /up; sleep 60"]);
    h.eventually(5, "the container's file", || h.ok(&["diff", "live"]).contains("A /up\n"));
    h.ok(&["commit", "live", "live:1"]);
    assert_eq!(h.inspect("live")["State"]["Status"], "running");
    assert_eq!(h.ok(&["run", "--rm", "--network", "none", "live:1", "cat", "/up"]), "up\n");

    // Mount points of volumes and binds are the container's, not changes.
    let file = tempfile::NamedTempFile::new().unwrap();
    let bind = format!("{}:/etc/bound", file.path().display());
    h.ok(&["run", "--name", "mounts", "--network", "none", "-v", "/vol", "-v", &bind, "bb", "true"]);
    assert_eq!(h.ok(&["diff", "mounts"]), "", "no changes");

    // Bad input: no such container, a change commit does not take.
    assert!(h.fails(&["diff", "nosuch"]).contains("No such container: nosuch"));
    assert!(h.fails(&["commit", "nosuch"]).contains("No such container: nosuch"));
    let err = h.fails(&["commit", "-c", "RUN echo", "work", "bad:1"]);
    assert!(err.contains("RUN is not a valid change command"), "{err}");
    let err = h.fails(&["commit", "-c", "EXPOSE eighty", "work", "bad:1"]);
    assert!(err.contains("EXPOSE"), "{err}");
    assert!(!h.ok(&["images", "--format", "{{.Repository}}"]).contains("bad"), "nothing made of bad changes");
    h.ok(&["rm", "-f", "-v", "work", "live", "mounts"]);
}

#[test]
fn the_berth_cli_takes_dockers_host_and_endpoint_flags_and_applies_them() {
    let h = host(70);
    let subnet = h.subnet(0);
    let ip = format!("{}.60", subnet.rsplit_once('.').unwrap().0);
    h.ok(&["network", "create", "--subnet", &subnet, "front end"]);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--network",
        "front end",
        "--ip",
        &ip,
        "--mac-address",
        "02:42:00:11:22:33",
        "--cpuset-cpus",
        "0",
        "--add-host",
        "db:10.1.2.3",
        "--dns-search",
        "example.org",
        "--shm-size",
        "2m",
        "--ulimit",
        "nofile=64:128",
        "bb",
        "sleep",
        "300",
    ]);
    let v = h.inspect("a");
    let ep = &v["NetworkSettings"]["Networks"]["front end"];
    assert_eq!(ep["IPAddress"], ip.as_str(), "{ep}");
    assert_eq!(ep["MacAddress"], "02:42:00:11:22:33");
    assert_eq!(v["HostConfig"]["CpusetCpus"], "0");
    let out = h.ok(&[
        "exec",
        "a",
        "sh",
        "-c",
        "cat /sys/class/net/eth0/address; grep Cpus_allowed_list /proc/self/status; grep -w db /etc/hosts; \
         grep search /etc/resolv.conf; df -k /dev/shm | tail -1; ulimit -n",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "02:42:00:11:22:33", "{out}");
    assert!(lines[1].ends_with("\t0") || lines[1].ends_with(" 0"), "{out}");
    assert_eq!(lines[2], "10.1.2.3\tdb");
    assert_eq!(lines[3], "search example.org");
    assert!(lines[4].split_whitespace().nth(1) == Some("2048"), "{out}");
    assert_eq!(lines[5], "64");
    // The same address again, and bad input, in dockerd's words.
    h.ok(&["create", "--name", "b", "--network", "front end", "--ip", &ip, "bb", "true"]);
    assert!(h.fails(&["start", "b"]).contains("Address already in use"));
    h.ok(&["rm", "b"]);
    let cases: [(&[&str], &str); 9] = [
        (&["--network", "front end", "--ip", "10.254.0.1"], "no configured subnet or ip-range contain the IP address"),
        (&["--ip", &ip], "user specified IP address is supported on user defined networks only"),
        (&["--network", "front end", "--mac-address", "nope"], "invalid MAC address: nope"),
        (&["--runtime", "crun"], "unknown or invalid runtime name: crun"),
        (&["--log-driver", "fluentd"], "logger: no log driver named 'fluentd' is registered"),
        (&["--log-driver", "none", "--log-opt", "max-size=1m"], "unknown log opt 'max-size' for none log driver"),
        (&["--uts", "nope"], "invalid UTS mode: nope"),
        (&["--cpuset-cpus", "1-0"], "Invalid value 1-0 for cpuset cpus"),
        (
            &["--mount", "type=tmpfs,dst=/t,volume-subpath=x"],
            "cannot mix 'volume-subpath' options with mount type 'tmpfs'",
        ),
    ];
    for (flags, words) in cases {
        let args: Vec<&str> = ["create"].iter().chain(flags).chain(&["bb", "true"]).copied().collect();
        let err = h.fails(&args);
        assert!(err.contains(words), "berth {args:?}: {err}");
    }
    // --uts host: the host's name; the none log driver keeps nothing to read.
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(h.ok(&["run", "--rm", "--uts", "host", "bb", "hostname"]), host_name);
    h.ok(&["run", "--name", "q", "--log-driver", "none", "bb", "echo", "hi"]);
    assert!(h.fails(&["logs", "q"]).contains("configured logging driver does not support reading"));
    h.ok(&["rm", "-f", "a", "q"]);
    h.ok(&["network", "rm", "front end"]);
}
