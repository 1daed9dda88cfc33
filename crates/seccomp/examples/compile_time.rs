//! Measures how long compiling berth's default profile takes.
//!
//! `cargo run --release -p seccomp --example compile_time`

use std::time::{Duration, Instant};

fn main() -> Result<(), seccomp::Error> {
    let profile = seccomp::default_profile(&[]);
    let names: usize = profile.syscalls().iter().flatten().map(|s| s.names().len()).sum();

    // The first compile also builds the per-architecture name tables.
    let start = Instant::now();
    let filter = seccomp::Filter::compile(&profile)?;
    let first = start.elapsed();

    let mut times: Vec<Duration> = (0..500)
        .map(|_| {
            let start = Instant::now();
            let f = seccomp::Filter::compile(&profile);
            let t = start.elapsed();
            std::hint::black_box(f).map(|_| t)
        })
        .collect::<Result<_, _>>()?;
    times.sort_unstable();

    println!("default profile: {names} syscall names, {} BPF instructions", filter.instructions().len());
    println!(
        "compile: first {first:?} (includes building name tables), median {:?}, min {:?}, max {:?}",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}
