//! Classic BPF for seccomp: the opcodes we emit, an emitter that resolves
//! jumps (including ones too far for the 8-bit conditional offsets), and an
//! interpreter for exactly that subset.
//!
//! The emitter builds the program back to front. Every jump in a seccomp
//! program goes forward, so when an instruction is emitted all of its targets
//! already exist and their distance is known: a conditional jump whose target
//! is more than 255 instructions away gets a `JA` (32-bit offset) trampoline
//! placed right behind it, in one pass and without fix-ups.

use libc::sock_filter;

// linux/bpf_common.h
pub(crate) const BPF_LD: u16 = 0x00;
pub(crate) const BPF_ALU: u16 = 0x04;
pub(crate) const BPF_JMP: u16 = 0x05;
pub(crate) const BPF_RET: u16 = 0x06;
pub(crate) const BPF_W: u16 = 0x00;
pub(crate) const BPF_ABS: u16 = 0x20;
pub(crate) const BPF_AND: u16 = 0x50;
pub(crate) const BPF_JA: u16 = 0x00;
pub(crate) const BPF_JEQ: u16 = 0x10;
pub(crate) const BPF_JGT: u16 = 0x20;
pub(crate) const BPF_JGE: u16 = 0x30;
pub(crate) const BPF_JSET: u16 = 0x40;
pub(crate) const BPF_K: u16 = 0x00;

/// The kernel rejects longer programs (`BPF_MAXINSNS`).
pub(crate) const BPF_MAXINSNS: usize = 4096;

/// `struct seccomp_data` layout: `int nr; __u32 arch; __u64
/// instruction_pointer; __u64 args[6];`, in host byte order.
pub(crate) const SECCOMP_DATA_NR: u32 = 0;
pub(crate) const SECCOMP_DATA_ARCH: u32 = 4;
const SECCOMP_DATA_ARGS: u32 = 16;
const SECCOMP_DATA_LEN: usize = 64;

/// Offset of the low 32 bits of argument `index` (0..=5).
pub(crate) const fn arg_lo(index: u8) -> u32 {
    SECCOMP_DATA_ARGS + 8 * index as u32 + if cfg!(target_endian = "little") { 0 } else { 4 }
}

/// Offset of the high 32 bits of argument `index` (0..=5).
pub(crate) const fn arg_hi(index: u8) -> u32 {
    SECCOMP_DATA_ARGS + 8 * index as u32 + if cfg!(target_endian = "little") { 4 } else { 0 }
}

const fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter { code, jt: 0, jf: 0, k }
}

/// A position in the program under construction, counted from its end (the
/// last instruction is 0). Stable while instructions are prepended.
pub(crate) type Label = usize;

/// Back-to-front program builder; see the module docs.
pub(crate) struct Emitter {
    /// The program in reverse order.
    rev: Vec<sock_filter>,
    /// Recently emitted `RET k` instructions, reused as jump targets instead
    /// of emitting the same return again.
    rets: Vec<(u32, Label)>,
}

/// How far back a `RET` may be and still be shared: close enough that the
/// jumps to it will usually not need a trampoline.
const RET_REUSE_DISTANCE: usize = 128;

impl Emitter {
    pub(crate) fn new() -> Self {
        Emitter { rev: Vec::with_capacity(1024), rets: Vec::with_capacity(8) }
    }

    pub(crate) fn len(&self) -> usize {
        self.rev.len()
    }

    /// Appends (at the front) an instruction that continues with `next`.
    /// If `next` is not the instruction right behind it, a `JA` is inserted.
    fn push_stmt(&mut self, insn: sock_filter, next: Label) -> Label {
        self.ja(next);
        self.rev.push(insn);
        self.rev.len() - 1
    }

    /// Ensures control continues at `target` from the current front: emits
    /// nothing if `target` is the front already, a `JA` otherwise.
    pub(crate) fn ja(&mut self, target: Label) -> Label {
        let here = self.rev.len();
        let off = here - target - 1;
        if off == 0 {
            return target;
        }
        // Offsets are bounded by the program length; a program that grows
        // past u32 range is long past BPF_MAXINSNS and rejected later anyway.
        self.rev.push(stmt(BPF_JMP | BPF_JA, off as u32));
        here
    }

