//! Push: every layer blob and the config (skipped when the registry has them,
//! mounted from another repository of the same registry when possible), then
//! the manifest under the tag.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::progress::{Event, Progress};
use crate::reference::Reference;
use crate::registry::{Client, PushOutcome, RegistryOptions};
use crate::store::ImageStore;

/// How to push.
pub struct PushOptions<'a> {
    /// How to reach the registry (credentials, TLS).
    pub registry: RegistryOptions,
    /// Where layer and line progress goes.
    pub progress: &'a dyn Progress,
    /// Upload in PATCH chunks of this size instead of one PUT.
    pub chunk_size: Option<u64>,
    /// Blobs uploaded at once (docker's default is 5).
    pub concurrency: usize,
}

/// Pushes the image `source` (a name or id in the store) as `target`.
/// Returns the manifest digest.
pub fn push(store: &ImageStore, source: &str, target: &Reference, opts: &PushOptions) -> Result<Digest> {
    let image = store.resolve(source)?;
    let client = Client::new(&target.registry, opts.registry.clone())?;
    let repo = target.repository.as_str();
    let tag = target.tag.clone().unwrap_or_else(|| "latest".into());
    opts.progress.message(&format!("The push refers to repository [{}]", target.name()));
    // Another repository of the same registry that already has these blobs.
    let mount_from: Option<String> = image
        .repo_digests
        .iter()
        .filter_map(|d| d.split_once('@').map(|(name, _)| name.to_string()))
        .filter_map(|name| name.split_once('/').map(|(reg, path)| (reg.to_string(), path.to_string())))
        .find(|(reg, path)| *reg == target.registry && path != repo)
        .map(|(_, path)| path);

    let mut blobs: Vec<(Digest, u64, bool)> =
        image.layers.iter().map(|l| (l.blob.digest.clone(), l.blob.size, true)).collect();
    let manifest_bytes = store.content().read(&image.manifest.digest)?;
    let manifest: crate::manifest::Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| Error::Invalid(format!("stored manifest {}: {e}", image.manifest.digest)))?;
    blobs.push((manifest.config.digest.clone(), manifest.config.size, false));
    for (d, _, _) in &blobs {
        if !store.content().exists(d) {
            return Err(Error::Invalid(format!(
                "cannot push {source}: blob {d} is not in the content store (the image's layers were not kept)"
            )));
        }
    }

    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = opts.concurrency.clamp(1, 16).min(blobs.len());
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((digest, size, is_layer)) = blobs.get(i) else { return Ok(()) };
                        let id = digest.short();
                        let mut body = store.content().open_blob(digest)?;
                        let mut report = |n: u64| {
                            if *is_layer {
                                opts.progress.layer(id, Event::Pushing { current: n, total: *size });
                            }
                        };
                        let outcome = client.push_blob(
                            repo,
                            digest,
                            *size,
                            &mut body,
                            opts.chunk_size,
                            mount_from.as_deref(),
                            &mut report,
                        )?;
                        if *is_layer {
                            opts.progress.layer(
                                id,
                                match outcome {
                                    PushOutcome::Uploaded => Event::Pushed,
                                    PushOutcome::Existed => Event::LayerExists,
                                    PushOutcome::Mounted => {
                                        Event::Mounted { from: mount_from.clone().unwrap_or_default() }
                                    }
                                },
                            );
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap_or_else(|_| Err(Error::Invalid("a blob upload panicked".into())))?;
        }
        Ok(())
    })?;

    let digest = client.put_manifest(repo, &tag, &image.manifest.media_type, &manifest_bytes)?;
    if digest != image.manifest.digest {
        return Err(Error::DigestMismatch { expected: image.manifest.digest.clone(), actual: digest });
    }
    let mut updated = image.clone();
    updated.repo_digests.push(format!("{}@{digest}", target.name()));
    store.put_image(updated, &[])?;
    opts.progress.message(&format!("{tag}: digest: {digest} size: {}", manifest_bytes.len()));
    Ok(digest)
}
