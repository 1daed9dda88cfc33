//! The etcd v3 backend (`--datastore-endpoint http://HOST:PORT`): each
//! operation is one etcd request; creates, updates and deletes are
//! transactions comparing the key's revisions, as the Kubernetes API
//! server's own etcd3 storage does.

use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, EventType, GetOptions, SortOrder, SortTarget, Txn, TxnOp,
    WatchOptions,
};
use tokio::sync::mpsc;

use crate::{Backend, Error, Event, KeyValue, ListOptions, ListResult, Result, Watch};

/// A connection to an etcd v3 cluster, used as a [`Backend`] over its whole
/// keyspace (keys are not prefixed).
pub struct EtcdStore {
    client: Client,
}

fn err(e: etcd_client::Error) -> Error {
    let text = e.to_string();
    if text.contains("required revision has been compacted") {
        return Error::Compacted { requested: 0, compacted: 0 };
    }
    if text.contains("future revision") {
        return Error::FutureRevision { requested: 0, current: 0 };
    }
    Error::Backend(format!("etcd: {text}"))
}

fn kv(k: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(k.key()).into_owned(),
        value: k.value().to_vec(),
        create_revision: k.create_revision(),
        mod_revision: k.mod_revision(),
    }
}

impl EtcdStore {
    /// Connects to the cluster at `endpoints` (`http://HOST:PORT`, scheme
    /// optional; TLS is not configured) and asks it for its revision, so an
    /// unreachable cluster fails here, within the 5-second connect timeout.
    pub async fn connect(endpoints: &[String]) -> Result<EtcdStore> {
        let eps: Vec<String> = endpoints
            .iter()
            .map(|e| e.trim_start_matches("http://").trim_start_matches("https://").to_string())
            .collect();
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_timeout(std::time::Duration::from_secs(30));
        let client = Client::connect(eps, Some(options)).await.map_err(err)?;
        let s = EtcdStore { client };
        // Fail now, not on the first request, when nothing answers.
        s.current_revision().await?;
        Ok(s)
    }

    /// The key's current value, from an `or_else` get of a failed transaction.
    fn current_of(resp: &etcd_client::TxnResponse) -> Option<KeyValue> {
        resp.op_responses().into_iter().find_map(|r| match r {
            etcd_client::TxnOpResponse::Get(g) => g.kvs().first().map(kv),
            _ => None,
        })
    }
}

