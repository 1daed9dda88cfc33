//! create, start and run.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespaceType, LinuxResources, Spec};

use super::{cgroup_path, cgroup_views, Runtime};
use crate::error::{invalid, Context, Error, Result};
use crate::namespaces;
use crate::process::foreground::{self, Signals};
use crate::process::init::{self, Mode, StartTrigger};
use crate::process::plan::ProcessPlan;
use crate::process::spawn::{self, ChildGuard, Request};
use crate::process::sync::{Channel, Msg};
use crate::process::{stub, tty};
use crate::rootfs::{self, dev, mounts};
use crate::spec;
use crate::state::{self, Record, Status, Store};

/// What to create a container from: runc's create/run arguments. Only `id`
/// and `bundle` are required.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// The container id: checked by [`check_id`](crate::state::check_id), it
    /// names the state directory and (without `linux.cgroupsPath`) the cgroup
    /// `berth/<id>`.
    pub id: String,
    /// The bundle directory. It is canonicalized; its config.json is the spec
    /// unless `spec` is given, and a relative `root.path` is resolved against
    /// it.
    pub bundle: PathBuf,
    /// A unix socket that receives the pty master (runc's --console-socket).
    pub console_socket: Option<PathBuf>,
    /// A file to write the init's pid to once the container is created
    /// (decimal, no newline; written to a temporary file and renamed), as
    /// runc's --pid-file.
    pub pid_file: Option<PathBuf>,
    /// Pass fds 3 .. 3+N on to the container (systemd socket activation).
    pub preserve_fds: u32,
    /// fds to use as the container's stdin, stdout, stderr (default: ours).
    pub stdio: Option<[RawFd; 3]>,
    /// The spec itself, for library callers (the engine): then the bundle's
    /// config.json is not read (the bundle directory still anchors relative
    /// paths and is what `state` reports).
    pub spec: Option<Box<Spec>>,
    /// A filesystem to mount on the rootfs directory first (an overlay of
    /// image layers). It is mounted inside the container's own mount
    /// namespace, so the host never sees it and it goes away with the
    /// container.
    pub rootfs_mount: Option<rootfs::RootfsMount>,
}

/// A container started by `run`, whose init is our child. Dropping it
/// without `wait` or `detach` kills the container and removes it.
pub struct Running {
    /// The container id.
    pub id: String,
    /// The init's pid in our pid namespace: our child until `wait` or
    /// `detach`.
    pub pid: libc::pid_t,
    signals: Option<Signals>,
    pty: Option<OwnedFd>,
    rollback: Rollback,
}

/// Undoes a half-made container: kills its processes, removes its cgroup and
/// its state directory. Disarmed once the container is complete.
struct Rollback {
    store: Store,
    id: String,
    cgroup: Option<Box<dyn cgroups::CgroupManager>>,
    /// We created the cgroup (it did not exist before), so we remove it.
    owns_cgroup: bool,
    child: Option<ChildGuard>,
    /// The rootfs whose mounts were made in the host's namespace.
    host_mounts: Option<PathBuf>,
    /// poststop hooks and the state they get: a failed create ends, like a
    /// delete, with them.
    poststop: Option<(Vec<crate::hooks::Hook>, String)>,
    armed: bool,
}

impl Rollback {
    fn run(&mut self) {
        // Kill the init first (it is our child: reap it), then whatever else
        // is left in the cgroup.
        drop(self.child.take());
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.kill_all();
            crate::timing::mark("killed all");
            if self.owns_cgroup {
                let _ = cg.destroy();
            }
            crate::timing::mark("destroyed cgroup");
        }
        if let Some(rootfs) = self.host_mounts.take() {
            let _ = crate::rootfs::detach_host_mounts(&rootfs);
        }
        let _ = self.store.remove(&self.id);
        if let Some((hooks, state)) = self.poststop.take() {
            crate::hooks::run_warning(&hooks, state.as_bytes());
        }
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if self.armed {
            self.run();
        }
    }
}

impl Runtime {
    /// Creates the container and leaves its init waiting for `start`.
    pub fn create(&self, opts: &CreateOptions) -> Result<Record> {
        let built = self.build(opts, true)?;
        built.await_created()?;
        let mut rollback = built.rollback;
        let rec = built.record;
        self.store.save(&rec)?;
        write_pid_file(opts.pid_file.as_deref(), rec.pid)?;
        // The init outlives us now; it is no longer ours to kill.
        if let Some(child) = rollback.child.take() {
            child.disarm();
        }
        rollback.armed = false;
        Ok(rec)
    }

