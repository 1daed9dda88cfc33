//! Build output in BuildKit's plain style: one number per step, its
//! description, `CACHED` or the step's own output with the seconds since it
//! began, then `DONE` with its time (or `ERROR`). Lines of parallel stages
//! interleave, each marked with its step's number. Quiet builds print
//! nothing here.
//!
//! Or the classic builder's style, which clients of the legacy build API
//! (docker-py, `DOCKER_BUILDKIT=0 docker build`) show: `Step N/M : TEXT`
//! per instruction, the steps' output as it is, ` ---> Using cache`.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct Log {
    out: Option<Mutex<Box<dyn Write + Send + Sync>>>,
    next: AtomicUsize,
    classic: bool,
    /// Classic style: the instructions to run, and the next one's number.
    total: AtomicUsize,
    next_instruction: AtomicUsize,
}

impl Log {
    pub fn new(out: Option<Box<dyn Write + Send + Sync>>) -> Log {
        Log::with_style(out, false)
    }

    pub fn with_style(out: Option<Box<dyn Write + Send + Sync>>, classic: bool) -> Log {
        Log {
            out: out.map(Mutex::new),
            next: AtomicUsize::new(1),
            classic,
            total: AtomicUsize::new(0),
            next_instruction: AtomicUsize::new(1),
        }
    }

    /// How many instructions the build runs (known once it is planned).
    pub fn set_total(&self, n: usize) {
        self.total.store(n, Ordering::Relaxed);
    }

    /// An instruction begins: the classic style's `Step N/M : TEXT`.
    pub fn instruction(&self, text: &str) {
        if self.classic {
            let n = self.next_instruction.fetch_add(1, Ordering::Relaxed);
            self.line(&format!("Step {n}/{} : {text}", self.total.load(Ordering::Relaxed)));
        }
    }

    pub fn line(&self, text: &str) {
        if let Some(o) = &self.out {
            let mut o = o.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(o, "{text}");
            let _ = o.flush();
        }
    }

    /// Starts a numbered step.
    pub fn step(self: &Arc<Self>, title: &str) -> Step {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if !self.classic {
            self.line(&format!("#{n} {title}"));
        }
        Step { log: self.clone(), n, start: Instant::now(), pending: Vec::new() }
    }
}

/// A step in progress; `Send`, so a RUN's output can stream into it from
/// the thread that copies it.
pub struct Step {
    log: Arc<Log>,
    n: usize,
    start: Instant,
    pending: Vec<u8>,
}

impl Step {
    pub fn note(&self, text: &str) {
        if !self.log.classic {
            self.log.line(&format!("#{} {text}", self.n));
        }
    }

    /// The step's own output, line by line, with the seconds elapsed.
    pub fn output(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.output_line(&text);
        }
    }

    fn output_line(&self, text: &str) {
        if self.log.classic {
            self.log.line(text);
        } else {
            self.log.line(&format!("#{} {:.3} {text}", self.n, self.start.elapsed().as_secs_f64()));
        }
    }

    fn flush_output(&mut self) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.output_line(&text);
        }
    }

    pub fn cached(self) {
        if self.log.classic {
            self.log.line(" ---> Using cache");
        } else {
            self.log.line(&format!("#{} CACHED", self.n));
        }
    }

    pub fn done(mut self) {
        self.flush_output();
        if !self.log.classic {
            self.log.line(&format!("#{} DONE {:.1}s", self.n, self.start.elapsed().as_secs_f64()));
        }
    }

    /// (The classic style's error is the stream's error message.)
    pub fn error(mut self, msg: &str) {
        self.flush_output();
        if !self.log.classic {
            self.log.line(&format!("#{} ERROR: {msg}", self.n));
        }
    }
}
