//! Runs a parsed Dockerfile: picks the stages the target needs (refusing
//! cycles), builds independent stages in parallel, and within a stage runs
//! each instruction against the stage's `State`, looking every layer step
//! up in the cache first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use engine::model::{Mount, NetworkAttachment};
use engine::{ContainerConfig, Engine, NetworkMode};
use image::digest::Hasher;
use image::manifest::{media, Compression, Descriptor, Manifest, Platform};
use image::registry::RegistryOptions;
use image::{Digest, ImageRecord, ImageStore, Reference};
use serde_json::{json, Value};

use crate::cache::{self, Cache};
use crate::copy::Target;
use crate::dockerfile::{self, Command, Copy as CopySpec, Dockerfile, Instr, Kind, MountKind, Stage};
use crate::error::{Error, Result};
use crate::layer::Staging;
use crate::progress::{Log, Step};
use crate::source::{self, Context, Layers, Source};
use crate::state::State;
use crate::view::View;

/// What `berth build` was asked.
pub struct Options<'a> {
    /// The build context, a directory (a tar on stdin is unpacked first).
    pub context: PathBuf,
    /// The Dockerfile's text and the name it goes by in messages.
    pub dockerfile: String,
    pub dockerfile_name: String,
    pub tags: Vec<Reference>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// Pull FROM images even when present.
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    /// RUN's network unless a step says otherwise: "default", "none",
    /// "host" or a user network's name.
    pub network: Option<String>,
    /// `HOST:IP` entries for RUN steps' /etc/hosts (`--add-host`).
    pub extra_hosts: Vec<String>,
    /// Progress lines (None: quiet).
    pub progress: Option<Box<dyn std::io::Write + Send + Sync>>,
    /// Progress of pulls of FROM images.
    pub pull_progress: &'a (dyn image::progress::Progress + Sync),
    pub registry: RegistryOptions,
    /// `.dockerignore` patterns (already read by the caller).
    pub ignore: crate::ignore::Ignore,
    /// Progress in the classic builder's style (the legacy build API's
    /// clients) rather than BuildKit's plain one.
    pub classic: bool,
}

/// What was built.
pub struct Built {
    pub record: ImageRecord,
    /// RUN steps executed (not cached): for tests and `-q` users alike.
    pub executed: usize,
}

/// Proxy variables every build knows without an ARG (docker's predefined
/// args), passed to RUN only when given with --build-arg.
const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Where a stage's base or a `--from` points.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ref {
    Stage(usize),
    Image(String),
    Scratch,
}

struct Plan {
    /// The stages to build, in an order where dependencies come first.
    order: Vec<usize>,
    /// Stage → stages it needs.
    deps: HashMap<usize, BTreeSet<usize>>,
    base: HashMap<usize, Ref>,
    global_args: BTreeMap<String, String>,
    target: usize,
}

struct Shared<'a> {
    root: PathBuf,
    launcher: engine::Launcher,
    opts: &'a Options<'a>,
    df: &'a Dockerfile,
    plan: &'a Plan,
    log: Arc<Log>,
    cache: Cache,
    context: Context,
    used_args: Mutex<BTreeSet<String>>,
    executed: Mutex<usize>,
    platform: Platform,
}

/// Builds the image and tags it.
pub fn build(root: &Path, launcher: engine::Launcher, mut opts: Options) -> Result<Built> {
    let log = Arc::new(Log::with_style(opts.progress.take(), opts.classic));
    let step = log.step(&format!("[internal] load build definition from {}", opts.dockerfile_name));
    let df = match dockerfile::parse(&opts.dockerfile) {
        Ok(df) => df,
        Err(e) => {
            let msg = format!("{}:{}: {}", opts.dockerfile_name, e.line, e.message);
            step.error(&msg);
            return Err(Error::Invalid(msg));
        }
    };
    for n in &df.notes {
        step.note(n);
    }
    step.done();
    let plan = plan(&df, &opts)?;
    log.set_total(plan.order.iter().map(|&i| df.stages[i].instructions.len() + 1).sum());
    let context = Context::open(&opts.context, std::mem::take(&mut opts.ignore))?;
    let platform = Platform::host();
    let shared = Shared {
        root: root.to_path_buf(),
        launcher,
        opts: &opts,
        df: &df,
        plan: &plan,
        log: log.clone(),
        cache: Cache::open(&ImageStore::open(root)?)?,
        context,
        used_args: Mutex::new(BTreeSet::new()),
        executed: Mutex::new(0),
        platform,
    };
    let mut done: HashMap<usize, Arc<State>> = HashMap::new();
    // Waves of stages whose dependencies are built, each wave in parallel.
    let mut left: Vec<usize> = plan.order.clone();
    while !left.is_empty() {
        let ready: Vec<usize> = left
            .iter()
            .copied()
            .filter(|s| plan.deps.get(s).is_none_or(|d| d.iter().all(|x| done.contains_key(x))))
            .collect();
        left.retain(|s| !ready.contains(s));
        let results: Vec<(usize, Result<State>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = ready
                .iter()
                .map(|&i| {
                    let shared = &shared;
                    let done = &done;
                    scope.spawn(move || (i, build_stage(shared, i, done)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| (usize::MAX, Err(Error::Invalid("a build thread panicked".into()))))
                })
                .collect()
        });
        for (i, r) in results {
            done.insert(i, Arc::new(r?));
        }
    }
    let unused: Vec<String> = {
        let used = shared.used_args.lock().unwrap_or_else(|p| p.into_inner());
        opts.build_args.keys().filter(|k| !used.contains(*k) && !PREDEFINED.contains(&k.as_str())).cloned().collect()
    };
    if !unused.is_empty() {
        log.line(&format!("[Warning] One or more build-args [{}] were not consumed", unused.join(" ")));
    }
    let mut state = (*done[&plan.target]).clone();
    let executed = *shared.executed.lock().unwrap_or_else(|p| p.into_inner());
    let step = log.step("exporting to image");
    for (k, v) in &opts.labels {
        let labels = state.config_mut().entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        labels[k.as_str()] = json!(v);
    }
    let record = export(&shared, &mut state)?;
    step.note(&format!("writing image {}", record.id));
    for t in &opts.tags {
        step.note(&format!("naming to {t}"));
    }
    step.done();
    Ok(Built { record, executed })
}

