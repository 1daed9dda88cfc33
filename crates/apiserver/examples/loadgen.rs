//! Load for `bench/apiserver`: creates of small ConfigMaps from concurrent
//! clients, a full list, and the delay from a write to its arrival at many
//! watchers, either through the Kubernetes API (HTTPS, keep-alive
//! connections) or straight against etcd (its gRPC API), the same way.
//!
//! loadgen api  URL TOKEN CA_FILE N CLIENTS WATCHERS
//! loadgen etcd ENDPOINT N CLIENTS WATCHERS
//! Prints one JSON line of results.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

struct Api {
    host: String,
    port: u16,
    token: String,
    tls: tokio_rustls::TlsConnector,
}

impl Api {
    async fn connect(&self) -> BufReader<Tls> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = rustls_pki_types::ServerName::try_from(self.host.clone()).expect("server name");
        BufReader::new(self.tls.connect(name, tcp).await.expect("TLS handshake"))
    }

    fn request(&self, method: &str, path: &str, body: &str) -> Vec<u8> {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            self.token,
            body.len()
        )
        .into_bytes()
    }
}

/// One response on a keep-alive connection: (status, body).
async fn response(r: &mut BufReader<Tls>) -> (u16, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).await.expect("status line");
    let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut len = None;
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line).await.expect("header");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).await.expect("chunk size");
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).await.expect("chunk");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = len {
        body.resize(n, 0);
        r.read_exact(&mut body).await.expect("body");
    }
    (status, body)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn now_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Each watch event's delay after its write, until every watcher saw every
/// write (or 10 s passed); the watchers are stopped then.
async fn delays(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(usize, f64)>,
    sent: &[f64],
    expected: usize,
    watchers: Vec<tokio::task::JoinHandle<()>>,
) -> Vec<f64> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((k, at))) => out.push(at - sent[k]),
            _ => break,
        }
    }
    for t in watchers {
        t.abort();
    }
    out
}

fn report(
    n: usize,
    write_secs: f64,
    listed: usize,
    list_ms: f64,
    mut delays: Vec<f64>,
    expected: usize,
) -> serde_json::Value {
    serde_json::json!({
        "creates": n, "write_secs": write_secs, "creates_per_sec": n as f64 / write_secs,
        "list_items": listed, "list_ms": list_ms,
        "watch_events": delays.len(), "watch_expected": expected,
        "watch_p50_ms": percentile(&mut delays, 0.5), "watch_p99_ms": percentile(&mut delays, 0.99),
    })
}

