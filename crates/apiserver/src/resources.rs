//! The resources the server serves: for each, its group, version, names,
//! scope, short names, categories, subresources and table columns. This one
//! table drives discovery, routing, storage keys and `kubectl get` output.

use std::sync::RwLock;

/// A served resource type.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// "" for the core group.
    pub group: &'static str,
    /// The API version within the group (`v1`); one entry per version
    /// served, so a kind served in two versions has two entries.
    pub version: &'static str,
    /// The plural, lower case: what paths and storage keys use.
    pub plural: &'static str,
    /// The singular, lower case (`kubectl get pod`), as discovery lists it.
    pub singular: &'static str,
    /// The kind objects carry in `kind` (`Pod`), CamelCase.
    pub kind: &'static str,
    /// Whether objects live in a namespace (`Namespaced` scope) or in the
    /// cluster (`Cluster` scope).
    pub namespaced: bool,
    /// The abbreviations kubectl accepts for it (`po`), from discovery.
    pub short_names: &'static [&'static str],
    /// The categories it belongs to (`all`: what `kubectl get all` lists).
    pub categories: &'static [&'static str],
    /// The subresources served under its objects, in discovery order.
    pub subresources: &'static [Sub],
    /// Writes to the main resource leave `status` alone and spec changes
    /// bump `metadata.generation` (resources with a status subresource).
    pub has_status: bool,
    /// What a CustomResourceDefinition says of its kind (None: built in).
    pub custom: Option<&'static crate::crd::Custom>,
}

/// A subresource: a path under an object (`pods/web/status`) with verbs of
/// its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sub {
    /// `status`: reads and writes only the object's `status`.
    Status,
    /// `scale`: the replica count, as an `autoscaling/v1` Scale.
    Scale,
    /// `log` of a pod, which its node's agent serves (see
    /// `pods::node_served`); likewise the next three.
    Log,
    /// `exec` in a pod.
    Exec,
    /// `attach` to a pod.
    Attach,
    /// `portforward` to a pod.
    PortForward,
    /// `binding` of a pod: assigns it to a node, as a scheduler does.
    Binding,
    /// `eviction` of a pod: a delete that honours disruption budgets.
    Eviction,
    /// `finalize` of a namespace: replaces its `spec` (the finalizers) and
    /// nothing else.
    Finalize,
}

impl Sub {
    /// The subresource's path segment, as URLs and discovery name it.
    pub fn name(self) -> &'static str {
        match self {
            Sub::Status => "status",
            Sub::Scale => "scale",
            Sub::Log => "log",
            Sub::Exec => "exec",
            Sub::Attach => "attach",
            Sub::PortForward => "portforward",
            Sub::Binding => "binding",
            Sub::Eviction => "eviction",
            Sub::Finalize => "finalize",
        }
    }

    /// (group, version, kind) of what the subresource takes and returns.
    pub fn response_kind(self, owner: &Resource) -> (&'static str, &'static str, &'static str) {
        match self {
            Sub::Scale => ("autoscaling", "v1", "Scale"),
            Sub::Binding => ("", "v1", "Binding"),
            Sub::Eviction => ("policy", "v1", "Eviction"),
            Sub::Exec | Sub::Attach | Sub::PortForward => ("", "v1", "PodExecOptions"),
            Sub::Log | Sub::Status | Sub::Finalize => (owner.group, owner.version, owner.kind),
        }
    }

    /// The verbs discovery lists for the subresource (what kubectl may try
    /// on it).
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Sub::Status | Sub::Scale => &["get", "patch", "update"],
            Sub::Log => &["get"],
            Sub::Exec | Sub::Attach | Sub::PortForward => &["create", "get"],
            Sub::Binding | Sub::Eviction => &["create"],
            Sub::Finalize => &["update"],
        }
    }
}

/// The verbs every resource serves, as discovery lists them.
pub const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

impl Resource {
    /// The `apiVersion` of its objects: `v1` for the core group,
    /// `group/version` otherwise.
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage prefix of every object of this resource (all namespaces).
    pub fn prefix(&self) -> String {
        let g = if self.group.is_empty() { "core" } else { self.group };
        format!("/registry/{g}/{}/", self.plural)
    }

    /// The storage key of one object, or the prefix of one namespace's.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/{name}", self.prefix()),
            _ => format!("{}{name}", self.prefix()),
        }
    }

    /// Whether `s` is served under this resource's objects.
    pub fn has(&self, s: Sub) -> bool {
        self.subresources.contains(&s)
    }
}

macro_rules! res {
    ($g:expr, $v:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, [$($short:expr),*], [$($cat:expr),*], [$($sub:ident),*]) => {
        Resource {
            group: $g,
            version: $v,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
            subresources: &[$(Sub::$sub),*],
            has_status: res!(@status $($sub),*),
            custom: None,
        }
    };
    (@status) => { false };
    (@status Status $(, $rest:ident)*) => { true };
    (@status $first:ident $(, $rest:ident)*) => { res!(@status $($rest),*) };
}

