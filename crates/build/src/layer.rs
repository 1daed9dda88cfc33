//! A build step's changes (a directory in overlayfs's diff format: a RUN's
//! upper directory, or the files a COPY wrote) made into a layer: a tar in
//! the content store (uncompressed, as docker keeps built layers locally; its
//! digest is then also the diff id) and the directory itself committed as
//! the unpacked layer, so no step ever unpacks what it just wrote.

use std::fs;
use std::path::{Path, PathBuf};

pub use image::diff::write_tar;
use image::store::LayerMeta;
use image::{Digest, ImageStore, LayerRecord};

use crate::error::{Error, Result};

/// A directory being made into a layer: created in the store's staging area
/// (same filesystem as the layers, so committing is a rename), removed if
/// dropped before `commit`.
pub struct Staging {
    dir: PathBuf,
    committed: bool,
}

impl Staging {
    pub fn new(store: &ImageStore) -> Result<Staging> {
        Ok(Staging { dir: store.layer_staging()?, committed: false })
    }

    /// Where the layer's files go (overlay diff format).
    pub fn diff(&self) -> PathBuf {
        self.dir.join("diff")
    }

    /// Takes `upper` (a finished container's upper directory, on the same
    /// filesystem) as the layer's contents.
    pub fn adopt(&self, upper: &Path) -> Result<()> {
        let diff = self.diff();
        fs::remove_dir(&diff).map_err(|e| Error::io(format!("preparing {}", diff.display()), e))?;
        fs::rename(upper, &diff).map_err(|e| Error::io(format!("moving {} into the layer store", upper.display()), e))
    }

    /// Writes the tar, stores it, and publishes the directory as the layer
    /// on top of `parent` (the diff ids below it).
    pub fn commit(mut self, store: &ImageStore, parent: &[Digest]) -> Result<LayerRecord> {
        let diff = self.diff();
        let mut w = store.content().writer(None, None)?;
        write_tar(&diff, &mut w)?;
        let size = w.written();
        let record = image::diff::layer_record(w.commit()?, size, parent);
        let meta = LayerMeta { diff_id: record.diff_id.clone(), chain_id: record.chain_id.clone(), size };
        if store.has_layer(&record.chain_id) {
            // Same content on the same parent, made before: keep that one.
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            store.commit_layer(&self.dir, &meta)?;
        }
        self.committed = true;
        Ok(record)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
