//! Server-side printing: `meta.k8s.io/v1` Tables with the columns kubectl
//! shows for a real cluster, each row carrying the object's metadata (a
//! PartialObjectMetadata) so NAMESPACE and LABELS columns work.

use serde_json::{json, Value};

use crate::resources::Resource;

/// The media type of a Table response, as kubectl asks for it in Accept.
pub const CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Whether the client asked for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|a| a.contains("as=Table") && a.contains("g=meta.k8s.io") && a.contains("v=v1"))
}

/// kubectl's short ages: 45s, 12m, 5h, 3d, 2y.
pub fn age(created: &str, now: i64) -> String {
    let Some(t) = crate::meta::parse_rfc3339(created) else { return "<unknown>".into() };
    let s = (now - t).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => format!("{}m{}s", s / 60, s % 60),
        600..=10_799 => format!("{}m", s / 60),
        10_800..=172_799 => format!("{}h", s / 3600),
        172_800..=31_535_999 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    }
}

struct Col {
    name: &'static str,
    kind: &'static str,
    priority: u8,
}

const fn col(name: &'static str, priority: u8) -> Col {
    Col { name, kind: "string", priority }
}

fn columns(r: &Resource) -> Vec<Col> {
    match r.plural {
        "pods" => vec![
            col("Name", 0),
            col("Ready", 0),
            col("Status", 0),
            Col { name: "Restarts", kind: "string", priority: 0 },
            col("Age", 0),
            col("IP", 1),
            col("Node", 1),
            col("Nominated Node", 1),
            col("Readiness Gates", 1),
        ],
        "nodes" => vec![
            col("Name", 0),
            col("Status", 0),
            col("Roles", 0),
            col("Age", 0),
            col("Version", 0),
            col("Internal-IP", 1),
            col("External-IP", 1),
            col("OS-Image", 1),
            col("Kernel-Version", 1),
            col("Container-Runtime", 1),
        ],
        "deployments" => vec![
            col("Name", 0),
            col("Ready", 0),
            col("Up-to-date", 0),
            col("Available", 0),
            col("Age", 0),
            col("Containers", 1),
            col("Images", 1),
            col("Selector", 1),
        ],
        "replicasets" => vec![
            col("Name", 0),
            col("Desired", 0),
            col("Current", 0),
            col("Ready", 0),
            col("Age", 0),
            col("Containers", 1),
            col("Images", 1),
            col("Selector", 1),
        ],
        "namespaces" => vec![col("Name", 0), col("Status", 0), col("Age", 0)],
        "configmaps" => vec![col("Name", 0), col("Data", 0), col("Age", 0)],
        "secrets" => vec![col("Name", 0), col("Type", 0), col("Data", 0), col("Age", 0)],
        "services" => vec![
            col("Name", 0),
            col("Type", 0),
            col("Cluster-IP", 0),
            col("External-IP", 0),
            col("Port(s)", 0),
            col("Age", 0),
            col("Selector", 1),
        ],
        "daemonsets" => vec![
            col("Name", 0),
            col("Desired", 0),
            col("Current", 0),
            col("Ready", 0),
            col("Up-to-date", 0),
            col("Available", 0),
            col("Node Selector", 0),
            col("Age", 0),
            col("Containers", 1),
            col("Images", 1),
            col("Selector", 1),
        ],
        "statefulsets" => vec![col("Name", 0), col("Ready", 0), col("Age", 0), col("Containers", 1), col("Images", 1)],
        "jobs" => vec![
            col("Name", 0),
            col("Status", 0),
            col("Completions", 0),
            col("Duration", 0),
            col("Age", 0),
            col("Containers", 1),
            col("Images", 1),
            col("Selector", 1),
        ],
        "cronjobs" => vec![
            col("Name", 0),
            col("Schedule", 0),
            col("Timezone", 0),
            col("Suspend", 0),
            col("Active", 0),
            col("Last Schedule", 0),
            col("Age", 0),
            col("Containers", 1),
            col("Images", 1),
            col("Selector", 1),
        ],
        "horizontalpodautoscalers" => vec![
            col("Name", 0),
            col("Reference", 0),
            col("Targets", 0),
            col("MinPods", 0),
            col("MaxPods", 0),
            col("Replicas", 0),
            col("Age", 0),
        ],
        "endpoints" => vec![col("Name", 0), col("Endpoints", 0), col("Age", 0)],
        "endpointslices" => {
            vec![col("Name", 0), col("AddressType", 0), col("Ports", 0), col("Endpoints", 0), col("Age", 0)]
        }
        "serviceaccounts" => vec![col("Name", 0), col("Secrets", 0), col("Age", 0)],
        "events" => vec![col("Last Seen", 0), col("Type", 0), col("Reason", 0), col("Object", 0), col("Message", 0)],
        "persistentvolumeclaims" => vec![
            col("Name", 0),
            col("Status", 0),
            col("Volume", 0),
            col("Capacity", 0),
            col("Access Modes", 0),
            col("StorageClass", 0),
            col("Age", 0),
        ],
        "persistentvolumes" => vec![
            col("Name", 0),
            col("Capacity", 0),
            col("Access Modes", 0),
            col("Reclaim Policy", 0),
            col("Status", 0),
            col("Claim", 0),
            col("StorageClass", 0),
            col("Age", 0),
        ],
        "leases" => vec![col("Name", 0), col("Holder", 0), col("Age", 0)],
        "poddisruptionbudgets" => {
            vec![
                col("Name", 0),
                col("Min Available", 0),
                col("Max Unavailable", 0),
                col("Allowed Disruptions", 0),
                col("Age", 0),
            ]
        }
        "priorityclasses" => {
            vec![col("Name", 0), col("Value", 0), col("Global-Default", 0), col("Age", 0), col("PreemptionPolicy", 0)]
        }
        "controllerrevisions" => vec![col("Name", 0), col("Controller", 0), col("Revision", 0), col("Age", 0)],
        "customresourcedefinitions" => vec![col("Name", 0), col("Created At", 0)],
        _ => vec![col("Name", 0), col("Age", 0)],
    }
}

