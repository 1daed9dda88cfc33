//! New images from a container (`commit`) or a root filesystem tarball
//! (`import`), both with docker's `--change` Dockerfile instructions, and a
//! container's changes to its image (`diff`). The CLI and the API only
//! translate their arguments to these.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::archive::ImportConfig;
use image::diff::Change;
use image::manifest::{media, Descriptor, Manifest};
use image::{Digest, ImageRecord, ImageStore, Reference};
use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{Container, Status};

/// What `commit` is asked for.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// The new image's tag (none: a dangling image, as docker's).
    pub reference: Option<Reference>,
    /// The history entry's comment (`-m`).
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Freeze the container while its layer is read (docker's default).
    pub pause: bool,
    /// Dockerfile instructions applied to the config (`-c`).
    pub changes: Vec<String>,
    /// Settings over the container's, under the changes: the container
    /// config of `POST /commit`'s body.
    pub config: ImportConfig,
}

/// The instructions `--change` takes (docker's list for commit and import).
const CHANGE_INSTRUCTIONS: &str = "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL";

/// Reads `--change` instructions into what they set. An unknown
/// instruction or a malformed argument is an [`Error::Invalid`] naming it.
pub fn parse_changes(changes: &[String]) -> Result<ImportConfig> {
    let mut config = ImportConfig::default();
    for c in changes {
        let c = c.trim();
        if c.is_empty() {
            continue;
        }
        let (instr, arg) = c.split_once(char::is_whitespace).unwrap_or((c, ""));
        let upper = instr.to_ascii_uppercase();
        let arg = arg.trim();
        let bad = |why: &str| Error::Invalid(format!("invalid change {c:?}: {upper} {why}"));
        if !CHANGE_INSTRUCTIONS.split(", ").any(|i| i == upper) {
            return Err(Error::Invalid(format!(
                "{upper} is not a valid change command (the valid ones are {CHANGE_INSTRUCTIONS})"
            )));
        }
        if arg.is_empty() {
            return Err(bad("requires at least one argument"));
        }
        // The exec form (a JSON array) or the shell form, as in a Dockerfile.
        let command = |s: &str| -> Vec<String> {
            match serde_json::from_str::<Vec<String>>(s) {
                Ok(v) => v,
                Err(_) => vec!["/bin/sh".into(), "-c".into(), s.to_string()],
            }
        };
        match upper.as_str() {
            "CMD" => config.cmd = Some(command(arg)),
            "ENTRYPOINT" => config.entrypoint = Some(command(arg)),
            "ENV" | "LABEL" => {
                let words = split_words(arg).map_err(|e| bad(&e))?;
                let pairs: Vec<(String, String)> = if words.first().is_some_and(|w| w.contains('=')) {
                    words
                        .iter()
                        .map(|w| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad("needs KEY=VALUE pairs"))?
                } else {
                    // The old `ENV KEY value with spaces` form.
                    let (k, v) = arg.split_once(char::is_whitespace).ok_or_else(|| bad("needs KEY=VALUE"))?;
                    vec![(k.to_string(), v.trim().to_string())]
                };
                for (k, v) in pairs {
                    if k.is_empty() {
                        return Err(bad("names can not be blank"));
                    }
                    if upper == "ENV" {
                        config.env.retain(|e| e.split('=').next() != Some(k.as_str()));
                        config.env.push(format!("{k}={v}"));
                    } else {
                        config.labels.insert(k, v);
                    }
                }
            }
            "EXPOSE" => {
                for p in arg.split_whitespace() {
                    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
                    let range = first.parse::<u16>().and_then(|a| last.parse::<u16>().map(|b| a..=b));
                    match range {
                        Ok(r) if !r.is_empty() && matches!(proto, "tcp" | "udp" | "sctp") => {
                            config.exposed_ports.extend(r.map(|n| format!("{n}/{proto}")));
                        }
                        _ => return Err(bad(&format!("{p:?} is not a port (PORT[-PORT][/PROTO])"))),
                    }
                }
            }
            "VOLUME" => match serde_json::from_str::<Vec<String>>(arg) {
                Ok(v) => config.volumes.extend(v),
                Err(_) => config.volumes.extend(arg.split_whitespace().map(str::to_string)),
            },
            "USER" => config.user = Some(arg.to_string()),
            "WORKDIR" => config.workdir = Some(arg.to_string()),
            "STOPSIGNAL" => {
                crate::ops::parse_signal(arg).map_err(|_| bad(&format!("{arg:?} is not a signal")))?;
                config.stop_signal = Some(arg.to_string());
            }
            _ => return Err(Error::Invalid(format!("{upper} is not a valid change command"))),
        }
    }
    Ok(config)
}

