//! Compiler tests. Compiled programs are checked the way the kernel's filter
//! checker would, run in the interpreter, and compared with what the profile
//! means: hand-written expectations, and for random profiles an independent,
//! straightforward evaluation of the profile (`reference`).

use libc::sock_filter;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompOperator as Op, LinuxSyscall};
use serde_json::{json, Value};

use crate::arch::{Arch as Abi, X32_SYSCALL_BIT};
use crate::bpf::{self, BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JMP, BPF_LD, BPF_RET, BPF_W};
use crate::{Error, Filter, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, NATIVE_AUDIT_ARCH};

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const KILL_THREAD: u32 = libc::SECCOMP_RET_KILL_THREAD;
const TRAP: u32 = libc::SECCOMP_RET_TRAP;
const LOG: u32 = libc::SECCOMP_RET_LOG;

const fn errno(e: u32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e
}

const fn trace(v: u32) -> u32 {
    libc::SECCOMP_RET_TRACE | v
}

// x86_64 and i386 numbers used throughout.
const X64_READ: i64 = 0;
const X64_WRITE: i64 = 1;
const X64_OPEN: i64 = 2;
const X64_IOCTL: i64 = 16;
const X64_WRITEV: i64 = 20;
const X64_GETPID: i64 = 39;
const X64_EXECVE: i64 = 59;
const X64_GETUID: i64 = 102;
const X64_MKDIRAT: i64 = 258;
const I386_MKDIR: i64 = 39;
const I386_GETPID: i64 = 20;
const I386_SOCKETCALL: i64 = 102;
const X32: i64 = X32_SYSCALL_BIT as i64;

fn profile(v: Value) -> LinuxSeccomp {
    match serde_json::from_value(v) {
        Ok(p) => p,
        Err(e) => panic!("bad test profile: {e}"),
    }
}

fn compile(v: Value) -> Filter {
    match Filter::compile(&profile(v)) {
        Ok(f) => {
            validate(f.instructions());
            f
        }
        Err(e) => panic!("does not compile: {e}"),
    }
}

fn compile_err(v: Value) -> String {
    match Filter::compile(&profile(v)) {
        Ok(_) => panic!("compiled, but an error was expected"),
        Err(e) => e.to_string(),
    }
}

/// What the kernel checks before accepting a program (sk_chk_filter and
/// seccomp_check_filter), for the instructions we emit.
fn validate(prog: &[sock_filter]) {
    assert!(!prog.is_empty() && prog.len() <= 4096, "length {}", prog.len());
    for (i, insn) in prog.iter().enumerate() {
        let next = i + 1;
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                assert!(insn.k % 4 == 0 && insn.k < 64, "{i}: bad load {}", insn.k);
            }
            c if c == BPF_ALU | BPF_AND => {}
            c if c == BPF_RET => {}
            c if c == BPF_JMP | BPF_JA => {
                assert!(next + (insn.k as usize) < prog.len(), "{i}: ja out of range");
            }
            c if c & 0x07 == BPF_JMP => {
                assert!(next + usize::from(insn.jt) < prog.len(), "{i}: jt out of range");
                assert!(next + usize::from(insn.jf) < prog.len(), "{i}: jf out of range");
            }
            c => panic!("{i}: unexpected opcode {c:#x}"),
        }
    }
    let last = prog[prog.len() - 1];
    assert_eq!(last.code, BPF_RET, "program must end with a return");
}

fn a0(v: u64) -> [u64; 6] {
    [v, 0, 0, 0, 0, 0]
}

fn steps(f: &Filter, arch: u32, nr: i64, args: [u64; 6]) -> usize {
    let data = bpf::seccomp_data(arch, nr as u32, &args);
    bpf::exec(f.instructions(), &data).1
}

#[test]
fn allow_list() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["read", "write", "getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        ]
    }));
    let x = |nr| f.action_for(AUDIT_ARCH_X86_64, nr, [0; 6]);
    assert_eq!(x(X64_READ), ALLOW);
    assert_eq!(x(X64_WRITE), ALLOW);
    assert_eq!(x(X64_GETPID), ALLOW);
    assert_eq!(x(X64_OPEN), errno(1));
    assert_eq!(x(X64_MKDIRAT), errno(13));
    assert_eq!(x(100_000), errno(1));
    assert_eq!(x(-1), errno(1)); // nr -1 (skipped by a tracer): default
    assert_eq!(x(0x3fff_ffff), errno(1));
}

