//! `attach`: our terminal (or stdio) to a detached container, through its
//! monitor's attach socket. Ctrl-P Ctrl-Q detaches from a terminal, as in
//! docker; otherwise we stay until the container exits and return its code.

use std::io::{Read, Write};

use anyhow::{bail, Result};
use engine::attach::{self, Deframer};
use engine::{Engine, Status};
use runtime::process::tty;

const DETACH: [u8; 2] = [0x10, 0x11];

pub fn attach(e: &Engine, key: &str, with_stdin: bool, _sig_proxy: bool) -> Result<u8> {
    let c = e.container(key)?;
    if c.state.status == Status::Paused {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    if c.state.status != Status::Running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let sock = attach::connect(&c.id)
        .map_err(|err| anyhow::anyhow!("attaching to {}: {err} (is its monitor running?)", c.name))?;
    let _raw = (c.config.tty && tty::is_tty(0)).then(|| tty::RawMode::enter(0).ok()).flatten();
    if with_stdin && c.config.interactive {
        let mut to = sock.try_clone()?;
        let tty_mode = c.config.tty;
        let reader = sock.try_clone()?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut prev = 0u8;
            let mut stdin = std::io::stdin().lock();
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if tty_mode {
                    // Ctrl-P then Ctrl-Q: leave the container running.
                    let chunk = &buf[..n];
                    let detach = chunk.windows(2).any(|w| w == DETACH) || (prev == DETACH[0] && chunk[0] == DETACH[1]);
                    prev = chunk[n - 1];
                    if detach {
                        let _ = reader.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                }
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
    }
    let mut sock = sock;
    let mut buf = vec![0u8; 32 << 10];
    let mut deframer = Deframer::default();
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    loop {
        let n = match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if c.config.tty {
            out.write_all(&buf[..n])?;
            out.flush()?;
        } else {
            deframer.push(&buf[..n], |stream, data| {
                let _ = if stream == attach::STDERR {
                    err.write_all(data)
                } else {
                    out.write_all(data).and_then(|_| out.flush())
                };
            });
        }
    }
    // Detached, or the container exited: its code if it did.
    let now = e.container(&c.id)?;
    if now.state.status == Status::Running && runtime::state::process_alive(now.state.pid, now.state.pid_start) {
        return Ok(0);
    }
    Ok(e.wait(&c.id)?.clamp(0, 255) as u8)
}
