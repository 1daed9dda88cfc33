//! Protobuf request bodies, which kubectl 1.32's typed clients send for
//! `kubectl create namespace|configmap|secret|serviceaccount|service|
//! deployment|job|cronjob` (and never retry as JSON). The envelope is
//! `k8s\0` + `runtime.Unknown{typeMeta, raw}`; the object inside is decoded
//! with k8s-pb's generated types and turned into the JSON the rest of the
//! server works on, field by field (empty fields left out, as JSON clients
//! would). Kinds outside that list are refused with 415, naming the kind.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::{json, Map, Value};

use crate::status::{ApiError, ApiResult};

/// The Content-Type of a protobuf request body (parameters, if any,
/// stripped before comparing).
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// A JSON object built from optional fields.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn s(mut self, k: &str, v: &Option<String>) -> Self {
        if let Some(v) = v {
            self.0.insert(k.into(), json!(v));
        }
        self
    }
    fn i(mut self, k: &str, v: Option<i64>) -> Self {
        if let Some(v) = v {
            self.0.insert(k.into(), json!(v));
        }
        self
    }
    fn b(mut self, k: &str, v: Option<bool>) -> Self {
        if let Some(v) = v {
            self.0.insert(k.into(), json!(v));
        }
        self
    }
    fn v(mut self, k: &str, v: Option<Value>) -> Self {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            self.0.insert(k.into(), v);
        }
        self
    }
    fn list(self, k: &str, v: Vec<Value>) -> Self {
        let v = (!v.is_empty()).then_some(Value::Array(v));
        self.v(k, v)
    }
    fn strings(self, k: &str, v: &[String]) -> Self {
        self.list(k, v.iter().map(|s| json!(s)).collect())
    }
    fn map(self, k: &str, m: &BTreeMap<String, String>) -> Self {
        let v = (!m.is_empty()).then(|| json!(m));
        self.v(k, v)
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn time(t: &Option<meta::Time>) -> Option<Value> {
    t.as_ref().and_then(|t| t.seconds).map(|s| json!(crate::meta::rfc3339(s)))
}

fn object_meta(m: &Option<meta::ObjectMeta>) -> Value {
    let Some(m) = m else { return json!({}) };
    let owners: Vec<Value> = m
        .owner_references
        .iter()
        .map(|o| {
            Obj::default()
                .s("apiVersion", &o.api_version)
                .s("kind", &o.kind)
                .s("name", &o.name)
                .s("uid", &o.uid)
                .b("controller", o.controller)
                .b("blockOwnerDeletion", o.block_owner_deletion)
                .done()
        })
        .collect();
    Obj::default()
        .s("name", &m.name)
        .s("generateName", &m.generate_name)
        .s("namespace", &m.namespace)
        .s("uid", &m.uid)
        .s("resourceVersion", &m.resource_version)
        .i("generation", m.generation)
        .v("creationTimestamp", time(&m.creation_timestamp))
        .map("labels", &m.labels)
        .map("annotations", &m.annotations)
        .list("ownerReferences", owners)
        .strings("finalizers", &m.finalizers)
        .done()
}

fn label_selector(s: &Option<meta::LabelSelector>) -> Option<Value> {
    let s = s.as_ref()?;
    let exprs: Vec<Value> = s
        .match_expressions
        .iter()
        .map(|e| Obj::default().s("key", &e.key).s("operator", &e.operator).strings("values", &e.values).done())
        .collect();
    Some(Obj::default().map("matchLabels", &s.match_labels).list("matchExpressions", exprs).done())
}

fn int_or_string(v: &Option<k8s_pb::apimachinery::pkg::util::intstr::IntOrString>) -> Option<Value> {
    let v = v.as_ref()?;
    match v.r#type {
        Some(1) => v.str_val.as_ref().map(|s| json!(s)),
        _ => v.int_val.map(|i| json!(i)),
    }
}