/// Splits `a="b c" d=e` into words, quotes removed (a Dockerfile's
/// ENV/LABEL arguments).
fn split_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => {
                quote = Some(ch);
                any = true;
            }
            (q, '\\') if q != Some('\'') => cur.extend(chars.next()),
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err("has an unterminated quote".into());
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Imports a root filesystem tarball (plain or compressed) as a one-layer
/// image, with `--change` instructions and a history comment.
pub fn import(
    store: &ImageStore,
    rootfs_tar: &mut (dyn Read + Send),
    tag: Option<&Reference>,
    changes: &[String],
    message: Option<String>,
) -> Result<ImageRecord> {
    let mut config = parse_changes(changes)?;
    config.message = message.filter(|m| !m.is_empty());
    Ok(image::archive::import(store, rootfs_tar, tag, config)?)
}

impl Engine {
    /// The container's changes to its image's filesystem, docker's list
    /// sorted by path.
    pub fn diff(&self, key: &str) -> Result<Vec<Change>> {
        let c = self.container(key)?;
        let (upper, lowers) = self.writable_layer(&c)?;
        let skip = self.mount_points(&c, &lowers);
        Ok(image::diff::changes(&upper, &lowers, &|p| skip.contains(p))?)
    }

    /// Makes an image of the container: its image's layers plus its
    /// writable layer, its configuration with `opts.changes` applied, and
    /// a history entry. Returns the new image's id.
    pub fn commit(&mut self, key: &str, opts: &CommitOptions) -> Result<Digest> {
        let c = self.container(key)?;
        // Bad changes are refused before anything is written.
        let changes = layered(opts.config.clone(), &parse_changes(&opts.changes)?);
        if let Some(r) = &opts.reference {
            if r.tag.is_none() {
                return Err(Error::Invalid(format!("cannot commit to {r}: a digest reference is not a tag")));
            }
        }
        if !c.config.layers.is_empty() {
            return Err(Error::Invalid(format!("container {} is a build step's: it has no image to commit on", c.id)));
        }
        let base = self.images.resolve(&c.config.image_id)?;
        let base_doc: Value = serde_json::from_slice(&self.images.content().read(&base.id)?)
            .map_err(|e| Error::Invalid(format!("the config of image {}: {e}", base.id)))?;
        let (upper, lowers) = self.writable_layer(&c)?;
        let skip = self.mount_points(&c, &lowers);

        // Frozen, a running container's files do not change under the tar.
        let freeze = opts.pause && c.state.status == Status::Running;
        if freeze {
            self.runtime.pause(&c.id)?;
        }
        let diff_ids: Vec<Digest> = base.layers.iter().map(|l| l.diff_id.clone()).collect();
        let layer = image::diff::store_layer(&self.images, &upper, &diff_ids, &|p| skip.contains(p));
        if freeze {
            self.runtime.resume(&c.id)?;
        }
        let layer = layer?;

        let created = crate::engine::now_rfc3339();
        let mut doc = base_doc;
        let obj = doc.as_object_mut().ok_or_else(|| Error::Invalid(format!("the config of image {}", base.id)))?;
        let base_config = obj.get("config").cloned().unwrap_or(json!({}));
        obj.insert("config".into(), container_config(&c, &base_config, &changes));
        obj.insert("created".into(), json!(created));
        match opts.author.as_deref().filter(|a| !a.is_empty()) {
            Some(a) => obj.insert("author".into(), json!(a)),
            None => obj.remove("author"),
        };
        let rootfs = obj.entry("rootfs").or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
        match rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
            Some(ids) => ids.push(json!(layer.diff_id.to_string())),
            None => rootfs["diff_ids"] = json!([layer.diff_id.to_string()]),
        }
        let mut entry = Map::new();
        entry.insert("created".into(), json!(created));
        entry.insert("created_by".into(), json!(c.config.args.join(" ")));
        if let Some(a) = opts.author.as_deref().filter(|a| !a.is_empty()) {
            entry.insert("author".into(), json!(a));
        }
        if let Some(m) = opts.comment.as_deref().filter(|m| !m.is_empty()) {
            entry.insert("comment".into(), json!(m));
        }
        let history = obj.entry("history").or_insert_with(|| json!([]));
        match history.as_array_mut() {
            Some(h) => h.push(Value::Object(entry)),
            None => *history = json!([entry]),
        }