#[test]
fn deny_list() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["keyctl", "add_key"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, 250, [0; 6]), errno(1)); // keyctl
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, 248, [0; 6]), errno(1)); // add_key
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, 249, [0; 6]), ALLOW); // request_key
    for nr in [0, 1, 247, 251, 400, 0x3fff_ffff, -1] {
        assert_eq!(f.action_for(AUDIT_ARCH_X86_64, nr, [0; 6]), ALLOW, "{nr}");
    }
}

#[test]
fn actions_and_return_data() {
    let cases = [
        (json!({"action": "SCMP_ACT_ALLOW"}), ALLOW),
        (json!({"action": "SCMP_ACT_ERRNO"}), errno(1)),
        (json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 38}), errno(38)),
        (json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 0}), errno(0)),
        (json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 65535}), errno(65535)),
        (json!({"action": "SCMP_ACT_KILL"}), KILL_THREAD),
        (json!({"action": "SCMP_ACT_KILL_THREAD"}), KILL_THREAD),
        (json!({"action": "SCMP_ACT_KILL_PROCESS"}), KILL_PROCESS),
        (json!({"action": "SCMP_ACT_TRAP"}), TRAP),
        (json!({"action": "SCMP_ACT_TRACE"}), trace(1)),
        (json!({"action": "SCMP_ACT_TRACE", "errnoRet": 77}), trace(77)),
        (json!({"action": "SCMP_ACT_LOG"}), LOG),
        // errnoRet means nothing to the other actions.
        (json!({"action": "SCMP_ACT_LOG", "errnoRet": 99}), LOG),
    ];
    for (rule, want) in cases {
        let mut rule = rule;
        rule["names"] = json!(["getpid"]);
        let f = compile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 5,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [rule],
        }));
        assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_GETPID, [0; 6]), want, "{rule}");
        assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_READ, [0; 6]), errno(5));
    }
    let defaults = [
        (json!({"defaultAction": "SCMP_ACT_ERRNO"}), errno(1)),
        (json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}), errno(38)),
        (json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"}), KILL_PROCESS),
        (json!({"defaultAction": "SCMP_ACT_KILL"}), KILL_THREAD),
        (json!({"defaultAction": "SCMP_ACT_TRAP"}), TRAP),
        (json!({"defaultAction": "SCMP_ACT_LOG"}), LOG),
        (json!({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 3}), trace(3)),
        (json!({"defaultAction": "SCMP_ACT_ALLOW"}), ALLOW),
    ];
    for (p, want) in defaults {
        let f = compile(p.clone());
        assert_eq!(f.action_for(NATIVE_AUDIT_ARCH, 1, [0; 6]), want, "{p}");
        // Without rules: arch check, and on x86_64 the x32 range check.
        assert!(f.instructions().len() <= 8, "{p}: {}", f.instructions().len());
    }
}

/// Argument values around `v` that sit on every boundary of both words.
fn around(v: u64) -> Vec<u64> {
    let hi = v & 0xffff_ffff_0000_0000;
    let lo = v & 0xffff_ffff;
    let mut out = vec![
        v,
        v.wrapping_add(1),
        v.wrapping_sub(1),
        v.wrapping_add(1 << 32),
        v.wrapping_sub(1 << 32),
        v ^ (1 << 63),
        v ^ (1 << 31),
        hi,
        hi | 0xffff_ffff,
        lo,
        lo | 0xffff_ffff_0000_0000,
        hi | lo.wrapping_add(1) & 0xffff_ffff,
        hi | lo.wrapping_sub(1) & 0xffff_ffff,
        0,
        1,
        u64::MAX,
        u64::MAX - 1,
        0xffff_ffff,
        1 << 32,
    ];
    out.sort_unstable();
    out.dedup();
    out
}