fn joined(v: &Value, f: impl Fn(&Value) -> String) -> String {
    v.as_array().map(|a| a.iter().map(f).collect::<Vec<_>>().join(",")).unwrap_or_default()
}

/// Ports and addresses the way `kubectl get ep` lists them (`ip:port,…`).
fn endpoint_addresses(o: &Value) -> String {
    let mut out = Vec::new();
    for subset in o["subsets"].as_array().into_iter().flatten() {
        for a in subset["addresses"].as_array().into_iter().flatten() {
            for p in subset["ports"].as_array().into_iter().flatten() {
                out.push(format!("{}:{}", s(&a["ip"]), num(&p["port"])));
            }
        }
    }
    out.join(",")
}

fn job_status(st: &Value) -> &'static str {
    let has = |t: &str| {
        st["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if has("Suspended") {
        "Suspended"
    } else {
        "Running"
    }
}

fn owner_kind_name(o: &Value) -> String {
    o["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|refs| refs.iter().find(|r| r["controller"] == true).or(refs.first()))
        .map(|r| format!("{}/{}", s(&r["kind"]).to_lowercase(), s(&r["name"])))
        .unwrap_or_else(|| "<none>".into())
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn none_if_empty(x: String) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x
    }
}

fn selector_text(sel: &Value) -> String {
    let m = sel.get("matchLabels").unwrap_or(sel);
    m.as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k}={}", s(v))).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

