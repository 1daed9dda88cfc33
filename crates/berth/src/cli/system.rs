//! `system df`, `system prune`, `system service`, `system reset` and `events`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};

use super::container::open_engine;
use super::format;

#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show disk usage.
    Df {
        #[arg(short, long)]
        verbose: bool,
    },
    /// Remove stopped containers, unused networks, dangling images (and
    /// with --volumes, unused anonymous volumes).
    Prune {
        /// Remove every image no container uses, not just dangling ones.
        #[arg(short, long)]
        all: bool,
        #[arg(long)]
        volumes: bool,
        #[arg(short, long)]
        force: bool,
    },
    /// Get real time events.
    Events(EventsArgs),
    /// Display system-wide information.
    Info(super::info::FormatArg),
    /// Serve the Docker Engine API (for the docker CLI, SDKs and compose).
    Service(ServiceArgs),
    /// Remove every container, network, volume and image, the default
    /// bridge and berth's firewall table, then the state directory itself.
    Reset {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
pub struct ServiceArgs {
    /// Where to listen: unix:///PATH or tcp://HOST:PORT.
    #[arg(default_value = dockerapi::listen::DEFAULT_URI)]
    uri: String,
    /// TLS certificate for tcp:// (PEM).
    #[arg(long)]
    tlscert: Option<PathBuf>,
    /// TLS key for tcp:// (PEM).
    #[arg(long)]
    tlskey: Option<PathBuf>,
    /// CA whose client certificates are accepted on tcp:// (PEM).
    #[arg(long)]
    tlscacert: Option<PathBuf>,
    /// Serve tcp:// without TLS: anyone who reaches the port controls the host.
    #[arg(long)]
    insecure_tcp: bool,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show events created since this time (RFC 3339, Unix seconds, or relative like 10m).
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this time; without it, follow forever.
    #[arg(long)]
    until: Option<String>,
    /// Filter output based on conditions (type=, event=, container=, network=, volume=, label=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ("json" for one JSON document per line).
    #[arg(long)]
    format: Option<String>,
}

pub fn run(root: &Path, cmd: SystemCmd) -> Result<u8> {
    match cmd {
        SystemCmd::Df { verbose } => df(root, verbose),
        SystemCmd::Prune { all, volumes, force: _ } => prune(root, all, volumes),
        SystemCmd::Events(a) => events(root, a),
        SystemCmd::Info(a) => super::info::info(root, a),
        SystemCmd::Reset { force } => reset(root, force),
        SystemCmd::Service(a) => service(root, a),
    }
}

fn reset(root: &Path, force: bool) -> Result<u8> {
    if !force {
        eprint!(
            "WARNING! This removes every container, network, volume and image in {}. Continue? [y/N] ",
            root.display()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(1);
        }
    }
    if !root.join("engine.db").exists() && !root.join("images").exists() {
        return Ok(0);
    }
    let mut e = open_engine(root)?;
    let failures = e.reset();
    drop(e);
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("{f}");
        }
        anyhow::bail!("reset incomplete: {} left in place", root.display());
    }
    // Nothing may still be mounted below the root before it goes.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let canonical = std::fs::canonicalize(root)?;
    if let Some(m) = mounts.lines().filter_map(|l| l.split(' ').nth(4)).find(|m| Path::new(m).starts_with(&canonical)) {
        anyhow::bail!("{m} is still mounted: not removing {}", root.display());
    }
    std::fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    Ok(0)
}

fn df(root: &Path, verbose: bool) -> Result<u8> {
    let e = open_engine(root)?;
    let usage = e.disk_usage()?;
    let pct = |part: u64, whole: u64| (part * 100).checked_div(whole).unwrap_or(0);
    let rows = [
        ("Images", usage.images_summary()),
        ("Containers", usage.containers_summary()),
        ("Local Volumes", usage.volumes_summary()),
        ("Build Cache", usage.build_cache_summary()),
        // Left by pulls (and loads, builds) that were killed; swept by
        // `image prune` and `system prune`, resumed by the next pull.
        ("Incomplete Pulls", usage.incomplete_summary()),
    ];
    let mut lines = vec!["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string()];
    for (kind, s) in rows {
        lines.push(format!(
            "{kind}\t{}\t{}\t{}\t{} ({}%)",
            s.total,
            s.active,
            format::human_size(s.size),
            format::human_size(s.reclaimable),
            pct(s.reclaimable, s.size)
        ));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", format::align(&lines))?;
    if verbose {
        let mut c_lines = vec!["CONTAINER ID\tIMAGE\tSIZE\tSTATUS\tNAMES".to_string()];
        let now = format::now_secs();
        for u in &usage.containers {
            let c = &u.container;
            c_lines.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                &c.id[..12.min(c.id.len())],
                c.config.image,
                format::human_size(u.size_rw),
                super::container::status_text(c, now),
                c.name
            ));
        }
        let mut v_lines = vec!["VOLUME NAME\tLINKS\tSIZE".to_string()];
        for v in &usage.volumes {
            v_lines.push(format!("{}\t{}\t{}", v.volume.name, v.users, format::human_size(v.size)));
        }
        writeln!(out, "\nContainers space usage:\n\n{}", format::align(&c_lines))?;
        writeln!(out, "\nLocal Volumes space usage:\n\n{}", format::align(&v_lines))?;
        if !usage.incomplete.is_empty() {
            let mut i_lines = vec!["PATH\tSIZE\tIN PROGRESS".to_string()];
            for i in &usage.incomplete {
                i_lines.push(format!("{}\t{}\t{}", i.path.display(), format::human_size(i.size), i.held));
            }
            writeln!(out, "\nIncomplete pulls:\n\n{}", format::align(&i_lines))?;
        }
    }
    Ok(0)
}

