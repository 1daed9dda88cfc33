//! Image operations that must know about containers, shared by the CLI and
//! the Docker API: removal refuses an image a container uses (docker's
//! conflicts), prune keeps such images, and the docker-shaped `image
//! inspect` document. Garbage collection is the image store's: containers'
//! snapshots and leases (the build cache's) are its roots.

use std::path::Path;

use image::{Digest, ImageRecord, ImageStore, Reference};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::Status;

/// What one removal did, in docker's order: the tags removed, then the
/// image deleted (if it was).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(String),
}

/// Containers (id, running) made from image `id`.
pub fn users(root: &Path, id: &Digest) -> Result<Vec<(String, bool)>> {
    if !root.join("engine.db").exists() {
        return Ok(vec![]);
    }
    let e = crate::Engine::open(root)?;
    Ok(e.containers()?
        .into_iter()
        .filter(|c| c.config.image_id.trim_start_matches("sha256:") == id.hex())
        .map(|c| {
            let running = matches!(c.state.status, Status::Running | Status::Paused | Status::Restarting);
            (c.id, running)
        })
        .collect())
}

/// `rmi NAME`: untags, and deletes the image when no tag is left. An image
/// a running container uses is never deleted; one a stopped container uses
/// only with `force`, and then only untagged (docker's rules). Frees what
/// nothing uses any more.
pub fn remove(root: &Path, store: &ImageStore, name: &str, force: bool) -> Result<Vec<Removed>> {
    let rec = store.resolve(name)?;
    let tags: Vec<String> = store.tags_of(&rec.id)?.iter().map(|t| t.full()).collect();
    let is_tag = name.parse::<Reference>().is_ok_and(|r| tags.contains(&r.full()));
    let would_delete = !is_tag || tags.len() <= 1;
    let users = if would_delete { users(root, &rec.id)? } else { vec![] };
    if let Some((c, _)) = users.iter().find(|(_, running)| *running) {
        return Err(Error::Conflict(format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
            rec.id.short(),
            &c[..12.min(c.len())]
        )));
    }
    let familiar = |t: String| t.parse::<Reference>().map(|r| r.to_string()).unwrap_or(t);
    let mut out = Vec::new();
    if let Some((c, _)) = users.first() {
        if !force {
            return Err(Error::Conflict(format!(
                "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                &c[..12.min(c.len())],
                rec.id.short()
            )));
        }
        out.extend(store.untag(name)?.into_iter().map(|t| Removed::Untagged(familiar(t))));
        return Ok(out);
    }
    let (untagged, deleted) = store.remove(name, force)?;
    out.extend(untagged.into_iter().map(|t| Removed::Untagged(familiar(t))));
    out.extend(deleted.map(|d| Removed::Deleted(d.to_string())));
    store.gc()?;
    Ok(out)
}

/// `image prune [-a]`: deletes dangling images (all unused ones with
/// `all`), keeping those a container uses. What was removed and the bytes freed.
pub fn prune(store: &ImageStore, all: bool) -> Result<(Vec<Removed>, u64)> {
    let victims: Vec<Digest> =
        if all { store.images()?.into_iter().map(|(r, _)| r.id).collect() } else { store.dangling()? };
    let in_use = image::snapshot::layers_in_use(store)?;
    let mut out = Vec::new();
    for id in victims {
        let rec = store.resolve(&id.to_string())?;
        // An image whose top layer a container uses stays.
        if rec.layers.last().is_some_and(|l| in_use.contains(&l.chain_id)) {
            continue;
        }
        if let Ok((untagged, Some(d))) = store.remove(&id.to_string(), true) {
            out.extend(untagged.into_iter().map(Removed::Untagged));
            out.push(Removed::Deleted(d.to_string()));
        }
    }
    let freed = store.gc()?;
    Ok((out, freed))
}

/// The docker-shaped `image inspect` document.
pub fn inspect(store: &ImageStore, rec: &ImageRecord) -> Result<Value> {
    let cfg_bytes = store.content().read(&rec.id)?;
    let cfg: Value = serde_json::from_slice(&cfg_bytes)
        .map_err(|e| Error::Invalid(format!("image config {} is not JSON: {e}", rec.id)))?;
    let tags: Vec<String> = store.tags_of(&rec.id)?.iter().map(|t| t.to_string()).collect();
    let digests: Vec<String> = rec
        .repo_digests
        .iter()
        .map(|d| match d.split_once('@') {
            Some((name, dg)) => match format!("{name}:x").parse::<Reference>() {
                Ok(r) => format!("{}@{dg}", r.familiar_name()),
                Err(_) => d.clone(),
            },
            None => d.clone(),
        })
        .collect();
    let text = |v: Option<&Value>| v.cloned().unwrap_or(Value::String(String::new()));
    Ok(json!({
        "Id": rec.id.to_string(),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": "",
        "Comment": text(cfg.pointer("/history/0/comment")),
        "Created": rec.created,
        "DockerVersion": text(cfg.get("docker_version")),
        "Author": text(cfg.get("author")),
        "Config": cfg.get("config").cloned().unwrap_or(json!({})),
        "Architecture": rec.platform.architecture,
        "Variant": rec.platform.variant,
        "Os": rec.platform.os,
        "Size": rec.size,
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": rec.layers.iter().rev().map(|l| store.layer_diff(&l.chain_id).display().to_string()).collect::<Vec<_>>().join(":")
        }},
        "RootFS": {"Type": "layers", "Layers": rec.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        // docker's zero time: the CLI parses the field, an empty string fails it.
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {"mediaType": rec.manifest.media_type, "digest": rec.manifest.digest.to_string(), "size": rec.manifest.size},
    }))
}
