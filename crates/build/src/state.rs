//! A stage's image as it is being built: the OCI image config document
//! (kept as JSON, so fields berth does not know pass through unchanged),
//! the layers, and the build-time variables (ARG) in scope.

use std::collections::BTreeMap;

use image::digest::Hasher;
use image::{Digest, LayerRecord};
use serde_json::{json, Map, Value};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug)]
pub struct State {
    /// The whole image config document (architecture, os, config, rootfs, history).
    pub doc: Value,
    pub layers: Vec<LayerRecord>,
    /// ARGs declared in this stage, with their values.
    pub args: BTreeMap<String, String>,
    /// When the newest layer of this state was made (its history time).
    pub created: String,
    /// A CMD was given in this stage (so ENTRYPOINT keeps it).
    pub cmd_set_here: bool,
}

impl State {
    /// A stage `FROM scratch`.
    pub fn scratch(architecture: &str, os: &str, now: &str) -> State {
        State {
            doc: json!({
                "architecture": architecture,
                "os": os,
                "config": {"Env": [format!("PATH={DEFAULT_PATH}")]},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }),
            layers: vec![],
            args: BTreeMap::new(),
            created: now.to_string(),
            cmd_set_here: false,
        }
    }

    /// A stage on an image: its config document and layers.
    pub fn from_image(doc: Value, layers: Vec<LayerRecord>) -> State {
        let created = doc.get("created").and_then(Value::as_str).unwrap_or("").to_string();
        let mut s = State { doc, layers, args: BTreeMap::new(), created, cmd_set_here: false };
        if !s.doc.get("config").is_some_and(Value::is_object) {
            s.doc["config"] = json!({});
        }
        // An image without PATH gets the default one, as docker's builders do.
        if !s.env().iter().any(|(k, _)| k == "PATH") {
            let mut env = vec![format!("PATH={DEFAULT_PATH}")];
            env.extend(s.strings("Env"));
            s.config_mut().insert("Env".into(), json!(env));
        }
        s
    }

    pub fn config(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.doc.get("config").and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    pub fn config_mut(&mut self) -> &mut Map<String, Value> {
        if !self.doc.get("config").is_some_and(Value::is_object) {
            self.doc["config"] = json!({});
        }
        match self.doc.get_mut("config") {
            Some(Value::Object(m)) => m,
            _ => unreachable_config(),
        }
    }

    pub fn strings(&self, key: &str) -> Vec<String> {
        self.config()
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    pub fn string(&self, key: &str) -> String {
        self.config().get(key).and_then(Value::as_str).unwrap_or("").to_string()
    }

    /// ENV as (name, value) pairs, in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.strings("Env")
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv, String::new()),
            })
            .collect()
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        let mut env = self.strings("Env");
        let prefix = format!("{name}=");
        match env.iter_mut().find(|e| e.starts_with(&prefix)) {
            Some(e) => *e = format!("{name}={value}"),
            None => env.push(format!("{name}={value}")),
        }
        self.config_mut().insert("Env".into(), json!(env));
    }

    /// The value of a variable for expansion: ENV wins over ARG, as in the
    /// reference.
    pub fn var(&self, name: &str) -> Option<String> {
        self.env().into_iter().rev().find(|(k, _)| k == name).map(|(_, v)| v).or_else(|| self.args.get(name).cloned())
    }

    pub fn workdir(&self) -> String {
        let w = self.string("WorkingDir");
        if w.is_empty() {
            "/".into()
        } else {
            w
        }
    }

    pub fn shell(&self) -> Vec<String> {
        let s = self.strings("Shell");
        if s.is_empty() {
            vec!["/bin/sh".into(), "-c".into()]
        } else {
            s
        }
    }

    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    pub fn chain_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.chain_id.clone()).collect()
    }

    /// What identifies this state for the cache: its layers and its config
    /// (environment, user, working directory… everything a step can see),
    /// not its history or times.
    pub fn identity(&self) -> Digest {
        let mut h = Hasher::new();
        for d in self.diff_ids() {
            h.update(d.to_string().as_bytes());
            h.update(b"\n");
        }
        h.update(serde_json::to_string(self.config()).unwrap_or_default().as_bytes());
        h.finish()
    }

    /// Appends a history entry (`empty`: no layer came with it).
    pub fn history(&mut self, created_by: &str, empty: bool) {
        let mut e = json!({"created": self.created, "created_by": created_by, "comment": "berth build"});
        if empty {
            e["empty_layer"] = json!(true);
        }
        match self.doc.get_mut("history") {
            Some(Value::Array(a)) => a.push(e),
            _ => self.doc["history"] = json!([e]),
        }
    }

    pub fn push_layer(&mut self, layer: LayerRecord, created: &str) {
        self.layers.push(layer);
        self.created = created.to_string();
        let ids: Vec<String> = self.diff_ids().iter().map(|d| d.to_string()).collect();
        self.doc["rootfs"] = json!({"type": "layers", "diff_ids": ids});
    }

    /// The final document: created = the newest step's time.
    pub fn finish(&mut self) {
        self.doc["created"] = json!(self.created);
        let ids: Vec<String> = self.diff_ids().iter().map(|d| d.to_string()).collect();
        self.doc["rootfs"] = json!({"type": "layers", "diff_ids": ids});
    }
}

#[cold]
fn unreachable_config() -> ! {
    // config_mut just made it an object.
    panic!("the image config is an object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_over_args_and_identity_ignores_history() {
        let mut s = State::scratch("amd64", "linux", "2026-01-01T00:00:00Z");
        s.args.insert("V".into(), "arg".into());
        assert_eq!(s.var("V").as_deref(), Some("arg"));
        s.set_env("V", "env");
        assert_eq!(s.var("V").as_deref(), Some("env"));
        s.set_env("V", "env2");
        assert_eq!(s.strings("Env").iter().filter(|e| e.starts_with("V=")).count(), 1);
        let id = s.identity();
        s.history("ENV V=env2", true);
        assert_eq!(id, s.identity());
        s.config_mut().insert("User".into(), json!("nobody"));
        assert_ne!(id, s.identity());
        assert_eq!(s.shell(), ["/bin/sh", "-c"]);
        assert_eq!(s.workdir(), "/");
    }
}