/// Every built-in resource, in discovery order.
pub static BUILTIN: &[Resource] = &[
    res!("", "v1", "namespaces", "namespace", "Namespace", false, ["ns"], [], [Status, Finalize]),
    res!(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        true,
        ["po"],
        ["all"],
        [Status, Binding, Log, Exec, Attach, PortForward, Eviction]
    ),
    res!("", "v1", "nodes", "node", "Node", false, ["no"], [], [Status]),
    res!("", "v1", "services", "service", "Service", true, ["svc"], ["all"], [Status]),
    res!("", "v1", "endpoints", "endpoints", "Endpoints", true, ["ep"], [], []),
    res!("", "v1", "configmaps", "configmap", "ConfigMap", true, ["cm"], [], []),
    res!("", "v1", "secrets", "secret", "Secret", true, [], [], []),
    res!("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, ["sa"], [], []),
    res!("", "v1", "events", "event", "Event", true, ["ev"], [], []),
    res!("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, ["quota"], [], [Status]),
    res!("", "v1", "limitranges", "limitrange", "LimitRange", true, ["limits"], [], []),
    res!("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", false, ["pv"], [], [Status]),
    res!(
        "",
        "v1",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        ["pvc"],
        [],
        [Status]
    ),
    res!("apps", "v1", "deployments", "deployment", "Deployment", true, ["deploy"], ["all"], [Status, Scale]),
    res!("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, ["rs"], ["all"], [Status, Scale]),
    res!("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, ["ds"], ["all"], [Status]),
    res!("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, ["sts"], ["all"], [Status, Scale]),
    res!("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, [], [], []),
    res!("batch", "v1", "jobs", "job", "Job", true, [], ["all"], [Status]),
    res!("batch", "v1", "cronjobs", "cronjob", "CronJob", true, ["cj"], ["all"], [Status]),
    res!(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        true,
        ["hpa"],
        ["all"],
        [Status]
    ),
    res!("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, [], [], []),
    res!("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, [], [], []),
    res!(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        ["pdb"],
        [],
        [Status]
    ),
    res!("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", false, ["pc"], [], []),
    res!(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        ["crd", "crds"],
        [],
        [Status]
    ),
];

/// The resources the store's CustomResourceDefinitions serve. One API
/// server runs per process and every request must see the same set, so it
/// lives beside the built-in table; `crd::refresh` replaces it whenever a
/// definition changes in the store.
static CUSTOM: RwLock<Vec<&'static Resource>> = RwLock::new(Vec::new());

/// Replaces the served custom resources with `rs`, all at once: requests
/// after it see the new set. (A poisoned lock leaves the old set.)
pub fn set_custom(rs: Vec<&'static Resource>) {
    if let Ok(mut c) = CUSTOM.write() {
        *c = rs;
    }
}

/// Every served resource: the built-in ones, then the custom ones.
pub fn all() -> Vec<&'static Resource> {
    let custom = CUSTOM.read().map(|c| c.clone()).unwrap_or_default();
    BUILTIN.iter().chain(custom).collect()
}

/// The resources of one group-version.
pub fn of(group: &str, version: &str) -> Vec<&'static Resource> {
    all().into_iter().filter(|r| r.group == group && r.version == version).collect()
}

/// The groups, in discovery order (the core group first).
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in all() {
        if !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

/// Every request looks its resource up: no list is built for it.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    let is = |r: &&Resource| r.plural == plural && r.group == group && r.version == version;
    BUILTIN.iter().find(is).or_else(|| CUSTOM.read().ok().and_then(|c| c.iter().copied().find(is)))
}

/// The versions of a group, the preferred first.
pub fn versions_of(group: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in all().into_iter().filter(|r| r.group == group) {
        if !out.contains(&r.version) {
            out.push(r.version);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_resources_namespaces_and_names() {
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(pods.key(Some("default"), "web"), "/registry/core/pods/default/web");
        let nodes = find("", "v1", "nodes").unwrap();
        assert_eq!(nodes.key(None, "n1"), "/registry/core/nodes/n1");
        assert_eq!(find("apps", "v1", "deployments").unwrap().prefix(), "/registry/apps/deployments/");
        assert!(pods.has_status && pods.has(Sub::Log));
        assert!(!find("", "v1", "configmaps").unwrap().has_status);
    }

    #[test]
    fn short_names_and_kinds_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in BUILTIN {
            let singular = (r.singular != r.plural).then_some(&r.singular);
            for s in r.short_names.iter().chain([&r.plural]).chain(singular) {
                assert!(seen.insert((r.group, *s)), "{s} twice");
            }
        }
        assert_eq!(groups()[0], "");
    }
}
