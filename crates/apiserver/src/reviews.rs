//! Reviews of the caller: who it is (`kubectl auth whoami`, a
//! SelfSubjectReview) and what it may do (`kubectl auth can-i`, a
//! SelfSubjectAccessReview; `can-i --list`, a SelfSubjectRulesReview).
//! They are answered per request and never stored. The server
//! authenticates one user, the admin its bearer token names, and lets that
//! user do everything (as k3s's admin is in `system:masters`): the answers
//! say exactly that.

use serde_json::{json, Value};

use crate::status::{ApiError, ApiResult};

/// A create-only resource whose answer is computed.
pub struct Review {
    /// Its API group (`authorization.k8s.io`).
    pub group: &'static str,
    /// Its one served version.
    pub version: &'static str,
    /// The plural, lower case: the path segment clients POST to.
    pub plural: &'static str,
    /// The singular, lower case, for discovery.
    pub singular: &'static str,
    /// The kind of the request and of the answer (the same object, with
    /// `status` filled in).
    pub kind: &'static str,
}

pub(crate) const REVIEWS: &[Review] = &[
    Review {
        group: "authentication.k8s.io",
        version: "v1",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        kind: "SelfSubjectReview",
    },
    Review {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
    },
    Review {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        kind: "SelfSubjectRulesReview",
    },
];

/// The one user the server authenticates, and its groups.
pub const USER: &str = "system:admin";
/// The groups of [`USER`]: `system:masters` is what makes it allowed
/// everything.
pub const GROUPS: &[&str] = &["system:masters", "system:authenticated"];

/// The review served at `group/version/plural`, if that is one.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Review> {
    REVIEWS.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The review groups, each with its one version.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in REVIEWS {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// The reviews of one group-version (none: not a review group).
pub fn of<'a>(group: &'a str, version: &'a str) -> impl Iterator<Item = &'static Review> + 'a {
    REVIEWS.iter().filter(move |r| r.group == group && r.version == version)
}

/// The review `body` asks for, with its status filled in.
pub fn answer(r: &Review, mut body: Value) -> ApiResult<Value> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!("a {} must be a JSON object", r.kind)));
    }
    let api_version = format!("{}/{}", r.group, r.version);
    let sent = (body["apiVersion"].as_str().unwrap_or(&api_version), body["kind"].as_str().unwrap_or(r.kind));
    if sent != (api_version.as_str(), r.kind) {
        return Err(ApiError::bad_request(format!(
            "the body is a {} {}, not the {api_version} {} this path takes",
            sent.0, sent.1, r.kind
        )));
    }
    body["apiVersion"] = json!(api_version);
    body["kind"] = json!(r.kind);
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    body["metadata"]["creationTimestamp"] = Value::Null;
    body["status"] = match r.kind {
        "SelfSubjectReview" => json!({"userInfo": {"username": USER, "groups": GROUPS}}),
        "SelfSubjectAccessReview" => {
            let spec = &body["spec"];
            let (res, non) = (spec["resourceAttributes"].is_object(), spec["nonResourceAttributes"].is_object());
            if res == non {
                let (field, why) = if res {
                    (
                        "spec.nonResourceAttributes",
                        "Invalid value: cannot be specified in combination with resourceAttributes",
                    )
                } else {
                    (
                        "spec.resourceAttributes",
                        "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                    )
                };
                return Err(ApiError::invalid(r.kind, "", vec![(field.into(), why.into())]));
            }
            json!({"allowed": true, "reason": format!("{USER} is in system:masters, which may do everything")})
        }
        _ => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
    };
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(plural: &str) -> &'static Review {
        REVIEWS.iter().find(|r| r.plural == plural).unwrap()
    }

    #[test]
    fn the_admin_may_do_everything_and_is_told_who_it_is() {
        let ssar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                          "spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "default"}}});
        let out = answer(review("selfsubjectaccessreviews"), ssar).unwrap();
        assert_eq!(out["status"]["allowed"], true);
        assert_eq!(out["spec"]["resourceAttributes"]["resource"], "pods");
        let me = answer(review("selfsubjectreviews"), json!({})).unwrap();
        assert_eq!(me["status"]["userInfo"]["username"], USER);
        assert_eq!(me["kind"], "SelfSubjectReview");
        let rules = answer(review("selfsubjectrulesreviews"), json!({"spec": {"namespace": "default"}})).unwrap();
        assert_eq!(rules["status"]["resourceRules"][0]["verbs"], json!(["*"]));
    }

    #[test]
    fn an_access_review_asks_exactly_one_question() {
        let r = review("selfsubjectaccessreviews");
        let e = answer(r, json!({"spec": {}})).unwrap_err();
        assert_eq!(e.code.as_u16(), 422);
        assert!(e.message.contains("spec.resourceAttributes"), "{}", e.message);
        let both = json!({"spec": {"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/x"}}});
        assert!(answer(r, both).unwrap_err().message.contains("spec.nonResourceAttributes"));
        let wrong = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"resourceAttributes": {}}});
        assert_eq!(answer(r, wrong).unwrap_err().code.as_u16(), 400);
    }
}