    /// Starts a created container: one byte into its exec fifo.
    pub fn start(&self, id: &str) -> Result<()> {
        let rec = self.store.load(id)?;
        let status = self.status(&rec);
        if status != Status::Created {
            return Err(Error::WrongState { id: id.into(), action: "start", status: status.to_string() });
        }
        let fifo = self.store.dir(id).join(state::FIFO_FILE);
        // Non-blocking: if the init is gone there is no reader, and ENXIO
        // says so instead of hanging.
        let fd = sys::open(&fifo, libc::O_WRONLY | libc::O_NONBLOCK, 0)
            .with_ctx(|| format!("opening {}", fifo.display()))?;
        sys::write_all_fd(fd.as_raw_fd(), b"0").ctx("signalling the init to start")?;
        fs::remove_file(&fifo).with_ctx(|| format!("removing {}", fifo.display()))?;
        if let Ok(spec) = super::load_saved_spec(&self.store, id) {
            let hooks = crate::hooks::Hooks::from_spec(&spec)?;
            crate::hooks::run_warning(&hooks.poststart, rec.oci_state(Status::Running).as_bytes());
        }
        Ok(())
    }

    /// Creates and starts at once (the init waits on the sync channel rather
    /// than a fifo). The container runs until `Running::wait`, or on its own
    /// after `Running::detach`.
    pub fn run(&self, opts: &CreateOptions) -> Result<Running> {
        self.run_with(opts, |_| Ok(()))
    }

    /// `run`, calling `created` with the init's pid once the container exists
    /// (namespaces, cgroup, rootfs) but before its program starts: the moment
    /// to wire up its network namespace, as the OCI createRuntime hooks do.
    /// An error from `created` undoes everything.
    pub fn run_with(&self, opts: &CreateOptions, created: impl FnOnce(libc::pid_t) -> Result<()>) -> Result<Running> {
        let built = self.build(opts, false)?;
        let signals = Signals::block().ctx("blocking signals")?;
        let pty = built.await_created()?;
        let rollback = built.rollback;
        crate::timing::mark("created");
        let rec = built.record;
        self.store.save(&rec)?;
        crate::timing::mark("state saved");
        write_pid_file(opts.pid_file.as_deref(), rec.pid)?;
        created(rec.pid)?;
        built.chan.send(&Msg::Start).ctx("starting the container")?;
        let pty2 = spawn::await_exec(&built.chan)?;
        crate::timing::mark("exec done");
        crate::hooks::run_warning(&built.hooks.poststart, rec.oci_state(Status::Running).as_bytes());
        let pid = rollback.child.as_ref().map_or(rec.pid, |c| c.pid);
        Ok(Running { id: rec.id, pid, signals: Some(signals), pty: pty.or(pty2), rollback })
    }

    /// Everything before the init reports back: validation, cgroup, clone.
    fn build(&self, opts: &CreateOptions, fifo: bool) -> Result<Built> {
        crate::timing::mark("build start");
        let bundle = fs::canonicalize(&opts.bundle)
            .map_err(|e| Error::Config { path: opts.bundle.clone(), reason: format!("bundle: {e}") })?;
        let (spec, spec_bytes) = match &opts.spec {
            Some(s) => {
                ((**s).clone(), serde_json::to_vec(s).map_err(|e| Error::Init(format!("encoding the spec: {e}")))?)
            }
            None => spec::load_with_bytes(&bundle.join("config.json"))?,
        };
        spec::validate(&spec, true)?;
        let hooks = crate::hooks::Hooks::from_spec(&spec)?;
        let rootfs_path = spec::rootfs(&spec, &bundle)?;
        let Some(process) = spec.process() else { return Err(invalid("process", "missing")) };
        let linux = spec.linux().as_ref();
        let mut ns = namespaces::Plan::from_spec(linux.ok_or_else(|| invalid("linux", "missing"))?)?;
        let mut process = ProcessPlan::from_spec(process, linux)?;
        process.init = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(crate::process::plan::INIT_ANNOTATION))
            .is_some_and(|v| v == "true");
        let stub = stub::sealed().ctx("preparing the exec stub")?;

        crate::timing::mark("spec loaded, planned");
        let dir = self.store.claim(&opts.id)?;
        let mut rollback = Rollback {
            store: self.store.clone(),
            id: opts.id.clone(),
            cgroup: None,
            owns_cgroup: false,
            child: None,
            host_mounts: None,
            poststop: None,
            armed: true,
        };
        state::private_file(&dir.join(state::CONFIG_FILE))
            .and_then(|mut f| std::io::Write::write_all(&mut f, &spec_bytes))
            .with_ctx(|| format!("saving the spec in {}", dir.display()))?;

