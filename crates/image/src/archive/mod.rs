//! Image archives: `berth save`, `berth load` and `berth import`.
//!
//! Two archive formats are written and read:
//! - **docker-archive**, what `docker save` writes: `manifest.json` listing each
//!   image's config (`<id-hex>.json`), its tags in familiar form and its layers
//!   as uncompressed tars (`<diff-id-hex>/layer.tar`, shared between images),
//!   plus the legacy `repositories` file.
//! - **OCI layout** in a tar (`oci-archive:` in skopeo): `oci-layout`,
//!   `index.json` naming each tagged manifest, and `blobs/sha256/<hex>` holding
//!   every manifest, config and layer blob byte for byte as stored.
//!
//! Everything streams: a layer goes from the content store through its
//! decompressor into the archive, and from the archive into the content store,
//! without ever being held in memory. `load` verifies every blob while it is
//! copied and publishes nothing an image does not reference; the format (and a
//! gzip or zstd compression of the whole archive) is detected.
//!
//! `import` turns a root filesystem tarball into a one-layer image.

mod docker;
mod import;
mod oci;
mod read;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

pub use import::{import, ImportConfig};

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::layer;
use crate::manifest::Compression;
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore, LayerRecord};

/// The archive format `save` writes (`berth save --format docker|oci`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `docker save`'s format, the default as in docker.
    #[default]
    Docker,
    /// An OCI image layout in a tar.
    Oci,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format> {
        match s {
            "docker" | "docker-archive" => Ok(Format::Docker),
            "oci" | "oci-archive" => Ok(Format::Oci),
            _ => Err(Error::Invalid(format!("unknown archive format {s:?}: expected docker or oci"))),
        }
    }
}

/// One image `load` stored, with the tags it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The image id (its config digest).
    pub id: Digest,
    /// The tags the archive gave it, now pointing at it; empty for an
    /// untagged image.
    pub tags: Vec<Reference>,
}

/// An image chosen for `save`, with the tags (of the names given) it is saved under.
struct Selected {
    record: ImageRecord,
    tags: Vec<Reference>,
}

/// Writes the images `names` (tags, ids or id prefixes, as `resolve` takes
/// them) to `out` as one archive. A name that is a tag of the image is saved
/// as a tag; an id saves the image untagged. The same image named twice is
/// written once, with both tags.
pub fn save(store: &ImageStore, names: &[&str], format: Format, out: &mut dyn Write) -> Result<()> {
    if names.is_empty() {
        return Err(Error::Invalid("save: no image names given".into()));
    }
    let images = select(store, names)?;
    let mut buffered = io::BufWriter::with_capacity(1 << 20, out);
    {
        let mut tar = tar::Builder::new(&mut buffered);
        match format {
            Format::Docker => docker::save(store, &images, &mut tar)?,
            Format::Oci => oci::save(store, &images, &mut tar)?,
        }
        tar.finish().map_err(|e| Error::io("writing the archive", e))?;
    }
    buffered.flush().map_err(|e| Error::io("writing the archive", e))
}

fn select(store: &ImageStore, names: &[&str]) -> Result<Vec<Selected>> {
    let mut out: Vec<Selected> = Vec::new();
    for name in names {
        let record = store.resolve(name)?;
        let tag = name
            .parse::<Reference>()
            .ok()
            .filter(|r| r.tag.is_some() && r.digest.is_none())
            .map(|r| store.tags_of(&record.id).map(|tags| tags.into_iter().find(|t| t.full() == r.full())))
            .transpose()?
            .flatten();
        let i = match out.iter().position(|s| s.record.id == record.id) {
            Some(i) => i,
            None => {
                out.push(Selected { record, tags: vec![] });
                out.len() - 1
            }
        };
        if let Some(t) = tag {
            if !out[i].tags.iter().any(|x| x.full() == t.full()) {
                out[i].tags.push(t);
            }
        }
    }
    Ok(out)
}

/// Reads an archive of either format (plain, gzip or zstd) from `input` and
/// stores its images: blobs verified as they are copied, layers unpacked,
/// records and tags written. Nothing is recorded unless every image checks
/// out; blobs that were verified stay (they are content-addressed).
pub fn load(store: &ImageStore, input: &mut (dyn Read + Send)) -> Result<Vec<Loaded>> {
    let mut files = read::collect(store, input)?;
    let mut plans = if files.is_oci() {
        oci::plan(store, &mut files)?
    } else if files.has("manifest.json") {
        docker::plan(store, &mut files)?
    } else {
        return Err(not_an_archive("it has neither manifest.json (docker-archive) nor index.json (OCI layout)"));
    };
    merge_plans(&mut plans);
    // An image the store already has keeps its record (its manifest, and the
    // repo digests that name it): the archive only adds tags.
    for p in &mut plans {
        if let Ok(existing) = store.resolve(&p.record.id.to_string()) {
            if existing.id == p.record.id && existing.layers.iter().all(|l| store.content().exists(&l.blob.digest)) {
                p.record = existing;
                p.files.clear();
                p.docs.clear();
            }
        }
    }
    for p in &plans {
        for path in &p.files {
            files.publish(store, path)?;
        }
        for doc in &p.docs {
            store.content().put(doc)?;
        }
    }
    drop(files);
    for p in &mut plans {
        layer::ensure_unpacked(store, &p.record.layers)
            .map_err(|e| Error::Invalid(format!("loading {}: {e}", p.origin)))?;
        p.record.size =
            p.record.layers.iter().map(|l| store.layer_meta(&l.chain_id).map(|m| m.size).unwrap_or(0)).sum();
    }
    let mut loaded = Vec::with_capacity(plans.len());
    for p in plans {
        let id = p.record.id.clone();
        store.put_image(p.record, &p.tags)?;
        loaded.push(Loaded { id, tags: p.tags });
    }
    Ok(loaded)
}

