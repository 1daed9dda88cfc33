//! Pull: manifest (and index, choosing the platform), config, then every
//! missing layer streamed once through hashing, the content store,
//! decompression and unpacking at the same time, several layers in parallel.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::ImageConfig;
use crate::content::BlobWriter;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer;
use crate::manifest::{Compression, Descriptor, Document, Manifest, Platform};
use crate::progress::{Event, Progress};
use crate::reference::Reference;
use crate::registry::{Client, RegistryOptions};
use crate::store::{ImageRecord, ImageStore, LayerRecord};

/// How to pull.
pub struct PullOptions<'a> {
    /// The platform to pick from an index; a single manifest is taken
    /// whatever its platform.
    pub platform: Platform,
    /// How to reach the registry (mirrors, credentials, TLS).
    pub registry: RegistryOptions,
    /// Where layer and line progress goes.
    pub progress: &'a dyn Progress,
    /// Layers fetched at once (docker's default is 3).
    pub concurrency: usize,
}

/// The outcome, for the CLI's last lines.
pub struct Pulled {
    /// The image as stored; its tag (if the reference had one) points at it
    /// now.
    pub image: ImageRecord,
    /// The digest the reference resolved to (index or manifest).
    pub digest: Digest,
    /// False if every layer and the record were already there.
    pub downloaded: bool,
}

/// Pulls `reference` into `store` (distribution spec: manifest, then config
/// and layers by digest), resuming interrupted blob downloads and skipping
/// what is there. Every blob is verified against its digest and size before
/// it is used; the image is recorded and tagged only once all its layers are
/// unpacked.
pub fn pull(store: &ImageStore, reference: &Reference, opts: &PullOptions) -> Result<Pulled> {
    let client = Client::new(&reference.registry, opts.registry.clone())?;
    // Half-unpacked layers of pulls that were killed: only their blobs can
    // be resumed (from the ingest files, which stay).
    store.sweep_staging();
    let repo = reference.repository.as_str();
    let shown = reference.tag.clone().unwrap_or_else(|| reference.manifest_ref());
    opts.progress.message(&format!("{shown}: Pulling from {}", reference.familiar_name()));

    let top = client.get_manifest(repo, &reference.manifest_ref())?;
    let top_desc = Descriptor::new(&top.media_type, top.digest.clone(), top.bytes.len() as u64);
    let (manifest_desc, manifest, index) = match Document::parse(&top.bytes, Some(&top.media_type))? {
        Document::Index(idx) => {
            let chosen = idx.select(&opts.platform)?.clone();
            let m = client.get_manifest(repo, &chosen.digest.to_string())?;
            if m.digest != chosen.digest {
                return Err(Error::DigestMismatch { expected: chosen.digest, actual: m.digest });
            }
            let Document::Manifest(manifest) = Document::parse(&m.bytes, Some(&m.media_type))? else {
                return Err(Error::Invalid(format!("index entry {} is not an image manifest", chosen.digest)));
            };
            store.content().put(&m.bytes)?;
            store.content().put(&top.bytes)?;
            (Descriptor::new(&m.media_type, m.digest, m.bytes.len() as u64), manifest, Some(top_desc))
        }
        Document::Manifest(m) => {
            store.content().put(&top.bytes)?;
            (top_desc, m, None)
        }
    };

    let config_digest = manifest.config.digest.clone();
    if !store.content().exists(&config_digest) {
        fetch_blob(&client, repo, &manifest.config, store)?;
    }
    let config_bytes = store.content().read(&config_digest)?;
    let config = ImageConfig::parse(&config_bytes, &config_digest)?;
    let layers = ImageStore::layer_records(&manifest.layers, &config.rootfs.diff_ids)?;

    let already = store.resolve(&config_digest.to_string()).is_ok();
    let downloaded = fetch_layers(&client, repo, store, &layers, opts)?;

    let size = layers.iter().map(|l| store.layer_meta(&l.chain_id).map(|m| m.size).unwrap_or(0)).sum();
    let digest = index.as_ref().map_or_else(|| manifest_desc.digest.clone(), |i| i.digest.clone());
    let record = ImageRecord {
        id: config_digest,
        manifest: manifest_desc,
        index,
        repo_digests: vec![format!("{}@{digest}", reference.name())],
        layers,
        platform: config.platform(),
        created: config.created.clone().unwrap_or_default(),
        size,
    };
    let tags: Vec<Reference> = reference.tag.is_some().then(|| reference.clone()).into_iter().collect();
    store.put_image(record.clone(), &tags)?;
    opts.progress.message(&format!("Digest: {digest}"));
    Ok(Pulled { image: record, digest, downloaded: downloaded || !already })
}

