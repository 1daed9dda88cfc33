//! OpenAPI v3 documents generated from the resource table: the index at
//! `/openapi/v3` naming every served group-version, and per group-version
//! the paths (with the `fieldValidation` parameter that tells kubectl the
//! server validates fields itself, so `apply` and `create -f` work with
//! their default `--validate=strict`) and the schemas of the kinds,
//! generated from k8s-openapi's types (descriptions included, so `kubectl
//! explain` works) with the patch merge keys and list types kubectl's
//! client-side apply and server-side apply clients read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Map, Value};

use crate::resources::{self, Resource};

/// The schema package of a group, as upstream names its definitions.
fn package(r: &Resource) -> String {
    let g = match r.group {
        "" => "core",
        "apiextensions.k8s.io" => {
            return format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}", r.version)
        }
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{g}.{}", r.version)
}

pub(crate) fn schema_name(r: &Resource) -> String {
    if r.custom.is_some() {
        // Custom kinds are named by their reversed group, as upstream does.
        let reversed: Vec<&str> = r.group.split('.').rev().collect();
        return format!("{}.{}.{}", reversed.join("."), r.version, r.kind);
    }
    format!("{}.{}", package(r), r.kind)
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn served_gvs() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for r in resources::all() {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// A short stable hash of a document, for kubectl's disk cache.
fn hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// The `/openapi/v3` index: each served group-version's path with a URL
/// whose `hash` changes with its document, so kubectl's cache refetches
/// exactly the documents that changed.
pub fn index() -> Value {
    let mut paths = Map::new();
    for (g, v) in served_gvs() {
        let p = gv_path(g, v);
        let doc = document(g, v).unwrap_or_default();
        paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash(&doc))}));
    }
    json!({ "paths": paths })
}

fn param(name: &str, location: &str) -> Value {
    json!({"name": name, "in": location, "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(r: &Resource, action: &str, op_id: String, write: bool) -> Value {
    let mut params = vec![param("pretty", "query")];
    if write {
        params.extend([param("dryRun", "query"), param("fieldManager", "query"), param("fieldValidation", "query")]);
    }
    if action == "patch" {
        params.push(param("force", "query"));
    }
    let schema = json!({"$ref": format!("#/components/schemas/{}", schema_name(r))});
    let mut op = json!({
        "operationId": op_id,
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    });
    if write && action != "delete" {
        let types: &[&str] = if action == "patch" {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ]
        } else {
            &["application/json"]
        };
        let content: Map<String, Value> = types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": {"$ref": format!("#/components/schemas/{}", schema_name(r))}})))
            .collect();
        op["requestBody"] = json!({ "content": content, "required": true });
    }
    op
}

/// Lists that merge by key rather than being replaced whole, as the
/// built-in types declare them: (definition, property, merge key, patch
/// strategy, list-map keys for server-side apply).
const MERGE_KEYS: &[(&str, &str, &str, &str, &[&str])] = &[
    ("io.k8s.api.core.v1.PodSpec", "containers", "name", "merge", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "initContainers", "name", "merge", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", "name", "merge", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "volumes", "name", "merge,retainKeys", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", "name", "merge", &["name"]),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", "ip", "merge", &["ip"]),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        "topologyKey",
        "merge",
        &["topologyKey", "whenUnsatisfiable"],
    ),
    ("io.k8s.api.core.v1.Container", "env", "name", "merge", &["name"]),
    ("io.k8s.api.core.v1.Container", "ports", "containerPort", "merge", &["containerPort", "protocol"]),
    ("io.k8s.api.core.v1.Container", "volumeMounts", "mountPath", "merge", &["mountPath"]),
    ("io.k8s.api.core.v1.Container", "volumeDevices", "devicePath", "merge", &["devicePath"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "env", "name", "merge", &["name"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts", "mountPath", "merge", &["mountPath"]),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", "port", "merge", &["port", "protocol"]),
    ("io.k8s.api.core.v1.PodStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.api.core.v1.NodeStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.api.core.v1.NodeStatus", "addresses", "type", "merge", &["type"]),
    ("io.k8s.api.core.v1.NamespaceStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.api.apps.v1.DeploymentStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.api.batch.v1.JobStatus", "conditions", "type", "merge", &["type"]),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", "uid", "merge", &["uid"]),
];

/// Scalar lists merged as sets.
const SET_LISTS: &[(&str, &str)] = &[("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers")];

struct SchemaOf<'a>(&'a mut schemars::SchemaGenerator);

impl crate::types::KindVisitor for SchemaOf<'_> {
    type Out = ();
    fn visit<T: serde::de::DeserializeOwned + serde::Serialize + schemars::JsonSchema>(self) {
        self.0.subschema_for::<T>();
    }
}

fn generator() -> schemars::SchemaGenerator {
    schemars::generate::SchemaSettings::openapi3().into_generator()
}

fn gvk(r: &Resource) -> Value {
    json!([{"group": r.group, "version": r.version, "kind": r.kind}])
}