        crate::timing::mark("state dir + config saved");
        let cg_path = cgroup_path(linux, &opts.id);
        let layout = cgroups::Layout::detect()?;
        let cg = cgroups::manager(&layout, &cg_path);
        // A cgroup that exists already is only reused when empty: kill_all and
        // destroy on rollback or delete must never reach someone else's
        // processes (runc refuses a non-empty cgroup too).
        let existed = cg.paths().iter().any(|p| p.exists());
        if existed {
            let has_children = cg.paths().iter().any(|p| {
                fs::read_dir(p).into_iter().flatten().flatten().any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            });
            if has_children || !cg.procs().unwrap_or_default().is_empty() {
                return Err(invalid(
                    "linux.cgroupsPath",
                    format!("cgroup {} is in use (it has processes or child groups)", cg_path.display()),
                ));
            }
        }
        cg.create()?;
        rollback.cgroup = Some(cg);
        rollback.owns_cgroup = !existed;
        let mut plan = rootfs_plan(&spec, &bundle, &rootfs_path, &ns, &layout, &cg_path, &process)?;
        plan.rootfs_mount = opts.rootfs_mount.clone();
        if !plan.new_mountns {
            rollback.host_mounts = Some(plan.rootfs.clone());
        }
        let host_mounts = !plan.new_mountns;
        if let Some(res) = linux.and_then(|l| l.resources().as_ref()) {
            let res = with_default_device_rules(res, &plan);
            rollback.cgroup.as_ref().map(|c| c.apply(&res)).transpose()?;
        }

        crate::timing::mark("cgroup created+applied");
        let start = if fifo {
            let path = dir.join(state::FIFO_FILE);
            let c = sys::path_cstring(&path).ctx("fifo path")?;
            // SAFETY: valid C string.
            sys::cvt(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }).with_ctx(|| format!("creating {}", path.display()))?;
            // Read-write, so the init never sees end-of-file while waiting.
            StartTrigger::Fifo(sys::open(&path, libc::O_RDWR, 0).with_ctx(|| format!("opening {}", path.display()))?)
        } else {
            StartTrigger::Channel
        };
        let console_socket = opts
            .console_socket
            .as_deref()
            .map(|p| {
                tty::connect_console_socket(p).with_ctx(|| format!("connecting to the console socket {}", p.display()))
            })
            .transpose()?;
        if console_socket.is_some() && !process.terminal {
            return Err(invalid("process.terminal", "a console socket was given but the process has no terminal"));
        }
        if fifo && process.terminal && console_socket.is_none() {
            // Nobody would hold the terminal's master once create returns.
            return Err(invalid("process.terminal", "create needs --console-socket when the process has a terminal"));
        }

        let maps = ns.new_user().then(|| {
            let l = linux.expect("validated: user namespaces need linux");
            (
                spawn::id_map(l.uid_mappings().as_deref().unwrap_or_default()),
                spawn::id_map(l.gid_mappings().as_deref().unwrap_or_default()),
            )
        });
        let second = ns.needs_second_clone();
        // With a second clone the intermediate enters a joined pid namespace
        // itself (for its child only), so it stays in ours and the pid it
        // reports is one we can use.
        let pid_ns = if second { None } else { ns.take_pid_join() };
        let in_userns = ns.new_user() || ns.joins_user();
        let (clone_flags, second_clone, id_maps, id_maps_for_second) =
            if second { (0, Some(ns.clone_flags), None, maps) } else { (ns.clone_flags, None, maps, None) };
        let oom_score_adj = process.oom_score_adj;
        let config = init::Config {
            joins: std::mem::take(&mut ns.joins),
            new_cgroupns: ns.new_cgroup,
            hostname: spec
                .hostname()
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(sys::cstring)
                .transpose()
                .ctx("hostname")?,
            domainname: spec
                .domainname()
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(sys::cstring)
                .transpose()
                .ctx("domainname")?,
            sysctls: sysctls(&spec),
            process,
            may_setgroups: None,
            in_userns,
            console_socket,
            stdio: opts.stdio,
            preserve_fds: opts.preserve_fds,
            stub,
            cgroup: None,
            second_clone,
            hooks: hooks.in_init().then(|| hooks.clone()),
        };
        let req = Request {
            config,
            mode: Mode::Init { rootfs: Box::new(plan), start },
            clone_flags,
            pid_ns,
            id_maps,
            id_maps_for_second,
            oom_score_adj,
        };
        crate::timing::mark("spawning");
        let (child, chan) = spawn::spawn(req, rollback.cgroup.as_deref())?;
        crate::timing::mark("spawned (joined, Go sent)");
        let pid = child.pid;
        rollback.child = Some(child);
        let (_, start_time) = sys::proc_stat(pid).ctx("reading the init's start time")?;
        let record = Record {
            id: opts.id.clone(),
            pid,
            start_time,
            bundle,
            rootfs: rootfs_path,
            cgroup_path: cg_path,
            cgroup_owned: rollback.owns_cgroup,
            host_mounts,
            created: state::now(),
            owner: state::owner(),
            annotations: spec.annotations().clone().unwrap_or_default(),
        };
        if !hooks.poststop.is_empty() {
            rollback.poststop = Some((hooks.poststop.clone(), record.oci_state(Status::Stopped)));
        }
        Ok(Built { record, chan, rollback, hooks })
    }

    pub(crate) fn status(&self, rec: &Record) -> Status {
        self.store.status(rec, || {
            cgroups::Layout::detect()
                .ok()
                .and_then(|l| cgroups::manager(&l, &rec.cgroup_path).frozen().ok())
                .unwrap_or(false)
        })
    }
}