/// Downloads a small blob (a config) into the content store, verified.
fn fetch_blob(client: &Client, repo: &str, desc: &Descriptor, store: &ImageStore) -> Result<()> {
    let (mut w, have) = store.content().resumable_writer(&desc.digest, desc.size)?;
    if have < desc.size {
        let mut body = client.get_blob_from(repo, &desc.digest, have)?;
        io::copy(&mut body, &mut w).map_err(|e| Error::io(format!("downloading {}", desc.digest), e))?;
    }
    match w.commit() {
        // A damaged partial download (the commit threw it away): once more
        // from the start.
        Err(Error::DigestMismatch { .. } | Error::SizeMismatch { .. }) if have > 0 => {
            fetch_blob(client, repo, desc, store)
        }
        r => r.map(drop),
    }
}

/// Fetches and unpacks the missing layers with `opts.concurrency` workers.
/// Returns whether anything was downloaded.
fn fetch_layers(
    client: &Client,
    repo: &str,
    store: &ImageStore,
    layers: &[LayerRecord],
    opts: &PullOptions,
) -> Result<bool> {
    let mut todo = Vec::new();
    for l in layers {
        let id = l.blob.digest.short();
        if store.has_layer(&l.chain_id) && store.content().exists(&l.blob.digest) {
            opts.progress.layer(id, Event::AlreadyExists);
        } else {
            opts.progress.layer(id, Event::Waiting);
            todo.push(l);
        }
    }
    if todo.is_empty() {
        return Ok(false);
    }
    let next = AtomicUsize::new(0);
    let workers = opts.concurrency.clamp(1, 16).min(todo.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(l) = todo.get(i) else { return Ok(()) };
                        fetch_layer(client, repo, store, l, opts.progress)?;
                    }
                })
            })
            .collect();
        let mut first_err = None;
        for h in handles {
            let r = h.join().unwrap_or_else(|_| Err(Error::Invalid("a layer download panicked".into())));
            if let (Err(e), None) = (r, &first_err) {
                first_err = Some(e);
            }
        }
        first_err.map_or(Ok(true), Err)
    })
}

/// One layer: the blob streams from the registry (or the content store, if
/// only the unpacked layer is missing) through a tee into the content store
/// while it is decompressed and unpacked. The blob is published only once
/// its digest and size check out, and the layer only after that.
fn fetch_layer(
    client: &Client,
    repo: &str,
    store: &ImageStore,
    l: &LayerRecord,
    progress: &dyn Progress,
) -> Result<()> {
    let id = l.blob.digest.short();
    let compression = Compression::of_layer(&l.blob.media_type).unwrap_or(Compression::Gzip);
    if store.content().exists(&l.blob.digest) {
        progress.layer(id, Event::Extracting);
        let blob = store.content().open_blob(&l.blob.digest)?;
        layer::unpack_layer(store, blob, compression, l)?;
        progress.layer(id, Event::PullComplete);
        return Ok(());
    }
    match download_layer(client, repo, store, l, progress)? {
        Downloaded::Done => Ok(()),
        // What an earlier pull left did not check out: it is gone now, so
        // the second try downloads the whole blob.
        Downloaded::DamagedResume(e) => match download_layer(client, repo, store, l, progress)? {
            Downloaded::Done => Ok(()),
            Downloaded::DamagedResume(_) => Err(e),
        },
    }
}

