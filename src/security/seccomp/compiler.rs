//! OCI seccomp profile -> classic BPF.
//!
//! Program layout (forward order):
//!
//! ```text
//! A = arch
//! if A == AUDIT_ARCH_X86_64 goto x86_64_section
//! if A == AUDIT_ARCH_I386   goto i386_section
//! return bad-arch action (KILL_THREAD, libseccomp's default, which runc keeps)
//! x86_64_section:
//!   A = nr
//!   if A >= X32_SYSCALL_BIT goto x32_part (or bad-arch when x32 is not listed)
//!   x86_64_part: [if A > max listed nr: return ERRNO(ENOSYS)]  (runc's -ENOSYS stub)
//!                binary search over the syscall numbers -> per-syscall body
//!                return default action
//!   x32_part:    same, with x32 numbers (which carry the x32 bit)
//! i386_section, aarch64_section: A = nr, then as above
//! ```
//!
//! A per-syscall body tries the rules for that syscall in profile order; the
//! first whose conditions all hold returns its action, otherwise the default
//! action. As in libseccomp, a rule without conditions overrides every
//! conditional rule for the same syscall.

use std::collections::BTreeMap;

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use super::SeccompError;
use super::emit::{BPF_JEQ, BPF_JGE, BPF_JGT, Emitter, Label};
use super::tables;

/// BPF_MAXINSNS from linux/bpf_common.h.
pub const BPF_MAXINSNS: usize = 4096;

pub(super) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub(super) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub(super) const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets in `struct seccomp_data`.
pub(super) const OFF_NR: u32 = 0;
pub(super) const OFF_ARCH: u32 = 4;
pub(super) const OFF_ARGS: u32 = 16;

/// Highest syscall argument index.
const MAX_ARG_INDEX: usize = 5;

/// An ABI rt has a syscall table for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Abi {
    X86_64,
    X32,
    I386,
    Aarch64,
}

impl Abi {
    fn native() -> Option<Abi> {
        if cfg!(target_arch = "x86_64") {
            Some(Abi::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Abi::Aarch64)
        } else {
            None
        }
    }

    fn from_oci(arch: Arch) -> Option<Abi> {
        match arch {
            Arch::ScmpArchNative => Abi::native(),
            Arch::ScmpArchX86_64 => Some(Abi::X86_64),
            Arch::ScmpArchX86 => Some(Abi::I386),
            Arch::ScmpArchX32 => Some(Abi::X32),
            Arch::ScmpArchAarch64 => Some(Abi::Aarch64),
            _ => None,
        }
    }

    fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::I386 => AUDIT_ARCH_I386,
            Abi::Aarch64 => AUDIT_ARCH_AARCH64,
        }
    }

    /// 32-bit ABIs only have 32-bit syscall arguments: compare the low half only,
    /// as libseccomp does.
    fn args_are_32bit(self) -> bool {
        matches!(self, Abi::I386)
    }

    fn lookup(self, name: &str) -> Option<u32> {
        let table = match self {
            Abi::X86_64 => tables::X86_64,
            Abi::X32 => tables::X32,
            Abi::I386 => tables::I386,
            Abi::Aarch64 => tables::AARCH64,
        };
        let nr = table
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| table[i].1)?;
        Some(if self == Abi::X32 {
            nr | X32_SYSCALL_BIT
        } else {
            nr
        })
    }
}

/// One argument comparison, already validated.
#[derive(Clone, Debug)]
struct Cond {
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

/// One rule: all conditions must hold (AND).
#[derive(Clone, Debug)]
struct Rule {
    action: u32,
    conds: Vec<Cond>,
}

/// A profile entry resolved except for syscall numbers.
struct Entry<'a> {
    names: Vec<&'a str>,
    /// Alternatives (OR), each an AND of conditions.
    rules: Vec<Rule>,
}

pub(super) struct Compiled {
    pub program: Vec<libc::sock_filter>,
    pub uses_notify: bool,
}

fn errno_data(errno: Option<u32>, path: &str) -> Result<u32, SeccompError> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    if errno > libc::SECCOMP_RET_DATA {
        return Err(SeccompError::Invalid(format!(
            "{path}: {errno} does not fit in the 16-bit SECCOMP_RET_DATA"
        )));
    }
    Ok(errno)
}

