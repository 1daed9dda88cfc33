//! cgroup v2 has no devices controller: access is decided by an eBPF program
//! of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the group, as runc and
//! crun do. The kernel runs it on every open/mknod of a device node with a
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
//! where access_type = (access << 16) | type; returning 0 denies (EPERM).

use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use super::bpf;
use crate::devices::{parse, Kind, Rule, FIELD};
use crate::{Error, Result};

/// BPF_DEVCG_DEV_BLOCK / BPF_DEVCG_DEV_CHAR.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// One eBPF instruction, `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes used here: class | size/op | source.
pub(crate) const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM (| BPF_W = 0)
pub(crate) const ALU32_AND_K: u8 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const ALU32_RSH_K: u8 = 0x04 | 0x70; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const ALU32_MOV_X: u8 = 0x04 | 0xb0 | 0x08; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const ALU64_MOV_K: u8 = 0x07 | 0xb0; // BPF_ALU64 | BPF_MOV | BPF_K
pub(crate) const JMP_JNE_K: u8 = 0x05 | 0x50; // BPF_JMP | BPF_JNE | BPF_K
pub(crate) const JMP_JNE_REG: u8 = 0x05 | 0x50 | 0x08; // BPF_JMP | BPF_JNE | BPF_X
pub(crate) const JMP_JEQ_K: u8 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
pub(crate) const JMP_EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, dst, src, off, imm }
}

