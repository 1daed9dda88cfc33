//! CustomResourceDefinitions: checking a definition and filling its status
//! (names accepted, established), turning it into served resources, and
//! validating, pruning and defaulting custom objects against the
//! structural schema of their version, as kube-apiserver does.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde_json::{json, Map, Value};
use store::{Backend, ListOptions};

use crate::resources::{self, Resource, Sub};
use crate::status::{ApiError, ApiResult};
use crate::validate::Mode;

/// What a definition says of one served version of its kind.
#[derive(Debug, PartialEq)]
pub struct Custom {
    /// The version's `openAPIV3Schema`.
    pub schema: Value,
    /// The version's `additionalPrinterColumns`, in order; never empty (a
    /// version without any gets kube-apiserver's one `Age` column).
    pub columns: Vec<Column>,
    /// The version's `scale` subresource, when it has one.
    pub scale: Option<ScalePaths>,
    /// The kind of its lists (`names.listKind`, by default `<Kind>List`).
    pub list_kind: &'static str,
}

/// One `additionalPrinterColumns` entry: a column of the kind's Table.
#[derive(Debug, PartialEq)]
pub struct Column {
    /// The column's header.
    pub name: String,
    /// Its OpenAPI `type` (`string`, `integer`, `number`, `boolean` or
    /// `date`; a `date` is printed as an age).
    pub kind: String,
    /// Its OpenAPI `format`, if any (empty: none).
    pub format: String,
    /// Where in the object the cell's value is: a simple JSON path as
    /// [`at_path`] reads it (`.spec.replicas`); a path with no value gives
    /// a null cell.
    pub json_path: String,
    /// 0 for the columns kubectl always shows; higher ones only with
    /// `-o wide`.
    pub priority: i64,
    /// The column's description, for clients that show one.
    pub description: String,
}

/// Where the `scale` subresource of a custom kind reads and writes, as
/// simple JSON paths into the object.
#[derive(Debug, PartialEq)]
pub struct ScalePaths {
    /// `specReplicasPath`: the desired replicas (default `.spec.replicas`).
    pub spec_replicas: String,
    /// `statusReplicasPath`: the current replicas (default
    /// `.status.replicas`).
    pub status_replicas: String,
    /// `labelSelectorPath`: where a string selector is, for the Scale's
    /// `status.selector` (None: the Scale's selector is empty).
    pub label_selector: Option<String>,
}

pub(crate) const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

fn invalid(name: &str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid("CustomResourceDefinition", name, vec![(field.to_string(), message.into())])
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().fold(v, |v, k| &v[*k]).as_str().unwrap_or("")
}