struct Built {
    record: Record,
    chan: Channel,
    rollback: Rollback,
    hooks: crate::hooks::Hooks,
}

impl Built {
    /// Waits for the init to be set up, running the prestart and
    /// createRuntime hooks when it asks (before its pivot_root). A hook
    /// that fails fails the create.
    fn await_created(&self) -> Result<Option<OwnedFd>> {
        let mut pty = None;
        loop {
            match self.chan.recv().ctx("waiting for the container's init")? {
                Some((Msg::Created, _)) => return Ok(pty),
                Some((Msg::Pty, fd)) => pty = fd,
                Some((Msg::CreateHooks, _)) => {
                    let state = self.record.oci_state(Status::Creating);
                    crate::hooks::run_all(&self.hooks.prestart, state.as_bytes()).map_err(Error::Init)?;
                    crate::hooks::run_all(&self.hooks.create_runtime, state.as_bytes()).map_err(Error::Init)?;
                    self.chan.send(&Msg::HookState(state)).ctx("resuming the container's init")?;
                }
                Some((Msg::Error(e), _)) => return Err(Error::Init(e)),
                Some((other, _)) => return Err(Error::Init(format!("unexpected message {other:?}"))),
                None => return Err(Error::Init("the init process exited before the container was created".into())),
            }
        }
    }
}

impl Running {
    /// Waits for the container's init to exit, forwarding signals and relaying
    /// the terminal, then removes the container. Returns the exit code
    /// (128 + signal when killed, e.g. 137 after an OOM kill).
    pub fn wait(self) -> Result<i32> {
        self.wait_with_stats().map(|(code, _)| code)
    }

    /// `wait`, also returning the cgroup's last statistics (read before it
    /// is removed): whether the OOM killer struck, the peak memory.
    pub fn wait_with_stats(mut self) -> Result<(i32, Option<cgroups::Stats>)> {
        let signals = self.signals.take().ok_or_else(|| Error::Init("already waited".into()))?;
        // Orphans of a container without its own pid namespace come to us.
        let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
        let code = foreground::wait(self.pid, &signals, self.pty.take()).ctx("waiting for the container")?;
        crate::timing::mark("exited");
        let stats = self.rollback.cgroup.as_ref().and_then(|c| c.stats().ok());
        if let Some(c) = self.rollback.child.take() {
            c.disarm();
        }
        self.rollback.run();
        crate::timing::mark("cleaned up");
        self.rollback.armed = false;
        Ok((code, stats))
    }

    /// Leaves the container running on its own (`run --detach`).
    pub fn detach(mut self) -> String {
        if let Some(c) = self.rollback.child.take() {
            c.disarm();
        }
        self.rollback.armed = false;
        self.id.clone()
    }

    /// The master of the container's terminal, when its process has one and
    /// no console socket took it: the caller relays it (`wait` does so
    /// itself).
    pub fn pty(&self) -> Option<&OwnedFd> {
        self.pty.as_ref()
    }
}

