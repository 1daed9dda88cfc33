//! Server-side apply field ownership (`metadata.managedFields`), modelled on
//! structured-merge-diff but over plain JSON: which lists merge by key comes
//! from the built-in types' `x-kubernetes-list-*` markers ([`list_keys`]).
//! Everything here is a pure function of the objects it is given.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

/// One field owned by another manager whose value the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The field manager that owns the field now.
    pub manager: String,
    /// The owner's apiVersion, or empty when the owner is an applier: kube-apiserver
    /// identifies appliers without a version, so their conflicts print none.
    pub api_version: String,
    /// The field's path as kube-apiserver prints it (`.spec.replicas`,
    /// `.spec.containers[name="app"].image`).
    pub field: String,
}

/// Who is writing (see the module's callers for how the fields are filled).
pub struct Writer<'a> {
    /// The field manager (the request's `fieldManager`, or one derived
    /// from its User-Agent): the name ownership is recorded under.
    pub manager: &'a str,
    /// The apiVersion the writer used, recorded with its entry.
    pub api_version: &'a str,
    /// The subresource written through (`status`), if any: an entry per
    /// subresource, and a status write owns only what is under `status`.
    pub subresource: Option<&'a str>,
    /// When, as RFC 3339: the entry's `time`.
    pub time: &'a str,
}

/// How a list's items are identified, as the built-in types declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `x-kubernetes-list-type: map`: items are identified by these keys
    /// and owned one by one.
    Map(&'static [&'static str]),
    /// `set`: scalar items, each owned on its own.
    Set,
    /// `atomic`: the whole list is owned, and replaced, as one value.
    Atomic,
}

/// The list type of field `field`, `sample` being one of its items (the only way
/// to tell a container's ports from a Service's without a schema).
pub fn list_keys(field: &str, sample: &Value) -> ListKind {
    match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            ListKind::Map(&["name"])
        }
        "readinessGates" => ListKind::Map(&["conditionType"]),
        "hostAliases" => ListKind::Map(&["ip"]),
        "volumeMounts" => ListKind::Map(&["mountPath"]),
        "volumeDevices" => ListKind::Map(&["devicePath"]),
        "conditions" => ListKind::Map(&["type"]),
        "ownerReferences" => ListKind::Map(&["uid"]),
        "topologySpreadConstraints" => ListKind::Map(&["topologyKey", "whenUnsatisfiable"]),
        "ports" if sample.get("containerPort").is_some() => ListKind::Map(&["containerPort", "protocol"]),
        "ports" => ListKind::Map(&["port", "protocol"]),
        "finalizers" => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// Label selectors are atomic in k8s: whoever sets one owns it whole.
fn atomic_map(field: &str) -> bool {
    matches!(field, "selector" | "labelSelector" | "namespaceSelector")
}

/// Metadata the server keeps itself, so nobody owns it.
#[rustfmt::skip]
const UNTRACKED_META: &[&str] = &["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"];

/// Where an object sits; `Root(true)` is the root of a status-subresource write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pos {
    Root(bool),
    Meta,
    Inner,
}

impl Pos {
    fn of(w: &Writer) -> Self {
        Pos::Root(w.subresource == Some("status"))
    }

    fn tracks(self, key: &str) -> bool {
        match self {
            Pos::Root(status) => key != "apiVersion" && key != "kind" && (key == "status") == status,
            Pos::Meta => !UNTRACKED_META.contains(&key),
            Pos::Inner => true,
        }
    }

    fn child(self, key: &str) -> Self {
        if matches!(self, Pos::Root(_)) && key == "metadata" {
            Pos::Meta
        } else {
            Pos::Inner
        }
    }
}

/// A field set: a tree of path elements (`f:`, `k:`, `v:` keys as in fieldsV1),
/// `member` marking the paths that are in the set themselves.
#[derive(Debug, Clone, Default, PartialEq)]
struct Set {
    member: bool,
    children: BTreeMap<String, Set>,
}

