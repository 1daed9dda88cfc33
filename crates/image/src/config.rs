//! The image configuration blob (OCI and Docker share the shape). Only read:
//! the stored bytes are never re-serialised, since their digest is the image id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The image config (image-spec config.md): the platform, the defaults of its
/// containers, and the layers' diff ids. Fields berth does not use are
/// dropped on parse.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// The CPU architecture, as Go's GOARCH.
    #[serde(default)]
    pub architecture: String,
    /// The operating system, as Go's GOOS.
    #[serde(default)]
    pub os: String,
    /// The CPU variant (`v8`), when the image gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// When the image was built, RFC 3339 as written by its builder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who built it, free-form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The container defaults; absent in some minimal images, then all unset.
    #[serde(default)]
    pub config: RunConfig,
    /// The layers as unpacked: required, and checked by
    /// [`ImageConfig::parse`].
    pub rootfs: RootFs,
    /// One entry per build step, empty layers included (see
    /// [`History::empty_layer`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// What a container of this image runs by default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `User`: `user`, `uid`, `user:group` or `uid:gid`, resolved in the
    /// container's /etc/passwd and /etc/group; None: root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `Env`: `KEY=value` strings; a container's own environment is applied
    /// over them.
    pub env: Option<Vec<String>>,
    /// `Entrypoint`: argv before `cmd`; a container's own entrypoint replaces
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`: the default arguments (after the entrypoint), replaced by a
    /// container's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `WorkingDir`: the process's cwd; None or empty: /.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `ExposedPorts`: keys `port/proto` (`80/tcp`); the values are empty
    /// objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// `Volumes`: keys are container paths that get an anonymous volume;
    /// values are empty objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// `Labels`: free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `StopSignal`: what `stop` sends first (`SIGTERM` when None), by name
    /// or number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `Healthcheck`, kept as Docker's JSON (Test, Interval, ... in
    /// nanoseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    /// `OnBuild`: instructions for builds FROM this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// `Shell`: the shell for the shell form of RUN, CMD and ENTRYPOINT
    /// (default `/bin/sh -c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// The config's `rootfs`: which uncompressed layers, in order, make the
/// image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// `type`; always `layers` in a usable image.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The digests of the layers' uncompressed tars, base first; they
    /// identify layers independently of their compression.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// One step of how the image was built, as `history` shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command of the step (`/bin/sh -c #(nop) CMD ["sh"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A free-form comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The step made no layer; entries with it have no diff id in `rootfs`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl ImageConfig {
    /// The platform this image was built for, from its config.
    pub fn platform(&self) -> crate::manifest::Platform {
        crate::manifest::Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: None,
            variant: self.variant.clone(),
        }
    }

    /// Parses a config blob (`digest` is for messages);
    /// [`Error::Config`](crate::Error::Config) when it does not parse or its
    /// rootfs type is not `layers`.
    pub fn parse(bytes: &[u8], digest: &Digest) -> crate::Result<ImageConfig> {
        let c: ImageConfig = serde_json::from_slice(bytes)
            .map_err(|e| crate::Error::Config { digest: digest.clone(), reason: e.to_string() })?;
        if c.rootfs.kind != "layers" {
            return Err(crate::Error::Config {
                digest: digest.clone(),
                reason: format!("rootfs.type is {:?}, expected \"layers\"", c.rootfs.kind),
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_parses() {
        let d = Digest::of(b"x");
        let c = ImageConfig::parse(
            br#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":"/w"},
            "rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]},
            "history":[{"created_by":"ADD file","empty_layer":false}],"container_config":{"ignored":true}}"#,
            &d,
        )
        .unwrap();
        assert_eq!(c.config.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(c.config.working_dir.as_deref(), Some("/w"));
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        let e = ImageConfig::parse(br#"{"rootfs":{"type":"other","diff_ids":[]}}"#, &d).unwrap_err();
        assert!(e.to_string().contains("rootfs.type"), "{e}");
    }
}