enum Downloaded {
    Done,
    /// The download resumed a partial file and the result was not the blob.
    DamagedResume(Error),
}

fn download_layer(
    client: &Client,
    repo: &str,
    store: &ImageStore,
    l: &LayerRecord,
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let id = l.blob.digest.short();
    let compression = Compression::of_layer(&l.blob.media_type).unwrap_or(Compression::Gzip);
    // What an interrupted pull downloaded is replayed from the ingest file
    // (the unpacker needs the whole stream); only the rest is fetched.
    let (writer, have) = store.content().resumable_writer(&l.blob.digest, l.blob.size)?;
    let prefix = store.content().ingest_prefix(&writer, have)?;
    let rest: Box<dyn Read + Send> =
        if have < l.blob.size { client.get_blob_from(repo, &l.blob.digest, have)? } else { Box::new(io::empty()) };
    let body: Box<dyn Read + Send> = Box::new(prefix.chain(rest));
    let tee = Tee { body, writer: Some(writer), replay: have, seen: 0, total: l.blob.size, id, progress, last: 0 };
    // Three stages overlap: download + blob digest + blob file (here, on the
    // read-ahead thread), decompression + diff digest, and the tar itself.
    let (staged, tee) = crate::readahead::with_readahead(tee, |r| layer::stage_layer(store, r, compression, l));
    // A read error is the network's: the partial file stays, to resume.
    let mut tee = tee.map_err(|e| Error::io(format!("downloading {}", l.blob.digest), e))?;
    let content_failure = |e: Error, tee: &mut Tee| {
        // The bytes themselves are wrong: resuming from them would fail again.
        if let Some(w) = tee.writer.take() {
            w.discard();
        }
        if have > 0 {
            Ok(Downloaded::DamagedResume(e))
        } else {
            Err(e)
        }
    };
    let staged = match staged {
        Ok(s) => s,
        Err(e) => return content_failure(e, &mut tee),
    };
    // Whatever the unpacker did not need (padding after the tar) still counts.
    io::copy(&mut tee, &mut io::sink()).map_err(|e| Error::io(format!("downloading {}", l.blob.digest), e))?;
    let writer = tee.writer.take().ok_or_else(|| Error::Invalid("blob writer gone".into()))?;
    if let Err(e) = writer.commit() {
        return if have > 0 { Ok(Downloaded::DamagedResume(e)) } else { Err(e) };
    }
    progress.layer(id, Event::Extracting);
    staged.commit(store)?;
    progress.layer(id, Event::PullComplete);
    Ok(Downloaded::Done)
}

/// Passes the download through to the unpacker while writing every byte into
/// the content store and reporting progress.
struct Tee<'a> {
    body: Box<dyn Read + Send>,
    writer: Option<BlobWriter>,
    /// Leading bytes of `body` the writer already holds (a resumed pull).
    replay: u64,
    seen: u64,
    total: u64,
    id: &'a str,
    progress: &'a dyn Progress,
    last: u64,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.body.read(buf)?;
        let held = (self.replay.saturating_sub(self.seen)).min(n as u64) as usize;
        if let Some(w) = self.writer.as_mut() {
            w.write_all(&buf[held..n])?;
        }
        self.seen += n as u64;
        // About a hundred updates per layer are plenty for a bar.
        if n == 0 || self.seen - self.last >= (self.total / 100).max(256 << 10) {
            self.last = self.seen;
            self.progress.layer(self.id, Event::Downloading { current: self.seen, total: self.total });
        }
        Ok(n)
    }
}

/// Unpacks a manifest that is already in the content store (used by load and
/// by tests): every layer blob must be present.
pub fn manifest_layers(store: &ImageStore, manifest: &Manifest) -> Result<Vec<LayerRecord>> {
    let config = ImageConfig::parse(&store.content().read(&manifest.config.digest)?, &manifest.config.digest)?;
    ImageStore::layer_records(&manifest.layers, &config.rootfs.diff_ids)
}