impl Set {
    fn leaf() -> Self {
        Set { member: true, children: BTreeMap::new() }
    }

    fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    fn insert(&mut self, key: String, child: Set) {
        if !child.is_empty() {
            self.children.insert(key, child);
        }
    }

    fn parse(v: &Value) -> Self {
        let Value::Object(m) = v else { return Set::leaf() };
        let mut s = Set { member: m.is_empty() || m.contains_key("."), children: BTreeMap::new() };
        for (k, c) in m.iter().filter(|(k, _)| *k != ".") {
            s.children.insert(k.clone(), Set::parse(c));
        }
        s
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_value());
        }
        Value::Object(m)
    }

    fn union(&mut self, other: &Set) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.children.entry(k.clone()).or_default().union(c);
        }
    }

    /// Removes `other`'s members; with `whole`, also what lies below them (a value
    /// that is gone takes the ownership of its insides with it).
    fn remove(&mut self, other: &Set, whole: bool) {
        self.member &= !other.member;
        for (k, c) in &other.children {
            if let Some(mine) = self.children.get_mut(k) {
                if whole && c.member {
                    mine.children.clear();
                }
                mine.remove(c, whole);
                if mine.is_empty() {
                    self.children.remove(k);
                }
            }
        }
    }

    fn intersection(&self, other: &Set) -> Set {
        let mut s = Set { member: self.member && other.member, children: BTreeMap::new() };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                s.insert(k.clone(), c.intersection(o));
            }
        }
        s
    }

    /// The members as kube-apiserver prints paths: `.spec.ports[port=80,protocol="TCP"]`.
    fn paths(&self, prefix: &str, out: &mut Vec<String>) {
        if self.member {
            out.push(prefix.to_string());
        }
        for (k, c) in &self.children {
            c.paths(&format!("{prefix}{}", print_element(k)), out);
        }
    }
}

fn print_element(k: &str) -> String {
    if let Some(name) = k.strip_prefix("f:") {
        return format!(".{name}");
    }
    if let Some(v) = k.strip_prefix("v:") {
        return format!("[={v}]");
    }
    if let Some(Ok(Value::Object(keys))) = k.strip_prefix("k:").map(serde_json::from_str::<Value>) {
        // serde_json's map iterates sorted, which is the order k8s prints keys in.
        return format!("[{}]", keys.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(","));
    }
    format!("[{k}]")
}

fn key_value(item: &Value, name: &str) -> Option<Value> {
    match item.get(name) {
        Some(v) => Some(v.clone()),
        // k8s defaults the protocol before keying, so an omitted one is TCP.
        None if name == "protocol" => Some(Value::from("TCP")),
        None => None,
    }
}

/// The fieldsV1 keys of a list's items, or None when the list is to be treated as
/// atomic: declared so, or an item lacks or repeats its key (SMD would reject it).
fn keyed(kind: ListKind, items: &[Value]) -> Option<Vec<(String, &Value)>> {
    let keyed: Vec<(String, &Value)> = match kind {
        ListKind::Map(names) => items
            .iter()
            .map(|i| {
                let key = names.iter().map(|n| Some((*n, key_value(i, n)?))).collect::<Option<BTreeMap<_, _>>>()?;
                Some((format!("k:{}", serde_json::to_string(&key).ok()?), i))
            })
            .collect::<Option<_>>()?,
        ListKind::Set if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(|i| (format!("v:{i}"), i)).collect()
        }
        _ => return None,
    };
    let unique: BTreeSet<&String> = keyed.iter().map(|(k, _)| k).collect();
    (unique.len() == keyed.len()).then_some(keyed)
}

fn kind_of(field: &str, a: &[Value], b: &[Value]) -> ListKind {
    list_keys(field, b.first().or(a.first()).unwrap_or(&Value::Null))
}

fn item_matches(item: &Value, pk: &str) -> bool {
    if let Some(v) = pk.strip_prefix("v:") {
        return serde_json::from_str::<Value>(v).is_ok_and(|v| &v == item);
    }
    match pk.strip_prefix("k:").map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(keys))) => keys.iter().all(|(n, want)| key_value(item, n).as_ref() == Some(want)),
        _ => false,
    }
}

