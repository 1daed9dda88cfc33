//! Manifests, indexes and descriptors in both the OCI and the Docker v2
//! schema 2 forms (same shapes, different media types), and platform choice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The media types berth reads and writes (image-spec media-types.md, and
/// Docker's schema 2 equivalents).
pub mod media {
    /// An OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// An OCI image index: manifests for several platforms.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// An OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// An uncompressed OCI layer tarball.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// A gzip-compressed OCI layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// A zstd-compressed OCI layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// A non-distributable layer (deprecated by the image spec): pulled like
    /// any other, by its digest.
    pub const OCI_LAYER_ND: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    /// A non-distributable gzip layer.
    pub const OCI_LAYER_ND_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    /// A non-distributable zstd layer.
    pub const OCI_LAYER_ND_ZSTD: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    /// A Docker schema 2 manifest (same shape as OCI's).
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// A Docker manifest list (the index's equivalent).
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// A Docker image config (same shape as OCI's).
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// A Docker layer: always gzip.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// A Docker foreign layer (Windows base layers), gzip like the others.
    pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// What a registry is asked for, in order of preference.
    pub const ACCEPT_MANIFESTS: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

    /// An image manifest, OCI or Docker.
    pub fn is_manifest(m: &str) -> bool {
        m == OCI_MANIFEST || m == DOCKER_MANIFEST
    }

    /// An index, OCI or Docker.
    pub fn is_index(m: &str) -> bool {
        m == OCI_INDEX || m == DOCKER_LIST
    }

    /// An image config, OCI or Docker.
    pub fn is_config(m: &str) -> bool {
        m == OCI_CONFIG || m == DOCKER_CONFIG
    }
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// From a layer media type; None for something that is not a layer.
    pub fn of_layer(media_type: &str) -> Option<Compression> {
        use media::*;
        Some(match media_type {
            OCI_LAYER | OCI_LAYER_ND => Compression::None,
            OCI_LAYER_GZIP | OCI_LAYER_ND_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN => Compression::Gzip,
            OCI_LAYER_ZSTD | OCI_LAYER_ND_ZSTD => Compression::Zstd,
            _ => return None,
        })
    }

    /// From the first bytes of a stream (archives do not always say).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A platform as the image spec names it: Go's GOOS and GOARCH values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// The CPU architecture, as Go's GOARCH (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// The operating system, as Go's GOOS (`linux`).
    pub os: String,
    /// The OS version (`os.version`), set by Windows images only.
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// The CPU variant (`v7` for 32-bit arm, `v8` for arm64); None matches
    /// any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform berth runs on, in Go's names (amd64, arm64, ...).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        let variant = (arch == "arm64").then(|| "v8".to_string());
        Platform { architecture: arch.into(), os: "linux".into(), os_version: None, variant }
    }

    /// `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => {
                Ok(Platform { os: os.to_string(), architecture: arch.to_string(), ..Default::default() })
            }
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
                ..Default::default()
            }),
            _ => Err(format!("invalid platform {s:?}: expected os/arch[/variant]")),
        }
    }

    /// Whether an index entry for `other` runs here. A missing variant
    /// matches (arm64 images rarely say v8).
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor (image-spec descriptor.md): what a blob is, which
/// blob and how big, as manifests and indexes point at their parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is (one of [`media`]'s types, or another a registry
    /// holds).
    pub media_type: String,
    /// The blob's digest: fetched content is checked against it.
    pub digest: Digest,
    /// The blob's size in bytes, also checked: a blob of any other length is
    /// rejected.
    pub size: u64,
    /// Other places the blob may be fetched from; berth ignores them and asks
    /// the registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Free-form metadata (`org.opencontainers.image.ref.name`, ...), kept as
    /// given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// In an index: the platform the manifest is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with no urls, annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: vec![],
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// An image manifest: one config and the layers, base first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2 (schema 1 is refused on parse).
    pub schema_version: u32,
    /// The manifest's media type, when it states it (OCI makes it optional;
    /// the Content-Type then says it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// The layers in order, base first; each is applied onto the ones before.
    pub layers: Vec<Descriptor>,
    /// The manifest's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (or Docker manifest list): one manifest per platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type, when it states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests it lists, each with its platform; entries without a
    /// platform, or that are not image manifests, are never selected.
    pub manifests: Vec<Descriptor>,
    /// The index's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A fetched manifest document, either kind.
#[derive(Clone, Debug)]
pub enum Document {
    /// An image manifest.
    Manifest(Manifest),
    /// An index.
    Index(Index),
}

/// Why a manifest or index cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A media type that is neither a manifest nor an index.
    #[error("unknown manifest media type {0:?}")]
    UnknownMediaType(String),
    /// The document does not parse, or is not schema 2, or its config is
    /// not an image config.
    #[error("invalid {kind}: {reason}")]
    Invalid {
        /// `manifest` or `index`.
        kind: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The index has no image manifest for the wanted platform.
    #[error("no manifest for platform {wanted} in the index (it has: {available})")]
    NoPlatform {
        /// The platform asked for, as `os/arch[/variant]`.
        wanted: String,
        /// The platforms the index lists, comma-separated.
        available: String,
    },
    /// A layer whose media type is no tar berth can unpack (a foreign
    /// artifact, an encrypted layer).
    #[error("unsupported layer media type {media_type:?} for layer {digest}")]
    UnknownLayer {
        /// Its media type.
        media_type: String,
        /// Its digest.
        digest: Digest,
    },
}

