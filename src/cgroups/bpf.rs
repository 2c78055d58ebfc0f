//! cgroup v2 device control: a BPF_PROG_TYPE_CGROUP_DEVICE program built
//! from the OCI device rules, attached with BPF_CGROUP_DEVICE and
//! BPF_F_ALLOW_MULTI, replacing programs previously attached to the cgroup.
//!
//! Rule semantics follow the v1 devices controller as runc emulates it: the
//! last rule that matches an access decides; a rule matches when type,
//! major and minor match (`a` / wildcard match anything) and the requested
//! access is a subset of the rule's access.  Rules before the last
//! "all devices, rwm" rule are overridden by it, and with no such rule the
//! default is to deny (rt always starts from "deny all", as runc does).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

pub(super) const DEV_BLOCK: i32 = 1;
pub(super) const DEV_CHAR: i32 = 2;
pub(super) const ACC_MKNOD: i32 = 1;
pub(super) const ACC_READ: i32 = 2;
pub(super) const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst in the low nibble, src in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

// Opcodes.
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_JNE_X: u8 = 0x5d;
const JMP_EXIT: u8 = 0x95;

/// A rule in the program's terms: type (None = any), major/minor (None =
/// any), access bits, allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rule {
    pub typ: Option<i32>,
    pub major: Option<i32>,
    pub minor: Option<i32>,
    pub access: i32,
    pub allow: bool,
}

fn access_bits(s: &str) -> i32 {
    let mut a = 0;
    for c in s.chars() {
        a |= match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        };
    }
    if a == 0 { ACC_ALL } else { a }
}

fn num(v: Option<i64>) -> Option<i32> {
    v.filter(|n| *n >= 0).and_then(|n| i32::try_from(n).ok())
}

/// The rules to enforce (the config's and runc's defaults: [`super::with_default_rules`]).
/// FIFO rules are dropped (the device controller does not see FIFOs).
pub(super) fn rules(spec: &[LinuxDeviceCgroup]) -> Vec<Rule> {
    let mut out = Vec::new();
    for d in spec {
        let typ = match d.typ().unwrap_or_default() {
            LinuxDeviceType::A => None,
            LinuxDeviceType::B => Some(DEV_BLOCK),
            LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
            LinuxDeviceType::P => continue,
        };
        out.push(Rule {
            typ,
            major: num(d.major()),
            minor: num(d.minor()),
            access: access_bits(d.access().as_deref().unwrap_or("")),
            allow: d.allow(),
        });
    }
    out
}

/// The program for `spec` rules (plus the default rules).
pub fn program(spec: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let rules = rules(spec);
    // The last "everything" rule sets the default and hides earlier ones.
    let is_all =
        |r: &Rule| r.typ.is_none() && r.major.is_none() && r.minor.is_none() && r.access == ACC_ALL;
    let (default_allow, start) = match rules.iter().rposition(is_all) {
        Some(i) => (rules[i].allow, i + 1),
        None => (false, 0),
    };
    let mut p = vec![
        // r2 = type, r3 = access, r4 = major, r5 = minor
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    // Last rule first: the first block that matches decides.
    for r in rules[start..].iter().rev() {
        let mut block: Vec<(Insn, bool)> = Vec::new(); // (insn, jumps to next block)
        if let Some(t) = r.typ {
            block.push((insn(JMP_JNE_K, 2, 0, 0, t), true));
        }
        if r.access != ACC_ALL {
            block.push((insn(ALU32_MOV_X, 1, 3, 0, 0), false));
            block.push((insn(ALU32_AND_K, 1, 0, 0, r.access), false));
            block.push((insn(JMP_JNE_X, 1, 3, 0, 0), true));
        }
        if let Some(m) = r.major {
            block.push((insn(JMP_JNE_K, 4, 0, 0, m), true));
        }
        if let Some(m) = r.minor {
            block.push((insn(JMP_JNE_K, 5, 0, 0, m), true));
        }
        block.push((insn(ALU64_MOV_K, 0, 0, 0, i32::from(r.allow)), false));
        block.push((insn(JMP_EXIT, 0, 0, 0, 0), false));
        let n = block.len();
        for (i, (mut ins, jumps)) in block.into_iter().enumerate() {
            if jumps {
                // Target: the first instruction after this block.
                ins.off = (n - i - 1) as i16;
            }
            p.push(ins);
        }
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(default_allow)));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _pad: [u64; 8],
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: [u32; 11],
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: [u32; 11],
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: [u32; 13],
}

