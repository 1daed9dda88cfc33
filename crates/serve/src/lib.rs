//! The serving loop every berth API shares (the Docker API, the cluster's
//! API server, later the node agent): accept on a TCP or unix listener,
//! optionally through TLS, serve each connection with hyper's HTTP/1.1
//! (upgrades included, for attach, exec and watch streams), and stop
//! accepting on SIGINT or SIGTERM. Routing is the caller's: a handler from
//! request to response.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;

/// Where connections come from.
pub enum Listener {
    /// TCP (`TCP_NODELAY` on every connection: API calls are small
    /// request/response exchanges that Nagle would only delay).
    Tcp(TcpListener),
    /// A unix socket; its file permissions are the caller's to set.
    Unix(UnixListener),
}

/// Serves one connection with `handler` until the peer closes it.
pub async fn connection<S, H, F, B>(io: S, handler: Arc<H>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let svc = service_fn(move |req| {
        let h = handler.clone();
        async move { Ok::<_, Infallible>(h(req).await) }
    });
    // A connection that breaks is the client's business, not the server's.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc).with_upgrades().await;
}

/// Accepts connections on `listener` (through `tls` when given: a client
/// that fails the handshake is dropped) and serves each on its own task,
/// until `stop` completes. Accept errors (a full fd table, say) do not end
/// the loop.
pub async fn accept_until<H, F, B>(
    listener: Listener,
    tls: Option<TlsAcceptor>,
    handler: H,
    stop: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let handler = Arc::new(handler);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            conn = accept(&listener) => {
                let Some(conn) = conn else { continue };
                let h = handler.clone();
                match (conn, tls.clone()) {
                    (Conn::Tcp(s), Some(acc)) => {
                        tokio::spawn(async move {
                            if let Ok(s) = acc.accept(s).await {
                                connection(s, h).await;
                            }
                        });
                    }
                    (Conn::Tcp(s), None) => {
                        tokio::spawn(connection(s, h));
                    }
                    (Conn::Unix(s), Some(acc)) => {
                        tokio::spawn(async move {
                            if let Ok(s) = acc.accept(s).await {
                                connection(s, h).await;
                            }
                        });
                    }
                    (Conn::Unix(s), None) => {
                        tokio::spawn(connection(s, h));
                    }
                }
            }
        }
    }
}

/// [`accept_until`] SIGINT or SIGTERM. Fails only if the signal handlers
/// cannot be installed.
pub async fn accept_until_signal<H, F, B>(
    listener: Listener,
    tls: Option<TlsAcceptor>,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    accept_until(listener, tls, handler, stop).await;
    Ok(())
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(l: &Listener) -> Option<Conn> {
    match l {
        Listener::Tcp(t) => {
            let (s, _) = t.accept().await.ok()?;
            let _ = s.set_nodelay(true);
            Some(Conn::Tcp(s))
        }
        Listener::Unix(u) => u.accept().await.ok().map(|(s, _)| Conn::Unix(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_handler_answers_every_connection_until_stopped() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(accept_until(
            Listener::Tcp(l),
            None,
            |req: Request<Incoming>| async move {
                Response::new(Full::new(Bytes::from(format!("you asked {}", req.uri()))))
            },
            async move {
                let _ = rx.await;
            },
        ));
        let (a, b) = tokio::join!(get(addr, "/one"), get(addr, "/two"));
        assert!(a.starts_with("HTTP/1.1 200") && a.ends_with("you asked /one"), "{a}");
        assert!(b.ends_with("you asked /two"), "{b}");
        tx.send(()).unwrap();
        server.await.unwrap();
        // Stopped: the listener is gone with the loop.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
