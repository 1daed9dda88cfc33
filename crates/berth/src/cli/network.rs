//! `berth network …` and `berth volume …`: docker's commands for the
//! engine's networks and named volumes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use engine::Engine;

use super::container::open_engine;
use super::format::{self, Row};

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network.
    Create {
        /// Driver to manage the network (only "bridge").
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR format.
        #[arg(long)]
        subnet: Option<String>,
        /// Gateway for the subnet.
        #[arg(long)]
        gateway: Option<String>,
        /// Restrict external access to the network.
        #[arg(long)]
        internal: bool,
        #[arg(long = "label")]
        labels: Vec<String>,
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
        #[arg(short, long)]
        filter: Vec<String>,
        #[arg(long)]
        no_trunc: bool,
    },
    /// Display detailed information on networks.
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks.
    #[command(alias = "remove")]
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Connect a container to a network.
    Connect {
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// IPv4 address (e.g., 172.30.100.104).
        #[arg(long)]
        ip: Option<String>,
        /// IPv6 address (e.g., 2001:db8::33).
        #[arg(long)]
        ip6: Option<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
    /// Remove all unused networks.
    Prune {
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume.
    Create {
        #[arg(short, long, default_value = "local")]
        driver: String,
        #[arg(long = "label")]
        labels: Vec<String>,
        name: Option<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        format: Option<String>,
        #[arg(short, long)]
        filter: Vec<String>,
    },
    /// Display detailed information on volumes.
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove volumes.
    #[command(alias = "remove")]
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        volumes: Vec<String>,
    },
    /// Remove unused volumes (anonymous ones unless --all).
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
}

pub fn parse_labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// Prints inspect documents, or each rendered through `--format`; exit 1
/// (after printing the others) when one was not found, like docker.
fn print_inspect(docs: Vec<Result<serde_json::Value>>, fmt: Option<&str>) -> Result<u8> {
    let mut found = Vec::new();
    let mut failed = false;
    for d in docs {
        match d {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed = true;
            }
        }
    }
    super::template::print_inspect(fmt, &found)?;
    Ok(u8::from(failed))
}

fn print_rows(
    rows: &[Row],
    quiet_key: Option<&str>,
    fmt: Option<&str>,
    default: &str,
    headers: &[(&str, &str)],
) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    if let Some(k) = quiet_key {
        for r in rows {
            writeln!(out, "{}", r[k])?;
        }
        return Ok(0);
    }
    let text = format::render(fmt.unwrap_or(default), rows, headers).map_err(|e| anyhow!(e))?;
    if !text.is_empty() {
        writeln!(out, "{text}")?;
    }
    Ok(0)
}

fn label_filter(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    }
}

pub fn network(root: &Path, cmd: NetworkCmd) -> Result<u8> {
    let mut e = open_engine(root)?;
    match cmd {
        NetworkCmd::Create { driver, subnet, gateway, internal, labels, name } => {
            if driver != "bridge" {
                bail!("plugin \"{driver}\" not found: only the bridge driver is supported");
            }
            let n = e.network_create(&name, subnet.as_deref(), gateway.as_deref(), internal, parse_labels(&labels))?;
            println!("{}", n.id);
            Ok(0)
        }
        NetworkCmd::Ls { quiet, format, filter, no_trunc } => {
            let mut list = e.networks()?;
            for f in &filter {
                let (k, v) =
                    f.split_once('=').ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
                list.retain(|n| match k {
                    "name" => n.name.contains(v),
                    "id" => n.id.starts_with(v),
                    "driver" => n.driver == v,
                    "label" => label_filter(&n.labels, v),
                    "type" => (v == "builtin") == matches!(n.name.as_str(), "bridge" | "host" | "none"),
                    _ => false,
                });
                if !matches!(k, "name" | "id" | "driver" | "label" | "type") {
                    bail!("invalid filter '{k}'");
                }
            }
            let rows: Vec<Row> = list
                .iter()
                .map(|n| {
                    let mut r = Row::new();
                    r.insert("ID", if no_trunc { n.id.clone() } else { n.id[..12].to_string() });
                    r.insert("Name", n.name.clone());
                    r.insert("Driver", n.driver.clone());
                    r.insert("Scope", "local".into());
                    r.insert("Internal", n.internal.to_string());
                    r.insert("CreatedAt", n.created.clone());
                    r.insert("Labels", n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
                    r
                })
                .collect();
            print_rows(
                &rows,
                quiet.then_some("ID"),
                format.as_deref(),
                "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                &[("ID", "NETWORK ID")],
            )
        }
        NetworkCmd::Inspect { format, networks } => {
            let containers = e.containers()?;
            let docs = networks
                .iter()
                .map(|n| {
                    Ok(engine::inspect::network(
                        &e.network(n).map_err(|_| anyhow!("network {n} not found"))?,
                        &containers,
                    ))
                })
                .collect();
            print_inspect(docs, format.as_deref())
        }
        NetworkCmd::Rm { force, networks } => {
            let mut failed = false;
            for n in &networks {
                match e.network_remove(n) {
                    Ok(()) => println!("{n}"),
                    Err(engine::Error::NoSuchNetwork(_)) if force => {}
                    Err(err) => {
                        eprintln!("Error response from daemon: {err}");
                        failed = true;
                    }
                }
            }
            Ok(u8::from(failed))
        }
        NetworkCmd::Connect { aliases, ip, ip6, network, container } => {
            let endpoint = engine::model::NetworkAttachment {
                network: network.clone(),
                aliases,
                ipv4_address: ip,
                ipv6_address: ip6,
                ..Default::default()
            };
            e.network_connect(&network, &container, &endpoint)?;
            Ok(0)
        }
        NetworkCmd::Disconnect { force: _, network, container } => {
            e.network_disconnect(&network, &container)?;
            Ok(0)
        }
        NetworkCmd::Prune { force: _ } => {
            let removed = e.network_prune()?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in &removed {
                    println!("{n}");
                }
            }
            Ok(0)
        }
    }
}