/// The SECCOMP_RET_* value of an action. The errno (or trace data) applies to
/// ERRNO and TRACE only and defaults to EPERM, as in runc; for other actions
/// runc ignores it, and so does rt.
pub(super) fn action_value(
    action: LinuxSeccompAction,
    errno: Option<u32>,
    errno_path: &str,
) -> Result<u32, SeccompError> {
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            libc::SECCOMP_RET_KILL_THREAD
        }
        LinuxSeccompAction::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => {
            libc::SECCOMP_RET_ERRNO | errno_data(errno, errno_path)?
        }
        LinuxSeccompAction::ScmpActTrace => {
            libc::SECCOMP_RET_TRACE | errno_data(errno, errno_path)?
        }
        LinuxSeccompAction::ScmpActLog => libc::SECCOMP_RET_LOG,
        LinuxSeccompAction::ScmpActNotify => libc::SECCOMP_RET_USER_NOTIF,
        LinuxSeccompAction::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
    })
}

/// Actions after which runc does not add its -ENOSYS stub (permissive defaults).
fn is_allow_like(action: LinuxSeccompAction) -> bool {
    matches!(
        action,
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
    )
}

/// The ABIs the filter covers: the native one always (libseccomp adds it),
/// then the listed ones rt has tables for. Listed ABIs without a table are left
/// out, so they get the bad-arch action (kill), which fails closed.
fn abis(seccomp: &LinuxSeccomp) -> Result<Vec<Abi>, SeccompError> {
    let native = Abi::native().ok_or_else(|| {
        SeccompError::Unsupported(
            "seccomp: rt has no syscall table for this host architecture".into(),
        )
    })?;
    let mut abis = vec![native];
    for arch in seccomp.architectures().iter().flatten() {
        if let Some(abi) = Abi::from_oci(*arch)
            && !abis.contains(&abi)
        {
            abis.push(abi);
        }
    }
    abis.sort();
    Ok(abis)
}

fn parse_entries(
    seccomp: &LinuxSeccomp,
    default_ret: u32,
) -> Result<(Vec<Entry<'_>>, bool), SeccompError> {
    let mut entries = Vec::new();
    let mut uses_notify = false;
    for (i, sc) in seccomp.syscalls().iter().flatten().enumerate() {
        let path = format!("linux.seccomp.syscalls[{i}]");
        for (j, name) in sc.names().iter().enumerate() {
            if name.is_empty() {
                return Err(SeccompError::Invalid(format!(
                    "{path}.names[{j}]: empty syscall name"
                )));
            }
            if sc.action() == LinuxSeccompAction::ScmpActNotify && name == "write" {
                // runc: the init process must still be able to write after the
                // filter is loaded, before the agent has the listener.
                return Err(SeccompError::Invalid(format!(
                    "{path}.names[{j}]: SCMP_ACT_NOTIFY cannot be used for the write syscall"
                )));
            }
        }
        let action = action_value(sc.action(), sc.errno_ret(), &format!("{path}.errnoRet"))?;
        let mut conds = Vec::new();
        let mut per_index = [0usize; MAX_ARG_INDEX + 1];
        for (j, arg) in sc.args().iter().flatten().enumerate() {
            let index = arg.index();
            if index > MAX_ARG_INDEX {
                return Err(SeccompError::Invalid(format!(
                    "{path}.args[{j}].index: {index} is out of range (syscalls have arguments 0 to {MAX_ARG_INDEX})"
                )));
            }
            per_index[index] += 1;
            conds.push(Cond {
                index,
                op: arg.op(),
                value: arg.value(),
                // valueTwo is OPTIONAL: Docker's and containerd's default profiles omit it
                // when it is 0 (Go's omitempty), and runc reads a missing one as 0.
                value_two: arg.value_two().unwrap_or(0),
            });
        }
        if action == default_ret {
            // runc skips rules that repeat the default action.
            continue;
        }
        if sc.action() == LinuxSeccompAction::ScmpActNotify {
            uses_notify = true;
        }
        // runc: when an argument index appears more than once, each condition
        // becomes a rule of its own (OR); otherwise all must hold (AND).
        let rules = if per_index.iter().any(|&n| n > 1) {
            conds
                .into_iter()
                .map(|c| Rule {
                    action,
                    conds: vec![c],
                })
                .collect()
        } else {
            vec![Rule { action, conds }]
        };
        entries.push(Entry {
            names: sc.names().iter().map(String::as_str).collect(),
            rules,
        });
    }
    Ok((entries, uses_notify))
}