fn cmp64(op: Op, arg: u64, value: u64, value_two: u64) -> bool {
    match op {
        Op::ScmpCmpNe => arg != value,
        Op::ScmpCmpLt => arg < value,
        Op::ScmpCmpLe => arg <= value,
        Op::ScmpCmpEq => arg == value,
        Op::ScmpCmpGe => arg >= value,
        Op::ScmpCmpGt => arg > value,
        Op::ScmpCmpMaskedEq => arg & value == value_two,
    }
}

/// 32-bit ABIs see only the low words.
fn cmp32(op: Op, arg: u64, value: u64, value_two: u64) -> bool {
    let low = |v: u64| v & 0xffff_ffff;
    cmp64(op, low(arg), low(value), low(value_two))
}

const OPS: [Op; 7] =
    [Op::ScmpCmpNe, Op::ScmpCmpLt, Op::ScmpCmpLe, Op::ScmpCmpEq, Op::ScmpCmpGe, Op::ScmpCmpGt, Op::ScmpCmpMaskedEq];

const VALUES: [u64; 12] = [
    0,
    1,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x5_0000_0007,
    0x8000_0000_0000_0001,
    0xffff_ffff_0000_0000,
    0xffff_fffe_ffff_ffff,
    u64::MAX - 1,
    u64::MAX,
];

#[test]
fn every_operator_on_both_words() {
    for op in OPS {
        for (n, &value) in VALUES.iter().enumerate() {
            // Spread the conditions over all six arguments.
            let index = n % 6;
            // For MASKED_EQ, `value` is the mask: use a datum inside it.
            let value_two = value & 0x0f0f_0000_f0f0_ff01;
            let f = compile(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "syscalls": [{
                    "names": ["getpid"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": index, "value": value, "valueTwo": value_two, "op": op}],
                }],
            }));
            let mut probes = around(value);
            probes.extend(around(value_two));
            for arg in probes {
                let mut args = [0xdead_beef_dead_beef; 6];
                args[index] = arg;
                let want = |hit| if hit { ALLOW } else { errno(1) };
                assert_eq!(
                    f.action_for(AUDIT_ARCH_X86_64, X64_GETPID, args),
                    want(cmp64(op, arg, value, value_two)),
                    "x86_64: args[{index}]={arg:#x} {op:?} {value:#x}/{value_two:#x}"
                );
                assert_eq!(
                    f.action_for(AUDIT_ARCH_I386, I386_GETPID, args),
                    want(cmp32(op, arg, value, value_two)),
                    "i386: args[{index}]={arg:#x} {op:?} {value:#x}/{value_two:#x}"
                );
            }
        }
    }
}

#[test]
fn masked_eq() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            // value = mask, valueTwo = datum.
            {"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0xff00_0000_0000_00ffu64, "valueTwo": 0x1200_0000_0000_0034u64, "op": "SCMP_CMP_MASKED_EQ"}]},
            // A datum with bits outside the mask can never match.
            {"names": ["write"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0xff, "valueTwo": 0x100, "op": "SCMP_CMP_MASKED_EQ"}]},
            // Mask 0 always matches datum 0.
            {"names": ["open"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        ]
    }));
    let read = |a| f.action_for(AUDIT_ARCH_X86_64, X64_READ, a0(a));
    assert_eq!(read(0x1200_0000_0000_0034), ALLOW);
    assert_eq!(read(0x12ab_cdef_1234_5634), ALLOW);
    assert_eq!(read(0x1300_0000_0000_0034), errno(1));
    assert_eq!(read(0x1200_0000_0000_0035), errno(1));
    assert_eq!(read(0), errno(1));
    for a in [0, 0xff, 0x100, 0x1ff, u64::MAX] {
        assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_WRITE, a0(a)), errno(1));
        assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_OPEN, a0(a)), ALLOW);
    }
}

