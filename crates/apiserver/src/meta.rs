//! Object metadata the server owns: names checked against DNS rules, uid,
//! creationTimestamp, generation, resourceVersion (the store's revision,
//! never stored inside the object), and the fields a client may not change.

use serde_json::{json, Value};

use crate::resources::Resource;
use crate::status::{ApiError, ApiResult};

/// The current time in Kubernetes' format (see [`rfc3339`]): what the
/// server stamps creationTimestamp, deletionTimestamp and managedFields
/// with.
pub fn now_rfc3339() -> String {
    rfc3339(jiff::Timestamp::now().as_second())
}

/// Kubernetes' time format: UTC, whole seconds.
pub fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map_or_else(|_| "1970-01-01T00:00:00Z".into(), |t| t.to_string())
}

/// Seconds since the epoch of an RFC 3339 time.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// RFC 1123 label: what namespace and service names must be.
pub fn dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let ok = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        return Err("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into());
    }
    Ok(())
}

/// RFC 1123 subdomain: what most object names must be.
pub fn dns_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    for part in name.split('.') {
        let ok = !part.is_empty()
            && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into());
        }
    }
    Ok(())
}

/// Kinds whose names must be DNS labels, not subdomains.
fn label_named(r: &Resource) -> bool {
    matches!(r.plural, "namespaces" | "services")
}

pub(crate) fn check_name(r: &Resource, name: &str) -> ApiResult<()> {
    let checked = if label_named(r) { dns_label(name) } else { dns_subdomain(name) };
    checked.map_err(|m| {
        ApiError::invalid(r.kind, name, vec![("metadata.name".into(), format!("Invalid value: {name:?}: {m}"))])
    })
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes.iter().take(5).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// The object's apiVersion and kind checked against (or filled from) the
/// resource the request addressed.
pub fn check_type(r: &Resource, obj: &mut Value) -> ApiResult<()> {
    let gv = r.group_version();
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    if !api_version.is_empty() && api_version != gv {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({gv})"
        )));
    }
    if !kind.is_empty() && kind != r.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            r.kind
        )));
    }
    obj["apiVersion"] = json!(gv);
    obj["kind"] = json!(r.kind);
    Ok(())
}

/// Prepares a new object: name (or generateName), namespace, uid,
/// creationTimestamp, generation; strips what the server assigns.
pub fn on_create(r: &Resource, namespace: Option<&str>, obj: &mut Value) -> ApiResult<String> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    check_type(r, obj)?;
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let m = &mut obj["metadata"];
    let mut name = m.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    if name.is_empty() {
        if let Some(g) = m.get("generateName").and_then(Value::as_str).filter(|g| !g.is_empty()) {
            name = format!("{g}{}", random_suffix());
        }
    }
    if name.is_empty() {
        return Err(ApiError::invalid(
            r.kind,
            "",
            vec![("metadata.name".into(), "Required value: name or generateName is required".into())],
        ));
    }
    check_name(r, &name)?;
    match (r.namespaced, namespace) {
        (true, Some(ns)) => {
            let given = m.get("namespace").and_then(Value::as_str).unwrap_or("");
            if !given.is_empty() && given != ns {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the provided object ({given}) does not match the namespace sent on the request ({ns})"
                )));
            }
            m["namespace"] = json!(ns);
        }
        (true, None) => return Err(ApiError::bad_request(format!("{} must be created in a namespace", r.plural))),
        (false, _) => {
            if let Some(o) = m.as_object_mut() {
                o.remove("namespace");
            }
        }
    }
    m["name"] = json!(name);
    m["uid"] = json!(uuid::Uuid::new_v4().to_string());
    m["creationTimestamp"] = json!(now_rfc3339());
    // Objects with a spec count its changes (ConfigMaps and the like do not).
    if obj.get("spec").is_some() || r.has_status {
        obj["metadata"]["generation"] = json!(1);
    }
    let m = &mut obj["metadata"];
    if let Some(o) = m.as_object_mut() {
        o.remove("resourceVersion");
        o.remove("deletionTimestamp");
        o.remove("selfLink");
    }
    if r.has_status && r.plural != "namespaces" {
        // Status is the controllers' to write, through the subresource.
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
    Ok(name)
}

