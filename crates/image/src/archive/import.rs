//! `berth import`: a root filesystem tarball becomes a one-layer image.
//!
//! One pass over the input: the (decompressed) tar is unpacked into a staged
//! layer while every byte read is hashed (the diff id) and gzip-compressed
//! into the content store (the blob, hashed as it is written). Nothing is
//! published before the whole tarball has unpacked cleanly.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use crate::config::{History, ImageConfig, RootFs, RunConfig};
use crate::content::BlobWriter;
use crate::error::{Error, Result};
use crate::layer;
use crate::manifest::{media, Compression, Descriptor, Manifest, Platform};
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore, LayerMeta};

use super::{rfc3339_now, sniffed};

/// What `docker import --change` and `--message` can set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportConfig {
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// The history entry's comment.
    pub message: Option<String>,
}

/// Imports the tarball `rootfs_tar` (plain, gzip or zstd, told by its first
/// bytes) as a one-layer image for this host's platform, tagged `tag`.
pub fn import(
    store: &ImageStore,
    rootfs_tar: &mut dyn Read,
    tag: Option<&Reference>,
    config: ImportConfig,
) -> Result<ImageRecord> {
    if let Some(t) = tag {
        if t.tag.is_none() {
            return Err(Error::Invalid(format!("cannot import as {t}: a digest reference is not a tag")));
        }
    }
    let plain = sniffed(rootfs_tar)?;
    let blob = store.content().writer(None, None)?;
    let mut tee =
        Tee { inner: plain, gzip: flate2::write::GzEncoder::new(blob, flate2::Compression::default()), failed: None };
    let staging = Staging { dir: store.layer_staging()?, committed: false };
    let unpacked = match layer::unpack(&mut tee, Compression::None, &staging.dir.join("diff"), "import") {
        Ok(u) => u,
        Err(e) => return Err(tee.failed.take().map_or(e, |w| Error::io("storing the layer blob", w))),
    };
    let blob = tee.gzip.finish().map_err(|e| Error::io("storing the layer blob", e))?;
    let blob_size = blob.written();
    let blob_digest = blob.commit()?;
    let diff_id = unpacked.diff_id;
    let layer = Descriptor::new(media::OCI_LAYER_GZIP, blob_digest, blob_size);
    let layers = ImageStore::layer_records(std::slice::from_ref(&layer), std::slice::from_ref(&diff_id))?;
    let meta = LayerMeta { diff_id: diff_id.clone(), chain_id: layers[0].chain_id.clone(), size: unpacked.size };
    staging.commit(store, &meta)?;

    let created = rfc3339_now();
    let platform = Platform::host();
    let image_config = ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        created: Some(created.clone()),
        author: None,
        config: RunConfig {
            env: (!config.env.is_empty()).then(|| config.env.clone()),
            entrypoint: config.entrypoint.clone(),
            cmd: config.cmd.clone(),
            working_dir: config.workdir.clone(),
            ..RunConfig::default()
        },
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![diff_id] },
        history: vec![History {
            created: Some(created.clone()),
            created_by: Some("berth import".into()),
            author: None,
            comment: Some(config.message.clone().unwrap_or_else(|| "Imported from tarball".into())),
            empty_layer: false,
        }],
    };
    let config_bytes = serde_json::to_vec(&image_config).map_err(|e| Error::Invalid(e.to_string()))?;
    let id = store.content().put(&config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.to_string()),
        config: Descriptor::new(media::OCI_CONFIG, id.clone(), config_bytes.len() as u64),
        layers: vec![layer],
        annotations: BTreeMap::new(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    let manifest_digest = store.content().put(&manifest_bytes)?;
    let record = ImageRecord {
        id,
        manifest: Descriptor::new(media::OCI_MANIFEST, manifest_digest, manifest_bytes.len() as u64),
        index: None,
        repo_digests: vec![],
        layers,
        platform,
        created,
        size: unpacked.size,
    };
    let tags: Vec<Reference> = tag.cloned().into_iter().collect();
    store.put_image(record.clone(), &tags)?;
    Ok(record)
}

/// Hands the plain tar to the unpacker and writes every byte it reads into
/// the gzip encoder of the layer blob.
struct Tee<'a> {
    inner: Box<dyn Read + 'a>,
    gzip: flate2::write::GzEncoder<BlobWriter>,
    /// A failed write to the blob, reported as such rather than as a bad tar.
    failed: Option<io::Error>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.gzip.write_all(&buf[..n]) {
            let shown = io::Error::new(e.kind(), e.to_string());
            self.failed = Some(e);
            return Err(shown);
        }
        Ok(n)
    }
}

/// A staged layer directory, removed unless committed.
struct Staging {
    dir: std::path::PathBuf,
    committed: bool,
}

impl Staging {
    fn commit(mut self, store: &ImageStore, meta: &LayerMeta) -> Result<()> {
        // commit_layer removes the directory itself if it fails.
        self.committed = true;
        store.commit_layer(&self.dir, meta)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