    pub(crate) fn ret(&mut self, k: u32) -> Label {
        let here = self.rev.len();
        if let Some(&(_, label)) = self.rets.iter().find(|&&(v, l)| v == k && here - l <= RET_REUSE_DISTANCE) {
            return label;
        }
        self.rev.push(stmt(BPF_RET | BPF_K, k));
        match self.rets.iter_mut().find(|(v, _)| *v == k) {
            Some(slot) => slot.1 = here,
            None => self.rets.push((k, here)),
        }
        here
    }

    /// `A = seccomp_data[offset]` (32-bit), then continue at `next`.
    pub(crate) fn load(&mut self, offset: u32, next: Label) -> Label {
        self.push_stmt(stmt(BPF_LD | BPF_W | BPF_ABS, offset), next)
    }

    /// `A &= k`, then continue at `next`.
    pub(crate) fn and(&mut self, k: u32, next: Label) -> Label {
        self.push_stmt(stmt(BPF_ALU | BPF_AND | BPF_K, k), next)
    }

    /// `if (A <op> k) goto jt; else goto jf;` with `op` one of `BPF_JEQ`,
    /// `BPF_JGT`, `BPF_JGE`, `BPF_JSET`. Far targets go through trampolines.
    pub(crate) fn jump(&mut self, op: u16, k: u32, mut jt: Label, mut jf: Label) -> Label {
        if jt == jf {
            // Both ways lead to the same place: the test is dead code.
            return jt;
        }
        loop {
            let here = self.rev.len();
            let (ot, of) = (here - jt - 1, here - jf - 1);
            if of > u8::MAX as usize {
                jf = self.ja(jf);
            } else if ot > u8::MAX as usize {
                // Emitting this trampoline moves `jf` one further away, which
                // the next round re-checks.
                jt = self.ja(jt);
            } else {
                self.rev.push(sock_filter { code: BPF_JMP | op | BPF_K, jt: ot as u8, jf: of as u8, k });
                return here;
            }
        }
    }

    /// The finished program, front to back. `entry` must be the label of the
    /// first instruction to run.
    pub(crate) fn finish(mut self, entry: Label) -> Vec<sock_filter> {
        self.ja(entry);
        self.rev.reverse();
        self.rev
    }
}

/// `struct seccomp_data` as the kernel fills it, for [`run`].
pub(crate) fn seccomp_data(arch: u32, nr: u32, args: &[u64; 6]) -> [u8; SECCOMP_DATA_LEN] {
    let mut data = [0u8; SECCOMP_DATA_LEN];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    // instruction_pointer (8..16) stays 0: filters never read it.
    for (i, arg) in args.iter().enumerate() {
        let at = SECCOMP_DATA_ARGS as usize + 8 * i;
        data[at..at + 8].copy_from_slice(&arg.to_ne_bytes());
    }
    data
}

/// Runs a program the way the kernel's seccomp BPF interpreter would, for the
/// subset of opcodes this crate emits. Anything the kernel's checker would
/// have refused (unknown opcode, bad load, jump out of the program) yields
/// `SECCOMP_RET_KILL_PROCESS`, never a panic.
pub(crate) fn run(program: &[sock_filter], data: &[u8; SECCOMP_DATA_LEN]) -> u32 {
    exec(program, data).0
}

