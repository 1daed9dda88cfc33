//! Builds the exec stub (stub/exec-stub.c) into a tiny static executable that
//! the runtime embeds and runs from a sealed memfd; see the C file for why.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("exec-stub");
    let src = "stub/exec-stub.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-Os",
            "-nostdlib",
            "-static",
            "-ffreestanding",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-fno-pie",
            "-no-pie",
            "-Wl,--build-id=none",
            "-s",
            "-o",
        ])
        .arg(&out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("running {cc} to build the exec stub: {e} (install gcc)"));
    assert!(status.success(), "building the exec stub with {cc} failed");
}
