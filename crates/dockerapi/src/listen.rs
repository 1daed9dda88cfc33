//! Where the API is served: a unix socket (root-only, as docker's), or TCP
//! with TLS and client certificates (plain TCP only when asked for
//! explicitly), each connection served by hyper with upgrades for attach
//! and exec.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::rustls;

use crate::State;

/// The default, as podman's `system service` and dockerd's.
pub const DEFAULT_URI: &str = "unix:///run/berth/docker.sock";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Endpoint {
    /// `unix:///path`, `tcp://host:port` (podman's URI forms).
    pub fn parse(uri: &str) -> Result<Endpoint, String> {
        if let Some(p) = uri.strip_prefix("unix://") {
            if !p.starts_with('/') {
                return Err(format!("invalid URI {uri:?}: a unix socket path must be absolute (unix:///path)"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(p)));
        }
        if let Some(a) = uri.strip_prefix("tcp://") {
            let a = a.trim_end_matches('/');
            let addr = std::net::ToSocketAddrs::to_socket_addrs(a)
                .map_err(|e| format!("invalid URI {uri:?}: {e}"))?
                .next()
                .ok_or_else(|| format!("invalid URI {uri:?}: no address"))?;
            return Ok(Endpoint::Tcp(addr));
        }
        Err(format!("invalid URI {uri:?}: use unix:///PATH or tcp://HOST:PORT"))
    }
}

/// TLS for TCP: the server's certificate and key, and the CA that client
/// certificates must be signed by.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub root: PathBuf,
    pub exe: PathBuf,
    pub endpoint: Endpoint,
    pub tls: Option<TlsFiles>,
    /// Plain TCP without TLS: anyone who reaches the port is root here.
    pub insecure_tcp: bool,
}

fn tls_config(t: &TlsFiles) -> Result<rustls::ServerConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert)
        .and_then(|i| i.collect())
        .map_err(|e| format!("reading the certificate {}: {e}", t.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&t.key).map_err(|e| format!("reading the key {}: {e}", t.key.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&t.client_ca)
        .map_err(|e| format!("reading the client CA {}: {e}", t.client_ca.display()))?
    {
        let c = c.map_err(|e| format!("reading the client CA {}: {e}", t.client_ca.display()))?;
        roots.add(c).map_err(|e| format!("the client CA {}: {e}", t.client_ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("the client CA {}: {e}", t.client_ca.display()))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate {}: {e}", t.cert.display()))
}

/// A unix socket path that is free: a live server there is an error, a
/// stale socket file is replaced.
fn claim_socket(path: &Path) -> Result<(), String> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!("{} is in use by another server", path.display()));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
            std::fs::remove_file(path).map_err(|e| format!("removing the stale socket {}: {e}", path.display()))
        }
        Ok(_) => Err(format!("{} exists and is not a socket", path.display())),
        Err(_) => Ok(()),
    }
}

/// Serves until SIGINT or SIGTERM; `ready` is called once listening.
pub fn serve(opts: Options, ready: impl FnOnce(&str)) -> Result<(), String> {
    if let Endpoint::Tcp(_) = opts.endpoint {
        if opts.tls.is_none() && !opts.insecure_tcp {
            return Err("serving TCP needs TLS with client certificates (--tlscert, --tlskey, --tlscacert), \
                        or --insecure-tcp to serve it unauthenticated"
                .into());
        }
    }
    let tls = opts.tls.as_ref().map(tls_config).transpose()?.map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(256)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the server's runtime: {e}"))?;
    let state = Arc::new(State::new(opts.root.clone(), opts.exe.clone()));
    rt.block_on(async move {
        let handler = move |req| crate::router::handle(state.clone(), req);
        match &opts.endpoint {
            Endpoint::Unix(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
                }
                claim_socket(path)?;
                let listener = UnixListener::bind(path).map_err(|e| format!("listening on {}: {e}", path.display()))?;
                // Root-only, as docker.sock: whoever can talk to it is root.
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("restricting {}: {e}", path.display()))?;
                ready(&format!("unix://{}", path.display()));
                let served = serve::accept_until_signal(serve::Listener::Unix(listener), None, handler).await;
                let _ = std::fs::remove_file(path);
                served.map_err(|e| format!("installing signal handlers: {e}"))?;
            }
            Endpoint::Tcp(addr) => {
                let listener = TcpListener::bind(addr).await.map_err(|e| format!("listening on {addr}: {e}"))?;
                let local = listener.local_addr().map_err(|e| e.to_string())?;
                ready(&format!("tcp://{local}"));
                // A client without a valid certificate fails the handshake.
                serve::accept_until_signal(serve::Listener::Tcp(listener), tls, handler)
                    .await
                    .map_err(|e| format!("installing signal handlers: {e}"))?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_in_podmans_forms() {
        assert_eq!(Endpoint::parse("unix:///run/x.sock").unwrap(), Endpoint::Unix("/run/x.sock".into()));
        assert_eq!(Endpoint::parse("tcp://127.0.0.1:2375").unwrap(), Endpoint::Tcp("127.0.0.1:2375".parse().unwrap()));
        assert!(Endpoint::parse("unix://relative.sock").unwrap_err().contains("absolute"));
        assert!(Endpoint::parse("http://x").unwrap_err().contains("unix:///PATH"));
        assert!(Endpoint::parse("tcp://nohostport").is_err());
    }
}
