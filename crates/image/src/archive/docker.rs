//! docker-archive: what `docker save` writes and `docker load` reads.
//!
//! ```text
//! manifest.json          [{"Config":"<id>.json","RepoTags":["busybox:latest"],"Layers":["<diff-id>/layer.tar"]}]
//! repositories           {"busybox":{"latest":"<top diff-id>"}}  (legacy)
//! <id>.json              the config, byte for byte (its digest is the image id)
//! <diff-id>/layer.tar    each layer uncompressed, once however many images share it
//! ```
//!
//! Loading builds an OCI manifest whose layers are those uncompressed tars
//! (their digest is the diff id) and keeps the config bytes, so the image id
//! is the one docker shows. Layer files may also be gzip or zstd (as some
//! tools write them); they are stored as they are then.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer;
use crate::manifest::{media, Compression, Descriptor, Manifest};
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore};

use super::read::Files;
use super::{append_bytes, append_dir, append_verified, bad, layer_compression, plain_size, Plan, Selected};

#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    /// Docker writes null for an image saved by id.
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

pub(super) fn save<W: Write>(store: &ImageStore, images: &[Selected], tar: &mut tar::Builder<W>) -> Result<()> {
    let mut manifest = Vec::with_capacity(images.len());
    // familiar name → tag → top layer directory
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    for img in images {
        let rec = &img.record;
        let mut layers = Vec::with_capacity(rec.layers.len());
        for l in &rec.layers {
            let dir = l.diff_id.hex().to_string();
            let path = format!("{dir}/layer.tar");
            if written.insert(l.diff_id.clone()) {
                let size = plain_size(store, l)?;
                let blob = store.content().open_blob(&l.blob.digest)?;
                let plain = layer::decompress(blob, layer_compression(l))?;
                append_dir(tar, &format!("{dir}/"))?;
                let what = format!("layer {} (blob {})", l.diff_id, l.blob.digest);
                append_verified(tar, &path, size, plain, &l.diff_id, &what)?;
            }
            layers.push(path);
        }
        let config = store.content().read(&rec.id)?;
        if Digest::of(&config) != rec.id {
            return Err(Error::Invalid(format!("config {} in the store is damaged", rec.id)));
        }
        let config_path = format!("{}.json", rec.id.hex());
        append_bytes(tar, &config_path, &config)?;
        let tags: Vec<String> = img.tags.iter().map(|t| t.to_string()).collect();
        if let Some(top) = rec.layers.last() {
            for t in &img.tags {
                if let Some(tag) = &t.tag {
                    repositories
                        .entry(t.familiar_name())
                        .or_default()
                        .insert(tag.clone(), top.diff_id.hex().to_string());
                }
            }
        }
        manifest.push(Entry { config: config_path, repo_tags: (!tags.is_empty()).then_some(tags), layers });
    }
    let json = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    append_bytes(tar, "manifest.json", &json)?;
    if !repositories.is_empty() {
        let json = serde_json::to_vec(&repositories).map_err(|e| Error::Invalid(e.to_string()))?;
        append_bytes(tar, "repositories", &json)?;
    }
    Ok(())
}

pub(super) fn plan(store: &ImageStore, files: &mut Files) -> Result<Vec<Plan>> {
    let bytes = files.bytes(store, "manifest.json")?;
    let entries: Vec<Entry> = serde_json::from_slice(&bytes)
        .map_err(|e| bad("manifest.json", format!("not a docker-archive manifest: {e}")))?;
    if entries.is_empty() {
        return Err(bad("manifest.json", "lists no images"));
    }
    let mut plans = Vec::with_capacity(entries.len());
    for e in entries {
        if files.resolve(&e.config).is_none() {
            return Err(bad("manifest.json", format!("names config {:?}, which is not in the archive", e.config)));
        }
        let config_bytes = files.bytes(store, &e.config)?;
        let id = Digest::of(&config_bytes);
        // Docker names the config for its digest: a file that says otherwise is damaged.
        if let Some(named) = e.config.strip_suffix(".json").and_then(|h| format!("sha256:{h}").parse::<Digest>().ok()) {
            if named != id {
                return Err(bad(
                    &e.config,
                    format!("digest mismatch: the config is named {named} but its content is {id}"),
                ));
            }
        }
        let config = ImageConfig::parse(&config_bytes, &id).map_err(|err| bad(&e.config, err))?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != e.layers.len() {
            return Err(bad(
                &e.config,
                format!(
                    "the config lists {} diff ids but manifest.json names {} layers",
                    diff_ids.len(),
                    e.layers.len()
                ),
            ));
        }
        let mut descriptors = Vec::with_capacity(e.layers.len());
        let mut paths = Vec::with_capacity(e.layers.len() + 1);
        for (i, (path, diff_id)) in e.layers.iter().zip(diff_ids).enumerate() {
            let f = files
                .get(path)
                .ok_or_else(|| bad("manifest.json", format!("names layer {path:?}, which is not in the archive")))?;
            let compression = Compression::sniff(&f.head);
            if compression == Compression::None && f.digest != *diff_id {
                return Err(bad(
                    path,
                    format!("the layer is {} but diff id {i} in the config {} is {diff_id}", f.digest, e.config),
                ));
            }
            let media_type = match compression {
                Compression::None => media::OCI_LAYER,
                Compression::Gzip => media::OCI_LAYER_GZIP,
                Compression::Zstd => media::OCI_LAYER_ZSTD,
            };
            descriptors.push(Descriptor::new(media_type, f.digest.clone(), f.size));
            paths.push(path.clone());
        }
        paths.push(e.config.clone());
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_string()),
            config: Descriptor::new(media::OCI_CONFIG, id.clone(), config_bytes.len() as u64),
            layers: descriptors.clone(),
            annotations: BTreeMap::new(),
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
        let layers = ImageStore::layer_records(&descriptors, diff_ids).map_err(|err| bad(&e.config, err))?;
        let mut tags = Vec::new();
        for t in e.repo_tags.iter().flatten() {
            let r: Reference = t.parse().map_err(|err| bad("manifest.json", format!("RepoTags: {err}")))?;
            if r.tag.is_some() {
                tags.push(r);
            }
        }
        let record = ImageRecord {
            id,
            manifest: Descriptor::new(media::OCI_MANIFEST, Digest::of(&manifest_bytes), manifest_bytes.len() as u64),
            index: None,
            repo_digests: vec![],
            layers,
            platform: config.platform(),
            created: config.created.clone().unwrap_or_default(),
            size: 0,
        };
        plans.push(Plan { record, tags, files: paths, docs: vec![manifest_bytes], origin: e.config.clone() });
    }
    Ok(plans)
}
