//! Container commands: run, create, start, stop, restart, kill, rm, ps,
//! exec, logs, inspect, wait, pause, unpause, rename, port, container prune
//! — docker's flags, output and error wording.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use engine::model::{Healthcheck, Mount, NetworkAttachment, PortSpec, Resources, RestartPolicy};
use engine::{Container, ContainerConfig, Engine, NetworkMode, PullPolicy, Status};

use super::format::{self, Row};
use super::progress::Display;

#[derive(Args, Debug, Clone)]
pub struct CreateFlags {
    /// Assign a name to the container.
    #[arg(long)]
    name: Option<String>,
    /// Keep STDIN open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read a file of environment variables.
    #[arg(long)]
    env_file: Vec<String>,
    /// Publish a container's port(s) to the host.
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Expose a port or a range of ports (PORT[/PROTO]).
    #[arg(long)]
    expose: Vec<String>,
    /// Bind mount a volume.
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container.
    #[arg(long)]
    mount: Vec<String>,
    /// Mount a tmpfs directory.
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Connect a container to a network (none, host, bridge, NAME, container:NAME).
    #[arg(long, alias = "net")]
    network: Vec<String>,
    /// Add network-scoped alias for the container.
    #[arg(long, alias = "net-alias")]
    network_alias: Vec<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Print help (-h is --hostname, as in docker).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Memory limit (e.g. 512m, 1g).
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 for unlimited swap.
    #[arg(long)]
    memory_swap: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    cpu_shares: Option<u64>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only.
    #[arg(long)]
    read_only: bool,
    /// Restart policy (no, always, on-failure[:N], unless-stopped).
    #[arg(long, default_value = "no")]
    restart: String,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    init: bool,
    /// Set meta data on a container.
    #[arg(short, long = "label")]
    label: Vec<String>,
    #[arg(long)]
    cap_add: Vec<String>,
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    privileged: bool,
    /// Security options (seccomp=unconfined|PROFILE.json, no-new-privileges).
    #[arg(long)]
    security_opt: Vec<String>,
    /// Signal to stop the container.
    #[arg(long)]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long)]
    stop_timeout: Option<u32>,
    /// Command to run to check health.
    #[arg(long)]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h).
    #[arg(long)]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h).
    #[arg(long)]
    health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long)]
    health_retries: Option<u32>,
    /// Start period for the container to initialize before counting retries.
    #[arg(long)]
    health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    no_healthcheck: bool,
    /// IPC mode (host, container:NAME).
    #[arg(long)]
    ipc: Option<String>,
    /// PID namespace (host, container:NAME).
    #[arg(long)]
    pid: Option<String>,
    /// UTS namespace to use (host).
    #[arg(long)]
    uts: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Add additional groups to join.
    #[arg(long)]
    group_add: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33).
    #[arg(long)]
    ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33).
    #[arg(long)]
    mac_address: Option<String>,
    /// Logging driver for the container (json-file, local, none).
    #[arg(long)]
    log_driver: Option<String>,
    /// Log driver options (max-size=10m, max-file=3).
    #[arg(long)]
    log_opt: Vec<String>,
    /// Runtime to use for this container.
    #[arg(long)]
    runtime: Option<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    dns: Vec<String>,
    /// Set DNS options.
    #[arg(long, alias = "dns-opt")]
    dns_option: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long)]
    dns_search: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long)]
    add_host: Vec<String>,
    /// Size of /dev/shm.
    #[arg(long)]
    shm_size: Option<String>,
    /// Sysctl options.
    #[arg(long)]
    sysctl: Vec<String>,
    /// Ulimit options (nofile=1024:2048).
    #[arg(long)]
    ulimit: Vec<String>,
    /// Tune host's OOM preferences (-1000 to 1000).
    #[arg(long, allow_hyphen_values = true)]
    oom_score_adj: Option<i32>,
    /// Container NIS domain name.
    #[arg(long)]
    domainname: Option<String>,
    /// Pull image before running (missing, never, always).
    #[arg(long, default_value = "missing")]
    pull: String,
    /// Suppress the pull output.
    #[arg(short, long)]
    quiet: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    rm: bool,
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    create: CreateFlags,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Filter output based on conditions provided (status=, name=, id=, label=, ancestor=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Show the latest created container.
    #[arg(short, long)]
    latest: bool,
    /// Show n last created containers.
    #[arg(short = 'n', long)]
    last: Option<usize>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Memory limit (e.g. 256m).
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory plus swap (-1: unlimited).
    #[arg(long)]
    memory_swap: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    cpu_shares: Option<u64>,
    /// Tune the pids limit (-1: unlimited).
    #[arg(long)]
    pids_limit: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Restart policy (no, always, on-failure[:N], unless-stopped).
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[arg(short, long)]
    interactive: bool,
    #[arg(short, long)]
    tty: bool,
    #[arg(short, long)]
    detach: bool,
    #[arg(short, long = "env")]
    env: Vec<String>,
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short, long)]
    workdir: Option<String>,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs ("all").
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since timestamp (RFC 3339) or relative (e.g. 42m).
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    container: String,
}

