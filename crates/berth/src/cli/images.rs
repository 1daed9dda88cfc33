//! Image commands: pull, push, tag, images, rmi, image inspect/history/prune,
//! save, load, import, login, logout — docker's names, flags and output.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use engine::images::Removed;
use image::manifest::Platform;
use image::registry::{self, Credentials, RegistryOptions};
use image::{ImageRecord, ImageStore, Reference};

use super::format::{self, Row};
use super::progress::Display;

#[derive(Args, Debug, Clone, Default)]
pub struct RegistryFlags {
    /// Use plain HTTP (or skip certificate checks) for this registry.
    #[arg(long)]
    insecure: bool,
    /// podman's spelling of --insecure.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    tls_verify: Option<bool>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    image: String,
    /// os/arch[/variant] to pull from a multi-platform image.
    #[arg(long)]
    platform: Option<String>,
    /// No progress output.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryFlags,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    image: String,
    #[arg(short, long)]
    quiet: bool,
    /// Upload layers in chunks of this many bytes (PATCH), not one request.
    #[arg(long)]
    chunk_size: Option<u64>,
    #[command(flatten)]
    registry: RegistryFlags,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only images of this repository (or repository:tag).
    reference: Option<String>,
    #[arg(short, long)]
    quiet: bool,
    #[arg(long)]
    digests: bool,
    /// Go-template-style format, e.g. "{{.Repository}}:{{.Tag}}" or "table …".
    #[arg(long)]
    format: Option<String>,
    /// Show untagged images too (they are always shown; accepted for docker compatibility).
    #[arg(short, long)]
    all: bool,
    #[arg(long)]
    no_trunc: bool,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[arg(required = true)]
    images: Vec<String>,
    #[arg(short, long)]
    force: bool,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    #[arg(required = true)]
    images: Vec<String>,
    /// Write to a file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// docker (docker-archive, default) or oci (OCI layout).
    #[arg(long, default_value = "docker")]
    format: String,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from a file instead of stdin.
    #[arg(short, long)]
    input: Option<PathBuf>,
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A rootfs tarball, or - for stdin.
    file: String,
    reference: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL).
    #[arg(short, long)]
    change: Vec<String>,
    #[arg(short, long)]
    message: Option<String>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    server: Option<String>,
    #[arg(short, long)]
    username: Option<String>,
    #[arg(short, long)]
    password: Option<String>,
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    registry: RegistryFlags,
}

