//! `berth build` and `berth builder prune`: docker's flags.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use image::Reference;

use super::container::open_engine;
use super::progress::Display;

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name of the Dockerfile (default: PATH/Dockerfile; "-" reads it from stdin).
    #[arg(short, long)]
    file: Option<String>,
    /// Name and optionally a tag (name:tag); may be repeated.
    #[arg(short, long = "tag")]
    tag: Vec<String>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long)]
    build_arg: Vec<String>,
    /// Set the target build stage.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the cache.
    #[arg(long)]
    no_cache: bool,
    /// Always pull the images FROM names.
    #[arg(long)]
    pull: bool,
    /// Set metadata for the image.
    #[arg(long)]
    label: Vec<String>,
    /// Suppress the build output and print the image ID on success.
    #[arg(short, long)]
    quiet: bool,
    /// Also write the image out: type=docker|oci,dest=FILE.tar.
    #[arg(short, long)]
    output: Option<String>,
    /// Write the image ID to the file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Networking mode for RUN (default, none, host, or a network's name).
    #[arg(long)]
    network: Option<String>,
    /// A custom host-to-IP mapping for RUN (host:ip).
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Target platform (only the host's).
    #[arg(long)]
    platform: Option<String>,
    /// Progress output (plain; auto and tty print the same lines).
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Allow plain HTTP to registries (for FROM pulls).
    #[arg(long)]
    insecure: bool,
    /// The build context: a directory, or "-" for a tar (or a Dockerfile) on stdin.
    path: String,
}

#[derive(Subcommand, Debug)]
pub enum BuilderCmd {
    /// Remove the build cache.
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
}

/// A scratch directory for a context read from stdin, removed afterwards.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn build(root: &Path, a: BuildArgs) -> Result<u8> {
    if let Some(p) = &a.platform {
        let want = image::manifest::Platform::parse(p).map_err(|e| anyhow!(e))?;
        let host = image::manifest::Platform::host();
        if want.os != host.os || want.architecture != host.architecture {
            bail!("--platform {p}: berth builds for this host's platform only ({}/{})", host.os, host.architecture);
        }
    }
    let mut build_args = BTreeMap::new();
    for kv in &a.build_arg {
        match kv.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            None => std::env::var(kv).ok().map(|v| build_args.insert(kv.clone(), v)).unwrap_or(None),
        };
    }
    let labels: BTreeMap<String, String> = super::network::parse_labels(&a.label);
    let tags: Vec<Reference> = a
        .tag
        .iter()
        .map(|t| t.parse::<Reference>().map_err(|e| anyhow!("invalid tag {t:?}: {e}")))
        .collect::<Result<_>>()?;
    let output = a.output.as_deref().map(parse_output).transpose()?;

    // The context and the Dockerfile.
    let mut scratch = None;
    let mut dockerfile_text = None;
    let context = if a.path == "-" {
        let dir = root.join("build/tmp").join(format!("ctx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        scratch = Some(Scratch(dir.clone()));
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input)?;
        let is_archive = matches!(
            image::manifest::Compression::sniff(&input),
            image::manifest::Compression::Gzip | image::manifest::Compression::Zstd
        ) || (input.len() > 262 && &input[257..262] == b"ustar");
        if is_archive {
            build::builder::unpack_context(&input[..], &dir)?;
        } else {
            // docker build - < Dockerfile: no context at all.
            dockerfile_text =
                Some(String::from_utf8(input).map_err(|_| anyhow!("the Dockerfile on stdin is not text"))?);
        }
        dir
    } else {
        let p = PathBuf::from(&a.path);
        if a.path.contains("://") {
            bail!("a remote build context ({}) cannot be fetched: builds here run offline", a.path);
        }
        if !p.is_dir() {
            bail!("unable to prepare context: path {:?} not found", a.path);
        }
        p
    };
    let (dockerfile_path, name) = match a.file.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            dockerfile_text = Some(s);
            (None, "Dockerfile".to_string())
        }
        Some(f) => {
            let p = PathBuf::from(f);
            let p = if p.is_absolute() || p.exists() { p } else { context.join(f) };
            (Some(p), f.to_string())
        }
        None => (Some(context.join("Dockerfile")), "Dockerfile".to_string()),
    };
    let text = match (dockerfile_text, &dockerfile_path) {
        (Some(t), _) => t,
        (None, Some(p)) => {
            let md = std::fs::metadata(p).map_err(|_| {
                anyhow!("failed to read the Dockerfile: open {}: no such file or directory", p.display())
            })?;
            if md.len() > 4 << 20 {
                bail!(
                    "the Dockerfile {} is {} bytes: more than the 4 MiB a Dockerfile may have",
                    p.display(),
                    md.len()
                );
            }
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            String::from_utf8(bytes).map_err(|_| anyhow!("the Dockerfile {} is not text (not UTF-8)", p.display()))?
        }
        (None, None) => unreachable_dockerfile()?,
    };
    // .dockerignore: <Dockerfile>.dockerignore beside it, else the context's.
    let ignore_text = dockerfile_path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(format!("{}.dockerignore", p.display())).ok())
        .or_else(|| std::fs::read_to_string(context.join(".dockerignore")).ok())
        .unwrap_or_default();

    let e = open_engine(root)?;
    let launcher = e.launcher().clone();
    drop(e);
    let display = Display::on_stderr(a.quiet);
    let progress: Option<Box<dyn std::io::Write + Send + Sync>> =
        if a.quiet { None } else { Some(Box::new(std::io::stderr())) };
    let opts = build::Options {
        context: context.clone(),
        dockerfile: text,
        dockerfile_name: name,
        tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels,
        network: a.network.clone(),
        extra_hosts: a.add_host.clone(),
        progress,
        pull_progress: &display,
        registry: engine::pull::registry_options(a.insecure),
        ignore: build::ignore::Ignore::parse(&ignore_text),
        classic: false,
    };
    let built = build::build(root, launcher, opts)?;
    drop(scratch);
    let id = built.record.id.to_string();
    if let Some((format, dest)) = output {
        let store = image::ImageStore::open(root)?;
        let mut f = std::fs::File::create(&dest).with_context(|| format!("creating {}", dest.display()))?;
        let names: Vec<String> = if a.tag.is_empty() { vec![id.clone()] } else { a.tag.clone() };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        image::archive::save(&store, &names, format, &mut f)?;
    }
    if let Some(p) = &a.iidfile {
        std::fs::write(p, &id).with_context(|| format!("writing {}", p.display()))?;
    }
    if a.quiet {
        println!("{id}");
    }
    Ok(0)
}

