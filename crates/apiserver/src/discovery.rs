//! Discovery as kubectl 1.32 reads it: the aggregated form (one document
//! for `/api`, one for `/apis`, with exactly the content type kubectl
//! checks), the legacy form (`APIVersions`, `APIGroupList`,
//! `APIResourceList` per group-version), and `/version`.

use serde_json::{json, Value};

use crate::resources::{self, Resource, VERBS};
use crate::reviews;

/// The Kubernetes version the server reports (the kubectl dispatcher
/// picks its kubectl binary from the minor).
pub const MAJOR: &str = "1";
/// The minor version of [`MAJOR`]: the Kubernetes release whose API this
/// server follows (kubectl warns beyond one minor of skew).
pub const MINOR: &str = "32";
/// The full version string (`/version`'s gitVersion, the OpenAPI info),
/// marked as berth's so no one takes it for a kube-apiserver build.
pub const GIT_VERSION: &str = "v1.32.0-berth";

/// The Content-Type of aggregated discovery responses, exactly as kubectl
/// checks it: any other makes it fall back to the legacy documents.
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The `/version` document (version.Info), with this server's version and
/// platform.
pub fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-11-23T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("linux/{}", if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }),
    })
}

/// Whether the client accepts the aggregated (v2) form.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|a| a.contains("as=APIGroupDiscoveryList") && a.contains("v=v2") && !a.contains("v2beta1"))
}

fn resource_entry(r: &Resource) -> Value {
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        e["subresources"] = json!(r
            .subresources
            .iter()
            .map(|s| {
                let (g, v, k) = s.response_kind(r);
                json!({"subresource": s.name(), "responseKind": {"group": g, "version": v, "kind": k}, "verbs": s.verbs()})
            })
            .collect::<Vec<_>>());
    }
    e
}

fn group_entry(group: &str) -> Value {
    let versions: Vec<Value> = resources::versions_of(group)
        .into_iter()
        .map(|v| {
            let res: Vec<Value> = resources::of(group, v).into_iter().map(resource_entry).collect();
            json!({"version": v, "resources": res, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group}, "versions": versions})
}

fn review_entry(r: &reviews::Review) -> Value {
    json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Cluster",
        "singularResource": r.singular,
        "verbs": ["create"],
    })
}

/// The review groups: create-only resources answered, not stored.
fn review_group_entries() -> impl Iterator<Item = Value> {
    reviews::groups().into_iter().map(|(g, v)| {
        let res: Vec<Value> = reviews::of(g, v).map(review_entry).collect();
        json!({"metadata": {"name": g}, "versions": [{"version": v, "resources": res, "freshness": "Current"}]})
    })
}

/// `/api` (core) or `/apis` (every other group), aggregated.
pub fn aggregated(core: bool) -> Value {
    let mut items: Vec<Value> =
        resources::groups().into_iter().filter(|g| g.is_empty() == core).map(group_entry).collect();
    if !core {
        items.extend(review_group_entries());
    }
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// `/api` in the legacy form: APIVersions with only `v1`.
pub fn legacy_api() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

fn legacy_group(group: &str) -> Value {
    let mut versions = resources::versions_of(group);
    versions.extend(reviews::groups().into_iter().filter(|(g, _)| *g == group).map(|(_, v)| v));
    let versions: Vec<Value> =
        versions.into_iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

fn all_groups() -> Vec<&'static str> {
    let mut groups = resources::groups();
    groups.extend(reviews::groups().into_iter().map(|(g, _)| g));
    groups
}

/// `/apis` in the legacy form: the APIGroupList of every group but core,
/// the review groups included, each preferring its first version.
pub fn legacy_apis() -> Value {
    let groups: Vec<Value> = all_groups().into_iter().filter(|g| !g.is_empty()).map(legacy_group).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`: one group.
pub fn group(group: &str) -> Option<Value> {
    all_groups().contains(&group).then(|| {
        let mut g = legacy_group(group);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

/// `/api/v1`, `/apis/{group}/{version}`: the `APIResourceList`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let res = resources::of(group, version);
    let mut list: Vec<Value> = reviews::of(group, version)
        .map(|r| json!({"name": r.plural, "singularName": r.singular, "namespaced": false, "kind": r.kind, "verbs": ["create"]}))
        .collect();
    if res.is_empty() && list.is_empty() {
        return None;
    }
    for r in res {
        let mut e = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        list.push(e);
        for s in r.subresources {
            let (g, v, k) = s.response_kind(r);
            let mut e = json!({"name": format!("{}/{}", r.plural, s.name()), "singularName": "", "namespaced": r.namespaced,
                               "kind": k, "verbs": s.verbs()});
            if (g, v) != (r.group, r.version) {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            list.push(e);
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_has_what_kubectl_reads() {
        let core = aggregated(true);
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert_eq!(core["items"][0]["metadata"]["name"], "");
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap()
            .clone();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["scope"], "Namespaced");
        let apis = aggregated(false);
        assert!(apis["items"].as_array().unwrap().iter().any(|g| g["metadata"]["name"] == "apps"));
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated("application/json, */*"));
    }

    #[test]
    fn legacy_lists_name_subresources_with_their_kinds() {
        let apps = resource_list("apps", "v1").unwrap();
        let scale =
            apps["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap().clone();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        assert!(resource_list("nope", "v1").is_none());
        assert_eq!(legacy_apis()["groups"][0]["name"], "apps");
    }

    #[test]
    fn reviews_are_discovered_as_create_only() {
        let apis = aggregated(false);
        let authz = apis["items"].as_array().unwrap().iter().find(|g| g["metadata"]["name"] == "authorization.k8s.io");
        let ssar = &authz.unwrap()["versions"][0]["resources"][0];
        assert_eq!(ssar["resource"], "selfsubjectaccessreviews");
        assert_eq!(ssar["verbs"], json!(["create"]));
        let list = resource_list("authentication.k8s.io", "v1").unwrap();
        assert_eq!(list["resources"][0]["kind"], "SelfSubjectReview");
        assert!(group("authorization.k8s.io").is_some());
    }
}