#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// Pull an image from a registry.
    Pull(PullArgs),
    /// Push an image to a registry.
    Push(PushArgs),
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove images.
    Rm(RmiArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag {
        source: String,
        target: String,
    },
    /// Detailed information on images, as JSON.
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
        #[arg(short, long)]
        format: Option<String>,
    },
    /// The history of an image.
    History {
        image: String,
        #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
        human: bool,
        #[arg(long)]
        no_trunc: bool,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove unused images and blobs.
    Prune {
        /// Remove all images without a tag... and, with -a, every image no container uses.
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
    Save(SaveArgs),
    Load(LoadArgs),
    Import(ImportArgs),
}

fn registry_options(flags: &RegistryFlags) -> RegistryOptions {
    engine::pull::registry_options(flags.insecure || flags.tls_verify == Some(false))
}

pub fn run(root: &Path, cmd: ImageCmd) -> Result<u8> {
    let store = ImageStore::open(root).with_context(|| format!("opening the image store in {}", root.display()))?;
    match cmd {
        ImageCmd::Pull(a) => pull(&store, a),
        ImageCmd::Push(a) => push(&store, a),
        ImageCmd::Ls(a) => images(&store, a),
        ImageCmd::Rm(a) => rmi(root, &store, a),
        ImageCmd::Tag { source, target } => {
            let target: Reference = target.parse()?;
            store.tag(&source, &target)?;
            Ok(0)
        }
        ImageCmd::Inspect { images, format } => inspect(&store, &images, format.as_deref()),
        ImageCmd::History { image, human, no_trunc, quiet } => history(&store, &image, human, no_trunc, quiet),
        ImageCmd::Prune { all, force: _ } => prune(&store, all),
        ImageCmd::Save(a) => save(&store, a),
        ImageCmd::Load(a) => load(&store, a),
        ImageCmd::Import(a) => import(&store, a),
    }
}

fn pull(store: &ImageStore, a: PullArgs) -> Result<u8> {
    let reference: Reference = a.image.parse()?;
    let platform = match &a.platform {
        Some(p) => Platform::parse(p).map_err(|e| anyhow!(e))?,
        None => Platform::host(),
    };
    let display = Display::new(a.quiet);
    let opts = image::pull::PullOptions {
        platform,
        registry: engine::pull::with_stored_credentials(registry_options(&a.registry), &reference.registry)?,
        progress: &display,
        concurrency: 3,
    };
    let pulled = image::pull::pull(store, &reference, &opts)?;
    if a.quiet {
        println!("{}", reference.full());
    } else {
        let status = if pulled.downloaded { "Downloaded newer image for" } else { "Image is up to date for" };
        println!("Status: {status} {reference}");
        println!("{}", reference.full());
    }
    Ok(0)
}

fn push(store: &ImageStore, a: PushArgs) -> Result<u8> {
    let target: Reference = a.image.parse()?;
    let display = Display::new(a.quiet);
    let opts = image::push::PushOptions {
        registry: engine::pull::with_stored_credentials(registry_options(&a.registry), &target.registry)?,
        progress: &display,
        chunk_size: a.chunk_size,
        concurrency: 5,
    };
    image::push::push(store, &a.image, &target, &opts)?;
    Ok(0)
}

/// One row per tag (and one for an untagged image), newest first.
fn image_rows(store: &ImageStore, filter: Option<&str>, no_trunc: bool) -> Result<Vec<(Row, ImageRecord)>> {
    let filter: Option<Reference> = filter.map(|f| f.parse()).transpose()?;
    let explicit_tag =
        filter.as_ref().is_some_and(|_| filter.as_ref().and_then(|r| r.tag.as_deref()) != Some("latest"));
    let now = format::now_secs();
    let mut rows = Vec::new();
    for (rec, tags) in store.images()? {
        let id = if no_trunc { rec.id.to_string() } else { rec.id.short().to_string() };
        let created = format::parse_rfc3339(&rec.created);
        let base = |repo: String, tag: String, digest: String| -> Row {
            let mut r = Row::new();
            r.insert("Repository", repo);
            r.insert("Tag", tag);
            r.insert("ID", id.clone());
            r.insert("Digest", digest);
            r.insert("CreatedSince", created.map_or("N/A".into(), |c| format::ago(c, now)));
            r.insert("CreatedAt", rec.created.clone());
            r.insert("Size", format::human_size(rec.size));
            r
        };
        let digest_for = |name: &str| {
            rec.repo_digests
                .iter()
                .find_map(|d| d.strip_prefix(&format!("{name}@")).map(str::to_string))
                .unwrap_or_else(|| "<none>".into())
        };
        if tags.is_empty() {
            if filter.is_none() {
                rows.push((base("<none>".into(), "<none>".into(), "<none>".into()), rec.clone()));
            }
            continue;
        }
        for t in tags {
            if let Some(f) = &filter {
                if f.name() != t.name() || (explicit_tag && f.tag != t.tag) {
                    continue;
                }
            }
            rows.push((base(t.familiar_name(), t.tag.clone().unwrap_or_default(), digest_for(&t.name())), rec.clone()));
        }
    }
    rows.sort_by(|a, b| b.1.created.cmp(&a.1.created).then(a.0["Repository"].cmp(&b.0["Repository"])));
    Ok(rows)
}

fn images(store: &ImageStore, a: ImagesArgs) -> Result<u8> {
    let rows = image_rows(store, a.reference.as_deref(), a.no_trunc)?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for (r, _) in &rows {
            if seen.insert(r["ID"].clone()) {
                writeln!(out, "{}", r["ID"])?;
            }
        }
        return Ok(0);
    }
    let fmt = a.format.clone().unwrap_or_else(|| {
        if a.digests {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into()
        } else {
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into()
        }
    });
    let rows: Vec<Row> = rows.into_iter().map(|(r, _)| r).collect();
    let text =
        format::render(&fmt, &rows, &[("ID", "IMAGE ID"), ("CreatedSince", "CREATED"), ("CreatedAt", "CREATED AT")])
            .map_err(|e| anyhow!(e))?;
    if !text.is_empty() {
        writeln!(out, "{text}")?;
    }
    Ok(0)
}