pub fn volume(root: &Path, cmd: VolumeCmd) -> Result<u8> {
    let mut e: Engine = open_engine(root)?;
    match cmd {
        VolumeCmd::Create { driver, labels, name } => {
            if driver != "local" {
                bail!("plugin \"{driver}\" not found: only the local driver is supported");
            }
            let name = name.unwrap_or_else(engine::names::new_id);
            let (v, _) = e.volume_create(&name, parse_labels(&labels), false)?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCmd::Ls { quiet, format, filter } => {
            let mut list = e.volumes()?;
            for f in &filter {
                let (k, v) =
                    f.split_once('=').ok_or_else(|| anyhow!("bad format of filter (expected name=value): {f}"))?;
                match k {
                    "name" => list.retain(|x| x.name.contains(v)),
                    "label" => list.retain(|x| label_filter(&x.labels, v)),
                    "driver" => list.retain(|x| x.driver == v),
                    "dangling" => {
                        let want = matches!(v, "true" | "1");
                        let mut keep = Vec::new();
                        for x in list {
                            if e.volume_users(&x.name)?.is_empty() == want {
                                keep.push(x);
                            }
                        }
                        list = keep;
                    }
                    _ => bail!("invalid filter '{k}'"),
                }
            }
            let rows: Vec<Row> = list
                .iter()
                .map(|v| {
                    let mut r = Row::new();
                    r.insert("Name", v.name.clone());
                    r.insert("Driver", v.driver.clone());
                    r.insert("Mountpoint", v.mountpoint.display().to_string());
                    r.insert("Scope", "local".into());
                    r.insert("CreatedAt", v.created_at.clone());
                    r.insert("Labels", v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
                    r
                })
                .collect();
            print_rows(
                &rows,
                quiet.then_some("Name"),
                format.as_deref(),
                "table {{.Driver}}\t{{.Name}}",
                &[("Name", "VOLUME NAME")],
            )
        }
        VolumeCmd::Inspect { format, volumes } => {
            let docs = volumes.iter().map(|v| Ok(engine::inspect::volume(&e.volume(v)?))).collect();
            print_inspect(docs, format.as_deref())
        }
        VolumeCmd::Rm { force, volumes } => {
            let mut failed = false;
            for v in &volumes {
                match e.volume_remove(v, force) {
                    Ok(()) => println!("{v}"),
                    Err(err) => {
                        eprintln!("Error response from daemon: {err}");
                        failed = true;
                    }
                }
            }
            Ok(u8::from(failed))
        }
        VolumeCmd::Prune { all, force: _ } => {
            let (removed, _) = e.volume_prune(all, &|_| true)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                for v in &removed {
                    println!("{v}");
                }
                println!();
            }
            Ok(0)
        }
    }
}
