//! Builds the exec stub (stub/exec-stub.c) into a tiny static executable that
//! the runtime embeds and runs from a sealed memfd; see the C file for why.
//! The compiler is the target's (cc crate rules: TARGET_CC, CC_<target>, CC),
//! so a cross build embeds a stub for the right architecture.

use std::env;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("exec-stub");
    let src = "stub/exec-stub.c";
    println!("cargo:rerun-if-changed={src}");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    assert!(
        arch == "x86_64" || arch == "aarch64",
        "the exec stub supports x86_64 and aarch64; add the syscall glue for {arch} to {src}"
    );
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    let status = compiler
        .to_command()
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
        .unwrap_or_else(|e| panic!("running {} to build the exec stub: {e} (install gcc)", compiler.path().display()));
    assert!(status.success(), "building the exec stub with {} failed", compiler.path().display());
}
