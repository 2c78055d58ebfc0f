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
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
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
    open_in_root_depth(root, &relative(path), create, false, 0)
}

/// [`open_in_root`] for a path that must be a directory (ENOTDIR otherwise): the fd can then
/// serve as the dirfd of *at calls without a check of its own.
pub fn open_dir_in_root(root: BorrowedFd, path: &Path, create: Create) -> nix::Result<OwnedFd> {
    open_in_root_depth(root, &relative(path), create, true, 0)
}

const MAX_SYMLINKS: usize = 40;

/// How a component we just created (or found created) is opened relative to its parent's fd:
/// the name is one plain component, and a symlink swapped in there since is refused rather than
/// followed, so a racing rename cannot redirect us.
const RESOLVE_CHILD: u64 = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

fn open_in_root_depth(
    root: BorrowedFd,
    rel: &Path,
    create: Create,
    want_dir: bool,
    depth: usize,
) -> nix::Result<OwnedFd> {
    let resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    let dir_flag = if want_dir { libc::O_DIRECTORY } else { 0 };
    match openat2(root, rel, libc::O_PATH | dir_flag, resolve) {
        Err(nix::Error::ENOENT) if create != Create::No => {}
        r => return r,
    }
    if depth > MAX_SYMLINKS {
        return Err(nix::Error::ELOOP);
    }
    let comps: Vec<_> = rel.components().collect();
    // The deepest existing ancestor. Mount targets are nearly always missing only their last
    // component, so look from the parent upwards: one openat2 in the common case, not one per
    // prefix. A prefix that fails for any reason but ENOENT fails the whole path the same way.
    let mut have = comps.len().saturating_sub(1);
    let mut dir: Option<OwnedFd> = None;
    while have > 0 {
        let prefix: PathBuf = comps[..have].iter().collect();
        match openat2(root, &prefix, libc::O_PATH | libc::O_DIRECTORY, resolve) {
            Ok(fd) => {
                dir = Some(fd);
                break;
            }
            Err(nix::Error::ENOENT) => have -= 1,
            Err(e) => return Err(e),
        }
    }
    // The path of `dir` inside root as written (symlinks unresolved), which relative symlink
    // targets and `..` are taken from, as the kernel would.
    let mut dir_path: PathBuf = comps[..have].iter().collect();
    for (i, comp) in comps.iter().enumerate().skip(have) {
        let last = i + 1 == comps.len();
        let Component::Normal(name) = comp else {
            // `..` (relative() keeps nothing else): its meaning depends on the symlinks above,
            // so let the kernel resolve the prefix inside root.
            dir_path.push(comp);
            if last {
                break;
            }
            dir = Some(openat2(
                root,
                &dir_path,
                libc::O_PATH | libc::O_DIRECTORY,
                resolve,
            )?);
            continue;
        };
        let dirfd = dir.as_ref().map_or(root, |d| d.as_fd());
        let cname = CString::new(name.as_bytes()).map_err(|_| nix::Error::EINVAL)?;
        let made = if last && create == Create::File {
            create_file(dirfd, &cname)
        } else {
            // SAFETY: plain syscall on a live fd and a NUL-terminated name.
            let rc = unsafe { libc::mkdirat(dirfd.as_raw_fd(), cname.as_ptr(), 0o755) };
            if rc == 0 {
                Ok(())
            } else {
                Err(nix::Error::last())
            }
        };
        match made {
            Ok(()) => {}
            Err(nix::Error::EEXIST) => {
                // Most likely a dangling symlink (the first openat2 found nothing there):
                // continue from its target, still inside root.
                if let Ok(target) = nix::fcntl::readlinkat(dirfd, cname.as_c_str()) {
                    let target = PathBuf::from(target);
                    let mut next = if target.is_absolute() {
                        relative(&target)
                    } else {
                        dir_path.join(target)
                    };
                    for rest in &comps[i + 1..] {
                        next.push(rest);
                    }
                    return open_in_root_depth(root, &next, create, want_dir, depth + 1);
                }
                // Otherwise someone else created it meanwhile: use it, as mkdir -p would.
            }
            Err(e) => return Err(e),
        }
        let flags = if last {
            libc::O_PATH | dir_flag
        } else {
            libc::O_PATH | libc::O_DIRECTORY
        };
        let fd = openat2(dirfd, Path::new(name), flags, RESOLVE_CHILD)?;
        if last {
            return Ok(fd);
        }
        dir_path.push(name);
        dir = Some(fd);
    }
    // Only an empty path or one ending in `..` gets here.
    openat2(root, rel, libc::O_PATH | dir_flag, resolve)
}

