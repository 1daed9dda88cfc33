//! The cluster's API server as its users drive it: the real `kubectl`
//! (the 1.32 dispatcher, and older binaries beside it) against `berth
//! server` on HTTPS with the kubeconfig it writes, on the embedded store
//! and on a real etcd 3.4.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn berth() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An etcd of a test's own.
struct Etcd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    fn start() -> Etcd {
        let bin = testkit::ensure_tool("etcd", "etcd-server");
        let dir = tempfile::Builder::new().prefix("berth-etcd-").tempdir().unwrap();
        let (client, peer) = (testkit::free_port(), testkit::free_port());
        let url = format!("http://127.0.0.1:{client}");
        let purl = format!("http://127.0.0.1:{peer}");
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path().join("etcd"))
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &purl, "--initial-advertise-peer-urls", &purl])
            .args(["--initial-cluster", &format!("default={purl}"), "--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
            assert!(Instant::now() < deadline, "etcd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Etcd { child, url, _dir: dir }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `berth server` on a free port with a data directory of its own.
struct Cluster {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    _etcd: Option<Etcd>,
    compacting: bool,
}

impl Cluster {
    fn start() -> Cluster {
        Cluster::start_on(None)
    }

    fn start_on(etcd: Option<Etcd>) -> Cluster {
        Cluster::start_with(etcd, &[])
    }

    fn start_with(etcd: Option<Etcd>, env: &[(&str, &str)]) -> Cluster {
        let dir = tempfile::Builder::new().prefix("berth-server-").tempdir().unwrap();
        let port = testkit::free_port();
        let mut cmd = Command::new(berth());
        cmd.args([
            "server",
            "--disable-agent",
            "--bind-address",
            "127.0.0.1",
            "--https-listen-port",
            &port.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
        .envs(env.iter().copied());
        if let Some(e) = &etcd {
            cmd.args(["--datastore-endpoint", &e.url]);
        }
        let child = cmd.spawn().unwrap();
        let c = Cluster { child, dir, port, _etcd: etcd, compacting: false };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(c.kubeconfig().exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
            assert!(Instant::now() < deadline, "the server did not start: {}", c.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        c
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("data/kubeconfig.yaml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn kubectl_cmd_with(&self, bin: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        // Global flags first: everything after `--` is a container's command.
        c.arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        c
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd_with("kubectl", args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?}: {}{}\n{}", stdout(&out), stderr(&out), self.log());
        stdout(&out)
    }

    /// Runs kubectl with `stdin` as its input (a manifest for `-f -`).
    fn with_input(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .kubectl_cmd_with("kubectl", args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("data/tls/token")).unwrap().trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SAFETY: signalling the server we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports:
        - containerPort: 80
";

fn the_basic_lifecycle(c: &Cluster) {
    assert!(c.ok(&["version"]).contains("Server Version: v1.32"), "the server reports a real Kubernetes version");
    let ns = c.ok(&["get", "ns"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(n), "{ns}");
    }
    let out = c.with_input(&["create", "-f", "-"], "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c.with_input(&["apply", "-f", "-"], DEPLOYMENT);
    assert!(stdout(&out).contains("deployment.apps/web created"), "{}{}", stdout(&out), stderr(&out));
    let changed = DEPLOYMENT.replace("nginx:1.27", "nginx:1.28").replace("replicas: 2", "replicas: 3");
    let out = c.with_input(&["apply", "-f", "-"], &changed);
    assert!(stdout(&out).contains("deployment.apps/web configured"), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stderr(&out), "", "the patch was computed from the served schema, without warnings");
    let got = c.ok(&["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.generation} {.spec.template.spec.containers[0].ports[0].containerPort}"]);
    assert_eq!(got, "3 nginx:1.28 2 80", "the apply patch merged the container by name");
    let defaults = c.ok(&["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.template.spec.restartPolicy} {.spec.template.spec.containers[0].imagePullPolicy} {.spec.template.spec.containers[0].ports[0].protocol}"]);
    assert_eq!(defaults, "RollingUpdate 25% Always IfNotPresent TCP", "the defaults a real cluster fills in");
    let out = c.with_input(&["apply", "-f", "-"], &changed);
    assert!(stdout(&out).contains("unchanged"), "{}", stdout(&out));
    c.ok(&["scale", "deploy/web", "-n", "shop", "--replicas=5"]);
    assert_eq!(c.ok(&["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas}"]), "5");
    let wide = c.ok(&["get", "deploy", "-n", "shop", "-o", "wide"]);
    assert!(wide.contains("nginx:1.28") && wide.contains("app=web"), "{wide}");
    // Short names and categories come from discovery.
    assert!(c.ok(&["get", "all", "-n", "shop"]).contains("deployment.apps/web"));
    assert!(c.ok(&["get", "deploy", "-n", "shop", "-l", "app=web", "-o", "name"]).contains("deployment.apps/web"));
    assert_eq!(c.ok(&["get", "deploy", "-n", "shop", "-l", "app!=web", "-o", "name"]), "");
    c.ok(&["create", "cm", "c1", "-n", "shop", "--from-literal=a=1", "--dry-run=client", "-o", "yaml"]);
    let cm = c.with_input(
        &["apply", "--server-side", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  mode: fast\n",
    );
    assert!(stdout(&cm).contains("serverside-applied"), "{}{}", stdout(&cm), stderr(&cm));
    let desc = c.ok(&["describe", "cm", "settings", "-n", "shop"]);
    assert!(desc.contains("mode") && desc.contains("fast"), "{desc}");
    let resources = c.ok(&["api-resources"]);
    for line in ["deployments ", "deploy ", "apps/v1", "customresourcedefinitions"] {
        assert!(resources.contains(line), "{resources}");
    }
    // `explain` reads the served OpenAPI schemas.
    let explained = c.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        explained.contains("FIELD: replicas <integer>") && explained.contains("Number of desired pods"),
        "{explained}"
    );
    let explained = c.ok(&["explain", "pods.spec.containers.ports"]);
    assert!(explained.contains("containerPort") && explained.contains("<[]ContainerPort>"), "{explained}");
    // `edit` round-trips the object through the user's editor.
    let editor = c.dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/mode: fast/mode: careful/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = c
        .kubectl_cmd_with("kubectl", &["edit", "cm", "settings", "-n", "shop"])
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("configmap/settings edited"), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(c.ok(&["get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data.mode}"]), "careful");
    // Deleting the namespace deletes what is in it.
    c.ok(&["delete", "ns", "shop", "--wait=true", "--timeout=30s"]);
    let out = c.kubectl(&["get", "deploy", "web", "-n", "shop"]);
    assert!(stderr(&out).contains("NotFound"), "{}", stderr(&out));
}

const CRONTAB_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, kind: CronTab, shortNames: [ct], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec: {type: string, description: The schedule in cron format., pattern: '^(\\S+ ){4}\\S+$'}
              image: {type: string, default: busybox}
              replicas: {type: integer, minimum: 0}
          status:
            type: object
            properties:
              replicas: {type: integer}
";

fn custom_resources(c: &Cluster) {
    let out = c.with_input(&["apply", "-f", "-"], CRONTAB_CRD);
    assert!(out.status.success(), "{}", stderr(&out));
    c.ok(&["wait", "--for", "condition=established", "--timeout=20s", "crd/crontabs.stable.example.com"]);
    let ct = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: nightly}\nspec: {cronSpec: '0 3 * * *', replicas: 1}\n";
    let out = c.with_input(&["apply", "-f", "-"], ct);
    assert!(stdout(&out).contains("crontab.stable.example.com/nightly created"), "{}{}", stdout(&out), stderr(&out));
    let table = c.ok(&["get", "ct"]);
    assert!(table.starts_with("NAME") && table.contains("SPEC") && table.contains("0 3 * * *"), "{table}");
    assert_eq!(c.ok(&["get", "crontab", "nightly", "-o", "jsonpath={.spec.image}"]), "busybox", "the schema's default");
    // Applied server-side, the applier owns what it sent, not the defaults.
    let out = c.with_input(&["apply", "--server-side", "-f", "-"], &ct.replace("nightly", "weekly"));
    assert!(out.status.success(), "{}", stderr(&out));
    let owned =
        c.ok(&["get", "ct", "weekly", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[0].fieldsV1}"]);
    assert_eq!(owned, r#"{"f:spec":{"f:cronSpec":{},"f:replicas":{}}}"#);
    assert_eq!(c.ok(&["get", "ct", "weekly", "-o", "jsonpath={.spec.image}"]), "busybox");
    // A partial configuration applies onto what is there (it need not be
    // valid alone), and a null where the schema allows none is dropped.
    let partial = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: weekly}\nspec: {replicas: 2, image: null}\n";
    let out =
        c.with_input(&["apply", "--server-side", "--field-manager=scaler", "--force-conflicts", "-f", "-"], partial);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        c.ok(&["get", "ct", "weekly", "-o", "jsonpath={.spec.replicas} {.spec.cronSpec} {.spec.image}"]),
        "2 0 3 * * * busybox"
    );
    c.ok(&["scale", "ct", "nightly", "--replicas=3"]);
    c.ok(&["patch", "ct", "nightly", "--subresource=status", "--type=merge", "-p", r#"{"status":{"replicas":3}}"#]);
    assert_eq!(c.ok(&["get", "ct", "nightly", "-o", "jsonpath={.spec.replicas}/{.status.replicas}"]), "3/3");
    assert!(c.ok(&["get", "all"]).contains("crontab.stable.example.com/nightly"), "custom kinds join their categories");
    assert!(c.ok(&["explain", "crontab.spec.cronSpec"]).contains("The schedule in cron format."));
    assert!(c.ok(&["api-resources"]).contains("stable.example.com/v1"));
    // Objects that break the schema are refused, naming the fields.
    let bad = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: bad}\nspec: {cronSpec: nope, replicas: many}\n";
    let out = c.with_input(&["apply", "-f", "-"], bad);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("spec.replicas") && err.contains("spec.cronSpec"), "{err}");
    let unknown = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: bad}\nspec: {cronSpec: '* * * * *', colour: red}\n";
    let out = c.with_input(&["apply", "-f", "-"], unknown);
    assert!(stderr(&out).contains("unknown field \"spec.colour\""), "{}", stderr(&out));
    let out = c.kubectl(&["get", "ct", "bad"]);
    assert!(stderr(&out).contains("NotFound"), "nothing was stored: {}", stderr(&out));
    // Deleting the definition deletes its objects and stops serving them.
    c.ok(&["delete", "crd", "crontabs.stable.example.com"]);
    let out = c.kubectl(&["get", "ct"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let out = c.with_input(&["apply", "-f", "-"], CRONTAB_CRD);
    assert!(out.status.success(), "{}", stderr(&out));
    c.ok(&["wait", "--for", "condition=established", "--timeout=20s", "crd/crontabs.stable.example.com"]);
    assert_eq!(c.ok(&["get", "ct", "-o", "name"]), "", "the old objects went with their definition");
}

#[test]
fn kubectl_drives_the_embedded_store() {
    let c = Cluster::start();
    the_basic_lifecycle(&c);
    custom_resources(&c);
}

#[test]
fn kubectl_drives_an_etcd_backed_server() {
    let c = Cluster::start_on(Some(Etcd::start()));
    the_basic_lifecycle(&c);
    custom_resources(&c);
}

#[test]
fn server_side_apply_tracks_who_owns_each_field() {
    let c = Cluster::start();
    let app = |replicas: u32, labels: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {{{labels}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: app, image: 'nginx:1.27'}}]\n"
        )
    };
    let out = c.with_input(&["apply", "--server-side", "-f", "-"], &app(2, "app: web, tier: front"));
    assert!(stdout(&out).contains("serverside-applied"), "{}{}", stdout(&out), stderr(&out));
    let managers = c.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation} {end}",
    ]);
    assert_eq!(managers, "kubectl:Apply ");
    // Someone else takes .spec.replicas: applying another value conflicts.
    c.ok(&["scale", "deploy/web", "--replicas=4"]);
    let out = c.with_input(&["apply", "--server-side", "-f", "-"], &app(3, "app: web, tier: front"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Apply failed with 1 conflict: conflict with \"kubectl\"")
            && stderr(&out).contains(".spec.replicas"),
        "{}",
        stderr(&out)
    );
    assert_eq!(c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "4", "nothing was changed");
    // The same value is shared ownership, not a conflict; forcing takes the field.
    let out = c.with_input(&["apply", "--server-side", "-f", "-"], &app(4, "app: web, tier: front"));
    assert!(out.status.success(), "{}", stderr(&out));
    let out =
        c.with_input(&["apply", "--server-side", "--force-conflicts", "-f", "-"], &app(3, "app: web, tier: front"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "3");
    // A second manager owns a label of its own; the first dropping its
    // `tier` label removes it, but leaves the other's.
    let out = c.with_input(
        &["apply", "--server-side", "--field-manager=team-b", "-f", "-"],
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {owner: team-b}\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c.with_input(&["apply", "--server-side", "-f", "-"], &app(3, "app: web"));
    assert!(out.status.success(), "{}", stderr(&out));
    let labels = c.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.labels}"]);
    assert_eq!(labels, r#"{"app":"web","owner":"team-b"}"#);
    let fields = c.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[?(@.manager==\"team-b\")].fieldsV1}",
    ]);
    assert_eq!(fields, r#"{"f:metadata":{"f:labels":{"f:owner":{}}}}"#);
    // Apply without a field manager is refused by the server itself.
    let token = c.token();
    let out = Command::new("curl")
        .args(["-sk", "-X", "PATCH", "-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", "Content-Type: application/apply-patch+yaml", "--data", "{}"])
        .arg(format!("https://127.0.0.1:{}/apis/apps/v1/namespaces/default/deployments/web", c.port))
        .output()
        .unwrap();
    assert!(stdout(&out).contains("fieldManager is required"), "{}", stdout(&out));
}

#[test]
fn pods_bound_to_a_node_are_deleted_gracefully() {
    let c = Cluster::start();
    let pod = |name: &str, node: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: '{node}'\n  containers: [{{name: c, image: busybox}}]\n")
    };
    let out = c.with_input(&["create", "-f", "-"], &pod("unbound", ""));
    assert!(out.status.success(), "{}", stderr(&out));
    c.ok(&["delete", "pod", "unbound"]);
    assert!(stderr(&c.kubectl(&["get", "pod", "unbound"])).contains("NotFound"), "an unbound pod goes at once");
    let out = c.with_input(&["create", "-f", "-"], &pod("bound", "node-1"));
    assert!(out.status.success(), "{}", stderr(&out));
    c.ok(&["delete", "pod", "bound", "--wait=false", "--grace-period=20"]);
    let marked = c.ok(&[
        "get",
        "pod",
        "bound",
        "-o",
        "jsonpath={.metadata.deletionGracePeriodSeconds} {.metadata.deletionTimestamp}",
    ]);
    assert!(marked.starts_with("20 20"), "marked for its node agent: {marked}");
    // A status update in the grace period does not delete it; a shorter one may follow.
    c.ok(&["patch", "pod", "bound", "--subresource=status", "--type=merge", "-p", r#"{"status":{"phase":"Running"}}"#]);
    c.ok(&["delete", "pod", "bound", "--wait=false", "--grace-period=5"]);
    assert_eq!(c.ok(&["get", "pod", "bound", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"]), "5");
    c.ok(&["delete", "pod", "bound", "--force", "--grace-period=0"]);
    assert!(stderr(&c.kubectl(&["get", "pod", "bound"])).contains("NotFound"), "forced deletion is immediate");
    // With a finalizer, a forced deletion ends the grace period and the pod
    // goes when the finalizer does.
    let held = pod("held", "node-1")
        .replace("metadata: {name: held}", "metadata: {name: held, finalizers: [example.com/hold]}");
    let out = c.with_input(&["create", "-f", "-"], &held);
    assert!(out.status.success(), "{}", stderr(&out));
    c.ok(&["delete", "pod", "held", "--wait=false", "--grace-period=20"]);
    c.ok(&["delete", "pod", "held", "--wait=false", "--force", "--grace-period=0"]);
    assert_eq!(c.ok(&["get", "pod", "held", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"]), "0");
    c.ok(&["patch", "pod", "held", "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]);
    assert!(stderr(&c.kubectl(&["get", "pod", "held"])).contains("NotFound"), "gone with its finalizer");
}

#[test]
fn pods_are_bound_evicted_by_their_budgets_and_drained() {
    let c = Cluster::start();
    let out = c.with_input(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec:\n  containers: [{name: c, image: busybox}]\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Logs and exec belong to a node: an unbound pod has none to ask.
    let out = c.kubectl(&["logs", "web"]);
    assert!(!out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("pod web does not have a host assigned"), "{}", stderr(&out));

    // A scheduler's binding, as the scheduler posts it.
    let binding = r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web","annotations":{"by":"test"}},"target":{"kind":"Node","name":"n1"}}"#;
    let bind =
        |body: &str| c.with_input(&["create", "--raw", "/api/v1/namespaces/default/pods/web/binding", "-f", "-"], body);
    let out = bind(binding);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Success"), "{}", stdout(&out));
    let got = c.ok(&["get", "pod", "web", "-o", "jsonpath={.spec.nodeName} {.metadata.annotations.by} {.status.conditions[0].type}={.status.conditions[0].status}"]);
    assert_eq!(got, "n1 test PodScheduled=True");
    let out = bind(binding);
    assert!(stderr(&out).contains("already assigned to node \"n1\""), "bound once: {}", stderr(&out));
    let out =
        bind(r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},"target":{"kind":"Pod","name":""}}"#);
    assert!(stderr(&out).contains("target.name"), "{}", stderr(&out));
    let out = c.kubectl(&["logs", "web"]);
    assert!(stderr(&out).contains("node agent of node \"n1\""), "{}", stderr(&out));

    // A budget guards running pods (pending ones go regardless); one whose
    // status the disruption controller has not yet written refuses the
    // eviction with 429, so drain retries until its timeout.
    c.ok(&["patch", "pod", "web", "--subresource=status", "--type=merge", "-p", r#"{"status":{"phase":"Running"}}"#]);
    let out = c.with_input(
        &["apply", "-f", "-"],
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: keep}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: web}}\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c.kubectl(&["drain", "n1", "--force", "--grace-period=0", "--timeout=3s"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "{}",
        stderr(&out)
    );
    assert_eq!(c.ok(&["get", "pod", "web", "-o", "name"]).trim(), "pod/web", "the pod stays");
    assert_eq!(c.ok(&["get", "node", "n1", "-o", "jsonpath={.spec.unschedulable}"]), "true", "cordoned");
    // One disruption allowed: the eviction uses it and the pod goes.
    c.ok(&[
        "patch", "pdb", "keep", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":1,"desiredHealthy":1,"expectedPods":1}}"#,
    ]);
    let drained = c.ok(&["drain", "n1", "--force", "--grace-period=0", "--timeout=20s"]);
    assert!(drained.contains("pod/web evicted"), "{drained}");
    assert!(stderr(&c.kubectl(&["get", "pod", "web"])).contains("NotFound"));
    let budget = c.ok(&["get", "pdb", "keep", "-o", "jsonpath={.status.disruptionsAllowed} {.status.disruptedPods}"]);
    assert!(budget.starts_with("0 {\"web\":"), "{budget}");
}

#[test]
fn kubectl_auth_tells_the_admin_who_it_is_and_what_it_may_do() {
    let c = Cluster::start();
    assert_eq!(c.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    assert_eq!(c.ok(&["auth", "can-i", "delete", "nodes", "--all-namespaces"]).trim(), "yes");
    assert_eq!(c.ok(&["auth", "can-i", "get", "/healthz"]).trim(), "yes");
    let list = c.ok(&["auth", "can-i", "--list"]);
    assert!(list.lines().any(|l| l.starts_with("*.*")), "{list}");
    let me = c.ok(&["auth", "whoami"]);
    assert!(me.contains("system:admin") && me.contains("system:masters"), "{me}");
    assert!(c.ok(&["api-resources", "--api-group=authorization.k8s.io"]).contains("selfsubjectaccessreviews"));
}

#[test]
fn watches_see_changes_and_selectors_filter_them() {
    let c = Cluster::start();
    let cm = |name: &str, app: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{app: {app}}}\ndata:\n  k: v\n")
    };
    let out = c.with_input(&["create", "-f", "-"], &cm("first", "web"));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut watch = c
        .kubectl_cmd_with("kubectl", &["get", "cm", "-w", "-l", "app=web", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(c.with_input(&["create", "-f", "-"], &cm("second", "web")).status.success());
    assert!(c.with_input(&["create", "-f", "-"], &cm("other", "db")).status.success());
    c.ok(&["label", "cm", "second", "tier=front"]);
    c.ok(&["delete", "cm", "second"]);
    std::thread::sleep(Duration::from_millis(1500));
    let _ = watch.kill();
    let out = watch.wait_with_output().unwrap();
    let text = stdout(&out);
    let lines: Vec<&str> =
        text.lines().filter(|l| l.contains("second") || l.contains("first") || l.contains("other")).collect();
    assert!(lines.iter().any(|l| l.contains("ADDED") && l.contains("first")), "{text}");
    assert!(lines.iter().any(|l| l.contains("ADDED") && l.contains("second")), "{text}");
    assert!(lines.iter().any(|l| l.contains("MODIFIED") && l.contains("second")), "{text}");
    assert!(lines.iter().any(|l| l.contains("DELETED") && l.contains("second")), "{text}");
    assert!(!text.contains("other"), "the selector keeps app=db out: {text}");
}

#[test]
fn older_kubectl_binaries_work_too() {
    let c = Cluster::start();
    // The versioned binaries sit beside the dispatcher.
    let out = Command::new("sh").args(["-c", "readlink -f \"$(command -v kubectl)\""]).output().unwrap();
    let dispatcher = PathBuf::from(stdout(&out).trim());
    let dir = dispatcher.parent().unwrap_or(Path::new("/usr/bin")).to_path_buf();
    let mut tried = 0;
    for v in ["1.29", "1.31", "1.33"] {
        let bin = dir.join(format!("kubectl.{v}"));
        if !bin.exists() {
            continue;
        }
        tried += 1;
        let name = format!("cm-{}", v.replace('.', "-"));
        let out = c
            .kubectl_cmd_with(
                bin.to_str().unwrap(),
                &["create", "cm", &name, "--from-literal=a=1", "--dry-run=client", "-o", "json"],
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{v}: {}", stderr(&out));
        let mut child = c
            .kubectl_cmd_with(bin.to_str().unwrap(), &["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
        let applied = child.wait_with_output().unwrap();
        assert!(applied.status.success(), "kubectl {v} apply: {}", stderr(&applied));
        let got = c.kubectl_cmd_with(bin.to_str().unwrap(), &["get", "cm", &name, "-o", "name"]).output().unwrap();
        assert_eq!(stdout(&got).trim(), format!("configmap/{name}"), "kubectl {v}: {}", stderr(&got));
    }
    assert!(tried >= 2, "kubectl 1.29/1.31/1.33 should sit beside {}", dispatcher.display());
}

#[test]
fn errors_read_as_kubectl_shows_them_and_change_nothing() {
    let c = Cluster::start();
    let out = c.kubectl(&["get", "cm", "nope"]);
    assert!(stderr(&out).contains("Error from server (NotFound): configmaps \"nope\" not found"), "{}", stderr(&out));
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata:\n  k: v\n";
    assert!(c.with_input(&["create", "-f", "-"], cm).status.success());
    let out = c.with_input(&["create", "-f", "-"], cm);
    assert!(stderr(&out).contains("AlreadyExists"), "{}", stderr(&out));
    let out = c.with_input(&["create", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n");
    assert!(stderr(&out).contains("Invalid") && stderr(&out).contains("metadata.name"), "{}", stderr(&out));
    let out = c.with_input(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nowhere\n",
    );
    assert!(stderr(&out).contains("namespaces \"nowhere\" not found"), "{}", stderr(&out));
    // A replace with a stale resourceVersion: 409, the object unchanged.
    let stale = c.ok(&["get", "cm", "one", "-o", "json"]);
    c.ok(&["label", "cm", "one", "changed=yes"]);
    let out = c.with_input(&["replace", "-f", "-"], &stale.replace("\"v\"", "\"stale\""));
    assert!(
        stderr(&out).contains("Conflict") && stderr(&out).contains("the object has been modified"),
        "{}",
        stderr(&out)
    );
    assert_eq!(c.ok(&["get", "cm", "one", "-o", "jsonpath={.data.k}"]), "v");
    // Malformed input never reaches the store.
    let out = c.with_input(&["create", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n");
    assert!(!out.status.success());
    let out = c.with_input(
        &["create", "-f", "-", "--validate=false"],
        "apiVersion: v9\nkind: ConfigMap\nmetadata:\n  name: v\n",
    );
    assert!(!out.status.success(), "an unknown version is refused");
    // An object over the store's 1.5 MiB limit.
    let big =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  k: {}\n", "x".repeat(1_700_000));
    let out = c.with_input(&["create", "-f", "-", "--validate=false"], &big);
    assert!(stderr(&out).contains("RequestEntityTooLarge") || stderr(&out).contains("too large"), "{}", stderr(&out));
    assert_eq!(c.ok(&["get", "cm", "-o", "name"]).trim(), "configmap/one");
    // Without the token: 401.
    let out = Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("https://127.0.0.1:{}/api/v1/namespaces", c.port),
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "401");
    let out = Command::new("curl")
        .args([
            "-sk",
            "-H",
            &format!("Authorization: Bearer {}", c.token()),
            &format!("https://127.0.0.1:{}/api/v1/namespaces/default", c.port),
        ])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("\"kind\":\"Namespace\""), "{}", stdout(&out));
}

#[test]
fn deletes_cascade_to_owned_objects_by_policy() {
    let c = Cluster::start();
    let create = |name: &str, owner: Option<&str>| {
        let mut m = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
        if let Some(o) = owner {
            let uid = c.ok(&["get", "cm", o, "-o", "jsonpath={.metadata.uid}"]);
            m.push_str(&format!(
                "  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {o}\n    uid: {uid}\n    blockOwnerDeletion: true\n"
            ));
        }
        let out = c.with_input(&["create", "-f", "-"], &m);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let exists = |name: &str| c.kubectl(&["get", "cm", name]).status.success();
    let wait_gone = |name: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while exists(name) {
            assert!(Instant::now() < deadline, "{name} was not collected");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Background: the owner goes at once, its dependents (two levels) after.
    create("bg", None);
    create("bg-child", Some("bg"));
    create("bg-grandchild", Some("bg-child"));
    create("unrelated", None);
    c.ok(&["delete", "cm", "bg", "--cascade=background"]);
    wait_gone("bg-child");
    wait_gone("bg-grandchild");
    assert!(exists("unrelated"));
    // Foreground: the dependents go first, then the owner (kubectl waits).
    create("fg", None);
    create("fg-child", Some("fg"));
    c.ok(&["delete", "cm", "fg", "--cascade=foreground", "--timeout=20s"]);
    assert!(!exists("fg") && !exists("fg-child"));
    // Orphan: the dependent stays, without its owner reference.
    create("or", None);
    create("or-child", Some("or"));
    c.ok(&["delete", "cm", "or", "--cascade=orphan"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(exists("or-child"), "an orphan stays");
    assert_eq!(c.ok(&["get", "cm", "or-child", "-o", "jsonpath={.metadata.ownerReferences}"]), "");
}

/// The same semantics through another client: Python's `kubernetes`.
fn python_client(c: &Cluster) -> String {
    let script = r#"
import sys, time
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
config.load_kube_config()
v1 = client.CoreV1Api()
v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py")))
cm = v1.create_namespaced_config_map("py", {"metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "1"}})
start = cm.metadata.resource_version
v1.patch_namespaced_config_map("a", "py", {"data": {"k": "2"}})
v1.patch_namespaced_config_map("a", "py", [{"op": "add", "path": "/data/j", "value": "3"}])
cm.data = {"k": "stale"}
try:
    v1.replace_namespaced_config_map("a", "py", cm)
    print("stale replace accepted")
except ApiException as e:
    print("stale", e.status)
seen = []
for ev in watch.Watch().stream(v1.list_namespaced_config_map, "py", resource_version=start, timeout_seconds=2):
    seen.append("%s %s" % (ev["type"], ",".join("%s=%s" % kv for kv in sorted(ev["object"].data.items()))))
print("events", seen)
names = [i.metadata.name for i in v1.list_namespaced_config_map("py", label_selector="app=x").items]
print("listed", names)
v1.delete_namespaced_config_map("a", "py")
try:
    v1.read_namespaced_config_map("a", "py")
except ApiException as e:
    print("gone", e.status)
if len(sys.argv) > 1:
    # Wait for compaction to pass the start, then watch from it.
    for i in range(4):
        v1.create_namespaced_config_map("py", {"metadata": {"name": "c%d" % i}})
        time.sleep(0.6)
    # The raw watch (Watch.stream would quietly re-list after a 410).
    import json
    resp = v1.list_namespaced_config_map("py", watch=True, resource_version=start, timeout_seconds=2,
                                         _preload_content=False)
    first = json.loads(resp.readline() or b"{}")
    if first.get("type") == "ERROR":
        print("expired", first["object"]["code"], first["object"]["reason"])
    else:
        print("old watch accepted", first)
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .env("PYTHONPATH", testkit::python_kubernetes_client())
        .env("KUBECONFIG", c.kubeconfig())
        .stdin(Stdio::null());
    if c.compacting {
        cmd.arg("compacted");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "python: {}{}\n{}", stdout(&out), stderr(&out), c.log());
    stdout(&out)
}

#[test]
fn the_python_client_sees_the_same_watch_and_patch_semantics() {
    for etcd in [None, Some(Etcd::start())] {
        let mut c = Cluster::start_with(etcd, &[("BERTH_COMPACTION_INTERVAL_MS", "500")]);
        c.compacting = true;
        let out = python_client(&c);
        assert!(out.contains("stale 409"), "{out}");
        assert!(out.contains("events ['MODIFIED k=2', 'MODIFIED j=3,k=2']"), "{out}");
        assert!(out.contains("listed ['a']"), "{out}");
        assert!(out.contains("gone 404"), "{out}");
        assert!(
            out.contains("expired 410 Expired"),
            "a watch from a compacted revision ({}): {out}\n{}",
            if c._etcd.is_some() { "etcd" } else { "sqlite" },
            c.log()
        );
    }
}

#[test]
fn kubectl_create_generators_send_protobuf_and_it_is_understood() {
    let c = Cluster::start();
    for args in [
        &["create", "namespace", "team"][..],
        &["create", "configmap", "c1", "-n", "team", "--from-literal=a=1"],
        &["create", "secret", "generic", "s1", "-n", "team", "--from-literal=p=x"],
        &["create", "serviceaccount", "sa1", "-n", "team"],
        &["create", "deployment", "web", "-n", "team", "--image=nginx", "--replicas=2", "--port=80"],
        &["create", "service", "clusterip", "svc1", "-n", "team", "--tcp=80:8080"],
        &["create", "job", "j1", "-n", "team", "--image=busybox", "--", "echo", "hi"],
        &["create", "cronjob", "cj", "-n", "team", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"],
        &["create", "quota", "q1", "-n", "team", "--hard=pods=10,requests.cpu=2"],
        &["create", "poddisruptionbudget", "pdb1", "-n", "team", "--selector=app=web", "--min-available=1"],
        &["create", "priorityclass", "high", "--value=1000", "--description=important"],
    ] {
        c.ok(args);
    }
    assert_eq!(c.ok(&["get", "cm", "c1", "-n", "team", "-o", "jsonpath={.data.a}"]), "1");
    assert_eq!(c.ok(&["get", "secret", "s1", "-n", "team", "-o", "jsonpath={.data.p} {.type}"]), "eA== Opaque");
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-n", "team", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"]),
        "2 nginx 80"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "svc",
            "svc1",
            "-n",
            "team",
            "-o",
            "jsonpath={.spec.ports[0].port}:{.spec.ports[0].targetPort}/{.spec.ports[0].protocol}"
        ]),
        "80:8080/TCP"
    );
    assert_eq!(
        c.ok(&["get", "job", "j1", "-n", "team", "-o", "jsonpath={.spec.template.spec.containers[0].command}"]),
        r#"["echo","hi"]"#
    );
    assert_eq!(c.ok(&["get", "cronjob", "cj", "-n", "team", "-o", "jsonpath={.spec.schedule}"]), "*/5 * * * *");
    assert_eq!(c.ok(&["get", "quota", "q1", "-n", "team", "-o", "jsonpath={.spec.hard.pods}"]), "10");
    assert_eq!(
        c.ok(&[
            "get",
            "pdb",
            "pdb1",
            "-n",
            "team",
            "-o",
            "jsonpath={.spec.minAvailable} {.spec.selector.matchLabels.app}"
        ]),
        "1 web"
    );
    assert_eq!(
        c.ok(&["get", "pc", "high", "-o", "jsonpath={.value} {.preemptionPolicy}"]),
        "1000 PreemptLowerPriority"
    );
}

#[test]
fn field_validation_is_strict_warn_or_ignore_as_asked() {
    let c = Cluster::start();
    let bogus = |name: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  bogus: 1\n  selector:\n    matchLabels: {{app: x}}\n  template:\n    metadata:\n      labels: {{app: x}}\n    spec:\n      containers:\n      - name: c\n        image: busybox\n"
        )
    };
    // kubectl's default (--validate=strict): refused, nothing stored.
    let out = c.with_input(&["apply", "-f", "-"], &bogus("strict"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown field \"spec.bogus\""), "{}", stderr(&out));
    assert!(!c.kubectl(&["get", "deploy", "strict"]).status.success());
    // Warn: stored, with the warning printed.
    let out = c.with_input(&["apply", "--validate=warn", "-f", "-"], &bogus("warned"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Warning: unknown field \"spec.bogus\""), "{}", stderr(&out));
    // Ignore: stored quietly.
    let out = c.with_input(&["apply", "--validate=false", "-f", "-"], &bogus("ignored"));
    assert!(out.status.success() && !stderr(&out).contains("Warning"), "{}", stderr(&out));
    // A field of the wrong type is refused whatever the mode.
    let wrong = bogus("typed").replace("  bogus: 1\n", "  replicas: two\n");
    let out = c.with_input(&["create", "--validate=false", "-f", "-"], &wrong);
    assert!(stderr(&out).contains("spec.replicas"), "{}", stderr(&out));
}
