//! The defaults kube-apiserver 1.32 gives the built-in kinds on decode
//! (`pkg/apis/*/v1/defaults.go` and the generated defaulters), so objects
//! read back from berth look like those of a real cluster. Runs on every
//! create and update, so it only fills what is unset (absent, null, or a zero
//! value Go cannot tell from unset) and skips any part of the wrong shape.

use serde_json::{json, Value};

use crate::resources::Resource;

/// Fills in `obj`, an object of kind `r`, the defaults kube-apiserver would
/// give it; kinds without any (custom kinds among them) are left as they
/// are. Never fails and never overwrites a value that is set.
pub fn apply(r: &Resource, obj: &mut Value) {
    match (r.group, r.version, r.kind) {
        ("", "v1", "Secret") => set(obj, "type", json!("Opaque")),
        ("", "v1", "Namespace") => status(obj, |s| set(s, "phase", json!("Active"))),
        ("", "v1", "Pod") => pod(obj),
        ("", "v1", "Service") => spec(obj, service),
        ("", "v1", "Endpoints") => each(obj, "subsets", |s| each(s, "ports", tcp)),
        ("", "v1", "PersistentVolume") => {
            spec(obj, |s| {
                fill(s, [("persistentVolumeReclaimPolicy", json!("Retain")), ("volumeMode", json!("Filesystem"))]);
                host_path(s);
            });
            status(obj, |s| set(s, "phase", json!("Pending")));
        }
        ("", "v1", "PersistentVolumeClaim") => claim(obj),
        ("", "v1", "LimitRange") => spec(obj, |s| each(s, "limits", limit_range_item)),
        ("apps", "v1", "Deployment") => spec(obj, |s| {
            fill(s, [("replicas", json!(1)), ("revisionHistoryLimit", json!(10))]);
            set(s, "progressDeadlineSeconds", json!(600));
            rolling_update(s, "strategy", json!("25%"), json!("25%"));
            template(s, true);
        }),
        ("apps", "v1", "ReplicaSet") => spec(obj, |s| {
            set(s, "replicas", json!(1));
            template(s, true);
        }),
        ("apps", "v1", "DaemonSet") => spec(obj, |s| {
            set(s, "revisionHistoryLimit", json!(10));
            rolling_update(s, "updateStrategy", json!(1), json!(0));
            template(s, true);
        }),
        ("apps", "v1", "StatefulSet") => spec(obj, stateful_set),
        ("batch", "v1", "Job") => job(obj),
        ("batch", "v1", "CronJob") => spec(obj, |s| {
            fill(s, [("concurrencyPolicy", json!("Allow")), ("suspend", json!(false))]);
            fill(s, [("successfulJobsHistoryLimit", json!(3)), ("failedJobsHistoryLimit", json!(1))]);
            on(s, &["jobTemplate", "spec"], |job| template(job, false));
        }),
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => spec(obj, autoscaler),
        // `name` is a pointer upstream, so its default "" is printed.
        ("discovery.k8s.io", "v1", "EndpointSlice") => {
            each(obj, "ports", |p| fill(p, [("name", json!("")), ("protocol", json!("TCP"))]))
        }
        ("scheduling.k8s.io", "v1", "PriorityClass") => set(obj, "preemptionPolicy", json!("PreemptLowerPriority")),
        _ => {}
    }
}

/// Unset as Go sees a decoded field: absent, null, or an empty string.
fn unset(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null)) || v.and_then(Value::as_str) == Some("")
}

/// For non-pointer ints upstream, where 0 cannot be told from unset.
fn zero(v: Option<&Value>) -> bool {
    unset(v) || v.and_then(Value::as_f64) == Some(0.0)
}

/// Sets `key` when unset; a null `v` (a default copied from an absent field) sets nothing.
fn set_if(o: &mut Value, key: &str, v: Value, is_unset: fn(Option<&Value>) -> bool) {
    if let (Some(m), false) = (o.as_object_mut(), v.is_null()) {
        if is_unset(m.get(key)) {
            m.insert(key.to_owned(), v);
        }
    }
}