        let config = serde_json::to_vec(&doc).map_err(|e| Error::Invalid(e.to_string()))?;
        let id = self.images.content().put(&config)?;
        let mut layers = base.layers.clone();
        layers.push(layer);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_string()),
            config: Descriptor::new(media::OCI_CONFIG, id.clone(), config.len() as u64),
            layers: layers.iter().map(|l| l.blob.clone()).collect(),
            annotations: Default::default(),
        };
        let mbytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
        let mdigest = self.images.content().put(&mbytes)?;
        let size = layers.iter().filter_map(|l| self.images.layer_meta(&l.chain_id).ok()).map(|m| m.size).sum();
        let record = ImageRecord {
            id: id.clone(),
            manifest: Descriptor::new(media::OCI_MANIFEST, mdigest, mbytes.len() as u64),
            index: None,
            repo_digests: vec![],
            layers,
            platform: base.platform.clone(),
            created,
            size,
        };
        let tags: Vec<Reference> = opts.reference.iter().cloned().collect();
        self.images.put_image(record, &tags)?;
        self.emit_container(&c, "commit", &[]);
        Ok(id)
    }

    /// The container's upper directory and its image's layer directories,
    /// top first. Only overlay snapshots keep the changes apart from the
    /// image.
    fn writable_layer(&self, c: &Container) -> Result<(PathBuf, Vec<PathBuf>)> {
        let snap = image::snapshot::for_host(&self.images)?;
        if snap.name() != "overlay" {
            return Err(Error::Invalid(format!(
                "the {} snapshotter keeps no separate writable layer: diff and commit need overlayfs",
                snap.name()
            )));
        }
        let lowers = self.layers_of(c)?.iter().rev().map(|l| self.images.layer_diff(l)).collect();
        Ok((snap.upper(&c.id), lowers))
    }

    /// What only the container's own mounts put in its upper directory
    /// (relative paths): the mount points of its hosts, resolv.conf and
    /// hostname, its volumes and binds, and its runtime mounts, where the
    /// image has nothing. docker keeps these in a layer of their own.
    fn mount_points(&self, c: &Container, lowers: &[PathBuf]) -> BTreeSet<PathBuf> {
        // The runtime's own mounts too: a stopped container's spec may be gone.
        let mut targets: Vec<PathBuf> = [
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/proc",
            "/sys",
            "/sys/fs/cgroup",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        targets.extend(c.config.mounts.iter().map(|m| PathBuf::from(m.target())));
        let spec = self.runtime.store().dir(&c.id).join(runtime::state::CONFIG_FILE);
        if let Ok(spec) = runtime::spec::load(&spec) {
            targets.extend(spec.mounts().iter().flatten().map(|m| m.destination().clone()));
        }
        targets
            .into_iter()
            .filter_map(|t| t.strip_prefix("/").ok().map(Path::to_path_buf))
            .filter(|t| !t.as_os_str().is_empty() && image::diff::lower_entry(lowers, t).is_none())
            .collect()
    }
}

/// `over`'s settings on top of `under`'s. An entrypoint brings its own
/// command (none if it has none), as in a Dockerfile and dockerd's merge.
fn layered(under: ImportConfig, over: &ImportConfig) -> ImportConfig {
    let mut m = under;
    if over.entrypoint.is_some() {
        m.entrypoint = over.entrypoint.clone();
        m.cmd = over.cmd.clone();
    } else if over.cmd.is_some() {
        m.cmd = over.cmd.clone();
    }
    for e in &over.env {
        let key = e.split('=').next().unwrap_or("");
        m.env.retain(|x| x.split('=').next() != Some(key));
        m.env.push(e.clone());
    }
    m.workdir = over.workdir.clone().or(m.workdir);
    m.user = over.user.clone().or(m.user);
    m.stop_signal = over.stop_signal.clone().or(m.stop_signal);
    m.exposed_ports.extend(over.exposed_ports.iter().cloned());
    m.volumes.extend(over.volumes.iter().cloned());
    m.labels.extend(over.labels.clone());
    m
}

