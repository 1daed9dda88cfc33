//! Manifests, indexes and descriptors in both the OCI and the Docker v2
//! schema 2 forms (same shapes, different media types), and platform choice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

pub mod media {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_ND: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    pub const OCI_LAYER_ND_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const OCI_LAYER_ND_ZSTD: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// What a registry is asked for, in order of preference.
    pub const ACCEPT_MANIFESTS: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

    pub fn is_manifest(m: &str) -> bool {
        m == OCI_MANIFEST || m == DOCKER_MANIFEST
    }

    pub fn is_index(m: &str) -> bool {
        m == OCI_INDEX || m == DOCKER_LIST
    }

    pub fn is_config(m: &str) -> bool {
        m == OCI_CONFIG || m == DOCKER_CONFIG
    }
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A fetched manifest document, either kind.
#[derive(Clone, Debug)]
pub enum Document {
    Manifest(Manifest),
    Index(Index),
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("unknown manifest media type {0:?}")]
    UnknownMediaType(String),
    #[error("invalid {kind}: {reason}")]
    Invalid { kind: &'static str, reason: String },
    #[error("no manifest for platform {wanted} in the index (it has: {available})")]
    NoPlatform { wanted: String, available: String },
    #[error("unsupported layer media type {media_type:?} for layer {digest}")]
    UnknownLayer { media_type: String, digest: Digest },
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
