//! OpenAPI v3 documents generated from the resource table: the index at
//! `/openapi/v3` naming every served group-version, and per group-version
//! the paths (with the `fieldValidation` parameter that tells kubectl the
//! server validates fields itself, so `apply` and `create -f` work with
//! their default `--validate=strict`) and an object schema per kind.

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

pub fn schema_name(r: &Resource) -> String {
    format!("{}.{}", package(r), r.kind)
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn served_gvs() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for r in resources::BUILTIN {
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

pub fn index() -> Value {
    let mut paths = Map::new();
    for (g, v) in served_gvs() {
        let p = gv_path(g, v);
        let doc = document(g, v).map(|d| d.to_string()).unwrap_or_default();
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

fn kind_schema(r: &Resource) -> Value {
    let mut props = json!({
        "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
        "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
        "metadata": {"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}], "default": {},
                     "description": "Standard object's metadata."},
    });
    match r.plural {
        "configmaps" => {
            props["data"] = json!({"type": "object", "additionalProperties": {"type": "string"}});
            props["binaryData"] =
                json!({"type": "object", "additionalProperties": {"type": "string", "format": "byte"}});
            props["immutable"] = json!({"type": "boolean"});
        }
        "secrets" => {
            props["data"] = json!({"type": "object", "additionalProperties": {"type": "string", "format": "byte"}});
            props["stringData"] = json!({"type": "object", "additionalProperties": {"type": "string"}});
            props["type"] = json!({"type": "string"});
            props["immutable"] = json!({"type": "boolean"});
        }
        _ => {
            props["spec"] = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
            if r.has_status {
                props["status"] = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
            }
        }
    }
    json!({
        "type": "object",
        "description": format!("{} ({}).", r.kind, r.group_version()),
        "properties": props,
        "x-kubernetes-group-version-kind": [{"group": r.group, "version": r.version, "kind": r.kind}],
    })
}

fn object_meta() -> Value {
    let map = json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}});
    json!({
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have.",
        "properties": {
            "name": {"type": "string"}, "generateName": {"type": "string"}, "namespace": {"type": "string"},
            "uid": {"type": "string"}, "resourceVersion": {"type": "string"}, "generation": {"type": "integer", "format": "int64"},
            "creationTimestamp": {"type": "string", "format": "date-time"},
            "deletionTimestamp": {"type": "string", "format": "date-time"},
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
            "labels": map, "annotations": map,
            "finalizers": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "set",
                           "x-kubernetes-patch-strategy": "merge"},
            "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge"},
            "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        },
    })
}

/// The document of one group-version (None: not served).
pub fn document(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<&Resource> = resources::BUILTIN.iter().filter(|r| r.group == group && r.version == version).collect();
    if rs.is_empty() {
        return None;
    }
    let base = format!("/{}", gv_path(group, version));
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(OBJECT_META.to_string(), object_meta());
    for r in rs {
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
        schemas.insert(schema_name(r), kind_schema(r));
    }
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
        let d = document("apps", "v1").unwrap();
        let patch = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(d["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
        assert!(document("nope", "v1").is_none());
        assert!(document("", "v1").unwrap()["paths"].get("/api/v1/nodes/{name}").is_some());
    }
}