async fn api(args: &[String]) -> serde_json::Value {
    let url = &args[0];
    let token = std::fs::read_to_string(&args[1]).map(|t| t.trim().to_string()).unwrap_or_else(|_| args[1].clone());
    let ca = std::fs::read(&args[2]).expect("CA file");
    let (n, clients, watchers): (usize, usize, usize) =
        (args[3].parse().expect("N"), args[4].parse().expect("CLIENTS"), args[5].parse().expect("WATCHERS"));
    let hostport = url.trim_start_matches("https://");
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.expect("CA cert")).expect("CA");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let a = Arc::new(Api {
        host: host.to_string(),
        port: port.parse().expect("port"),
        token,
        tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
    });
    // A tag per round keeps repeated rounds on one server apart.
    let ns = format!("loadgen{}", args.get(6).map(String::as_str).unwrap_or(""));
    let ns = ns.as_str();
    let mut c = a.connect().await;
    c.get_mut()
        .write_all(&a.request("POST", "/api/v1/namespaces", &format!(r#"{{"metadata":{{"name":"{ns}"}}}}"#)))
        .await
        .unwrap();
    let _ = response(&mut c).await;

    // Writes: N creates from CLIENTS connections.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..clients {
        let a = a.clone();
        let ns = ns.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c = a.connect().await;
            let mut i = w;
            while i < n {
                let body = format!(
                    r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}"}},"data":{{"k":"v{i}"}}}}"#
                );
                c.get_mut()
                    .write_all(&a.request("POST", &format!("/api/v1/namespaces/{ns}/configmaps"), &body))
                    .await
                    .unwrap();
                let (st, b) = response(&mut c).await;
                assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
                i += clients;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let write_secs = start.elapsed().as_secs_f64();

    // A full list.
    let t = Instant::now();
    c.get_mut().write_all(&a.request("GET", &format!("/api/v1/namespaces/{ns}/configmaps"), "")).await.unwrap();
    let (_, body) = response(&mut c).await;
    let list_ms = t.elapsed().as_secs_f64() * 1000.0;
    let list: serde_json::Value = serde_json::from_slice(&body).expect("list JSON");
    let listed = list["items"].as_array().map_or(0, Vec::len);
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();

    // Watch delivery: WATCHERS streams, then writes spaced apart.
    let clock = Instant::now();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(usize, f64)>();
    let mut watch_tasks = Vec::new();
    for _ in 0..watchers {
        let a = a.clone();
        let tx = tx.clone();
        let rv = rv.clone();
        let ns = ns.to_string();
        watch_tasks.push(tokio::spawn(async move {
            let mut c = a.connect().await;
            let path = format!("/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}");
            c.get_mut().write_all(&a.request("GET", &path, "")).await.unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                if c.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if let Some(i) = line.find("\"name\":\"w-") {
                    let rest = &line[i + 10..];
                    if let Some(end) = rest.find('"') {
                        if let Ok(k) = rest[..end].parse::<usize>() {
                            let _ = tx.send((k, now_ms(clock)));
                        }
                    }
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = 100;
    let mut sent = vec![0.0; writes];
    for (k, s) in sent.iter_mut().enumerate() {
        let body = format!(r#"{{"metadata":{{"name":"w-{k}"}},"data":{{"k":"v"}}}}"#);
        *s = now_ms(clock);
        c.get_mut().write_all(&a.request("POST", &format!("/api/v1/namespaces/{ns}/configmaps"), &body)).await.unwrap();
        let _ = response(&mut c).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delays = delays(rx, &sent, writes * watchers, watch_tasks).await;
    report(n, write_secs, listed, list_ms, delays, writes * watchers)
}

async fn etcd(args: &[String]) -> serde_json::Value {
    let endpoint = args[0].trim_start_matches("http://").to_string();
    let (n, clients, watchers): (usize, usize, usize) =
        (args[1].parse().expect("N"), args[2].parse().expect("CLIENTS"), args[3].parse().expect("WATCHERS"));
    let client = etcd_client::Client::connect([endpoint], None).await.expect("etcd");
    let prefix = format!("/registry/loadgen{}/", args.get(4).map(String::as_str).unwrap_or(""));
    let prefix = prefix.as_str();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..clients {
        let mut c = client.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                let v = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}","namespace":"loadgen"}},"data":{{"k":"v{i}"}}}}"#);
                let key = format!("{prefix}cm-{i}");
                // As the API server creates: a transaction on the key's absence.
                let txn = etcd_client::Txn::new()
                    .when(vec![etcd_client::Compare::create_revision(key.clone(), etcd_client::CompareOp::Equal, 0)])
                    .and_then(vec![etcd_client::TxnOp::put(key, v, None)]);
                c.txn(txn).await.expect("txn");
                i += clients;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let write_secs = start.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut c = client.clone();
    let r = c.get(prefix, Some(etcd_client::GetOptions::new().with_prefix())).await.expect("list");
    let list_ms = t.elapsed().as_secs_f64() * 1000.0;
    let listed = r.kvs().len();

    let clock = Instant::now();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(usize, f64)>();
    let mut watch_tasks = Vec::new();
    for _ in 0..watchers {
        let mut c = client.clone();
        let tx = tx.clone();
        let prefix = prefix.to_string();
        watch_tasks.push(tokio::spawn(async move {
            let (_w, mut s) =
                c.watch(prefix.as_str(), Some(etcd_client::WatchOptions::new().with_prefix())).await.expect("watch");
            while let Ok(Some(m)) = s.message().await {
                for e in m.events() {
                    if let Some(kv) = e.kv() {
                        let key = String::from_utf8_lossy(kv.key()).into_owned();
                        if let Some(k) = key.strip_prefix(&format!("{prefix}w-")).and_then(|k| k.parse::<usize>().ok())
                        {
                            let _ = tx.send((k, now_ms(clock)));
                        }
                    }
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = 100;
    let mut sent = vec![0.0; writes];
    for (k, s) in sent.iter_mut().enumerate() {
        *s = now_ms(clock);
        c.put(format!("{prefix}w-{k}"), "v", None).await.expect("put");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delays = delays(rx, &sent, writes * watchers, watch_tasks).await;
    report(n, write_secs, listed, list_ms, delays, writes * watchers)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let out = match args.first().map(String::as_str) {
        Some("api") if matches!(args.len(), 7 | 8) => rt.block_on(api(&args[1..])),
        Some("etcd") if matches!(args.len(), 5 | 6) => rt.block_on(etcd(&args[1..])),
        _ => {
            eprintln!("usage: loadgen api URL TOKEN|TOKEN_FILE CA_FILE N CLIENTS WATCHERS [TAG] | loadgen etcd ENDPOINT N CLIENTS WATCHERS [TAG]");
            std::process::exit(2);
        }
    };
    println!("{out}");
}