/// Stage names and references resolved; what the target needs, in order.
fn plan(df: &Dockerfile, opts: &Options) -> Result<Plan> {
    // Global ARGs (before the first FROM): for FROM lines and re-declaration.
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let host = Platform::host();
    for (k, v) in [
        ("TARGETPLATFORM", format!("{}/{}", host.os, host.architecture)),
        ("TARGETOS", host.os.clone()),
        ("TARGETARCH", host.architecture.clone()),
        ("BUILDPLATFORM", format!("{}/{}", host.os, host.architecture)),
        ("BUILDOS", host.os.clone()),
        ("BUILDARCH", host.architecture.clone()),
    ] {
        global_args.insert(k.into(), v);
    }
    for a in &df.args_before_from {
        let value = match opts.build_args.get(&a.name) {
            Some(v) => v.clone(),
            None => match &a.default {
                Some(d) => {
                    dockerfile::expand(d, &|n| global_args.get(n).cloned(), df.escape).map_err(Error::Invalid)?
                }
                None => String::new(),
            },
        };
        global_args.insert(a.name.clone(), value);
    }
    let by_name: HashMap<String, usize> =
        df.stages.iter().filter_map(|s| s.name.clone().map(|n| (n.to_ascii_lowercase(), s.index))).collect();
    let resolve = |name: &str, before: usize| -> Ref {
        let lower = name.to_ascii_lowercase();
        if let Some(&i) = by_name.get(&lower) {
            return Ref::Stage(i);
        }
        if let Ok(i) = name.parse::<usize>() {
            if i < df.stages.len() && i != before {
                return Ref::Stage(i);
            }
        }
        if lower == "scratch" {
            return Ref::Scratch;
        }
        Ref::Image(name.to_string())
    };
    let mut base = HashMap::new();
    let mut deps: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    for s in &df.stages {
        let from = dockerfile::expand(&s.from.image, &|n| global_args.get(n).cloned(), df.escape)
            .map_err(|e| Error::at(s.from.line, e))?;
        if from.is_empty() {
            return Err(Error::at(s.from.line, "FROM needs an image name (the variable in it is empty)"));
        }
        if let Some(p) = &s.from.platform {
            let p = dockerfile::expand(p, &|n| global_args.get(n).cloned(), df.escape)
                .map_err(|e| Error::at(s.from.line, e))?;
            let want = Platform::parse(&p).map_err(|e| Error::at(s.from.line, e.to_string()))?;
            if want.os != host.os || want.architecture != host.architecture {
                return Err(Error::at(
                    s.from.line,
                    format!(
                        "platform {p} is not this host's ({}/{}): berth builds for the host only",
                        host.os, host.architecture
                    ),
                ));
            }
        }
        let r = resolve(&from, s.index);
        let mut d = BTreeSet::new();
        if let Ref::Stage(i) = r {
            d.insert(i);
        }
        for ins in &s.instructions {
            for from in refs_of(ins) {
                let from = dockerfile::expand(&from, &|n| global_args.get(n).cloned(), df.escape)
                    .map_err(|e| Error::at(ins.line, e))?;
                if let Ref::Stage(i) = resolve(&from, s.index) {
                    d.insert(i);
                }
            }
        }
        base.insert(s.index, r);
        deps.insert(s.index, d);
    }
    let target = match &opts.target {
        Some(t) => *by_name.get(&t.to_ascii_lowercase()).ok_or_else(|| {
            Error::Invalid(format!(
                "failed to reach build target {t} in Dockerfile (stages: {})",
                df.stages.iter().filter_map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")
            ))
        })?,
        None => df.stages.len().checked_sub(1).ok_or_else(|| Error::Invalid("the Dockerfile has no stage".into()))?,
    };
    // Depth-first from the target: the order, and cycles refused.
    let mut order = Vec::new();
    let mut state: HashMap<usize, u8> = HashMap::new();
    fn visit(
        i: usize,
        deps: &HashMap<usize, BTreeSet<usize>>,
        state: &mut HashMap<usize, u8>,
        order: &mut Vec<usize>,
        df: &Dockerfile,
    ) -> Result<()> {
        match state.get(&i) {
            Some(2) => return Ok(()),
            Some(1) => {
                let s = &df.stages[i];
                return Err(Error::at(
                    s.from.line,
                    format!(
                        "circular dependency detected on stage: {}",
                        s.name.clone().unwrap_or_else(|| i.to_string())
                    ),
                ));
            }
            _ => {}
        }
        state.insert(i, 1);
        for &d in deps.get(&i).into_iter().flatten() {
            visit(d, deps, state, order, df)?;
        }
        state.insert(i, 2);
        order.push(i);
        Ok(())
    }
    visit(target, &deps, &mut state, &mut order, df)?;
    Ok(Plan { order, deps, base, global_args, target })
}

