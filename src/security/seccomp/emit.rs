//! A tiny classic-BPF assembler that builds a program back to front.
//!
//! Building backwards means every jump target already exists when the jump is
//! emitted, so offsets are known at once. Conditional jumps only reach 255
//! instructions ahead; farther targets go through an inserted `JA` trampoline
//! (whose offset is 32 bits).

use libc::sock_filter;

// Opcodes (linux/bpf_common.h).
pub(super) const BPF_LD: u16 = 0x00;
pub(super) const BPF_ALU: u16 = 0x04;
pub(super) const BPF_JMP: u16 = 0x05;
pub(super) const BPF_RET: u16 = 0x06;
pub(super) const BPF_W: u16 = 0x00;
pub(super) const BPF_ABS: u16 = 0x20;
pub(super) const BPF_AND: u16 = 0x50;
pub(super) const BPF_JA: u16 = 0x00;
pub(super) const BPF_JEQ: u16 = 0x10;
pub(super) const BPF_JGT: u16 = 0x20;
pub(super) const BPF_JGE: u16 = 0x30;
pub(super) const BPF_K: u16 = 0x00;

/// A position in the program, counted from its end (0 = last instruction).
pub(super) type Label = usize;

/// Longest distance a conditional jump can cover.
const MAX_COND_JUMP: usize = 255;

#[derive(Default)]
pub(super) struct Emitter {
    /// The program in reverse order.
    rev: Vec<sock_filter>,
    /// RET instructions already emitted, by return value, for sharing.
    rets: Vec<(u32, Label)>,
}

impl Emitter {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn len(&self) -> usize {
        self.rev.len()
    }

    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.rev.push(sock_filter { code, jt, jf, k });
        self.rev.len() - 1
    }

    /// `A = seccomp_data[offset]` (32-bit word).
    pub(super) fn load(&mut self, offset: u32) -> Label {
        self.push(BPF_LD | BPF_W | BPF_ABS, 0, 0, offset)
    }

    /// `A &= k`.
    pub(super) fn and(&mut self, k: u32) -> Label {
        self.push(BPF_ALU | BPF_AND | BPF_K, 0, 0, k)
    }

    /// `return k`, shared with an earlier identical return when that one is near.
    pub(super) fn ret(&mut self, k: u32) -> Label {
        if let Some(&(_, label)) = self.rets.iter().rev().find(|(v, _)| *v == k) {
            // Close enough that most jumps to it need no trampoline.
            if self.rev.len() - label < MAX_COND_JUMP / 2 {
                return label;
            }
        }
        let label = self.push(BPF_RET | BPF_K, 0, 0, k);
        self.rets.retain(|(v, _)| *v != k);
        self.rets.push((k, label));
        label
    }

    /// Make `target` reachable by a conditional jump placed at most one
    /// instruction further back than now (a second trampoline may follow).
    fn reach(&mut self, target: Label) -> Label {
        if self.rev.len() - target > MAX_COND_JUMP {
            let off = self.rev.len() - target - 1;
            self.push(BPF_JMP | BPF_JA, 0, 0, off as u32)
        } else {
            target
        }
    }

    /// Conditional jump: `if A <op> k goto jt else goto jf`.
    pub(super) fn cond(&mut self, op: u16, k: u32, jt: Label, jf: Label) -> Label {
        let jt = self.reach(jt);
        let jf = self.reach(jf);
        let pos = self.rev.len();
        // `reach` guarantees both offsets fit in a u8.
        let off_t = (pos - jt - 1) as u8;
        let off_f = (pos - jf - 1) as u8;
        self.push(BPF_JMP | op | BPF_K, off_t, off_f, k)
    }

    pub(super) fn finish(self) -> Vec<sock_filter> {
        let mut prog = self.rev;
        prog.reverse();
        prog
    }
}