#[test]
fn rules_are_ored_conditions_anded() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": 0x5401, "op": "SCMP_CMP_EQ"}]},
            {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": 0x5413, "op": "SCMP_CMP_EQ"}]},
            {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 25,
             "args": [{"index": 1, "value": 0x541b, "op": "SCMP_CMP_EQ"}]},
            // Two arguments: both must hold.
            {"names": ["write"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": 100, "op": "SCMP_CMP_LT"}]},
        ]
    }));
    let ioctl = |req| f.action_for(AUDIT_ARCH_X86_64, X64_IOCTL, [3, req, 0, 0, 0, 0]);
    assert_eq!(ioctl(0x5401), ALLOW);
    assert_eq!(ioctl(0x5413), ALLOW);
    assert_eq!(ioctl(0x541b), errno(25));
    assert_eq!(ioctl(0x5402), errno(1));
    assert_eq!(ioctl(0x1_0000_5401), errno(1));
    let write = |fd, len| f.action_for(AUDIT_ARCH_X86_64, X64_WRITE, [fd, 0, len, 0, 0, 0]);
    assert_eq!(write(1, 99), ALLOW);
    assert_eq!(write(1, 100), errno(1));
    assert_eq!(write(2, 99), errno(1));
}

#[test]
fn same_argument_twice_is_split_like_runc() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}]
    }));
    let getpid = |a, b| f.action_for(AUDIT_ARCH_X86_64, X64_GETPID, [a, b, 0, 0, 0, 0]);
    assert_eq!(getpid(1, 0), ALLOW);
    assert_eq!(getpid(2, 0), ALLOW);
    assert_eq!(getpid(0, 3), ALLOW);
    assert_eq!(getpid(0, 0), errno(1));
}

#[test]
fn first_matching_rule_decides() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
            // Dead: getpid always matched the rule above.
            {"names": ["getpid"], "action": "SCMP_ACT_TRAP"},
            // An unconditional rule first makes later ones for it dead.
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        ]
    }));
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_GETPID, a0(1)), errno(5));
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_GETPID, a0(2)), LOG);
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_READ, a0(1)), errno(6));
}

#[test]
fn rules_repeating_the_default_are_allowed_and_harmless() {
    let with = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write", "open"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        ]
    }));
    let without = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
    }));
    for nr in [X64_READ, X64_WRITE, X64_OPEN, X64_GETPID] {
        assert_eq!(with.action_for(AUDIT_ARCH_X86_64, nr, a0(1)), without.action_for(AUDIT_ARCH_X86_64, nr, a0(1)));
    }
    // They compile to nothing.
    assert_eq!(with.instructions().len(), without.instructions().len());
}

#[test]
fn per_arch_numbers() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["socketcall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9},
        ]
    }));
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_GETPID, [0; 6]), ALLOW);
    assert_eq!(f.action_for(AUDIT_ARCH_I386, I386_GETPID, [0; 6]), ALLOW);
    // The same numbers mean other syscalls on the other ABI.
    assert_eq!(f.action_for(AUDIT_ARCH_I386, I386_MKDIR, [0; 6]), errno(1));
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_WRITEV, [0; 6]), errno(1));
    // socketcall exists on i386 only.
    assert_eq!(f.action_for(AUDIT_ARCH_I386, I386_SOCKETCALL, [0; 6]), errno(9));
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_GETUID, [0; 6]), errno(1));
    assert!(f.skipped_syscalls().is_empty());
}

#[test]
fn unlisted_arch_is_killed() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86"],
    }));
    assert_eq!(f.action_for(AUDIT_ARCH_I386, I386_GETPID, [0; 6]), ALLOW);
    // The native ABI is always included.
    assert_eq!(f.action_for(NATIVE_AUDIT_ARCH, 1, [0; 6]), ALLOW);
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, 0, 0xdead_beef] {
        if arch != NATIVE_AUDIT_ARCH {
            assert_eq!(f.action_for(arch, 1, [0; 6]), KILL_PROCESS, "{arch:#x}");
        }
    }
}

#[test]
fn x32_not_listed_is_a_bad_arch() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
    }));
    let x = |nr| f.action_for(AUDIT_ARCH_X86_64, nr, [0; 6]);
    assert_eq!(x(X64_GETPID), ALLOW);
    assert_eq!(x(X32 | X64_GETPID), KILL_PROCESS);
    assert_eq!(x(X32), KILL_PROCESS);
    assert_eq!(x(0xffff_fffe), KILL_PROCESS);
    assert_eq!(x(0x3fff_ffff), ALLOW);
    assert_eq!(x(-1), ALLOW);
}