/// Rules per syscall number for one ABI, and the highest number the profile names.
fn rules_for(
    abi: Abi,
    entries: &[Entry<'_>],
    seccomp: &LinuxSeccomp,
) -> (BTreeMap<u32, Vec<Rule>>, Option<u32>) {
    let mut map: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    for entry in entries {
        for name in &entry.names {
            // Names the table lacks are skipped, as runc does.
            if let Some(nr) = abi.lookup(name) {
                map.entry(nr)
                    .or_default()
                    .extend(entry.rules.iter().cloned());
            }
        }
    }
    // runc computes the -ENOSYS threshold over every entry of the profile,
    // including those skipped for repeating the default action.
    let max = seccomp
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|sc| sc.names().iter())
        .filter_map(|name| abi.lookup(name))
        .max();
    (map, max)
}

struct Gen {
    e: Emitter,
    default_ret: u32,
    enosys_stub: bool,
}

impl Gen {
    /// Word offsets of the low and high halves of argument `index`.
    fn arg_offsets(index: usize) -> (u32, u32) {
        let base = OFF_ARGS + 8 * index as u32;
        if cfg!(target_endian = "little") {
            (base, base + 4)
        } else {
            (base + 4, base)
        }
    }

    /// `(hi == vhi && lo == vlo)` -> m, else f.
    fn eq(&mut self, c: &Cond, v: u64, m: Label, f: Label, only_lo: bool) -> Label {
        let (lo_off, hi_off) = Self::arg_offsets(c.index);
        self.e.cond(BPF_JEQ, v as u32, m, f);
        let lo = self.e.load(lo_off);
        if only_lo {
            return lo;
        }
        self.e.cond(BPF_JEQ, (v >> 32) as u32, lo, f);
        self.e.load(hi_off)
    }

    /// `arg <op> v` for op JGT or JGE, unsigned 64-bit -> m, else f.
    fn greater(&mut self, c: &Cond, op: u16, m: Label, f: Label, only_lo: bool) -> Label {
        let (lo_off, hi_off) = Self::arg_offsets(c.index);
        self.e.cond(op, c.value as u32, m, f);
        let lo = self.e.load(lo_off);
        if only_lo {
            return lo;
        }
        let vhi = (c.value >> 32) as u32;
        let hi_eq = self.e.cond(BPF_JEQ, vhi, lo, f);
        self.e.cond(BPF_JGT, vhi, m, hi_eq);
        self.e.load(hi_off)
    }

    /// `(arg & mask) == datum` -> m, else f.
    fn masked_eq(&mut self, c: &Cond, m: Label, f: Label, only_lo: bool) -> Label {
        let (lo_off, hi_off) = Self::arg_offsets(c.index);
        let (mask, datum) = (c.value, c.value_two);
        self.e.cond(BPF_JEQ, datum as u32, m, f);
        self.e.and(mask as u32);
        let lo = self.e.load(lo_off);
        if only_lo {
            return lo;
        }
        self.e.cond(BPF_JEQ, (datum >> 32) as u32, lo, f);
        self.e.and((mask >> 32) as u32);
        self.e.load(hi_off)
    }

    fn condition(&mut self, c: &Cond, m: Label, f: Label, only_lo: bool) -> Label {
        match c.op {
            LinuxSeccompOperator::ScmpCmpEq => self.eq(c, c.value, m, f, only_lo),
            LinuxSeccompOperator::ScmpCmpNe => self.eq(c, c.value, f, m, only_lo),
            LinuxSeccompOperator::ScmpCmpGt => self.greater(c, BPF_JGT, m, f, only_lo),
            LinuxSeccompOperator::ScmpCmpGe => self.greater(c, BPF_JGE, m, f, only_lo),
            LinuxSeccompOperator::ScmpCmpLt => self.greater(c, BPF_JGE, f, m, only_lo),
            LinuxSeccompOperator::ScmpCmpLe => self.greater(c, BPF_JGT, f, m, only_lo),
            LinuxSeccompOperator::ScmpCmpMaskedEq => self.masked_eq(c, m, f, only_lo),
        }
    }

    /// Code deciding one syscall; falls back to `default`.
    fn body(&mut self, rules: &[Rule], default: Label, only_lo: bool) -> Label {
        if let Some(r) = rules.iter().find(|r| r.conds.is_empty()) {
            return self.e.ret(r.action);
        }
        let mut next = default;
        for rule in rules.iter().rev() {
            let fail = next;
            let mut m = self.e.ret(rule.action);
            for c in rule.conds.iter().rev() {
                m = self.condition(c, m, fail, only_lo);
            }
            next = m;
        }
        next
    }