/// The field set an object claims: its leaves, atomic values, list items and empty maps.
fn obj_set(m: &Map<String, Value>, pos: Pos) -> Set {
    let mut s = Set::default();
    for (k, v) in m.iter().filter(|(k, _)| pos.tracks(k)) {
        s.insert(format!("f:{k}"), value_set(k, v, pos.child(k)));
    }
    s
}

fn value_set(field: &str, v: &Value, pos: Pos) -> Set {
    match v {
        Value::Object(m) if !m.is_empty() && !atomic_map(field) => obj_set(m, pos),
        Value::Array(items) if !items.is_empty() => match keyed(kind_of(field, &[], items), items) {
            Some(keyed) => Set { member: false, children: keyed.into_iter().map(|(k, i)| (k, item_set(i))).collect() },
            None => Set::leaf(),
        },
        _ => Set::leaf(),
    }
}

/// An item is owned itself (".") besides its fields, so that dropping it can remove it whole.
fn item_set(item: &Value) -> Set {
    let mut s = item.as_object().map(|m| obj_set(m, Pos::Inner)).unwrap_or_default();
    s.member = true;
    s
}

/// What changed from `old` to `new`: (added or modified, removed), the latter as the
/// roots of the removed values.
fn diff_obj(old: &Map<String, Value>, new: &Map<String, Value>, pos: Pos) -> (Set, Set) {
    let (mut changed, mut removed) = (Set::default(), Set::default());
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).filter(|k| pos.tracks(k)).collect();
    for k in keys {
        let (c, r) = match (old.get(k), new.get(k)) {
            (Some(o), Some(n)) => diff_value(k, o, n, pos.child(k)),
            (None, Some(n)) => (value_set(k, n, pos.child(k)), Set::default()),
            _ => (Set::default(), Set::leaf()),
        };
        changed.insert(format!("f:{k}"), c);
        removed.insert(format!("f:{k}"), r);
    }
    (changed, removed)
}

fn diff_value(field: &str, o: &Value, n: &Value, pos: Pos) -> (Set, Set) {
    match (o, n) {
        (Value::Object(a), Value::Object(b)) if !atomic_map(field) => return diff_obj(a, b, pos),
        (Value::Array(a), Value::Array(b)) => {
            let kind = kind_of(field, a, b);
            if let (Some(ka), Some(kb)) = (keyed(kind, a), keyed(kind, b)) {
                return diff_items(ka, kb);
            }
        }
        _ => {}
    }
    if o == n {
        (Set::default(), Set::default())
    } else {
        // The old value goes as a whole (with what was owned inside it) and the new one comes.
        (value_set(field, n, pos), Set::leaf())
    }
}

fn diff_items(old: Vec<(String, &Value)>, new: Vec<(String, &Value)>) -> (Set, Set) {
    let (mut changed, mut removed) = (Set::default(), Set::default());
    let new_keys: BTreeSet<&String> = new.iter().map(|(k, _)| k).collect();
    let old: BTreeMap<String, &Value> = old.into_iter().collect();
    for (k, n) in &new {
        match (old.get(k), n) {
            (Some(Value::Object(a)), Value::Object(b)) => {
                let (c, r) = diff_obj(a, b, Pos::Inner);
                changed.insert(k.clone(), c);
                removed.insert(k.clone(), r);
            }
            (Some(_), _) => {}
            (None, _) => changed.insert(k.clone(), item_set(n)),
        }
    }
    for k in old.keys().filter(|k| !new_keys.contains(k)) {
        removed.insert(k.clone(), Set::leaf());
    }
    (changed, removed)
}

fn diff_root(old: &Value, new: &Value, pos: Pos) -> (Set, Set) {
    let empty = Map::new();
    diff_obj(old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty), pos)
}