/// One image found in an archive, checked but not stored yet.
struct Plan {
    record: ImageRecord,
    tags: Vec<Reference>,
    /// Archive files (normalised paths) to publish as blobs.
    files: Vec<String>,
    /// Documents made while loading (a docker-archive image's manifest).
    docs: Vec<Vec<u8>>,
    /// Where in the archive the image is described, for errors.
    origin: String,
}

/// One plan per image id; tags of duplicates are merged into the first.
fn merge_plans(plans: &mut Vec<Plan>) {
    let mut by_id: BTreeMap<Digest, usize> = BTreeMap::new();
    let mut out: Vec<Plan> = Vec::with_capacity(plans.len());
    for p in plans.drain(..) {
        match by_id.get(&p.record.id) {
            Some(&i) => {
                for t in p.tags {
                    if !out[i].tags.iter().any(|x| x.full() == t.full()) {
                        out[i].tags.push(t);
                    }
                }
            }
            None => {
                by_id.insert(p.record.id.clone(), out.len());
                out.push(p);
            }
        }
    }
    *plans = out;
}

fn not_an_archive(why: &str) -> Error {
    Error::Invalid(format!("not an image archive: {why}"))
}

/// An error about one file inside the archive.
fn bad(file: &str, why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("image archive: {file}: {why}"))
}

/// `input`, decompressed if its first bytes say gzip or zstd.
fn sniffed<'a>(input: &'a mut (dyn Read + Send)) -> Result<Box<dyn Read + Send + 'a>> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match input.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading the input", e)),
        }
    }
    let compression = Compression::sniff(&head[..n]);
    let stream = io::BufReader::with_capacity(256 << 10, io::Cursor::new(head[..n].to_vec()).chain(input));
    layer::decompress(stream, compression)
}

// ---- writing tars ----

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    // Like docker save: every entry at the epoch, so an image always makes
    // the same archive.
    h.set_mtime(0);
    h
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = header(0, 0o755, tar::EntryType::Directory);
    tar.append_data(&mut h, path, io::empty()).map_err(|e| Error::io(format!("writing {path} to the archive"), e))
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> Result<()> {
    let mut h = header(bytes.len() as u64, 0o644, tar::EntryType::Regular);
    tar.append_data(&mut h, path, bytes).map_err(|e| Error::io(format!("writing {path} to the archive"), e))
}

/// Streams exactly `size` bytes of `data` into the archive as `path`, and
/// checks that they hash to `digest`. `what` names the data in errors.
fn append_verified<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
    digest: &Digest,
    what: &str,
) -> Result<()> {
    let mut hashing = HashingReader::new(data);
    let mut h = header(size, 0o644, tar::EntryType::Regular);
    let exact = Exact { inner: &mut hashing, left: size };
    tar.append_data(&mut h, path, exact).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => {
            Error::Invalid(format!("{what}: not the {size} bytes recorded for it: {e}"))
        }
        _ => Error::io(format!("writing {path} to the archive"), e),
    })?;
    let (actual, _) = hashing.finish();
    if actual != *digest {
        return Err(Error::Invalid(format!("{what}: content is {actual}, expected {digest} (the store is damaged)")));
    }
    Ok(())
}

/// Yields exactly `left` bytes of `inner`: an error if it ends sooner or has more.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(io::ErrorKind::InvalidData, "longer than expected")),
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "shorter than expected"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The uncompressed size of a layer: from its unpacked layer's metadata,
/// the blob itself if uncompressed, or else by decompressing it once.
fn plain_size(store: &ImageStore, l: &LayerRecord) -> Result<u64> {
    if let Ok(meta) = store.layer_meta(&l.chain_id) {
        if meta.diff_id == l.diff_id && meta.size > 0 {
            return Ok(meta.size);
        }
    }
    let compression = layer_compression(l);
    if compression == Compression::None {
        return store.content().size(&l.blob.digest).ok_or_else(|| Error::BlobNotFound(l.blob.digest.clone()));
    }
    let blob = store.content().open_blob(&l.blob.digest)?;
    let mut plain = layer::decompress(blob, compression)?;
    io::copy(&mut plain, &mut io::sink()).map_err(|e| Error::io(format!("decompressing layer {}", l.blob.digest), e))
}

fn layer_compression(l: &LayerRecord) -> Compression {
    Compression::of_layer(&l.blob.media_type).unwrap_or(Compression::Gzip)
}

/// Now, in RFC 3339 with nanoseconds, trailing zeros trimmed (Go's
/// RFC3339Nano, as docker and the OCI tools write `created`).
fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    // jiff prints Go's RFC3339Nano: the fraction without trailing zeros.
    jiff::Timestamp::new(secs, nanos as i32).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(0, 120_000_000), "1970-01-01T00:00:00.12Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_700_000_000, 123_456_789), "2023-11-14T22:13:20.123456789Z");
    }

    #[test]
    fn exact_refuses_short_and_long_streams() {
        let mut out = Vec::new();
        assert!(io::copy(&mut Exact { inner: &b"abc"[..], left: 3 }, &mut out).is_ok());
        assert_eq!(
            io::copy(&mut Exact { inner: &b"ab"[..], left: 3 }, &mut out).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            io::copy(&mut Exact { inner: &b"abcd"[..], left: 3 }, &mut out).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!("docker".parse::<Format>().unwrap(), Format::Docker);
        assert_eq!("oci-archive".parse::<Format>().unwrap(), Format::Oci);
        assert_eq!(Format::default(), Format::Docker);
        assert!("zip".parse::<Format>().is_err());
    }
}