/// The directory `name` in `dir`, created if missing and opened O_PATH, for a `dir` known to
/// hold no symlinks (a tmpfs we just mounted): a new one costs a mkdirat and an open, with no
/// lookup first. Anything else (the name exists, is not one plain component) gets what
/// `open_in_root(dir, name, Create::Dir)` makes of it.
pub fn create_dir_in(dir: BorrowedFd, name: &Path) -> nix::Result<OwnedFd> {
    let mut comps = name.components();
    if let (Some(Component::Normal(n)), None) = (comps.next(), comps.next()) {
        let c = CString::new(n.as_bytes()).map_err(|_| nix::Error::EINVAL)?;
        // SAFETY: plain syscall on a live fd and a NUL-terminated name.
        if unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) } == 0 {
            return openat2(dir, Path::new(n), libc::O_PATH, RESOLVE_CHILD);
        }
    }
    open_in_root(dir, name, Create::Dir)
}

/// Create an empty file `name` in `dir`, never through a symlink (EEXIST then).
fn create_file(dir: BorrowedFd, name: &CString) -> nix::Result<()> {
    // SAFETY: plain syscall on a live fd and a NUL-terminated name.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o644,
        )
    };
    if fd < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns; dropping it closes it.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

/// The `/proc/self/fd/N` path naming an fd, for syscalls that take only paths (mount).
pub fn fd_path(fd: impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
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

    /// A fresh directory `root` under a temp dir removed on drop.
    struct TempRoot(crate::testutil::TempDir);

    impl TempRoot {
        fn new(name: &str) -> TempRoot {
            let t = crate::testutil::TempDir::new(&format!("resolve-{name}"));
            std::fs::create_dir(t.path().join("root")).unwrap();
            TempRoot(t)
        }
        fn root(&self) -> PathBuf {
            self.0.path().join("root")
        }
        fn fd(&self) -> OwnedFd {
            open_root(&self.root()).unwrap()
        }
    }

    fn same_file(fd: &OwnedFd, p: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let st = nix::sys::stat::fstat(fd).unwrap();
        let m = std::fs::symlink_metadata(p).unwrap();
        st.st_ino == m.ino() && st.st_dev == m.dev()
    }

    #[test]
    fn nested_missing_components_are_created() {
        let t = TempRoot::new("nested");
        std::fs::create_dir(t.root().join("a")).unwrap();
        let fd = open_in_root(t.fd().as_fd(), Path::new("/a/b/c"), Create::Dir).unwrap();
        assert!(same_file(&fd, &t.root().join("a/b/c")));
        // Nothing missing at all, and nothing missing but the root's child.
        let fd = open_in_root(t.fd().as_fd(), Path::new("/a/b/c"), Create::Dir).unwrap();
        assert!(same_file(&fd, &t.root().join("a/b/c")));
        let fd = open_in_root(t.fd().as_fd(), Path::new("/top"), Create::Dir).unwrap();
        assert!(same_file(&fd, &t.root().join("top")));
        // A file as the last component, below new directories.
        let fd = open_in_root(t.fd().as_fd(), Path::new("/d/e/f"), Create::File).unwrap();
        assert!(t.root().join("d/e/f").is_file());
        assert!(same_file(&fd, &t.root().join("d/e/f")));
        // Create::No creates nothing.
        assert_eq!(
            open_in_root(t.fd().as_fd(), Path::new("/x/y"), Create::No).unwrap_err(),
            nix::Error::ENOENT
        );
        assert!(!t.root().join("x").exists());
    }

    #[test]
    fn dangling_symlinks_are_followed_inside_root() {
        let t = TempRoot::new("dangling");
        let root = t.root();
        std::fs::create_dir(root.join("a")).unwrap();
        // Absolute target: taken from the container's root, not the host's.
        std::os::unix::fs::symlink("/x/y", root.join("a/b")).unwrap();
        let fd = open_in_root(t.fd().as_fd(), Path::new("/a/b/c"), Create::Dir).unwrap();
        assert!(same_file(&fd, &root.join("x/y/c")));
        assert!(!Path::new("/x/y/c").exists());
        // Relative target that climbs above root: clamped at root.
        std::os::unix::fs::symlink("../../../../up/z", root.join("a/r")).unwrap();
        let fd = open_in_root(t.fd().as_fd(), Path::new("/a/r/c"), Create::Dir).unwrap();
        assert!(same_file(&fd, &root.join("up/z/c")));
        // The dangling symlink is the last component: its target becomes the file.
        std::os::unix::fs::symlink("/files/f", root.join("a/lf")).unwrap();
        let fd = open_in_root(t.fd().as_fd(), Path::new("/a/lf"), Create::File).unwrap();
        assert!(root.join("files/f").is_file());
        assert!(same_file(&fd, &root.join("files/f")));
        // A symlink to itself never resolves: ELOOP, not an endless loop.
        std::os::unix::fs::symlink("/a/self/more", root.join("a/self")).unwrap();
        assert_eq!(
            open_in_root(t.fd().as_fd(), Path::new("/a/self/c"), Create::Dir).unwrap_err(),
            nix::Error::ELOOP
        );
    }

    #[test]
    fn a_file_on_the_way_is_enotdir() {
        let t = TempRoot::new("enotdir");
        let root = t.root();
        std::fs::create_dir(root.join("a")).unwrap();
        std::fs::write(root.join("a/file"), b"").unwrap();
        for p in ["/a/file/c", "/a/file/c/d"] {
            assert_eq!(
                open_in_root(t.fd().as_fd(), Path::new(p), Create::Dir).unwrap_err(),
                nix::Error::ENOTDIR,
                "{p}"
            );
        }
        // A file is fine as the last component, unless a directory is required.
        assert!(open_in_root(t.fd().as_fd(), Path::new("/a/file"), Create::Dir).is_ok());
        assert_eq!(
            open_dir_in_root(t.fd().as_fd(), Path::new("/a/file"), Create::Dir).unwrap_err(),
            nix::Error::ENOTDIR
        );
        let fd = open_dir_in_root(t.fd().as_fd(), Path::new("/a/n/m"), Create::Dir).unwrap();
        assert!(same_file(&fd, &root.join("a/n/m")));
    }

    #[test]
    fn create_dir_in_makes_or_reuses() {
        let t = TempRoot::new("createin");
        let root = t.root();
        let fd = create_dir_in(t.fd().as_fd(), Path::new("cpu")).unwrap();
        assert!(same_file(&fd, &root.join("cpu")));
        let again = create_dir_in(t.fd().as_fd(), Path::new("cpu")).unwrap();
        assert!(same_file(&again, &root.join("cpu")));
        // Not one plain component: the general path, still inside `dir`.
        let fd = create_dir_in(t.fd().as_fd(), Path::new("../x/y")).unwrap();
        assert!(same_file(&fd, &root.join("x/y")));
    }

    #[test]
    fn dotdot_components_stay_inside_root() {
        let t = TempRoot::new("dotdot");
        let root = t.root();
        std::fs::create_dir(root.join("b")).unwrap();
        let fd = open_in_root(t.fd().as_fd(), Path::new("/a/../b/c"), Create::Dir).unwrap();
        assert!(root.join("a").is_dir());
        assert!(same_file(&fd, &root.join("b/c")));
        let fd = open_in_root(t.fd().as_fd(), Path::new("/n/../../../m/.."), Create::Dir).unwrap();
        assert!(same_file(&fd, &root));
        assert!(root.join("m").is_dir());
    }
}
