//! The patch types: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
//! and strategic merge patch, where lists of objects merge by their key
//! (containers by name, ports by port, conditions by type…) as the
//! built-in types declare, with the `$patch`, `$setElementOrder` and
//! `$deleteFromPrimitiveList` directives.

use serde_json::{Map, Value};

use crate::status::{ApiError, ApiResult};

/// `patch` applied to `target` as a JSON merge patch (RFC 7386): objects
/// merge key by key, null deletes, anything else (lists included) replaces.
/// Cannot fail: every JSON value is a merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = match target {
                Value::Object(t) => t.clone(),
                _ => Map::new(),
            };
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The merge key of a list field of the built-in types (None: the list is
/// replaced as a whole, or merged as a set of scalars).
fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "hostAliases"
        | "readinessGates" => match field {
            "hostAliases" => "ip",
            "readinessGates" => "conditionType",
            _ => "name",
        },
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ports" => {
            if sample.is_some_and(|s| s.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Scalar lists the built-in types merge as sets.
fn merges_as_set(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// `patch` applied to `target` as a strategic merge patch: as a merge
/// patch, except that lists with a merge key of the built-in types merge
/// element by element, with `$patch: replace|delete` and
/// `$deleteFromPrimitiveList` obeyed (`$setElementOrder` and `$retainKeys`
/// are accepted and ignored, so merged elements keep their order). An
/// element of a keyed list without its key is a 400.
pub fn strategic_merge(target: &Value, patch: &Value) -> ApiResult<Value> {
    let (Value::Object(t), Value::Object(p)) = (target, patch) else {
        return Ok(patch.clone());
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut r = p.clone();
        r.remove("$patch");
        return Ok(Value::Object(r));
    }
    let mut out = t.clone();
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Value::Array(del)) = (out.get_mut(field), v) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let cur = out.get(k).cloned().unwrap_or(Value::Null);
        let merged = match (&cur, v) {
            (Value::Object(_), Value::Object(_)) => strategic_merge(&cur, v)?,
            (Value::Array(ca), Value::Array(pa)) => merge_list(k, ca, pa)?,
            _ => strip_directives(v),
        };
        out.insert(k.clone(), merged);
    }
    Ok(Value::Object(out))
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip_directives(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn merge_list(field: &str, cur: &[Value], patch: &[Value]) -> ApiResult<Value> {
    if merges_as_set(field) {
        let mut out = cur.to_vec();
        for x in patch {
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
        return Ok(Value::Array(out));
    }
    let Some(key) = merge_key(field, patch.first().or(cur.first())) else {
        return Ok(Value::Array(patch.iter().map(strip_directives).collect()));
    };
    let mut out: Vec<Value> = cur.to_vec();
    for item in patch {
        let Some(kv) = item.get(key) else {
            return Err(ApiError::bad_request(format!(
                "a strategic merge patch of {field} needs {key} in every element"
            )));
        };
        let pos = out.iter().position(|x| x.get(key) == Some(kv));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                out.remove(i);
            }
            continue;
        }
        match pos {
            Some(i) => out[i] = strategic_merge(&out[i], item)?,
            None => out.push(strip_directives(item)),
        }
    }
    Ok(Value::Array(out))
}

fn pointer_parts(path: &str) -> ApiResult<Vec<String>> {
    if path.is_empty() {
        return Ok(vec![]);
    }
    let rest = path.strip_prefix('/').ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect())
}

fn parent<'a>(doc: &'a mut Value, parts: &[String], path: &str) -> ApiResult<&'a mut Value> {
    let mut cur = doc;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| ApiError::bad_request(format!("the JSON patch path {path:?} does not exist")))?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> ApiResult<()> {
    let parts = pointer_parts(path)?;
    let Some((last, init)) = parts.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, init, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid array index in {path:?}")))?
            };
            if i > a.len() {
                return Err(ApiError::bad_request(format!("array index out of range in {path:?}")));
            }
            a.insert(i, value);
        }
        _ => return Err(ApiError::bad_request(format!("the JSON patch path {path:?} is not in an object or array"))),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> ApiResult<Value> {
    let parts = pointer_parts(path)?;
    let Some((last, init)) = parts.split_last() else {
        return Err(ApiError::bad_request("a JSON patch cannot remove the whole document"));
    };
    let missing = || ApiError::bad_request(format!("the JSON patch path {path:?} does not exist"));
    match parent(doc, init, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

/// `ops` (an RFC 6902 JSON patch: a list of operations) applied to `doc`,
/// in order and all or nothing. A malformed operation or a path that does
/// not exist is a 400; a failed `test`, a 422.
pub fn json_patch(doc: &Value, ops: &Value) -> ApiResult<Value> {
    let ops = ops.as_array().ok_or_else(|| ApiError::bad_request("a JSON patch is a list of operations"))?;
    let mut doc = doc.clone();
    for op in ops {
        let path = op["path"].as_str().ok_or_else(|| ApiError::bad_request("a JSON patch operation needs a path"))?;
        match op["op"].as_str().unwrap_or("") {
            "add" => add(&mut doc, path, op["value"].clone())?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, op["value"].clone())?;
            }
            "move" | "copy" => {
                let from = op["from"].as_str().ok_or_else(|| ApiError::bad_request("move and copy need from"))?;
                let v = if op["op"] == "move" {
                    remove(&mut doc, from)?
                } else {
                    doc.pointer(from)
                        .cloned()
                        .ok_or_else(|| ApiError::bad_request(format!("{from:?} does not exist")))?
                };
                add(&mut doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&op["value"]) {
                    return Err(ApiError::invalid(
                        "",
                        "",
                        vec![(path.to_string(), "the JSON patch test failed".into())],
                    ));
                }
            }
            other => return Err(ApiError::bad_request(format!("unknown JSON patch operation {other:?}"))),
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        let p = json!({"a": "z", "c": {"f": null}});
        assert_eq!(merge_patch(&t, &p), json!({"a": "z", "c": {"d": "e"}}));
        assert_eq!(merge_patch(&json!({"a": [1, 2]}), &json!({"a": [3]})), json!({"a": [3]}));
    }

    #[test]
    fn strategic_merge_keys_containers_by_name() {
        let t = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox"}]}}}});
        let p = json!({"spec": {"replicas": 3, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [{"name": "app", "image": "nginx:1.28"}, {"name": "side", "$patch": "delete"}]}}}});
        let r = strategic_merge(&t, &p).unwrap();
        assert_eq!(r["spec"]["replicas"], 3);
        let cs = r["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0]["image"], "nginx:1.28");
        assert_eq!(cs[0]["ports"][0]["containerPort"], 80, "unnamed fields kept");
        let f =
            strategic_merge(&json!({"metadata": {"finalizers": ["a"]}}), &json!({"metadata": {"finalizers": ["b"]}}))
                .unwrap();
        assert_eq!(f["metadata"]["finalizers"], json!(["a", "b"]));
        let d = strategic_merge(
            &json!({"metadata": {"finalizers": ["a", "b"]}}),
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn json_patch_operations() {
        let d = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        let p = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "x"},
            {"op": "remove", "path": "/list/0"},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "test", "path": "/list/0", "value": 2},
            {"op": "copy", "from": "/list", "path": "/copied"},
            {"op": "add", "path": "/k~1v", "value": true}
        ]);
        let r = json_patch(&d, &p).unwrap();
        assert_eq!(r["metadata"]["labels"], json!({"a": "x", "b": "2"}));
        assert_eq!(r["list"], json!([2, 3]));
        assert_eq!(r["copied"], json!([2, 3]));
        assert_eq!(r["k/v"], true);
        assert!(json_patch(&d, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(json_patch(&d, &json!([{"op": "test", "path": "/list/0", "value": 9}])).is_err());
    }
}
