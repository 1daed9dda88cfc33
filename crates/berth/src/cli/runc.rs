//! `berth runtime …`: runc's command line over the runtime crate, so berth and
//! runc can be driven the same way on the same bundle.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use runtime::oci_spec::runtime::{Capability, Process};
use runtime::{CreateOptions, ExecOptions, ExecOutcome, Runtime, Status};

#[derive(Args, Debug)]
pub struct RuntimeArgs {
    /// Directory for container state.
    #[arg(long, global = true, default_value = "/run/berth/runtime")]
    root: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Path to the bundle (the directory holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Pass N extra fds (3 .. 3+N) to the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    container_id: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container from a bundle; its process waits for `start`.
    Create(CreateArgs),
    /// Start a created container.
    Start { container_id: String },
    /// Print a container's state as OCI state JSON.
    State { container_id: String },
    /// Send a signal (default SIGTERM) to a container's init.
    Kill {
        container_id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container (a running one only with --force).
    Delete {
        container_id: String,
        #[arg(short, long)]
        force: bool,
    },
    /// Create and start a container; wait for it unless --detach.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container has started.
        #[arg(short, long)]
        detach: bool,
    },
    /// Run another process in a running container.
    Exec(ExecArgs),
    /// List containers.
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json (the same hardened defaults as `runc spec`).
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// The command the container runs.
        #[arg(long, num_args = 1.., allow_hyphen_values = true, default_values_t = ["sh".to_string()])]
        args: Vec<String>,
        /// Run without a terminal.
        #[arg(long)]
        no_terminal: bool,
        /// Include berth's default seccomp profile (equivalent to Docker's).
        #[arg(long)]
        seccomp: bool,
    },
    /// Freeze every process of a container.
    Pause { container_id: String },
    /// Thaw a paused container.
    Resume { container_id: String },
    /// List the processes of a container.
    Ps { container_id: String },
    /// Print a container's resource usage as JSON.
    Stats { container_id: String },
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// A process.json to run instead of the arguments.
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    tty: bool,
    #[arg(long)]
    console_socket: Option<PathBuf>,
    #[arg(long)]
    pid_file: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    /// Working directory inside the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Extra environment (KEY=VALUE), repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Extra supplementary gids, repeatable.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// Add a capability (CAP_NAME), repeatable.
    #[arg(short, long)]
    cap: Vec<String>,
    #[arg(long)]
    no_new_privs: bool,
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    container_id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(args: RuntimeArgs) -> Result<u8> {
    let rt = Runtime::new(&args.root);
    match args.command {
        Cmd::Create(c) => {
            rt.create(&create_options(c))?;
            Ok(0)
        }
        Cmd::Start { container_id } => {
            rt.start(&container_id)?;
            Ok(0)
        }
        Cmd::State { container_id } => {
            println!("{}", rt.state_json(&container_id)?);
            Ok(0)
        }
        Cmd::Kill { container_id, signal, all } => {
            rt.kill(&container_id, sys::signal::parse(&signal)?, all)?;
            Ok(0)
        }
        Cmd::Delete { container_id, force } => {
            rt.delete(&container_id, force)?;
            Ok(0)
        }
        Cmd::Run { create, detach } => {
            let running = rt.run(&create_options(create))?;
            if detach {
                running.detach();
                return Ok(0);
            }
            let code = running.wait()?;
            Ok(code.clamp(0, 255) as u8)
        }
        Cmd::Exec(e) => exec(&rt, e),
        Cmd::List { format, quiet } => list(&rt, format, quiet),
        Cmd::Spec { bundle, args, no_terminal, seccomp } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{} already exists", path.display());
            }
            let mut spec = runtime::default_spec::default_spec(&args, !no_terminal);
            if seccomp {
                runtime::default_spec::add_default_seccomp(&mut spec);
            }
            let json = serde_json::to_string_pretty(&spec)?;
            std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            Ok(0)
        }
        Cmd::Pause { container_id } => {
            rt.pause(&container_id)?;
            Ok(0)
        }
        Cmd::Resume { container_id } => {
            rt.resume(&container_id)?;
            Ok(0)
        }
        Cmd::Ps { container_id } => {
            let (rec, _) = rt.state(&container_id)?;
            let cg = runtime_cgroup(&rec)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "PID")?;
            for pid in cg.procs()? {
                writeln!(out, "{pid}")?;
            }
            Ok(0)
        }
        Cmd::Stats { container_id } => {
            let s = rt.stats(&container_id)?;
            let doc = serde_json::json!({
                "id": container_id,
                "memory": {"usage": s.memory.usage, "limit": s.memory.limit, "max_usage": s.memory.max_usage,
                           "cache": s.memory.cache, "oom_kills": s.memory.oom_kill},
                "cpu": {"usage_ns": s.cpu.usage_ns, "user_ns": s.cpu.user_ns, "system_ns": s.cpu.system_ns,
                        "throttled_ns": s.cpu.throttled_ns},
                "pids": {"current": s.pids.current, "limit": s.pids.limit},
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(0)
        }
    }
}