/// The schemas of the built-in kinds of one group-version and everything
/// they refer to.
fn builtin_schemas(rs: &[&Resource]) -> Map<String, Value> {
    let mut g = generator();
    for r in rs {
        crate::types::visit(r, SchemaOf(&mut g));
    }
    let mut defs = g.take_definitions(true);
    for r in rs {
        if let Some(d) = defs.get_mut(&schema_name(r)).and_then(Value::as_object_mut) {
            d.insert("x-kubernetes-group-version-kind".into(), gvk(r));
        }
    }
    for (def, prop, key, strategy, map_keys) in MERGE_KEYS {
        if let Some(p) = defs.get_mut(*def).and_then(|d| d["properties"].get_mut(*prop)).and_then(Value::as_object_mut)
        {
            p.insert("x-kubernetes-patch-merge-key".into(), json!(key));
            p.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
            p.insert("x-kubernetes-list-type".into(), json!("map"));
            p.insert("x-kubernetes-list-map-keys".into(), json!(map_keys));
        }
    }
    for (def, prop) in SET_LISTS {
        if let Some(p) = defs.get_mut(*def).and_then(|d| d["properties"].get_mut(*prop)).and_then(Value::as_object_mut)
        {
            p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
            p.insert("x-kubernetes-list-type".into(), json!("set"));
        }
    }
    defs
}

/// The schemas of custom kinds: each version's schema from its definition,
/// with the standard object metadata.
fn custom_schemas(rs: &[&Resource]) -> Map<String, Value> {
    let mut g = generator();
    let meta = g.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>();
    let mut defs = g.take_definitions(true);
    for r in rs {
        let Some(c) = r.custom else { continue };
        let mut schema = c.schema.clone();
        if !schema["properties"].is_object() {
            schema["properties"] = json!({});
        }
        let props = &mut schema["properties"];
        props["metadata"] = json!({"allOf": [meta.clone()], "description": "Standard object's metadata."});
        props["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
        props["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
        schema["x-kubernetes-group-version-kind"] = gvk(r);
        defs.insert(schema_name(r), schema);
    }
    defs
}

/// Built-in documents never change while the server runs: rendered once.
fn cached(group: &str, version: &str, make: impl FnOnce() -> Value) -> Arc<String> {
    type Docs = HashMap<(String, String), Arc<String>>;
    static DOCS: OnceLock<Mutex<Docs>> = OnceLock::new();
    let docs = DOCS.get_or_init(Default::default);
    let key = (group.to_string(), version.to_string());
    if let Some(d) = docs.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return d;
    }
    let doc = Arc::new(make().to_string());
    if let Ok(mut m) = docs.lock() {
        m.insert(key, doc.clone());
    }
    doc
}

/// The document of one group-version (None: not served).
pub fn document(group: &str, version: &str) -> Option<Arc<String>> {
    let rs = resources::of(group, version);
    match rs.first() {
        None => None,
        // Definitions change while the server runs: rendered each time.
        Some(r) if r.custom.is_some() => render(group, version).map(|d| Arc::new(d.to_string())),
        Some(_) => Some(cached(group, version, || render(group, version).unwrap_or_default())),
    }
}

fn render(group: &str, version: &str) -> Option<Value> {
    let rs = resources::of(group, version);
    if rs.is_empty() {
        return None;
    }
    let base = format!("/{}", gv_path(group, version));
    let mut paths = Map::new();
    for r in &rs {
        let id = |verb: &str| format!("{verb}{}", r.kind);
        let (collection, item) = if r.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", r.plural),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
            )
        } else {
            (format!("{base}/{}", r.plural), format!("{base}/{}/{{name}}", r.plural))
        };
        paths.insert(
            collection,
            json!({
                "get": operation(r, "list", id("list"), false),
                "post": operation(r, "post", id("create"), true),
                "delete": operation(r, "deletecollection", id("deleteCollection"), true),
            }),
        );
        paths.insert(
            item.clone(),
            json!({
                "get": operation(r, "get", id("read"), false),
                "put": operation(r, "put", id("replace"), true),
                "patch": operation(r, "patch", id("patch"), true),
                "delete": operation(r, "delete", id("delete"), true),
            }),
        );
        for s in r.subresources.iter().filter(|s| matches!(s.name(), "status" | "scale")) {
            paths.insert(
                format!("{item}/{}", s.name()),
                json!({
                    "get": operation(r, "get", format!("read{}{}", r.kind, s.name()), false),
                    "put": operation(r, "put", format!("replace{}{}", r.kind, s.name()), true),
                    "patch": operation(r, "patch", format!("patch{}{}", r.kind, s.name()), true),
                }),
            );
        }
    }
    let schemas = if rs.iter().any(|r| r.custom.is_some()) { custom_schemas(&rs) } else { builtin_schemas(&rs) };
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_group_version_is_in_the_index() {
        let idx = index();
        for (g, v) in served_gvs() {
            let url = idx["paths"][gv_path(g, v)]["serverRelativeURL"].as_str().unwrap();
            assert!(url.contains("?hash="), "{url}");
        }
    }

    #[test]
    fn patch_operations_advertise_field_validation() {
        let d: Value = serde_json::from_str(&document("apps", "v1").unwrap()).unwrap();
        let patch = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(d["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
        assert!(document("nope", "v1").is_none());
        let core: Value = serde_json::from_str(&document("", "v1").unwrap()).unwrap();
        assert!(core["paths"].get("/api/v1/nodes/{name}").is_some());
        let spec = &core["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"];
        assert!(spec["description"].as_str().unwrap().contains("pod"));
        assert_eq!(spec["properties"]["containers"]["x-kubernetes-patch-merge-key"], "name");
        let pod = &core["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
    }
}