#[async_trait::async_trait]
impl Backend for EtcdStore {
    fn name(&self) -> &'static str {
        "etcd"
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let r = self.client.clone().get(key, None).await.map_err(err)?;
        Ok(r.kvs().first().map(kv))
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let start = match &opts.start_after {
            Some(a) if a.as_str() >= prefix => format!("{a}\0"),
            _ => prefix.to_string(),
        };
        let mut o =
            GetOptions::new().with_range(crate::prefix_end(prefix)).with_sort(SortTarget::Key, SortOrder::Ascend);
        if let Some(r) = opts.revision.filter(|r| *r > 0) {
            o = o.with_revision(r);
        }
        if let Some(l) = opts.limit.filter(|l| *l > 0) {
            o = o.with_limit(l as i64);
        }
        let r = self.client.clone().get(start, Some(o)).await.map_err(|e| {
            let e = err(e);
            match e {
                Error::Compacted { .. } => Error::Compacted { requested: opts.revision.unwrap_or(0), compacted: 0 },
                Error::FutureRevision { .. } => {
                    Error::FutureRevision { requested: opts.revision.unwrap_or(0), current: 0 }
                }
                e => e,
            }
        })?;
        let revision = match opts.revision.filter(|r| *r > 0) {
            Some(r) => r,
            None => r.header().map_or(0, |h| h.revision()),
        };
        Ok(ListResult { items: r.kvs().iter().map(kv).collect(), revision, more: r.more() })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let txn = Txn::new()
            .when(vec![Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then(vec![TxnOp::put(key, value.clone(), None)])
            .or_else(vec![TxnOp::get(key, None)]);
        let r = self.client.clone().txn(txn).await.map_err(err)?;
        if !r.succeeded() {
            return Err(Error::AlreadyExists(key.to_string()));
        }
        let rev = r.header().map_or(0, |h| h.revision());
        Ok(KeyValue { key: key.to_string(), value, create_revision: rev, mod_revision: rev })
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: i64) -> Result<KeyValue> {
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then(vec![TxnOp::put(key, value.clone(), Some(etcd_client::PutOptions::new().with_prev_key()))])
            .or_else(vec![TxnOp::get(key, None)]);
        let r = self.client.clone().txn(txn).await.map_err(err)?;
        if !r.succeeded() {
            return match Self::current_of(&r) {
                None => Err(Error::NotFound(key.to_string())),
                Some(cur) => Err(Error::Conflict { key: key.to_string(), expected, actual: cur.mod_revision }),
            };
        }
        let rev = r.header().map_or(0, |h| h.revision());
        let create_revision = r
            .op_responses()
            .into_iter()
            .find_map(|o| match o {
                etcd_client::TxnOpResponse::Put(p) => p.prev_key().map(|k| k.create_revision()),
                _ => None,
            })
            .unwrap_or(rev);
        Ok(KeyValue { key: key.to_string(), value, create_revision, mod_revision: rev })
    }

    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<KeyValue> {
        let cmp = match expected {
            Some(e) => Compare::mod_revision(key, CompareOp::Equal, e),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        };
        let txn = Txn::new()
            .when(vec![cmp])
            .and_then(vec![TxnOp::delete(key, Some(etcd_client::DeleteOptions::new().with_prev_key()))])
            .or_else(vec![TxnOp::get(key, None)]);
        let r = self.client.clone().txn(txn).await.map_err(err)?;
        if !r.succeeded() {
            return match (Self::current_of(&r), expected) {
                (Some(cur), Some(e)) => {
                    Err(Error::Conflict { key: key.to_string(), expected: e, actual: cur.mod_revision })
                }
                _ => Err(Error::NotFound(key.to_string())),
            };
        }
        let rev = r.header().map_or(0, |h| h.revision());
        let prev = r
            .op_responses()
            .into_iter()
            .find_map(|o| match o {
                etcd_client::TxnOpResponse::Delete(d) => d.prev_kvs().first().map(kv),
                _ => None,
            })
            .ok_or_else(|| Error::NotFound(key.to_string()))?;
        Ok(KeyValue { mod_revision: rev, ..prev })
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<Watch> {
        let current = self.current_revision().await?;
        if after > current {
            return Err(Error::FutureRevision { requested: after, current });
        }
        // etcd tells of a compacted start only later, in the stream: ask
        // first, with a read at the watch's first revision.
        if after < current {
            let o = GetOptions::new().with_revision(after + 1).with_count_only();
            self.client.clone().get(prefix, Some(o)).await.map_err(|e| match err(e) {
                Error::Compacted { .. } => Error::Compacted { requested: after, compacted: 0 },
                e => e,
            })?;
        }
        let opts =
            WatchOptions::new().with_range(crate::prefix_end(prefix)).with_start_revision(after + 1).with_prev_key();
        let (watcher, mut stream) = self.client.clone().watch(prefix, Some(opts)).await.map_err(err)?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            let _watcher = watcher;
            loop {
                let msg = match stream.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(err(e))).await;
                        return;
                    }
                };
                if msg.canceled() {
                    let e = if msg.compact_revision() > 0 {
                        Error::Compacted { requested: after, compacted: msg.compact_revision() }
                    } else {
                        Error::Backend(format!("etcd canceled the watch: {}", msg.cancel_reason()))
                    };
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                for e in msg.events() {
                    let Some(k) = e.kv() else { continue };
                    let ev = match e.event_type() {
                        EventType::Put => {
                            let prev = e.prev_kv().map(kv).filter(|p| p.create_revision == k.create_revision());
                            Event::Put { kv: kv(k), prev }
                        }
                        EventType::Delete => {
                            let prev = e.prev_kv().map(kv).unwrap_or_else(|| kv(k));
                            Event::Delete { prev, revision: k.mod_revision() }
                        }
                    };
                    if tx.send(Ok(ev)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Watch::new(rx))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        self.client.clone().compact(revision, Some(CompactionOptions::new().with_physical())).await.map_err(|e| {
            match err(e) {
                Error::Compacted { .. } => Error::Compacted { requested: revision, compacted: 0 },
                Error::FutureRevision { .. } => Error::FutureRevision { requested: revision, current: 0 },
                e => e,
            }
        })?;
        Ok(())
    }

    async fn current_revision(&self) -> Result<i64> {
        let r = self.client.clone().get("\0", Some(GetOptions::new().with_count_only())).await.map_err(err)?;
        Ok(r.header().map_or(0, |h| h.revision()))
    }
}