fn write_pid_file(path: Option<&Path>, pid: i32) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let tmp = path.with_extension("berth-tmp");
    fs::write(&tmp, pid.to_string()).with_ctx(|| format!("writing pid file {}", tmp.display()))?;
    fs::rename(&tmp, path).with_ctx(|| format!("writing pid file {}", path.display()))
}

fn sysctls(spec: &Spec) -> Vec<(String, PathBuf, String)> {
    let mut v: Vec<_> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
        .map(|(k, val)| {
            let rel = if k.contains('/') { k.clone() } else { k.replace('.', "/") };
            (k.clone(), Path::new("/proc/sys").join(rel), val.clone())
        })
        .collect();
    v.sort();
    v
}

fn rootfs_plan(
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    ns: &namespaces::Plan,
    layout: &cgroups::Layout,
    cg_path: &Path,
    process: &ProcessPlan,
) -> Result<rootfs::Plan> {
    let linux = spec.linux().as_ref();
    let mounts = spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, m)| mounts::plan(i, m, bundle))
        .collect::<Result<Vec<_>>>()?;
    let fresh_dev =
        mounts.iter().any(|m| m.destination == Path::new("/dev") && matches!(m.kind, mounts::Kind::Fs { .. }));
    let devpts = mounts.iter().any(|m| {
        m.destination == Path::new("/dev/pts")
            && matches!(&m.kind, mounts::Kind::Fs { fstype, .. } if fstype.as_bytes() == b"devpts")
    });
    let devices = linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, d)| dev::from_spec(i, d))
        .collect::<Result<Vec<_>>>()?;
    let propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        None | Some("") => None,
        Some(p) => Some(match p {
            "private" => libc::MS_PRIVATE,
            "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
            "slave" => libc::MS_SLAVE,
            "rslave" => libc::MS_SLAVE | libc::MS_REC,
            "shared" => libc::MS_SHARED,
            "rshared" => libc::MS_SHARED | libc::MS_REC,
            "unbindable" => libc::MS_UNBINDABLE,
            "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
            other => return Err(invalid("linux.rootfsPropagation", format!("unknown value {other:?}"))),
        }),
    };
    let has_ns = |t| linux.and_then(|l| l.namespaces().as_ref()).is_some_and(|v| v.iter().any(|n| n.typ() == t));
    Ok(rootfs::Plan {
        rootfs_mount: None,
        rootfs: rootfs.to_path_buf(),
        mounts,
        devices,
        fresh_dev,
        devpts,
        masked: linux.and_then(|l| l.masked_paths().clone()).unwrap_or_default(),
        readonly_paths: linux.and_then(|l| l.readonly_paths().clone()).unwrap_or_default(),
        readonly_root: spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false),
        propagation,
        userns: ns.new_user() || ns.joins_user(),
        cgroups: cgroup_views(layout, cg_path),
        new_cgroupns: ns.new_cgroup,
        new_mountns: has_ns(LinuxNamespaceType::Mount),
        cwd: process.cwd.clone(),
        terminal: process.terminal,
        console_size: process.console_size,
    })
}

/// Device cgroup rules: the spec's, then access to the devices every
/// container gets (as runc adds them), so a "deny all" spec still has
/// /dev/null and its terminal.
fn with_default_device_rules(res: &LinuxResources, plan: &rootfs::Plan) -> LinuxResources {
    let mut res = res.clone();
    let Some(rules) = res.devices().clone() else { return res };
    if rules.is_empty() {
        return res;
    }
    let mut rules = rules;
    let rule = |typ: LinuxDeviceType, major: i64, minor: Option<i64>| -> LinuxDeviceCgroup {
        serde_json::from_value(serde_json::json!({
            "allow": true, "type": typ, "major": major, "minor": minor, "access": "rwm"
        }))
        .unwrap_or_default()
    };
    if plan.fresh_dev || plan.terminal {
        for d in dev::defaults() {
            rules.push(rule(LinuxDeviceType::C, d.major as i64, Some(d.minor as i64)));
        }
        rules.push(rule(LinuxDeviceType::C, 5, Some(1))); // console
        rules.push(rule(LinuxDeviceType::C, 5, Some(2))); // ptmx
        rules.push(rule(LinuxDeviceType::C, 136, None)); // pts/*
    }
    for d in &plan.devices {
        let typ = match d.kind {
            libc::S_IFBLK => LinuxDeviceType::B,
            libc::S_IFIFO => continue,
            _ => LinuxDeviceType::C,
        };
        rules.push(rule(typ, d.major as i64, Some(d.minor as i64)));
    }
    res.set_devices(Some(rules));
    res
}