/// [`run`], also returning how many instructions were executed.
pub(crate) fn exec(program: &[sock_filter], data: &[u8; SECCOMP_DATA_LEN]) -> (u32, usize) {
    const INVALID: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    let mut a: u32 = 0;
    let mut pc: usize = 0;
    let mut steps = 0;
    let ret = loop {
        let Some(insn) = program.get(pc) else {
            break INVALID;
        };
        steps += 1;
        pc += 1;
        let k = insn.k;
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                let at = k as usize;
                match at.checked_add(4).and_then(|end| data.get(at..end)) {
                    Some(bytes) if at & 3 == 0 => {
                        let mut w = [0u8; 4];
                        w.copy_from_slice(bytes);
                        a = u32::from_ne_bytes(w);
                    }
                    _ => break INVALID,
                }
            }
            c if c == BPF_ALU | BPF_AND | BPF_K => a &= k,
            c if c == BPF_RET | BPF_K => break k,
            c if c == BPF_JMP | BPF_JA => pc = pc.saturating_add(k as usize),
            c if c & 0x07 == BPF_JMP => {
                let taken = match c & 0xf0 {
                    BPF_JEQ => a == k,
                    BPF_JGT => a > k,
                    BPF_JGE => a >= k,
                    BPF_JSET => a & k != 0,
                    _ => break INVALID,
                };
                if c & 0x08 != BPF_K {
                    break INVALID;
                }
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            _ => break INVALID,
        }
    };
    (ret, steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

    fn data_nr(nr: u32) -> [u8; SECCOMP_DATA_LEN] {
        seccomp_data(0, nr, &[0; 6])
    }

    #[test]
    fn interpreter_basics() {
        let prog = [
            stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR),
            sock_filter { code: BPF_JMP | BPF_JEQ | BPF_K, jt: 1, jf: 0, k: 7 },
            stmt(BPF_RET | BPF_K, 1),
            sock_filter { code: BPF_JMP | BPF_JSET | BPF_K, jt: 0, jf: 1, k: 4 },
            stmt(BPF_RET | BPF_K, 2),
            stmt(BPF_RET | BPF_K, 3),
        ];
        assert_eq!(run(&prog, &data_nr(7)), 2);
        assert_eq!(run(&prog, &data_nr(8)), 1);
        // Invalid programs never panic.
        assert_eq!(run(&[], &data_nr(0)), KILL);
        assert_eq!(run(&[stmt(BPF_LD | BPF_W | BPF_ABS, 62)], &data_nr(0)), KILL);
        assert_eq!(run(&[stmt(BPF_LD | BPF_W | BPF_ABS, 2)], &data_nr(0)), KILL);
        assert_eq!(run(&[stmt(BPF_JMP | BPF_JA, u32::MAX)], &data_nr(0)), KILL);
        assert_eq!(run(&[stmt(0xffff, 0)], &data_nr(0)), KILL);
    }

    #[test]
    fn argument_words() {
        let data = seccomp_data(9, 5, &[0, 0, 0x1122_3344_5566_7788, 0, 0, u64::MAX]);
        let word = |off: u32| u32::from_ne_bytes(data[off as usize..off as usize + 4].try_into().unwrap());
        assert_eq!(word(SECCOMP_DATA_NR), 5);
        assert_eq!(word(SECCOMP_DATA_ARCH), 9);
        assert_eq!(word(arg_lo(2)), 0x5566_7788);
        assert_eq!(word(arg_hi(2)), 0x1122_3344);
        assert_eq!(word(arg_lo(5)), u32::MAX);
    }

    /// Emits `n` distinct returns: code a jump has to get across.
    fn filler(e: &mut Emitter, n: u32, base: u32) -> Label {
        let mut front = e.len().saturating_sub(1);
        for i in 0..n {
            front = e.push_stmt(stmt(BPF_RET | BPF_K, base + i), front);
        }
        front
    }

    /// Conditional jumps over long stretches of code need trampolines; the
    /// result must still run correctly.
    #[test]
    fn far_jumps_get_trampolines() {
        // The true target is far, the false one adjacent.
        let mut e = Emitter::new();
        let far = e.ret(ALLOW);
        let near = filler(&mut e, 600, 1000);
        let test = e.jump(BPF_JEQ, 42, far, near);
        let entry = e.load(SECCOMP_DATA_NR, test);
        let prog = e.finish(entry);
        assert!(prog.iter().any(|i| i.code == BPF_JMP | BPF_JA && i.k > 255));
        assert_eq!(run(&prog, &data_nr(42)), ALLOW);
        assert_eq!(run(&prog, &data_nr(41)), 1599);

        // Both targets far away.
        let mut e = Emitter::new();
        let t = e.ret(11);
        filler(&mut e, 300, 2000);
        let f = e.ret(22);
        filler(&mut e, 300, 3000);
        let test = e.jump(BPF_JGT, 100, t, f);
        let entry = e.load(SECCOMP_DATA_NR, test);
        let prog = e.finish(entry);
        assert_eq!(prog.iter().filter(|i| i.code == BPF_JMP | BPF_JA).count(), 2);
        assert_eq!(run(&prog, &data_nr(101)), 11);
        assert_eq!(run(&prog, &data_nr(100)), 22);
    }

    #[test]
    fn shared_returns_and_dead_tests() {
        let mut e = Emitter::new();
        let a = e.ret(ALLOW);
        let b = e.ret(ALLOW);
        assert_eq!(a, b);
        let j = e.jump(BPF_JEQ, 1, a, a);
        assert_eq!(j, a);
        assert_eq!(e.len(), 1);
    }
}
