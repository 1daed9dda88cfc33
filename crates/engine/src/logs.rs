//! Container logs in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2026-…Z"}`, so `logs` (and
//! tools that read docker's files) work while the container runs.
//!
//! The log drivers: `json-file` (no limit unless `max-size`), `local` (the
//! same lines, rotated at 20 MiB into 5 files unless told otherwise: docker
//! keeps them in a binary format, but only `logs` reads them) and `none`
//! (nothing kept, `logs` refused). Rotated files are `PATH.1` (newest) to
//! `PATH.N-1`, as json-file names them.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::now_rfc3339;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Appends output to a log file, splitting it into lines (a partial line is
/// held until its newline or until the stream ends).
pub struct Writer {
    /// None: the `none` driver, output dropped.
    file: Option<File>,
    pending: [Vec<u8>; 2],
    path: std::path::PathBuf,
    /// Bytes in the current file, and where to rotate (0: never).
    size: u64,
    max_size: u64,
    max_files: u32,
}

/// (max-size in bytes (0: none), max-file) of a log configuration.
fn rotation(log: &crate::model::LogConfig) -> (u64, u32) {
    let (size, files) = if log.driver() == "local" { (20 << 20, 5) } else { (0, 1) };
    let size = match log.options.get("max-size").map(String::as_str) {
        Some("-1") => 0,
        Some(s) => crate::mounts::parse_bytes(s).map_or(size, |b| b.max(0) as u64),
        None => size,
    };
    let files = log.options.get("max-file").and_then(|f| f.parse().ok()).unwrap_or(files).max(1);
    (size, files)
}

/// Why `logs` has nothing to read for this container, if so.
pub fn check_readable(log: &crate::model::LogConfig) -> Result<()> {
    if log.driver() == "none" {
        return Err(Error::Invalid("configured logging driver does not support reading".into()));
    }
    Ok(())
}

impl Writer {
    /// A json-file log without limits.
    pub fn open(path: &Path) -> Result<Writer> {
        Self::open_with(path, &crate::model::LogConfig::default())
    }

    /// The log `log` asks for at `path`.
    pub fn open_with(path: &Path, log: &crate::model::LogConfig) -> Result<Writer> {
        let (max_size, max_files) = rotation(log);
        let mut w = Writer {
            file: None,
            pending: [Vec::new(), Vec::new()],
            path: path.to_path_buf(),
            size: 0,
            max_size,
            max_files,
        };
        if log.driver() != "none" {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::io(format!("opening the log {}", path.display()), e))?;
            w.size = file.metadata().map_or(0, |m| m.len());
            w.file = Some(file);
        }
        Ok(w)
    }

    /// Appends encoded lines, rotating first when they would not fit.
    fn append(&mut self, out: &[u8]) -> Result<()> {
        if out.is_empty() || self.file.is_none() {
            return Ok(());
        }
        if self.max_size == 0 {
            return self.write_out(out);
        }
        // Rotation is by whole entries: a burst may span several files.
        // `unwritten`: where the bytes not yet written start; `line`: where
        // the current entry starts; `size`: the file's size with the unwritten.
        let (mut unwritten, mut line, mut size) = (0, 0, self.size);
        for end in out.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1) {
            let len = (end - line) as u64;
            if size > 0 && size + len > self.max_size {
                self.write_out(&out[unwritten..line])?;
                self.rotate()?;
                unwritten = line;
                size = 0;
            }
            size += len;
            line = end;
        }
        self.write_out(&out[unwritten..])
    }

    fn write_out(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        f.write_all(bytes).map_err(|e| Error::io("writing the log", e))?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        let numbered = |i: u32| rotated(&self.path, i);
        if self.max_files > 1 {
            for i in (1..self.max_files - 1).rev() {
                let _ = std::fs::rename(numbered(i), numbered(i + 1));
            }
            std::fs::rename(&self.path, numbered(1)).map_err(|e| Error::io("rotating the log", e))?;
        }
        // With max-file=1 the one file starts over.
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)
            .map_err(|e| Error::io(format!("opening the log {}", self.path.display()), e))?;
        self.file = Some(file);
        self.size = 0;
        Ok(())
    }

    /// `stream`: 0 stdout, 1 stderr.
    pub fn write(&mut self, stream: usize, bytes: &[u8]) -> Result<()> {
        let mut out = Vec::new();
        let name = if stream == 0 { "stdout" } else { "stderr" };
        let time = now_rfc3339();
        self.pending[stream].extend_from_slice(bytes);
        while let Some(i) = self.pending[stream].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending[stream].drain(..=i).collect();
            encode(&mut out, &line, name, &time)?;
        }
        // Very long lines are cut, as docker does at 16 KiB.
        if self.pending[stream].len() >= 16 << 10 {
            let line = std::mem::take(&mut self.pending[stream]);
            encode(&mut out, &line, name, &time)?;
        }
        self.append(&out)
    }

    /// Writes what is left of unterminated lines.
    pub fn flush(&mut self) -> Result<()> {
        let time = now_rfc3339();
        let mut out = Vec::new();
        for (i, name) in ["stdout", "stderr"].iter().enumerate() {
            let line = std::mem::take(&mut self.pending[i]);
            if !line.is_empty() {
                encode(&mut out, &line, name, &time)?;
            }
        }
        self.append(&out)
    }
}