#[test]
fn x32_listed_uses_x32_numbers() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3},
            {"names": ["execve"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
             "args": [{"index": 0, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_EQ"}]},
        ]
    }));
    let x = |nr, a| f.action_for(AUDIT_ARCH_X86_64, nr, a0(a));
    assert_eq!(x(X64_GETPID, 0), errno(3));
    assert_eq!(x(X32 | X64_GETPID, 0), errno(3));
    assert_eq!(x(X64_EXECVE, 0), errno(4));
    assert_eq!(x(X32 | 520, 0), errno(4)); // x32 execve is renumbered
    assert_eq!(x(X32 | X64_EXECVE, 0), ALLOW); // not execve on x32
    assert_eq!(x(X32 | 12345, 0), ALLOW);
    assert_eq!(x(-1, 0), ALLOW);
    // x32 arguments are full 64-bit registers.
    assert_eq!(x(X32 | X64_READ, 0x1_0000_0000), errno(5));
    assert_eq!(x(X32 | X64_READ, 0), ALLOW);
}

#[test]
fn thirty_two_bit_abis_compare_the_low_word() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_EQ"}]}]
    }));
    for arch in [AUDIT_ARCH_I386, AUDIT_ARCH_ARM] {
        assert_eq!(f.action_for(arch, 20, a0(5)), errno(1));
        assert_eq!(f.action_for(arch, 20, a0(0x7_0000_0005)), errno(1));
        assert_eq!(f.action_for(arch, 20, a0(6)), ALLOW);
    }
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_GETPID, a0(5)), ALLOW);
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_GETPID, a0(0x1_0000_0005)), errno(1));
}

/// All x86_64 syscall names below `limit`, with their numbers.
fn x86_64_syscalls(limit: u32) -> Vec<(&'static str, u32)> {
    (0..limit).filter_map(|nr| syscalls::x86_64::Sysno::new(nr as usize)).map(|s| (s.name(), s.id() as u32)).collect()
}

#[test]
fn far_jumps() {
    // Hundreds of syscalls with conditions: the tree's jumps span far more
    // than the 255 instructions a conditional jump can reach.
    let calls = x86_64_syscalls(320);
    let syscalls: Vec<Value> = calls
        .iter()
        .map(|&(name, nr)| {
            json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": nr + 1,
                   "args": [{"index": 1, "value": (u64::from(nr) << 32) | 0xabc, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": syscalls,
    }));
    let prog = f.instructions();
    assert!(prog.len() > 1000, "{}", prog.len());
    assert!(prog.iter().any(|i| i.code == BPF_JMP | BPF_JA && i.k > 255), "expected far-jump trampolines");
    for &(_, nr) in &calls {
        let hit = [0, (u64::from(nr) << 32) | 0xabc, 0, 0, 0, 0];
        let miss = [0, (u64::from(nr) << 32) | 0xabd, 0, 0, 0, 0];
        let nr = i64::from(nr);
        assert_eq!(f.action_for(AUDIT_ARCH_X86_64, nr, hit), errno(nr as u32 + 1), "{nr}");
        assert_eq!(f.action_for(AUDIT_ARCH_X86_64, nr, miss), ALLOW, "{nr}");
    }
}

#[test]
fn program_size_limit() {
    let syscalls: Vec<Value> = x86_64_syscalls(400)
        .iter()
        .map(|&(name, nr)| {
            let cond = |i: u32| json!({"index": i, "value": (u64::from(nr) << 32) | u64::from(i), "op": "SCMP_CMP_EQ"});
            json!({"names": [name], "action": "SCMP_ACT_ERRNO", "args": [cond(0), cond(1), cond(2)]})
        })
        .collect();
    let msg = compile_err(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": syscalls,
    }));
    let len: usize = msg
        .strip_prefix("program too large: ")
        .and_then(|m| m.strip_suffix(" instructions (limit 4096)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected message: {msg}"));
    assert!(len > 4096, "{msg}");
}

