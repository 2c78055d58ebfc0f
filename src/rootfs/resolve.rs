//! Paths inside the container's root are resolved by the kernel with openat2(RESOLVE_IN_ROOT),
//! never by joining strings, so a symlink in the rootfs (even one swapped in during create) can
//! never lead a mount or a mask out to the host (CVE-2021-30465 and kin). The result is an O_PATH
//! fd; mounts then target `/proc/self/fd/N`, which is the object itself, not a path re-walked.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// What to create when the last component is missing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Create {
    No,
    Dir,
    File,
}

fn openat2(dir: BorrowedFd, path: &Path, flags: i32, resolve: u64) -> nix::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| nix::Error::EINVAL)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    loop {
        // SAFETY: `c` and `how` live across the call and the size passed is exact; the returned
        // fd, if any, is new and owned by nobody else.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            // SAFETY: see above.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) });
        }
        match nix::Error::last() {
            nix::Error::EINTR | nix::Error::EAGAIN => continue,
            e => return Err(e),
        }
    }
}

/// `rel` made relative (leading `/` dropped, `.` removed).
pub fn relative(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect()
}

/// Open `path` inside `root` (an O_PATH fd), creating missing directories on the way and the
/// last component as asked. Every step is resolved inside root; a dangling symlink on the way is
/// followed inside root and its target created there, as runc's MkdirAllInRoot does.
pub fn open_in_root(root: BorrowedFd, path: &Path, create: Create) -> nix::Result<OwnedFd> {
    open_in_root_depth(root, &relative(path), create, 0)
}

const MAX_SYMLINKS: usize = 40;

fn open_in_root_depth(
    root: BorrowedFd,
    rel: &Path,
    create: Create,
    depth: usize,
) -> nix::Result<OwnedFd> {
    let resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    match openat2(root, rel, libc::O_PATH, resolve) {
        Err(nix::Error::ENOENT) if create != Create::No => {}
        r => return r,
    }
    if depth > MAX_SYMLINKS {
        return Err(nix::Error::ELOOP);
    }
    let comps: Vec<_> = rel.components().collect();
    let mut so_far = PathBuf::new();
    for (i, comp) in comps.iter().enumerate() {
        let parent_path = so_far.clone();
        so_far.push(comp);
        match openat2(root, &so_far, libc::O_PATH, resolve) {
            Ok(_) => continue,
            Err(nix::Error::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let last = i + 1 == comps.len();
        let name = CString::new(comp.as_os_str().as_bytes()).map_err(|_| nix::Error::EINVAL)?;
        let dirfd = openat2(
            root,
            if parent_path.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &parent_path
            },
            libc::O_RDONLY | libc::O_DIRECTORY,
            resolve,
        )?;
        // A dangling symlink: continue from its target, still inside root.
        if let Ok(target) = nix::fcntl::readlinkat(dirfd.as_fd(), name.as_c_str()) {
            let target = PathBuf::from(target);
            let mut next = if target.is_absolute() {
                relative(&target)
            } else {
                parent_path.join(target)
            };
            for rest in &comps[i + 1..] {
                next.push(rest);
            }
            return open_in_root_depth(root, &next, create, depth + 1);
        }
        let rc = if last && create == Create::File {
            // SAFETY: plain syscall on an fd we own and a NUL-terminated name.
            let fd = unsafe {
                libc::openat(
                    dirfd.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC
                        | libc::O_NOFOLLOW,
                    0o644,
                )
            };
            if fd >= 0 {
                // SAFETY: fd is a fresh descriptor we own.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                0
            } else {
                fd
            }
        } else {
            // SAFETY: plain syscall on an fd we own and a NUL-terminated name.
            unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), 0o755) }
        };
        if rc != 0 && nix::Error::last() != nix::Error::EEXIST {
            return Err(nix::Error::last());
        }
    }
    openat2(root, rel, libc::O_PATH, resolve)
}

/// The `/proc/self/fd/N` path naming an fd, for syscalls that take only paths (mount).
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Open the root directory itself as O_PATH.
pub fn open_root(path: &Path) -> nix::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| nix::Error::EINVAL)?;
    // SAFETY: plain open of a NUL-terminated path; the fd returned is ours.
    let rc = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if rc < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: rc is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(rc) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_root() {
        let base = std::env::temp_dir().join(format!("rt-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        let rfd = open_root(&root).unwrap();
        // The absolute symlink is taken relative to root: the new dir lands inside it.
        let fd = open_in_root(rfd.as_fd(), Path::new("/evil/sub"), Create::Dir).unwrap();
        drop(fd);
        assert!(
            root.join(outside.strip_prefix("/").unwrap())
                .join("sub")
                .is_dir()
        );
        assert!(!outside.join("sub").exists());
        // `..` can't climb above root either.
        open_in_root(rfd.as_fd(), Path::new("../../x"), Create::File).unwrap();
        assert!(root.join("x").is_file());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