fn runtime_cgroup(rec: &runtime::Record) -> Result<Box<dyn runtime::cgroups::CgroupManager>> {
    let layout = runtime::cgroups::Layout::detect()?;
    Ok(runtime::cgroups::manager(&layout, &rec.cgroup_path))
}

fn create_options(c: CreateArgs) -> CreateOptions {
    CreateOptions {
        id: c.container_id,
        bundle: c.bundle,
        console_socket: c.console_socket,
        pid_file: c.pid_file,
        preserve_fds: c.preserve_fds,
        ..Default::default()
    }
}

fn exec(rt: &Runtime, e: ExecArgs) -> Result<u8> {
    let process = match &e.process {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            runtime::spec::parse::<Process>(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => {
            if e.command.is_empty() {
                bail!("exec needs a command or --process");
            }
            // runc's default: the container's own process, with the new args.
            let spec = runtime::spec::load(&rt.store().dir(&e.container_id).join(runtime::state::CONFIG_FILE))
                .map_err(|err| match err {
                    runtime::Error::Config { .. } => anyhow!(runtime::Error::NotFound(e.container_id.clone())),
                    other => anyhow!(other),
                })?;
            let mut p = spec.process().clone().unwrap_or_default();
            p.set_args(Some(e.command.clone()));
            p.set_terminal(Some(e.tty));
            p.set_console_size(None);
            if let Some(cwd) = &e.cwd {
                p.set_cwd(cwd.clone());
            }
            let mut env = p.env().clone().unwrap_or_default();
            env.extend(e.env.iter().cloned());
            p.set_env(Some(env));
            if let Some(u) = &e.user {
                let (uid, gid) = parse_user(u)?;
                p.user_mut().set_uid(uid);
                p.user_mut().set_gid(gid);
            }
            if !e.additional_gids.is_empty() {
                p.user_mut().set_additional_gids(Some(e.additional_gids.clone()));
            }
            if e.no_new_privs {
                p.set_no_new_privileges(Some(true));
            }
            if !e.cap.is_empty() {
                let mut caps = p.capabilities().clone().unwrap_or_default();
                for c in &e.cap {
                    let name = c.strip_prefix("CAP_").unwrap_or(c);
                    let cap: Capability = name.parse().map_err(|_| anyhow!("--cap: unknown capability {c:?}"))?;
                    let add = |s: &Option<runtime::oci_spec::runtime::Capabilities>| {
                        let mut s = s.clone().unwrap_or_default();
                        s.insert(cap);
                        Some(s)
                    };
                    caps.set_bounding(add(caps.bounding()));
                    caps.set_effective(add(caps.effective()));
                    caps.set_permitted(add(caps.permitted()));
                }
                p.set_capabilities(Some(caps));
            }
            p
        }
    };
    let opts = ExecOptions {
        process,
        console_socket: e.console_socket,
        pid_file: e.pid_file,
        detach: e.detach,
        preserve_fds: e.preserve_fds,
        stdio: None,
    };
    match rt.exec(&e.container_id, &opts)? {
        ExecOutcome::Exited(code) => Ok(code.clamp(0, 255) as u8),
        ExecOutcome::Detached(_) => Ok(0),
    }
}

fn parse_user(u: &str) -> Result<(u32, u32)> {
    let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
    let uid = uid.parse().map_err(|_| anyhow!("--user: {uid:?} is not a numeric uid"))?;
    let gid = gid.parse().map_err(|_| anyhow!("--user: {gid:?} is not a numeric gid"))?;
    Ok((uid, gid))
}

fn list(rt: &Runtime, format: Format, quiet: bool) -> Result<u8> {
    let all = rt.list()?;
    let mut out = std::io::stdout().lock();
    if quiet {
        for (rec, _) in &all {
            writeln!(out, "{}", rec.id)?;
        }
        return Ok(0);
    }
    match format {
        Format::Json => {
            let docs: Vec<_> = all
                .iter()
                .map(|(rec, status)| {
                    serde_json::json!({
                        "ociVersion": runtime::state::OCI_VERSION, "id": rec.id,
                        "pid": if *status == Status::Stopped { 0 } else { rec.pid },
                        "status": status.to_string(), "bundle": rec.bundle,
                        "created": runtime::state::rfc3339(rec.created), "owner": rec.owner,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string(&docs)?)?;
        }
        Format::Table => {
            writeln!(out, "{:<20} {:<8} {:<10} {:<40} {:<22} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED")?;
            for (rec, status) in &all {
                let pid = if *status == Status::Stopped { 0 } else { rec.pid };
                writeln!(
                    out,
                    "{:<20} {:<8} {:<10} {:<40} {:<22} {}",
                    rec.id,
                    pid,
                    status,
                    rec.bundle.display(),
                    runtime::state::rfc3339(rec.created),
                    rec.owner
                )?;
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse() {
        assert_eq!(parse_user("1000:100").unwrap(), (1000, 100));
        assert_eq!(parse_user("7").unwrap(), (7, 0));
        assert!(parse_user("bob").is_err());
    }
}