/// Merges an applied configuration into the live object: maps field by field,
/// keyed lists item by item (new items appended), sets by union, the rest replaced.
fn merge_obj(live: &mut Map<String, Value>, applied: &Map<String, Value>, pos: Pos) {
    for (k, av) in applied.iter().filter(|(k, _)| pos.tracks(k)) {
        match live.get_mut(k) {
            Some(lv) => merge_value(k, lv, av, pos.child(k)),
            None => {
                live.insert(k.clone(), av.clone());
            }
        }
    }
}

fn merge_value(field: &str, live: &mut Value, applied: &Value, pos: Pos) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !atomic_map(field) => merge_obj(l, a, pos),
        (Value::Array(l), Value::Array(a)) => {
            let kind = kind_of(field, l, a);
            let live_keys = keyed(kind, l).map(|k| k.into_iter().map(|(k, _)| k).collect::<Vec<_>>());
            match (live_keys, keyed(kind, a)) {
                (Some(live_keys), Some(applied)) => {
                    for (k, item) in applied {
                        match live_keys.iter().position(|lk| *lk == k) {
                            Some(i) => merge_value(field, &mut l[i], item, Pos::Inner),
                            None => l.push(item.clone()),
                        }
                    }
                }
                _ => *l = a.clone(),
            }
        }
        (slot, a) => *slot = a.clone(),
    }
}

/// Removes from `v` the members of `drop` that nothing in `keep` (owned paths)
/// lies at or below; `protect` are the key fields of the item `v` is.
fn prune(v: &mut Value, drop: &Set, keep: Option<&Set>, protect: &[String]) {
    for (pk, d) in &drop.children {
        if pk.strip_prefix("f:").is_some_and(|n| protect.iter().any(|p| p == n)) {
            continue;
        }
        let kept = keep.and_then(|k| k.children.get(pk));
        if d.member && kept.is_none() {
            match (pk.strip_prefix("f:"), &mut *v) {
                (Some(name), Value::Object(m)) => {
                    m.remove(name);
                }
                (None, Value::Array(items)) => items.retain(|i| !item_matches(i, pk)),
                _ => {}
            }
            continue;
        }
        let child = match pk.strip_prefix("f:") {
            Some(name) => v.as_object_mut().and_then(|m| m.get_mut(name)),
            None => v.as_array_mut().and_then(|items| items.iter_mut().find(|i| item_matches(i, pk))),
        };
        let item_keys: Vec<String> = match pk.strip_prefix("k:").map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(keys))) => keys.keys().cloned().collect(),
            _ => Vec::new(),
        };
        if let Some(child) = child {
            prune(child, d, kept, &item_keys);
        }
    }
}

/// One managedFields entry.
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    set: Set,
}

impl Entry {
    fn new(w: &Writer, operation: &str, set: Set) -> Self {
        Entry {
            manager: w.manager.into(),
            operation: operation.into(),
            api_version: w.api_version.into(),
            time: Some(w.time.into()),
            subresource: w.subresource.map(Into::into),
            set,
        }
    }

    fn parse(v: &Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let mut set = v.get("fieldsV1").map(Set::parse).unwrap_or_default();
        set.member = false;
        Entry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation").unwrap_or_default(),
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource"),
            set,
        }
    }

    fn to_value(&self) -> Value {
        let mut v = json!({"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
            "fieldsType": "FieldsV1", "fieldsV1": self.set.to_value()});
        for (k, opt) in [("time", &self.time), ("subresource", &self.subresource)] {
            if let Some(s) = opt {
                v[k] = s.as_str().into();
            }
        }
        v
    }

    fn is(&self, w: &Writer, operation: &str) -> bool {
        self.manager == w.manager && self.operation == operation && self.subresource.as_deref() == w.subresource
    }
}

fn parse_entries(list: Option<&Value>) -> Vec<Entry> {
    list.and_then(Value::as_array).map(|a| a.iter().map(Entry::parse).collect()).unwrap_or_default()
}