/// The `--from` values an instruction refers to (COPY/ADD --from, RUN --mount from=).
fn refs_of(ins: &Instr) -> Vec<String> {
    match &ins.kind {
        Kind::Copy(c) | Kind::Add(c) => c.from.clone().into_iter().collect(),
        Kind::Run { mounts, .. } => mounts.iter().filter_map(|m| m.from.clone()).collect(),
        _ => vec![],
    }
}

fn stage_label(s: &Stage) -> String {
    s.name.clone().unwrap_or_else(|| format!("stage-{}", s.index))
}

/// An engine for this thread (a database connection is not shared).
fn engine_for(shared: &Shared) -> Result<Engine> {
    let mut e = Engine::open(&shared.root)?;
    e.set_launcher(shared.launcher.clone());
    Ok(e)
}

fn build_stage(shared: &Shared, index: usize, done: &HashMap<usize, Arc<State>>) -> Result<State> {
    let s = &shared.df.stages[index];
    let label = stage_label(s);
    let total = s.instructions.len() + 1;
    let mut engine = engine_for(shared)?;
    shared.log.instruction(&match &s.name {
        Some(n) => format!("FROM {} AS {n}", s.from.image),
        None => format!("FROM {}", s.from.image),
    });
    let step = shared.log.step(&format!("[{label} 1/{total}] FROM {}", s.from.image));
    let mut state = match &shared.plan.base[&index] {
        Ref::Stage(i) => {
            let mut st = (*done[i]).clone();
            st.args.clear();
            st.cmd_set_here = false;
            st
        }
        Ref::Scratch => State::scratch(&shared.platform.architecture, &shared.platform.os, &now_rfc3339()),
        Ref::Image(name) => match image_state(shared, &engine, name) {
            Ok(st) => st,
            Err(e) => {
                step.error(&e.to_string());
                return Err(Error::at(s.from.line, e.to_string()));
            }
        },
    };
    step.done();
    // ONBUILD triggers of the base image run first, then are cleared.
    let triggers = state.strings("OnBuild");
    if !triggers.is_empty() {
        state.config_mut().remove("OnBuild");
        for (k, t) in triggers.iter().enumerate() {
            let parsed = dockerfile::parse(&format!("FROM scratch\n{t}\n"))
                .map_err(|e| Error::at(s.from.line, format!("ONBUILD trigger {t:?}: {}", e.message)))?;
            for ins in parsed.stages.into_iter().flat_map(|st| st.instructions) {
                let title = format!("[{label} onbuild {}/{}] {}", k + 1, triggers.len(), ins.text);
                run_instruction(shared, &mut engine, &mut state, &ins, &title, done, s.from.line)?;
            }
        }
    }
    for (k, ins) in s.instructions.iter().enumerate() {
        let title = format!("[{label} {}/{total}] {}", k + 2, ins.text);
        shared.log.instruction(&ins.text);
        run_instruction(shared, &mut engine, &mut state, ins, &title, done, ins.line)?;
    }
    Ok(state)
}

/// The state of a stored (or pulled) image.
fn image_state(shared: &Shared, engine: &Engine, name: &str) -> Result<State> {
    let registry = shared.opts.registry.clone();
    let progress = shared.opts.pull_progress;
    let policy = if shared.opts.pull {
        engine::PullPolicy::Always(progress, registry)
    } else {
        engine::PullPolicy::Missing(progress, registry)
    };
    let record = engine.image_for_platform(name, shared.platform.clone(), policy)?;
    let doc: Value = serde_json::from_slice(&engine.images().content().read(&record.id)?)
        .map_err(|e| Error::Invalid(format!("the config of {name}: {e}")))?;
    if let Some(os) = doc.get("os").and_then(Value::as_str) {
        if os != shared.platform.os {
            return Err(Error::Invalid(format!("{name} is a {os} image; this host runs {}", shared.platform.os)));
        }
    }
    Ok(State::from_image(doc, record.layers.clone()))
}

fn view_of(store: &ImageStore, st: &State) -> Result<View> {
    let dirs: Vec<PathBuf> = st.chain_ids().iter().map(|c| store.layer_diff(c)).collect();
    View::open(&dirs).map_err(|e| Error::io("opening the image's layers", e))
}