impl Document {
    /// Parses a manifest or index. `media_type` is what the registry or the
    /// enclosing descriptor said; the document's own mediaType field wins
    /// when present, and schemaVersion 1 is refused.
    pub fn parse(bytes: &[u8], media_type: Option<&str>) -> Result<Document, ManifestError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            schema_version: Option<u32>,
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|e| ManifestError::Invalid { kind: "manifest", reason: e.to_string() })?;
        if probe.schema_version != Some(2) {
            return Err(ManifestError::Invalid {
                kind: "manifest",
                reason: format!("schemaVersion {:?} is not supported (only 2)", probe.schema_version),
            });
        }
        let mt = probe.media_type.as_deref().or(media_type).unwrap_or(if probe.manifests.is_some() {
            media::OCI_INDEX
        } else {
            media::OCI_MANIFEST
        });
        if media::is_index(mt) {
            let idx: Index = serde_json::from_slice(bytes)
                .map_err(|e| ManifestError::Invalid { kind: "index", reason: e.to_string() })?;
            Ok(Document::Index(idx))
        } else if media::is_manifest(mt) {
            let m: Manifest = serde_json::from_slice(bytes)
                .map_err(|e| ManifestError::Invalid { kind: "manifest", reason: e.to_string() })?;
            for l in &m.layers {
                if Compression::of_layer(&l.media_type).is_none() {
                    return Err(ManifestError::UnknownLayer {
                        media_type: l.media_type.clone(),
                        digest: l.digest.clone(),
                    });
                }
            }
            if !media::is_config(&m.config.media_type) {
                return Err(ManifestError::Invalid {
                    kind: "manifest",
                    reason: format!("config media type {:?} is not an image config", m.config.media_type),
                });
            }
            Ok(Document::Manifest(m))
        } else {
            Err(ManifestError::UnknownMediaType(mt.to_string()))
        }
    }
}

impl Index {
    /// The manifest for `platform`.
    pub fn select(&self, platform: &Platform) -> Result<&Descriptor, ManifestError> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)) && media::is_manifest(&d.media_type))
            .ok_or_else(|| ManifestError::NoPlatform {
                wanted: platform.to_string(),
                available: self
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn docker_and_oci_manifests_parse() {
        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{D1}","size":10}},
            "layers":[{{"mediaType":"{}","digest":"{D2}","size":20}}]}}"#,
            media::DOCKER_MANIFEST,
            media::DOCKER_CONFIG,
            media::DOCKER_LAYER_GZIP
        );
        match Document::parse(docker.as_bytes(), None).unwrap() {
            Document::Manifest(m) => assert_eq!(m.layers[0].size, 20),
            d => panic!("{d:?}"),
        }
        // OCI manifests may omit mediaType; the registry's Content-Type says it.
        let oci = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{D1}","size":1}},"layers":[]}}"#,
            media::OCI_CONFIG
        );
        assert!(matches!(Document::parse(oci.as_bytes(), Some(media::OCI_MANIFEST)).unwrap(), Document::Manifest(_)));
    }

    #[test]
    fn unknown_types_and_schema1_are_refused() {
        let e = Document::parse(br#"{"schemaVersion":1,"name":"x"}"#, None).unwrap_err();
        assert!(e.to_string().contains("schemaVersion Some(1)"), "{e}");
        let e = Document::parse(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#, None).unwrap_err();
        assert_eq!(e.to_string(), "unknown manifest media type \"text/plain\"");
        let bad_layer = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{D1}","size":1}},
            "layers":[{{"mediaType":"application/x-weird","digest":"{D2}","size":1}}]}}"#,
            media::OCI_MANIFEST,
            media::OCI_CONFIG
        );
        let e = Document::parse(bad_layer.as_bytes(), None).unwrap_err();
        assert!(e.to_string().starts_with("unsupported layer media type \"application/x-weird\""), "{e}");
    }

    #[test]
    fn platforms_are_selected_from_an_index() {
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[
            {{"mediaType":"{m}","digest":"{D1}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
            {{"mediaType":"{m}","digest":"{D2}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            media::DOCKER_LIST,
            m = media::DOCKER_MANIFEST
        );
        let Document::Index(i) = Document::parse(idx.as_bytes(), None).unwrap() else { panic!() };
        assert_eq!(i.select(&Platform::parse("linux/amd64").unwrap()).unwrap().digest.to_string(), D2);
        assert_eq!(i.select(&Platform::parse("linux/arm64").unwrap()).unwrap().digest.to_string(), D1);
        let e = i.select(&Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no manifest for platform linux/s390x in the index (it has: linux/arm64/v8, linux/amd64)"
        );
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn compression_from_media_type_and_magic() {
        assert_eq!(Compression::of_layer(media::DOCKER_LAYER_GZIP), Some(Compression::Gzip));
        assert_eq!(Compression::of_layer(media::OCI_LAYER_ZSTD), Some(Compression::Zstd));
        assert_eq!(Compression::of_layer(media::OCI_LAYER), Some(Compression::None));
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(Compression::sniff(b"ustar"), Compression::None);
    }
}