#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// Create and run a new container from an image.
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container.
    #[command(disable_help_flag = true)]
    Create(CreateFlags),
    /// Start one or more stopped containers.
    Start {
        /// Attach STDOUT/STDERR and forward signals.
        #[arg(short, long)]
        attach: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop one or more running containers.
    Stop {
        #[arg(short, long)]
        time: Option<u32>,
        #[arg(short, long)]
        signal: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Restart one or more containers.
    Restart {
        #[arg(short, long)]
        time: Option<u32>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Kill one or more running containers.
    Kill {
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove one or more containers.
    Rm {
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes associated with the container.
        #[arg(short, long)]
        volumes: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List containers.
    #[command(alias = "list", alias = "ls")]
    Ps(PsArgs),
    /// Execute a command in a running container.
    Exec(ExecArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Display detailed information on containers.
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Block until containers stop, then print their exit codes.
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Pause all processes within one or more containers.
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause all processes within one or more containers.
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Rename a container.
    Rename { container: String, new_name: String },
    /// Update the resource limits or restart policy of containers.
    Update(UpdateArgs),
    /// List port mappings.
    Port { container: String, port: Option<String> },
    /// Remove all stopped containers.
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// Display a live stream of container resource usage.
    Stats {
        /// Show all containers (default shows just running).
        #[arg(short, long)]
        all: bool,
        /// Print one sample and exit.
        #[arg(long)]
        no_stream: bool,
        #[arg(long)]
        no_trunc: bool,
        #[arg(long)]
        format: Option<String>,
        containers: Vec<String>,
    },
    /// Display the running processes of a container.
    Top {
        container: String,
        /// ps options (ignored: berth prints docker's default columns).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_options: Vec<String>,
    },
    /// Copy files between a container and the host: CONTAINER:SRC DEST or SRC CONTAINER:DEST ("-" for a tar stream).
    Cp {
        /// Archive mode (keep uid/gid).
        #[arg(short, long)]
        archive: bool,
        /// Follow symbolic links in SRC.
        #[arg(short = 'L', long)]
        follow_link: bool,
        src: String,
        dest: String,
    },
    /// Create a new image from a container's changes.
    Commit {
        /// Author (e.g. "Jane Doe <jane@example.com>").
        #[arg(short, long)]
        author: Option<String>,
        /// Commit message.
        #[arg(short, long)]
        message: Option<String>,
        /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL).
        #[arg(short, long)]
        change: Vec<String>,
        /// Pause the container during the commit.
        #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
        pause: bool,
        container: String,
        /// REPOSITORY[:TAG] of the new image.
        reference: Option<String>,
    },
    /// Inspect changes to files or directories on a container's filesystem.
    Diff { container: String },
    /// Attach to a running container's standard streams.
    Attach {
        /// Do not attach STDIN.
        #[arg(long)]
        no_stdin: bool,
        /// Proxy received signals to the container.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        sig_proxy: bool,
        container: String,
    },
}

/// Commands that need a berth binary behind them (monitors, DNS daemons):
/// the running binary itself.
pub fn open_engine(root: &Path) -> Result<Engine> {
    runtime::timing::mark("cli: opening the engine");
    let mut e = Engine::open(root).with_context(|| format!("opening the state in {}", root.display()))?;
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| "/proc/self/exe".into());
    e.set_launcher(engine::Launcher {
        exe,
        prefix: vec!["--root".into(), root.as_os_str().to_owned(), "internal".into()],
    });
    Ok(e)
}

pub fn run(root: &Path, cmd: ContainerCmd) -> Result<u8> {
    let mut e = open_engine(root)?;
    match cmd {
        ContainerCmd::Run(a) => run_container(&mut e, a),
        ContainerCmd::Create(f) => {
            let c = create(&mut e, &f)?;
            println!("{}", c.id);
            Ok(0)
        }
        ContainerCmd::Start { attach, containers } => {
            for name in &containers {
                if attach {
                    let c = e.container(name)?;
                    return Ok(e.run_foreground(&c.id, c.config.interactive)?.clamp(0, 255) as u8);
                }
                e.start(name)?;
                println!("{name}");
            }
            Ok(0)
        }
        ContainerCmd::Stop { time, signal, containers } => {
            let signal = signal.as_deref().map(engine::ops::parse_signal).transpose()?;
            each(&containers, |n| Ok(e.stop(n, time, signal)?))
        }
        ContainerCmd::Restart { time, containers } => each(&containers, |n| {
            e.stop(n, time, None)?;
            e.start(n)?;
            Ok(())
        }),
        ContainerCmd::Kill { signal, containers } => {
            let sig = engine::ops::parse_signal(&signal)?;
            each(&containers, |n| Ok(e.kill(n, sig, true)?))
        }
        ContainerCmd::Rm { force, volumes, containers } => each(&containers, |n| Ok(e.remove(n, force, volumes)?)),
        ContainerCmd::Ps(a) => ps(&e, a),
        ContainerCmd::Exec(a) => exec(&mut e, a),
        ContainerCmd::Logs(a) => logs(&e, a),
        ContainerCmd::Inspect { format, containers } => inspect(&mut e, &containers, format.as_deref()),
        ContainerCmd::Wait { containers } => {
            let mut failed = false;
            for n in &containers {
                match e.wait(n) {
                    Ok(code) => println!("{code}"),
                    Err(err) => {
                        eprintln!("Error response from daemon: {err}");
                        failed = true;
                    }
                }
            }
            Ok(u8::from(failed))
        }
        ContainerCmd::Pause { containers } => each(&containers, |n| Ok(e.pause(n)?)),
        ContainerCmd::Unpause { containers } => each(&containers, |n| Ok(e.unpause(n)?)),
        ContainerCmd::Rename { container, new_name } => {
            e.rename(&container, &new_name)?;
            Ok(0)
        }
        ContainerCmd::Update(a) => update(&mut e, a),
        ContainerCmd::Port { container, port } => {
            let c = e.container(&container)?;
            for (cport, ip, hport) in &c.state.ports {
                if port.as_ref().is_none_or(|p| cport == p || cport.split('/').next() == Some(p)) {
                    println!("{cport} -> {ip}:{hport}");
                }
            }
            Ok(0)
        }
        ContainerCmd::Prune { force: _ } => {
            let removed = e.prune()?;
            if !removed.is_empty() {
                println!("Deleted Containers:");
                for (id, _) in &removed {
                    println!("{id}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", format::human_size(removed.iter().map(|(_, b)| b).sum()));
            Ok(0)
        }
        ContainerCmd::Stats { all, no_stream, no_trunc, format, containers } => {
            super::stats::stats(&e, all, no_stream, no_trunc, format.as_deref(), &containers)
        }
        ContainerCmd::Top { container, ps_options: _ } => top(&e, &container),
        ContainerCmd::Cp { archive, follow_link, src, dest } => {
            super::copy::cp(&mut e, &src, &dest, archive, follow_link)
        }
        ContainerCmd::Attach { no_stdin, sig_proxy, container } => {
            super::attach::attach(&e, &container, !no_stdin, sig_proxy)
        }
        ContainerCmd::Commit { author, message, change, pause, container, reference } => {
            let reference = reference
                .as_deref()
                .map(|r| r.parse::<image::Reference>().with_context(|| format!("invalid reference format {r:?}")))
                .transpose()?;
            let opts = engine::commit::CommitOptions {
                reference,
                comment: message,
                author,
                pause,
                changes: change,
                config: Default::default(),
            };
            println!("{}", e.commit(&container, &opts)?);
            Ok(0)
        }
        ContainerCmd::Diff { container } => {
            for c in e.diff(&container)? {
                println!("{} {}", c.kind.letter(), c.path);
            }
            Ok(0)
        }
    }
}

fn update(e: &mut Engine, a: UpdateArgs) -> Result<u8> {
    let memory_swap = match a.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        Some(s) => Some(parse_bytes(s)?),
        None => None,
    };
    let cpus = a
        .cpus
        .as_deref()
        .map(|c| c.parse::<f64>().map_err(|_| anyhow!("invalid argument {c:?} for \"--cpus\" flag")))
        .transpose()?;
    let r = engine::model::Resources {
        memory: a.memory.as_deref().map(parse_bytes).transpose()?,
        memory_swap,
        cpus,
        cpu_shares: a.cpu_shares,
        pids_limit: a.pids_limit,
        cpuset_cpus: a.cpuset_cpus,
        cpuset_mems: a.cpuset_mems,
    };
    let restart = a.restart.as_deref().map(RestartPolicy::parse).transpose().map_err(|e| anyhow!(e))?;
    each(&a.containers, |c| Ok(e.update(c, &r, restart.clone())?))
}

fn top(e: &Engine, key: &str) -> Result<u8> {
    let procs = e.top(key)?;
    let hz = engine::stats::ticks_per_second();
    let boot = boot_time();
    let mut lines = vec!["UID\tPID\tPPID\tC\tSTIME\tTTY\tTIME\tCMD".to_string()];
    for p in &procs {
        let started = boot + (p.start_ticks / hz) as i64;
        let stime = runtime::state::rfc3339(started as u64);
        let cpu = p.cpu_ticks / hz;
        lines.push(format!(
            "{}\t{}\t{}\t0\t{}\t{}\t{:02}:{:02}:{:02}\t{}",
            user_name(p.uid),
            p.pid,
            p.ppid,
            &stime[11..16],
            p.tty,
            cpu / 3600,
            cpu / 60 % 60,
            cpu % 60,
            p.cmd
        ));
    }
    println!("{}", format::align(&lines));
    Ok(0)
}

fn boot_time() -> i64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("btime "))?.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// A host user name for a uid (as `ps` prints), else the number.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// Runs `f` for each name, printing the name on success and docker's error
/// line on failure; exit 1 if any failed.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<u8> {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(()) => println!("{n}"),
            Err(err) => {
                eprintln!("Error response from daemon: {err:#}");
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

fn run_container(e: &mut Engine, a: RunArgs) -> Result<u8> {
    if a.detach && a.create.rm && !a.create.restart.is_empty() && a.create.restart != "no" {
        bail!("Conflicting options: --restart and --rm");
    }
    let c = create(e, &a.create)?;
    if a.detach {
        if let Err(err) = e.start(&c.id) {
            if a.create.rm {
                let _ = e.remove(&c.id, true, true);
            }
            return program_error(err);
        }
        println!("{}", c.id);
        return Ok(0);
    }
    match e.run_foreground(&c.id, a.create.interactive) {
        Ok(code) => Ok(code.clamp(0, 255) as u8),
        Err(err) => program_error(err),
    }
}

/// docker's exit codes for `run` and `exec` of a program that cannot be
/// run (127 not found, 126 not executable), after printing why; any other
/// error goes up as it is.
fn program_error(err: engine::Error) -> Result<u8> {
    match err.exit_code() {
        Some(code) => {
            eprintln!("berth: {err}");
            Ok(code)
        }
        None => Err(err.into()),
    }
}

fn create(e: &mut Engine, f: &CreateFlags) -> Result<Container> {
    let config = config_from_flags(f)?;
    let display = Display::on_stderr(f.quiet);
    let pull = PullPolicy::parse(&f.pull, &display, engine::pull::registry_options(false))?;
    e.create(f.name.as_deref(), config, pull).map_err(|err| match err {
        engine::Error::Image(image::Error::ImageNotFound(name)) => anyhow!("Unable to find image '{name}' locally"),
        other => other.into(),
    })
}

/// `--expose 80`, `--expose 53/udp`, `--expose 8000-8002`: "PORT/PROTO" each.
fn expose_list(list: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in list {
        let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            bail!("invalid proto: {proto} in --expose {e}");
        }
        let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
        let bad = || anyhow!("invalid range format for --expose: {e}");
        let (lo, hi): (u16, u16) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
        if lo == 0 || hi < lo {
            return Err(bad());
        }
        out.extend((lo..=hi).map(|p| format!("{p}/{proto}")));
    }
    Ok(out)
}

pub use engine::mounts::parse_bytes;

/// Durations like docker's flags: 30s, 1m30s, 500ms, 2h.
pub fn parse_duration(s: &str) -> Result<f64> {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => bail!("invalid duration {s:?}"),
            }
        };
        total += num.parse::<f64>().map_err(|_| anyhow!("invalid duration {s:?}"))? * unit;
        num.clear();
    }
    if !num.is_empty() {
        bail!("invalid duration {s:?}: missing unit in duration");
    }
    Ok(total)
}

