//! clone3 without a new stack: fork semantics (the child continues on a copy of our stack), plus
//! namespace flags and CLONE_INTO_CGROUP so the child is born in its namespaces and cgroup. Sound
//! only because rt is single-threaded until here, as fork is.

use std::os::fd::RawFd;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The result of a clone: `pid` is 0 in the child; `in_cgroup` says whether the kernel placed the
/// child in the requested cgroup (else the parent must move it).
pub struct Cloned {
    pub pid: i32,
    pub in_cgroup: bool,
}

pub fn clone3(flags: libc::c_int, cgroup_fd: Option<RawFd>) -> Result<Cloned, nix::Error> {
    match raw_clone3(flags, cgroup_fd) {
        Ok(pid) => Ok(Cloned {
            pid,
            in_cgroup: cgroup_fd.is_some(),
        }),
        // A kernel or cgroup that refuses CLONE_INTO_CGROUP: clone plainly, the parent places.
        Err(nix::Error::EINVAL | nix::Error::EOPNOTSUPP | nix::Error::E2BIG)
            if cgroup_fd.is_some() =>
        {
            clone3(flags, None)
        }
        // Kernels before 5.3 lack clone3; the classic clone with a null stack is fork with flags.
        Err(nix::Error::ENOSYS) => {
            let sig = if flags & libc::CLONE_PARENT != 0 {
                0
            } else {
                libc::SIGCHLD
            };
            // SAFETY: as in raw_clone3: fork semantics in a single-threaded process.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (flags | sig) as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            if rc < 0 {
                return Err(nix::Error::last());
            }
            Ok(Cloned {
                pid: rc as i32,
                in_cgroup: false,
            })
        }
        Err(e) => Err(e),
    }
}

fn raw_clone3(flags: libc::c_int, cgroup_fd: Option<RawFd>) -> Result<i32, nix::Error> {
    let mut args = CloneArgs {
        flags: flags as u32 as u64,
        // With CLONE_PARENT the kernel takes the exit signal from our parent's settings.
        exit_signal: if flags & libc::CLONE_PARENT != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 with stack = 0 behaves like fork: the child gets a private copy of this
    // (single-threaded) address space, so no lock or buffer can be held by a missing thread.
    // `args` outlives the call and its size is passed exactly.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if rc < 0 {
        return Err(nix::Error::last());
    }
    Ok(rc as i32)
}
