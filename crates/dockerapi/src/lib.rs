//! The Docker Engine API, served over the engine library: what the `docker`
//! CLI, docker-py and docker-compose speak. Every request is answered by
//! the same engine the berth CLI drives, opened on the same state tree, so
//! containers made either way are one set; the server holds no state of
//! its own beyond exec sessions and attaches waiting for a start.
//!
//! `listen` binds the sockets (unix, TCP with TLS), `router` maps paths to
//! the handlers in `system`, `containers`, `images`, `networks` and
//! `volumes`; `create` reads docker's create body into a container
//! config; `hijack` serves attach and exec over upgraded connections.

// docker's info document is one large json! literal.
#![recursion_limit = "256"]

mod archive;
mod containers;
mod create;
mod exec;
mod hijack;
pub mod http;
mod images;
mod legacy_build;
pub mod listen;
mod networks;
mod router;
mod system;
mod volumes;

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use engine::Engine;
use tokio::sync::oneshot;

use crate::http::{ApiError, ApiResult};

/// The API version berth speaks: what docker CLI 28.2 asks for.
pub const API_VERSION: &str = "1.50";
/// The oldest version it answers (docker's own minimum).
pub const MIN_API_VERSION: &str = "1.24";

pub use listen::{serve, Endpoint, Options, TlsFiles};

/// What every request handler shares.
pub struct State {
    pub root: PathBuf,
    /// The berth binary, for the helper processes of exec and build.
    pub exe: PathBuf,
    /// Open engines, reused: opening one costs a database connection.
    engines: Mutex<Vec<Engine>>,
    /// Attaches to containers not started yet, waiting for their start.
    attach_waiters: Mutex<HashMap<String, Vec<oneshot::Sender<UnixStream>>>>,
    execs: Mutex<HashMap<String, Arc<exec::Exec>>>,
    /// Log every request to stderr (`BERTH_API_TRACE=1`).
    trace: bool,
}

impl State {
    pub fn new(root: PathBuf, exe: PathBuf) -> State {
        State {
            root,
            exe,
            engines: Mutex::new(Vec::new()),
            attach_waiters: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            trace: std::env::var_os("BERTH_API_TRACE").is_some_and(|v| v != "0"),
        }
    }

    fn take_engine(&self) -> ApiResult<Engine> {
        if let Some(e) = self.engines.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(e);
        }
        Ok(Engine::open(&self.root)?)
    }

    fn put_engine(&self, e: Engine) {
        if let Ok(mut v) = self.engines.lock() {
            if v.len() < 16 {
                v.push(e);
            }
        }
    }

    /// Runs `f` on an engine in a blocking thread (the engine's calls are
    /// synchronous: SQLite, the runtime, the image store).
    pub async fn engine<T, F>(self: &Arc<Self>, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Engine) -> ApiResult<T> + Send + 'static,
    {
        let st = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut e = st.take_engine()?;
            let r = f(&mut e);
            st.put_engine(e);
            r
        })
        .await
        .map_err(|e| ApiError::internal(format!("request handler failed: {e}")))?
    }

    /// Runs blocking work that needs no engine.
    pub async fn blocking<T, F>(f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> ApiResult<T> + Send + 'static,
    {
        tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("request handler failed: {e}")))?
    }
}
