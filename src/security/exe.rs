//! CVE-2019-5736: a container must never reach rt's executable through /proc/<pid>/exe of an rt
//! process (the runtime, or init before its execve) and write to it.
//!
//! Two layers:
//!
//! 1. rt marks itself non-dumpable as its first action. A non-dumpable process's /proc/<pid>
//!    entries belong to root and `ptrace_may_access` refuses `exe`, `fd`, `mem`, ... to anyone
//!    without CAP_SYS_PTRACE, even the same uid. init inherits the flag through clone3 and keeps
//!    it until its execve of the container process.
//! 2. That is not enough: a container holding CAP_SYS_PTRACE passes `ptrace_may_access` anyway,
//!    and a container whose entry point is `#!/proc/self/exe` makes init execute rt's own binary
//!    as a fresh, dumpable container process (the original exploit). So `create`, `run` and
//!    `exec` (the verbs whose processes a container can see) re-exec once from a sealed view of
//!    the binary, [`reexec_sealed`]: a private, detached, read-only overlayfs whose only layer
//!    with content is the binary's directory (runc 1.2's `exeseal`). /proc/<pid>/exe of every rt
//!    process a container can reach, and the interpreter `#!/proc/self/exe` resolves to, is then
//!    a file on a read-only superblock: opening it for writing fails with EROFS, and unlike a
//!    read-only bind mount there is no mount flag to flip back. No byte of the binary is copied
//!    (runc's old memfd clone costs a copy per container), the page cache is shared, the mount
//!    is in no mount namespace (nothing to clean up, no mount events for systemd), and it goes
//!    away with the last rt process holding it. `state`, `kill`, `delete`, ... never re-exec.
//!    Cost, measured with contrib/bench on the 2-core test VM: ~1.7 ms of CPU per
//!    create/run/exec (one more execve and start of the static rt, and the two superblocks);
//!    nothing when the binary already lies on a read-only mount.
//!
//! What remains: between rt's own start and its re-exec (well under a millisecond) its exe is the
//! host path; a container can only reach it then with CAP_SYS_PTRACE in the host user namespace
//! and the host pid namespace, which already allows ptrace-attaching to any host process. The
//! overlay maps the binary's pages from the underlying file, so /proc/<pid>/map_files still names
//! it; map_files needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE in the host user namespace.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

#[derive(Debug, thiserror::Error)]
pub enum ExeError {
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::Error,
    },
    #[error("/proc/self/exe: {0:?} is not a usable path")]
    Path(OsString),
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> ExeError {
    move |source| ExeError::Sys { what, source }
}

// From <linux/mount.h>; the libc crate does not carry the new mount API constants.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

/// Whether /proc/self/exe lies on a read-only mount or superblock: after [`reexec_sealed`], or
/// when rt is installed on a read-only filesystem. Either way a write through it fails with EROFS.
pub fn exe_is_read_only() -> bool {
    nix::sys::statvfs::statvfs("/proc/self/exe")
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

fn check(r: libc::c_long, what: &'static str) -> Result<libc::c_long, ExeError> {
    if r < 0 {
        Err(ExeError::Sys {
            what,
            source: nix::Error::last(),
        })
    } else {
        Ok(r)
    }
}

/// fsopen + fsconfig(key=value, ...) + fsconfig(CREATE) + fsmount: a mount of a new superblock
/// attached nowhere, as an fd (O_CLOEXEC).
fn detached_mount(
    fstype: &'static str,
    opts: &[(&str, &[u8])],
    attrs: libc::c_uint,
) -> Result<OwnedFd, ExeError> {
    let name = CString::new(fstype).map_err(|_| ExeError::Path(fstype.into()))?;
    // SAFETY: fsopen reads the NUL-terminated name and returns a new fd we then own.
    let ctx = check(
        unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) },
        "fsopen",
    )?;
    // SAFETY: ctx is a fresh fd returned by fsopen, owned by nobody else.
    let ctx = unsafe { OwnedFd::from_raw_fd(ctx as i32) };
    for (k, v) in opts {
        let k = CString::new(*k).map_err(|_| ExeError::Path((*k).into()))?;
        let v = CString::new(*v).map_err(|_| ExeError::Path(OsStr::from_bytes(v).into()))?;
        // SAFETY: both strings are NUL-terminated and outlive the call; aux is unused (0).
        check(
            unsafe {
                libc::syscall(
                    libc::SYS_fsconfig,
                    ctx.as_raw_fd(),
                    FSCONFIG_SET_STRING,
                    k.as_ptr(),
                    v.as_ptr(),
                    0,
                )
            },
            "fsconfig",
        )?;
    }
    // SAFETY: CMD_CREATE takes no key or value pointers.
    check(
        unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        },
        "fsconfig create",
    )?;
    // SAFETY: fsmount takes integer arguments and returns a new fd we then own.
    let m = check(
        unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) },
        "fsmount",
    )?;
    // SAFETY: m is a fresh fd returned by fsmount.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