/// The filter for `rules`: the last rule that matches a request decides it;
/// a request no rule matches is denied.
///
/// An allow rule matches when the request's access is a subset of the
/// rule's; a deny rule when they share any bit, so denying "w" also refuses
/// an "rw" open, as the v1 controller would.
pub(crate) fn program(rules: &[Rule]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor (r1 is the context).
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    // Checked last to first, so the first match found is the last rule.
    for rule in rules.iter().rev() {
        let block = block(rule);
        let matches_everything = block.len() == 2;
        p.extend(block);
        // Nothing after it can run, and the verifier rejects unreachable
        // instructions.
        if matches_everything {
            return p;
        }
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Tests that jump past the block when the request does not match, then
/// return the rule's verdict.
fn block(rule: &Rule) -> Vec<Insn> {
    // Jumps are encoded with the offset still unknown (0) and fixed below.
    let mut tests: Vec<Insn> = Vec::new();
    let kind = match rule.kind {
        Kind::All => None,
        Kind::Char => Some(DEV_CHAR),
        Kind::Block => Some(DEV_BLOCK),
    };
    if let Some(kind) = kind {
        tests.push(insn(JMP_JNE_K, 2, 0, 0, kind));
    }
    let all = crate::devices::READ | crate::devices::WRITE | crate::devices::MKNOD;
    let access = i32::try_from(rule.access).unwrap_or(0);
    if rule.allow && rule.access != all {
        // r1 = r3 & access; skip unless r1 == r3 (request within the rule).
        tests.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
        tests.push(insn(ALU32_AND_K, 1, 0, 0, access));
        tests.push(insn(JMP_JNE_REG, 1, 3, 0, 0));
    } else if !rule.allow && rule.access != all {
        // r1 = r3 & access; skip if r1 == 0 (no denied bit requested).
        tests.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
        tests.push(insn(ALU32_AND_K, 1, 0, 0, access));
        tests.push(insn(JMP_JEQ_K, 1, 0, 0, 0));
    }
    if let Some(major) = rule.major {
        tests.push(insn(JMP_JNE_K, 4, 0, 0, major as i32));
    }
    if let Some(minor) = rule.minor {
        tests.push(insn(JMP_JNE_K, 5, 0, 0, minor as i32));
    }
    let len = tests.len() + 2;
    for (i, t) in tests.iter_mut().enumerate() {
        if t.code & 0x07 == 0x05 {
            // Relative to the next instruction; lands just past the block.
            t.off = (len - i - 1) as i16;
        }
    }
    tests.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
    tests.push(insn(JMP_EXIT, 0, 0, 0, 0));
    tests
}

/// Replaces the group's device filter with one built from `rules`.
pub(super) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let prog = program(&parse(rules)?);
    let bpf_err = |op: &'static str, source: std::io::Error, log: String| Error::Bpf {
        field: FIELD,
        op,
        path: dir.to_path_buf(),
        source,
        log,
    };
    let fd = bpf::load(&prog).map_err(|(e, log)| bpf_err("loading the device filter (BPF_PROG_LOAD)", e, log))?;
    let group = std::fs::File::open(dir).map_err(|source| Error::Read { path: dir.to_path_buf(), source })?;
    let old = bpf::query(&group)
        .map_err(|e| bpf_err("listing attached device filters (BPF_PROG_QUERY)", e, String::new()))?;
    // Attach before detaching so the group is never without a filter; with
    // BPF_F_ALLOW_MULTI both run meanwhile and both must allow.
    bpf::attach(&group, &fd).map_err(|e| bpf_err("attaching the device filter (BPF_PROG_ATTACH)", e, String::new()))?;
    for id in old {
        bpf::detach(&group, id)
            .map_err(|e| bpf_err("detaching the previous device filter (BPF_PROG_DETACH)", e, String::new()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::tests::rule;
    use crate::devices::{MKNOD, READ, WRITE};
    use oci_spec::runtime::LinuxDeviceType::{self, A, B, C};

    /// Runs `prog` the way the kernel would for one request, for exactly the
    /// instructions `program` emits; anything else fails the test.
    fn run(prog: &[Insn], kind: i32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = prog[pc];
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            let imm64 = i64::from(i.imm) as u64;
            let mut next = pc + 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    let off = usize::try_from(i.off).unwrap();
                    assert!(off % 4 == 0 && off < 12, "bad context offset {off}");
                    r[d] = u64::from(ctx[off / 4]);
                }
                ALU32_AND_K => r[d] = u64::from((r[d] as u32) & (i.imm as u32)),
                ALU32_RSH_K => r[d] = u64::from((r[d] as u32) >> i.imm),
                ALU32_MOV_X => r[d] = u64::from(r[s] as u32),
                ALU64_MOV_K => r[d] = imm64,
                JMP_JNE_K | JMP_JEQ_K | JMP_JNE_REG => {
                    let other = if i.code == JMP_JNE_REG { r[s] } else { imm64 };
                    let taken = if i.code == JMP_JEQ_K { r[d] == other } else { r[d] != other };
                    if taken {
                        next = (pc as i64 + 1 + i64::from(i.off)) as usize;
                    }
                }
                JMP_EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x} at {pc}"),
            }
            assert!(next < prog.len(), "jump out of the program at {pc}");
            pc = next;
        }
        panic!("program did not terminate");
    }

    fn prog(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
        program(&parse(rules).unwrap())
    }

    const R: u32 = READ;
    const W: u32 = WRITE;
    const M: u32 = MKNOD;

    fn r(allow: bool, t: LinuxDeviceType, maj: Option<i64>, min: Option<i64>, a: &str) -> LinuxDeviceCgroup {
        rule(allow, t, maj, min, a)
    }

    #[test]
    fn no_rules_denies_everything() {
        let p = prog(&[]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 0);
        assert_eq!(run(&p, DEV_BLOCK, R | W, 8, 0), 0);
    }

    #[test]
    fn allow_all() {
        let p = prog(&[r(true, A, None, None, "rwm")]);
        assert_eq!(run(&p, DEV_CHAR, R | W | M, 1, 3), 1);
        assert_eq!(run(&p, DEV_BLOCK, R, 259, 1), 1);
    }

    #[test]
    fn typical_container_rules() {
        let p = prog(&[
            r(false, A, None, None, "rwm"),
            r(true, C, Some(1), Some(3), "rwm"), // /dev/null
            r(true, C, Some(1), Some(5), "rwm"), // /dev/zero
            r(true, C, Some(136), None, "rwm"),  // /dev/pts/*
            r(true, C, None, None, "m"),         // mknod any char device
            r(true, B, Some(8), Some(0), "r"),   // read-only sda
        ]);
        assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 1);
        assert_eq!(run(&p, DEV_CHAR, R | W, 1, 8), 0, "/dev/random not listed");
        assert_eq!(run(&p, DEV_CHAR, R | W, 136, 42), 1);
        assert_eq!(run(&p, DEV_CHAR, M, 10, 200), 1);
        assert_eq!(run(&p, DEV_CHAR, R, 10, 200), 0);
        assert_eq!(run(&p, DEV_BLOCK, R, 8, 0), 1);
        assert_eq!(run(&p, DEV_BLOCK, R | W, 8, 0), 0, "write not allowed");
        assert_eq!(run(&p, DEV_BLOCK, R, 8, 1), 0);
        assert_eq!(run(&p, DEV_BLOCK, M, 1, 3), 0, "type must match");
    }

    #[test]
    fn last_matching_rule_wins() {
        let p = prog(&[r(true, C, Some(1), Some(3), "rwm"), r(false, C, Some(1), Some(3), "w")]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, W, 1, 3), 0);
        assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 0, "deny w refuses rw");

        // A later "deny all" overrides earlier allows.
        let p = prog(&[r(true, C, Some(1), Some(3), "rwm"), r(false, A, None, None, "rwm")]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 0);

        // And a later allow re-opens what an earlier deny closed.
        let p = prog(&[
            r(true, A, None, None, "rwm"),
            r(false, C, Some(1), None, "rwm"),
            r(true, C, Some(1), Some(3), "r"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, W, 1, 3), 0);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 0);
        assert_eq!(run(&p, DEV_BLOCK, R | W, 8, 0), 1);
    }

    /// What the kernel verifier checks structurally: jumps land inside the
    /// program and go forward, every instruction is reachable, and the
    /// program cannot fall off its end.
    fn assert_well_formed(p: &[Insn]) {
        let mut reachable = vec![false; p.len()];
        reachable[0] = true;
        for (i, insn) in p.iter().enumerate() {
            if !reachable[i] {
                panic!("unreachable instruction {i} in {p:?}");
            }
            if insn.code == JMP_EXIT {
                continue;
            }
            assert!(i + 1 < p.len(), "falls off the end at {i}");
            reachable[i + 1] = true;
            if insn.code & 0x07 == 0x05 {
                let target = i as i64 + 1 + i64::from(insn.off);
                assert!(target > i as i64 && (target as usize) < p.len(), "bad jump at {i}");
                reachable[target as usize] = true;
            }
        }
    }

    #[test]
    fn programs_are_well_formed() {
        let cases: &[&[LinuxDeviceCgroup]] = &[
            &[],
            &[r(true, C, Some(1), Some(3), "rw"), r(false, B, None, Some(7), "m")],
            &[r(false, A, None, None, "rwm"), r(true, C, Some(1), Some(3), "rwm")],
            &[r(true, C, Some(1), Some(3), "rwm"), r(true, A, None, None, "rwm")],
            &[r(false, A, None, None, "rwm")],
        ];
        for rules in cases {
            assert_well_formed(&prog(rules));
        }
        // Rules before a match-all rule are dead code and left out.
        let p = prog(&[r(true, C, Some(1), Some(3), "rwm"), r(false, A, None, None, "rwm")]);
        assert_eq!(p.len(), 6 + 2);
    }
}
