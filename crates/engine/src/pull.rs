//! Getting images from registries, as every frontend does it: the pull
//! policy (`--pull missing|always|never`, the API's implicit pulls, a
//! Dockerfile's `FROM`, later a pod's `imagePullPolicy`) and the registry
//! options, credentials included. They live here so that `berth run`, `berth
//! build`, the Docker API and the node agent cannot disagree: a `berth login`
//! is honoured by every pull, not only by `berth pull`.

use std::time::Duration;

use image::manifest::Platform;
use image::progress::Progress;
use image::registry::{self, RegistryOptions};
use image::{ImageRecord, Reference};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// When an image is fetched from its registry.
pub enum PullPolicy<'a> {
    /// Pull when it is not in the store (docker's default for run/create).
    Missing(&'a dyn Progress, RegistryOptions),
    /// Pull every time, so a moved tag is followed (`--pull always`).
    Always(&'a dyn Progress, RegistryOptions),
    /// Use only what the store has.
    Never,
}

impl<'a> PullPolicy<'a> {
    /// docker's `--pull` words, with the progress and registry options a
    /// pull would use.
    pub fn parse(word: &str, progress: &'a dyn Progress, registry: RegistryOptions) -> Result<PullPolicy<'a>> {
        match word {
            "missing" => Ok(PullPolicy::Missing(progress, registry)),
            "always" => Ok(PullPolicy::Always(progress, registry)),
            "never" => Ok(PullPolicy::Never),
            other => Err(Error::Invalid(format!(
                "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
            ))),
        }
    }
}

/// Registry options with berth's defaults: plain HTTP only where asked
/// (loopback always is), and `BERTH_REGISTRY_TIMEOUT=SECONDS` bounding
/// connects and reads, for scripts that want a hung registry to fail fast.
pub fn registry_options(insecure: bool) -> RegistryOptions {
    let mut o = RegistryOptions { insecure, ..Default::default() };
    if let Some(secs) = std::env::var("BERTH_REGISTRY_TIMEOUT").ok().and_then(|s| s.parse::<u64>().ok()) {
        o.read_timeout = Duration::from_secs(secs);
        o.connect_timeout = Duration::from_secs(secs);
    }
    o
}

/// `opts` with the credentials `berth login` stored for `registry_host`,
/// unless the caller brought its own (the API's `X-Registry-Auth`).
pub fn with_stored_credentials(mut opts: RegistryOptions, registry_host: &str) -> Result<RegistryOptions> {
    if opts.credentials.is_none() {
        let file = registry::default_config_path();
        opts.credentials = registry::load_credentials(&file, registry_host)
            .map_err(|e| Error::Invalid(format!("reading the registry credentials in {}: {e}", file.display())))?;
    }
    Ok(opts)
}

impl Engine {
    /// Pulls `reference` for `platform` (credentials filled in as
    /// [`with_stored_credentials`] does).
    pub fn pull(
        &self,
        reference: &Reference,
        platform: Platform,
        registry: RegistryOptions,
        progress: &dyn Progress,
    ) -> Result<image::pull::Pulled> {
        let opts = image::pull::PullOptions {
            platform,
            registry: with_stored_credentials(registry, &reference.registry)?,
            progress,
            concurrency: 3,
        };
        Ok(image::pull::pull(&self.images, reference, &opts)?)
    }

    /// The image named `name` for the host's platform, pulled as `policy` says.
    pub fn image_for(&self, name: &str, policy: PullPolicy) -> Result<ImageRecord> {
        self.image_for_platform(name, Platform::host(), policy)
    }

    /// The image named `name` for `platform`, pulled as `policy` says.
    pub fn image_for_platform(&self, name: &str, platform: Platform, policy: PullPolicy) -> Result<ImageRecord> {
        let (progress, registry) = match policy {
            PullPolicy::Always(progress, registry) => {
                let reference: Reference = name.parse().map_err(image::Error::from)?;
                return Ok(self.pull(&reference, platform, registry, progress)?.image);
            }
            PullPolicy::Missing(progress, registry) => (Some(progress), registry),
            PullPolicy::Never => (None, RegistryOptions::default()),
        };
        match self.images.resolve(name) {
            Ok(r) => Ok(r),
            Err(image::Error::ImageNotFound(_)) => match progress {
                None => Err(Error::Image(image::Error::ImageNotFound(name.to_string()))),
                Some(progress) => {
                    let reference: Reference = name.parse().map_err(image::Error::from)?;
                    progress.message(&format!("Unable to find image '{reference}' locally"));
                    Ok(self.pull(&reference, platform, registry, progress)?.image)
                }
            },
            Err(e) => Err(e.into()),
        }
    }
}

/// What a registry says of a name without pulling it (`GET
/// /distribution/{name}/json`, docker-py's `get_registry_data`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryData {
    /// The manifest or index the name resolves to.
    pub descriptor: image::manifest::Descriptor,
    /// The platforms it has images for: an index's entries, or the one
    /// image's config.
    pub platforms: Vec<Platform>,
}

/// Resolves `reference` at its registry (credentials filled in as
/// [`with_stored_credentials`] does): the manifest's descriptor, and the
/// platforms, read from the index or from the image's config.
pub fn registry_data(reference: &Reference, registry: RegistryOptions) -> Result<RegistryData> {
    let opts = with_stored_credentials(registry, &reference.registry)?;
    let client = registry::Client::new(&reference.registry, opts)?;
    let fetched = client.get_manifest(&reference.repository, &reference.manifest_ref())?;
    let descriptor =
        image::manifest::Descriptor::new(&fetched.media_type, fetched.digest.clone(), fetched.bytes.len() as u64);
    let unreadable = |e: serde_json::Error| Error::Invalid(format!("the registry's manifest of {reference}: {e}"));
    let platforms = if image::manifest::media::is_index(&fetched.media_type) {
        let index: image::manifest::Index = serde_json::from_slice(&fetched.bytes).map_err(unreadable)?;
        index.manifests.into_iter().filter_map(|m| m.platform).collect()
    } else {
        let manifest: image::manifest::Manifest = serde_json::from_slice(&fetched.bytes).map_err(unreadable)?;
        let mut blob = client.get_blob(&reference.repository, &manifest.config.digest)?;
        let mut config = Vec::new();
        // A config is small; a bound keeps a hostile registry from filling memory.
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut blob, 4 << 20), &mut config)
            .map_err(|e| Error::io(format!("reading the config of {reference}"), e))?;
        let config = image::config::ImageConfig::parse(&config, &manifest.config.digest)?;
        vec![config.platform()]
    };
    Ok(RegistryData { descriptor, platforms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::progress::Quiet;

    #[test]
    fn the_pull_words_are_dockers() {
        let q = Quiet;
        assert!(matches!(PullPolicy::parse("missing", &q, Default::default()), Ok(PullPolicy::Missing(..))));
        assert!(matches!(PullPolicy::parse("always", &q, Default::default()), Ok(PullPolicy::Always(..))));
        assert!(matches!(PullPolicy::parse("never", &q, Default::default()), Ok(PullPolicy::Never)));
        let Err(e) = PullPolicy::parse("sometimes", &q, Default::default()) else { panic!("accepted") };
        assert!(e.to_string().contains("'sometimes'"), "{e}");
    }

    #[test]
    fn credentials_the_caller_brings_win_over_stored_ones() {
        let mine = registry::Credentials::new("me", "pw");
        let opts = RegistryOptions { credentials: Some(mine.clone()), ..Default::default() };
        let out = with_stored_credentials(opts, "registry.invalid").unwrap();
        assert_eq!(out.credentials, Some(mine));
    }
}