/// Checks a definition the way the API documents it and sets what the
/// server owns: defaulted names and the status conditions clients wait on
/// (`kubectl wait --for condition=established`).
pub fn prepare(obj: &mut Value) -> ApiResult<()> {
    let name = str_at(obj, &["metadata", "name"]).to_string();
    let group = str_at(obj, &["spec", "group"]).to_string();
    let plural = str_at(obj, &["spec", "names", "plural"]).to_string();
    let kind = str_at(obj, &["spec", "names", "kind"]).to_string();
    if group.is_empty() || !group.contains('.') {
        return Err(invalid(
            &name,
            "spec.group",
            format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    if resources::BUILTIN.iter().any(|r| r.group == group) {
        return Err(invalid(&name, "spec.group", format!("Invalid value: {group:?}: is served by the server itself")));
    }
    crate::meta::dns_subdomain(&group).map_err(|e| invalid(&name, "spec.group", e))?;
    crate::meta::dns_label(&plural).map_err(|e| invalid(&name, "spec.names.plural", e))?;
    if kind.is_empty() {
        return Err(invalid(&name, "spec.names.kind", "Required value"));
    }
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            &name,
            "metadata.name",
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !matches!(str_at(obj, &["spec", "scope"]), "Namespaced" | "Cluster") {
        return Err(invalid(&name, "spec.scope", "Unsupported value: supported values: \"Cluster\", \"Namespaced\""));
    }
    let names = &mut obj["spec"]["names"];
    if str_at(names, &["singular"]).is_empty() {
        names["singular"] = json!(kind.to_lowercase());
    }
    if str_at(names, &["listKind"]).is_empty() {
        names["listKind"] = json!(format!("{kind}List"));
    }
    let versions = obj["spec"]["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        return Err(invalid(
            &name,
            "spec.versions",
            "Required value: must have exactly one version marked as storage version",
        ));
    }
    let mut seen = HashSet::new();
    for (i, v) in versions.iter().enumerate() {
        let vname = v["name"].as_str().unwrap_or("");
        crate::meta::dns_label(vname).map_err(|e| invalid(&name, &format!("spec.versions[{i}].name"), e))?;
        if !seen.insert(vname) {
            return Err(invalid(&name, &format!("spec.versions[{i}].name"), format!("Duplicate value: {vname:?}")));
        }
        if !v["schema"]["openAPIV3Schema"].is_object() {
            return Err(invalid(
                &name,
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "Required value: schemas are required",
            ));
        }
        if v["schema"]["openAPIV3Schema"]["type"] != "object" {
            return Err(invalid(
                &name,
                &format!("spec.versions[{i}].schema.openAPIV3Schema.type"),
                "Unsupported value: must be object at the root",
            ));
        }
    }
    let storage: Vec<&str> =
        versions.iter().filter(|v| v["storage"] == true).filter_map(|v| v["name"].as_str()).collect();
    if storage.len() != 1 {
        return Err(invalid(
            &name,
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if let Some(cols) = v["additionalPrinterColumns"].as_array() {
            for (j, c) in cols.iter().enumerate() {
                let at = format!("spec.versions[{i}].additionalPrinterColumns[{j}]");
                if c["name"].as_str().unwrap_or("").is_empty() {
                    return Err(invalid(&name, &format!("{at}.name"), "Required value"));
                }
                if !c["jsonPath"].as_str().unwrap_or("").starts_with('.') {
                    return Err(invalid(
                        &name,
                        &format!("{at}.jsonPath"),
                        "Invalid value: must be a simple json path starting with .",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The status the server gives a checked definition: its names accepted
/// and established (the conditions `kubectl wait --for
/// condition=established` waits on), keeping the first transition times.
fn status_of(crd: &Value) -> Value {
    let now = crate::meta::now_rfc3339();
    let storage = crd["spec"]["versions"].as_array().into_iter().flatten().find(|v| v["storage"] == true);
    let mut stored: Vec<Value> = crd["status"]["storedVersions"].as_array().cloned().unwrap_or_default();
    if let Some(name) = storage.map(|v| v["name"].clone()) {
        if !stored.contains(&name) {
            stored.push(name);
        }
    }
    let old = crd["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let conditions: Vec<Value> = [
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    .iter()
    .map(|(kind, reason, message)| {
        let prior = old.iter().find(|p| p["type"] == *kind && p["status"] == "True");
        prior.cloned().unwrap_or_else(
            || json!({"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}),
        )
    })
    .collect();
    json!({"conditions": conditions, "acceptedNames": crd["spec"]["names"], "storedVersions": stored})
}

/// Strings of custom resources live as long as the process: the resource
/// table hands out `&'static` entries. Interning bounds that to one copy of
/// each distinct string however often definitions are re-read.
fn intern(s: &str) -> &'static str {
    static STRINGS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let Ok(mut guard) = STRINGS.lock() else { return "" };
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(x) = set.get(s) {
        return x;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

fn intern_list(v: &Value) -> &'static [&'static str] {
    let items: Vec<&'static str> = v.as_array().into_iter().flatten().filter_map(Value::as_str).map(intern).collect();
    if items.is_empty() {
        return &[];
    }
    // Same reasoning as `intern`, keyed by the rendered list.
    static LISTS: Mutex<Option<HashMap<Vec<&'static str>, &'static [&'static str]>>> = Mutex::new(None);
    let Ok(mut guard) = LISTS.lock() else { return &[] };
    let map = guard.get_or_insert_with(HashMap::new);
    map.entry(items.clone()).or_insert_with(|| Box::leak(items.into_boxed_slice()))
}

/// One resource per served version; the same definition read twice yields
/// the same `&'static` entries (interned by content), so a definition
/// updated back and forth does not grow memory.
fn resources_of(crd: &Value) -> Vec<&'static Resource> {
    static ENTRIES: Mutex<Vec<&'static Resource>> = Mutex::new(Vec::new());
    let spec = &crd["spec"];
    let names = &spec["names"];
    let mut out = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten().filter(|v| v["served"] == true) {
        let mut subs = Vec::new();
        if v["subresources"]["status"].is_object() {
            subs.push(Sub::Status);
        }
        let scale = v["subresources"]["scale"].as_object().map(|s| ScalePaths {
            spec_replicas: s.get("specReplicasPath").and_then(Value::as_str).unwrap_or(".spec.replicas").to_string(),
            status_replicas: s
                .get("statusReplicasPath")
                .and_then(Value::as_str)
                .unwrap_or(".status.replicas")
                .to_string(),
            label_selector: s.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
        });
        if scale.is_some() {
            subs.push(Sub::Scale);
        }
        let mut columns: Vec<Column> = v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| Column {
                name: c["name"].as_str().unwrap_or("").to_string(),
                kind: c["type"].as_str().unwrap_or("string").to_string(),
                format: c["format"].as_str().unwrap_or("").to_string(),
                json_path: c["jsonPath"].as_str().unwrap_or("").to_string(),
                priority: c["priority"].as_i64().unwrap_or(0),
                description: c["description"].as_str().unwrap_or("").to_string(),
            })
            .collect();
        if columns.is_empty() {
            columns.push(Column {
                name: "Age".into(),
                kind: "date".into(),
                format: String::new(),
                json_path: ".metadata.creationTimestamp".into(),
                priority: 0,
                description: String::new(),
            });
        }
        let custom = Custom {
            schema: v["schema"]["openAPIV3Schema"].clone(),
            columns,
            scale,
            list_kind: intern(names["listKind"].as_str().unwrap_or("")),
        };
        let has_status = subs.contains(&Sub::Status);
        let subs: &'static [Sub] = match (has_status, subs.contains(&Sub::Scale)) {
            (true, true) => &[Sub::Status, Sub::Scale],
            (true, false) => &[Sub::Status],
            (false, true) => &[Sub::Scale],
            (false, false) => &[],
        };
        let candidate = Resource {
            group: intern(spec["group"].as_str().unwrap_or("")),
            version: intern(v["name"].as_str().unwrap_or("")),
            plural: intern(names["plural"].as_str().unwrap_or("")),
            singular: intern(names["singular"].as_str().unwrap_or("")),
            kind: intern(names["kind"].as_str().unwrap_or("")),
            namespaced: spec["scope"] == "Namespaced",
            short_names: intern_list(&names["shortNames"]),
            categories: intern_list(&names["categories"]),
            subresources: subs,
            has_status,
            custom: None,
        };
        let Ok(mut entries) = ENTRIES.lock() else { continue };
        let found = entries
            .iter()
            .copied()
            .find(|e| Resource { custom: None, ..(*e).clone() } == candidate && e.custom.is_some_and(|c| *c == custom));
        let entry = found.unwrap_or_else(|| {
            let custom: &'static Custom = Box::leak(Box::new(custom));
            let entry: &'static Resource = Box::leak(Box::new(Resource { custom: Some(custom), ..candidate }));
            entries.push(entry);
            entry
        });
        out.push(entry);
    }
    out
}

/// Re-reads every definition from the store, establishes new ones (as
/// kube-apiserver's naming controller does) and serves what they define.
pub async fn refresh(store: &dyn Backend) -> ApiResult<()> {
    // One refresh at a time: one that listed earlier must not finish later
    // and put back what a newer one removed.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let list = store.list(PREFIX, ListOptions::default()).await?;
    let mut served = Vec::new();
    for kv in list.items {
        let Ok(mut crd) = serde_json::from_slice::<Value>(&kv.value) else { continue };
        if crd["metadata"].get("deletionTimestamp").is_some() {
            continue;
        }
        let status = status_of(&crd);
        if crd["status"] != status {
            crd["status"] = status;
            let bytes = serde_json::to_vec(&crd).map_err(|e| ApiError::internal(e.to_string()))?;
            match store.update(&kv.key, bytes, kv.mod_revision).await {
                Ok(_) => {}
                // Changed meanwhile: its own event brings another refresh,
                // and until then it is served as it was.
                Err(store::Error::Conflict { .. }) => {}
                Err(store::Error::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        served.extend(resources_of(&crd));
    }
    resources::set_custom(served);
    Ok(())
}

/// Keeps the served set in step with the store, also for definitions
/// written through another server sharing it.
pub fn follow(store: std::sync::Arc<dyn Backend>) {
    tokio::spawn(async move {
        loop {
            let from = store.current_revision().await.unwrap_or(0);
            if let Err(e) = refresh(store.as_ref()).await {
                eprintln!("berth server: reading CustomResourceDefinitions: {e}");
            }
            let Ok(mut events) = store.watch(PREFIX, from).await else {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            };
            while let Some(Ok(_)) = events.next().await {
                if let Err(e) = refresh(store.as_ref()).await {
                    eprintln!("berth server: reading CustomResourceDefinitions: {e}");
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
}

/// After a DELETE of a definition: once it is really gone (not merely
/// marked while finalizers hold it), stop serving its resources first, so
/// no object can be created meanwhile, then delete its objects.
pub async fn definition_deleted(store: &dyn Backend, t: &crate::rest::Target, crd: &Value) -> ApiResult<()> {
    match crate::rest::get(store, t).await {
        Err(e) if e.code == hyper::StatusCode::NOT_FOUND => {}
        _ => return Ok(()),
    }
    refresh(store).await?;
    delete_objects(store, crd).await
}

/// Deletes every object of a definition that went away.
async fn delete_objects(store: &dyn Backend, crd: &Value) -> ApiResult<()> {
    let prefix =
        format!("/registry/{}/{}/", str_at(crd, &["spec", "group"]), str_at(crd, &["spec", "names", "plural"]));
    for kv in store.list(&prefix, ListOptions::default()).await?.items {
        match store.delete(&kv.key, None).await {
            Ok(_) | Err(store::Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The value at a simple JSON path (`.spec.replicas`, `.status.items[0].name`).
pub fn at_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for part in path.trim_start_matches('.').split('.').filter(|p| !p.is_empty()) {
        let (field, index) = match part.split_once('[') {
            Some((f, rest)) => (f, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// Sets the value at a simple dotted path, creating objects on the way.
pub fn set_path(obj: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').filter(|p| !p.is_empty()).collect();
    let mut cur = obj;
    for p in &parts {
        if !cur.is_object() {
            *cur = json!({});
        }
        cur = &mut cur[*p];
    }
    *cur = value;
}

struct Walk<'a> {
    errors: Vec<(String, String)>,
    unknown: Vec<String>,
    mode: &'a Mode,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl Walk<'_> {
    fn err(&mut self, path: &str, v: &Value, what: String) {
        self.errors.push((path.to_string(), format!("Invalid value: {}: {what}", shown(v))));
    }

    fn check(&mut self, schema: &Value, v: &mut Value, path: &str) {
        if v.is_null() && schema["nullable"] == true {
            return;
        }
        if schema["x-kubernetes-int-or-string"] == true {
            if !matches!(type_name(v), "integer" | "string") {
                self.err(path, v, format!("{path} in body must be of type integer-or-string: {:?}", type_name(v)));
            }
            return;
        }
        let want = schema["type"].as_str().unwrap_or("");
        let got = type_name(v);
        let fits = want.is_empty() || want == got || (want == "number" && got == "integer");
        if !fits {
            self.err(path, v, format!("{path} in body must be of type {want}: {got:?}"));
            return;
        }
        if let Some(options) = schema["enum"].as_array() {
            if !options.contains(v) {
                let list: Vec<String> = options.iter().map(shown).collect();
                self.errors.push((
                    path.to_string(),
                    format!("Unsupported value: {}: supported values: {}", shown(v), list.join(", ")),
                ));
            }
        }
        self.limits(schema, v, path);
        match v {
            Value::Object(map) => self.object(schema, map, path),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.check(item_schema, item, &format!("{path}[{i}]"));
                    }
                }
            }
            _ => {}
        }
    }

    fn limits(&mut self, schema: &Value, v: &Value, path: &str) {
        let n = |k: &str| schema[k].as_f64();
        if let Some(x) = v.as_f64() {
            if let Some(min) = n("minimum").filter(|m| x < *m) {
                self.err(path, v, format!("{path} in body should be greater than or equal to {min}"));
            }
            if let Some(max) = n("maximum").filter(|m| x > *m) {
                self.err(path, v, format!("{path} in body should be less than or equal to {max}"));
            }
        }
        if let Some(s) = v.as_str() {
            let len = s.chars().count() as f64;
            if let Some(min) = n("minLength").filter(|m| len < *m) {
                self.err(path, v, format!("{path} in body should be at least {min} chars long"));
            }
            if let Some(max) = n("maxLength").filter(|m| len > *m) {
                self.err(path, v, format!("{path} in body may not be more than {max} chars long"));
            }
            if let Some(p) = schema["pattern"].as_str() {
                match regex::Regex::new(p) {
                    Ok(re) if !re.is_match(s) => self.err(path, v, format!("{path} in body should match '{p}'")),
                    Ok(_) => {}
                    Err(_) => {
                        self.err(path, v, format!("the schema's pattern {p:?} is not a valid regular expression"))
                    }
                }
            }
        }
        if let Some(items) = v.as_array() {
            let len = items.len() as f64;
            if let Some(min) = n("minItems").filter(|m| len < *m) {
                self.errors.push((
                    path.to_string(),
                    format!("Invalid value: {}: {path} in body should have at least {min} items", items.len()),
                ));
            }
            if let Some(max) = n("maxItems").filter(|m| len > *m) {
                self.errors
                    .push((path.to_string(), format!("Too many: {}: must have at most {max} items", items.len())));
            }
        }
    }

    fn object(&mut self, schema: &Value, map: &mut Map<String, Value>, path: &str) {
        let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
        let props = schema["properties"].as_object();
        // A null where the schema does not allow one is dropped (and may
        // then be defaulted), as kube-apiserver prunes it.
        if let Some(props) = props {
            map.retain(|k, v| !(v.is_null() && props.get(k).is_some_and(|p| p["nullable"] != true)));
        }
        // Defaults first, so that required fields may be met by them.
        if let Some(props) = props {
            for (k, s) in props {
                if let (false, Some(d)) = (map.contains_key(k), s.get("default")) {
                    map.insert(k.clone(), d.clone());
                }
            }
        }
        for r in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                self.errors.push((join(r), "Required value".into()));
            }
        }
        let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
        let embedded = schema["x-kubernetes-embedded-resource"] == true;
        let extra = schema.get("additionalProperties").filter(|a| a.is_object());
        let keys: Vec<String> = map.keys().cloned().collect();
        for k in keys {
            let at_root_meta =
                (path.is_empty() || embedded) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
            let sub = props.and_then(|p| p.get(&k)).or(extra);
            match (sub, map.get_mut(&k)) {
                (Some(s), Some(v)) if !at_root_meta => self.check(s, v, &join(&k)),
                (None, Some(_)) if !at_root_meta && !preserve => {
                    self.unknown.push(join(&k));
                    if *self.mode != Mode::Strict {
                        map.remove(&k);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Validates a custom object against its version's schema: type errors are
/// a 422 naming each field; unknown fields are pruned (Warn, Ignore) or
/// refused (Strict); schema defaults are filled in. The warnings to send.
pub fn validate(r: &Resource, obj: &mut Value, mode: Mode) -> ApiResult<Vec<String>> {
    let Some(custom) = r.custom else { return Ok(vec![]) };
    let name = str_at(obj, &["metadata", "name"]).to_string();
    let mut walk = Walk { errors: vec![], unknown: vec![], mode: &mode };
    walk.check(&custom.schema, obj, "");
    if !walk.errors.is_empty() {
        return Err(ApiError::invalid(r.kind, &name, walk.errors));
    }
    let unknown: Vec<String> = walk.unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
    match mode {
        Mode::Strict if !unknown.is_empty() => Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            r.kind,
            r.version,
            r.kind,
            unknown.join(", ")
        ))),
        Mode::Warn => Ok(unknown),
        _ => Ok(vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crontab() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                    "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}],
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "required": ["cronSpec"], "properties": {
                            "cronSpec": {"type": "string", "pattern": "^(\\S+ ){4}\\S+$"},
                            "image": {"type": "string", "default": "busybox"},
                            "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                            "mode": {"type": "string", "enum": ["a", "b"]},
                            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        }},
                        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                    }}},
                }],
            },
        })
    }

    fn served() -> &'static Resource {
        let mut crd = crontab();
        prepare(&mut crd).unwrap();
        resources_of(&crd)[0]
    }

    #[test]
    fn a_definition_is_defaulted_and_established() {
        let mut crd = crontab();
        prepare(&mut crd).unwrap();
        assert_eq!(crd["spec"]["names"]["singular"], "crontab");
        assert_eq!(crd["spec"]["names"]["listKind"], "CronTabList");
        crd["status"] = status_of(&crd);
        let conds = crd["status"]["conditions"].as_array().unwrap();
        assert!(conds.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
        assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
        assert_eq!(crd["status"]["acceptedNames"]["kind"], "CronTab");
        assert_eq!(status_of(&crd), crd["status"], "a settled status is left as it is");
    }

    #[test]
    fn bad_definitions_name_the_field() {
        let cases: &[(&str, Value, &str)] = &[
            ("/spec/group", json!("nodots"), "spec.group"),
            ("/spec/group", json!("apps"), "spec.group"),
            ("/metadata/name", json!("other.stable.example.com"), "metadata.name"),
            ("/spec/scope", json!("Global"), "spec.scope"),
            ("/spec/versions/0/storage", json!(false), "spec.versions"),
            ("/spec/versions/0/schema", json!({}), "spec.versions[0].schema.openAPIV3Schema"),
        ];
        for (ptr, value, field) in cases {
            let mut crd = crontab();
            *crd.pointer_mut(ptr).unwrap() = value.clone();
            let e = prepare(&mut crd).unwrap_err();
            assert_eq!(e.code, 422, "{ptr}");
            assert!(e.message.contains(field), "{ptr}: {}", e.message);
        }
    }

    #[test]
    fn reading_a_definition_twice_reuses_its_entries() {
        let a = served();
        let b = served();
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.kind, "CronTab");
        assert!(a.has(Sub::Status) && a.has(Sub::Scale) && a.namespaced);
        assert_eq!(a.short_names, &["ct"]);
        assert_eq!(a.custom.unwrap().columns[0].json_path, ".spec.cronSpec");
    }

    #[test]
    fn objects_are_validated_defaulted_and_pruned() {
        let r = served();
        let mut ok = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "a"},
            "spec": {"cronSpec": "* * * * */5", "replicas": 2, "extra": {"anything": 1}, "bogus": true}});
        let warnings = validate(r, &mut ok, Mode::Warn).unwrap();
        assert_eq!(warnings, vec!["unknown field \"spec.bogus\"".to_string()]);
        assert!(ok["spec"].get("bogus").is_none());
        assert_eq!(ok["spec"]["image"], "busybox");
        assert_eq!(ok["spec"]["extra"]["anything"], 1);

        let mut strict = json!({"metadata": {"name": "a"}, "spec": {"cronSpec": "* * * * *", "bogus": 1}});
        let e = validate(r, &mut strict, Mode::Strict).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("unknown field \"spec.bogus\""), "{}", e.message);

        let mut bad = json!({"metadata": {"name": "a"}, "spec": {"cronSpec": "nope", "replicas": "two", "mode": "c"}});
        let e = validate(r, &mut bad, Mode::Warn).unwrap_err();
        assert_eq!(e.code, 422);
        for field in ["spec.cronSpec", "spec.replicas in body must be of type integer", "spec.mode"] {
            assert!(e.message.contains(field), "{field}: {}", e.message);
        }
        let mut missing = json!({"metadata": {"name": "a"}, "spec": {"replicas": 11}});
        let e = validate(r, &mut missing, Mode::Warn).unwrap_err();
        assert!(e.message.contains("spec.cronSpec: Required value"), "{}", e.message);
        assert!(e.message.contains("less than or equal to 10"), "{}", e.message);
    }

    #[test]
    fn paths_read_and_write_nested_values() {
        let mut o = json!({"spec": {"items": [{"n": 1}]}});
        assert_eq!(at_path(&o, ".spec.items[0].n"), Some(&json!(1)));
        assert_eq!(at_path(&o, ".spec.nope"), None);
        set_path(&mut o, ".status.replicas", json!(3));
        assert_eq!(o["status"]["replicas"], 3);
    }
}
