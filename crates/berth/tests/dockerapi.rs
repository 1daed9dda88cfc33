//! The Docker Engine API as its users drive it: the real `docker` CLI,
//! Python's docker SDK and docker-compose v1 against `berth system
//! service` on a socket of each test's own, over a state tree of its own
//! (testkit::host), which must be left clean.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::host::{stderr, stdout, Host};

fn berth() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

/// A berth API server on its own socket, stopped on drop; then its host
/// is reset and checked for leftovers.
struct Service {
    child: Child,
    sock: PathBuf,
    dir: tempfile::TempDir,
    host: Host,
}

impl Service {
    fn start(n: u8) -> Service {
        let host = Host::new(&berth(), n);
        let dir = tempfile::Builder::new().prefix("berth-api-").tempdir().unwrap();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        let sock = dir.path().join("docker.sock");
        let child = host
            .cmd()
            // Registry credentials of the test's own, never the host's.
            .env("BERTH_CONFIG", dir.path().join("berth-config.json"))
            .args(["system", "service", &format!("unix://{}", sock.display())])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("service.log")).unwrap())
            .spawn()
            .unwrap();
        let s = Service { child, sock, dir, host };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&s.sock).is_err() {
            assert!(Instant::now() < deadline, "the service did not start: {}", s.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("service.log")).unwrap_or_default()
    }

    fn env(&self, c: &mut Command) {
        c.env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_BUILDKIT")
            .env("DOCKER_CLI_HINTS", "false");
    }

    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.args(args).stdin(Stdio::null());
        self.env(&mut c);
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().expect("running docker")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}): {}{}\n{}",
            out.status,
            stdout(&out),
            stderr(&out),
            self.log()
        );
        stdout(&out)
    }

    fn python(&self, script: &str) -> String {
        let mut c = Command::new("python3");
        c.arg("-c").arg(script).stdin(Stdio::null());
        self.env(&mut c);
        let out = c.output().unwrap();
        assert!(out.status.success(), "python failed: {}{}\n{}", stdout(&out), stderr(&out), self.log());
        stdout(&out)
    }

    /// One raw HTTP/1.0 request on the socket: (status, body).
    fn raw(&self, request: &str) -> (u16, String) {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    fn post_json(&self, path: &str, body: &str) -> (u16, String) {
        self.raw(&format!(
            "POST {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.raw(&format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: signalling the server we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        if !std::thread::panicking() {
            assert!(!self.sock.exists(), "the service left its socket");
        }
    }
}

fn fetch(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if !out.is_empty() {
                return out;
            }
        }
        assert!(Instant::now() < deadline, "nothing answered on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a command on a pseudo-terminal, types `input` once it has
/// started, and returns (output, exit code).
fn on_terminal(s: &Service, args: &[&str], input: &str) -> (String, i32) {
    let script = r#"
import os, pty, sys, time, select, struct, fcntl, termios
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
out = b""
def pump(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return
            if not d:
                return
            out += d
pump(1.5)
os.write(fd, os.environ["TYPED"].encode())
pump(5)
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(st))
"#;
    let mut c = Command::new("python3");
    c.arg("-c").arg(script).args(args).env("TYPED", input).stdin(Stdio::null());
    s.env(&mut c);
    let out = c.output().unwrap();
    (stdout(&out), out.status.code().unwrap_or(-1))
}

#[test]
fn docker_run_attaches_waits_and_removes() {
    let s = Service::start(150);
    let out = s.docker(&["run", "--rm", "bb", "echo", "hi"]);
    assert!(out.status.success(), "{}{}", stderr(&out), s.log());
    assert_eq!(stdout(&out), "hi\n");
    // Both streams, and the exit code through /wait?condition=removed.
    let out = s.docker(&["run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    // stdin through the attach, closed at its end (StdinOnce).
    let mut c = s.docker_cmd(&["run", "--rm", "-i", "bb", "sh", "-c", "cat; echo done"]);
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "piped\ndone\n");
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "", "--rm containers are gone");
    // A missing image: docker asks the daemon to pull, which fails clearly.
    let out = s.docker(&["run", "--rm", "127.0.0.1:1/none/such:1", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("Unable to find image"), "{}", stderr(&out));
}

#[test]
fn a_detached_web_server_with_a_published_port_and_its_lifecycle() {
    let s = Service::start(151);
    let port = testkit::free_port();
    let id = s.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        "-v",
        "site:/www",
        "--label",
        "app=web",
        "bb",
        "sh",
        "-c",
        "echo hello-from-berth > /www/index.html; echo started; exec httpd -f -v -p 80 -h /www",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert!(fetch(port).contains("hello-from-berth"));
    let ps = s.ok(&["ps", "--format", "{{.Names}}|{{.Status}}|{{.Ports}}|{{.Labels}}"]);
    assert!(ps.starts_with("web|Up "), "{ps}");
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    assert_eq!(s.ok(&["ps", "-q", "--filter", "label=app=web"]).trim(), &id.trim()[..12]);
    assert!(s.ok(&["logs", "web"]).contains("started"));
    let stats = s.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "web"]);
    assert!(stats.starts_with("web "), "{stats}");
    let top = s.ok(&["top", "web"]);
    assert!(top.contains("httpd"), "{top}");
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.State.Running}} {{.HostConfig.LogConfig.Type}}", "web"]),
        "true json-file\n"
    );
    // stop, stop again (304: still success), start, restart, kill, rm.
    assert_eq!(s.ok(&["stop", "-t", "1", "web"]), "web\n");
    assert_eq!(s.ok(&["stop", "web"]), "web\n");
    assert!(s.ok(&["ps", "-a", "--format", "{{.Status}}"]).starts_with("Exited"));
    s.ok(&["start", "web"]);
    assert!(fetch(port).contains("hello-from-berth"), "the volume kept the page");
    s.ok(&["restart", "-t", "1", "web"]);
    // docker update reaches the running container's cgroup, as does berth update.
    s.ok(&["update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "web"]);
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "web"]),
        "67108864 500000000\n"
    );
    let mem = s.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(mem.trim(), "67108864");
    s.host.ok(&["update", "--pids-limit", "50", "web"]);
    let pids = s.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(pids.trim(), "50");
    let out = s.docker(&["update", "--memory", "1k", "web"]);
    assert!(!out.status.success() && stderr(&out).contains("6MB"), "{}", stderr(&out));
    // A signal the CLI forwards (WINCH) must not stop it.
    s.ok(&["kill", "-s", "WINCH", "web"]);
    assert_eq!(s.ok(&["inspect", "-f", "{{.State.Status}}", "web"]), "running\n");
    let out = s.docker(&["rm", "web"]);
    assert!(!out.status.success() && stderr(&out).contains("stop the container"), "{}", stderr(&out));
    s.ok(&["rm", "-f", "-v", "web"]);
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn terminals_for_run_and_exec() {
    let s = Service::start(152);
    let (out, code) =
        on_terminal(&s, &["docker", "run", "-it", "--rm", "bb", "sh"], "stty size; echo ty''ped; exit 7\r");
    assert_eq!(code, 7, "{out}");
    assert!(out.contains("40 120") && out.contains("typed"), "{out}");
    s.ok(&["run", "-d", "--name", "box", "bb", "sleep", "300"]);
    let (out, code) = on_terminal(&s, &["docker", "exec", "-it", "box", "sh"], "stty size; echo in''side; exit 5\r");
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("40 120") && out.contains("inside"), "{out}");
    // Without a terminal: output, stderr and the exit code come back.
    let out = s.docker(&["exec", "box", "sh", "-c", "echo o; echo e >&2; exit 4"]);
    assert_eq!((out.status.code(), stdout(&out), stderr(&out)), (Some(4), "o\n".into(), "e\n".into()));
    s.ok(&["exec", "-d", "box", "touch", "/tmp/detached"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.docker(&["exec", "box", "test", "-f", "/tmp/detached"]).status.success() {
        assert!(Instant::now() < deadline, "exec -d did not run");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.ok(&["rm", "-f", "box"]);
}

#[test]
fn logs_follow_and_copy_both_ways() {
    let s = Service::start(153);
    s.ok(&["run", "-d", "--name", "talker", "bb", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"]);
    let out = s.ok(&["logs", "-f", "talker"]);
    assert_eq!(out, "line1\nline2\nline3\n", "logs -f ends with the container");
    let out = s.ok(&["logs", "--tail", "1", "-t", "talker"]);
    assert!(out.ends_with(" line3\n") && out.starts_with("20"), "{out}");

    s.ok(&["run", "-d", "--name", "files", "bb", "sleep", "300"]);
    let local = tempfile::tempdir().unwrap();
    std::fs::write(local.path().join("in.txt"), "from the host\n").unwrap();
    std::fs::create_dir(local.path().join("dir")).unwrap();
    std::fs::write(local.path().join("dir/a"), "a\n").unwrap();
    s.ok(&["cp", local.path().join("in.txt").to_str().unwrap(), "files:/tmp/"]);
    // Into an existing directory it keeps its name; as a path that does
    // not exist it becomes that path (docker's rules).
    s.ok(&["cp", local.path().join("dir").to_str().unwrap(), "files:/tmp/"]);
    s.ok(&["cp", local.path().join("dir").to_str().unwrap(), "files:/srv/"]);
    assert_eq!(s.ok(&["exec", "files", "cat", "/tmp/in.txt", "/tmp/dir/a", "/srv/a"]), "from the host\na\na\n");
    let dest = local.path().join("passwd");
    s.ok(&["cp", "files:/etc/passwd", dest.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&dest).unwrap().starts_with("root:"));
    let out = s.docker(&["cp", "files:/no/such", local.path().to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("Could not find"), "{}", stderr(&out));
    s.ok(&["rm", "-f", "files", "talker"]);
}

fn registry_with_login(work: &Path) -> testkit::Registry {
    let htpasswd = testkit::ensure_tool("htpasswd", "apache2-utils");
    let out = Command::new(htpasswd).args(["-Bbn", "alice", "s3cret"]).output().unwrap();
    std::fs::write(work.join("htpasswd"), &out.stdout).unwrap();
    testkit::Registry::start_with(&format!(
        "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
        work.join("htpasswd").display()
    ))
}

#[test]
fn push_pull_login_build_save_and_load() {
    let s = Service::start(154);
    let work = tempfile::tempdir().unwrap();
    let reg = registry_with_login(work.path());
    let name = format!("{}/team/bb:1", reg.addr);
    s.ok(&["tag", "bb", &name]);
    let out = s.docker(&["push", &name]);
    assert!(!out.status.success(), "push without login must fail: {}", stdout(&out));
    let mut login = s.docker_cmd(&["login", "-u", "alice", "--password-stdin", &reg.addr]);
    let mut child = login.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(stdout(&out).contains("Login Succeeded"), "{}{}", stdout(&out), stderr(&out));
    let pushed = s.ok(&["push", &name]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    s.ok(&["rmi", &name]);
    let pulled = s.ok(&["pull", &name]);
    assert!(pulled.contains("Digest: sha256:") && pulled.trim_end().ends_with(&name), "{pulled}");
    assert_eq!(s.ok(&["run", "--rm", &name, "echo", "pulled"]), "pulled\n");

    // docker build (the legacy builder's endpoint).
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM bb\nARG WHO=nobody\nCOPY msg /msg\nRUN echo \"$WHO\" >> /msg\nCMD [\"cat\", \"/msg\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("msg"), "built for\n").unwrap();
    let out = s.ok(&["build", "-t", "app:1", "--build-arg", "WHO=you", ctx.path().to_str().unwrap()]);
    assert!(out.contains("Successfully tagged app:1"), "{out}");
    assert_eq!(s.ok(&["run", "--rm", "app:1"]), "built for\nyou\n");
    let out = s.ok(&["build", "-q", "-t", "app:1", "--build-arg", "WHO=you", ctx.path().to_str().unwrap()]);
    assert!(out.trim().starts_with("sha256:") && out.lines().count() == 1, "-q prints the id only: {out}");
    // save | load
    let tar = work.path().join("app.tar");
    s.ok(&["save", "-o", tar.to_str().unwrap(), "app:1"]);
    s.ok(&["rmi", "app:1"]);
    assert!(s.ok(&["load", "-i", tar.to_str().unwrap()]).contains("Loaded image: app:1"));
    assert_eq!(s.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}", "app"]), "app:1\n");
}

#[test]
fn networks_resolve_names_and_volumes_are_reused() {
    let s = Service::start(155);
    let subnet = s.host.subnet(0);
    s.ok(&["network", "create", "--subnet", &subnet, "appnet"]);
    s.ok(&["run", "-d", "--name", "db", "--network", "appnet", "--network-alias", "database", "bb", "sleep", "300"]);
    let out = s.ok(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "bb",
        "sh",
        "-c",
        "ping -c1 -W2 database >/dev/null && echo reached",
    ]);
    assert_eq!(out, "reached\n");
    assert!(s.ok(&["network", "ls", "--format", "{{.Name}}"]).contains("appnet"));
    s.ok(&["volume", "create", "keep"]);
    s.ok(&["run", "--rm", "-v", "keep:/data", "bb", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(s.ok(&["run", "--rm", "-v", "keep:/data", "bb", "cat", "/data/f"]), "kept\n");
    let out = s.docker(&["volume", "rm", "nosuch"]);
    assert!(!out.status.success());
    let out = s.docker(&["network", "create", "appnet"]);
    assert!(!out.status.success() && stderr(&out).contains("already exists"), "{}", stderr(&out));
    s.ok(&["rm", "-f", "db"]);
    s.ok(&["network", "rm", "appnet"]);
    s.ok(&["volume", "rm", "keep"]);
}

#[test]
fn events_stream_what_happens() {
    let s = Service::start(156);
    let mut ev = s
        .docker_cmd(&[
            "events",
            "--filter",
            "type=container",
            "--filter",
            "event=start",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    s.ok(&["run", "--rm", "--name", "seen", "bb", "true"]);
    let mut out = ev.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // The CLI may write a line in more than one piece.
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut out), &mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    let _ = ev.kill();
    let _ = ev.wait();
    assert_eq!(line, "start seen\n");
}

#[test]
fn docker_py_runs_lists_streams_and_execs() {
    let s = Service::start(157);
    let reg = testkit::Registry::start();
    s.ok(&["tag", "bb", &format!("{}/py/bb:2", reg.addr)]);
    s.ok(&["push", &format!("{}/py/bb:2", reg.addr)]);
    let out = s.python(&format!(
        r#"
import docker
c = docker.from_env()
print(c.containers.run("bb", "echo from-py", remove=True).decode().strip())
img = c.images.pull("{addr}/py/bb", tag="2")
print("pulled", "{addr}/py/bb:2" in img.tags)
ct = c.containers.run("bb", ["sh", "-c", "echo one; sleep 0.5; echo two; sleep 300"], detach=True, name="pyc")
print([x.name for x in c.containers.list()])
lines = []
for chunk in ct.logs(stream=True):
    lines.append(chunk.decode().strip())
    if len(lines) == 2:
        break
print(lines)
r = ct.exec_run("sh -c 'echo exec-out; exit 3'")
print(r.exit_code, r.output.decode().strip())
ct.remove(force=True)
try:
    c.containers.get("pyc")
except docker.errors.NotFound:
    print("gone")
"#,
        addr = reg.addr
    ));
    assert_eq!(out, "from-py\npulled True\n['pyc']\n['one', 'two']\n3 exec-out\ngone\n");
}

#[test]
fn compose_brings_a_two_service_app_up_and_down() {
    let s = Service::start(158);
    let compose = testkit::ensure_tool("docker-compose", "docker-compose");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        format!(
            r#"version: "2.4"
services:
  web:
    image: bb
    command: sh -c 'echo hello-from-web > /www/index.html; httpd -f -p 80 -h /www'
    volumes: [www:/www]
  client:
    image: bb
    command: sh -c 'until wget -q -O- http://web/; do sleep 0.2; done; sleep 300'
networks:
  default:
    ipam:
      config: [{{subnet: "{}"}}]
volumes:
  www: {{}}
"#,
            s.host.subnet(0)
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut c = Command::new(&compose);
        c.args(["-p", "berthtest"]).args(args).current_dir(dir.path()).stdin(Stdio::null());
        s.env(&mut c);
        let out = c.output().unwrap();
        assert!(out.status.success(), "compose {args:?}: {}{}\n{}", stdout(&out), stderr(&out), s.log());
        stdout(&out) + &stderr(&out)
    };
    run(&["up", "-d"]);
    let ps = run(&["ps"]);
    assert!(ps.contains("berthtest_web_1") && ps.contains("berthtest_client_1") && ps.contains("Up"), "{ps}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let logs = run(&["logs", "client"]);
        if logs.contains("hello-from-web") {
            break;
        }
        assert!(Instant::now() < deadline, "the client never reached the web service: {logs}");
        std::thread::sleep(Duration::from_millis(200));
    }
    run(&["down", "-v", "-t", "1"]);
    assert_eq!(s.ok(&["ps", "-a", "-q"]), "");
    assert!(!s.ok(&["network", "ls"]).contains("berthtest"));
}

#[test]
fn bad_requests_get_docker_errors_and_the_server_keeps_serving() {
    let s = Service::start(159);
    let cases: &[(&str, &str, u16, &str)] = &[
        ("POST", "/v1.50/containers/create", 400, "invalid JSON"),
        ("POST", "/v1.50/containers/create", 400, "Tty"),
        ("POST", "/v1.50/containers/create", 404, "No such image"),
        ("POST", "/v1.50/containers/create", 400, "Image"),
    ];
    let bodies = ["{not json", r#"{"Image": "bb", "Tty": "yes"}"#, r#"{"Image": "nosuch:1"}"#, r#"{"Cmd": ["x"]}"#];
    for ((_, path, status, want), body) in cases.iter().zip(bodies) {
        let (code, text) = s.post_json(path, body);
        assert_eq!(code, *status, "{body}: {text}");
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert!(v["message"].as_str().unwrap_or("").contains(want), "{body}: {text}");
    }
    let (code, text) = s.get("/v1.50/containers/nosuch/json");
    assert_eq!(code, 404, "{text}");
    assert!(text.contains("No such container: nosuch"), "{text}");
    assert_eq!(s.get("/v1.50/no/such/route").0, 404);
    assert_eq!(s.get("/v1.99/info").0, 400);
    assert_eq!(s.get("/v1.50/containers/json?all=maybe").0, 400);
    assert_eq!(s.get("/v1.50/containers/json?filters=%7Bnope").0, 400);
    assert_eq!(s.post_json("/v1.50/containers/nosuch/start", "").0, 404);
    // A name in use: 409, and the first container untouched.
    s.ok(&["create", "--name", "taken", "bb", "true"]);
    let (code, text) = s.post_json("/v1.50/containers/create?name=taken", r#"{"Image": "bb"}"#);
    assert_eq!(code, 409, "{text}");
    // A client that goes away mid-attach and mid-logs.
    s.ok(&["run", "-d", "--name", "long", "bb", "sh", "-c", "while true; do echo tick; sleep 0.1; done"]);
    for path in ["/v1.50/containers/long/attach?stream=1&stdout=1", "/v1.50/containers/long/logs?follow=1&stdout=1"] {
        let mut c = UnixStream::connect(&s.sock).unwrap();
        let verb = if path.contains("attach") { "POST" } else { "GET" };
        c.write_all(
            format!("{verb} {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut buf = [0u8; 512];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(c.read(&mut buf).unwrap() > 0);
        drop(c);
    }
    // And mid-pull.
    let reg = testkit::Registry::start();
    let remote = format!("{}/mid/bb:1", reg.addr);
    s.ok(&["tag", "bb", &remote]);
    s.ok(&["push", &remote]);
    s.ok(&["rmi", &remote]);
    let mut c = UnixStream::connect(&s.sock).unwrap();
    c.write_all(
        format!("POST /v1.50/images/create?fromImage={}/mid/bb&tag=1 HTTP/1.1\r\nHost: x\r\n\r\n", reg.addr).as_bytes(),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(c.read(&mut buf).unwrap() > 0);
    drop(c);
    // Still serving, still running.
    assert_eq!(s.ok(&["inspect", "-f", "{{.State.Running}}", "long"]), "true\n");
    assert_eq!(s.ok(&["version", "--format", "{{.Server.APIVersion}}"]), "1.50\n");
    s.ok(&["rm", "-f", "long", "taken"]);
    // The socket is root's alone.
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&s.sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

fn openssl(dir: &Path, args: &[&str]) {
    let bin = testkit::ensure_tool("openssl", "openssl");
    let out = Command::new(bin).args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

#[test]
fn tcp_needs_tls_with_client_certificates() {
    let h = Host::new(&berth(), 160);
    let port = testkit::free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let err = h.fails(&["system", "service", &uri]);
    assert!(err.contains("TLS") && err.contains("--insecure-tcp"), "{err}");

    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    openssl(
        p,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=berth-test-ca",
        ],
    );
    openssl(
        p,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server-key.pem",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(p.join("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        .unwrap();
    openssl(
        p,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ],
    );
    openssl(
        p,
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "client.csr", "-subj", "/CN=client"],
    );
    std::fs::write(p.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        p,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-extfile",
            "client.ext",
        ],
    );

    let mut child = h
        .cmd()
        .args(["system", "service", &uri, "--tlscert"])
        .arg(p.join("server.pem"))
        .arg("--tlskey")
        .arg(p.join("server-key.pem"))
        .arg("--tlscacert")
        .arg(p.join("ca.pem"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the TLS service did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let docker = |with_cert: bool| {
        let mut c = Command::new("docker");
        c.args(["-H", &format!("tcp://127.0.0.1:{port}"), "version", "--format", "{{.Server.APIVersion}}"]);
        c.env("DOCKER_CONFIG", p).stdin(Stdio::null());
        if with_cert {
            c.env("DOCKER_TLS_VERIFY", "1").env("DOCKER_CERT_PATH", p);
        } else {
            c.args(["--tls", "--tlscacert"]).arg(p.join("ca.pem"));
        }
        c.output().unwrap()
    };
    let out = docker(true);
    assert_eq!(stdout(&out), "1.50\n", "{}", stderr(&out));
    let out = docker(false);
    assert!(!out.status.success(), "a client without a certificate must be refused");
    // SAFETY: signalling the server we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

#[test]
fn docker_run_of_a_program_that_cannot_be_run_fails_at_once_with_127_or_126() {
    let s = Service::start(190);
    for (program, code) in [("/nonexistent", 127), ("nonexistent", 127), ("/etc/passwd", 126)] {
        let mut c = s.docker_cmd(&["run", "--rm", "--network", "none", "bb", program]);
        let out = testkit::output_within(&mut c, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(code), "docker run {program}: {}\n{}", stderr(&out), s.log());
        assert!(stderr(&out).contains(program), "{}", stderr(&out));
    }
    assert_eq!(s.ok(&["ps", "-aq"]).trim(), "", "the --rm containers are removed");
    s.ok(&["run", "-d", "--name", "up", "--network", "none", "bb", "sleep", "60"]);
    for (program, code) in [("/nonexistent", 127), ("/etc/passwd", 126)] {
        let out = s.docker(&["exec", "up", program]);
        assert_eq!(out.status.code(), Some(code), "docker exec {program}: {}", stderr(&out));
    }
    s.ok(&["rm", "-f", "up"]);
}

#[test]
fn the_cli_and_the_api_refuse_the_same_configurations_in_the_same_words() {
    let s = Service::start(194);
    let cases: [(&[&str], &str); 5] = [
        (&["--memory", "4m"], "Minimum memory limit allowed is 6MB"),
        (&["--memory", "64m", "--memory-swap", "32m"], "Minimum memoryswap limit should be larger than memory limit"),
        (&["--cpus", "4096"], "Range of CPUs is from 0.01 to"),
        (&["--stop-signal", "SIGNOPE"], "Invalid signal: SIGNOPE"),
        (&["--network", "none", "-p", "8080:80"], "port publishing and the container type network mode"),
    ];
    for (flags, words) in cases {
        let args: Vec<&str> = ["create"].iter().chain(flags).chain(&["bb", "true"]).copied().collect();
        let out = s.docker(&args);
        assert!(!out.status.success() && stderr(&out).contains(words), "docker {args:?}: {}", stderr(&out));
        let out = s.host.run(&args);
        assert!(!out.status.success() && stderr(&out).contains(words), "berth {args:?}: {}", stderr(&out));
    }
    assert_eq!(s.ok(&["ps", "-aq"]).trim(), "", "nothing was created");
    // The same rule holds for `update` of an existing container.
    s.ok(&["create", "--name", "c", "bb", "true"]);
    let out = s.docker(&["update", "--memory", "1m", "c"]);
    assert!(stderr(&out).contains("Minimum memory limit allowed is 6MB"), "{}", stderr(&out));
    let out = s.host.run(&["update", "--memory", "1m", "c"]);
    assert!(stderr(&out).contains("Minimum memory limit allowed is 6MB"), "{}", stderr(&out));
    s.ok(&["rm", "c"]);
}

/// `docker` exits non-zero with `want` in its error output.
fn fails_with(s: &Service, args: &[&str], want: &str) {
    let out = s.docker(args);
    assert!(!out.status.success(), "docker {args:?} should have failed: {}\n{}", stdout(&out), s.log());
    assert!(stderr(&out).contains(want), "docker {args:?}: {want:?} not in {}", stderr(&out));
}

#[test]
fn docker_diff_and_commit_and_swarm_routes_answer_as_dockerd() {
    let s = Service::start(191);
    s.ok(&[
        "run",
        "--name",
        "work",
        "bb",
        "sh",
        "-c",
        "echo hi > /hello; mkdir -p /data/sub; echo x > /data/sub/f; rm /etc/group; echo me >> /etc/passwd",
    ]);
    assert_eq!(
        s.ok(&["diff", "work"]),
        "A /data\nA /data/sub\nA /data/sub/f\nC /etc\nD /etc/group\nC /etc/passwd\nA /hello\n"
    );
    let (code, body) = s.get("/v1.50/containers/work/changes");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(v[0], serde_json::json!({"Path": "/data", "Kind": 1}), "{v}");
    assert_eq!(v[4], serde_json::json!({"Path": "/etc/group", "Kind": 2}), "{v}");
    assert_eq!(v[5], serde_json::json!({"Path": "/etc/passwd", "Kind": 0}), "{v}");
    // Nothing changed: dockerd's null.
    s.ok(&["create", "--name", "fresh", "bb", "true"]);
    assert_eq!(s.get("/v1.50/containers/fresh/changes"), (200, "null\n".to_string()));

    let id = s.ok(&[
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
        "EXPOSE 8080",
        "work",
        "snap:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(s.ok(&["run", "--rm", "snap:1"]), "hi\n");
    assert_eq!(s.ok(&["run", "--rm", "snap:1", "sh", "-c", "echo $MODE; cat /data/sub/f"]), "committed\nx\n");
    assert_eq!(
        s.ok(&["image", "inspect", "-f", "{{.Id}} {{.Author}} {{json .Config.ExposedPorts}}", "snap:1"]),
        format!("{} Ann <ann@example.com> {{\"8080/tcp\":{{}}}}\n", id.trim())
    );
    let history = s.ok(&["history", "--no-trunc", "--format", "{{.Comment}}", "snap:1"]);
    assert_eq!(history.lines().next(), Some("my change"), "{history}");
    // docker-py: Container.commit, the API's diff.
    let out = s.python(
        r#"
import docker
c = docker.from_env()
img = c.containers.get("work").commit(repository="py", tag="1", changes=["LABEL from=py"], message="m",
                                      conf={"Env": ["MODE=conf"], "Cmd": ["echo", "from conf"], "Labels": {"by": "conf"}})
print(img.labels["from"], img.labels["by"], img.tags)
print(c.containers.run("py:1", remove=True).decode().strip())
print(len(c.api.diff("work")))
"#,
    );
    assert_eq!(out, "py conf ['py:1']\nfrom conf\n7\n");

    // Bad input.
    fails_with(&s, &["diff", "nosuch"], "No such container: nosuch");
    fails_with(&s, &["commit", "nosuch", "x:1"], "No such container: nosuch");
    fails_with(&s, &["commit", "-c", "RUN echo", "work", "bad:1"], "RUN is not a valid change command");
    fails_with(&s, &["commit", "-c", "EXPOSE eighty", "work", "bad:1"], "EXPOSE");
    assert_eq!(s.get("/v1.50/containers/nosuch/changes").0, 404);
    let (code, body) = s.post_json("/v1.50/commit?container=nosuch", "");
    assert_eq!((code, body.contains("No such container: nosuch")), (404, true), "{body}");
    assert_eq!(s.post_json("/v1.50/commit?repo=x", "").0, 400);
    assert_eq!(s.post_json("/v1.50/commit?container=work", "{nope").0, 400);
    assert_eq!(s.post_json("/v1.50/commit?container=work", r#"{"Cmd": 3}"#).0, 400);
    assert!(!s.ok(&["images", "--format", "{{.Repository}}"]).contains("bad"));

    // Swarm: dockerd's 503 without swarm mode, for every method.
    let msg = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
    for (verb, path) in [
        ("GET", "/v1.50/swarm"),
        ("GET", "/services"),
        ("DELETE", "/v1.50/secrets/x"),
        ("POST", "/v1.50/nodes/x/update"),
        ("GET", "/v1.50/configs"),
        ("GET", "/v1.50/tasks?filters=%7B%7D"),
    ] {
        let (code, body) = s.raw(&format!("{verb} {path} HTTP/1.0\r\nHost: x\r\n\r\n"));
        assert_eq!(code, 503, "{verb} {path}: {body}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body.trim()).unwrap(),
            serde_json::json!({"message": msg})
        );
    }
    fails_with(&s, &["service", "ls"], "This node is not a swarm manager");
    let out = s.python(
        r#"
import docker
try:
    docker.from_env().services.list()
except docker.errors.APIError as e:
    print(e.status_code)
"#,
    );
    assert_eq!(out, "503\n");
    s.ok(&["rm", "-f", "work", "fresh"]);
    s.ok(&["rmi", "snap:1", "py:1"]);
}

#[test]
fn docker_import_reads_a_tarball_from_the_request_body() {
    let s = Service::start(192);
    let tar = testkit::host::busybox_tar(&berth()).to_str().unwrap().to_string();
    let id = s.ok(&[
        "import",
        "-c",
        r#"CMD ["/bin/sh", "-c", "echo imported"]"#,
        "-c",
        "ENV WHO=me",
        "-m",
        "from tar",
        &tar,
        "imp:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(s.ok(&["run", "--rm", "imp:1"]), "imported\n");
    assert_eq!(s.ok(&["run", "--rm", "imp:1", "sh", "-c", "echo $WHO"]), "me\n");
    assert_eq!(s.ok(&["history", "--format", "{{.Comment}}", "imp:1"]), "from tar\n");
    assert_eq!(s.ok(&["image", "inspect", "-f", "{{.Id}}", "imp:1"]).trim(), id.trim());
    // The raw stream: dockerd's status message with the id.
    let body = std::fs::read(&tar).unwrap();
    let mut c = UnixStream::connect(&s.sock).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /v1.50/images/create?fromSrc=-&repo=raw&tag=2&message=m HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&body).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    let last = text.trim_end().lines().last().unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|_| panic!("{text}"));
    assert!(v["status"].as_str().is_some_and(|s| s.starts_with("sha256:")), "{text}");
    assert_eq!(s.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}", "raw"]), "raw:2\n");

    // Bad input: a URL, a change import does not take, not a tarball.
    fails_with(&s, &["import", "http://127.0.0.1:9/rootfs.tar", "url:1"], "not supported");
    fails_with(&s, &["import", "-c", "RUN echo", &tar, "bad:1"], "RUN is not a valid change command");
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), vec![b'x'; 2048]).unwrap();
    fails_with(&s, &["import", junk.path().to_str().unwrap(), "bad:2"], "importing the tarball");
    assert!(!s.ok(&["images", "--format", "{{.Repository}}"]).contains("bad"));
    s.ok(&["rmi", "imp:1", "raw:2"]);
}

#[test]
fn distribution_inspect_asks_the_registry_with_the_clients_or_the_stored_credentials() {
    let s = Service::start(193);
    let work = tempfile::tempdir().unwrap();
    let reg = registry_with_login(work.path());
    let name = format!("{}/team/bb:1", reg.addr);
    s.ok(&["tag", "bb", &name]);
    let mut login = s.docker_cmd(&["login", "-u", "alice", "--password-stdin", &reg.addr]);
    let mut child = login.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let pushed = s.ok(&["push", &name]);
    // "1: digest: sha256:… size: N"
    let line = pushed.lines().find(|l| l.contains("digest: sha256:")).unwrap_or_else(|| panic!("{pushed}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let (digest, size) = (words[2], words[4]);

    // docker-py sends the CLI's login as X-Registry-Auth.
    let out = s.python(&format!(
        r#"
import docker, json
rd = docker.from_env().images.get_registry_data("{name}")
print(json.dumps(rd.attrs))
"#
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["Descriptor"]["digest"], digest, "{v}");
    assert_eq!(v["Descriptor"]["size"].to_string(), size, "{v}");
    assert!(v["Descriptor"]["mediaType"].as_str().is_some_and(|m| m.contains("manifest")), "{v}");
    assert_eq!(v["Platforms"][0]["os"], "linux", "{v}");
    assert!(v["Platforms"][0]["architecture"].as_str().is_some_and(|a| !a.is_empty()), "{v}");

    // An index: its descriptor, the platforms of its entries.
    let media = v["Descriptor"]["mediaType"].as_str().unwrap_or_default().to_string();
    let out = s.python(&format!(
        r#"
import base64, json, urllib.request, docker
entry = lambda p: {{"mediaType": "{media}", "digest": "{digest}", "size": {size}, "platform": p}}
index = {{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [entry({{"architecture": "amd64", "os": "linux"}}),
                       entry({{"architecture": "arm64", "os": "linux", "variant": "v8"}})]}}
req = urllib.request.Request("http://{addr}/v2/team/bb/manifests/multi", data=json.dumps(index).encode(), method="PUT",
    headers={{"Content-Type": index["mediaType"], "Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}})
urllib.request.urlopen(req)
rd = docker.from_env().images.get_registry_data("{addr}/team/bb:multi")
print(rd.attrs["Descriptor"]["mediaType"], len(rd.attrs["Platforms"]), rd.has_platform("linux/arm64/v8"))
"#,
        addr = reg.addr
    ));
    assert_eq!(out, "application/vnd.oci.image.index.v1+json 2 True\n");

    // Without credentials: the registry's refusal, as a 401.
    let path = format!("/v1.50/distribution/{name}/json");
    let (code, body) = s.get(&path);
    assert_eq!(code, 401, "{body}");
    // With the ones `berth login` stored for the server.
    let mut c = s.host.cmd();
    c.env("BERTH_CONFIG", s.dir.path().join("berth-config.json")).args([
        "login",
        "-u",
        "alice",
        "--password",
        "s3cret",
        &reg.addr,
    ]);
    assert!(c.output().unwrap().status.success());
    let (code, body) = s.get(&path);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(v["Descriptor"]["digest"], digest, "{v}");
    // A tag the registry does not have, a name that is no name.
    assert_eq!(s.get(&format!("/v1.50/distribution/{}/team/bb:nope/json", reg.addr)).0, 404);
    assert_eq!(s.get("/v1.50/distribution/Not_A..Name/json").0, 400);
    s.ok(&["rmi", &name]);
}

/// The docker CLI's `inspect` of `name` as JSON.
fn inspect_json(s: &Service, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

#[test]
fn inspect_shows_every_host_config_field_and_endpoint_setting_dockerd_does() {
    let s = Service::start(170);
    s.ok(&["create", "--name", "plain", "bb", "true"]);
    let v = inspect_json(&s, "plain");
    let hc = &v["HostConfig"];
    for key in [
        "Binds",
        "ContainerIDFile",
        "LogConfig",
        "NetworkMode",
        "PortBindings",
        "RestartPolicy",
        "AutoRemove",
        "VolumeDriver",
        "VolumesFrom",
        "ConsoleSize",
        "CapAdd",
        "CapDrop",
        "CgroupnsMode",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "IpcMode",
        "Cgroup",
        "Links",
        "OomScoreAdj",
        "PidMode",
        "Privileged",
        "PublishAllPorts",
        "ReadonlyRootfs",
        "SecurityOpt",
        "UTSMode",
        "UsernsMode",
        "ShmSize",
        "Runtime",
        "Isolation",
        "CpuShares",
        "Memory",
        "NanoCpus",
        "CgroupParent",
        "BlkioWeight",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "CpuPeriod",
        "CpuQuota",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "CpusetCpus",
        "CpusetMems",
        "Devices",
        "DeviceCgroupRules",
        "DeviceRequests",
        "MemoryReservation",
        "MemorySwap",
        "MemorySwappiness",
        "OomKillDisable",
        "PidsLimit",
        "Ulimits",
        "CpuCount",
        "CpuPercent",
        "IOMaximumIOps",
        "IOMaximumBandwidth",
        "MaskedPaths",
        "ReadonlyPaths",
        "Tmpfs",
        "Sysctls",
    ] {
        assert!(hc.get(key).is_some(), "HostConfig.{key} missing: {hc}");
    }
    assert_eq!(hc["CgroupnsMode"], "private");
    assert_eq!(hc["Runtime"], "runc");
    assert_eq!(hc["ShmSize"], 64 << 20);
    assert_eq!(hc["LogConfig"], serde_json::json!({"Type": "json-file", "Config": {}}));
    assert_eq!(hc["ConsoleSize"], serde_json::json!([0, 0]));
    assert!(hc["MaskedPaths"].as_array().is_some_and(|m| m.iter().any(|p| p == "/proc/kcore")), "{hc}");
    let ep = &v["NetworkSettings"]["Networks"]["bridge"];
    for key in [
        "IPAMConfig",
        "Links",
        "Aliases",
        "DriverOpts",
        "MacAddress",
        "NetworkID",
        "EndpointID",
        "Gateway",
        "IPAddress",
        "IPPrefixLen",
        "IPv6Gateway",
        "GlobalIPv6Address",
        "GlobalIPv6PrefixLen",
        "DNSNames",
        "GwPriority",
    ] {
        assert!(ep.get(key).is_some(), "Networks.bridge.{key} missing: {ep}");
    }
    let bridge_id = s.ok(&["network", "inspect", "-f", "{{.Id}}", "bridge"]);
    assert_eq!(ep["NetworkID"], bridge_id.trim());
    s.ok(&["rm", "plain"]);

    // What was asked for is shown as asked.
    s.ok(&[
        "create",
        "--name",
        "full",
        "--cpuset-cpus",
        "0",
        "--group-add",
        "50",
        "--dns",
        "10.9.9.9",
        "--dns-search",
        "example.org",
        "--add-host",
        "db:10.1.2.3",
        "--shm-size",
        "1m",
        "--ulimit",
        "nofile=100:200",
        "--oom-score-adj",
        "10",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1m",
        "--uts",
        "host",
        "bb",
        "true",
    ]);
    let hc = inspect_json(&s, "full")["HostConfig"].clone();
    assert_eq!(hc["CpusetCpus"], "0");
    assert_eq!(hc["GroupAdd"], serde_json::json!(["50"]));
    assert_eq!(hc["Dns"], serde_json::json!(["10.9.9.9"]));
    assert_eq!(hc["DnsSearch"], serde_json::json!(["example.org"]));
    assert_eq!(hc["ExtraHosts"], serde_json::json!(["db:10.1.2.3"]));
    assert_eq!(hc["ShmSize"], 1 << 20);
    assert_eq!(hc["Ulimits"], serde_json::json!([{"Name": "nofile", "Soft": 100, "Hard": 200}]));
    assert_eq!(hc["OomScoreAdj"], 10);
    assert_eq!(hc["LogConfig"], serde_json::json!({"Type": "local", "Config": {"max-size": "1m"}}));
    assert_eq!(hc["UTSMode"], "host");
    s.ok(&["rm", "full"]);

    // docker-py sees the same.
    let out = s.python(
        r#"
import docker
c = docker.from_env().containers.create("bb", "true", cpuset_cpus="0", group_add=["7"], runtime="runc")
hc = c.attrs["HostConfig"]
print(hc["CpusetCpus"], hc["GroupAdd"], hc["Runtime"], hc["Isolation"] == "", "MemorySwappiness" in hc)
c.remove()
"#,
    );
    assert_eq!(out, "0 ['7'] runc True True\n");
}

#[test]
fn user_addresses_macs_and_network_names_with_spaces() {
    let s = Service::start(171);
    let subnet = s.host.subnet(0);
    let prefix = subnet.rsplit_once('.').unwrap().0.to_string();
    s.ok(&["network", "create", "--subnet", &subnet, "my net"]);
    let ip = format!("{prefix}.50");
    s.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--network",
        "my net",
        "--ip",
        &ip,
        "--mac-address",
        "02:42:aa:bb:cc:dd",
        "bb",
        "sleep",
        "300",
    ]);
    let ep = inspect_json(&s, "a")["NetworkSettings"]["Networks"]["my net"].clone();
    assert_eq!(ep["IPAddress"], ip.as_str(), "{ep}");
    assert_eq!(ep["MacAddress"], "02:42:aa:bb:cc:dd");
    assert_eq!(ep["IPAMConfig"]["IPv4Address"], ip.as_str());
    assert_eq!(ep["EndpointID"].as_str().map(str::len), Some(64), "{ep}");
    assert!(ep["DNSNames"].as_array().is_some_and(|n| n.iter().any(|x| x == "a")), "{ep}");
    let inside = s.ok(&["exec", "a", "sh", "-c", "cat /sys/class/net/eth0/address; ip -4 -o addr show eth0"]);
    assert!(inside.starts_with("02:42:aa:bb:cc:dd\n") && inside.contains(&format!("{ip}/24")), "{inside}");

    // Taken, outside the subnet, on the default bridge, not an address.
    s.ok(&["create", "--name", "b", "--network", "my net", "--ip", &ip, "bb", "sleep", "300"]);
    fails_with(&s, &["start", "b"], "Address already in use");
    s.ok(&["rm", "b"]);
    fails_with(
        &s,
        &["create", "--network", "my net", "--ip", "10.254.254.9", "bb", "true"],
        "no configured subnet or ip-range contain the IP address 10.254.254.9",
    );
    fails_with(
        &s,
        &["create", "--ip", &ip, "bb", "true"],
        "user specified IP address is supported on user defined networks only",
    );
    let (code, body) = s.post_json(
        "/v1.50/containers/create",
        r#"{"Image": "bb", "Cmd": ["true"], "HostConfig": {"NetworkMode": "my net"},
            "NetworkingConfig": {"EndpointsConfig": {"my net": {"MacAddress": "01:00:00:00:00:01"}}}}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("multicast"), "{body}");
    // A free address on a running container's network connect.
    s.ok(&["network", "create", "--subnet", &s.host.subnet(1), "second"]);
    let ip2 = format!("{}.77", s.host.subnet(1).rsplit_once('.').unwrap().0);
    s.ok(&["network", "connect", "--ip", &ip2, "second", "a"]);
    assert!(s.ok(&["exec", "a", "ip", "-4", "-o", "addr"]).contains(&ip2));
    assert!(s.ok(&["network", "ls", "--format", "{{.Name}}"]).lines().any(|l| l == "my net"));
    assert_eq!(s.ok(&["ps", "-aq"]).lines().count(), 1, "the refused ones were not created");
    s.ok(&["rm", "-f", "a"]);
    s.ok(&["network", "rm", "my net", "second"]);
}

#[test]
fn uts_cpusets_groups_runtime_and_log_drivers_are_applied() {
    let s = Service::start(172);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(s.ok(&["run", "--rm", "--uts", "host", "bb", "hostname"]), host);
    fails_with(&s, &["create", "--uts", "host", "-h", "x", "bb", "true"], "hostname and the UTS mode");
    // The docker CLI checks this one itself; berth's words are the daemon's.
    fails_with(&s, &["create", "--uts", "bogus", "bb", "true"], "invalid UTS mode");
    assert!(s.host.fails(&["create", "--uts", "bogus", "bb", "true"]).contains("invalid UTS mode: bogus"));

    let out = s.ok(&["run", "--rm", "--cpuset-cpus", "0", "bb", "grep", "Cpus_allowed_list", "/proc/self/status"]);
    assert_eq!(out.split_whitespace().nth(1), Some("0"), "{out}");
    fails_with(&s, &["create", "--cpuset-cpus", "0-4096", "bb", "true"], "Requested CPUs are not available");
    fails_with(&s, &["create", "--cpuset-mems", "63", "bb", "true"], "Requested memory nodes are not available");

    // An image with users and groups: `--user nobody` gets nobody's groups, and --group-add's.
    s.ok(&[
        "run",
        "--name",
        "mk",
        "bb",
        "sh",
        "-c",
        "mkdir -p /etc && printf 'root:x:0:0::/root:/bin/sh\\nnobody:x:65534:65534::/:/bin/false\\n' > /etc/passwd \
         && printf 'root:x:0:\\nnogroup:x:65534:\\nstaff:x:50:nobody\\nextra:x:200:\\n' > /etc/group",
    ]);
    s.ok(&["commit", "mk", "users:1"]);
    s.ok(&["rm", "mk"]);
    let out =
        s.ok(&["run", "--rm", "--user", "nobody", "--group-add", "extra", "--group-add", "300", "users:1", "id", "-G"]);
    let mut groups: Vec<&str> = out.split_whitespace().collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups, ["200", "300", "50", "65534"], "{out}");
    fails_with(&s, &["run", "--rm", "--group-add", "nosuch", "users:1", "true"], "Unable to find group nosuch");

    fails_with(&s, &["create", "--runtime", "kata", "bb", "true"], "unknown or invalid runtime name: kata");
    fails_with(
        &s,
        &["create", "--log-driver", "nosuch", "bb", "true"],
        "logger: no log driver named 'nosuch' is registered",
    );
    fails_with(
        &s,
        &["create", "--log-opt", "colour=red", "bb", "true"],
        "unknown log opt 'colour' for json-file log driver",
    );

    s.ok(&["run", "--name", "quiet", "--log-driver", "none", "bb", "echo", "hi"]);
    fails_with(&s, &["logs", "quiet"], "configured logging driver does not support reading");
    s.ok(&["rm", "quiet"]);
    // `local` rotated at 1 KiB into two files: the last lines are kept, the first are gone.
    s.ok(&[
        "run",
        "--name",
        "loud",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "bb",
        "seq",
        "1",
        "300",
    ]);
    let logs = s.ok(&["logs", "loud"]);
    assert!(logs.ends_with("299\n300\n") && !logs.starts_with("1\n"), "{logs}");
    let path = inspect_json(&s, "loud")["LogPath"].as_str().unwrap().to_string();
    assert!(
        std::path::Path::new(&format!("{path}.1")).exists() && !std::path::Path::new(&format!("{path}.2")).exists()
    );
    assert!(std::fs::metadata(&path).unwrap().len() <= 1024);
    s.ok(&["rm", "loud"]);
    s.ok(&["rmi", "users:1"]);
    assert_eq!(s.ok(&["ps", "-aq"]), "");
}

#[test]
fn bind_propagation_and_volume_subpaths() {
    let s = Service::start(173);
    // A shared mount of the test's own (the host's / may be private).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let sh = |cmd: &str| assert!(Command::new("sh").arg("-c").arg(cmd).status().unwrap().success(), "{cmd}");
    sh(&format!("mount --bind {d} {d} && mount --make-rshared {d} && mkdir {d}/sub"));
    let slave = format!("{d}:/slave:rslave");
    let private = format!("{d}:/private");
    s.ok(&["run", "-d", "--name", "p", "-v", &slave, "-v", &private, "bb", "sleep", "300"]);
    sh(&format!("mount -t tmpfs tmpfs {d}/sub"));
    let mounts = s.ok(&["exec", "p", "cat", "/proc/mounts"]);
    sh(&format!("umount {d}/sub"));
    assert!(mounts.contains(" /slave/sub tmpfs"), "an rslave bind sees the host's new mount: {mounts}");
    assert!(!mounts.contains(" /private/sub "), "an rprivate one does not: {mounts}");
    let v = inspect_json(&s, "p");
    let m: Vec<_> =
        v["Mounts"].as_array().unwrap().iter().map(|m| m["Propagation"].as_str().unwrap().to_string()).collect();
    // Mounts are listed by destination: /private, then /slave.
    assert_eq!(m, ["rprivate", "rslave"]);
    assert!(v["HostConfig"]["Binds"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b.as_str() == Some(&format!("{d}:/slave:rslave"))));
    s.ok(&["rm", "-f", "p"]);
    fails_with(&s, &["create", "-v", "vol:/x:rshared", "bb", "true"], "propagation is only for bind mounts");
    sh(&format!("umount {d}"));

    s.ok(&["volume", "create", "sv"]);
    s.ok(&[
        "run",
        "--rm",
        "-v",
        "sv:/d",
        "bb",
        "sh",
        "-c",
        "mkdir /d/sub && echo inner > /d/sub/f && echo outer > /d/f",
    ]);
    assert_eq!(
        s.ok(&["run", "--rm", "--mount", "type=volume,src=sv,dst=/d,volume-subpath=sub", "bb", "ls", "/d"]),
        "f\n"
    );
    assert_eq!(
        s.ok(&["run", "--rm", "--mount", "type=volume,src=sv,dst=/d,volume-subpath=sub", "bb", "cat", "/d/f"]),
        "inner\n"
    );
    fails_with(
        &s,
        &["run", "--rm", "--mount", "type=volume,src=sv,dst=/d,volume-subpath=nope", "bb", "true"],
        "cannot access path \"nope\" in volume sv",
    );
    fails_with(
        &s,
        &["run", "--rm", "--mount", "type=volume,src=sv,dst=/d,volume-subpath=../x", "bb", "true"],
        "subpath must be a relative path",
    );
    s.ok(&["volume", "rm", "sv"]);
}

/// `docker ARGS` that must succeed within `secs` (a hang is a failure, not
/// a stuck test run).
fn ok_within(s: &Service, secs: u64, args: &[&str]) -> String {
    let mut child = s.docker_cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("docker {args:?} did not finish in {secs}s\n{}", s.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

#[test]
fn kill_answers_once_dead_and_wait_sees_a_restarting_containers_stop() {
    let s = Service::start(195);
    s.ok(&["run", "-d", "--name", "k", "bb", "sleep", "300"]);
    s.ok(&["kill", "k"]);
    // SIGKILL answers once it is dead: the inspect right after sees it.
    assert_eq!(s.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "k"]), "exited 137\n");
    // Other signals answer at once; a handled one leaves it running.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "t",
        "bb",
        "sh",
        "-c",
        "trap 'echo got-usr1' USR1; touch /tmp/ready; while :; do sleep 0.1; done",
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.docker(&["exec", "t", "test", "-f", "/tmp/ready"]).status.success() {
        assert!(Instant::now() < deadline, "the trap was not set");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.ok(&["kill", "-s", "USR1", "t"]);
    assert_eq!(s.ok(&["inspect", "-f", "{{.State.Status}}", "t"]), "running\n");
    fails_with(&s, &["kill", "-s", "NOPE", "t"], "Invalid signal: NOPE");
    fails_with(&s, &["kill", "k"], "is not running");
    fails_with(&s, &["kill", "nosuch"], "No such container");

    // wait on a restart=always container returns at its next stop, though
    // it runs again by the next look.
    s.ok(&["run", "-d", "--name", "r", "--restart", "always", "bb", "sh", "-c", "sleep 0.5; exit 3"]);
    assert_eq!(ok_within(&s, 20, &["wait", "r"]), "3\n");
    let (code, body) = s.post_json("/containers/r/wait?condition=next-exit", "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(body.trim()).unwrap()["StatusCode"], 3, "{body}");
    // not-running of a stopped one answers at once, with its code.
    assert_eq!(ok_within(&s, 5, &["wait", "k"]), "137\n");
    // removed: when it is gone.
    let sock = s.sock.clone();
    let waiter = std::thread::spawn(move || {
        let mut c = UnixStream::connect(&sock).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(b"POST /containers/t/wait?condition=removed HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    });
    std::thread::sleep(Duration::from_millis(300));
    s.ok(&["rm", "-f", "t"]);
    let out = waiter.join().unwrap();
    assert!(out.contains("\"StatusCode\":137"), "{out}");
    // Bad input: an unknown condition, an unknown container.
    let (code, body) = s.post_json("/containers/r/wait?condition=bogus", "");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(r#"invalid condition: \"bogus\""#), "{body}");
    let (code, _) = s.post_json("/containers/nosuch/wait", "");
    assert_eq!(code, 404);
    // docker-py's kill and wait say the same.
    let out = s.python(
        r#"
import docker
c = docker.from_env()
ct = c.containers.run("bb", "sleep 300", detach=True)
ct.kill()
ct.reload()
print(ct.status, ct.attrs["State"]["ExitCode"], ct.wait()["StatusCode"])
try:
    c.containers.get("r").wait(condition="bogus")
except docker.errors.APIError as e:
    print(e.status_code)
ct.remove()
"#,
    );
    assert_eq!(out, "exited 137 137\n400\n");
    s.ok(&["rm", "-f", "k", "r"]);
}

#[test]
fn attach_returns_the_logs_and_detach_keys_end_terminal_sessions() {
    let s = Service::start(196);
    let out = s.python(
        r#"
import docker, socket, time
c = docker.from_env()
ct = c.containers.run("bb", ["sh", "-c", "echo one; echo two >&2; sleep 300"], detach=True, name="a")
while len(ct.logs()) < 8:
    time.sleep(0.05)
print(repr(ct.attach(logs=True, stream=False)))
print(repr(ct.attach(logs=True, stream=False, stderr=False)))
done = c.containers.run("bb", "echo done", detach=True, name="d")
done.wait()
print(repr(done.attach(logs=True, stream=False)))

# The server watches a terminal's input for the detach keys.
t = c.containers.run("bb", "sh", tty=True, stdin_open=True, detach=True, name="tt")
def session(sock):
    raw = getattr(sock, "_sock", sock)
    raw.settimeout(10)
    return raw
def read_until(raw, want):
    got = b""
    while want not in got:
        d = raw.recv(4096)
        if not d:
            break
        got += d
    return got
def read_to_end(raw):
    got = b""
    while True:
        d = raw.recv(4096)
        if not d:
            return got
        got += d
raw = session(t.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-x,y"}))
raw.sendall(b"echo at''tached\n")
print(b"attached" in read_until(raw, b"attached\r\n"))
raw.sendall(b"\x18y")
read_to_end(raw)
t.reload()
print("after detach", t.status)
# The default keys: ctrl-p ctrl-q; a lone ctrl-p goes on to the container.
raw = session(t.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1}))
raw.sendall(b"\x10echo de''fault\n")
print(b"default" in read_until(raw, b"default\r\n"))
raw.sendall(b"\x10\x11")
read_to_end(raw)
t.reload()
print("after default", t.status)
# exec: the keys of its create; the process stays.
ex = c.api.exec_create("tt", "sh", tty=True, stdin=True, detach_keys="ctrl-x,y")
raw = session(c.api.exec_start(ex["Id"], tty=True, socket=True))
raw.sendall(b"echo in''exec\n")
print(b"inexec" in read_until(raw, b"inexec\r\n"))
raw.sendall(b"\x18y")
read_to_end(raw)
print("exec running", c.api.exec_inspect(ex["Id"])["Running"])
for bad in ["ctrl-", "ctrl-ab,q"]:
    try:
        c.api.exec_create("tt", "sh", tty=True, stdin=True, detach_keys=bad)
    except docker.errors.APIError as e:
        print(e.status_code, e.explanation)
"#,
    );
    assert_eq!(
        out,
        "b'one\\ntwo\\n'\nb'one\\n'\nb'done\\n'\nTrue\nafter detach running\nTrue\nafter default running\nTrue\n\
         exec running True\n400 Invalid escape keys (ctrl-) provided\n400 Invalid escape keys (ctrl-ab,q) provided\n"
    );
    // Bad keys on attach: a 400, as the docker CLI shows it.
    let (code, body) = s.post_json("/containers/tt/attach?stream=1&stdin=1&detachKeys=ctrl-", "");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("Invalid detach keys (ctrl-) provided"), "{body}");
    // (The docker client reads no body of a refused upgrade, as with dockerd.)
    fails_with(
        &s,
        &["attach", "--no-stdin", "--detach-keys", "shift-a", "tt"],
        "unable to upgrade to tcp, received 400",
    );
    // The docker CLI on a terminal watches for its keys itself, and says
    // so (exiting 1, as with dockerd); the container runs on.
    let (out, code) = on_terminal(&s, &["docker", "attach", "--detach-keys", "ctrl-x,y", "tt"], "\x18y");
    assert!(code == 1 && out.contains("read escape sequence"), "{code} {out}");
    assert_eq!(s.ok(&["inspect", "-f", "{{.State.Status}}", "tt"]), "running\n");
    let (out, code) = on_terminal(&s, &["docker", "exec", "-it", "--detach-keys", "ctrl-x,y", "tt", "sh"], "\x18y");
    assert!(code == 1 && out.contains("read escape sequence"), "{code} {out}");
    s.ok(&["rm", "-f", "a", "d", "tt"]);
}

#[test]
fn copies_into_created_volumes_loads_fail_in_the_stream_prune_and_info() {
    let s = Service::start(197);
    // A copy into a container never started lands in its volumes.
    s.ok(&["create", "--name", "cv", "-v", "/data", "-v", "named:/named", "bb", "cat", "/data/f.txt", "/named/f.txt"]);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f.txt");
    std::fs::write(&f, "copied\n").unwrap();
    s.ok(&["cp", f.to_str().unwrap(), "cv:/data/"]);
    s.ok(&["cp", f.to_str().unwrap(), "cv:/named/f.txt"]);
    assert_eq!(s.ok(&["start", "-a", "cv"]), "copied\ncopied\n");
    fails_with(&s, &["cp", f.to_str().unwrap(), "cv:/nope/x"], "Could not find the file /nope in container cv");
    let (code, body) = s.raw(
        "PUT /containers/cv/archive?path=/nope HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("Could not find the file /nope in container cv"), "{body}");

    // A bad body to load: 200, the error in the stream.
    let (code, body) = s.raw(
        "POST /images/load HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: 10\r\n\r\nnot-a-tar!",
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim().lines().last().unwrap_or("")).unwrap();
    assert!(v["errorDetail"]["message"].is_string() && v["error"] == v["errorDetail"]["message"], "{body}");
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, vec![b'x'; 2048]).unwrap();
    fails_with(&s, &["load", "-i", junk.to_str().unwrap()], "loading the archive");
    let out = s.python(&format!(
        r#"
import docker
try:
    list(docker.from_env().images.load(open("{}", "rb").read()))
except docker.errors.DockerException as e:
    print(type(e).__name__)
"#,
        junk.display()
    ));
    assert_eq!(out, "ImageLoadError\n");

    // Prune takes unused anonymous volumes only (dockerd's label), named
    // ones too with all=true.
    s.ok(&["rm", "cv"]);
    s.ok(&["run", "--name", "big", "-v", "/big", "bb", "sh", "-c", "head -c 65536 /dev/zero > /big/z"]);
    s.ok(&["create", "--name", "plain", "bb"]);
    s.ok(&["commit", "--change", "VOLUME /iv", "plain", "withvol:1"]);
    s.ok(&["run", "--name", "iv", "withvol:1", "true"]);
    s.ok(&["volume", "create", "--label", "keep=1", "kept"]);
    let anon: Vec<String> = s
        .ok(&["volume", "ls", "-q", "--filter", "label=com.docker.volume.anonymous"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(anon.len(), 3, "{anon:?}");
    s.ok(&["rm", "big", "iv", "plain"]);
    let (code, body) = s.post_json("/volumes/prune?filters=%7B%22bogus%22%3A%5B%221%22%5D%7D", "");
    assert_eq!(code, 400, "{body}");
    let (code, body) = s.post_json("/volumes/prune", "");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut deleted: Vec<String> =
        v["VolumesDeleted"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    deleted.sort();
    let mut want = anon.clone();
    want.sort();
    assert_eq!(deleted, want, "{body}");
    assert!(v["SpaceReclaimed"].as_u64().unwrap() >= 65536, "{body}");
    assert_eq!(s.ok(&["volume", "ls", "-q"]), "kept\nnamed\n");
    // all=true with a label filter: named ones, of that label only.
    s.ok(&["volume", "prune", "-f", "-a", "--filter", "label!=keep"]);
    assert_eq!(s.ok(&["volume", "ls", "-q"]), "kept\n");
    s.ok(&["volume", "prune", "-f", "--filter", "all=true"]);
    assert_eq!(s.ok(&["volume", "ls", "-q"]), "");
    s.ok(&["rmi", "withvol:1"]);

    // /info has dockerd 28's fields.
    let (code, body) = s.get("/v1.50/info");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ExperimentalBuild"], false, "{body}");
    for k in [
        "BridgeNfIptables",
        "BridgeNfIp6tables",
        "OomKillDisable",
        "KernelMemoryTCP",
        "CpuCfsPeriod",
        "CpuCfsQuota",
        "CPUShares",
        "CPUSet",
        "PidsLimit",
        "MemoryLimit",
        "SwapLimit",
        "IPv4Forwarding",
        "Debug",
    ] {
        assert!(v[k].is_boolean(), "{k} in {body}");
    }
    for k in ["ContainerdCommit", "RuncCommit", "InitCommit"] {
        assert!(v[k]["ID"].is_string(), "{k} in {body}");
    }
    for k in ["NFd", "NGoroutines", "NEventsListener"] {
        assert!(v[k].is_u64(), "{k} in {body}");
    }
    assert!(v["CDISpecDirs"].is_array() && v.get("Containerd").is_some() && v["SystemTime"].is_string(), "{body}");
    assert!(s.ok(&["info"]).contains("Cgroup Version"));
    assert_eq!(s.get("/v1.99/info").0, 400);
}

#[test]
fn the_legacy_build_endpoint_speaks_the_classic_builders_stream() {
    let s = Service::start(198);
    let ctx = tempfile::tempdir().unwrap();
    let p = ctx.path();
    std::fs::write(p.join("Dockerfile"), "FROM bb\nCOPY . /ctx\nRUN ls -R /ctx > /list; cat /etc/hosts >> /list\n")
        .unwrap();
    std::fs::write(p.join("Other.Dockerfile"), "FROM bb\nRUN false\n").unwrap();
    std::fs::create_dir_all(p.join("dir/sub")).unwrap();
    for f in ["dir/keep.txt", "dir/drop.txt", "dir/sub/deep.log", "top.log", "kept.txt"] {
        std::fs::write(p.join(f), "x").unwrap();
    }
    // `dir` out but its keep.txt back; `**` patterns; a leading `/`; the
    // last matching pattern wins.
    std::fs::write(p.join(".dockerignore"), "/dir\n!dir/keep.txt\n**/*.log\n!top.log\ntop.log\n").unwrap();
    s.ok(&["network", "create", "buildnet"]);
    let out = s.python(&format!(
        r#"
import docker, io, tarfile, os
c = docker.from_env()
# The whole context, unfiltered: the server applies .dockerignore.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    for root, dirs, files in os.walk("{ctx}"):
        for f in files:
            full = os.path.join(root, f)
            t.add(full, arcname=os.path.relpath(full, "{ctx}"))
buf.seek(0)
log = list(c.api.build(fileobj=buf, custom_context=True, tag="cl:1", network_mode="buildnet", decode=True))
for l in log:
    if "stream" in l and l["stream"].startswith(("Step", "Successfully", " --->")):
        print(l["stream"].rstrip())
print("aux", any("aux" in l and l["aux"]["ID"].startswith("sha256:") for l in log))
print(sorted(c.containers.run("cl:1", "cat /list", remove=True).decode().split()))
img, log = c.images.build(path="{ctx}", tag="cl:2")
print("cl:2" in img.tags, len(list(log)) > 3)
try:
    c.images.build(path="{ctx}", dockerfile="Other.Dockerfile")
except docker.errors.BuildError as e:
    print(e.msg)
    print([l["errorDetail"]["code"] for l in e.build_log if "errorDetail" in l])
try:
    c.images.build(path="{ctx}", network_mode="nosuchnet")
except docker.errors.APIError as e:
    print(e.status_code, "nosuchnet" in str(e))
"#,
        ctx = p.display()
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        ["Step 1/3 : FROM bb", "Step 2/3 : COPY . /ctx", "Step 3/3 : RUN ls -R /ctx > /list; cat /etc/hosts >> /list"],
        "{out}"
    );
    assert!(lines[3].starts_with(" ---> ") && lines[4].starts_with("Successfully built "), "{out}");
    assert_eq!(lines[5..7], ["Successfully tagged cl:1", "aux True"], "{out}");
    let list = lines[7];
    for want in ["'keep.txt'", "'kept.txt'", "'Dockerfile'", "'/ctx/dir:'"] {
        assert!(list.contains(want), "{want} in {list}");
    }
    for not in ["drop.txt", "sub", "deep.log", "top.log"] {
        assert!(!list.contains(not), "{not} in {list}");
    }
    assert_eq!(
        lines[8..],
        ["True True", "The command '/bin/sh -c false' returned a non-zero code: 1", "[1]", "404 True",],
        "{out}"
    );
    // Of repeated parameters the first counts (Go's url.Values.Get).
    let tar = Command::new("tar").arg("-C").arg(p).arg("-cf").arg("-").arg(".").output().unwrap().stdout;
    let mut c = UnixStream::connect(&s.sock).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /v1.50/build?dockerfile=Other.Dockerfile&dockerfile=Dockerfile HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        tar.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&tar).unwrap();
    let mut got = String::new();
    let _ = c.read_to_string(&mut got);
    assert!(got.contains("Step 2/2 : RUN false") && got.contains("\"code\":1"), "{got}");
    // The docker CLI without BuildKit: the same stream, its error.
    let out =
        s.docker_cmd(&["build", "-t", "cli:1", p.to_str().unwrap()]).env("DOCKER_BUILDKIT", "0").output().unwrap();
    assert!(out.status.success() && stdout(&out).contains("Step 1/3 : FROM bb"), "{}{}", stdout(&out), stderr(&out));
    let out = s
        .docker_cmd(&["build", "-f", p.join("Other.Dockerfile").to_str().unwrap(), p.to_str().unwrap()])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("The command '/bin/sh -c false' returned a non-zero code: 1"), "{}", stderr(&out));
    s.ok(&["rmi", "cl:1", "cl:2", "cli:1"]);
    s.ok(&["network", "rm", "buildnet"]);
}