fn run_instruction(
    shared: &Shared,
    engine: &mut Engine,
    state: &mut State,
    ins: &Instr,
    title: &str,
    done: &HashMap<usize, Arc<State>>,
    line: usize,
) -> Result<()> {
    // Expansion sees ENV over ARG, as the reference says.
    let snapshot = state.clone();
    let vars = |n: &str| snapshot.var(n);
    let kind = dockerfile::expand_kind(&ins.kind, &vars, shared.df.escape).map_err(|e| Error::at(line, e))?;
    match kind {
        Kind::Run { cmd, mounts, network, heredocs } => {
            let step = shared.log.step(title);
            run_step(shared, engine, state, ins, &cmd, &mounts, network.as_deref(), &heredocs, step)
        }
        Kind::Copy(c) => {
            let step = shared.log.step(title);
            copy_step(shared, engine, state, ins, &c, false, step, done)
        }
        Kind::Add(c) => {
            let step = shared.log.step(title);
            copy_step(shared, engine, state, ins, &c, true, step, done)
        }
        Kind::Workdir(w) => {
            let dir = if w.starts_with('/') { PathBuf::from(&w) } else { Path::new(&state.workdir()).join(&w) };
            let dir = normalize(&dir);
            state.config_mut().insert("WorkingDir".into(), json!(dir.to_string_lossy()));
            // The directory is made when missing (a layer), as docker does.
            let view = view_of(engine.images(), state)?;
            let exists = view.lookup(&dir, true).ok().flatten().is_some_and(|e| e.is_dir());
            if exists {
                state.history(&format!("WORKDIR {}", dir.display()), true);
                return Ok(());
            }
            let step = shared.log.step(title);
            let key = step_key(state, &format!("WORKDIR {}", dir.display()), None);
            let store = engine.images().clone();
            layer_step(shared, &store, state, &key, &format!("WORKDIR {}", dir.display()), step, |staging, _| {
                let t = Target::new(staging, &view, (0, 0), None)?;
                t.ensure_dir(&dir, (0, 0))?;
                Ok(())
            })
        }
        other => {
            metadata_step(shared, state, ins, other, line);
            Ok(())
        }
    }
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Instructions that only change the config: no layer, no cache lookup.
fn metadata_step(shared: &Shared, state: &mut State, ins: &Instr, kind: Kind, line: usize) {
    let _ = line;
    let text = ins.text.clone();
    let cfg = |state: &mut State, key: &str, v: Value| {
        state.config_mut().insert(key.into(), v);
    };
    match kind {
        Kind::Env(pairs) => {
            for (k, v) in pairs {
                state.set_env(&k, &v);
            }
        }
        Kind::Arg(args) => {
            for a in args {
                let value = shared
                    .opts
                    .build_args
                    .get(&a.name)
                    .cloned()
                    .or_else(|| a.default.clone())
                    .or_else(|| shared.plan.global_args.get(&a.name).cloned())
                    .unwrap_or_default();
                shared.used_args.lock().unwrap_or_else(|p| p.into_inner()).insert(a.name.clone());
                state.args.insert(a.name, value);
            }
        }
        Kind::Label(pairs) => {
            let labels = state.config_mut().entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for (k, v) in pairs {
                labels[k.as_str()] = json!(v);
            }
        }
        Kind::Expose(ports) => {
            let e = state.config_mut().entry("ExposedPorts").or_insert_with(|| json!({}));
            if !e.is_object() {
                *e = json!({});
            }
            for p in ports {
                let p = if p.contains('/') { p } else { format!("{p}/tcp") };
                e[p.as_str()] = json!({});
            }
        }
        Kind::Volume(vols) => {
            let e = state.config_mut().entry("Volumes").or_insert_with(|| json!({}));
            if !e.is_object() {
                *e = json!({});
            }
            for v in vols {
                e[v.as_str()] = json!({});
            }
        }
        Kind::User(u) => cfg(state, "User", json!(u)),
        Kind::Cmd(c) => {
            let v = command_vec(state, &c);
            cfg(state, "Cmd", json!(v));
            state.cmd_set_here = true;
        }
        Kind::Entrypoint(c) => {
            let v = command_vec(state, &c);
            cfg(state, "Entrypoint", json!(v));
            // docker: ENTRYPOINT resets a CMD inherited from the base image
            // (one set in this Dockerfile stays).
            if !state.cmd_set_here {
                state.config_mut().remove("Cmd");
            }
        }
        Kind::Shell(s) => cfg(state, "Shell", json!(s)),
        Kind::StopSignal(s) => cfg(state, "StopSignal", json!(s)),
        Kind::Healthcheck(h) => match h {
            None => cfg(state, "Healthcheck", json!({"Test": ["NONE"]})),
            Some(h) => {
                let mut v = json!({"Test": h.test});
                for (k, d) in [
                    ("Interval", h.interval),
                    ("Timeout", h.timeout),
                    ("StartPeriod", h.start_period),
                    ("StartInterval", h.start_interval),
                ] {
                    if let Some(d) = d {
                        v[k] = json!(d.as_nanos() as u64);
                    }
                }
                if let Some(r) = h.retries {
                    v["Retries"] = json!(r);
                }
                cfg(state, "Healthcheck", v);
            }
        },
        Kind::Onbuild(inner) => {
            let mut list = state.strings("OnBuild");
            list.push(inner.text_with_heredocs());
            cfg(state, "OnBuild", json!(list));
        }
        Kind::Maintainer(m) => {
            state.doc["author"] = json!(m);
        }
        Kind::Run { .. } | Kind::Copy(_) | Kind::Add(_) | Kind::Workdir(_) => {}
    }
    state.history(&text, true);
}

fn command_vec(state: &State, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = state.shell();
            v.push(s.clone());
            v
        }
    }
}

/// The cache key of a layer step on `state`.
fn step_key(state: &State, text: &str, content: Option<&Digest>) -> Digest {
    let mut h = Hasher::new();
    h.update(state.identity().to_string().as_bytes());
    h.update(b"\n");
    h.update(text.as_bytes());
    if let Some(c) = content {
        h.update(b"\n");
        h.update(c.to_string().as_bytes());
    }
    h.finish()
}