/// Escape an overlayfs lowerdir entry: `:` separates layers and `\` escapes.
fn escape_lowerdir(p: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(p.len());
    for &b in p {
        if b == b':' || b == b'\\' {
            v.push(b'\\');
        }
        v.push(b);
    }
    v
}

/// Re-exec rt (same pid, argv and environment) from a read-only overlayfs view of its binary,
/// unless /proc/self/exe is already read-only. Returns only on failure (or when already
/// sealed); the caller then runs unprotected by this layer and says so.
pub fn reexec_sealed() -> Result<(), ExeError> {
    if exe_is_read_only() {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe").map_err(|e| ExeError::Sys {
        what: "readlink /proc/self/exe",
        source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)),
    })?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(ExeError::Path(exe.into_os_string()));
    };
    if !exe.is_absolute() || exe.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Err(ExeError::Path(exe.into_os_string()));
    }
    // overlayfs without an upper layer needs two lower layers. The second one is an empty
    // read-only tmpfs that is itself mounted nowhere (named through /proc/self/fd), so no host
    // directory can overlap the binary's or shadow it; the binary's directory is on top anyway.
    let empty = detached_mount("tmpfs", &[], MOUNT_ATTR_RDONLY)?;
    let mut lower = escape_lowerdir(dir.as_os_str().as_bytes());
    lower.extend_from_slice(format!(":/proc/self/fd/{}", empty.as_raw_fd()).as_bytes());
    // xino=off: nothing here needs unique inode numbers, and auto xino logs to dmesg.
    let ovl = detached_mount(
        "overlay",
        &[("lowerdir", &lower), ("xino", b"off")],
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )?;
    drop(empty);
    let cname = CString::new(name.as_bytes()).map_err(|_| ExeError::Path(name.into()))?;
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_vec()))
        .collect::<Result<_, _>>()
        .map_err(|_| ExeError::Path("argv".into()))?;
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()
        .map_err(|_| ExeError::Path("environment".into()))?;
    let mut argv_p: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv_p.push(std::ptr::null_mut());
    let mut envp_p: Vec<*mut libc::c_char> = envp.iter().map(|e| e.as_ptr().cast_mut()).collect();
    envp_p.push(std::ptr::null_mut());
    // Exec by name relative to the overlay's root (not AT_EMPTY_PATH on an fd) so the kernel
    // names the process after the binary (comm `rt`, as before), not after an fd number.
    // AT_SYMLINK_NOFOLLOW: readlink gave the final name, so a symlink there is not ours.
    // SAFETY: every pointer array is NULL-terminated and its strings outlive the call (libc
    // declares them *mut; the kernel only reads them); on success the call does not return.
    unsafe {
        libc::execveat(
            ovl.as_raw_fd(),
            cname.as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    Err(sys("execveat sealed exe")(nix::Error::last()))
}

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
    fn lowerdir_escapes_separators() {
        assert_eq!(super::escape_lowerdir(b"/usr/bin"), b"/usr/bin");
        assert_eq!(super::escape_lowerdir(b"/a:b\\c"), b"/a\\:b\\\\c");
    }

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