/// An update of `old` by `new` (main resource or `status`): what a client
/// may not change is kept from `old`; a spec change bumps the generation.
pub fn on_update(r: &Resource, old: &Value, new: &mut Value, status_only: bool) -> ApiResult<()> {
    check_type(r, new)?;
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    let old_meta = &old["metadata"];
    let name = old_meta["name"].as_str().unwrap_or("");
    let given = new["metadata"].get("name").and_then(Value::as_str).unwrap_or(name);
    if given != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(uid) = new["metadata"].get("uid").and_then(Value::as_str) {
        if !uid.is_empty() && Some(uid) != old_meta["uid"].as_str() {
            return Err(
                ApiError::conflict(r.plural, name).with_details(json!({"name": name, "kind": r.plural, "uid": uid}))
            );
        }
    }
    if status_only {
        // Only status changes through the subresource.
        let status = new.get("status").cloned();
        let mut merged = old.clone();
        match status {
            Some(s) => merged["status"] = s,
            None => {
                if let Some(o) = merged.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        *new = merged;
    } else if r.has_status && r.plural != "namespaces" {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    let m = &mut new["metadata"];
    for k in ["uid", "creationTimestamp", "namespace", "name", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        match old_meta.get(k) {
            Some(v) => m[k] = v.clone(),
            None => {
                if let Some(o) = m.as_object_mut() {
                    o.remove(k);
                }
            }
        }
    }
    if let Some(o) = m.as_object_mut() {
        o.remove("resourceVersion");
        o.remove("selfLink");
    }
    let Some(generation) = old_meta.get("generation").and_then(Value::as_i64) else {
        return Ok(());
    };
    let spec_changed = if r.has_status {
        old.get("spec") != new.get("spec")
    } else {
        // Without a status subresource everything but metadata is "spec".
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("metadata");
            }
            v
        };
        strip(old) != strip(new)
    };
    new["metadata"]["generation"] = json!(if spec_changed && !status_only { generation + 1 } else { generation });
    Ok(())
}

/// The object as served: with its resourceVersion.
pub fn with_revision(mut obj: Value, revision: i64) -> Value {
    if obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"]["resourceVersion"] = json!(revision.to_string());
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;

    #[test]
    fn times_round_trip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_423_156), "2026-11-23T08:39:16Z");
        assert_eq!(parse_rfc3339("2026-11-23T08:39:16Z"), Some(1_795_423_156));
    }

    #[test]
    fn names_follow_the_dns_rules() {
        assert!(dns_label("web-1").is_ok());
        assert!(dns_label("Web").is_err() && dns_label("-a").is_err() && dns_label(&"a".repeat(64)).is_err());
        assert!(dns_subdomain("a.b-c.d").is_ok());
        assert!(dns_subdomain("a..b").is_err() && dns_subdomain("under_score").is_err());
        let ns = find("", "v1", "namespaces").unwrap();
        let e = check_name(ns, "a.b").unwrap_err();
        assert_eq!(e.code.as_u16(), 422);
        assert!(e.message.contains("metadata.name"), "{}", e.message);
    }

    #[test]
    fn creates_get_server_fields_and_updates_keep_them() {
        let cm = find("", "v1", "configmaps").unwrap();
        let mut o = json!({"metadata": {"generateName": "cfg-", "resourceVersion": "9"}, "data": {"a": "1"}});
        let name = on_create(cm, Some("default"), &mut o).unwrap();
        assert!(name.starts_with("cfg-") && name.len() == 9, "{name}");
        assert_eq!(o["kind"], "ConfigMap");
        assert_eq!(o["metadata"]["namespace"], "default");
        assert!(o["metadata"]["uid"].is_string() && o["metadata"].get("resourceVersion").is_none());
        let mut n = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "uid": "forged-but-ignored?"}, "data": {"a": "2"}});
        assert_eq!(on_update(cm, &o, &mut n, false).unwrap_err().code.as_u16(), 409, "a different uid");
        let mut n = json!({"metadata": {"name": name}, "data": {"a": "2"}});
        on_update(cm, &o, &mut n, false).unwrap();
        assert_eq!(n["metadata"]["uid"], o["metadata"]["uid"]);
        assert!(n["metadata"].get("generation").is_none(), "no spec, no generation");
        let mut wrong = json!({"apiVersion": "apps/v1", "kind": "ConfigMap"});
        assert!(on_create(cm, Some("d"), &mut wrong).unwrap_err().message.contains("apps/v1"));
    }

    #[test]
    fn status_is_separate_for_resources_with_the_subresource() {
        let d = find("apps", "v1", "deployments").unwrap();
        let mut o = json!({"metadata": {"name": "x"}, "spec": {"replicas": 1}, "status": {"replicas": 9}});
        on_create(d, Some("d"), &mut o).unwrap();
        assert!(o.get("status").is_none(), "status is not set by create");
        let mut s = json!({"metadata": {"name": "x"}, "spec": {"replicas": 5}, "status": {"replicas": 1}});
        on_update(d, &o, &mut s, true).unwrap();
        assert_eq!(s["spec"]["replicas"], 1, "status updates leave spec");
        assert_eq!(s["metadata"]["generation"], 1);
        let mut u = json!({"metadata": {"name": "x"}, "spec": {"replicas": 3}, "status": {"replicas": 7}});
        on_update(d, &s, &mut u, false).unwrap();
        assert_eq!(u["status"]["replicas"], 1, "main updates leave status");
        assert_eq!(u["metadata"]["generation"], 2);
    }
}
