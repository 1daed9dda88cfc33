//! `stats`: docker's table of CPU, memory, network, block I/O and pids per
//! container, refreshed every second (or once with --no-stream).

use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, Result};
use engine::stats::Sample;
use engine::{Engine, Status};

use super::format::{self, Row};

/// Binary sizes as docker's stats prints memory (MiB, GiB).
fn binary_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    // Go's %.4g, as docker's units.BytesSize prints.
    let digits = match v {
        v if v >= 1000.0 => 0,
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let mut s = format!("{v:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s + UNITS[i]
}

fn row(id: &str, name: &str, now: &Sample, prev: &Sample, no_trunc: bool) -> Row {
    let mut r = Row::new();
    r.insert("Container", if no_trunc { id.to_string() } else { id[..12].to_string() });
    r.insert("ID", if no_trunc { id.to_string() } else { id[..12].to_string() });
    r.insert("Name", name.to_string());
    r.insert("CPUPerc", format!("{:.2}%", now.cpu_percent(prev)));
    let used = now.memory_used();
    r.insert("MemUsage", format!("{} / {}", binary_size(used), binary_size(now.memory_limit)));
    let mem_pct = if now.memory_limit == 0 { 0.0 } else { used as f64 / now.memory_limit as f64 * 100.0 };
    r.insert("MemPerc", format!("{mem_pct:.2}%"));
    r.insert("NetIO", format!("{} / {}", format::human_size(now.net_rx), format::human_size(now.net_tx)));
    r.insert("BlockIO", format!("{} / {}", format::human_size(now.block_read), format::human_size(now.block_write)));
    r.insert("PIDs", now.pids.to_string());
    r
}

pub fn stats(
    e: &Engine,
    all: bool,
    no_stream: bool,
    no_trunc: bool,
    fmt: Option<&str>,
    names: &[String],
) -> Result<u8> {
    let pick = || -> Result<Vec<(String, String)>> {
        if names.is_empty() {
            Ok(e.containers()?
                .into_iter()
                .filter(|c| all || matches!(c.state.status, Status::Running | Status::Paused))
                .map(|c| (c.id, c.name))
                .collect())
        } else {
            names.iter().map(|n| e.container(n).map(|c| (c.id, c.name)).map_err(Into::into)).collect()
        }
    };
    let fmt = fmt.unwrap_or(
        "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
    );
    let headers = [
        ("ID", "CONTAINER ID"),
        ("Container", "CONTAINER"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
    ];
    let sample_all =
        |list: &[(String, String)]| -> Vec<Option<Sample>> { list.iter().map(|(id, _)| e.stats(id).ok()).collect() };
    let mut list = pick()?;
    if !names.is_empty() {
        for (id, name) in &list {
            e.stats(id).map_err(|err| anyhow!("{name}: {err}"))?;
        }
    }
    let mut prev = sample_all(&list);
    let mut out = std::io::stdout().lock();
    loop {
        // docker's first figure covers a short interval too, not all time.
        std::thread::sleep(Duration::from_millis(if no_stream { 500 } else { 1000 }));
        let now = sample_all(&list);
        let rows: Vec<Row> = list
            .iter()
            .zip(now.iter().zip(&prev))
            .map(|((id, name), (n, p))| match (n, p) {
                (Some(n), Some(p)) => row(id, name, n, p, no_trunc),
                _ => row(id, name, &Sample::default(), &Sample::default(), no_trunc),
            })
            .collect();
        let text = format::render(fmt, &rows, &headers).map_err(|e| anyhow!(e))?;
        if !no_stream {
            // Clear the screen and go home, as docker's live view does.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        writeln!(out, "{text}")?;
        out.flush()?;
        if no_stream {
            return Ok(0);
        }
        if names.is_empty() {
            let fresh = pick()?;
            if fresh != list {
                list = fresh;
                prev = sample_all(&list);
                continue;
            }
        }
        prev = now;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_prints_in_binary_units() {
        assert_eq!(super::binary_size(512), "512B");
        assert_eq!(super::binary_size(64 << 20), "64MiB");
        assert_eq!(super::binary_size(1536 << 10), "1.5MiB");
        assert_eq!(super::binary_size(25_275_000_000), "23.54GiB");
    }
}
