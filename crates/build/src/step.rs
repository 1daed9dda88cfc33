//! A RUN step runs in a process of its own (`berth internal build-run`):
//! the runtime forks and must be called from a single-threaded process,
//! while the builder runs stages in parallel threads. The child creates the
//! step's container on the stage's layers, runs it with its output on its
//! own stdout/stderr (which the builder streams into the progress), moves
//! the container's upper directory to where the layer is being staged, and
//! removes the container. Its outcome comes back in a small result file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use engine::{ContainerConfig, Engine};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Serialize, Deserialize)]
pub struct Request {
    pub config: ContainerConfig,
    /// Where the upper directory goes on success (must not exist).
    pub dest: PathBuf,
    pub result: PathBuf,
}

#[derive(Serialize, Deserialize, Debug)]
pub enum Outcome {
    Exited(i32),
    Failed(String),
}

/// The builder's side: runs `req` in a child, passing its output to
/// `output` (stream 0 stdout, 1 stderr) as it comes. Returns the exit code.
pub fn run(
    launcher: &engine::Launcher,
    dir: &Path,
    req: &Request,
    output: &mut dyn FnMut(usize, &[u8]),
) -> Result<i32> {
    let path = dir.join(format!("run-{}.json", std::process::id()));
    let json = serde_json::to_vec(req).map_err(|e| Error::Invalid(e.to_string()))?;
    std::fs::write(&path, json).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    let mut cmd = launcher.command("build-run", &path.to_string_lossy());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let spawned = cmd.spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(Error::io("starting the build step", e));
        }
    };
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    .filter_map(|(i, r)| r.map(|r| (i, r)))
    .map(|(i, mut r)| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 << 10];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 || tx.send((i, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);
    for (stream, bytes) in rx {
        output(stream, &bytes);
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait().map_err(|e| Error::io("waiting for the build step", e));
    let _ = std::fs::remove_file(&path);
    status?;
    let outcome: Outcome = std::fs::read(&req.result)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| Error::Invalid("the build step ended without a result".into()))?;
    let _ = std::fs::remove_file(&req.result);
    match outcome {
        Outcome::Exited(code) => Ok(code),
        Outcome::Failed(msg) => Err(Error::Invalid(msg)),
    }
}

/// The child's side (`berth internal build-run REQUEST`); the process exit code.
pub fn main(root: &Path, request: &Path) -> i32 {
    let req: Request = match std::fs::read(request).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(r) => r,
        None => {
            eprintln!("berth build-run: unreadable request {}", request.display());
            return 125;
        }
    };
    let outcome = match step(root, &req) {
        Ok(code) => Outcome::Exited(code),
        Err(e) => Outcome::Failed(e.to_string()),
    };
    let code = match &outcome {
        Outcome::Exited(c) => *c,
        Outcome::Failed(_) => 125,
    };
    if let Ok(json) = serde_json::to_vec(&outcome) {
        let _ = std::fs::write(&req.result, json);
    }
    code
}

fn step(root: &Path, req: &Request) -> Result<i32> {
    let mut engine = Engine::open(root)?;
    let c = engine.create_on_layers(None, req.config.clone())?;
    let result = engine.run_attached(&c.id, false, None);
    let outcome = match result {
        Ok(0) => {
            let upper = image::snapshot::for_host(engine.images())?.upper(&c.id);
            std::fs::rename(&upper, &req.dest)
                .map(|_| 0)
                .map_err(|e| Error::io("moving the step's changes into the layer", e))
        }
        Ok(code) => Ok(code),
        Err(e) => Err(e.into()),
    };
    let _ = engine.remove(&c.id, true, false);
    outcome
}
