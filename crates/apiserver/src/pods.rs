//! What a pod's subresources do beyond storage: `binding` (a scheduler
//! assigns the pod to a node), `eviction` (a pod deleted only as its
//! PodDisruptionBudget allows; `kubectl drain`), and the ones a node serves
//! (`log`, `exec`, `attach`, `portforward`), which go to the node agent of
//! the pod's node.

use std::sync::Arc;

use serde_json::{json, Value};
use store::{Backend, ListOptions};

use crate::resources::{self, Sub};
use crate::rest::{self, DeleteOptions, Target};
use crate::selector::LabelSelector;
use crate::status::{ApiError, ApiResult};

/// The `Status` a successful binding or eviction answers with.
fn success() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

/// A subresource body of the expected kind, naming the pod of the URL.
fn check_body(t: &Target, body: &Value, versions: &[&str], kind: &str) -> ApiResult<()> {
    let (av, k) = (body["apiVersion"].as_str().unwrap_or(versions[0]), body["kind"].as_str().unwrap_or(kind));
    if k != kind || !versions.contains(&av) {
        return Err(ApiError::bad_request(format!("the body is a {av} {k}, not the {} {kind} expected", versions[0])));
    }
    match body["metadata"]["name"].as_str() {
        Some(n) if !n.is_empty() && Some(n) != t.name.as_deref() => {
            Err(ApiError::bad_request(format!("name in URL does not match name in {kind} object")))
        }
        _ => Ok(()),
    }
}

/// POST pods/NAME/binding: sets `spec.nodeName` once, marks the pod
/// scheduled and copies the binding's annotations, as kube-apiserver does.
pub async fn bind(store: &dyn Backend, t: &Target, binding: &Value, dry_run: bool) -> ApiResult<Value> {
    check_body(t, binding, &["v1"], "Binding")?;
    let name = t.name.as_deref().unwrap_or("");
    let target = &binding["target"];
    let node = target["name"].as_str().unwrap_or("");
    let mut causes = Vec::new();
    if node.is_empty() {
        causes.push(("target.name".to_string(), "Required value".to_string()));
    }
    if let Some(k) = target["kind"].as_str().filter(|k| !k.is_empty() && *k != "Node") {
        causes.push(("target.kind".to_string(), format!("Invalid value: {k:?}: must be empty or 'Node'")));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("Binding", name, causes));
    }
    let assign = |cur: &Value| -> ApiResult<Value> {
        if cur["metadata"].get("deletionTimestamp").is_some() {
            return Err(conflict(name, format!("pod {name} is being deleted, cannot be assigned to a host")));
        }
        if let Some(n) = cur["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(conflict(name, format!("pod {name} is already assigned to node {n:?}")));
        }
        let mut pod = cur.clone();
        pod["spec"]["nodeName"] = json!(node);
        if let Some(a) = binding["metadata"]["annotations"].as_object().filter(|a| !a.is_empty()) {
            if !pod["metadata"]["annotations"].is_object() {
                pod["metadata"]["annotations"] = json!({});
            }
            for (k, v) in a {
                pod["metadata"]["annotations"][k] = v.clone();
            }
        }
        set_condition(
            &mut pod,
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                                       "lastTransitionTime": crate::meta::now_rfc3339()}),
        );
        Ok(pod)
    };
    if dry_run {
        assign(&rest::get(store, t).await?)?;
    } else {
        rest::modify_internal(store, t, assign).await?;
    }
    Ok(success())
}

fn conflict(name: &str, message: String) -> ApiError {
    let mut e = ApiError::conflict("pods", name);
    e.message = format!("Operation cannot be fulfilled on pods/binding {name:?}: {message}");
    e
}

/// Replaces the condition of the same type in `status.conditions`.
fn set_condition(pod: &mut Value, c: Value) {
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let mut list: Vec<Value> = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
    list.retain(|x| x["type"] != c["type"]);
    list.push(c);
    pod["status"]["conditions"] = Value::Array(list);
}

