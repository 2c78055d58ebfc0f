//! CVE-2019-5736: a container must never reach rt's executable through /proc/<pid>/exe of an rt
//! process (the runtime, or init before its execve) and write to it.
//!
//! rt marks itself non-dumpable as its first action. A non-dumpable process's /proc/<pid>
//! entries belong to root and `ptrace_may_access` refuses `exe`, `fd`, `mem`, ... to anyone
//! without CAP_SYS_PTRACE, even the same uid. init inherits the flag through clone3 and keeps it
//! until its execve of the container process resets it (execve of a regular binary makes the
//! new image dumpable again), so there is no window in which a container process can open rt's
//! binary. A container granted CAP_SYS_PTRACE in the host user namespace is not protected by
//! this alone: rt does not (yet) re-exec from a sealed memfd copy as runc 1.1 did.

/// PR_SET_DUMPABLE 0 for this process (and what it clones).
pub fn set_non_dumpable() -> nix::Result<()> {
    // SAFETY: prctl(PR_SET_DUMPABLE) takes integer arguments only and touches no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if r != 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// Whether this process is dumpable (PR_GET_DUMPABLE).
pub fn is_dumpable() -> bool {
    // SAFETY: PR_GET_DUMPABLE takes no pointer arguments.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn non_dumpable_sticks_in_a_child() {
        // Run in a forked child so the test process keeps its own flag.
        // SAFETY: the child only makes async-signal-safe calls (prctl, _exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let ok = super::set_non_dumpable().is_ok() && !super::is_dumpable();
            // SAFETY: leave the forked child without running the test harness's handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        let mut st = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0);
    }
}