fn set(o: &mut Value, key: &str, v: Value) {
    set_if(o, key, v, unset)
}

fn copy_if_zero(o: &mut Value, to: &str, from: &str) {
    let v = o.get(from).cloned().unwrap_or(Value::Null);
    set_if(o, to, v, zero)
}

fn fill<const N: usize>(o: &mut Value, pairs: [(&str, Value); N]) {
    for (k, v) in pairs {
        set(o, k, v);
    }
}

/// The object down `path`, if every step is one.
fn at<'a>(o: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(o, |o, k| o.get_mut(*k).filter(|v| v.is_object()))
}

/// The object at `key`, made `{}` first if unset.
fn at_or_new<'a>(o: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    set(o, key, json!({}));
    at(o, &[key])
}

fn each(o: &mut Value, key: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(items) = o.get_mut(key).and_then(Value::as_array_mut) {
        items.iter_mut().filter(|i| i.is_object()).for_each(&mut f);
    }
}

fn str_at<'a>(o: &'a Value, key: &str) -> &'a str {
    o.get(key).and_then(Value::as_str).unwrap_or("")
}

fn non_empty(o: &Value, key: &str) -> Option<serde_json::Map<String, Value>> {
    o.get(key).and_then(Value::as_object).filter(|m| !m.is_empty()).cloned()
}

fn on(o: &mut Value, path: &[&str], f: impl FnOnce(&mut Value)) {
    if let Some(x) = at(o, path) {
        f(x)
    }
}

fn spec(obj: &mut Value, f: impl FnOnce(&mut Value)) {
    on(obj, &["spec"], f)
}

fn status(obj: &mut Value, f: impl FnOnce(&mut Value)) {
    set(obj, "status", json!({}));
    on(obj, &["status"], f)
}

fn tcp(port: &mut Value) {
    set(port, "protocol", json!("TCP"));
}

fn pod(obj: &mut Value) {
    let Some(spec) = at(obj, &["spec"]) else { return };
    pod_spec(spec, true);
    // Only Pods get these: upstream keeps them out of templates so that
    // adding them would not roll every workload.
    set(spec, "enableServiceLinks", json!(true));
    let host_network = spec.get("hostNetwork") == Some(&json!(true));
    for key in ["initContainers", "containers"] {
        each(spec, key, |c| {
            on(c, &["resources"], |res| merge(res, "requests", "limits"));
            if host_network {
                each(c, "ports", |p| copy_if_zero(p, "hostPort", "containerPort"));
            }
        });
    }
}

/// Adds to map `to` the entries of map `from` it lacks (`to` made if needed).
fn merge(o: &mut Value, to: &str, from: &str) {
    let Some(source) = non_empty(o, from) else { return };
    if let Some(target) = at_or_new(o, to).and_then(Value::as_object_mut) {
        for (k, v) in source {
            target.entry(k).or_insert(v);
        }
    }
}

/// Job templates get no restartPolicy, so that the client must choose
/// OnFailure or Never (upstream fills in Always, which Job validation refuses).
fn template(workload_spec: &mut Value, restart_policy: bool) {
    on(workload_spec, &["template", "spec"], |spec| pod_spec(spec, restart_policy));
}

fn pod_spec(spec: &mut Value, restart_policy: bool) {
    if restart_policy {
        set(spec, "restartPolicy", json!("Always"));
    }
    fill(spec, [("dnsPolicy", json!("ClusterFirst")), ("schedulerName", json!("default-scheduler"))]);
    fill(spec, [("securityContext", json!({})), ("terminationGracePeriodSeconds", json!(30))]);
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        each(spec, key, container);
    }
    each(spec, "volumes", volume);
}