fn prune(root: &Path, all: bool, volumes: bool) -> Result<u8> {
    let mut e = open_engine(root)?;
    let removed = e.prune()?;
    println!("Deleted Containers:");
    for (id, _) in &removed {
        println!("{id}");
    }
    println!("\nDeleted Networks:");
    for n in e.network_prune()? {
        println!("{n}");
    }
    if volumes {
        println!("\nDeleted Volumes:");
        for v in e.volume_prune(false, &|_| true)?.0 {
            println!("{v}");
        }
    }
    println!();
    drop(e);
    super::images::run(root, super::images::ImageCmd::Prune { all, force: true })
}

/// `events`: past events since `--since`, then new ones as they happen
/// (until `--until`, or forever).
pub fn events(root: &Path, a: EventsArgs) -> Result<u8> {
    let e = open_engine(root)?;
    let mut filter = engine::events::Filter::default();
    for f in &a.filter {
        filter.add(f)?;
    }
    let now = now_nanos();
    let since_nano = a.since.as_deref().map(|s| parse_time(s, now)).transpose()?;
    let until_nano = a.until.as_deref().map(|s| parse_time(s, now)).transpose()?;
    let mut seq = if since_nano.is_some() { 0 } else { e.last_event_seq()? };
    let since_nano = since_nano.unwrap_or(0);
    let mut out = std::io::stdout().lock();
    loop {
        for ev in e.events_since(seq)? {
            seq = ev.seq;
            if ev.time_nano < since_nano || !filter.matches(&ev) {
                continue;
            }
            if until_nano.is_some_and(|u| ev.time_nano > u) {
                return Ok(0);
            }
            writeln!(out, "{}", render_event(&ev, a.format.as_deref())?)?;
        }
        out.flush()?;
        if until_nano.is_some_and(|u| now_nanos() > u) {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn render_event(ev: &engine::events::Event, fmt: Option<&str>) -> Result<String> {
    let secs = ev.time_nano / 1_000_000_000;
    let time =
        format!("{}.{:09}Z", runtime::state::rfc3339(secs as u64).trim_end_matches('Z'), ev.time_nano % 1_000_000_000);
    let doc = serde_json::json!({
        "status": ev.action,
        "id": ev.actor,
        "Type": ev.kind,
        "Action": ev.action,
        "Actor": {"ID": ev.actor, "Attributes": ev.attributes},
        "scope": "local",
        "time": secs,
        "timeNano": ev.time_nano,
    });
    match fmt {
        Some("json") | Some("{{json .}}") => Ok(serde_json::to_string(&doc)?),
        Some(f) => super::template::render(f, &doc),
        None => {
            let attrs = ev.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            Ok(format!("{time} {} {} {} ({attrs})", ev.kind, ev.action, ev.actor))
        }
    }
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Docker's time arguments, as nanoseconds since the epoch: RFC 3339, Unix
/// seconds (with a fraction), or a duration back from `now`.
fn parse_time(s: &str, now: i64) -> Result<i64> {
    if let Some(t) = format::parse_rfc3339(s) {
        return Ok(t * 1_000_000_000);
    }
    if let Ok(n) = s.parse::<f64>() {
        return Ok((n * 1e9) as i64);
    }
    let back = super::container::parse_duration(s).map_err(|_| {
        anyhow!("invalid time {s:?}: use RFC 3339 (2006-01-02T15:04:05Z), Unix seconds or a duration like 10m")
    })?;
    Ok(now - (back * 1e9) as i64)
}

fn service(root: &Path, a: ServiceArgs) -> Result<u8> {
    let endpoint = dockerapi::Endpoint::parse(&a.uri).map_err(|e| anyhow!(e))?;
    let tls = match (a.tlscert, a.tlskey, a.tlscacert) {
        (Some(cert), Some(key), Some(client_ca)) => Some(dockerapi::TlsFiles { cert, key, client_ca }),
        (None, None, None) => None,
        _ => bail!("TLS needs all of --tlscert, --tlskey and --tlscacert"),
    };
    if tls.is_some() && matches!(endpoint, dockerapi::Endpoint::Unix(_)) {
        bail!("TLS is for tcp:// endpoints; a unix socket is protected by its permissions");
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let exe = std::env::current_exe().context("finding the berth binary")?;
    let opts = dockerapi::Options { root: root.to_path_buf(), exe, endpoint, tls, insecure_tcp: a.insecure_tcp };
    dockerapi::serve(opts, |at| eprintln!("berth: serving the Docker API on {at}")).map_err(|e| anyhow!(e))?;
    Ok(0)
}
