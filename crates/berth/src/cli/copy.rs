//! `cp`: CONTAINER:SRC DEST or SRC CONTAINER:DEST, as docker. The
//! container's side runs in a child (`berth internal archive`) that has
//! entered the container's root (see engine::copy); a tar stream joins the
//! two sides, and `-` stands for that stream on stdin or stdout.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use engine::copy::{self, Source};
use engine::Engine;

#[derive(Subcommand, Debug)]
pub enum ArchiveCmd {
    /// Write PATH of the container as a tar stream on stdout.
    Out {
        container: String,
        path: String,
        #[arg(long)]
        follow: bool,
    },
    /// Print PATH's stat in the container (the API's path stat JSON).
    Stat { container: String, path: String },
    /// Extract the tar stream on stdin to PATH in the container.
    In {
        container: String,
        path: String,
        #[arg(long)]
        preserve_owner: bool,
    },
}

/// `CONTAINER:PATH` → (container, path); a local path otherwise (one with
/// a `/` before any `:`, like docker).
fn split_arg(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    let (c, p) = s.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

pub fn cp(e: &mut Engine, src: &str, dest: &str, archive: bool, follow: bool) -> Result<u8> {
    match (split_arg(src), split_arg(dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((c, path)), None) => {
            let c = e.container(c)?;
            let path = if path.is_empty() { "/" } else { path };
            let mut child = archive_child(e, &["out", &c.id, path], follow)?;
            let stdout = child.stdout.take().ok_or_else(|| anyhow!("no pipe from the archiver"))?;
            let result = if dest == "-" {
                let mut r = stdout;
                std::io::copy(&mut r, &mut std::io::stdout().lock()).map(|_| ()).map_err(Into::into)
            } else {
                copy::unpack(stdout, Path::new(dest), archive).map_err(anyhow::Error::from)
            };
            finish(child, result)
        }
        (None, Some((c, path))) => {
            let c = e.container(c)?;
            if c.config.read_only && matches!(c.state.status, engine::Status::Running) {
                bail!("container rootfs is marked read-only");
            }
            let mut args = vec!["in", &c.id, path];
            if archive {
                args.push("--preserve-owner");
            }
            let mut child = archive_child(e, &args, false)?;
            let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("no pipe to the archiver"))?;
            let result = if src == "-" {
                std::io::copy(&mut std::io::stdin().lock(), &mut stdin).map(|_| ()).map_err(Into::into)
            } else {
                let source = Source::parse(src);
                if !source.path.exists() && std::fs::symlink_metadata(&source.path).is_err() {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("lstat {}: no such file or directory", source.path.display());
                }
                copy::pack(&source, follow, &mut stdin).map_err(anyhow::Error::from)
            };
            drop(stdin);
            finish(child, result)
        }
    }
}

fn archive_child(e: &Engine, args: &[&str], follow: bool) -> Result<std::process::Child> {
    let mut cmd = e.launcher().command("archive", args[0]);
    cmd.args(&args[1..]);
    if follow {
        cmd.arg("--follow");
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().context("starting the archiver")
}

/// Waits for the child; its error (it saw the container side) wins.
fn finish(mut child: std::process::Child, ours: Result<()>) -> Result<u8> {
    drop(child.stdin.take());
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{}", err.trim().trim_start_matches("Error: "));
    }
    ours?;
    Ok(0)
}

/// The child's side (`berth internal archive out|in`).
pub fn archive(root: &Path, cmd: ArchiveCmd) -> Result<u8> {
    let mut e = Engine::open(root)?;
    match cmd {
        ArchiveCmd::Out { container, path, follow } => {
            e.enter_root(&container)?;
            let out = std::io::stdout().lock();
            let mut out = std::io::BufWriter::new(out);
            copy::pack(&Source::parse(&path), follow, &mut out)?;
            out.flush()?;
        }
        ArchiveCmd::Stat { container, path } => {
            e.enter_root(&container)?;
            println!("{}", copy::path_stat(Path::new(&path))?);
        }
        ArchiveCmd::In { container, path, preserve_owner } => {
            e.enter_root(&container)?;
            copy::unpack(std::io::stdin().lock(), Path::new(&path), preserve_owner)?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn container_paths_are_told_from_local_ones() {
        assert_eq!(super::split_arg("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(super::split_arg("./a:b"), None);
        assert_eq!(super::split_arg("/tmp/x:y"), None);
        assert_eq!(super::split_arg("file.txt"), None);
    }
}