    /// Binary search over sorted syscall numbers (A holds nr); `miss` when none matches.
    fn tree(&mut self, items: &[(u32, Label)], miss: Label) -> Label {
        const LEAF: usize = 4;
        if items.len() <= LEAF {
            let mut next = miss;
            for &(nr, target) in items.iter().rev() {
                next = self.e.cond(BPF_JEQ, nr, target, next);
            }
            return next;
        }
        let mid = items.len() / 2;
        let right = self.tree(&items[mid..], miss);
        let left = self.tree(&items[..mid], miss);
        self.e.cond(BPF_JGE, items[mid].0, right, left)
    }

    /// One ABI's decision code, entered with A = nr.
    fn abi_part(&mut self, abi: Abi, rules: &BTreeMap<u32, Vec<Rule>>, max: Option<u32>) -> Label {
        let only_lo = abi.args_are_32bit();
        let default = self.e.ret(self.default_ret);
        let mut items = Vec::with_capacity(rules.len());
        for (&nr, r) in rules.iter().rev() {
            let label = self.body(r, default, only_lo);
            items.push((nr, label));
        }
        items.reverse();
        let mut entry = self.tree(&items, default);
        if let (true, Some(max)) = (self.enosys_stub, max) {
            let enosys = self.e.ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
            entry = self.e.cond(BPF_JGT, max, enosys, entry);
        }
        entry
    }
}

pub(super) fn compile_program(seccomp: &LinuxSeccomp) -> Result<Compiled, SeccompError> {
    if seccomp.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::Invalid(
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action".into(),
        ));
    }
    let default_ret = action_value(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    let abis = abis(seccomp)?;
    let (entries, uses_notify) = parse_entries(seccomp, default_ret)?;

    let mut g = Gen {
        e: Emitter::new(),
        default_ret,
        enosys_stub: !is_allow_like(seccomp.default_action()),
    };

    // Sections, one per audit arch, emitted last-first.
    let mut audits: Vec<u32> = abis.iter().map(|a| a.audit_arch()).collect();
    audits.dedup();
    let mut sections = Vec::new();
    for &audit in audits.iter().rev() {
        let label = if audit == AUDIT_ARCH_X86_64 {
            let bad = g.e.ret(libc::SECCOMP_RET_KILL_THREAD);
            let x32 = if abis.contains(&Abi::X32) {
                let (rules, max) = rules_for(Abi::X32, &entries, seccomp);
                g.abi_part(Abi::X32, &rules, max)
            } else {
                bad
            };
            let x64 = if abis.contains(&Abi::X86_64) {
                let (rules, max) = rules_for(Abi::X86_64, &entries, seccomp);
                g.abi_part(Abi::X86_64, &rules, max)
            } else {
                g.e.ret(libc::SECCOMP_RET_KILL_THREAD)
            };
            g.e.cond(BPF_JGE, X32_SYSCALL_BIT, x32, x64);
            g.e.load(OFF_NR)
        } else {
            let abi = abis
                .iter()
                .copied()
                .find(|a| a.audit_arch() == audit)
                .ok_or_else(|| SeccompError::Other("internal: audit arch without ABI".into()))?;
            let (rules, max) = rules_for(abi, &entries, seccomp);
            g.abi_part(abi, &rules, max);
            g.e.load(OFF_NR)
        };
        sections.push((audit, label));
    }
    let mut next = g.e.ret(libc::SECCOMP_RET_KILL_THREAD);
    for &(audit, label) in &sections {
        next = g.e.cond(BPF_JEQ, audit, label, next);
    }
    g.e.load(OFF_ARCH);

    if g.e.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLarge(g.e.len()));
    }
    Ok(Compiled {
        program: g.e.finish(),
        uses_notify,
    })
}

/// Syscall number by ABI name ("x86_64", "i386", "x32"), for tests.
#[cfg(test)]
pub(super) fn lookup_for_tests(abi: &str, name: &str) -> u32 {
    let abi = match abi {
        "x86_64" => Abi::X86_64,
        "i386" => Abi::I386,
        "aarch64" => Abi::Aarch64,
        _ => Abi::X32,
    };
    abi.lookup(name)
        .unwrap_or_else(|| panic!("no syscall {name} on {abi:?}"))
}