fn config_from_flags(f: &CreateFlags) -> Result<ContainerConfig> {
    let mut env = Vec::new();
    for path in &f.env_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            env.push(if line.contains('=') {
                line.to_string()
            } else {
                format!("{line}={}", std::env::var(line).unwrap_or_default())
            });
        }
    }
    for e in &f.env {
        env.push(if e.contains('=') {
            e.clone()
        } else {
            match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            }
        });
    }
    let mut anon = engine::names::new_id;
    let mut mounts = Vec::new();
    for v in &f.volume {
        mounts.push(engine::mounts::parse_volume(v, &mut anon)?);
    }
    for m in &f.mount {
        mounts.push(engine::mounts::parse_mount(m, &mut anon)?);
    }
    for t in &f.tmpfs {
        let (target, opts) = t.split_once(':').unwrap_or((t, ""));
        if !target.starts_with('/') {
            bail!("invalid mount config: mount path must be absolute: {target}");
        }
        mounts.push(Mount::Tmpfs {
            target: target.into(),
            options: opts.split(',').filter(|o| !o.is_empty()).map(str::to_string).collect(),
        });
    }
    let mut ports = Vec::new();
    for p in &f.publish {
        ports.extend(PortSpec::parse_publish(p)?);
    }
    let endpoint = |n: &String| NetworkAttachment {
        network: n.clone(),
        aliases: f.network_alias.clone(),
        ipv4_address: f.ip.clone(),
        ipv6_address: f.ip6.clone(),
        mac_address: f.mac_address.clone(),
        ..Default::default()
    };
    let endpoint_options = f.ip.is_some() || f.ip6.is_some() || f.mac_address.is_some();
    let network = match f.network.first().map(String::as_str) {
        // The engine decides whether the default bridge takes them.
        None | Some("default") if endpoint_options => {
            Some(NetworkMode::Networks(vec![endpoint(&"bridge".to_string())]))
        }
        None | Some("default") => None,
        Some("none") => Some(NetworkMode::None),
        Some("host") => Some(NetworkMode::Host),
        Some(n) if n.starts_with("container:") => Some(NetworkMode::Container(n["container:".len()..].to_string())),
        Some(_) => Some(NetworkMode::Networks(f.network.iter().map(endpoint).collect())),
    };
    if !f.network_alias.is_empty() && !matches!(network, Some(NetworkMode::Networks(_))) {
        bail!("network-scoped aliases are only supported for user-defined networks");
    }
    // Only the syntax is the CLI's; the engine checks the values.
    let memory = f.memory.as_deref().map(parse_bytes).transpose()?;
    let memory_swap = match f.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        Some(s) => Some(parse_bytes(s)?),
        None => None,
    };
    let cpus = match &f.cpus {
        Some(c) => Some(c.parse::<f64>().map_err(|_| anyhow!("invalid argument {c:?} for \"--cpus\" flag"))?),
        None => None,
    };
    let mut labels = BTreeMap::new();
    for l in &f.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut seccomp = None;
    let mut no_new_privileges = false;
    for o in &f.security_opt {
        match o.split_once(['=', ':']) {
            Some(("seccomp", "unconfined")) => seccomp = Some("unconfined".to_string()),
            Some(("seccomp", path)) => {
                seccomp =
                    Some(std::fs::read_to_string(path).with_context(|| format!("opening seccomp profile ({path})"))?)
            }
            Some(("no-new-privileges", v)) => no_new_privileges = v != "false",
            None if o == "no-new-privileges" => no_new_privileges = true,
            Some(("label" | "apparmor", _)) => {}
            _ => bail!("Invalid --security-opt: {o:?}"),
        }
    }
    let mut log = engine::model::LogConfig { driver: f.log_driver.clone().unwrap_or_default(), ..Default::default() };
    for o in &f.log_opt {
        let (k, v) = o.split_once('=').ok_or_else(|| anyhow!("invalid log opt {o:?}: use KEY=VALUE"))?;
        log.options.insert(k.to_string(), v.to_string());
    }
    let mut sysctls = BTreeMap::new();
    for o in &f.sysctl {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid argument {o:?} for \"--sysctl\" flag: sysctl must be KEY=VALUE"))?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    let ulimits = f.ulimit.iter().map(|u| engine::model::Ulimit::parse(u)).collect::<engine::Result<Vec<_>>>()?;
    let healthcheck = if f.no_healthcheck {
        Some(Healthcheck { test: vec!["NONE".into()], ..Default::default() })
    } else {
        match &f.health_cmd {
            Some(cmd) => Some(Healthcheck {
                test: vec!["CMD-SHELL".into(), cmd.clone()],
                interval_secs: f.health_interval.as_deref().map(parse_duration).transpose()?.unwrap_or(30.0),
                timeout_secs: f.health_timeout.as_deref().map(parse_duration).transpose()?.unwrap_or(30.0),
                start_period_secs: f.health_start_period.as_deref().map(parse_duration).transpose()?.unwrap_or(0.0),
                retries: f.health_retries.unwrap_or(3),
            }),
            None => None,
        }
    };
    Ok(ContainerConfig {
        image: f.image.clone(),
        entrypoint: f.entrypoint.as_ref().map(|e| if e.is_empty() { vec![] } else { vec![e.clone()] }),
        cmd: (!f.command.is_empty()).then(|| f.command.clone()),
        env,
        workdir: f.workdir.clone().unwrap_or_default(),
        user: f.user.clone().unwrap_or_default(),
        hostname: f.hostname.clone().unwrap_or_default(),
        labels,
        tty: f.tty,
        interactive: f.interactive,
        network,
        ports,
        publish_all: f.publish_all,
        exposed_ports: expose_list(&f.expose)?,
        mounts,
        resources: Resources {
            memory,
            memory_swap,
            cpus,
            cpu_shares: f.cpu_shares,
            pids_limit: f.pids_limit,
            cpuset_cpus: f.cpuset_cpus.clone(),
            cpuset_mems: f.cpuset_mems.clone(),
        },
        read_only: f.read_only,
        restart: RestartPolicy::parse(&f.restart).map_err(|e| anyhow!(e))?,
        auto_remove: f.rm,
        init: f.init,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        privileged: f.privileged,
        seccomp,
        no_new_privileges,
        stop_signal: f.stop_signal.clone(),
        stop_timeout: f.stop_timeout,
        healthcheck,
        ipc: f.ipc.clone(),
        pid: f.pid.clone(),
        uts: f.uts.clone(),
        group_add: f.group_add.clone(),
        runtime: f.runtime.clone(),
        log,
        dns: f.dns.clone(),
        dns_options: f.dns_option.clone(),
        dns_search: f.dns_search.clone(),
        extra_hosts: f.add_host.clone(),
        shm_size: f.shm_size.as_deref().map(parse_bytes).transpose()?,
        sysctls,
        ulimits,
        oom_score_adj: f.oom_score_adj.unwrap_or(0),
        domainname: f.domainname.clone().unwrap_or_default(),
        ..Default::default()
    })
}