/// Stores the entries that still own something (none: no managedFields at all).
fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries.iter().filter(|e| !e.set.is_empty()).map(Entry::to_value).collect();
    let Some(root) = obj.as_object_mut() else { return };
    if list.is_empty() {
        if let Some(Value::Object(meta)) = root.get_mut("metadata") {
            meta.remove("managedFields");
        }
    } else if let Value::Object(meta) = root.entry("metadata").or_insert_with(|| Value::Object(Map::new())) {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Server-side apply. `live` is the stored object (None: it does not exist yet, the result will be created),
/// `applied` the applied configuration (a full object with apiVersion/kind/metadata.name...).
/// Returns the new object (with metadata.managedFields updated) or the conflicts (when !force).
pub fn apply(live: Option<&Value>, applied: &Value, w: &Writer, force: bool) -> Result<Value, Vec<Conflict>> {
    let pos = Pos::of(w);
    let set = applied.as_object().map(|m| obj_set(m, pos)).unwrap_or_default();
    let Some(live) = live else {
        let mut created = applied.clone();
        write_entries(&mut created, &[Entry::new(w, "Apply", set)]);
        return Ok(created);
    };
    let mut entries = parse_entries(live.pointer("/metadata/managedFields"));
    let mine = entries.iter().position(|e| e.is(w, "Apply"));
    let mut result = live.clone();
    if let (Value::Object(r), Value::Object(a)) = (&mut result, applied) {
        merge_obj(r, a, pos);
    }

    // What this applier stopped applying goes, unless someone (itself included) still owns it.
    let mut keep = set.clone();
    let mut dropped = Set::default();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == mine {
            dropped = e.set.clone();
        } else {
            keep.union(&e.set);
        }
    }
    dropped.remove(&set, false);
    prune(&mut result, &dropped, Some(&keep), &[]);

    // Only a changed value conflicts: applying what is already there shares the field.
    let (changed, removed) = diff_root(live, &result, pos);
    let mut conflicts = Vec::new();
    for e in entries.iter().enumerate().filter_map(|(i, e)| (Some(i) != mine).then_some(e)) {
        let mut paths = Vec::new();
        e.set.intersection(&changed).paths("", &mut paths);
        let api_version = if e.operation == "Apply" { String::new() } else { e.api_version.clone() };
        conflicts.extend(paths.into_iter().map(|field| Conflict {
            manager: e.manager.clone(),
            api_version: api_version.clone(),
            field,
        }));
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| (&a.manager, &a.api_version).cmp(&(&b.manager, &b.api_version)));
        return Err(conflicts);
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) != mine {
            e.set.remove(&changed, false);
            e.set.remove(&removed, true);
        }
    }
    let touched = result != *live;
    match mine {
        Some(i) => {
            let e = &mut entries[i];
            e.set = set;
            e.api_version = w.api_version.into();
            // Like kube-apiserver, a no-op apply leaves the timestamp alone.
            if touched {
                e.time = Some(w.time.into());
            }
        }
        None => entries.push(Entry::new(w, "Apply", set)),
    }
    write_entries(&mut result, &entries);
    Ok(result)
}

/// Records a non-apply write (see the crate's callers): `w` owns what it added or
/// changed relative to `old`, others lose it, and removed fields leave every set.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer) {
    let pos = Pos::of(w);
    let prior = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let mut entries = match new.pointer("/metadata/managedFields") {
        // As kube-apiserver: an empty list is a client that does not know
        // the field (keep what was there); `[{}]` is the documented way to
        // reset ownership (its empty entry parses to none). Subresource
        // writes cannot change ownership records.
        Some(Value::Array(sent)) if sent.is_empty() || w.subresource.is_some() => parse_entries(prior),
        Some(sent @ Value::Array(_)) if Some(sent) != prior => parse_entries(Some(sent)),
        _ => parse_entries(prior),
    };
    let empty = Value::Object(Map::new());
    let (changed, removed) = diff_root(old.unwrap_or(&empty), new, pos);
    let mine = entries.iter().position(|e| e.is(w, "Update"));
    for (i, e) in entries.iter_mut().enumerate() {
        e.set.remove(&removed, true);
        if Some(i) != mine {
            e.set.remove(&changed, false);
        }
    }
    // Like kube-apiserver, a write that took no field leaves the writer's entry as it was.
    if !changed.is_empty() {
        match mine {
            Some(i) => {
                let e = &mut entries[i];
                e.set.union(&changed);
                e.api_version = w.api_version.into();
                e.time = Some(w.time.into());
            }
            None => entries.push(Entry::new(w, "Update", changed)),
        }
    }
    write_entries(new, &entries);
}