fn quantities(m: &BTreeMap<String, k8s_pb::apimachinery::pkg::api::resource::Quantity>) -> Option<Value> {
    let out: Map<String, Value> =
        m.iter().filter_map(|(k, q)| q.string.as_ref().map(|s| (k.clone(), json!(s)))).collect();
    (!out.is_empty()).then_some(Value::Object(out))
}

fn container(c: &core::Container) -> Value {
    let ports: Vec<Value> = c
        .ports
        .iter()
        .map(|p| {
            Obj::default()
                .s("name", &p.name)
                .i("containerPort", p.container_port.map(i64::from))
                .i("hostPort", p.host_port.filter(|n| *n != 0).map(i64::from))
                .s("protocol", &p.protocol)
                .s("hostIP", &p.host_ip)
                .done()
        })
        .collect();
    let env: Vec<Value> = c.env.iter().map(|e| Obj::default().s("name", &e.name).s("value", &e.value).done()).collect();
    let mounts: Vec<Value> = c
        .volume_mounts
        .iter()
        .map(|m| {
            Obj::default()
                .s("name", &m.name)
                .s("mountPath", &m.mount_path)
                .s("subPath", &m.sub_path)
                .b("readOnly", m.read_only)
                .done()
        })
        .collect();
    let resources = c
        .resources
        .as_ref()
        .map(|r| Obj::default().v("limits", quantities(&r.limits)).v("requests", quantities(&r.requests)).done());
    Obj::default()
        .s("name", &c.name)
        .s("image", &c.image)
        .strings("command", &c.command)
        .strings("args", &c.args)
        .s("workingDir", &c.working_dir)
        .list("ports", ports)
        .list("env", env)
        .v("resources", resources)
        .list("volumeMounts", mounts)
        .s("terminationMessagePath", &c.termination_message_path)
        .s("terminationMessagePolicy", &c.termination_message_policy)
        .s("imagePullPolicy", &c.image_pull_policy)
        .b("stdin", c.stdin)
        .b("stdinOnce", c.stdin_once)
        .b("tty", c.tty)
        .done()
}

fn pod_spec(s: &Option<core::PodSpec>) -> Option<Value> {
    let s = s.as_ref()?;
    Some(
        Obj::default()
            .list("initContainers", s.init_containers.iter().map(container).collect())
            .list("containers", s.containers.iter().map(container).collect())
            .s("restartPolicy", &s.restart_policy)
            .i("terminationGracePeriodSeconds", s.termination_grace_period_seconds)
            .i("activeDeadlineSeconds", s.active_deadline_seconds)
            .s("dnsPolicy", &s.dns_policy)
            .map("nodeSelector", &s.node_selector)
            .s("serviceAccountName", &s.service_account_name)
            .s("nodeName", &s.node_name)
            .b("hostNetwork", s.host_network)
            .s("hostname", &s.hostname)
            .s("subdomain", &s.subdomain)
            .s("schedulerName", &s.scheduler_name)
            .s("priorityClassName", &s.priority_class_name)
            .done(),
    )
}

fn pod_template(t: &Option<core::PodTemplateSpec>) -> Option<Value> {
    let t = t.as_ref()?;
    Some(Obj::default().v("metadata", Some(object_meta(&t.metadata))).v("spec", pod_spec(&t.spec)).done())
}

fn job_spec(s: &Option<batch::JobSpec>) -> Option<Value> {
    let s = s.as_ref()?;
    Some(
        Obj::default()
            .i("parallelism", s.parallelism.map(i64::from))
            .i("completions", s.completions.map(i64::from))
            .i("activeDeadlineSeconds", s.active_deadline_seconds)
            .i("backoffLimit", s.backoff_limit.map(i64::from))
            .v("selector", label_selector(&s.selector))
            .b("manualSelector", s.manual_selector)
            .v("template", pod_template(&s.template))
            .i("ttlSecondsAfterFinished", s.ttl_seconds_after_finished.map(i64::from))
            .s("completionMode", &s.completion_mode)
            .b("suspend", s.suspend)
            .done(),
    )
}