#[test]
fn binary_search_is_logarithmic() {
    let f = match Filter::compile(&crate::default_profile(&[])) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let mut worst = 0;
    let mut total = 0;
    for nr in 0..600 {
        let s = steps(&f, NATIVE_AUDIT_ARCH, nr, [0; 6]);
        worst = worst.max(s);
        total += s;
    }
    println!("default profile: worst path {worst}, mean {} instructions", total / 600);
    // Arch check (2) + load (1) + tree depth + the clone/socket/personality
    // comparisons; a linear chain would need hundreds of steps.
    assert!(worst <= 30, "worst path {worst} instructions");
    assert!(total / 600 <= 16, "mean path {} instructions", total / 600);
}

#[test]
fn unknown_names_are_skipped_and_reported() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["read", "no_such_syscall", "set_tls"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["no_such_syscall", "futex_waitv_2"], "action": "SCMP_ACT_LOG"},
            {"names": ["socketcall"], "action": "SCMP_ACT_ALLOW"},
        ]
    }));
    let mut want = vec!["no_such_syscall", "futex_waitv_2"];
    if NATIVE_AUDIT_ARCH != AUDIT_ARCH_ARM {
        want.insert(1, "set_tls");
    }
    assert_eq!(f.skipped_syscalls(), want);
    assert_eq!(f.action_for(AUDIT_ARCH_X86_64, X64_READ, [0; 6]), ALLOW);
}

