//! Image references as docker writes them: `[registry/]path[:tag][@digest]`,
//! normalised the docker way (`busybox` is `docker.io/library/busybox:latest`).

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// The registry of a reference that names none (`busybox`).
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag of a reference that has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed image reference, normalised: `busybox` parses to
/// `docker.io/library/busybox:latest`. Display prints [`Reference::full`].
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Reference {
    /// Registry host, with port if any: `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry: `library/busybox`.
    pub repository: String,
    /// The tag; always set after parsing unless a digest pins the reference
    /// without one.
    pub tag: Option<String>,
    /// The digest it is pinned to (`@sha256:…`); it wins over the tag when
    /// both are given.
    pub digest: Option<Digest>,
}

/// A string that is not a valid image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid reference format {input:?}: {reason}")]
pub struct ReferenceError {
    /// The string as given.
    pub input: String,
    /// Which rule it breaks.
    pub reason: String,
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by one of: "." "_" "__" or a run of "-".
    if c.is_empty() || !c.as_bytes()[0].is_ascii_alphanumeric() || !c.as_bytes()[c.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let b = c.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator: "." | "_" | "__" | "-"+, between alphanumerics.
        let start = i;
        match ch {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i >= b.len() || !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) || start == 0 {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (h, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') && host.ends_with(']') {
        return host.len() > 2;
    }
    !host.is_empty()
        && host.split('.').all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Reference, ReferenceError> {
        let err = |reason: &str| ReferenceError { input: input.to_string(), reason: reason.to_string() };
        if input.is_empty() {
            return Err(err("empty"));
        }
        if input.len() > 512 {
            return Err(err("too long"));
        }
        let (name_tag, digest) = match input.split_once('@') {
            Some((n, d)) => (n, Some(d.parse::<Digest>().map_err(|e| err(&e.to_string()))?)),
            None => (input, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(err(&format!("invalid tag {t:?}")));
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[') =>
            {
                if !valid_host(first) {
                    return Err(err(&format!("invalid registry host {first:?}")));
                }
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if path.is_empty() {
            return Err(err("missing repository name"));
        }
        if path.len() > 255 {
            return Err(err("repository name longer than 255 characters"));
        }
        for c in path.split('/') {
            if !valid_component(c) {
                return Err(err(if c.bytes().any(|b| b.is_ascii_uppercase()) {
                    "repository name must be lowercase"
                } else {
                    "repository name components are lowercase letters, digits and . _ __ - separators"
                }));
            }
        }
        let repository =
            if registry == DEFAULT_REGISTRY && !path.contains('/') { format!("library/{path}") } else { path };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference { registry, repository, tag, digest })
    }
}

impl Reference {
    /// `registry/repository` — what a tag or digest is attached to.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name as docker shows it: without `docker.io/` and `library/`.
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_string()
        } else {
            self.name()
        }
    }

    /// `name:tag` or `name@digest`, fully qualified: the key images are stored under.
    pub fn full(&self) -> String {
        let mut s = self.name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// What a registry's manifest endpoint takes: the digest if pinned, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// The same repository with a different tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }

    /// The same repository pinned to a digest.
    pub fn with_digest(&self, d: &Digest) -> Reference {
        Reference { tag: None, digest: Some(d.clone()), ..self.clone() }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar_name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        s.parse().unwrap()
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        let x = r("busybox");
        assert_eq!(x.full(), "docker.io/library/busybox:latest");
        assert_eq!(x.to_string(), "busybox:latest");
        assert_eq!(r("user/app:1.0").full(), "docker.io/user/app:1.0");
        assert_eq!(r("docker.io/library/alpine").familiar_name(), "alpine");
    }

    #[test]
    fn registries_with_ports_and_localhost() {
        let x = r("127.0.0.1:5000/team/app:v2");
        assert_eq!(
            (x.registry.as_str(), x.repository.as_str(), x.tag.as_deref()),
            ("127.0.0.1:5000", "team/app", Some("v2"))
        );
        assert_eq!(r("localhost/app").registry, "localhost");
        assert_eq!(r("localhost:5000/app").repository, "app");
        assert_eq!(r("[::1]:5000/app").registry, "[::1]:5000");
        assert_eq!(r("127.0.0.1:5000/app").tag.as_deref(), Some("latest"));
    }

    #[test]
    fn digests_pin_and_suppress_the_default_tag() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let x = r(&format!("busybox@{d}"));
        assert_eq!(x.tag, None);
        assert_eq!(x.manifest_ref(), d);
        let y = r(&format!("busybox:1.36@{d}"));
        assert_eq!(y.tag.as_deref(), Some("1.36"));
        assert_eq!(y.manifest_ref(), d);
    }

    #[test]
    fn bad_references_say_why() {
        for (bad, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("busybox:", "invalid tag"),
            ("busybox:a/b", "invalid registry host"),
            ("a//b", "lowercase letters"),
            ("-abc", "lowercase letters"),
            ("busybox@sha256:123", "sha256 digest"),
            ("bad host:5000/x", "invalid registry host"),
            ("busy..box", "lowercase letters"),
        ] {
            let e = bad.parse::<Reference>().unwrap_err();
            assert!(e.to_string().contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn separators_follow_the_grammar() {
        for ok in ["a_b", "a__b", "a-b", "a---b", "a.b", "a1/b2"] {
            r(ok);
        }
        for bad in ["a___b", "a_", "a.", "_a", "a-", "a.-b"] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }
}