fn typed(api_version: &str, kind: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind})
}

fn merge(mut base: Value, fields: Value) -> Value {
    if let (Some(b), Value::Object(f)) = (base.as_object_mut(), fields) {
        b.extend(f);
    }
    base
}

fn bad(kind: &str, e: prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!("the protobuf body is not a valid {kind}: {e}"))
}

/// The JSON form of a protobuf request body.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("a protobuf body must start with the k8s\\0 envelope"))?;
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(rest)
        .map_err(|e| ApiError::bad_request(format!("the protobuf envelope is not valid: {e}")))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let (av, kind) = (tm.api_version.unwrap_or_default(), tm.kind.unwrap_or_default());
    let raw = unknown.raw.unwrap_or_default();
    let raw = raw.as_slice();
    let head = typed(&av, &kind);
    Ok(match (av.as_str(), kind.as_str()) {
        ("v1", "Namespace") => {
            let n = core::Namespace::decode(raw).map_err(|e| bad(&kind, e))?;
            merge(head, json!({"metadata": object_meta(&n.metadata)}))
        }
        ("v1", "ConfigMap") => {
            let c = core::ConfigMap::decode(raw).map_err(|e| bad(&kind, e))?;
            let binary: Map<String, Value> = c
                .binary_data
                .iter()
                .map(|(k, v)| {
                    use base64::Engine as _;
                    (k.clone(), json!(base64::engine::general_purpose::STANDARD.encode(v)))
                })
                .collect();
            let o = Obj::default()
                .v("metadata", Some(object_meta(&c.metadata)))
                .map("data", &c.data)
                .v("binaryData", (!binary.is_empty()).then_some(Value::Object(binary)))
                .b("immutable", c.immutable)
                .done();
            merge(head, o)
        }
        ("v1", "Secret") => {
            let s = core::Secret::decode(raw).map_err(|e| bad(&kind, e))?;
            let data: Map<String, Value> = s
                .data
                .iter()
                .map(|(k, v)| {
                    use base64::Engine as _;
                    (k.clone(), json!(base64::engine::general_purpose::STANDARD.encode(v)))
                })
                .collect();
            let o = Obj::default()
                .v("metadata", Some(object_meta(&s.metadata)))
                .v("data", (!data.is_empty()).then_some(Value::Object(data)))
                .map("stringData", &s.string_data)
                .s("type", &s.r#type)
                .b("immutable", s.immutable)
                .done();
            merge(head, o)
        }
        ("v1", "ServiceAccount") => {
            let s = core::ServiceAccount::decode(raw).map_err(|e| bad(&kind, e))?;
            let o = Obj::default()
                .v("metadata", Some(object_meta(&s.metadata)))
                .b("automountServiceAccountToken", s.automount_service_account_token)
                .done();
            merge(head, o)
        }
        ("v1", "Service") => {
            let s = core::Service::decode(raw).map_err(|e| bad(&kind, e))?;
            let spec = s.spec.as_ref().map(|sp| {
                let ports: Vec<Value> = sp
                    .ports
                    .iter()
                    .map(|p| {
                        Obj::default()
                            .s("name", &p.name)
                            .s("protocol", &p.protocol)
                            .i("port", p.port.map(i64::from))
                            .v("targetPort", int_or_string(&p.target_port))
                            .i("nodePort", p.node_port.filter(|n| *n != 0).map(i64::from))
                            .done()
                    })
                    .collect();
                Obj::default()
                    .list("ports", ports)
                    .map("selector", &sp.selector)
                    .s("clusterIP", &sp.cluster_ip)
                    .s("type", &sp.r#type)
                    .strings("externalIPs", &sp.external_ips)
                    .s("externalName", &sp.external_name)
                    .s("sessionAffinity", &sp.session_affinity)
                    .done()
            });
            merge(head, Obj::default().v("metadata", Some(object_meta(&s.metadata))).v("spec", spec).done())
        }
        ("apps/v1", "Deployment") => {
            let d = apps::Deployment::decode(raw).map_err(|e| bad(&kind, e))?;
            let spec = d.spec.as_ref().map(|s| {
                let strategy = s.strategy.as_ref().map(|st| Obj::default().s("type", &st.r#type).done());
                Obj::default()
                    .i("replicas", s.replicas.map(i64::from))
                    .v("selector", label_selector(&s.selector))
                    .v("template", pod_template(&s.template))
                    .v("strategy", strategy)
                    .i("minReadySeconds", s.min_ready_seconds.map(i64::from))
                    .i("revisionHistoryLimit", s.revision_history_limit.map(i64::from))
                    .b("paused", s.paused)
                    .i("progressDeadlineSeconds", s.progress_deadline_seconds.map(i64::from))
                    .done()
            });
            merge(head, Obj::default().v("metadata", Some(object_meta(&d.metadata))).v("spec", spec).done())
        }
        ("batch/v1", "Job") => {
            let j = batch::Job::decode(raw).map_err(|e| bad(&kind, e))?;
            merge(
                head,
                Obj::default().v("metadata", Some(object_meta(&j.metadata))).v("spec", job_spec(&j.spec)).done(),
            )
        }
        ("batch/v1", "CronJob") => {
            let c = batch::CronJob::decode(raw).map_err(|e| bad(&kind, e))?;
            let spec = c.spec.as_ref().map(|s| {
                let tmpl = s.job_template.as_ref().map(|t| {
                    Obj::default().v("metadata", Some(object_meta(&t.metadata))).v("spec", job_spec(&t.spec)).done()
                });
                Obj::default()
                    .s("schedule", &s.schedule)
                    .s("timeZone", &s.time_zone)
                    .s("concurrencyPolicy", &s.concurrency_policy)
                    .b("suspend", s.suspend)
                    .v("jobTemplate", tmpl)
                    .done()
            });
            merge(head, Obj::default().v("metadata", Some(object_meta(&c.metadata))).v("spec", spec).done())
        }
        ("v1", "ResourceQuota") => {
            let q = core::ResourceQuota::decode(raw).map_err(|e| bad(&kind, e))?;
            let spec = q.spec.as_ref().map(|sp| {
                let hard: BTreeMap<String, String> =
                    sp.hard.iter().map(|(k, v)| (k.clone(), v.string.clone().unwrap_or_default())).collect();
                Obj::default().map("hard", &hard).strings("scopes", &sp.scopes).done()
            });
            merge(head, Obj::default().v("metadata", Some(object_meta(&q.metadata))).v("spec", spec).done())
        }
        ("policy/v1", "PodDisruptionBudget") => {
            let p = k8s_pb::api::policy::v1::PodDisruptionBudget::decode(raw).map_err(|e| bad(&kind, e))?;
            let spec = p.spec.as_ref().map(|sp| {
                Obj::default()
                    .v("minAvailable", int_or_string(&sp.min_available))
                    .v("maxUnavailable", int_or_string(&sp.max_unavailable))
                    .v("selector", label_selector(&sp.selector))
                    .s("unhealthyPodEvictionPolicy", &sp.unhealthy_pod_eviction_policy)
                    .done()
            });
            merge(head, Obj::default().v("metadata", Some(object_meta(&p.metadata))).v("spec", spec).done())
        }
        ("scheduling.k8s.io/v1", "PriorityClass") => {
            let c = k8s_pb::api::scheduling::v1::PriorityClass::decode(raw).map_err(|e| bad(&kind, e))?;
            let o = Obj::default()
                .v("metadata", Some(object_meta(&c.metadata)))
                .i("value", c.value.map(i64::from))
                .b("globalDefault", c.global_default)
                .s("description", &c.description)
                .s("preemptionPolicy", &c.preemption_policy)
                .done();
            merge(head, o)
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            use k8s_pb::api::authorization::v1 as authz;
            let r = authz::SelfSubjectAccessReview::decode(raw).map_err(|e| bad(&kind, e))?;
            let spec = r.spec.unwrap_or_default();
            let resource = spec.resource_attributes.map(|a| {
                Obj::default()
                    .s("namespace", &a.namespace)
                    .s("verb", &a.verb)
                    .s("group", &a.group)
                    .s("version", &a.version)
                    .s("resource", &a.resource)
                    .s("subresource", &a.subresource)
                    .s("name", &a.name)
                    .done()
            });
            let non_resource =
                spec.non_resource_attributes.map(|a| Obj::default().s("path", &a.path).s("verb", &a.verb).done());
            let spec = Obj::default().v("resourceAttributes", resource).v("nonResourceAttributes", non_resource).done();
            merge(head, json!({"metadata": object_meta(&r.metadata), "spec": spec}))
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            use k8s_pb::api::authorization::v1 as authz;
            let r = authz::SelfSubjectRulesReview::decode(raw).map_err(|e| bad(&kind, e))?;
            let spec = Obj::default().s("namespace", &r.spec.unwrap_or_default().namespace).done();
            merge(head, json!({"metadata": object_meta(&r.metadata), "spec": spec}))
        }
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            let r = k8s_pb::api::authentication::v1::SelfSubjectReview::decode(raw).map_err(|e| bad(&kind, e))?;
            merge(head, json!({"metadata": object_meta(&r.metadata)}))
        }
        _ => {
            return Err(ApiError::unsupported_media_type(&format!(
                "{CONTENT_TYPE} (protobuf bodies of {av} {kind} are not decoded by this server; send JSON)"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let u = k8s_pb::apimachinery::pkg::runtime::Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(u.encode_to_vec());
        out
    }

    #[test]
    fn configmaps_and_deployments_as_kubectl_sends_them() {
        let cm = core::ConfigMap {
            metadata: Some(meta::ObjectMeta { name: Some("c1".into()), ..Default::default() }),
            data: [("a".to_string(), "1".to_string())].into(),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "ConfigMap", cm.encode_to_vec())).unwrap();
        assert_eq!(v, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"a": "1"}}));

        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let d = apps::Deployment {
            metadata: Some(meta::ObjectMeta { name: Some("web".into()), labels: labels.clone(), ..Default::default() }),
            spec: Some(apps::DeploymentSpec {
                replicas: Some(2),
                selector: Some(meta::LabelSelector { match_labels: labels.clone(), ..Default::default() }),
                template: Some(core::PodTemplateSpec {
                    metadata: Some(meta::ObjectMeta { labels, ..Default::default() }),
                    spec: Some(core::PodSpec {
                        containers: vec![core::Container {
                            name: Some("nginx".into()),
                            image: Some("nginx".into()),
                            ports: vec![core::ContainerPort { container_port: Some(80), ..Default::default() }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = decode(&envelope("apps/v1", "Deployment", d.encode_to_vec())).unwrap();
        assert_eq!(v["spec"]["replicas"], 2);
        assert_eq!(v["spec"]["selector"]["matchLabels"]["app"], "web");
        assert_eq!(v["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 80);
    }

    #[test]
    fn other_kinds_and_garbage_are_refused_clearly() {
        let e = decode(&envelope("v1", "Pod", vec![])).unwrap_err();
        assert_eq!(e.code.as_u16(), 415);
        assert!(e.message.contains("Pod"), "{}", e.message);
        assert_eq!(decode(b"not protobuf").unwrap_err().code.as_u16(), 400);
        assert_eq!(decode(&envelope("v1", "ConfigMap", vec![0xff, 0xff])).unwrap_err().code.as_u16(), 400);
    }
}
