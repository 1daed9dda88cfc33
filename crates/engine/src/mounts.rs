//! docker's mount syntaxes: `-v SRC:DST[:OPTS]` (and the API's `Binds`),
//! `--mount type=…,source=…,target=…`, and size strings. Shared by the CLI
//! and the Docker API so both read them the same way.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::model::Mount;

/// Docker's size strings: 512m, 1g, 100k, 1024b, plain bytes.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.chars().last() {
        Some('b') => (&t[..t.len() - 1], 1),
        Some('k') => (&t[..t.len() - 1], 1 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1i64 << 40),
        _ => (t.as_str(), 1),
    };
    let n: f64 = num.parse().map_err(|_| Error::Invalid(format!("invalid size: '{s}'")))?;
    if n < 0.0 {
        return Err(Error::Invalid(format!("invalid size: '{s}'")));
    }
    Ok((n * mult as f64) as i64)
}

/// Bind propagation modes (`-v SRC:DST:rshared`, `bind-propagation=`).
pub const PROPAGATIONS: &[&str] = &["rprivate", "private", "rshared", "shared", "rslave", "slave"];

pub fn parse_volume(v: &str, tmp_anonymous: &mut dyn FnMut() -> String) -> Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, target, opts) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => return Err(Error::Invalid(format!("invalid volume specification: '{v}'"))),
    };
    if !target.starts_with('/') {
        return Err(Error::Invalid(format!("invalid volume specification: '{v}': invalid mount config for type \"volume\": invalid mount path: '{target}' mount path must be absolute")));
    }
    let readonly = opts.split(',').any(|o| o == "ro");
    let mut propagation = None;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        if PROPAGATIONS.contains(&o) {
            propagation = Some(o.to_string());
        } else if !["ro", "rw", "z", "Z", "nocopy"].contains(&o) {
            return Err(Error::Invalid(format!("invalid volume specification: '{v}': invalid mode: {o}")));
        }
    }
    let bind = src.starts_with('/');
    if propagation.is_some() && !bind {
        return Err(Error::Invalid(format!(
            "invalid volume specification: '{v}': invalid mode: propagation is only for bind mounts"
        )));
    }
    Ok(if src.is_empty() {
        Mount::Volume { name: tmp_anonymous(), target: target.into(), readonly, anonymous: true, subpath: None }
    } else if bind {
        Mount::Bind { source: src.into(), target: target.into(), readonly, propagation }
    } else if src.starts_with('.') {
        return Err(Error::Invalid(format!(
            "invalid volume specification: '{v}': a bind mount source must be an absolute path"
        )));
    } else {
        crate::volume::check_volume_name(src)?;
        Mount::Volume { name: src.into(), target: target.into(), readonly, anonymous: false, subpath: None }
    })
}

pub fn parse_mount(m: &str, anon: &mut dyn FnMut() -> String) -> Result<Mount> {
    let mut kv = BTreeMap::new();
    let mut readonly = false;
    for part in m.split(',') {
        match part.split_once('=') {
            Some((k, v)) => {
                kv.insert(k.trim(), v.trim());
            }
            None if part == "readonly" || part == "ro" => readonly = true,
            None => {
                return Err(Error::Invalid(format!("invalid argument for --mount: {m:?}: unexpected key {part:?}")))
            }
        }
    }
    if kv.get("readonly").is_some_and(|v| *v == "true" || *v == "1") || kv.get("ro").is_some_and(|v| *v == "true") {
        readonly = true;
    }
    let target = kv
        .get("target")
        .or(kv.get("dst"))
        .or(kv.get("destination"))
        .ok_or_else(|| Error::Invalid(format!("invalid argument for --mount: {m:?}: target is required")))?
        .to_string();
    if !target.starts_with('/') {
        return Err(Error::Invalid(format!("invalid mount config: mount path must be absolute: {target}")));
    }
    let source = kv.get("source").or(kv.get("src")).map(|s| s.to_string());
    let kind = kv.get("type").copied().unwrap_or("volume");
    if kind != "bind" && kv.contains_key("bind-propagation") {
        return Err(Error::Invalid(format!(
            "invalid mount config: cannot mix 'bind-propagation' options with mount type '{kind}'"
        )));
    }
    if kind != "volume" && kv.contains_key("volume-subpath") {
        return Err(Error::Invalid(format!(
            "invalid mount config: cannot mix 'volume-subpath' options with mount type '{kind}'"
        )));
    }
    Ok(match kind {
        "bind" => Mount::Bind {
            source: source.ok_or_else(|| {
                Error::Invalid("invalid mount config for type \"bind\": field Source must not be empty".to_string())
            })?,
            target,
            readonly,
            propagation: kv.get("bind-propagation").map(|p| p.to_string()),
        },
        "volume" => match source {
            Some(s) => {
                crate::volume::check_volume_name(&s)?;
                let subpath = kv.get("volume-subpath").map(|p| p.to_string());
                Mount::Volume { name: s, target, readonly, anonymous: false, subpath }
            }
            None if kv.contains_key("volume-subpath") => {
                return Err(Error::Invalid("invalid mount config: volume-subpath needs a named volume (source)".into()))
            }
            None => Mount::Volume { name: anon(), target, readonly, anonymous: true, subpath: None },
        },
        "tmpfs" => {
            let mut options = Vec::new();
            if let Some(sz) = kv.get("tmpfs-size") {
                options.push(format!("size={}", parse_bytes(sz)?));
            }
            if let Some(mode) = kv.get("tmpfs-mode") {
                options.push(format!("mode={mode}"));
            }
            Mount::Tmpfs { target, options }
        }
        other => return Err(Error::Invalid(format!("invalid mount type {other:?}: use bind, volume or tmpfs"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_and_mounts_parse_like_docker() {
        let mut n = || "anon".to_string();
        assert!(matches!(parse_volume("data:/d:ro", &mut n).unwrap(), Mount::Volume { readonly: true, .. }));
        assert!(matches!(parse_volume("/h:/d", &mut n).unwrap(), Mount::Bind { .. }));
        assert!(matches!(parse_volume("/d", &mut n).unwrap(), Mount::Volume { anonymous: true, .. }));
        assert!(parse_volume("data:rel", &mut n).unwrap_err().to_string().contains("must be absolute"));
        assert!(parse_volume("./x:/d", &mut n).is_err());
        let m = parse_mount("type=bind,source=/a,target=/b,readonly", &mut n).unwrap();
        assert_eq!(m, Mount::Bind { source: "/a".into(), target: "/b".into(), readonly: true, propagation: None });
        assert!(parse_mount("type=tmpfs,target=/t,tmpfs-size=1m", &mut n).is_ok());
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert!(parse_bytes("lots").is_err());
    }
}