/// A step that makes a layer: from the cache when the key is there (and
/// the layer still exists), else by `make` filling a staging directory.
fn layer_step(
    shared: &Shared,
    store: &ImageStore,
    state: &mut State,
    key: &Digest,
    history: &str,
    step: Step,
    make: impl FnOnce(&Path, &mut Option<Step>) -> Result<()>,
) -> Result<()> {
    if !shared.opts.no_cache {
        if let Some(hit) = shared.cache.get(key) {
            if store.has_layer(&hit.layer.chain_id) && store.content().exists(&hit.layer.blob.digest) {
                state.push_layer(hit.layer, &hit.created);
                state.history(history, false);
                step.cached();
                return Ok(());
            }
        }
    }
    let staging = Staging::new(store)?;
    let mut step = Some(step);
    if let Err(e) = make(&staging.diff(), &mut step) {
        if let Some(s) = step {
            s.error(&e.to_string());
        }
        return Err(e);
    }
    let parent = state.diff_ids();
    let layer = staging.commit(store, &parent)?;
    let created = now_rfc3339();
    shared.cache.put(key, &cache::Entry { layer: layer.clone(), created: created.clone() })?;
    state.push_layer(layer, &created);
    state.history(history, false);
    if let Some(s) = step {
        s.done();
    }
    Ok(())
}

/// The filesystem a `--from` names: a built stage, or an image.
fn from_state(
    shared: &Shared,
    engine: &Engine,
    from: &str,
    done: &HashMap<usize, Arc<State>>,
    line: usize,
) -> Result<State> {
    let by_name = shared.df.stages.iter().find(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(from)));
    let index = by_name.map(|s| s.index).or_else(|| from.parse::<usize>().ok().filter(|&i| i < shared.df.stages.len()));
    if let Some(i) = index {
        return done
            .get(&i)
            .map(|s| (**s).clone())
            .ok_or_else(|| Error::at(line, format!("stage {from} is not built yet")));
    }
    // Not a stage: an image, if it looks like one and can be had.
    image_state(shared, engine, from).map_err(|e| {
        let stages: Vec<String> = shared.df.stages.iter().filter_map(|s| s.name.clone()).collect();
        Error::at(line, format!("--from={from}: no such stage (stages: {}) or image: {e}", stages.join(", ")))
    })
}

