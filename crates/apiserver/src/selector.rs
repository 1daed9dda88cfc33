//! Label selectors (`app=web,tier!=db,env in (a,b),!legacy`) and field
//! selectors (`metadata.name=x,status.phase!=Failed`), parsed once and
//! matched against objects.

use serde_json::Value;

use crate::status::{ApiError, ApiResult};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A label selector: requirements that must all hold. The default (empty)
/// selector matches every object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Req>);

/// Splits on commas outside parentheses.
fn terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
}

fn set(v: &str, raw: &str) -> ApiResult<Vec<String>> {
    let inner = v
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| ApiError::bad_request(format!("unable to parse requirement: {raw:?}: expected a (set)")))?;
    Ok(inner.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
}

impl LabelSelector {
    /// Parses a `labelSelector` query value (`k=v`, `k==v`, `k!=v`,
    /// `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated; empty:
    /// everything). Label keys and values are not checked for validity; a
    /// term of none of those forms is a 400.
    pub fn parse(s: &str) -> ApiResult<LabelSelector> {
        let mut reqs = Vec::new();
        for t in terms(s) {
            let bad =
                || ApiError::bad_request(format!("unable to parse requirement: found '{t}', expected: key=value"));
            if let Some(k) = t.strip_prefix('!') {
                reqs.push(Req::NotExists(k.trim().to_string()));
            } else if let Some((k, v)) = t.split_once("!=") {
                reqs.push(Req::NotEq(k.trim().to_string(), v.trim().to_string()));
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                reqs.push(Req::Eq(k.trim().to_string(), v.trim().to_string()));
            } else if let Some((k, v)) = t.split_once(" notin ") {
                reqs.push(Req::NotIn(k.trim().to_string(), set(v, &t)?));
            } else if let Some((k, v)) = t.split_once(" in ") {
                reqs.push(Req::In(k.trim().to_string(), set(v, &t)?));
            } else if t.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                reqs.push(Req::Exists(t.clone()));
            } else {
                return Err(bad());
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// A structured `LabelSelector` (`matchLabels`, `matchExpressions`), as
    /// workloads and budgets carry it. An empty one matches everything.
    pub fn from_object(sel: &Value) -> ApiResult<LabelSelector> {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Req::Eq(k.clone(), v.as_str().unwrap_or("").to_string()));
            }
        }
        for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
            let key = e["key"].as_str().unwrap_or("").to_string();
            let values: Vec<String> =
                e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
            reqs.push(match e["operator"].as_str().unwrap_or("") {
                "In" => Req::In(key, values),
                "NotIn" => Req::NotIn(key, values),
                "Exists" => Req::Exists(key),
                "DoesNotExist" => Req::NotExists(key),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "matchExpressions: {other:?} is not a valid label selector operator (In, NotIn, Exists, DoesNotExist)"
                    )))
                }
            });
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether the selector has no requirements (and so matches all).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` (a JSON object, or null for
    /// none) satisfies every requirement. As in Kubernetes, `!=` and
    /// `notin` hold for an object without the label.
    pub fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v),
            Req::NotEq(k, v) => get(k) != Some(v),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A field selector: `path=value` / `path!=value` terms that must all
/// hold; the default (empty) one matches every object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// A dotted path's value as text (missing: empty, as the API treats it).
fn field(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl FieldSelector {
    /// Parses a `fieldSelector` query value (`=`, `==` or `!=` terms,
    /// comma-separated). Any dotted path is accepted, where Kubernetes
    /// allows only a few per kind; a term without an operator is a 400.
    pub fn parse(s: &str) -> ApiResult<FieldSelector> {
        let mut out = Vec::new();
        for t in terms(s) {
            if let Some((k, v)) = t.split_once("!=") {
                out.push((k.trim().to_string(), false, v.trim().to_string()));
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                out.push((k.trim().to_string(), true, v.trim().to_string()));
            } else {
                return Err(ApiError::bad_request(format!("invalid field selector: {t:?}: expected field=value")));
            }
        }
        Ok(FieldSelector(out))
    }

    /// Whether the whole object satisfies every term, comparing the field's
    /// value as text (a missing field is the empty string).
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| (field(obj, k) == *v) == *eq)
    }

    /// A `metadata.name=X` term narrows a list to one key.
    pub fn name(&self) -> Option<&str> {
        self.0.iter().find(|(k, eq, _)| k == "metadata.name" && *eq).map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structured_selectors_match_as_their_string_forms() {
        let labels = json!({"app": "web", "env": "prod"});
        let sel = |v| LabelSelector::from_object(&v).unwrap().matches(&labels);
        assert!(sel(json!({})));
        assert!(sel(json!({"matchLabels": {"app": "web"}})));
        assert!(!sel(json!({"matchLabels": {"app": "db"}})));
        assert!(sel(json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]})));
        assert!(!sel(json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]})));
        assert!(sel(json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]})));
        assert!(!sel(
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]})
        ));
        let e =
            LabelSelector::from_object(&json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})).unwrap_err();
        assert!(e.message.contains("Near"), "{}", e.message);
    }

    #[test]
    fn label_selectors_in_every_form() {
        let labels = json!({"app": "web", "env": "prod"});
        for (s, want) in [
            ("app=web", true),
            ("app==web,env=prod", true),
            ("app!=web", false),
            ("env in (prod, staging)", true),
            ("env notin (prod)", false),
            ("app", true),
            ("!legacy", true),
            ("!app", false),
            ("tier", false),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(s).unwrap().matches(&labels), want, "{s}");
        }
        assert!(LabelSelector::parse("app=(web").is_ok());
        assert!(LabelSelector::parse("env in prod").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
    }

    #[test]
    fn field_selectors_follow_paths() {
        let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(FieldSelector::parse("metadata.name=p,spec.nodeName=n1").unwrap().matches(&pod));
        assert!(FieldSelector::parse("status.phase!=Failed,status.phase!=Succeeded").unwrap().matches(&pod));
        assert!(!FieldSelector::parse("metadata.namespace=other").unwrap().matches(&pod));
        assert!(FieldSelector::parse("involvedObject.namespace=").unwrap().matches(&pod), "missing equals empty");
        assert_eq!(FieldSelector::parse("metadata.name=p").unwrap().name(), Some("p"));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