fn unreachable_dockerfile() -> Result<String> {
    bail!("no Dockerfile given")
}

/// `--output type=docker|oci,dest=FILE` (or just a file name: docker's format).
fn parse_output(s: &str) -> Result<(image::archive::Format, PathBuf)> {
    let mut kind = "docker".to_string();
    let mut dest = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("type", t)) => kind = t.to_string(),
            Some(("dest", d)) => dest = Some(PathBuf::from(d)),
            None if !part.is_empty() => dest = Some(PathBuf::from(part)),
            _ => bail!("--output {s:?}: expected type=docker|oci,dest=FILE"),
        }
    }
    let format: image::archive::Format = kind.parse().map_err(|e: image::Error| anyhow!("--output {s:?}: {e}"))?;
    let dest = dest.ok_or_else(|| anyhow!("--output {s:?}: dest=FILE is required"))?;
    Ok((format, dest))
}

pub fn builder(root: &Path, cmd: BuilderCmd) -> Result<u8> {
    match cmd {
        BuilderCmd::Prune { all: _, force: _ } => {
            let store = image::ImageStore::open(root)?;
            let n = build::cache::prune(&store)?;
            let freed = store.gc()?;
            let _ = std::fs::remove_dir_all(root.join("build/cache-mounts"));
            println!("Deleted build cache objects: {n}");
            println!("Total reclaimed space: {}", super::format::human_size(freed));
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn outputs_parse_like_docker() {
        let (f, d) = super::parse_output("type=oci,dest=/tmp/x.tar").unwrap();
        assert_eq!((f, d.to_str().unwrap()), (image::archive::Format::Oci, "/tmp/x.tar"));
        assert!(super::parse_output("type=oci").is_err());
        assert!(super::parse_output("type=zip,dest=x").is_err());
    }
}
