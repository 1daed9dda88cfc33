//! The OCI image layout in a tar (skopeo's `oci-archive:`, containerd's
//! export, docker 25's save):
//!
//! ```text
//! oci-layout        {"imageLayoutVersion":"1.0.0"}
//! index.json        one manifest descriptor per tag, annotated with
//!                   org.opencontainers.image.ref.name (the tag) and
//!                   io.containerd.image.name (the full name)
//! blobs/sha256/<hex> every manifest, config and layer, exactly as stored
//! ```
//!
//! Manifests keep their media type and bytes (a docker schema 2 manifest
//! stays one), so their digests do not change.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{media, Descriptor, Document, Index, Platform};
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore};

use super::read::Files;
use super::{append_bytes, append_dir, append_verified, bad, Plan, Selected};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

pub(super) fn save<W: Write>(store: &ImageStore, images: &[Selected], tar: &mut tar::Builder<W>) -> Result<()> {
    append_bytes(tar, "oci-layout", LAYOUT)?;
    append_dir(tar, "blobs/")?;
    append_dir(tar, "blobs/sha256/")?;
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut manifests = Vec::new();
    for img in images {
        let rec = &img.record;
        let config_size = store.content().size(&rec.id).ok_or_else(|| Error::BlobNotFound(rec.id.clone()))?;
        let mut blobs: Vec<(&Digest, u64, String)> = vec![
            (&rec.manifest.digest, rec.manifest.size, format!("manifest {}", rec.manifest.digest)),
            (&rec.id, config_size, format!("config {}", rec.id)),
        ];
        for l in &rec.layers {
            blobs.push((&l.blob.digest, l.blob.size, format!("layer blob {}", l.blob.digest)));
        }
        for (digest, size, what) in blobs {
            if !written.insert(digest.clone()) {
                continue;
            }
            let file = store.content().open_blob(digest)?;
            append_verified(tar, &blob_path(digest), size, file, digest, &what)?;
        }
        let entry = |annotations: BTreeMap<String, String>| Descriptor {
            media_type: rec.manifest.media_type.clone(),
            digest: rec.manifest.digest.clone(),
            size: rec.manifest.size,
            urls: vec![],
            annotations,
            platform: Some(rec.platform.clone()),
        };
        if img.tags.is_empty() {
            manifests.push(entry(BTreeMap::new()));
        }
        for t in &img.tags {
            let mut a = BTreeMap::new();
            a.insert(CONTAINERD_NAME.to_string(), t.full());
            if let Some(tag) = &t.tag {
                a.insert(REF_NAME.to_string(), tag.clone());
            }
            manifests.push(entry(a));
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_string()),
        manifests,
        annotations: BTreeMap::new(),
    };
    let json = serde_json::to_vec(&index).map_err(|e| Error::Invalid(e.to_string()))?;
    append_bytes(tar, "index.json", &json)
}

/// The tags an index.json entry gives its image: containerd's full name, or
/// a ref name that is a full reference. A bare ref name (`latest`, as skopeo
/// writes) names no repository, so such an image is loaded untagged.
fn tags_of(desc: &Descriptor) -> Vec<Reference> {
    let full = |s: &String| s.parse::<Reference>().ok().filter(|r| r.tag.is_some());
    if let Some(r) = desc.annotations.get(CONTAINERD_NAME).and_then(full) {
        return vec![r];
    }
    desc.annotations.get(REF_NAME).filter(|n| n.contains('/') || n.contains(':')).and_then(full).into_iter().collect()
}

/// The bytes of a blob a descriptor names, checked against its size.
fn blob(store: &ImageStore, files: &mut Files, desc: &Descriptor, named_in: &str) -> Result<Vec<u8>> {
    let path = present(store, files, desc, named_in)?;
    match path {
        Some(p) => files.bytes(store, &p),
        None => store.content().read(&desc.digest),
    }
}

