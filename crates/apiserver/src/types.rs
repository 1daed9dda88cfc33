//! The k8s-openapi type behind each built-in kind. Typed validation and
//! the OpenAPI documents both need "do this with the kind's Rust type";
//! one dispatch keeps the two from drifting apart.

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch, coordination::v1 as coordination,
    core::v1 as core, discovery::v1 as discovery, policy::v1 as policy, scheduling::v1 as scheduling,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::resources::Resource;

/// Something done with a kind's type.
pub trait KindVisitor {
    /// What the visit produces (e.g. the validation's result or a schema).
    type Out;
    /// Does the work with `T`, the kind's k8s-openapi type.
    fn visit<T: DeserializeOwned + Serialize + schemars::JsonSchema>(self) -> Self::Out;
}

/// Runs `v` with the type of `r` (None: not a built-in kind).
pub fn visit<V: KindVisitor>(r: &Resource, v: V) -> Option<V::Out> {
    Some(match (r.group, r.version, r.kind) {
        ("", "v1", "Namespace") => v.visit::<core::Namespace>(),
        ("", "v1", "Pod") => v.visit::<core::Pod>(),
        ("", "v1", "Node") => v.visit::<core::Node>(),
        ("", "v1", "Service") => v.visit::<core::Service>(),
        ("", "v1", "Endpoints") => v.visit::<core::Endpoints>(),
        ("", "v1", "ConfigMap") => v.visit::<core::ConfigMap>(),
        ("", "v1", "Secret") => v.visit::<core::Secret>(),
        ("", "v1", "ServiceAccount") => v.visit::<core::ServiceAccount>(),
        ("", "v1", "Event") => v.visit::<core::Event>(),
        ("", "v1", "ResourceQuota") => v.visit::<core::ResourceQuota>(),
        ("", "v1", "LimitRange") => v.visit::<core::LimitRange>(),
        ("", "v1", "PersistentVolume") => v.visit::<core::PersistentVolume>(),
        ("", "v1", "PersistentVolumeClaim") => v.visit::<core::PersistentVolumeClaim>(),
        ("apps", "v1", "Deployment") => v.visit::<apps::Deployment>(),
        ("apps", "v1", "ReplicaSet") => v.visit::<apps::ReplicaSet>(),
        ("apps", "v1", "DaemonSet") => v.visit::<apps::DaemonSet>(),
        ("apps", "v1", "StatefulSet") => v.visit::<apps::StatefulSet>(),
        ("apps", "v1", "ControllerRevision") => v.visit::<apps::ControllerRevision>(),
        ("batch", "v1", "Job") => v.visit::<batch::Job>(),
        ("batch", "v1", "CronJob") => v.visit::<batch::CronJob>(),
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => v.visit::<autoscaling::HorizontalPodAutoscaler>(),
        ("coordination.k8s.io", "v1", "Lease") => v.visit::<coordination::Lease>(),
        ("discovery.k8s.io", "v1", "EndpointSlice") => v.visit::<discovery::EndpointSlice>(),
        ("policy", "v1", "PodDisruptionBudget") => v.visit::<policy::PodDisruptionBudget>(),
        ("scheduling.k8s.io", "v1", "PriorityClass") => v.visit::<scheduling::PriorityClass>(),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => {
            v.visit::<apiextensions::CustomResourceDefinition>()
        }
        _ => return None,
    })
}
