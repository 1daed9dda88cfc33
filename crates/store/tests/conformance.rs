//! One suite, every backend: the embedded SQLite store and a real etcd 3.4
//! (Debian's etcd-server) must behave the same, case by case, each one
//! raw and behind the watch cache the API server puts in front of it.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{Backend, Error, Event, ListOptions};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sqlite,
    Etcd,
}

/// The backend alone, or behind the watch cache (`store::open`).
#[derive(Clone, Copy, Debug)]
enum Layer {
    Raw,
    Cached,
}

/// A backend under test and what keeps it alive.
struct Fixture {
    kind: Kind,
    layer: Layer,
    dir: tempfile::TempDir,
    etcd: Option<(Child, String)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some((c, _)) = &mut self.etcd {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Fixture {
    async fn new((kind, layer): (Kind, Layer)) -> (Fixture, Arc<dyn Backend>) {
        let dir = tempfile::Builder::new().prefix("berth-store-").tempdir().unwrap();
        let etcd = match kind {
            Kind::Sqlite => None,
            Kind::Etcd => Some(start_etcd(dir.path())),
        };
        let f = Fixture { kind, layer, dir, etcd };
        let s = f.open().await;
        (f, s)
    }

    /// A fresh connection to the same data (a restarted server).
    async fn open(&self) -> Arc<dyn Backend> {
        let url = self.etcd.as_ref().map(|(_, u)| u.clone());
        let endpoint = match self.kind {
            Kind::Sqlite => None,
            Kind::Etcd => url.as_deref(),
        };
        match self.layer {
            Layer::Raw => store::open_backend(endpoint, self.dir.path()).await.unwrap(),
            Layer::Cached => store::open(endpoint, self.dir.path()).await.unwrap(),
        }
    }
}

fn etcd_binary() -> PathBuf {
    testkit::ensure_tool("etcd", "etcd-server")
}

fn start_etcd(dir: &Path) -> (Child, String) {
    let client = testkit::free_port();
    let peer = testkit::free_port();
    let curl = format!("http://127.0.0.1:{client}");
    let purl = format!("http://127.0.0.1:{peer}");
    let child = Command::new(etcd_binary())
        .args(["--data-dir"])
        .arg(dir.join("etcd"))
        .args(["--listen-client-urls", &curl, "--advertise-client-urls", &curl])
        .args(["--listen-peer-urls", &purl, "--initial-advertise-peer-urls", &purl])
        .args(["--initial-cluster", &format!("default={purl}"), "--log-level", "error"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting etcd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
        assert!(Instant::now() < deadline, "etcd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, curl)
}

async fn next(w: &mut store::Watch) -> Event {
    match tokio::time::timeout(Duration::from_secs(10), w.next()).await {
        Ok(Some(Ok(e))) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

async fn create_get_update_delete(kind: (Kind, Layer)) {
    let (_f, s) = Fixture::new(kind).await;
    let a = s.create("/registry/t/r/a", b"1".to_vec()).await.unwrap();
    assert_eq!(a.create_revision, a.mod_revision);
    assert_eq!(
        s.create("/registry/t/r/a", b"x".to_vec()).await.unwrap_err(),
        Error::AlreadyExists("/registry/t/r/a".into())
    );
    assert_eq!(s.get("/registry/t/r/a").await.unwrap(), Some(a.clone()));
    assert_eq!(s.get("/registry/t/r/none").await.unwrap(), None);
    let err = s.update("/registry/t/r/a", b"2".to_vec(), a.mod_revision - 1).await.unwrap_err();
    assert_eq!(
        err,
        Error::Conflict { key: "/registry/t/r/a".into(), expected: a.mod_revision - 1, actual: a.mod_revision }
    );
    let b = s.update("/registry/t/r/a", b"2".to_vec(), a.mod_revision).await.unwrap();
    assert_eq!(b.create_revision, a.create_revision);
    assert!(b.mod_revision > a.mod_revision);
    assert_eq!(s.get("/registry/t/r/a").await.unwrap().unwrap().value, b"2");
    assert!(matches!(s.delete("/registry/t/r/a", Some(a.mod_revision)).await.unwrap_err(), Error::Conflict { .. }));
    let d = s.delete("/registry/t/r/a", Some(b.mod_revision)).await.unwrap();
    assert_eq!(d.value, b"2", "the deleted value comes back");
    assert!(d.mod_revision > b.mod_revision, "at the deletion's revision");
    assert_eq!(s.get("/registry/t/r/a").await.unwrap(), None);
    assert_eq!(
        s.update("/registry/t/r/a", b"3".to_vec(), d.mod_revision).await.unwrap_err(),
        Error::NotFound("/registry/t/r/a".into())
    );
    assert_eq!(s.delete("/registry/t/r/a", None).await.unwrap_err(), Error::NotFound("/registry/t/r/a".into()));
    let again = s.create("/registry/t/r/a", b"4".to_vec()).await.unwrap();
    assert!(again.create_revision > d.mod_revision, "a new incarnation");
}

async fn revisions_are_global_and_failed_writes_take_none(kind: (Kind, Layer)) {
    let (_f, s) = Fixture::new(kind).await;
    let r0 = s.current_revision().await.unwrap();
    let a = s.create("/registry/t/x/a", vec![]).await.unwrap();
    assert_eq!(a.mod_revision, r0 + 1);
    let _ = s.create("/registry/t/x/a", vec![]).await.unwrap_err();
    let _ = s.update("/registry/t/x/a", vec![1], 999).await.unwrap_err();
    let b = s.create("/registry/t/y/b", vec![]).await.unwrap();
    assert_eq!(b.mod_revision, r0 + 2, "one revision per successful write, across keys");
    assert_eq!(s.current_revision().await.unwrap(), r0 + 2);
}

async fn lists_page_in_key_order_at_a_snapshot(kind: (Kind, Layer)) {
    let (_f, s) = Fixture::new(kind).await;
    for k in [
        "/registry/t/p/c",
        "/registry/t/p/a",
        "/registry/t/p/e",
        "/registry/t/p/b",
        "/registry/t/p/d",
        "/registry/t/q/a",
        "/registry/t/pz",
    ] {
        s.create(k, k.as_bytes().to_vec()).await.unwrap();
    }
    let all = s.list("/registry/t/p/", ListOptions::default()).await.unwrap();
    let keys: Vec<&str> = all.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["/registry/t/p/a", "/registry/t/p/b", "/registry/t/p/c", "/registry/t/p/d", "/registry/t/p/e"]);
    assert!(!all.more);
    assert_eq!(all.revision, s.current_revision().await.unwrap());
    let page1 = s.list("/registry/t/p/", ListOptions { limit: Some(2), ..Default::default() }).await.unwrap();
    assert_eq!(page1.items.len(), 2);
    assert!(page1.more);
    // Changes after the first page do not show in the next pages.
    s.create("/registry/t/p/f", vec![]).await.unwrap();
    let d = s.get("/registry/t/p/d").await.unwrap().unwrap();
    s.delete("/registry/t/p/d", None).await.unwrap();
    let next = |after: &str, limit| ListOptions {
        revision: Some(page1.revision),
        limit: Some(limit),
        start_after: Some(after.to_string()),
    };
    let page2 = s.list("/registry/t/p/", next("/registry/t/p/b", 2)).await.unwrap();
    assert_eq!(page2.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["/registry/t/p/c", "/registry/t/p/d"]);
    assert!(page2.more);
    assert_eq!(page2.items[1], d, "the deleted key, as it was");
    let page3 = s.list("/registry/t/p/", next("/registry/t/p/d", 2)).await.unwrap();
    assert_eq!(page3.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["/registry/t/p/e"]);
    assert!(!page3.more);
    let now = s.list("/registry/t/p/", ListOptions::default()).await.unwrap();
    assert_eq!(
        now.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
        ["/registry/t/p/a", "/registry/t/p/b", "/registry/t/p/c", "/registry/t/p/e", "/registry/t/p/f"]
    );
    let future = s.current_revision().await.unwrap() + 100;
    let err = s.list("/registry/t/p/", ListOptions { revision: Some(future), ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, Error::FutureRevision { .. }), "{err:?}");
}

async fn watches_replay_from_a_revision_then_stream(kind: (Kind, Layer)) {
    let (_f, s) = Fixture::new(kind).await;
    let before = s.current_revision().await.unwrap();
    let a = s.create("/registry/t/w/a", b"1".to_vec()).await.unwrap();
    s.create("/registry/t/other/x", b"no".to_vec()).await.unwrap();
    let a2 = s.update("/registry/t/w/a", b"2".to_vec(), a.mod_revision).await.unwrap();
    let mut w = s.watch("/registry/t/w/", before).await.unwrap();
    assert_eq!(next(&mut w).await, Event::Put { kv: a.clone(), prev: None });
    assert_eq!(next(&mut w).await, Event::Put { kv: a2.clone(), prev: Some(a.clone()) });
    // Live now.
    let b = s.create("/registry/t/w/b", b"b".to_vec()).await.unwrap();
    let d = s.delete("/registry/t/w/a", None).await.unwrap();
    s.create("/registry/t/wz", b"outside".to_vec()).await.unwrap();
    assert_eq!(next(&mut w).await, Event::Put { kv: b, prev: None });
    assert_eq!(next(&mut w).await, Event::Delete { prev: a2.clone(), revision: d.mod_revision });
    // A watch from the present sees only what comes next.
    let now = s.current_revision().await.unwrap();
    let mut w2 = s.watch("/registry/t/w/", now).await.unwrap();
    let c = s.create("/registry/t/w/c", vec![]).await.unwrap();
    assert_eq!(next(&mut w2).await, Event::Put { kv: c.clone(), prev: None });
    assert_eq!(next(&mut w).await, Event::Put { kv: c, prev: None });
    let err = s.watch("/registry/t/w/", now + 100).await.unwrap_err();
    assert!(matches!(err, Error::FutureRevision { .. }), "{err:?}");
}

async fn many_watchers_see_every_write_in_order(kind: (Kind, Layer)) {
    let (_f, s) = Fixture::new(kind).await;
    let from = s.current_revision().await.unwrap();
    let mut watchers = Vec::new();
    for _ in 0..10 {
        watchers.push(s.watch("/registry/t/m/", from).await.unwrap());
    }
    let mut tasks = Vec::new();
    for t in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                s.create(&format!("/registry/t/m/{t}-{i}"), vec![]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for w in &mut watchers {
        let mut last = from;
        for _ in 0..100 {
            let e = next(w).await;
            assert!(e.revision() > last, "in revision order");
            last = e.revision();
        }
    }
}

async fn compaction_forgets_history_but_keeps_the_state(kind: (Kind, Layer)) {
    let (_f, s) = Fixture::new(kind).await;
    let v1 = s.create("/registry/t/c/k", b"1".to_vec()).await.unwrap();
    let v2 = s.update("/registry/t/c/k", b"2".to_vec(), v1.mod_revision).await.unwrap();
    let gone = s.create("/registry/t/c/gone", b"g".to_vec()).await.unwrap();
    s.delete("/registry/t/c/gone", None).await.unwrap();
    let v3 = s.update("/registry/t/c/k", b"3".to_vec(), v2.mod_revision).await.unwrap();
    let at = v3.mod_revision;
    s.compact(at).await.unwrap();
    let old = ListOptions { revision: Some(gone.mod_revision), ..Default::default() };
    assert!(matches!(s.list("/registry/t/c/", old).await.unwrap_err(), Error::Compacted { .. }));
    let kept = s.list("/registry/t/c/", ListOptions { revision: Some(at), ..Default::default() }).await.unwrap();
    assert_eq!(kept.items, vec![v3.clone()]);
    assert!(matches!(s.watch("/registry/t/c/", v1.mod_revision).await.err(), Some(Error::Compacted { .. })));
    let mut w = s.watch("/registry/t/c/", at).await.unwrap();
    let v4 = s.update("/registry/t/c/k", b"4".to_vec(), v3.mod_revision).await.unwrap();
    assert_eq!(next(&mut w).await, Event::Put { kv: v4, prev: Some(v3) });
    assert!(matches!(s.compact(v1.mod_revision).await.unwrap_err(), Error::Compacted { .. }));
    let future = s.current_revision().await.unwrap() + 10;
    assert!(matches!(s.compact(future).await.unwrap_err(), Error::FutureRevision { .. }));
}

async fn concurrent_writers_each_get_their_own_revision(kind: (Kind, Layer)) {
    let (_f, s) = Fixture::new(kind).await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..50 {
                revs.push(s.create(&format!("/registry/t/n/{t}/{i}"), vec![t as u8]).await.unwrap().mod_revision);
            }
            // Racing updates of one key: exactly one wins per round.
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 400, "every write its own revision");
    assert_eq!(s.list("/registry/t/n/", ListOptions::default()).await.unwrap().items.len(), 400);
    let k = s.create("/registry/t/n/contended", vec![]).await.unwrap();
    let mut racers = Vec::new();
    for i in 0..8u8 {
        let s = s.clone();
        racers.push(tokio::spawn(
            async move { s.update("/registry/t/n/contended", vec![i], k.mod_revision).await.is_ok() },
        ));
    }
    let mut wins = 0;
    for r in racers {
        wins += r.await.unwrap() as usize;
    }
    assert_eq!(wins, 1, "compare-and-swap lets exactly one through");
}

async fn data_survives_a_restart(kind: (Kind, Layer)) {
    let (f, s) = Fixture::new(kind).await;
    let a = s.create("/registry/t/s/a", b"kept".to_vec()).await.unwrap();
    let rev = s.current_revision().await.unwrap();
    drop(s);
    let s = f.open().await;
    assert_eq!(s.get("/registry/t/s/a").await.unwrap(), Some(a));
    assert_eq!(s.current_revision().await.unwrap(), rev);
    let b = s.create("/registry/t/s/b", vec![]).await.unwrap();
    assert_eq!(b.mod_revision, rev + 1, "revisions go on from where they were");
    // Even when the newest revision was a deletion that compaction dropped.
    let gone = s.delete("/registry/t/s/b", None).await.unwrap();
    let last = s.current_revision().await.unwrap();
    assert!(last > b.mod_revision, "{gone:?}");
    s.compact(last).await.unwrap();
    drop(s);
    let s = f.open().await;
    assert_eq!(s.current_revision().await.unwrap(), last);
    let c = s.create("/registry/t/s/c", vec![]).await.unwrap();
    assert_eq!(c.mod_revision, last + 1);
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        conformance!(@backend sqlite_raw, Sqlite, Raw; $($case),*);
        conformance!(@backend sqlite_cached, Sqlite, Cached; $($case),*);
        conformance!(@backend etcd_raw, Etcd, Raw; $($case),*);
        conformance!(@backend etcd_cached, Etcd, Cached; $($case),*);
    };
    (@backend $module:ident, $kind:ident, $layer:ident; $($case:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case((super::Kind::$kind, super::Layer::$layer)).await
                }
            )*
        }
    };
}

conformance!(
    create_get_update_delete,
    revisions_are_global_and_failed_writes_take_none,
    lists_page_in_key_order_at_a_snapshot,
    watches_replay_from_a_revision_then_stream,
    many_watchers_see_every_write_in_order,
    compaction_forgets_history_but_keeps_the_state,
    concurrent_writers_each_get_their_own_revision,
    data_survives_a_restart,
);