fn container(c: &mut Value) {
    let pull = if pulls_always(str_at(c, "image")) { "Always" } else { "IfNotPresent" };
    set(c, "imagePullPolicy", json!(pull));
    fill(c, [("terminationMessagePath", json!("/dev/termination-log")), ("terminationMessagePolicy", json!("File"))]);
    // A non-pointer struct upstream, so it is always printed.
    set(c, "resources", json!({}));
    each(c, "ports", tcp);
    each(c, "env", |e| on(e, &["valueFrom"], field_refs));
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(p) = at(c, &[key]) else { continue };
        for (field, v) in [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1)] {
            set_if(p, field, json!(v), zero);
        }
        set_if(p, "failureThreshold", json!(3), zero);
        handler(p);
    }
    for key in ["postStart", "preStop"] {
        on(c, &["lifecycle", key], handler);
    }
}

fn handler(h: &mut Value) {
    on(h, &["httpGet"], |get| fill(get, [("path", json!("/")), ("scheme", json!("HTTP"))]));
    // `service` is a pointer upstream, so its default "" is printed.
    on(h, &["grpc"], |grpc| set(grpc, "service", json!("")));
}

/// Upstream parses the reference: the tag is "latest" when written so, or
/// when there is neither tag nor digest. An empty image fails to parse.
fn pulls_always(image: &str) -> bool {
    let (name, digest) = image.split_once('@').map_or((image, false), |(name, _)| (name, true));
    match name.rsplit('/').next().unwrap_or(name).split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => !digest && !image.is_empty(),
    }
}

fn field_refs(o: &mut Value) {
    on(o, &["fieldRef"], |f| set(f, "apiVersion", json!("v1")));
    // A non-pointer Quantity upstream: printed as "0" when unset.
    on(o, &["resourceFieldRef"], |r| set(r, "divisor", json!("0")));
}

fn volume(v: &mut Value) {
    if !v.as_object().is_some_and(|m| m.iter().any(|(k, x)| k != "name" && !x.is_null())) {
        set(v, "emptyDir", json!({}));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        on(v, &[key], |src| set(src, "defaultMode", json!(420)));
    }
    on(v, &["downwardAPI"], |d| each(d, "items", field_refs));
    on(v, &["projected"], |p| {
        each(p, "sources", |s| {
            on(s, &["downwardAPI"], |d| each(d, "items", field_refs));
            on(s, &["serviceAccountToken"], |t| set(t, "expirationSeconds", json!(3600)));
        })
    });
    on(v, &["ephemeral", "volumeClaimTemplate", "spec"], |s| set(s, "volumeMode", json!("Filesystem")));
    host_path(v);
}

/// `type` is a pointer upstream, so its default "" is printed.
fn host_path(o: &mut Value) {
    on(o, &["hostPath"], |h| set(h, "type", json!("")));
}

fn claim(c: &mut Value) {
    spec(c, |s| set(s, "volumeMode", json!("Filesystem")));
    status(c, |s| set(s, "phase", json!("Pending")));
}

fn limit_range_item(item: &mut Value) {
    if str_at(item, "type") == "Container" {
        merge(item, "default", "max");
        merge(item, "defaultRequest", "default");
        merge(item, "defaultRequest", "min");
    }
}