/// The `i`th rotated file of the log at `path`.
pub fn rotated(path: &Path, i: u32) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{i}"));
    p.into()
}

fn encode(out: &mut Vec<u8>, line: &[u8], stream: &str, time: &str) -> Result<()> {
    let e = Entry { log: String::from_utf8_lossy(line).into_owned(), stream: stream.into(), time: time.into() };
    serde_json::to_writer(&mut *out, &e).map_err(|e| Error::Invalid(format!("encoding a log line: {e}")))?;
    out.push(b'\n');
    Ok(())
}

pub struct ReadOptions {
    /// Only the last N lines (None: all).
    pub tail: Option<usize>,
    /// Only entries at or after this RFC 3339 time.
    pub since: Option<String>,
    pub until: Option<String>,
    pub stdout: bool,
    pub stderr: bool,
}

/// Reads the log, calling `emit` for each entry; with `follow`, keeps
/// reading new entries until `keep_going` says stop (the container exited).
pub fn read(
    path: &Path,
    opts: &ReadOptions,
    follow: bool,
    keep_going: &mut dyn FnMut() -> bool,
    emit: &mut dyn FnMut(&Entry) -> std::io::Result<()>,
) -> Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The monitor creates it as the container starts.
            std::thread::sleep(Duration::from_millis(50));
            return read(path, opts, follow, keep_going, emit);
        }
        Err(e) => return Err(Error::io(format!("opening the log {}", path.display()), e)),
    };
    let mut existing = Vec::new();
    let older: Vec<std::path::PathBuf> = (1..100).map(|i| rotated(path, i)).take_while(|p| p.exists()).collect();
    let wanted = |e: &Entry| {
        (e.stream == "stdout" && opts.stdout || e.stream == "stderr" && opts.stderr)
            && opts.since.as_ref().is_none_or(|s| e.time.as_str() >= s.as_str())
            && opts.until.as_ref().is_none_or(|u| e.time.as_str() <= u.as_str())
    };
    let mut line = String::new();
    // The rotated files first, oldest first.
    for p in older.iter().rev() {
        let Ok(f) = File::open(p) else { continue };
        for l in BufReader::new(f).lines().map_while(std::result::Result::ok) {
            if let Ok(e) = serde_json::from_str::<Entry>(&l) {
                if wanted(&e) {
                    existing.push(e);
                }
            }
        }
    }
    let mut reader = BufReader::new(file);
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| Error::io("reading the log", e))?;
        if n == 0 || !line.ends_with('\n') {
            // Leave a partly written last line for the follow loop.
            let back = n as i64;
            reader.seek(SeekFrom::Current(-back)).map_err(|e| Error::io("reading the log", e))?;
            break;
        }
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            if wanted(&e) {
                existing.push(e);
            }
        }
    }
    let skip = opts.tail.map_or(0, |t| existing.len().saturating_sub(t));
    for e in &existing[skip..] {
        if emit(e).is_err() {
            return Ok(());
        }
    }
    if !follow {
        return Ok(());
    }
    let mut partial = String::new();
    loop {
        let mut got = false;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(|e| Error::io("reading the log", e))?;
            if n == 0 {
                break;
            }
            partial.push_str(&line);
            if !partial.ends_with('\n') {
                continue;
            }
            got = true;
            if let Ok(e) = serde_json::from_str::<Entry>(&partial) {
                if wanted(&e) && emit(&e).is_err() {
                    return Ok(());
                }
            }
            partial.clear();
        }
        if !got {
            if !keep_going() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ReadOptions {
        ReadOptions { tail: None, since: None, until: None, stdout: true, stderr: true }
    }

    #[test]
    fn lines_are_split_and_read_back_with_tail_and_streams() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = Writer::open(&p).unwrap();
        w.write(0, b"one\ntw").unwrap();
        w.write(1, b"err\n").unwrap();
        w.write(0, b"o\nthree").unwrap();
        w.flush().unwrap();
        let mut got = Vec::new();
        read(&p, &opts(), false, &mut || false, &mut |e| {
            got.push((e.stream.clone(), e.log.clone()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            [("stdout", "one\n"), ("stderr", "err\n"), ("stdout", "two\n"), ("stdout", "three")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let mut last = Vec::new();
        read(&p, &ReadOptions { tail: Some(2), stderr: false, ..opts() }, false, &mut || false, &mut |e| {
            last.push(e.log.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(last, ["two\n", "three"]);
    }

    #[test]
    fn local_and_max_size_rotate_by_whole_entries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r-json.log");
        let mut log = crate::model::LogConfig { driver: "local".into(), ..Default::default() };
        log.options.insert("max-size".into(), "300".into());
        log.options.insert("max-file".into(), "3".into());
        let mut w = Writer::open_with(&p, &log).unwrap();
        let burst: String = (0..40).map(|i| format!("line {i}\n")).collect();
        w.write(0, burst.as_bytes()).unwrap();
        for f in [p.clone(), rotated(&p, 1), rotated(&p, 2)] {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(text.len() <= 300 && text.ends_with('\n'), "{}: {text}", f.display());
        }
        assert!(!rotated(&p, 3).exists());
        let mut got = Vec::new();
        read(&p, &opts(), false, &mut || false, &mut |e| {
            got.push(e.log.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(got.last().map(String::as_str), Some("line 39\n"));
        assert!(got.len() < 40 && got.windows(2).all(|w| w[0] < w[1] || w[0].len() < w[1].len()), "{got:?}");

        let none = crate::model::LogConfig { driver: "none".into(), ..Default::default() };
        let q = d.path().join("n-json.log");
        Writer::open_with(&q, &none).unwrap().write(0, b"dropped\n").unwrap();
        assert!(!q.exists());
        assert!(check_readable(&none).is_err());
    }

    #[test]
    fn follow_sees_new_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f-json.log");
        let mut w = Writer::open(&p).unwrap();
        w.write(0, b"first\n").unwrap();
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut w = Writer::open(&p2).unwrap();
            w.write(0, b"second\n").unwrap();
        });
        let mut got = Vec::new();
        let start = std::time::Instant::now();
        read(&p, &opts(), true, &mut || start.elapsed() < Duration::from_millis(600), &mut |e| {
            got.push(e.log.clone());
            Ok(())
        })
        .unwrap();
        t.join().unwrap();
        assert_eq!(got, ["first\n", "second\n"]);
    }
}