fn containers(spec: &Value) -> (String, String) {
    let cs = spec.pointer("/template/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let names = cs.iter().map(|c| s(&c["name"])).collect::<Vec<_>>().join(",");
    let images = cs.iter().map(|c| s(&c["image"])).collect::<Vec<_>>().join(",");
    (names, images)
}

fn cells(r: &Resource, o: &Value, now: i64) -> Vec<Value> {
    let name = s(&o["metadata"]["name"]);
    let age = age(o["metadata"]["creationTimestamp"].as_str().unwrap_or(""), now);
    let spec = &o["spec"];
    let st = &o["status"];
    match r.plural {
        "pods" => {
            let total = spec["containers"].as_array().map_or(0, Vec::len);
            let statuses = st["containerStatuses"].as_array().cloned().unwrap_or_default();
            let ready = statuses.iter().filter(|c| c["ready"].as_bool() == Some(true)).count();
            let restarts: i64 = statuses.iter().map(|c| num(&c["restartCount"])).sum();
            let mut phase = s(&st["phase"]);
            if let Some(reason) = st["reason"].as_str() {
                phase = reason.to_string();
            }
            for c in &statuses {
                if let Some(w) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
                    phase = w.to_string();
                }
            }
            if o["metadata"].get("deletionTimestamp").is_some() {
                phase = "Terminating".into();
            }
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(if phase.is_empty() { "Pending".to_string() } else { phase }),
                json!(restarts),
                json!(age),
                json!(none_if_empty(s(&st["podIP"]))),
                json!(none_if_empty(s(&spec["nodeName"]))),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        "nodes" => {
            let ready = st["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map_or("Unknown", |c| if c["status"] == "True" { "Ready" } else { "NotReady" });
            let mut status = ready.to_string();
            if spec["unschedulable"].as_bool() == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<String> = o["metadata"]["labels"]
                .as_object()
                .map(|l| {
                    l.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string)).collect()
                })
                .unwrap_or_default();
            let addr = |t: &str| {
                st["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["type"] == t))
                    .map_or("<none>".to_string(), |x| s(&x["address"]))
            };
            let info = &st["nodeInfo"];
            vec![
                json!(name),
                json!(status),
                json!(if roles.is_empty() { "<none>".into() } else { roles.join(",") }),
                json!(age),
                json!(s(&info["kubeletVersion"])),
                json!(addr("InternalIP")),
                json!(addr("ExternalIP")),
                json!(s(&info["osImage"])),
                json!(s(&info["kernelVersion"])),
                json!(s(&info["containerRuntimeVersion"])),
            ]
        }
        "deployments" => {
            let (names, images) = containers(spec);
            vec![
                json!(name),
                json!(format!("{}/{}", num(&st["readyReplicas"]), num(&spec["replicas"]))),
                json!(num(&st["updatedReplicas"])),
                json!(num(&st["availableReplicas"])),
                json!(age),
                json!(names),
                json!(images),
                json!(selector_text(&spec["selector"])),
            ]
        }
        "replicasets" => {
            let (names, images) = containers(spec);
            vec![
                json!(name),
                json!(num(&spec["replicas"])),
                json!(num(&st["replicas"])),
                json!(num(&st["readyReplicas"])),
                json!(age),
                json!(names),
                json!(images),
                json!(selector_text(&spec["selector"])),
            ]
        }
        "namespaces" => vec![json!(name), json!(none_if_empty(s(&st["phase"]))), json!(age)],
        "configmaps" => {
            let n = o["data"].as_object().map_or(0, |m| m.len()) + o["binaryData"].as_object().map_or(0, |m| m.len());
            vec![json!(name), json!(n), json!(age)]
        }
        "secrets" => {
            let n = o["data"].as_object().map_or(0, |m| m.len());
            vec![json!(name), json!(s(&o["type"])), json!(n), json!(age)]
        }
        "services" => {
            let ports = spec["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let proto = p["protocol"].as_str().unwrap_or("TCP");
                            match p.get("nodePort").and_then(Value::as_i64) {
                                Some(np) => format!("{}:{np}/{proto}", num(&p["port"])),
                                None => format!("{}/{proto}", num(&p["port"])),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let external = spec["externalIPs"]
                .as_array()
                .map(|a| a.iter().map(s).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            vec![
                json!(name),
                json!(spec["type"].as_str().unwrap_or("ClusterIP")),
                json!(none_if_empty(s(&spec["clusterIP"]))),
                json!(none_if_empty(external)),
                json!(none_if_empty(ports)),
                json!(age),
                json!(none_if_empty(selector_text(&spec["selector"]))),
            ]
        }
        "daemonsets" => {
            let (names, images) = containers(spec);
            let node_sel = spec.pointer("/template/spec/nodeSelector").map(selector_text).unwrap_or_default();
            vec![
                json!(name),
                json!(num(&st["desiredNumberScheduled"])),
                json!(num(&st["currentNumberScheduled"])),
                json!(num(&st["numberReady"])),
                json!(num(&st["updatedNumberScheduled"])),
                json!(num(&st["numberAvailable"])),
                json!(none_if_empty(node_sel)),
                json!(age),
                json!(names),
                json!(images),
                json!(selector_text(&spec["selector"])),
            ]
        }
        "statefulsets" => {
            let (names, images) = containers(spec);
            let desired = spec["replicas"].as_i64().unwrap_or(1);
            vec![
                json!(name),
                json!(format!("{}/{desired}", num(&st["readyReplicas"]))),
                json!(age),
                json!(names),
                json!(images),
            ]
        }
        "jobs" => {
            let (names, images) = containers(spec);
            let completions = match spec["completions"].as_i64() {
                Some(c) => format!("{}/{c}", num(&st["succeeded"])),
                None => format!("{}/1 of {}", num(&st["succeeded"]), spec["parallelism"].as_i64().unwrap_or(1)),
            };
            let duration = match (st["startTime"].as_str(), st["completionTime"].as_str()) {
                (Some(start), Some(end)) => {
                    crate::meta::parse_rfc3339(end).map(|e| self::age(start, e)).unwrap_or_default()
                }
                (Some(start), None) => self::age(start, now),
                _ => String::new(),
            };
            vec![
                json!(name),
                json!(job_status(st)),
                json!(completions),
                json!(duration),
                json!(age),
                json!(names),
                json!(images),
                json!(selector_text(&spec["selector"])),
            ]
        }
        "cronjobs" => {
            let tmpl = &spec["jobTemplate"]["spec"];
            let (names, images) = containers(tmpl);
            let last = st["lastScheduleTime"].as_str().map(|t| self::age(t, now)).unwrap_or_else(|| "<none>".into());
            vec![
                json!(name),
                json!(s(&spec["schedule"])),
                json!(none_if_empty(s(&spec["timeZone"]))),
                json!(spec["suspend"].as_bool().unwrap_or(false).to_string().to_lowercase()),
                json!(st["active"].as_array().map_or(0, Vec::len)),
                json!(last),
                json!(age),
                json!(names),
                json!(images),
                json!(none_if_empty(selector_text(&tmpl["selector"]))),
            ]
        }
        "horizontalpodautoscalers" => {
            let target = &spec["scaleTargetRef"];
            let targets = joined(&spec["metrics"], |m| {
                let t = &m["resource"]["target"];
                match t["averageUtilization"].as_i64() {
                    Some(u) => format!("{}: <unknown>/{u}%", s(&m["resource"]["name"])),
                    None => format!("{}: <unknown>/{}", s(&m["resource"]["name"]), s(&t["averageValue"])),
                }
            });
            vec![
                json!(name),
                json!(format!("{}/{}", s(&target["kind"]), s(&target["name"]))),
                json!(none_if_empty(targets)),
                json!(spec["minReplicas"].as_i64().unwrap_or(1)),
                json!(num(&spec["maxReplicas"])),
                json!(num(&st["currentReplicas"])),
                json!(age),
            ]
        }
        "endpoints" => vec![json!(name), json!(none_if_empty(endpoint_addresses(o))), json!(age)],
        "endpointslices" => {
            let ports = joined(&o["ports"], |p| num(&p["port"]).to_string());
            let eps = o["endpoints"]
                .as_array()
                .map(|es| {
                    es.iter()
                        .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
                        .map(|a| s(&a))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                json!(name),
                json!(s(&o["addressType"])),
                json!(none_if_empty(ports)),
                json!(none_if_empty(eps)),
                json!(age),
            ]
        }
        "serviceaccounts" => vec![json!(name), json!(o["secrets"].as_array().map_or(0, Vec::len)), json!(age)],
        "events" => {
            let last = ["lastTimestamp", "eventTime", "firstTimestamp"]
                .iter()
                .find_map(|k| o[*k].as_str())
                .or(o["metadata"]["creationTimestamp"].as_str())
                .map(|t| self::age(t, now))
                .unwrap_or_default();
            let obj = &o["involvedObject"];
            vec![
                json!(last),
                json!(s(&o["type"])),
                json!(s(&o["reason"])),
                json!(format!("{}/{}", s(&obj["kind"]).to_lowercase(), s(&obj["name"]))),
                json!(s(&o["message"])),
            ]
        }
        "persistentvolumeclaims" => vec![
            json!(name),
            json!(s(&st["phase"])),
            json!(s(&spec["volumeName"])),
            json!(s(&st["capacity"]["storage"])),
            json!(access_modes(&st["accessModes"])),
            json!(none_if_empty(s(&spec["storageClassName"]))),
            json!(age),
        ],
        "persistentvolumes" => {
            let claim = &spec["claimRef"];
            let claim = if claim.is_object() {
                format!("{}/{}", s(&claim["namespace"]), s(&claim["name"]))
            } else {
                String::new()
            };
            vec![
                json!(name),
                json!(s(&spec["capacity"]["storage"])),
                json!(access_modes(&spec["accessModes"])),
                json!(s(&spec["persistentVolumeReclaimPolicy"])),
                json!(s(&st["phase"])),
                json!(claim),
                json!(s(&spec["storageClassName"])),
                json!(age),
            ]
        }
        "leases" => vec![json!(name), json!(s(&spec["holderIdentity"])), json!(age)],
        "poddisruptionbudgets" => vec![
            json!(name),
            json!(if spec.get("minAvailable").is_some() { s(&spec["minAvailable"]) } else { "N/A".into() }),
            json!(if spec.get("maxUnavailable").is_some() { s(&spec["maxUnavailable"]) } else { "N/A".into() }),
            json!(num(&st["disruptionsAllowed"])),
            json!(age),
        ],
        "priorityclasses" => vec![
            json!(name),
            json!(num(&o["value"])),
            json!(o["globalDefault"].as_bool().unwrap_or(false)),
            json!(age),
            json!(o["preemptionPolicy"].as_str().unwrap_or("PreemptLowerPriority")),
        ],
        "controllerrevisions" => vec![json!(name), json!(owner_kind_name(o)), json!(num(&o["revision"])), json!(age)],
        "customresourcedefinitions" => vec![json!(name), json!(s(&o["metadata"]["creationTimestamp"]))],
        _ => vec![json!(name), json!(age)],
    }
}

/// Access modes abbreviated as kubectl shows them (RWO, ROX, RWX, RWOP).
fn access_modes(v: &Value) -> String {
    joined(v, |m| {
        match m.as_str().unwrap_or("") {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            _ => "",
        }
        .to_string()
    })
}

fn partial(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
}

fn column_definitions(r: &Resource) -> Value {
    json!(columns(r)
        .iter()
        .map(|c| json!({
            "name": c.name,
            "type": c.kind,
            "format": if c.name == "Name" { "name" } else { "" },
            "description": "",
            "priority": c.priority,
        }))
        .collect::<Vec<_>>())
}

/// A custom kind's columns: Name and what its definition lists
/// (`additionalPrinterColumns`, Age when it lists none).
fn custom_columns(c: &crate::crd::Custom) -> Value {
    let mut cols = vec![json!({"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0})];
    cols.extend(c.columns.iter().map(|col| {
        json!({"name": col.name, "type": col.kind, "format": col.format, "description": col.description, "priority": col.priority})
    }));
    json!(cols)
}

fn custom_cells(c: &crate::crd::Custom, o: &Value, now: i64) -> Vec<Value> {
    let mut out = vec![o["metadata"]["name"].clone()];
    for col in &c.columns {
        let v = crate::crd::at_path(o, &col.json_path).cloned().unwrap_or(Value::Null);
        out.push(match (col.kind.as_str(), &v) {
            // Dates print as ages, as kube-apiserver does for custom kinds.
            ("date", Value::String(t)) => json!(age(t, now)),
            (_, Value::Array(_) | Value::Object(_)) => json!(v.to_string()),
            _ => v,
        });
    }
    out
}

/// A Table of `objects`; `headers` false leaves the column definitions out
/// (every watch event after the first, as the real server does).
pub fn table(r: &Resource, objects: &[Value], resource_version: &str, cont: Option<&str>, headers: bool) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let cells_of = |o: &Value| match r.custom {
        Some(c) => custom_cells(c, o, now),
        None => cells(r, o, now),
    };
    let rows: Vec<Value> = objects.iter().map(|o| json!({"cells": cells_of(o), "object": partial(o)})).collect();
    let mut meta = json!({ "resourceVersion": resource_version });
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": match (headers, r.custom) {
            (false, _) => Value::Null,
            (true, Some(c)) => custom_columns(c),
            (true, None) => column_definitions(r),
        },
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;

    #[test]
    fn ages_read_like_kubectl() {
        let t = |s: i64| age(&crate::meta::rfc3339(1_000_000 - s), 1_000_000);
        assert_eq!(t(5), "5s");
        assert_eq!(t(150), "2m30s");
        assert_eq!(t(3600), "60m");
        assert_eq!(t(4 * 3600), "4h");
        assert_eq!(t(3 * 86400), "3d");
    }

    #[test]
    fn pod_rows_show_readiness_and_carry_metadata() {
        let pods = find("", "v1", "pods").unwrap();
        let p = json!({"metadata": {"name": "web-0", "namespace": "d", "labels": {"app": "web"}, "creationTimestamp": crate::meta::now_rfc3339()},
                       "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
                       "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [{"ready": true, "restartCount": 2}, {"ready": false}]}});
        let t = table(pods, &[p], "7", None, true);
        assert_eq!(t["rows"][0]["cells"][1], "1/2");
        assert_eq!(t["rows"][0]["cells"][3], 2);
        assert_eq!(t["rows"][0]["object"]["metadata"]["labels"]["app"], "web");
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
        assert!(wanted("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
        assert!(!wanted("application/json"));
    }
}