pub use engine::listing::{human_duration, status_text};

fn ports_text(c: &Container) -> String {
    if !matches!(c.state.status, Status::Running | Status::Paused) {
        return String::new();
    }
    let mut out: Vec<String> = c.state.ports.iter().map(|(cp, ip, hp)| format!("{ip}:{hp}->{cp}")).collect();
    for e in &c.config.exposed_ports {
        if !c.state.ports.iter().any(|(cp, _, _)| cp == e) {
            out.push(e.clone());
        }
    }
    out.join(", ")
}

fn matches_filter(c: &Container, f: &str) -> Result<bool> {
    let (k, v) = f.split_once('=').ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
    Ok(engine::listing::matches(c, k, v)?)
}

fn ps(e: &Engine, a: PsArgs) -> Result<u8> {
    let now = format::now_secs();
    let mut list: Vec<Container> = e.containers()?;
    if !a.all && a.filter.is_empty() && !a.latest && a.last.is_none() {
        list.retain(|c| matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting));
    }
    for f in &a.filter {
        let mut keep = Vec::new();
        for c in list {
            if matches_filter(&c, f)? {
                keep.push(c);
            }
        }
        list = keep;
    }
    if a.latest {
        list.truncate(1);
    }
    if let Some(n) = a.last {
        list.truncate(n);
    }
    let rows: Vec<Row> = list
        .iter()
        .map(|c| {
            let mut r = Row::new();
            r.insert("ID", if a.no_trunc { c.id.clone() } else { c.id[..12].to_string() });
            r.insert("Image", c.config.image.clone());
            let cmd = shell_join(&c.config.args);
            r.insert("Command", if a.no_trunc { format!("\"{cmd}\"") } else { format!("\"{}\"", truncate(&cmd, 20)) });
            r.insert("CreatedAt", runtime::state::rfc3339(c.created as u64));
            r.insert("RunningFor", format!("{} ago", human_duration(now - c.created)));
            r.insert("Status", status_text(c, now));
            r.insert("State", c.state.status.to_string());
            r.insert("Ports", ports_text(c));
            r.insert("Names", c.name.clone());
            r.insert("Labels", c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
            r.insert(
                "Networks",
                match &c.config.network {
                    Some(NetworkMode::Networks(l)) => {
                        l.iter().map(|n| n.network.as_str()).collect::<Vec<_>>().join(",")
                    }
                    Some(NetworkMode::Host) => "host".into(),
                    Some(NetworkMode::None) => "none".into(),
                    _ => String::new(),
                },
            );
            r
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in &rows {
            writeln!(out, "{}", r["ID"])?;
        }
        return Ok(0);
    }
    let fmt = a.format.clone().unwrap_or_else(|| {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".into()
    });
    let text =
        format::render(&fmt, &rows, &[("ID", "CONTAINER ID"), ("RunningFor", "CREATED"), ("CreatedAt", "CREATED AT")])
            .map_err(|e| anyhow!(e))?;
    if !text.is_empty() {
        writeln!(out, "{text}")?;
    }
    Ok(0)
}

fn shell_join(args: &[String]) -> String {
    args.join(" ")
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        s.chars().take(n - 1).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

fn exec(e: &mut Engine, a: ExecArgs) -> Result<u8> {
    use std::os::fd::AsRawFd;
    let null = std::fs::File::open("/dev/null")?;
    let stdin = if a.interactive || a.tty { 0 } else { null.as_raw_fd() };
    let req = engine::ExecRequest {
        args: a.command.clone(),
        env: a.env.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty: a.tty,
        detach: a.detach,
        stdio: if a.tty { None } else { Some([stdin, 1, 2]) },
    };
    match e.exec(&a.container, &req) {
        Ok(runtime::ExecOutcome::Exited(code)) => Ok(code.clamp(0, 255) as u8),
        Ok(runtime::ExecOutcome::Detached(_)) => Ok(0),
        Err(err) => program_error(err),
    }
}

fn logs(e: &Engine, a: LogsArgs) -> Result<u8> {
    let c = e.container(&a.container)?;
    let tail = if a.tail == "all" {
        None
    } else {
        Some(a.tail.parse::<usize>().map_err(|_| anyhow!("invalid --tail {:?}", a.tail))?)
    };
    let since = a.since.as_deref().map(parse_time).transpose()?;
    let until = a.until.as_deref().map(parse_time).transpose()?;
    engine::logs::check_readable(&c.config.log)?;
    let opts = engine::logs::ReadOptions { tail, since, until, stdout: true, stderr: true };
    let id = c.id.clone();
    let mut keep_going = || {
        e.container(&id)
            .map(|c| matches!(c.state.status, Status::Running | Status::Restarting | Status::Paused))
            .unwrap_or(false)
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    engine::logs::read(&e.log_path(&c.id), &opts, a.follow, &mut keep_going, &mut |entry| {
        let text = if a.timestamps { format!("{} {}", entry.time, entry.log) } else { entry.log.clone() };
        if entry.stream == "stderr" {
            let mut s = stderr.lock();
            s.write_all(text.as_bytes())?;
            s.flush()
        } else {
            let mut s = stdout.lock();
            s.write_all(text.as_bytes())?;
            s.flush()
        }
    })?;
    Ok(0)
}

/// An RFC 3339 time, or a duration before now ("10m", "1h30m").
fn parse_time(s: &str) -> Result<String> {
    if format::parse_rfc3339(s).is_some() {
        return Ok(s.to_string());
    }
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(runtime::state::rfc3339(secs.max(0) as u64));
    }
    let back = parse_duration(s)?;
    Ok(runtime::state::rfc3339((format::now_secs() as f64 - back).max(0.0) as u64))
}

/// `inspect`: a container by that name, else (like docker's untyped
/// `inspect`) an image, a network or a volume.
fn inspect(e: &mut Engine, names: &[String], fmt: Option<&str>) -> Result<u8> {
    let mut docs = Vec::new();
    let mut failed = false;
    for n in names {
        let doc = match e.container(n) {
            Ok(c) => Some(engine::inspect::container(e, &c)),
            Err(engine::Error::NoSuchContainer(_)) => {
                if let Ok(rec) = e.images().resolve(n) {
                    Some(engine::images::inspect(e.images(), &rec)?)
                } else if let Ok(net) = e.network(n) {
                    Some(engine::inspect::network(&net, &e.containers()?))
                } else {
                    e.volume(n).ok().map(|v| engine::inspect::volume(&v))
                }
            }
            Err(err) => return Err(err.into()),
        };
        match doc {
            Some(d) => docs.push(d),
            None => {
                eprintln!("Error: No such object: {n}");
                failed = true;
            }
        }
    }
    super::template::print_inspect(fmt, &docs)?;
    Ok(u8::from(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_ports_expand_ranges() {
        assert_eq!(
            expose_list(&["80".into(), "53/udp".into(), "8000-8001".into()]).unwrap(),
            ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]
        );
        assert!(expose_list(&["x".into()]).is_err());
        assert!(expose_list(&["9-8".into()]).is_err());
        assert!(expose_list(&["80/ip".into()]).is_err());
    }

    #[test]
    fn sizes_and_durations_parse_like_docker() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_duration("1m30s").unwrap(), 90.0);
        assert_eq!(parse_duration("500ms").unwrap(), 0.5);
        assert!(parse_duration("5").is_err());
    }
}