/// Checks that the blob a descriptor names is in the archive (its path) or
/// already in the store (None).
fn present(store: &ImageStore, files: &Files, desc: &Descriptor, named_in: &str) -> Result<Option<String>> {
    let path = blob_path(&desc.digest);
    match files.get(&path) {
        Some(f) if f.size != desc.size => {
            Err(bad(&path, format!("is {} bytes but {named_in} says {} bytes", f.size, desc.size)))
        }
        Some(_) => Ok(Some(path)),
        None if store.content().size(&desc.digest) == Some(desc.size) => Ok(None),
        None => Err(bad(
            named_in,
            format!("names {} {}, which is not in the archive ({path})", desc.media_type, desc.digest),
        )),
    }
}

pub(super) fn plan(store: &ImageStore, files: &mut Files) -> Result<Vec<Plan>> {
    if files.has("oci-layout") {
        let layout: serde_json::Value = serde_json::from_slice(&files.bytes(store, "oci-layout")?)
            .map_err(|e| bad("oci-layout", format!("invalid: {e}")))?;
        let version = layout.get("imageLayoutVersion").and_then(|v| v.as_str()).unwrap_or("");
        if !version.starts_with("1.") {
            return Err(bad("oci-layout", format!("unsupported imageLayoutVersion {version:?}")));
        }
    }
    let index: Index = serde_json::from_slice(&files.bytes(store, "index.json")?)
        .map_err(|e| bad("index.json", format!("not an OCI image index: {e}")))?;
    if index.manifests.is_empty() {
        return Err(bad("index.json", "lists no images"));
    }
    let mut plans = Vec::with_capacity(index.manifests.len());
    for desc in &index.manifests {
        let tags = tags_of(desc);
        let mut paths = Vec::new();
        let (index_desc, manifest_desc) = if media::is_index(&desc.media_type) {
            let bytes = blob(store, files, desc, "index.json")?;
            let origin = blob_path(&desc.digest);
            let Document::Index(nested) =
                Document::parse(&bytes, Some(&desc.media_type)).map_err(|e| bad(&origin, e))?
            else {
                return Err(bad(&origin, "is not an image index"));
            };
            let chosen = match nested.select(&Platform::host()) {
                Ok(d) => d.clone(),
                Err(_) if nested.manifests.len() == 1 => nested.manifests[0].clone(),
                Err(e) => return Err(bad(&origin, e)),
            };
            paths.extend(present(store, files, desc, "index.json")?);
            (Some(Descriptor::new(&desc.media_type, desc.digest.clone(), desc.size)), chosen)
        } else if media::is_manifest(&desc.media_type) {
            (None, desc.clone())
        } else {
            return Err(bad("index.json", format!("unsupported media type {:?} for {}", desc.media_type, desc.digest)));
        };
        let origin = blob_path(&manifest_desc.digest);
        let bytes = blob(store, files, &manifest_desc, "index.json")?;
        paths.extend(present(store, files, &manifest_desc, "index.json")?);
        let Document::Manifest(manifest) =
            Document::parse(&bytes, Some(&manifest_desc.media_type)).map_err(|e| bad(&origin, e))?
        else {
            return Err(bad(&origin, "is not an image manifest"));
        };
        let id = manifest.config.digest.clone();
        let config_bytes = blob(store, files, &manifest.config, &origin)?;
        paths.extend(present(store, files, &manifest.config, &origin)?);
        let config = ImageConfig::parse(&config_bytes, &id).map_err(|e| bad(&blob_path(&id), e))?;
        for l in &manifest.layers {
            paths.extend(present(store, files, l, &origin)?);
        }
        let layers =
            ImageStore::layer_records(&manifest.layers, &config.rootfs.diff_ids).map_err(|e| bad(&origin, e))?;
        let record = ImageRecord {
            id,
            manifest: Descriptor::new(&manifest_desc.media_type, manifest_desc.digest.clone(), manifest_desc.size),
            index: index_desc,
            repo_digests: vec![],
            layers,
            platform: config.platform(),
            created: config.created.clone().unwrap_or_default(),
            size: 0,
        };
        plans.push(Plan { record, tags, files: paths, docs: vec![], origin });
    }
    Ok(plans)
}
