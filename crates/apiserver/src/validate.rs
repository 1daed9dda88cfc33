//! Typed checks of the built-in kinds with k8s-openapi's types: a field of
//! the wrong type is a 400 naming it; an unknown field is refused, warned
//! about or ignored as the request's `fieldValidation` asks (Strict, Warn —
//! the default — or Ignore). Unknown fields are found by decoding into the
//! typed struct and encoding again: what went in and did not come out is
//! not part of the type.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::resources::Resource;
use crate::status::{ApiError, ApiResult};

/// What a write does with fields its kind does not have (the request's
/// `fieldValidation`). A field of the wrong type is refused in every mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Refuse the request (400), naming every unknown field.
    Strict,
    /// Accept it, returning each unknown field as a `Warning` header: the
    /// default, as in Kubernetes.
    Warn,
    /// Accept it silently.
    Ignore,
}

impl Mode {
    /// The mode of a `fieldValidation` query value (None or empty: Warn);
    /// any other value than the three is a 400.
    pub fn parse(v: Option<&str>) -> ApiResult<Mode> {
        match v {
            None | Some("") | Some("Warn") => Ok(Mode::Warn),
            Some("Strict") => Ok(Mode::Strict),
            Some("Ignore") => Ok(Mode::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: invalid value {other:?}: use Strict, Warn or Ignore"
            ))),
        }
    }
}

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let typed: T = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// Paths in `input` that `typed` does not have (explicit nulls aside).
fn unknown_fields(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(i), Value::Object(t)) => {
            for (k, v) in i {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match t.get(k) {
                    None if !v.is_null() => out.push(p),
                    Some(tv) => unknown_fields(v, tv, &p, out),
                    None => {}
                }
            }
        }
        (Value::Array(i), Value::Array(t)) => {
            for (n, (iv, tv)) in i.iter().zip(t).enumerate() {
                unknown_fields(iv, tv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

struct RoundTrip<'a>(&'a Value);

impl crate::types::KindVisitor for RoundTrip<'_> {
    type Out = Result<Value, String>;
    fn visit<T: DeserializeOwned + Serialize + schemars::JsonSchema>(self) -> Self::Out {
        roundtrip::<T>(self.0)
    }
}

fn typed(r: &Resource, v: &Value) -> Option<Result<Value, String>> {
    crate::types::visit(r, RoundTrip(v))
}

/// Checks `obj` (already carrying apiVersion and kind); the warnings to
/// send back (`Warn` mode).
pub fn check(r: &Resource, obj: &mut Value, mode: Mode) -> ApiResult<Vec<String>> {
    if r.custom.is_some() {
        return crate::crd::validate(r, obj, mode);
    }
    if r.kind == "CustomResourceDefinition" {
        crate::crd::prepare(obj)?;
    }
    let Some(result) = typed(r, obj) else { return Ok(vec![]) };
    let out = result.map_err(|e| {
        ApiError::bad_request(format!("{} in version \"{}\" cannot be handled as a {}: {e}", r.kind, r.version, r.kind))
    })?;
    if mode == Mode::Ignore {
        return Ok(vec![]);
    }
    let mut unknown = Vec::new();
    unknown_fields(obj, &out, "", &mut unknown);
    // What the server itself keeps outside the types.
    unknown.retain(|p| p != "metadata.resourceVersion");
    if unknown.is_empty() {
        return Ok(vec![]);
    }
    match mode {
        Mode::Strict => {
            let list: Vec<String> = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
            Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                r.kind,
                r.version,
                r.kind,
                list.join(", ")
            )))
        }
        _ => Ok(unknown.into_iter().map(|p| format!("unknown field \"{p}\"")).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;
    use serde_json::json;

    #[test]
    fn unknown_fields_by_mode() {
        let d = find("apps", "v1", "deployments").unwrap();
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "labels": {"any": "key"}},
                         "spec": {"selector": {"matchLabels": {"a": "b"}}, "bogus": 1,
                                  "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagePullPolcy": "x"}]}}}});
        let e = check(d, &mut obj.clone(), Mode::Strict).unwrap_err();
        assert_eq!(e.code.as_u16(), 400);
        assert!(e.message.contains("unknown field \"spec.bogus\""), "{}", e.message);
        assert!(e.message.contains("spec.template.spec.containers[0].imagePullPolcy"), "{}", e.message);
        let w = check(d, &mut obj.clone(), Mode::Warn).unwrap();
        assert_eq!(w.len(), 2);
        assert!(check(d, &mut obj.clone(), Mode::Ignore).unwrap().is_empty());
        let ok = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "resourceVersion": "5"},
                        "spec": {"replicas": null, "selector": {}, "template": {}}});
        assert!(check(d, &mut ok.clone(), Mode::Strict).unwrap().is_empty());
    }

    #[test]
    fn wrong_types_name_the_field() {
        let d = find("apps", "v1", "deployments").unwrap();
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": "two"}});
        let e = check(d, &mut obj.clone(), Mode::Ignore).unwrap_err();
        assert!(e.message.contains("spec.replicas"), "{}", e.message);
        assert!(Mode::parse(Some("Loose")).is_err());
    }
}