/// The image config's `config` for a commit: the image's, overridden by
/// what the container was created with, then by the changes.
fn container_config(c: &Container, base: &Value, ch: &ImportConfig) -> Value {
    let mut cfg = base.as_object().cloned().unwrap_or_default();
    let strings = |v: Option<&Value>| -> Option<Vec<String>> { v.and_then(|v| serde_json::from_value(v.clone()).ok()) };
    let cc = &c.config;
    // As create resolved them: a user entrypoint drops the image's CMD.
    let mut entrypoint = cc.entrypoint.clone().or_else(|| strings(cfg.get("Entrypoint")));
    let mut cmd = match (&cc.cmd, &cc.entrypoint) {
        (Some(cmd), _) => Some(cmd.clone()),
        (None, Some(_)) => None,
        (None, None) => strings(cfg.get("Cmd")),
    };
    if let Some(e) = &ch.entrypoint {
        entrypoint = Some(e.clone());
        // A Dockerfile's ENTRYPOINT resets CMD unless CMD is set too.
        if ch.cmd.is_none() {
            cmd = None;
        }
    }
    if let Some(c) = &ch.cmd {
        cmd = Some(c.clone());
    }
    cfg.insert("Entrypoint".into(), json!(entrypoint));
    cfg.insert("Cmd".into(), json!(cmd));
    let mut env = cc.env.clone();
    for e in &ch.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    cfg.insert("Env".into(), json!(env));
    let workdir =
        ch.workdir.clone().unwrap_or_else(|| if cc.workdir == "/" { String::new() } else { cc.workdir.clone() });
    let workdir =
        if workdir.is_empty() { base.get("WorkingDir").cloned().unwrap_or(json!("")) } else { json!(workdir) };
    cfg.insert("WorkingDir".into(), workdir);
    cfg.insert("User".into(), json!(ch.user.clone().unwrap_or_else(|| cc.user.clone())));
    let mut ports: Map<String, Value> = cfg.get("ExposedPorts").and_then(Value::as_object).cloned().unwrap_or_default();
    for p in cc.exposed_ports.iter().chain(&ch.exposed_ports) {
        ports.insert(p.clone(), json!({}));
    }
    cfg.insert("ExposedPorts".into(), if ports.is_empty() { Value::Null } else { Value::Object(ports) });
    let mut labels: Map<String, Value> = cfg.get("Labels").and_then(Value::as_object).cloned().unwrap_or_default();
    for (k, v) in cc.labels.iter().chain(&ch.labels) {
        labels.insert(k.clone(), json!(v));
    }
    cfg.insert("Labels".into(), if labels.is_empty() { Value::Null } else { Value::Object(labels) });
    let mut volumes: Map<String, Value> = cfg.get("Volumes").and_then(Value::as_object).cloned().unwrap_or_default();
    for v in &ch.volumes {
        volumes.insert(v.clone(), json!({}));
    }
    cfg.insert("Volumes".into(), if volumes.is_empty() { Value::Null } else { Value::Object(volumes) });
    if let Some(s) = ch.stop_signal.clone().or_else(|| cc.stop_signal.clone()) {
        cfg.insert("StopSignal".into(), json!(s));
    }
    cfg.insert("Tty".into(), json!(cc.tty));
    cfg.insert("OpenStdin".into(), json!(cc.interactive));
    Value::Object(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(list: &[&str]) -> Result<ImportConfig> {
        parse_changes(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn changes_are_dockerfile_instructions() {
        let c = changes(&[
            r#"CMD ["echo", "hi"]"#,
            "entrypoint /bin/run",
            r#"ENV A=1 B="two words""#,
            "ENV C old form",
            "EXPOSE 80 53/udp 7000-7001/tcp",
            r#"LABEL team=core "x y"=z"#,
            "USER www",
            "WORKDIR /srv",
            r#"VOLUME ["/data"]"#,
            "STOPSIGNAL SIGINT",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), ["echo", "hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/run"]);
        assert_eq!(c.env, ["A=1", "B=two words", "C=old form"]);
        assert_eq!(c.exposed_ports, ["80/tcp", "53/udp", "7000/tcp", "7001/tcp"]);
        assert_eq!(c.labels["team"], "core");
        assert_eq!(c.labels["x y"], "z");
        assert_eq!((c.user.unwrap(), c.workdir.unwrap()), ("www".into(), "/srv".into()));
        assert_eq!(c.volumes, ["/data"]);
        assert_eq!(c.stop_signal.unwrap(), "SIGINT");
    }

    #[test]
    fn changes_go_over_the_request_config() {
        let body = ImportConfig {
            cmd: Some(vec!["body".into()]),
            env: vec!["A=body".into(), "B=body".into()],
            user: Some("body".into()),
            ..Default::default()
        };
        let m = layered(body.clone(), &changes(&["ENV A=change", "WORKDIR /w"]).unwrap());
        assert_eq!(m.cmd.as_deref(), Some(&["body".to_string()][..]));
        assert_eq!(m.env, ["B=body", "A=change"]);
        assert_eq!((m.user.as_deref(), m.workdir.as_deref()), (Some("body"), Some("/w")));
        // An ENTRYPOINT change drops the body's CMD.
        let m = layered(body, &changes(&[r#"ENTRYPOINT ["/e"]"#]).unwrap());
        assert_eq!((m.entrypoint.unwrap(), m.cmd), (vec!["/e".to_string()], None));
    }

    #[test]
    fn bad_changes_name_the_instruction() {
        for (bad, word) in [
            ("RUN echo", "RUN is not a valid change command"),
            ("FROM x", "FROM"),
            ("ONBUILD RUN x", "ONBUILD"),
            ("EXPOSE eighty", "EXPOSE"),
            ("EXPOSE 90-80", "EXPOSE"),
            ("ENV", "ENV requires"),
            ("LABEL a=\"open", "LABEL has an unterminated quote"),
            ("STOPSIGNAL SIGNOPE", "STOPSIGNAL"),
        ] {
            let e = changes(&[bad]).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{bad}: {e}");
            assert!(e.to_string().contains(word), "{bad}: {e}");
        }
    }
}