/// The message of the 409 as kube-apiserver words it (managers sorted, paths grouped).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let who = |c: &Conflict| match c.api_version.as_str() {
        "" => format!("{:?}", c.manager),
        v => format!("{:?} using {v}", c.manager),
    };
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", who(c), c.field);
    }
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        groups.entry(who(c)).or_default().push(&c.field);
    }
    let mut lines = Vec::new();
    for (owner, fields) in groups {
        lines.push(format!("conflicts with {owner}:"));
        lines.extend(fields.iter().map(|f| format!("- {f}")));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-11-23T10:00:00Z";
    const T1: &str = "2026-11-23T11:00:00Z";

    fn by(manager: &str) -> Writer<'_> {
        Writer { manager, api_version: "apps/v1", subresource: None, time: T0 }
    }

    fn deploy(replicas: i64, labels: Value, containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default",
            "labels": labels}, "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}})
    }

    /// A Deployment applied by "kubectl" with one container "app".
    fn applied(replicas: i64, labels: Value) -> Value {
        let d = deploy(replicas, labels, json!([{"name": "app", "image": "nginx"}]));
        apply(None, &d, &by("kubectl"), false).unwrap()
    }

    fn entries(obj: &Value) -> Vec<Value> {
        obj.pointer("/metadata/managedFields").and_then(Value::as_array).cloned().unwrap_or_default()
    }

    fn fields(obj: &Value, manager: &str) -> Value {
        entries(obj).into_iter().find(|e| e["manager"] == manager).map_or(Value::Null, |e| e["fieldsV1"].clone())
    }

    #[test]
    fn field_set_has_the_fields_v1_shape() {
        let mut d = deploy(
            2,
            json!({"app": "web"}),
            json!([{"name": "app", "image": "nginx", "args": ["-v"],
            "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}]),
        );
        d["metadata"]["finalizers"] = json!(["foo"]);
        d["metadata"]["uid"] = json!("u1");
        d["status"] = json!({"replicas": 1});
        let created = apply(None, &d, &by("kubectl"), false).unwrap();
        let app = json!({".": {}, "f:name": {}, "f:image": {}, "f:args": {},
            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}},
            "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}});
        let want = json!({"f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"foo\"": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": app}}}}});
        assert_eq!(fields(&created, "kubectl"), want);
    }

    #[test]
    fn apply_creates_with_one_apply_entry() {
        let created = applied(2, json!({"app": "web"}));
        let mut want = deploy(2, json!({"app": "web"}), json!([{"name": "app", "image": "nginx"}]));
        want["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
            "time": T0, "fieldsType": "FieldsV1", "fieldsV1": fields(&created, "kubectl")}]);
        assert_eq!(created, want);
    }

    #[test]
    fn reapply_removes_what_the_applier_dropped() {
        let two = json!([{"name": "app", "image": "nginx"}, {"name": "side", "image": "busybox"}]);
        let live = apply(None, &deploy(2, json!({"app": "web", "tier": "fe"}), two), &by("kubectl"), false).unwrap();
        let one = json!([{"name": "app", "image": "nginx"}]);
        let next = apply(Some(&live), &deploy(2, json!({"app": "web"}), one.clone()), &by("kubectl"), false).unwrap();
        assert_eq!(
            (&next["metadata"]["labels"], &next["spec"]["template"]["spec"]["containers"]),
            (&json!({"app": "web"}), &one)
        );
        assert_eq!(fields(&next, "kubectl")["f:metadata"], json!({"f:labels": {"f:app": {}}}));
    }

    #[test]
    fn appliers_share_equal_values_and_conflict_on_different_ones() {
        let live = applied(2, json!({"app": "web"}));
        let mut other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
        let shared = apply(Some(&live), &other, &by("other"), false).unwrap();
        assert_eq!(fields(&shared, "kubectl")["f:spec"]["f:replicas"], json!({}));
        assert_eq!(fields(&shared, "other"), json!({"f:spec": {"f:replicas": {}}}));

        other["spec"]["replicas"] = json!(5);
        let conflicts = apply(Some(&live), &other, &by("other"), false).unwrap_err();
        let want = Conflict { manager: "kubectl".into(), api_version: String::new(), field: ".spec.replicas".into() };
        assert_eq!(conflicts, vec![want]);
        assert_eq!(
            conflict_message(&conflicts),
            r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#
        );

        let forced = apply(Some(&live), &other, &by("other"), true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 5);
        assert_eq!(fields(&forced, "kubectl")["f:spec"].get("f:replicas"), None);
        assert_eq!(fields(&forced, "other"), json!({"f:spec": {"f:replicas": {}}}));
    }

    #[test]
    fn conflicts_name_keyed_items_and_group_by_manager() {
        let mut live = deploy(2, json!({"app": "web"}), json!([{"name": "app", "image": "nginx"}]));
        record_update(None, &mut live, &by("kubectl-client-side-apply"));
        let next = deploy(3, json!({"app": "web"}), json!([{"name": "app", "image": "nginx:2"}]));
        let conflicts = apply(Some(&live), &next, &by("kubectl"), false).unwrap_err();
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
             - .spec.replicas\n- .spec.template.spec.containers[name=\"app\"].image"
        );
    }

    #[test]
    fn scaling_takes_replicas_from_the_applier() {
        let live = applied(2, json!({"app": "web"}));
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(4);
        let scaler = Writer { manager: "kubectl-scale", api_version: "apps/v1", subresource: Some("scale"), time: T1 };
        record_update(Some(&live), &mut scaled, &scaler);
        assert_eq!(
            entries(&scaled)[1],
            json!({"manager": "kubectl-scale", "operation": "Update", "apiVersion": "apps/v1",
            "time": T1, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}, "subresource": "scale"})
        );
        assert_eq!(fields(&scaled, "kubectl")["f:spec"].get("f:replicas"), None);

        let err =
            apply(Some(&scaled), &deploy(3, json!({"app": "web"}), json!([{"name": "app"}])), &by("kubectl"), false);
        let want = r#"Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas"#;
        assert_eq!(conflict_message(&err.unwrap_err()), want);
    }

    #[test]
    fn update_on_create_owns_every_field_it_set() {
        let mut d = deploy(2, json!({"app": "web"}), json!([{"name": "app", "image": "nginx"}]));
        d["status"] = json!({"replicas": 0});
        record_update(None, &mut d, &by("kubectl-create"));
        let want = json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}, "f:template": {"f:spec":
            {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}});
        assert_eq!(fields(&d, "kubectl-create"), want);
        assert_eq!(entries(&d)[0]["operation"], "Update");
    }

    #[test]
    fn removed_fields_leave_every_set_and_empty_managers_go() {
        let live = applied(2, json!({"app": "web", "x": "1"}));
        let mut labelled = live.clone();
        labelled["metadata"]["labels"]["y"] = json!("2");
        record_update(Some(&live), &mut labelled, &by("labeller"));
        assert_eq!(fields(&labelled, "labeller"), json!({"f:metadata": {"f:labels": {"f:y": {}}}}));

        let mut edited = labelled.clone();
        edited["metadata"]["labels"] = json!({"app": "web"});
        record_update(Some(&labelled), &mut edited, &by("kubectl-edit"));
        assert_eq!(fields(&edited, "kubectl")["f:metadata"], json!({"f:labels": {"f:app": {}}}));
        assert_eq!(entries(&edited).len(), 1);
    }

    #[test]
    fn sent_managed_fields_reset_only_with_an_empty_entry() {
        let live = applied(2, json!({"app": "web"}));
        let mut kept = live.clone();
        kept["metadata"].as_object_mut().unwrap().remove("managedFields");
        record_update(Some(&live), &mut kept, &by("kubectl-edit"));
        assert_eq!(entries(&kept), entries(&live));

        let mut unaware = live.clone();
        unaware["metadata"]["managedFields"] = json!([]);
        record_update(Some(&live), &mut unaware, &by("kubectl-edit"));
        assert_eq!(entries(&unaware), entries(&live), "an empty list is not a reset");

        let mut cleared = live.clone();
        cleared["metadata"]["managedFields"] = json!([{}]);
        record_update(Some(&live), &mut cleared, &by("kubectl-edit"));
        assert_eq!(cleared["metadata"].get("managedFields"), None);

        cleared["metadata"]["managedFields"] = json!([{}]);
        cleared["spec"]["replicas"] = json!(9);
        record_update(Some(&live), &mut cleared, &by("kubectl-edit"));
        assert_eq!(entries(&cleared).len(), 1);
        assert_eq!(fields(&cleared, "kubectl-edit"), json!({"f:spec": {"f:replicas": {}}}));
    }

    #[test]
    fn dropped_fields_owned_by_others_stay() {
        let live = applied(2, json!({"app": "web", "team": "a"}));
        let mut touched = live.clone();
        touched["metadata"]["labels"]["team"] = json!("b");
        touched["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        record_update(Some(&live), &mut touched, &by("editor"));
        let sidecar = json!([{"name": "side", "image": "busybox"}]);
        let next = apply(Some(&touched), &deploy(2, json!({"app": "web"}), sidecar), &by("kubectl"), false).unwrap();
        assert_eq!(next["metadata"]["labels"], json!({"app": "web", "team": "b"}));
        // The item stays, key included, since the editor still owns its image.
        let want = json!([{"name": "app", "image": "nginx:2"}, {"name": "side", "image": "busybox"}]);
        assert_eq!(next["spec"]["template"]["spec"]["containers"], want);
    }

    #[test]
    fn status_writes_track_only_status() {
        let live = applied(2, json!({"app": "web"}));
        let mut with_status = live.clone();
        with_status["status"] = json!({"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]});
        with_status["spec"]["replicas"] = json!(7);
        let ctl = Writer { manager: "controller", api_version: "apps/v1", subresource: Some("status"), time: T1 };
        record_update(Some(&live), &mut with_status, &ctl);
        let want = json!({"f:status": {"f:replicas": {}, "f:conditions": {"k:{\"type\":\"Available\"}":
            {".": {}, "f:type": {}, "f:status": {}}}}});
        assert_eq!(fields(&with_status, "controller"), want);

        let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1}, "status": {"replicas": 3}});
        assert_eq!(apply(Some(&with_status), &status, &ctl, false).unwrap_err()[0].field, ".status.replicas");
        let forced = apply(Some(&with_status), &status, &ctl, true).unwrap();
        assert_eq!((&forced["spec"]["replicas"], &forced["status"]["replicas"]), (&json!(7), &json!(3)));
    }

    #[test]
    fn set_lists_union_and_atomic_lists_replace() {
        let mut a = deploy(2, json!({}), json!([{"name": "app", "args": ["a"]}]));
        a["metadata"]["finalizers"] = json!(["x"]);
        let live = apply(None, &a, &by("one"), false).unwrap();
        let mut b = deploy(2, json!({}), json!([{"name": "app", "args": ["b", "c"]}]));
        b["metadata"]["finalizers"] = json!(["y"]);
        let merged = apply(Some(&live), &b, &by("two"), true).unwrap();
        assert_eq!(merged["metadata"]["finalizers"], json!(["x", "y"]));
        assert_eq!(merged["spec"]["template"]["spec"]["containers"][0]["args"], json!(["b", "c"]));
    }
}