#[allow(clippy::too_many_arguments)]
fn copy_step(
    shared: &Shared,
    engine: &mut Engine,
    state: &mut State,
    ins: &Instr,
    c: &CopySpec,
    is_add: bool,
    step: Step,
    done: &HashMap<usize, Arc<State>>,
) -> Result<()> {
    let line = ins.line;
    let name = if is_add { "ADD" } else { "COPY" };
    let fail = |step: Step, e: Error| -> Result<()> {
        step.error(&e.to_string());
        Err(e)
    };
    if c.sources.is_empty() && c.heredocs.is_empty() {
        return fail(step, Error::at(line, format!("{name} needs at least one source and a destination")));
    }
    if c.checksum.is_some() {
        return fail(
            step,
            Error::at(
                line,
                format!("{name} --checksum verifies remote sources, which builds here cannot fetch (they run offline)"),
            ),
        );
    }
    if !c.exclude.is_empty() || c.keep_git_dir {
        return fail(
            step,
            Error::at(line, format!("{name} --exclude and --keep-git-dir are not supported by berth yet")),
        );
    }
    if is_add {
        if let Some(u) = c.sources.iter().find(|s| s.contains("://")) {
            return fail(
                step,
                Error::at(line, format!("ADD {u}: builds here run offline, so a remote URL cannot be fetched; put the file in the build context and COPY it")),
            );
        }
    }
    let from_state = match &c.from {
        Some(f) => match from_state(shared, engine, f, done, line) {
            Ok(s) => Some(s),
            Err(e) => return fail(step, e),
        },
        None => None,
    };
    let from_layers = match &from_state {
        Some(s) => Some(Layers { view: view_of(engine.images(), s)? }),
        None => None,
    };
    let src: &dyn Source = match &from_layers {
        Some(l) => l,
        None => &shared.context,
    };
    // Sources, expanded; missing ones are an error naming them.
    let mut matched: Vec<PathBuf> = Vec::new();
    for s in &c.sources {
        let pattern = source::clean_source(s, line)?;
        let found = source::expand(src, &pattern)?;
        if found.is_empty() {
            return fail(
                step,
                Error::at(line, format!("{name} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist")),
            );
        }
        matched.extend(found);
    }
    let wildcard = c.sources.iter().any(|s| s.contains(['*', '?', '[']));
    let dest_text = &c.dest;
    let dest =
        if dest_text.starts_with('/') { PathBuf::from(dest_text) } else { Path::new(&state.workdir()).join(dest_text) };
    let dest_dir_spelled = dest_text.ends_with('/') || dest_text == "." || dest_text.ends_with("/.");
    if (matched.len() + c.heredocs.len() > 1 || wildcard) && !dest_dir_spelled {
        let view = view_of(engine.images(), state)?;
        let is_dir = view.lookup(&dest, true).ok().flatten().is_some_and(|e| e.is_dir());
        if !is_dir {
            return fail(
                step,
                Error::at(line, format!("When using {name} with more than one source file, the destination must be a directory and end with a /")),
            );
        }
    }
    // Ownership (names looked up in the image being built) and mode.
    let view = view_of(engine.images(), state)?;
    let owner = match &c.chown {
        None => (0, 0),
        Some(u) => {
            let passwd = view.read_file(Path::new("/etc/passwd"), 4 << 20).ok().flatten().unwrap_or_default();
            let group = view.read_file(Path::new("/etc/group"), 4 << 20).ok().flatten().unwrap_or_default();
            match engine::spec::resolve_user(u, &String::from_utf8_lossy(&passwd), &String::from_utf8_lossy(&group)) {
                Ok((uid, gid, _)) => (uid, gid),
                Err(e) => return fail(step, Error::at(line, format!("--chown={u}: {e}"))),
            }
        }
    };
    let chmod = match &c.chmod {
        None => None,
        Some(m) => match u32::from_str_radix(m, 8) {
            Ok(v) if v <= 0o7777 => Some(v),
            _ => return fail(step, Error::at(line, format!("--chmod={m}: expected an octal mode like 0755"))),
        },
    };
    // The cache key: the step's text, what it reads, where from.
    let mut h = Hasher::new();
    for m in &matched {
        source::hash_tree(src, m, &mut h)?;
    }
    for d in &c.heredocs {
        h.update(d.name.as_bytes());
        h.update(b"\0");
        h.update(d.content.as_bytes());
    }
    h.update(format!("{:?}{:?}{:?}{}", owner, chmod, dest, is_add).as_bytes());
    let content = h.finish();
    let key = step_key(state, &ins.text, Some(&content));
    let history = format!("{name} {} {}", c.sources.join(" "), c.dest);
    let dest_is_dir = dest_dir_spelled || matched.len() + c.heredocs.len() > 1 || wildcard || {
        view.lookup(&dest, true).ok().flatten().is_some_and(|e| e.is_dir())
    };
    let store = engine.images().clone();
    layer_step(shared, &store, state, &key, &history, step, |staging, _| {
        let t = Target::new(staging, &view, owner, chmod)?;
        for rel in &matched {
            let m = src
                .stat(rel)?
                .ok_or_else(|| Error::at(line, format!("{} disappeared during the build", rel.display())))?;
            // A source that is a symlink is followed (inside its tree).
            let (rel, m) = if m.kind == source::Kind::Symlink {
                match src.resolve(rel)? {
                    Some(r) => {
                        let m2 = src
                            .stat(&r)?
                            .ok_or_else(|| Error::at(line, format!("{} is a broken link", rel.display())))?;
                        (r, m2)
                    }
                    None => {
                        return Err(Error::at(
                            line,
                            format!("{} is a link to outside the build context", rel.display()),
                        ))
                    }
                }
            } else {
                (rel.clone(), m)
            };
            if is_add
                && c.unpack != Some(false)
                && m.kind == source::Kind::File
                && from_layers.is_none()
                && is_archive(src, &rel)?
            {
                extract(src, &rel, &t, staging, &dest)?;
                continue;
            }
            match m.kind {
                source::Kind::Dir => t.copy_contents(src, &rel, &dest)?,
                _ => {
                    let target =
                        if dest_is_dir { dest.join(rel.file_name().unwrap_or_default()) } else { dest.clone() };
                    t.copy(src, &rel, &m, &target)?;
                }
            }
        }
        for d in &c.heredocs {
            let target = if dest_is_dir { dest.join(&d.name) } else { dest.clone() };
            let tmp = tempfile_in(staging)?;
            std::fs::write(tmp.path(), d.content.as_bytes()).map_err(|e| Error::io("writing a heredoc", e))?;
            let ctx = Context::open(tmp.dir(), Default::default())?;
            let m = ctx.stat(Path::new("content"))?.ok_or_else(|| Error::Invalid("heredoc vanished".into()))?;
            let m = source::Meta { mode: 0o644, mtime: m.mtime, ..m };
            t.copy(&ctx, Path::new("content"), &m, &target)?;
        }
        Ok(())
    })
}

/// A scratch file for heredoc contents, beside (not in) the staging tree.
struct TempFile {
    dir: PathBuf,
}