fn rmi(root: &Path, store: &ImageStore, a: RmiArgs) -> Result<u8> {
    let mut failed = false;
    for name in &a.images {
        match engine::images::remove(root, store, name, a.force) {
            Ok(done) => {
                for r in done {
                    match r {
                        Removed::Untagged(t) => println!("Untagged: {t}"),
                        Removed::Deleted(d) => println!("Deleted: {d}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn prune(store: &ImageStore, all: bool) -> Result<u8> {
    let (removed, freed) = engine::images::prune(store, all)?;
    if !removed.is_empty() {
        println!("Deleted Images:");
        for r in &removed {
            match r {
                Removed::Untagged(t) => println!("untagged: {t}"),
                Removed::Deleted(d) => println!("deleted: {d}"),
            }
        }
        println!();
    }
    println!("Total reclaimed space: {}", format::human_size(freed));
    Ok(0)
}

fn inspect(store: &ImageStore, names: &[String], fmt: Option<&str>) -> Result<u8> {
    let mut docs = Vec::new();
    let mut missing = false;
    for n in names {
        match store.resolve(n) {
            Ok(rec) => docs.push(engine::images::inspect(store, &rec)?),
            Err(image::Error::ImageNotFound(_)) => {
                eprintln!("Error: No such image: {n}");
                missing = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    super::template::print_inspect(fmt, &docs)?;
    Ok(if missing { 1 } else { 0 })
}

fn history(store: &ImageStore, name: &str, human: bool, no_trunc: bool, quiet: bool) -> Result<u8> {
    let rec = store.resolve(name)?;
    let cfg = image::config::ImageConfig::parse(&store.content().read(&rec.id)?, &rec.id)?;
    let now = format::now_secs();
    let mut sizes = rec.layers.iter().map(|l| store.layer_meta(&l.chain_id).map(|m| m.size).unwrap_or(0));
    let mut rows = Vec::new();
    let n = cfg.history.len();
    for (i, h) in cfg.history.iter().enumerate() {
        let size = if h.empty_layer { 0 } else { sizes.next().unwrap_or(0) };
        let id = if i + 1 == n { rec.id.short().to_string() } else { "<missing>".to_string() };
        let created = h.created.as_deref().unwrap_or("");
        let created = match (human, format::parse_rfc3339(created)) {
            (true, Some(t)) => format::ago(t, now),
            _ => created.to_string(),
        };
        let mut by = h.created_by.clone().unwrap_or_default();
        if !no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        let mut r = Row::new();
        r.insert("ID", id);
        r.insert("CreatedSince", created);
        r.insert("CreatedBy", by);
        r.insert("Size", if human { format::human_size(size) } else { size.to_string() });
        r.insert("Comment", h.comment.clone().unwrap_or_default());
        rows.push(r);
    }
    rows.reverse();
    if quiet {
        for r in &rows {
            println!("{}", r["ID"]);
        }
        return Ok(0);
    }
    let text = format::render(
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        &rows,
        &[("ID", "IMAGE"), ("CreatedSince", "CREATED")],
    )
    .map_err(|e| anyhow!(e))?;
    println!("{text}");
    Ok(0)
}

fn save(store: &ImageStore, a: SaveArgs) -> Result<u8> {
    let fmt = match a.format.as_str() {
        "docker" | "docker-archive" => image::archive::Format::Docker,
        "oci" | "oci-archive" => image::archive::Format::Oci,
        other => bail!("unknown archive format {other:?}: use docker or oci"),
    };
    let names: Vec<&str> = a.images.iter().map(String::as_str).collect();
    match &a.output {
        Some(path) => {
            let tmp = path.with_extension("berth-partial");
            let mut f = std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
            );
            let r = image::archive::save(store, &names, fmt, &mut f)
                .map_err(anyhow::Error::from)
                .and_then(|_| Ok(f.flush()?));
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            image::archive::save(store, &names, fmt, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}

fn load(store: &ImageStore, a: LoadArgs) -> Result<u8> {
    let loaded = match &a.input {
        Some(p) => {
            let mut f = std::io::BufReader::with_capacity(
                1 << 20,
                std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
            );
            image::archive::load(store, &mut f)?
        }
        None => {
            let mut stdin = std::io::BufReader::with_capacity(1 << 20, std::io::stdin());
            image::archive::load(store, &mut stdin)?
        }
    };
    for l in loaded {
        if l.tags.is_empty() {
            println!("Loaded image ID: {}", l.id);
        }
        for t in l.tags {
            println!("Loaded image: {t}");
        }
    }
    Ok(0)
}

fn import(store: &ImageStore, a: ImportArgs) -> Result<u8> {
    let tag: Option<Reference> = a.reference.as_deref().map(str::parse).transpose()?;
    let rec = if a.file == "-" {
        let mut stdin = std::io::BufReader::with_capacity(1 << 20, std::io::stdin());
        engine::commit::import(store, &mut stdin, tag.as_ref(), &a.change, a.message)?
    } else {
        let mut f = std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file))?,
        );
        engine::commit::import(store, &mut f, tag.as_ref(), &a.change, a.message)?
    };
    println!("{}", rec.id);
    Ok(0)
}

pub fn login(a: LoginArgs) -> Result<u8> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let host = server.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string();
    let host =
        if host == "index.docker.io/v1" || host == "registry-1.docker.io" { "docker.io".to_string() } else { host };
    let username = match a.username {
        Some(u) => u,
        None => bail!("login needs --username (interactive prompts are not supported)"),
    };
    let password = match (a.password, a.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => bail!("login needs --password or --password-stdin"),
    };
    let creds = Credentials { username, password };
    let mut opts = registry_options(&a.registry);
    opts.credentials = Some(creds.clone());
    let client = registry::Client::new(&host, opts)?;
    client.ping().map_err(|e| anyhow!("Error response from registry: login attempt to {host} failed: {e}"))?;
    registry::store_credentials(&registry::default_config_path(), &host, &creds)?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(server: Option<String>) -> Result<u8> {
    let host = server.unwrap_or_else(|| "docker.io".into());
    let host = host.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string();
    if registry::remove_credentials(&registry::default_config_path(), &host)? {
        println!("Removing login credentials for {host}");
    } else {
        println!("Not logged in to {host}");
    }
    Ok(0)
}