fn service(s: &mut Value) {
    fill(s, [("type", json!("ClusterIP")), ("sessionAffinity", json!("None"))]);
    if str_at(s, "sessionAffinity") == "ClientIP" {
        if let Some(ip) = at_or_new(s, "sessionAffinityConfig").and_then(|c| at_or_new(c, "clientIP")) {
            set(ip, "timeoutSeconds", json!(10800));
        }
    }
    each(s, "ports", |p| {
        tcp(p);
        copy_if_zero(p, "targetPort", "port");
    });
    let kind = str_at(s, "type").to_owned();
    let external_ips = s.get("externalIPs").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    if kind == "NodePort" || kind == "LoadBalancer" || (kind == "ClusterIP" && external_ips) {
        set(s, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        set(s, "allocateLoadBalancerNodePorts", json!(true));
    }
    if kind != "ExternalName" {
        // ipFamilyPolicy comes from the registry's IP allocator upstream:
        // selectorless headless services may front addresses of any family.
        let headless = str_at(s, "clusterIP") == "None" && non_empty(s, "selector").is_none();
        let policy = if headless { "RequireDualStack" } else { "SingleStack" };
        fill(s, [("internalTrafficPolicy", json!("Cluster")), ("ipFamilyPolicy", json!(policy))]);
    }
}

/// Deployment and DaemonSet strategies: the rolling parameters only when rolling.
fn rolling_update(s: &mut Value, key: &str, max_unavailable: Value, max_surge: Value) {
    let Some(strategy) = at_or_new(s, key) else { return };
    set(strategy, "type", json!("RollingUpdate"));
    if str_at(strategy, "type") == "RollingUpdate" {
        set(strategy, "rollingUpdate", json!({}));
        on(strategy, &["rollingUpdate"], |ru| fill(ru, [("maxUnavailable", max_unavailable), ("maxSurge", max_surge)]));
    }
}

fn stateful_set(s: &mut Value) {
    fill(s, [("replicas", json!(1)), ("revisionHistoryLimit", json!(10))]);
    set(s, "podManagementPolicy", json!("OrderedReady"));
    if let Some(strategy) = at_or_new(s, "updateStrategy") {
        // Upstream adds rollingUpdate only along with the type: a client's
        // bare `type: RollingUpdate` stays bare.
        if unset(strategy.get("type")) {
            fill(strategy, [("type", json!("RollingUpdate")), ("rollingUpdate", json!({}))]);
        }
        if str_at(strategy, "type") == "RollingUpdate" {
            on(strategy, &["rollingUpdate"], |ru| set(ru, "partition", json!(0)));
        }
    }
    set(s, "persistentVolumeClaimRetentionPolicy", json!({}));
    on(s, &["persistentVolumeClaimRetentionPolicy"], |p| {
        fill(p, [("whenDeleted", json!("Retain")), ("whenScaled", json!("Retain"))])
    });
    each(s, "volumeClaimTemplates", claim);
    template(s, true);
}

fn job(obj: &mut Value) {
    // Upstream gives a Job without labels those of its template.
    if let Some(labels) = at(obj, &["spec", "template", "metadata"]).and_then(|m| non_empty(m, "labels")) {
        if let Some(meta) = at(obj, &["metadata"]) {
            if unset(meta.get("labels")) || meta["labels"].as_object().is_some_and(|m| m.is_empty()) {
                meta["labels"] = Value::Object(labels);
            }
        }
    }
    let Some(s) = at(obj, &["spec"]) else { return };
    // Both unset means one pod run to completion; either set means a work queue.
    if unset(s.get("completions")) && unset(s.get("parallelism")) {
        set(s, "completions", json!(1));
    }
    let backoff = if unset(s.get("backoffLimitPerIndex")) { 6 } else { i32::MAX };
    let failure_policy = at(s, &["podFailurePolicy"]).is_some();
    let replacement = if failure_policy { "Failed" } else { "TerminatingOrFailed" };
    fill(s, [("parallelism", json!(1)), ("backoffLimit", json!(backoff)), ("completionMode", json!("NonIndexed"))]);
    fill(s, [("suspend", json!(false)), ("podReplacementPolicy", json!(replacement))]);
    if let Some(p) = at(s, &["podFailurePolicy"]) {
        each(p, "rules", |r| each(r, "onPodConditions", |c| set(c, "status", json!("True"))));
    }
    template(s, false);
}

fn autoscaler(s: &mut Value) {
    set(s, "minReplicas", json!(1));
    if unset(s.get("metrics")) || s["metrics"].as_array().is_some_and(Vec::is_empty) {
        let cpu = json!({"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}});
        s["metrics"] = json!([{"type": "Resource", "resource": cpu}]);
    }
    // A behavior, once given, is filled in whole; scale-down's window stays
    // unset because the controller's flag supplies it.
    let Some(b) = at(s, &["behavior"]) else { return };
    let up = json!([{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]);
    let down = json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]);
    for (key, policies, window) in [("scaleUp", up, json!(0)), ("scaleDown", down, Value::Null)] {
        if let Some(rules) = at_or_new(b, key) {
            fill(rules, [("selectPolicy", json!("Max")), ("policies", policies)]);
            set(rules, "stabilizationWindowSeconds", window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::BUILTIN;

    fn defaulted(kind: &str, mut obj: Value) -> Value {
        apply(BUILTIN.iter().find(|r| r.kind == kind).expect("served kind"), &mut obj);
        obj
    }

    fn nginx() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
    }

    #[test]
    fn minimal_deployment_gets_exactly_the_upstream_defaults() {
        let d = defaulted("Deployment", json!({"metadata": {"name": "web"}, "spec": {"template": nginx()}}));
        let container = json!({"name": "web", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"});
        let pod = json!({"containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "securityContext": {}, "terminationGracePeriodSeconds": 30});
        let spec = json!({"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod}});
        assert_eq!(d, json!({"metadata": {"name": "web"}, "spec": spec}));
    }

    #[test]
    fn client_values_are_kept() {
        let mut tpl = nginx();
        tpl["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
        tpl["spec"]["terminationGracePeriodSeconds"] = json!(0);
        let d = defaulted(
            "Deployment",
            json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}, "template": tpl}}),
        );
        assert_eq!((&d["spec"]["replicas"], &d["spec"]["strategy"]), (&json!(0), &json!({"type": "Recreate"})));
        assert_eq!(d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 0);
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Never");
    }

    #[test]
    fn the_image_tag_decides_the_pull_policy() {
        let plain = [("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent")];
        let digest = [("nginx@sha256:0123abcd", "IfNotPresent"), ("nginx:latest@sha256:0123abcd", "Always")];
        let registry = [("registry.local:5000/team/app", "Always"), ("registry.local:5000/app:v2", "IfNotPresent")];
        for (image, policy) in plain.into_iter().chain(digest).chain(registry) {
            let p = defaulted("Pod", json!({"spec": {"containers": [{"name": "c", "image": image}]}}));
            assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], policy, "{image}");
        }
    }

    #[test]
    fn pods_containers_and_volumes() {
        let c = json!({"name": "c", "image": "busybox:1", "ports": [{"containerPort": 80}],
            "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Mi"}}, "readinessProbe": {"httpGet": {"port": 80}},
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]});
        let volumes = json!([{"name": "v"}, {"name": "s", "secret": {"secretName": "s"}}]);
        let p = defaulted("Pod", json!({"spec": {"hostNetwork": true, "containers": [c], "volumes": volumes}}));
        let (s, c) = (&p["spec"], &p["spec"]["containers"][0]);
        assert_eq!(s["enableServiceLinks"], true);
        assert_eq!(c["resources"]["requests"], json!({"cpu": "1", "memory": "1Mi"}));
        assert_eq!(c["ports"][0], json!({"containerPort": 80, "hostPort": 80, "protocol": "TCP"}));
        let probe = json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
            "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3});
        assert_eq!(c["readinessProbe"], probe);
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        let volumes =
            json!([{"name": "v", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "s", "defaultMode": 420}}]);
        assert_eq!(s["volumes"], volumes);
        // Templates get neither service links nor requests copied from limits.
        let limits = json!({"limits": {"cpu": "1"}});
        let tpl = json!({"spec": {"containers": [{"name": "c", "image": "x", "resources": limits}]}});
        let rs = defaulted("ReplicaSet", json!({"spec": {"template": tpl}}));
        assert!(rs["spec"]["template"]["spec"].get("enableServiceLinks").is_none());
        assert_eq!(rs["spec"]["template"]["spec"]["containers"][0]["resources"], limits);
    }

    #[test]
    fn job_templates_get_no_restart_policy() {
        let j = defaulted("Job", json!({"metadata": {"name": "j"}, "spec": {"template": nginx()}}));
        assert_eq!(j["metadata"]["labels"], json!({"app": "web"}));
        let mut spec = j["spec"].clone();
        assert!(spec["template"]["spec"].get("restartPolicy").is_none());
        assert_eq!(spec["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        spec.as_object_mut().map(|m| m.remove("template"));
        let expected = json!({"parallelism": 1, "completions": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
            "suspend": false, "podReplacementPolicy": "TerminatingOrFailed"});
        assert_eq!(spec, expected);
        let policy = json!({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]});
        let queue = defaulted("Job", json!({"spec": {"parallelism": 3, "podFailurePolicy": policy}}));
        assert!(queue["spec"].get("completions").is_none());
        assert_eq!(queue["spec"]["podReplacementPolicy"], "Failed");
        assert_eq!(queue["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"], "True");
        let cj = defaulted("CronJob", json!({"spec": {"jobTemplate": {"spec": {"template": nginx()}}}}));
        assert_eq!(
            (&cj["spec"]["concurrencyPolicy"], &cj["spec"]["successfulJobsHistoryLimit"]),
            (&json!("Allow"), &json!(3))
        );
        let job = &cj["spec"]["jobTemplate"]["spec"];
        assert!(job.get("backoffLimit").is_none() && job["template"]["spec"].get("restartPolicy").is_none());
        assert_eq!(job["template"]["spec"]["schedulerName"], "default-scheduler");
    }

    #[test]
    fn services() {
        let ports = json!([{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]);
        let s = defaulted("Service", json!({"spec": {"selector": {"app": "web"}, "ports": ports}}));
        let ports = json!([{"port": 80, "protocol": "TCP", "targetPort": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]);
        let expected = json!({"selector": {"app": "web"}, "type": "ClusterIP", "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack", "ports": ports});
        assert_eq!(s["spec"], expected);
        let lb = defaulted("Service", json!({"spec": {"type": "LoadBalancer", "clusterIP": "None"}}));
        assert_eq!(
            (&lb["spec"]["externalTrafficPolicy"], &lb["spec"]["allocateLoadBalancerNodePorts"]),
            (&json!("Cluster"), &json!(true))
        );
        assert_eq!(lb["spec"]["ipFamilyPolicy"], "RequireDualStack");
        let ext = defaulted("Service", json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}));
        assert!(ext["spec"].get("ipFamilyPolicy").is_none() && ext["spec"].get("internalTrafficPolicy").is_none());
        assert_eq!(defaulted("Secret", json!({"data": {}}))["type"], "Opaque");
    }

    #[test]
    fn stateful_sets_daemon_sets_and_autoscalers() {
        let claims = json!([{"metadata": {"name": "d"}, "spec": {}}]);
        let sts = defaulted("StatefulSet", json!({"spec": {"template": nginx(), "volumeClaimTemplates": claims}}));
        assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
        let retain = json!({"whenDeleted": "Retain", "whenScaled": "Retain"});
        assert_eq!(sts["spec"]["persistentVolumeClaimRetentionPolicy"], retain);
        let claim =
            json!({"metadata": {"name": "d"}, "spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}});
        assert_eq!(sts["spec"]["volumeClaimTemplates"][0], claim);
        let bare = defaulted("StatefulSet", json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}}}));
        assert_eq!(bare["spec"]["updateStrategy"], json!({"type": "RollingUpdate"}));
        let ds = defaulted("DaemonSet", json!({"spec": {"template": nginx()}}));
        assert_eq!(ds["spec"]["updateStrategy"]["rollingUpdate"], json!({"maxUnavailable": 1, "maxSurge": 0}));
        let behavior = json!({"scaleDown": {"selectPolicy": "Min"}});
        let hpa = defaulted("HorizontalPodAutoscaler", json!({"spec": {"maxReplicas": 5, "behavior": behavior}}));
        let cpu = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]);
        assert_eq!((&hpa["spec"]["minReplicas"], &hpa["spec"]["metrics"]), (&json!(1), &cpu));
        let b = &hpa["spec"]["behavior"];
        assert_eq!(
            (&b["scaleDown"]["selectPolicy"], &b["scaleUp"]["stabilizationWindowSeconds"]),
            (&json!("Min"), &json!(0))
        );
        assert!(b["scaleDown"].get("stabilizationWindowSeconds").is_none());
    }

    #[test]
    fn applying_twice_equals_applying_once() {
        let pod = json!({"containers": [{"name": "c", "image": "x", "livenessProbe": {"grpc": {"port": 1}}}],
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}]});
        let limits = json!([{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}}]);
        let samples = [
            ("Deployment", json!({"spec": {"template": {"spec": pod}}})),
            ("StatefulSet", json!({"spec": {"template": {"spec": pod}, "volumeClaimTemplates": [{"spec": {}}]}})),
            ("DaemonSet", json!({"spec": {"template": {"spec": pod}}})),
            ("Job", json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": pod}}})),
            ("CronJob", json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}})),
            ("Pod", json!({"spec": pod})),
            ("Service", json!({"spec": {"type": "NodePort", "sessionAffinity": "ClientIP", "ports": [{"port": 1}]}})),
            ("HorizontalPodAutoscaler", json!({"spec": {"behavior": {}}})),
            ("PersistentVolume", json!({"spec": {"hostPath": {"path": "/"}}})),
            ("PersistentVolumeClaim", json!({"spec": {}})),
            ("LimitRange", json!({"spec": {"limits": limits}})),
            ("EndpointSlice", json!({"ports": [{"port": 1}]})),
            ("Endpoints", json!({"subsets": [{"ports": [{"port": 1}]}]})),
            ("PriorityClass", json!({"value": 1})),
            ("Namespace", json!({})),
        ];
        for (kind, obj) in samples {
            let once = defaulted(kind, obj.clone());
            assert_ne!(once, obj, "{kind} has defaults");
            assert_eq!(defaulted(kind, once.clone()), once, "{kind}");
        }
    }

    #[test]
    fn wrong_shapes_do_not_panic() {
        let spec = json!({"template": 3, "jobTemplate": {"spec": []}, "strategy": "x", "updateStrategy": 1,
            "ports": [1, "x", null], "metrics": 5, "behavior": {"scaleUp": 1}, "limits": [{"type": "Container", "max": 1}],
            "persistentVolumeClaimRetentionPolicy": 1, "containers": [{"resources": {"limits": 1}}], "hostNetwork": true});
        let pod = json!({"containers": {"a": 1}, "volumes": [{"projected": {"sources": [1, {"downwardAPI": {"items": 1}}]}}],
            "initContainers": [1, {"ports": "x", "env": [{"valueFrom": 1}], "livenessProbe": [], "resources": 2, "image": 7}]});
        let template = json!({"metadata": {"labels": {"a": "b"}}, "spec": pod});
        let shapes = [
            json!(null),
            json!("x"),
            json!({"spec": "x", "status": 3, "metadata": 1, "subsets": [{"ports": {}}]}),
            json!({"spec": spec}),
            json!({"metadata": {"labels": 1}, "spec": {"podFailurePolicy": {"rules": 3}, "template": template}}),
        ];
        for r in BUILTIN {
            for shape in &shapes {
                apply(r, &mut shape.clone());
            }
        }
    }
}