impl TempFile {
    fn path(&self) -> PathBuf {
        self.dir.join("content")
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tempfile_in(staging: &Path) -> Result<TempFile> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let parent = staging.parent().unwrap_or(staging);
    let dir = parent.with_extension(format!("heredoc-{}", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    Ok(TempFile { dir })
}

/// ADD extracts local archives: tar, plain or compressed.
fn is_archive(src: &dyn Source, rel: &Path) -> Result<bool> {
    let mut f = src.open(rel)?;
    let mut head = vec![0u8; 512];
    let n = image::io::read_full(&mut f, &mut head).map_err(|e| Error::io(format!("reading {}", rel.display()), e))?;
    head.truncate(n);
    Ok(match Compression::sniff(&head) {
        Compression::Gzip | Compression::Zstd => true,
        Compression::None => head.len() >= 262 && &head[257..262] == b"ustar",
    })
}

fn extract(src: &dyn Source, rel: &Path, t: &Target, staging: &Path, dest: &Path) -> Result<()> {
    let mut f = src.open(rel)?;
    let mut head = vec![0u8; 4];
    let n = image::io::read_full(&mut f, &mut head).map_err(|e| Error::io(format!("reading {}", rel.display()), e))?;
    head.truncate(n);
    let compression = Compression::sniff(&head);
    let f = src.open(rel)?;
    t.ensure_dir(dest, t.owner)?;
    let into = staging.join(dest.strip_prefix("/").unwrap_or(dest));
    // The unpacker refuses hostile entries and works beneath `into` only.
    let tmp = staging.with_extension("add");
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io("creating a scratch directory", e))?;
    let r = image::layer::unpack(f, compression, &tmp, &rel.to_string_lossy());
    let r = r.map_err(Error::from).and_then(|_| merge_dir(&tmp, &into));
    let _ = std::fs::remove_dir_all(&tmp);
    r
}

/// Moves the unpacked tree into the staging directory.
fn merge_dir(from: &Path, into: &Path) -> Result<()> {
    for e in std::fs::read_dir(from).map_err(|e| Error::io(format!("reading {}", from.display()), e))? {
        let e = e.map_err(|e| Error::io("reading an extracted archive", e))?;
        let target = into.join(e.file_name());
        let md = std::fs::symlink_metadata(&target);
        if md.as_ref().is_ok_and(|m| m.is_dir()) && e.file_type().is_ok_and(|t| t.is_dir()) {
            merge_dir(&e.path(), &target)?;
        } else {
            if md.is_ok() {
                let _ = std::fs::remove_file(&target);
            }
            std::fs::rename(e.path(), &target)
                .map_err(|err| Error::io(format!("placing {}", target.display()), err))?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_step(
    shared: &Shared,
    engine: &mut Engine,
    state: &mut State,
    ins: &Instr,
    cmd: &Command,
    mounts: &[dockerfile::RunMount],
    network: Option<&str>,
    heredocs: &[dockerfile::Heredoc],
    step: Step,
) -> Result<()> {
    let line = ins.line;
    let args: Vec<String> = match cmd {
        Command::Exec(v) => v.clone(),
        Command::Shell(text) => {
            let mut v = state.shell();
            v.push(dockerfile::shell_script(text, heredocs));
            v
        }
    };
    if args.is_empty() {
        step.error("RUN needs a command");
        return Err(Error::at(line, "RUN needs a command"));
    }
    // ARG values are in RUN's environment (not in the image's).
    let mut env: Vec<String> = state.strings("Env");
    let env_names: BTreeSet<String> = state.env().into_iter().map(|(k, _)| k).collect();
    for (k, v) in &state.args {
        if !env_names.contains(k) {
            env.push(format!("{k}={v}"));
        }
    }
    for p in PREDEFINED {
        if let Some(v) = shared.opts.build_args.get(*p) {
            env.push(format!("{p}={v}"));
            shared.used_args.lock().unwrap_or_else(|p| p.into_inner()).insert(p.to_string());
        }
    }
    let own_flag = network.is_some();
    let network = network.or(shared.opts.network.as_deref()).unwrap_or("default");
    let net = match network {
        "default" | "bridge" => NetworkMode::Networks(vec![NetworkAttachment {
            network: "bridge".into(),
            aliases: vec![],
            ..Default::default()
        }]),
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        // A user network (the build's --network, as dockerd's classic
        // builder takes it): the step joins it, so it resolves its peers.
        other if own_flag => {
            step.error("bad network");
            return Err(Error::at(line, format!("RUN --network={other}: use default, none or host")));
        }
        other => match engine.network(other) {
            Ok(n) => NetworkMode::Networks(vec![NetworkAttachment { network: n.name, ..Default::default() }]),
            Err(e) => {
                step.error("bad network");
                return Err(Error::at(line, format!("network {other} not found: {e}")));
            }
        },
    };
    let mut cmounts = Vec::new();
    let mut mount_desc = String::new();
    for m in mounts {
        mount_desc.push_str(&format!("{:?}:{}:{:?}:{:?};", m.kind, m.target, m.source, m.from));
        match m.kind {
            MountKind::Cache => {
                let id = m.id.clone().unwrap_or_else(|| m.target.clone());
                let dir = shared.root.join("build/cache-mounts").join(Digest::of(id.as_bytes()).hex());
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                cmounts.push(Mount::Bind {
                    source: dir.to_string_lossy().into_owned(),
                    target: m.target.clone(),
                    readonly: false,
                    propagation: None,
                });
            }
            MountKind::Bind => {
                let source = m.source.clone().unwrap_or_default();
                if m.from.is_some() {
                    step.error("bind from a stage");
                    return Err(Error::at(
                        line,
                        "RUN --mount=type=bind,from=… is not supported yet: COPY --from the files instead",
                    ));
                }
                let rel = source::clean_source(&source, line)?;
                let resolved = shared.context.resolve(&rel)?.ok_or_else(|| {
                    Error::at(line, format!("RUN --mount=type=bind,source={source}: not found in the build context"))
                })?;
                let host = shared.context.root().join(resolved);
                // Always read-only: a write would change the user's context
                // (BuildKit's `rw` keeps writes in a throwaway layer instead).
                cmounts.push(Mount::Bind {
                    source: host.to_string_lossy().into_owned(),
                    target: m.target.clone(),
                    readonly: true,
                    propagation: None,
                });
            }
            MountKind::Tmpfs => cmounts.push(Mount::Tmpfs {
                target: m.target.clone(),
                options: m.size.map(|s| vec![format!("size={s}")]).unwrap_or_default(),
            }),
            _ => {
                step.error("unsupported mount");
                return Err(Error::at(line, format!("RUN --mount=type={:?} is not supported by berth yet", m.kind)));
            }
        }
    }
    let mut what = format!(
        "RUN {}\n{}\n{}\n{}",
        serde_json::to_string(&args).unwrap_or_default(),
        env.join("\0"),
        network,
        mount_desc
    );
    // Other hosts are another step (BuildKit's too); without any, the keys
    // stay those of earlier caches.
    if !shared.opts.extra_hosts.is_empty() {
        what.push_str(&format!("\nhosts {}", shared.opts.extra_hosts.join(",")));
    }
    let key = step_key(state, &what, None);
    // The process as BuildKit and the classic builder name it on failure.
    let command = args.join(" ");
    let config = ContainerConfig {
        image: "(build step)".into(),
        layers: state.chain_ids().iter().map(|c| c.to_string()).collect(),
        args,
        env,
        workdir: state.workdir(),
        user: state.string("User"),
        network: Some(net),
        extra_hosts: shared.opts.extra_hosts.clone(),
        mounts: cmounts,
        labels: [("berth.build".to_string(), "1".to_string())].into(),
        ..Default::default()
    };
    let history = match cmd {
        Command::Exec(v) => format!("RUN {}", serde_json::to_string(v).unwrap_or_default()),
        Command::Shell(t) => format!("RUN {} {}", state.shell().join(" "), t),
    };
    let view = view_of(engine.images(), state)?;
    let executed = &shared.executed;
    let store = engine.images().clone();
    let scratch = shared.root.join("build/tmp");
    std::fs::create_dir_all(&scratch).map_err(|e| Error::io(format!("creating {}", scratch.display()), e))?;
    layer_step(shared, &store, state, &key, &history, step, |staging, step_slot| {
        // The child moves the container's upper directory here.
        std::fs::remove_dir(staging).map_err(|e| Error::io("preparing the layer", e))?;
        let req = crate::step::Request {
            config,
            dest: staging.to_path_buf(),
            result: scratch.join(format!("result-{}-{}", std::process::id(), unique())),
        };
        let mut out = |_stream: usize, bytes: &[u8]| {
            if let Some(s) = step_slot.as_mut() {
                s.output(bytes);
            }
        };
        match crate::step::run(&shared.launcher, &scratch, &req, &mut out)? {
            0 => {
                *executed.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                tidy_upper(staging, &view);
                Ok(())
            }
            code => Err(Error::RunFailed { line, command: command.clone(), code }),
        }
    })
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Removes from a RUN's upper directory what only the container's own
/// mounts put there: empty mount points (hosts, resolv.conf, hostname,
/// /proc, /sys, mount targets) that the image does not have.
fn tidy_upper(upper: &Path, lower: &View) {
    for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        let p = upper.join(f);
        let empty = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0);
        if empty && lower.lookup(&Path::new("/").join(f), false).ok().flatten().is_none() {
            let _ = std::fs::remove_file(&p);
        }
    }
    for d in ["proc", "sys", "dev", "etc"] {
        let p = upper.join(d);
        let empty = std::fs::read_dir(&p).is_ok_and(|mut r| r.next().is_none());
        if empty && lower.lookup(&Path::new("/").join(d), false).ok().flatten().is_none() {
            let _ = std::fs::remove_dir(&p);
        }
    }
}

/// Writes the config and manifest, records and tags the image.
fn export(shared: &Shared, state: &mut State) -> Result<ImageRecord> {
    state.finish();
    let engine = engine_for(shared)?;
    let store = engine.images();
    let config = serde_json::to_vec(&state.doc).map_err(|e| Error::Invalid(e.to_string()))?;
    let id = store.content().put(&config)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.to_string()),
        config: Descriptor::new(media::OCI_CONFIG, id.clone(), config.len() as u64),
        layers: state.layers.iter().map(|l| l.blob.clone()).collect(),
        annotations: Default::default(),
    };
    let mbytes = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    let mdigest = store.content().put(&mbytes)?;
    let size = state.layers.iter().filter_map(|l| store.layer_meta(&l.chain_id).ok()).map(|m| m.size).sum();
    let record = ImageRecord {
        id,
        manifest: Descriptor::new(media::OCI_MANIFEST, mdigest, mbytes.len() as u64),
        index: None,
        repo_digests: vec![],
        layers: state.layers.clone(),
        platform: shared.platform.clone(),
        created: state.created.clone(),
        size,
    };
    store.put_image(record.clone(), &shared.opts.tags)?;
    Ok(record)
}

/// Reads a build context tar (from stdin) into `dir`.
pub fn unpack_context(tar: impl Read + Send, dir: &Path) -> Result<()> {
    let mut head = [0u8; 4];
    let mut r = std::io::BufReader::new(tar);
    let buf = std::io::BufRead::fill_buf(&mut r).map_err(|e| Error::io("reading the context", e))?;
    let n = buf.len().min(4);
    head[..n].copy_from_slice(&buf[..n]);
    image::layer::unpack(r, Compression::sniff(&head[..n]), dir, "the build context")?;
    Ok(())
}