#[test]
fn error_messages() {
    let base = |extra: Value| {
        let mut p = json!({"defaultAction": "SCMP_ACT_ERRNO"});
        if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(extra.clone());
        }
        p
    };
    let getpid = json!({"names": ["getpid"], "action": "SCMP_ACT_ALLOW"});
    assert_eq!(
        compile_err(base(json!({"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_MIPS"]}))),
        "linux.seccomp.architectures[1]: unsupported architecture SCMP_ARCH_MIPS"
    );
    assert_eq!(
        compile_err(base(json!({"syscalls": [getpid, getpid,
            {"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}))),
        "linux.seccomp.syscalls[2]: action SCMP_ACT_NOTIFY is not supported"
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_NOTIFY"})),
        "linux.seccomp.defaultAction: action SCMP_ACT_NOTIFY is not supported"
    );
    assert_eq!(
        compile_err(base(json!({"syscalls": [getpid, getpid, getpid,
            {"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}]}]}))),
        "linux.seccomp.syscalls[3].args[0].index: 7 is out of range (0-5)"
    );
    assert_eq!(
        compile_err(base(json!({"syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                      {"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}))),
        "linux.seccomp.syscalls[0].args[1].index: 6 is out of range (0-5)"
    );
    assert_eq!(
        compile_err(base(json!({"syscalls": [getpid,
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}))),
        "linux.seccomp.syscalls[1].errnoRet: 70000 does not fit in the 16-bit data of a seccomp action (max 65535)"
    );
    assert_eq!(
        compile_err(base(json!({"defaultErrnoRet": 65536}))),
        "linux.seccomp.defaultErrnoRet: 65536 does not fit in the 16-bit data of a seccomp action (max 65535)"
    );
    assert_eq!(
        compile_err(base(json!({"flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}))),
        "linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported (it requires SCMP_ACT_NOTIFY)"
    );
    assert_eq!(
        compile_err(base(json!({"syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ALLOW"}]}))),
        "linux.seccomp.syscalls[0].names[1]: empty syscall name"
    );
    let install = Error::Install(std::io::Error::from_raw_os_error(libc::EINVAL));
    assert_eq!(install.to_string(), "seccomp(2) failed: Invalid argument (os error 22)");
    assert_eq!(Error::TooLarge { len: 5123 }.to_string(), "program too large: 5123 instructions (limit 4096)");
    assert_eq!(
        Error::Tsync { tid: 42 }.to_string(),
        "seccomp(2) failed: thread 42 could not be synchronized (SECCOMP_FILTER_FLAG_TSYNC)"
    );
}

#[test]
fn flags() {
    let f = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]
    }));
    assert_eq!(f.flags(), 2 | 4 | 1);
    assert_eq!(compile(json!({"defaultAction": "SCMP_ACT_ALLOW"})).flags(), 0);
}

#[test]
fn builder_profiles_work_too() {
    let mut rule = LinuxSyscall::default();
    rule.set_names(vec!["getpid".into()]).set_action(Action::ScmpActKillProcess);
    let mut p = LinuxSeccomp::default();
    p.set_default_action(Action::ScmpActAllow).set_syscalls(Some(vec![rule]));
    let f = match Filter::compile(&p) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let getpid = Abi::NATIVE.and_then(|a| a.syscall_nr("getpid")).map_or(0, i64::from);
    assert_eq!(f.action_for(NATIVE_AUDIT_ARCH, getpid, [0; 6]), KILL_PROCESS);
}

// ---------------------------------------------------------------------------
// Random profiles against a reference evaluation.

/// xorshift64*: deterministic, good enough to shake out compiler bugs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Names with different numbers per ABI, ABI-specific ones, aliases, and
/// unknown ones.
const NAMES: &[&str] = &[
    "read",
    "write",
    "open",
    "close",
    "getpid",
    "clone",
    "socket",
    "personality",
    "mmap",
    "ioctl",
    "execve",
    "_llseek",
    "socketcall",
    "arch_prctl",
    "set_tls",
    "newfstatat",
    "fstatat64",
    "getuid32",
    "rt_sigaction",
    "readv",
    "futex",
    "openat",
    "kill",
    "uselib",
    "ptrace",
    "waitid",
    "preadv2",
    "mkdirat",
    "exit_group",
    "statx",
    "fadvise64_64",
    "sync_file_range2",
    "cacheflush",
    "time",
    "select",
    "recv",
    "file_setattr",
    "not_a_syscall",
];

const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
];

const ARCHES: &[&str] =
    &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_NATIVE"];

const ALL_ABIS: [Abi; 5] = [Abi::X86_64, Abi::X32, Abi::X86, Abi::Aarch64, Abi::Arm];

fn random_value(rng: &mut Rng) -> u64 {
    if rng.chance(70) {
        rng.pick(&VALUES)
    } else if rng.chance(50) {
        rng.next() % 64
    } else {
        rng.next()
    }
}

fn random_action(rng: &mut Rng) -> Value {
    let mut a = json!({"action": rng.pick(ACTIONS)});
    if rng.chance(60) {
        a["errnoRet"] = json!(rng.below(4096));
    }
    a
}

fn random_profile(rng: &mut Rng) -> Value {
    let mut p = random_action(rng);
    p["defaultAction"] = p["action"].take();
    if let Some(e) = p.get("errnoRet").cloned() {
        p["defaultErrnoRet"] = e;
    }
    if let Some(o) = p.as_object_mut() {
        o.remove("action");
        o.remove("errnoRet");
    }
    let arches: Vec<&str> = ARCHES.iter().copied().filter(|_| rng.chance(40)).collect();
    p["architectures"] = json!(arches);
    let mut syscalls = Vec::new();
    for _ in 0..1 + rng.below(25) {
        let mut s = random_action(rng);
        let names: Vec<&str> = (0..1 + rng.below(4)).map(|_| rng.pick(NAMES)).collect();
        s["names"] = json!(names);
        let args: Vec<Value> = (0..rng.below(4))
            .map(|_| {
                let value = random_value(rng);
                let value_two = if rng.chance(70) { value & rng.next() } else { random_value(rng) };
                json!({"index": rng.below(6), "value": value, "valueTwo": value_two,
                       "op": rng.pick(&OPS)})
            })
            .collect();
        if !args.is_empty() {
            s["args"] = json!(args);
        }
        syscalls.push(s);
    }
    p["syscalls"] = json!(syscalls);
    p
}

fn ret_value(action: Action, errno_ret: Option<u32>) -> u32 {
    let data = errno_ret.unwrap_or(1);
    match action {
        Action::ScmpActAllow => ALLOW,
        Action::ScmpActErrno => errno(data),
        Action::ScmpActKill | Action::ScmpActKillThread => KILL_THREAD,
        Action::ScmpActKillProcess => KILL_PROCESS,
        Action::ScmpActTrap => TRAP,
        Action::ScmpActTrace => trace(data),
        Action::ScmpActLog => LOG,
        Action::ScmpActNotify => panic!("not generated"),
    }
}

/// What the profile says, evaluated directly: which ABI the call belongs
/// to, then the entries in order, then the default.
fn reference(p: &LinuxSeccomp, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut abis: Vec<Abi> = Abi::NATIVE.into_iter().collect();
    abis.extend(p.architectures().iter().flatten().filter_map(|&a| Abi::from_oci(a)));
    let abi = match arch {
        AUDIT_ARCH_X86_64 if nr >= X32_SYSCALL_BIT => {
            if nr == u32::MAX && abis.contains(&Abi::X86_64) {
                Abi::X86_64
            } else {
                Abi::X32
            }
        }
        AUDIT_ARCH_X86_64 => Abi::X86_64,
        AUDIT_ARCH_I386 => Abi::X86,
        AUDIT_ARCH_AARCH64 => Abi::Aarch64,
        AUDIT_ARCH_ARM => Abi::Arm,
        _ => return KILL_PROCESS,
    };
    if !abis.contains(&abi) {
        return KILL_PROCESS;
    }
    let cmp = if abi.has_32bit_args() { cmp32 } else { cmp64 };
    for s in p.syscalls().iter().flatten() {
        if !s.names().iter().any(|n| abi.syscall_nr(n) == Some(nr)) {
            continue;
        }
        let conds = s.args().clone().unwrap_or_default();
        let holds = |c: &oci_spec::runtime::LinuxSeccompArg| {
            cmp(c.op(), args[c.index()], c.value(), c.value_two().unwrap_or(0))
        };
        let mut indices: Vec<usize> = conds.iter().map(|c| c.index()).collect();
        indices.sort_unstable();
        let repeated = indices.windows(2).any(|w| w[0] == w[1]);
        let matched = if repeated { conds.iter().any(holds) } else { conds.iter().all(holds) };
        if matched {
            return ret_value(s.action(), s.errno_ret());
        }
    }
    ret_value(p.default_action(), p.default_errno_ret())
}

#[test]
fn random_profiles_match_reference() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0usize;
    for round in 0..300 {
        let json = random_profile(&mut rng);
        let p = profile(json.clone());
        let f = match Filter::compile(&p) {
            Ok(f) => f,
            Err(e) => panic!("round {round}: {e}\n{json:#}"),
        };
        validate(f.instructions());

        // Interesting argument values: those in the profile, and neighbours.
        let mut values: Vec<u64> = vec![0, 1, u64::MAX, 1 << 32];
        for s in p.syscalls().iter().flatten() {
            for c in s.args().iter().flatten() {
                values.extend(around(c.value()));
                values.extend(around(c.value_two().unwrap_or(0)));
            }
        }
        let mut archs: Vec<u32> = ALL_ABIS.iter().map(|a| a.audit()).collect();
        archs.push(0x1234_5678);
        for arch in archs {
            let mut nrs: Vec<u32> = vec![0, 1, 0x3fff_ffff, X32_SYSCALL_BIT, u32::MAX - 1, u32::MAX];
            for abi in ALL_ABIS.iter().filter(|a| a.audit() == arch) {
                for name in NAMES {
                    if let Some(nr) = abi.syscall_nr(name) {
                        nrs.extend([nr.wrapping_sub(1), nr, nr.wrapping_add(1)]);
                    }
                }
            }
            nrs.push(rng.next() as u32);
            for nr in nrs {
                for _ in 0..6 {
                    let args = [(); 6].map(|_| if rng.chance(80) { rng.pick(&values) } else { rng.next() });
                    let want = reference(&p, arch, nr, args);
                    let got = f.action_for(arch, i64::from(nr), args);
                    assert_eq!(got, want, "round {round}: arch {arch:#x} nr {nr:#x} args {args:x?}\n{json:#}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}

#[test]
fn reference_agrees_with_hand_written_cases() {
    // Guards the guard: the reference must itself get known answers right.
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert_eq!(reference(&p, AUDIT_ARCH_I386, 20, a0(5)), ALLOW);
    assert_eq!(reference(&p, AUDIT_ARCH_I386, 20, a0(6)), errno(1));
    assert_eq!(reference(&p, 0x1234, 20, a0(5)), KILL_PROCESS);
}