/// bpf(2).  Returns the syscall's non-negative result or the errno.
///
/// # Safety
/// `attr` must be the bpf_attr layout that `cmd` expects, and every pointer
/// stored in it must be valid for the kernel to read (or write) for the
/// duration of the call.
unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: per this function's contract `attr` is a valid bpf_attr for
    // `cmd` of size_of::<T>() bytes; the kernel reads at most that many bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(insns: &[Insn]) -> std::io::Result<OwnedFd> {
    let license = b"Apache\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        ..Default::default()
    };
    let name = b"rt_devices";
    attr.prog_name[..name.len()].copy_from_slice(name);
    // SAFETY: `attr` is a zero-padded BPF_PROG_LOAD attr; `insns` (a
    // slice of repr(C)-compatible 8-byte instructions) and `license` (a
    // NUL-terminated static string) outlive the call.
    let res = unsafe { sys_bpf(BPF_PROG_LOAD, &mut attr) };
    let fd = match res {
        Ok(fd) => fd,
        Err(e) => {
            // Retry with the verifier log to explain the failure.
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            // SAFETY: as above; `log` is a writable buffer of log_size bytes
            // that outlives the call.
            let _ = unsafe { sys_bpf(BPF_PROG_LOAD, &mut attr) };
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let msg = String::from_utf8_lossy(&log[..end]).trim().to_string();
            return Err(std::io::Error::new(
                e.kind(),
                format!("loading the device program: {e}: {msg}"),
            ));
        }
    };
    // SAFETY: BPF_PROG_LOAD returned a new file descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Ids of the device programs attached to the cgroup.
fn query(cgroup: &OwnedFd) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    // SAFETY: a BPF_PROG_QUERY attr whose prog_ids points at `ids`, a
    // writable array of prog_cnt u32s that outlives the call.
    unsafe { sys_bpf(BPF_PROG_QUERY, &mut attr) }?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

fn fd_by_id(id: u32) -> std::io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    // SAFETY: a BPF_PROG_GET_FD_BY_ID attr with no pointers.
    let fd = unsafe { sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?;
    // SAFETY: the syscall returned a new file descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn attach_cmd(
    cmd: libc::c_long,
    cgroup: &OwnedFd,
    prog: &OwnedFd,
    flags: u32,
) -> std::io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        ..Default::default()
    };
    // SAFETY: a BPF_PROG_ATTACH/DETACH attr with no pointers; both fds are
    // open for the duration of the call.
    unsafe { sys_bpf(cmd, &mut attr) }?;
    Ok(())
}

/// Build the program for `spec`, attach it to the cgroup open as `cgroup`
/// (an O_RDONLY directory fd), then detach the device programs that were
/// attached before.  The attachment keeps the program alive after return.
pub fn apply(cgroup: &OwnedFd, spec: &[LinuxDeviceCgroup]) -> std::io::Result<()> {
    let old = query(cgroup).unwrap_or_default();
    let prog = load(&program(spec))?;
    attach_cmd(BPF_PROG_ATTACH, cgroup, &prog, BPF_F_ALLOW_MULTI)?;
    for id in old {
        if let Ok(fd) = fd_by_id(id) {
            attach_cmd(BPF_PROG_DETACH, cgroup, &fd, 0)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    /// Run the program on (type, major, minor, access) with a tiny interpreter
    /// of the instructions `program` emits.
    fn run(p: &[Insn], typ: i32, major: i32, minor: i32, access: i32) -> i64 {
        let ctx = [((access << 16) | typ) as u32, major as u32, minor as u32];
        let mut r = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = ctx[(i.off / 4) as usize] as i64,
                ALU32_AND_K => r[dst] = ((r[dst] as u32) & (i.imm as u32)) as i64,
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as i64,
                ALU32_MOV_X => r[dst] = (r[src] as u32) as i64,
                ALU64_MOV_K => r[dst] = i.imm as i64,
                JMP_JNE_K => {
                    if r[dst] != i.imm as i64 {
                        pc += i.off as usize
                    }
                }
                JMP_JNE_X => {
                    if r[dst] != r[src] {
                        pc += i.off as usize
                    }
                }
                JMP_EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        t: LinuxDeviceType,
        ma: Option<i64>,
        mi: Option<i64>,
        a: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(t)
            .access(a);
        if let Some(m) = ma {
            b = b.major(m);
        }
        if let Some(m) = mi {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn deny_all_then_defaults() {
        let p = program(&super::super::with_default_rules(
            &[rule(false, LinuxDeviceType::A, None, None, "rwm")],
            &[],
        ));
        // /dev/null rw allowed, /dev/sda denied, mknod of any block allowed.
        assert_eq!(run(&p, DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE), 1);
        assert_eq!(run(&p, DEV_BLOCK, 8, 0, ACC_READ), 0);
        assert_eq!(run(&p, DEV_BLOCK, 8, 0, ACC_MKNOD), 1);
        assert_eq!(run(&p, DEV_CHAR, 136, 7, ACC_READ), 1);
        assert_eq!(run(&p, DEV_CHAR, 4, 1, ACC_READ), 0);
    }

    #[test]
    fn last_rule_wins_and_access_subset() {
        let p = program(&[
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::B, Some(8), None, "r"),
            rule(false, LinuxDeviceType::B, Some(8), Some(1), "rwm"),
        ]);
        assert_eq!(run(&p, DEV_BLOCK, 8, 0, ACC_READ), 1);
        assert_eq!(run(&p, DEV_BLOCK, 8, 0, ACC_WRITE), 0);
        assert_eq!(run(&p, DEV_BLOCK, 8, 1, ACC_READ), 0);
    }

    #[test]
    fn allow_all_default() {
        let p = program(&[rule(true, LinuxDeviceType::A, None, None, "rwm")]);
        assert_eq!(run(&p, DEV_BLOCK, 8, 0, ACC_WRITE), 1);
        assert_eq!(run(&p, DEV_CHAR, 4, 1, ACC_READ), 1);
    }
}