/// POST pods/NAME/eviction: deletes the pod unless that would break its
/// PodDisruptionBudget (429, as kube-apiserver answers, so that `kubectl
/// drain` retries). A budget allows what its `status.disruptionsAllowed`
/// says (kept by the disruption controller); each eviction uses one up.
pub async fn evict(store: &Arc<dyn Backend>, t: &Target, eviction: &Value, dry_run: bool) -> ApiResult<Value> {
    check_body(t, eviction, &["policy/v1", "policy/v1beta1"], "Eviction")?;
    let opts: DeleteOptions = match eviction.get("deleteOptions").filter(|o| !o.is_null()) {
        Some(o) => serde_json::from_value(o.clone())
            .map_err(|e| ApiError::bad_request(format!("invalid deleteOptions in the Eviction: {e}")))?,
        None => DeleteOptions::default(),
    };
    let dry_run = dry_run || opts.dry_run.as_ref().is_some_and(|d| d.iter().any(|x| x == "All"));
    let pod = rest::get(store.as_ref(), t).await?;
    // As kube-apiserver: a pod that is done, not yet running or already
    // going counts against no budget.
    let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
    let exempt =
        matches!(phase, "Succeeded" | "Failed" | "Pending") || pod["metadata"].get("deletionTimestamp").is_some();
    if !exempt {
        take_budget(store.as_ref(), t, &pod, dry_run).await?;
    }
    rest::delete(store, t, &opts, dry_run).await?;
    Ok(success())
}

async fn take_budget(store: &dyn Backend, t: &Target, pod: &Value, dry_run: bool) -> ApiResult<()> {
    let pdbs = resources::find("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::internal("no poddisruptionbudgets resource"))?;
    let ns = t.namespace.as_deref().unwrap_or("");
    let listed = store.list(&format!("{}{ns}/", pdbs.prefix()), ListOptions::default()).await?;
    let labels = &pod["metadata"]["labels"];
    let mut matching = Vec::new();
    for kv in listed.items {
        let pdb: Value = serde_json::from_slice(&kv.value)
            .map_err(|e| ApiError::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
        // A budget without a selector selects nothing (policy/v1).
        let Some(sel) = pdb["spec"].get("selector").filter(|s| s.is_object()) else { continue };
        if LabelSelector::from_object(sel)?.matches(labels) {
            matching.push(pdb);
        }
    }
    let pdb = match matching.as_slice() {
        [] => return Ok(()),
        [one] => one,
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ))
        }
    };
    let pdb_name = pdb["metadata"]["name"].as_str().unwrap_or("").to_string();
    let refuse = |cause: String| {
        ApiError::too_many_requests("Cannot evict pod as it would violate the pod's disruption budget.")
            .with_details(json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]}))
    };
    let status = &pdb["status"];
    if status["observedGeneration"].as_i64().unwrap_or(0) < pdb["metadata"]["generation"].as_i64().unwrap_or(1) {
        return Err(refuse(format!("The disruption budget {pdb_name} is still being processed by the server.")));
    }
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed < 0 {
        return Err(ApiError::forbidden("pdb disruptions allowed is negative"));
    }
    if allowed == 0 {
        return Err(refuse(format!(
            "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
            status["desiredHealthy"].as_i64().unwrap_or(0),
            status["currentHealthy"].as_i64().unwrap_or(0)
        )));
    }
    if dry_run {
        return Ok(());
    }
    let budget = Target { r: pdbs, namespace: t.namespace.clone(), name: Some(pdb_name.clone()) };
    let pod_name = t.name.clone().unwrap_or_default();
    rest::modify_internal(store, &budget, |cur| {
        // Other evictions may have used the budget up meanwhile.
        let left = cur["status"]["disruptionsAllowed"].as_i64().unwrap_or(0);
        if left <= 0 {
            return Err(refuse(format!("The disruption budget {pdb_name} allows no more disruptions now")));
        }
        let mut n = cur.clone();
        n["status"]["disruptionsAllowed"] = json!(left - 1);
        if !n["status"]["disruptedPods"].is_object() {
            n["status"]["disruptedPods"] = json!({});
        }
        n["status"]["disruptedPods"][&pod_name] = json!(crate::meta::now_rfc3339());
        Ok(n)
    })
    .await
    .map(drop)
}

/// `log`, `exec`, `attach` and `portforward` are served by the node agent
/// of the pod's node. A pod on no node has none to ask (kube-apiserver's
/// 400); a node whose agent is not connected cannot answer (503).
pub async fn node_served(store: &dyn Backend, t: &Target, sub: Sub) -> ApiError {
    let pod = match rest::get(store, t).await {
        Ok(p) => p,
        Err(e) => return e,
    };
    let name = t.name.as_deref().unwrap_or("");
    let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
        return ApiError::bad_request(format!("pod {name} does not have a host assigned"));
    };
    ApiError::service_unavailable(format!(
        "the {} of pod {name} is served by the node agent of node {node:?}, and no node agent is connected for it",
        sub.name()
    ))
}
