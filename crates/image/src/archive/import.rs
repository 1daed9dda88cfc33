//! `berth import`: a root filesystem tarball becomes a one-layer image.
//!
//! One pass over the input: the (decompressed) tar is unpacked into a staged
//! layer while every byte read is hashed (the diff id) and gzip-compressed
//! into the content store (the blob, hashed as it is written). Nothing is
//! published before the whole tarball has unpacked cleanly.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde::Serialize;
use serde_json::ser::CharEscape;

use crate::content::BlobWriter;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer;
use crate::manifest::{media, Compression, Descriptor, Manifest, Platform};
use crate::reference::Reference;
use crate::store::{ImageRecord, ImageStore, LayerMeta};

use super::{rfc3339_now, sniffed};

/// What `docker import --change` and `--message` can set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportConfig {
    /// `CMD`: the default arguments; None leaves the config without one.
    pub cmd: Option<Vec<String>>,
    /// `ENTRYPOINT`; None leaves the config without one.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// `WORKDIR`.
    pub workdir: Option<String>,
    /// `USER`: a name or uid, with an optional `:group`.
    pub user: Option<String>,
    /// "80/tcp" entries.
    pub exposed_ports: Vec<String>,
    /// `VOLUME` paths, in the container.
    pub volumes: Vec<String>,
    /// `LABEL`s.
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL`, by name or number.
    pub stop_signal: Option<String>,
    /// The history entry's comment.
    pub message: Option<String>,
}

/// Imports the tarball `rootfs_tar` (plain, gzip or zstd, told by its first
/// bytes) as a one-layer image for this host's platform, tagged `tag`.
pub fn import(
    store: &ImageStore,
    rootfs_tar: &mut (dyn Read + Send),
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
    let comment = config.message.clone().unwrap_or_else(|| "Imported from tarball".into());
    let image_config = GoImage {
        created: &created,
        architecture: &platform.architecture,
        os: &platform.os,
        variant: platform.variant.as_deref(),
        config: GoConfig {
            env: &config.env,
            entrypoint: config.entrypoint.as_deref().unwrap_or_default(),
            cmd: config.cmd.as_deref().unwrap_or_default(),
            working_dir: config.workdir.as_deref().unwrap_or_default(),
            user: config.user.as_deref().unwrap_or_default(),
            exposed_ports: config.exposed_ports.iter().map(|p| (p.as_str(), Empty {})).collect(),
            volumes: config.volumes.iter().map(|p| (p.as_str(), Empty {})).collect(),
            labels: &config.labels,
            stop_signal: config.stop_signal.as_deref().unwrap_or_default(),
        },
        rootfs: GoRootFs { kind: "layers", diff_ids: std::slice::from_ref(&diff_id) },
        history: [GoHistory { created: &created, created_by: "berth import", comment: &comment }],
    };
    let config_bytes = go_json(&image_config)?;
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
    inner: Box<dyn Read + Send + 'a>,
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

// ---- the config, as Go writes it ----
//
// Peers written in Go (skopeo, containerd, podman) re-encode a config with
// `json.Marshal` of the image-spec structs when they convert an image from
// docker to OCI. An imported image's config is written exactly that way
// (field order, omitted empty fields, Go's string escapes, RFC 3339 with
// trailing zeros trimmed), so such a conversion gives back the same bytes
// and the image keeps its id.

#[derive(Serialize)]
struct GoImage<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    config: GoConfig<'a>,
    rootfs: GoRootFs<'a>,
    history: [GoHistory<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GoConfig<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    env: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    entrypoint: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    cmd: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    working_dir: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    user: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    exposed_ports: BTreeMap<&'a str, Empty>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    volumes: BTreeMap<&'a str, Empty>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    stop_signal: &'a str,
}

/// Go's `struct{}` in a set-like map: `{}`.
#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct GoRootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: &'a [Digest],
}

#[derive(Serialize)]
struct GoHistory<'a> {
    created: &'a str,
    created_by: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    comment: &'a str,
}

/// JSON as Go's encoding/json writes it: compact, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped, and control characters other than \n, \r, \t as \u00XX.
fn go_json(value: &impl Serialize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut ser).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(out)
}

struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(['<', '>', '&', '\u{2028}', '\u{2029}']) {
            w.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + Write>(&mut self, w: &mut W, escape: CharEscape) -> io::Result<()> {
        let s: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::AsciiControl(c) => return write!(w, "\\u{:04x}", c),
        };
        w.write_all(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_escaped_like_go() {
        let v = serde_json::json!({"s": "a<b>&c\u{2028}\"\\\n\t\u{8}\u{c}\u{1}é/"});
        assert_eq!(
            String::from_utf8(go_json(&v).unwrap()).unwrap(),
            r#"{"s":"a\u003cb\u003e\u0026c\u2028\"\\\n\t\u0008\u000c\u0001é/"}"#
        );
    }

    #[test]
    fn empty_fields_are_left_out_as_go_does() {
        let d = Digest::of(b"x");
        let labels = BTreeMap::new();
        let img = GoImage {
            created: "2024-01-01T00:00:00Z",
            architecture: "amd64",
            os: "linux",
            variant: None,
            config: GoConfig {
                env: &[],
                entrypoint: &[],
                cmd: &["sh".to_string()],
                working_dir: "",
                user: "",
                exposed_ports: BTreeMap::new(),
                volumes: BTreeMap::new(),
                labels: &labels,
                stop_signal: "",
            },
            rootfs: GoRootFs { kind: "layers", diff_ids: std::slice::from_ref(&d) },
            history: [GoHistory { created: "2024-01-01T00:00:00Z", created_by: "berth import", comment: "" }],
        };
        assert_eq!(
            String::from_utf8(go_json(&img).unwrap()).unwrap(),
            format!(
                r#"{{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{d}"]}},"history":[{{"created":"2024-01-01T00:00:00Z","created_by":"berth import"}}]}}"#
            )
        );
    }
}
