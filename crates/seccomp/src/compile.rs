//! Profile → rule model → BPF program.
//!
//! Shape of the generated program:
//!
//! ```text
//!     ld  arch
//!     jeq AUDIT_ARCH_<native> ? 0 : next      ; native ABI first: one test
//!     ld  nr
//!     <binary search over the syscall-number line>
//! next:
//!     jeq AUDIT_ARCH_<other> ...
//!     ret KILL_PROCESS                        ; arch not in the profile
//! ```
//!
//! Per ABI the syscall numbers (0..=u32::MAX) are cut into maximal intervals
//! with the same outcome: a fixed action (`ret`), or, for a syscall with
//! argument conditions, its own block of comparisons. Consecutive syscalls
//! with the same action share an interval, so an allowlist costs roughly two
//! instructions per allowed/denied *run*, and a lookup costs log2(intervals)
//! `jge` tests. x32 lives in the same number line as x86_64 (its numbers have
//! bit 30 set), so one tree serves both.

use libc::sock_filter;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompFilterFlag as Flag, LinuxSeccompOperator as Op,
};

use crate::arch::{Arch, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use crate::bpf::{
    arg_hi, arg_lo, Emitter, Label, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_MAXINSNS, SECCOMP_DATA_ARCH, SECCOMP_DATA_NR,
};
use crate::Error;

const RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
/// `SECCOMP_RET_DATA`: errno/trace values live in the low 16 bits.
const RET_DATA_MAX: u32 = 0xffff;

/// The result of [`compile`].
pub(crate) struct Compiled {
    pub(crate) program: Vec<sock_filter>,
    pub(crate) flags: u32,
    pub(crate) skipped: Vec<String>,
}

/// One argument comparison: `args[index] <test>`.
#[derive(Clone, Copy, Debug)]
struct Cond {
    index: u8,
    test: Test,
}

#[derive(Clone, Copy, Debug)]
enum Test {
    /// `arg <cmp> value`, unsigned.
    Cmp(Cmp, u64),
    /// `arg & mask == datum`: the spec's `value` is the mask, `valueTwo` the
    /// datum (as in libseccomp's `SCMP_CMP_MASKED_EQ`).
    MaskedEq { mask: u64, datum: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Conditions (ANDed) and the return value when they all hold.
#[derive(Debug)]
struct Rule {
    conds: Vec<Cond>,
    ret: u32,
}

/// Rule `rule` applies to syscall `nr` in ABI group `group`. Sorting hits
/// brings each syscall's rules together in profile order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    group: u8,
    nr: u32,
    rule: u32,
}

/// What an interval of syscall numbers does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    /// Index into `Model::cond_sets`: rules tried in order, then the default.
    Rules(usize),
}

/// ABIs that share one `AUDIT_ARCH_*` value and thus one number tree.
struct Group {
    audit: u32,
    members: Vec<Arch>,
}

struct Model {
    rules: Vec<Rule>,
    /// Rule ids per conditional syscall, in the order they are tried.
    cond_sets: Vec<Vec<u32>>,
    default: u32,
}

pub(crate) fn compile(profile: &LinuxSeccomp) -> Result<Compiled, Error> {
    let native = Arch::NATIVE.ok_or(Error::UnsupportedHost)?;
    let mut arches = vec![native];
    for (index, &a) in profile.architectures().iter().flatten().enumerate() {
        let arch = Arch::from_oci(a).ok_or_else(|| Error::UnsupportedArch { index, arch: a.to_string() })?;
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    let mut groups: Vec<Group> = Vec::with_capacity(arches.len());
    for &arch in &arches {
        match groups.iter_mut().find(|g| g.audit == arch.audit()) {
            Some(g) => g.members.push(arch),
            None => groups.push(Group { audit: arch.audit(), members: vec![arch] }),
        }
    }

    let default = action_ret(
        profile.default_action(),
        profile.default_errno_ret(),
        || "linux.seccomp.defaultAction".to_owned(),
        || "linux.seccomp.defaultErrnoRet".to_owned(),
    )?;
    let flags = filter_flags(profile.flags().as_deref().unwrap_or_default())?;

    let mut rules: Vec<Rule> = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for (i, entry) in profile.syscalls().iter().flatten().enumerate() {
        let ret = action_ret(
            entry.action(),
            entry.errno_ret(),
            || format!("linux.seccomp.syscalls[{i}]"),
            || format!("linux.seccomp.syscalls[{i}].errnoRet"),
        )?;
        let first_rule = rules.len();
        add_rules(&mut rules, i, entry.args().as_deref().unwrap_or_default(), ret)?;
        let rule_ids = first_rule as u32..rules.len() as u32;

        for (j, name) in entry.names().iter().enumerate() {
            if name.is_empty() {
                return Err(Error::EmptyName { syscall: i, name: j });
            }
            let mut known = false;
            for (g, group) in groups.iter().enumerate() {
                for &arch in &group.members {
                    if let Some(nr) = arch.syscall_nr(name) {
                        known = true;
                        hits.extend(rule_ids.clone().map(|rule| Hit { group: g as u8, nr, rule }));
                    }
                }
            }
            if !known && !skipped.contains(name) {
                skipped.push(name.clone());
            }
        }
    }
    hits.sort_unstable();
    hits.dedup();

    let mut model = Model { rules, cond_sets: Vec::new(), default };
    let mut e = Emitter::new();
    let mut next_arch = e.ret(RET_KILL_PROCESS);
    for (g, group) in groups.iter().enumerate().rev() {
        let start = hits.partition_point(|h| h.group < g as u8);
        let end = hits.partition_point(|h| h.group <= g as u8);
        let points = points(&mut model, &hits[start..end]);
        let intervals = intervals(&base(group, default), &points);
        let args32 = group.members.iter().all(|a| a.has_32bit_args());
        let tree = emit_tree(&mut e, &model, &intervals, args32);
        let body = if intervals.len() == 1 {
            tree // the outcome does not depend on the number
        } else {
            e.load(SECCOMP_DATA_NR, tree)
        };
        next_arch = e.jump(BPF_JEQ, group.audit, body, next_arch);
    }
    let entry = e.load(SECCOMP_DATA_ARCH, next_arch);
    let program = e.finish(entry);
    if program.len() > BPF_MAXINSNS {
        return Err(Error::TooLarge { len: program.len() });
    }
    Ok(Compiled { program, flags, skipped })
}

/// The seccomp return value of an action. `field`/`data_field` name the
/// profile fields for error messages; they are only called on error.
fn action_ret(
    action: Action,
    errno_ret: Option<u32>,
    field: impl Fn() -> String,
    data_field: impl Fn() -> String,
) -> Result<u32, Error> {
    let data = || match errno_ret {
        None => Ok(libc::EPERM as u32),
        Some(v) if v <= RET_DATA_MAX => Ok(v),
        Some(value) => Err(Error::RetData { field: data_field(), value }),
    };
    Ok(match action {
        Action::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
        Action::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data()?,
        // libseccomp's SCMP_ACT_KILL is the thread-killing action.
        Action::ScmpActKill | Action::ScmpActKillThread => libc::SECCOMP_RET_KILL_THREAD,
        Action::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        Action::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        Action::ScmpActTrace => libc::SECCOMP_RET_TRACE | data()?,
        Action::ScmpActLog => libc::SECCOMP_RET_LOG,
        // Needs a listener fd handed to an agent: not something a filter
        // compiler can provide.
        Action::ScmpActNotify => return Err(Error::UnsupportedAction { field: field(), action: action.to_string() }),
    })
}

fn filter_flags(flags: &[Flag]) -> Result<u32, Error> {
    let mut bits = 0;
    for (index, &flag) in flags.iter().enumerate() {
        bits |= match flag {
            Flag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            Flag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            Flag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // Only valid together with SECCOMP_FILTER_FLAG_NEW_LISTENER.
            Flag::SeccompFilterFlagWaitKillableRecv => {
                return Err(Error::UnsupportedFlag { index, flag: flag.to_string() })
            }
        } as u32;
    }
    Ok(bits)
}

/// Adds the rule(s) of profile entry `i`. Like runc and crun, an entry that
/// compares the same argument more than once becomes one rule per condition
/// (ORed) instead of one rule with all of them (ANDed): libseccomp refuses
/// the latter, and existing profiles rely on the former.
fn add_rules(
    rules: &mut Vec<Rule>,
    i: usize,
    args: &[oci_spec::runtime::LinuxSeccompArg],
    ret: u32,
) -> Result<(), Error> {
    let mut conds = Vec::with_capacity(args.len());
    let mut seen = [false; 6];
    let mut repeated = false;
    for (j, arg) in args.iter().enumerate() {
        let index = arg.index();
        if index > 5 {
            return Err(Error::ArgIndex { syscall: i, arg: j, index });
        }
        repeated |= std::mem::replace(&mut seen[index], true);
        let cmp = |c| Test::Cmp(c, arg.value());
        let test = match arg.op() {
            Op::ScmpCmpEq => cmp(Cmp::Eq),
            Op::ScmpCmpNe => cmp(Cmp::Ne),
            Op::ScmpCmpLt => cmp(Cmp::Lt),
            Op::ScmpCmpLe => cmp(Cmp::Le),
            Op::ScmpCmpGt => cmp(Cmp::Gt),
            Op::ScmpCmpGe => cmp(Cmp::Ge),
            Op::ScmpCmpMaskedEq => Test::MaskedEq { mask: arg.value(), datum: arg.value_two().unwrap_or(0) },
        };
        conds.push(Cond { index: index as u8, test });
    }
    if repeated {
        rules.extend(conds.into_iter().map(|c| Rule { conds: vec![c], ret }));
    } else {
        rules.push(Rule { conds, ret });
    }
    Ok(())
}

/// The outcome of every syscall number named in the profile for one ABI
/// group, sorted by number. `hits` is sorted and belongs to that group.
fn points(model: &mut Model, hits: &[Hit]) -> Vec<(u32, Leaf)> {
    let mut points = Vec::with_capacity(hits.len());
    let mut i = 0;
    while i < hits.len() {
        let nr = hits[i].nr;
        let j = i + hits[i..].partition_point(|h| h.nr == nr);
        let run = &hits[i..j];
        i = j;

        // A rule without conditions always matches: later ones are dead.
        let mut end =
            run.iter().position(|h| model.rules[h.rule as usize].conds.is_empty()).map_or(run.len(), |p| p + 1);
        // Trailing rules that return the default change nothing.
        while end > 0 && model.rules[run[end - 1].rule as usize].ret == model.default {
            end -= 1;
        }
        let leaf = match &run[..end] {
            [] => Leaf::Ret(model.default),
            [only] if model.rules[only.rule as usize].conds.is_empty() => {
                Leaf::Ret(model.rules[only.rule as usize].ret)
            }
            live => {
                model.cond_sets.push(live.iter().map(|h| h.rule).collect());
                Leaf::Rules(model.cond_sets.len() - 1)
            }
        };
        points.push((nr, leaf));
    }
    points
}

/// What numbers that the profile does not name get, as (start, leaf) runs
/// over the whole u32 range. On `AUDIT_ARCH_X86_64`, the x32 half of the
/// number line (bit 30 set) belongs to an ABI that may not be in the profile,
/// which makes it a bad-arch kill like libseccomp does, except for nr -1
/// (0xffffffff), which tracers use to skip a syscall.
fn base(group: &Group, default: u32) -> Vec<(u32, Leaf)> {
    let def = Leaf::Ret(default);
    let kill = Leaf::Ret(RET_KILL_PROCESS);
    if group.audit != AUDIT_ARCH_X86_64 {
        return vec![(0, def)];
    }
    let x86_64 = group.members.contains(&Arch::X86_64);
    let x32 = group.members.contains(&Arch::X32);
    match (x86_64, x32) {
        (true, false) => vec![(0, def), (X32_SYSCALL_BIT, kill), (u32::MAX, def)],
        (false, true) => vec![(0, kill), (X32_SYSCALL_BIT, def)],
        _ => vec![(0, def)],
    }
}

/// Merges the profile's points into the base runs, coalescing neighbours
/// with the same outcome. The result starts at 0 and covers all of u32.
fn intervals(base: &[(u32, Leaf)], points: &[(u32, Leaf)]) -> Vec<(u32, Leaf)> {
    let base_at = |n: u32| {
        let i = base.partition_point(|&(start, _)| start <= n);
        base[i.saturating_sub(1)].1
    };
    let mut starts: Vec<u32> = Vec::with_capacity(base.len() + 2 * points.len());
    starts.extend(base.iter().map(|&(s, _)| s));
    for &(nr, _) in points {
        starts.push(nr);
        starts.extend(nr.checked_add(1));
    }
    starts.sort_unstable();
    starts.dedup();

    let mut out: Vec<(u32, Leaf)> = Vec::with_capacity(starts.len());
    for s in starts {
        let leaf = match points.binary_search_by_key(&s, |&(nr, _)| nr) {
            Ok(i) => points[i].1,
            Err(_) => base_at(s),
        };
        if out.last().map(|&(_, l)| l) != Some(leaf) {
            out.push((s, leaf));
        }
    }
    out
}

/// Binary search over `intervals` (non-empty, sorted, A = syscall number):
/// `jge start_of_upper_half` splits the range until one interval is left.
fn emit_tree(e: &mut Emitter, model: &Model, intervals: &[(u32, Leaf)], args32: bool) -> Label {
    if let [(_, leaf)] = intervals {
        return match *leaf {
            Leaf::Ret(k) => e.ret(k),
            Leaf::Rules(set) => emit_rules(e, model, &model.cond_sets[set], args32),
        };
    }
    let mid = intervals.len() / 2;
    // Back to front: the upper half ends up after the lower half.
    let upper = emit_tree(e, model, &intervals[mid..], args32);
    let lower = emit_tree(e, model, &intervals[..mid], args32);
    e.jump(BPF_JGE, intervals[mid].0, upper, lower)
}

/// A conditional syscall: each rule's conditions in turn; the first rule
/// whose conditions all hold returns its action, else the default applies.
fn emit_rules(e: &mut Emitter, model: &Model, set: &[u32], args32: bool) -> Label {
    let mut next_rule = e.ret(model.default);
    for &id in set.iter().rev() {
        let rule = &model.rules[id as usize];
        let mut at = e.ret(rule.ret);
        for cond in rule.conds.iter().rev() {
            at = emit_cond(e, cond, at, next_rule, args32);
        }
        next_rule = at;
    }
    next_rule
}

/// Compares a 64-bit argument as two 32-bit words, high word first (the
/// low word only matters when the high words are equal), as libseccomp
/// does. On 32-bit ABIs only the low word exists.
fn emit_cond(e: &mut Emitter, c: &Cond, pass: Label, fail: Label, args32: bool) -> Label {
    let hi = |v: u64| (v >> 32) as u32;
    let lo = |v: u64| v as u32;
    let (lo_off, hi_off) = (arg_lo(c.index), arg_hi(c.index));
    match c.test {
        Test::MaskedEq { mask, datum } => {
            let low = masked_word(e, lo_off, lo(mask), lo(datum), pass, fail);
            if args32 {
                return low;
            }
            masked_word(e, hi_off, hi(mask), hi(datum), low, fail)
        }
        Test::Cmp(cmp, value) => {
            let low = low_word(e, cmp, lo_off, lo(value), pass, fail);
            if args32 {
                return low;
            }
            high_word(e, cmp, hi_off, hi(value), low, pass, fail)
        }
    }
}

/// Loads the word the test at `test` looks at, unless folding left no test
/// (the label predates `mark`, the emitter length before the test).
fn load_for(e: &mut Emitter, off: u32, test: Label, mark: usize) -> Label {
    if test < mark {
        test
    } else {
        e.load(off, test)
    }
}

/// `(word & mask) == datum`, folding the cases whose answer is fixed.
fn masked_word(e: &mut Emitter, off: u32, mask: u32, datum: u32, pass: Label, fail: Label) -> Label {
    if datum & !mask != 0 {
        return fail;
    }
    if mask == 0 {
        return pass; // 0 == datum, since datum ⊆ mask
    }
    let mark = e.len();
    let test = e.jump(BPF_JEQ, datum, pass, fail);
    let test = if mask == u32::MAX || test < mark { test } else { e.and(mask, test) };
    load_for(e, off, test, mark)
}

/// The deciding word comparison (the low word, or the only word).
fn low_word(e: &mut Emitter, cmp: Cmp, off: u32, k: u32, pass: Label, fail: Label) -> Label {
    let (op, jt, jf) = match (cmp, k) {
        (Cmp::Ge, 0) | (Cmp::Le, u32::MAX) => return pass,
        (Cmp::Lt, 0) | (Cmp::Gt, u32::MAX) => return fail,
        (Cmp::Eq, _) => (BPF_JEQ, pass, fail),
        (Cmp::Ne, _) => (BPF_JEQ, fail, pass),
        (Cmp::Gt, _) => (BPF_JGT, pass, fail),
        (Cmp::Ge, _) => (BPF_JGE, pass, fail),
        (Cmp::Lt, _) => (BPF_JGE, fail, pass),
        (Cmp::Le, _) => (BPF_JGT, fail, pass),
    };
    let mark = e.len();
    let test = e.jump(op, k, jt, jf);
    load_for(e, off, test, mark)
}

/// The high word: decides on its own unless it equals `k`, in which case
/// control goes on to the low word at `low`.
fn high_word(e: &mut Emitter, cmp: Cmp, off: u32, k: u32, low: Label, pass: Label, fail: Label) -> Label {
    let mark = e.len();
    let test = match cmp {
        Cmp::Eq => e.jump(BPF_JEQ, k, low, fail),
        Cmp::Ne => e.jump(BPF_JEQ, k, low, pass),
        Cmp::Gt | Cmp::Ge => above_below(e, k, low, pass, fail),
        Cmp::Lt | Cmp::Le => above_below(e, k, low, fail, pass),
    };
    load_for(e, off, test, mark)
}

/// `word > k → above; word == k → equal; word < k → below`.
fn above_below(e: &mut Emitter, k: u32, equal: Label, above: Label, below: Label) -> Label {
    match k {
        u32::MAX => e.jump(BPF_JEQ, k, equal, below),
        0 => e.jump(BPF_JGT, k, above, equal),
        _ => {
            let eq = e.jump(BPF_JEQ, k, equal, below);
            e.jump(BPF_JGT, k, above, eq)
        }
    }
}
