//! /dev in the container: the default nodes every OCI container has, `linux.devices`, and the
//! standard symlinks. In a user namespace mknod is refused, so host nodes are bind-mounted.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::resolve::{self, Create, fd_path};
use super::{RootfsContext, RootfsError, sys};

struct Node {
    path: PathBuf,
    kind: libc::mode_t,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

const DEFAULTS: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

const LINKS: [(&str, &str); 4] = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
];

fn nodes(devices: &[LinuxDevice]) -> Vec<Node> {
    let mut out: Vec<Node> = DEFAULTS
        .iter()
        .map(|(p, ma, mi)| Node {
            path: PathBuf::from(p),
            kind: libc::S_IFCHR,
            major: *ma,
            minor: *mi,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            _ => libc::S_IFCHR,
        };
        let node = Node {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        // A configured device replaces a default of the same path.
        out.retain(|n| n.path != node.path);
        out.push(node);
    }
    out
}

/// Directories nodes and links go in, each opened once (nearly all are /dev): O_PATH
/// directory fds, which serve *at calls as they are.
struct Dirs<'a> {
    root: &'a OwnedFd,
    open: Vec<(PathBuf, OwnedFd)>,
}

impl Dirs<'_> {
    fn get(&mut self, parent: &Path) -> Result<BorrowedFd<'_>, RootfsError> {
        let i = match self.open.iter().position(|(p, _)| p == parent) {
            Some(i) => i,
            None => {
                let fd = resolve::open_dir_in_root(self.root.as_fd(), parent, Create::Dir)
                    .map_err(sys("create", parent))?;
                self.open.push((parent.to_path_buf(), fd));
                self.open.len() - 1
            }
        };
        Ok(self.open[i].1.as_fd())
    }
}

/// Populate the container's /dev, as runc does, unless /dev is a bind mount: that is someone
/// else's directory (often the host's own /dev), and nothing is created in it, not even
/// `linux.devices` (runc's needsSetupDev). Otherwise the default nodes, `linux.devices` (at any
/// path: the spec does not limit them to /dev), the fd/std* links and `ptmx -> pts/ptmx`.
pub fn create(ctx: &RootfsContext, root: &OwnedFd, dev_bound: bool) -> Result<(), RootfsError> {
    if dev_bound {
        return Ok(());
    }
    let devices = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    let mut dirs = Dirs {
        root,
        open: Vec::new(),
    };
    // /dev/ptmx is the container's own devpts multiplexer (below), never a node of its own.
    for n in nodes(&devices)
        .iter()
        .filter(|n| n.path != Path::new("/dev/ptmx"))
    {
        make_node(ctx, &mut dirs, n)?;
    }
    for (target, link) in LINKS {
        symlink_in_root(&mut dirs, Path::new(target), Path::new(link))?;
    }
    if Path::new("/proc/kcore").exists() {
        symlink_in_root(&mut dirs, Path::new("/proc/kcore"), Path::new("/dev/core"))?;
    }
    let dirfd = dirs.get(Path::new("/dev"))?;
    // SAFETY: unlinkat on a live dir fd with a static NUL-terminated name.
    unsafe { libc::unlinkat(dirfd.as_raw_fd(), c"ptmx".as_ptr(), 0) };
    symlink_in_root(&mut dirs, Path::new("pts/ptmx"), Path::new("/dev/ptmx"))
}

fn split(path: &Path) -> Result<(PathBuf, CString), RootfsError> {
    let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let name = path
        .file_name()
        .ok_or_else(|| RootfsError::Invalid(format!("bad device path {}", path.display())))?;
    let name = CString::new(name.as_bytes())
        .map_err(|_| RootfsError::Invalid(format!("bad device path {}", path.display())))?;
    Ok((parent, name))
}

fn make_node(ctx: &RootfsContext, dirs: &mut Dirs, n: &Node) -> Result<(), RootfsError> {
    let (parent, name) = split(&n.path)?;
    let dir = dirs.get(&parent)?.as_raw_fd();
    // SAFETY: unlinkat on a live dir fd and a NUL-terminated name; ENOENT is fine.
    unsafe { libc::unlinkat(dir, name.as_ptr(), 0) };
    if ctx.in_userns {
        // Bind the host's node over an empty file.
        let target = resolve::open_in_root(dirs.root.as_fd(), &n.path, Create::File)
            .map_err(sys("create", &n.path))?;
        return mount(
            Some(&n.path),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys("bind device", &n.path));
    }
    // The kernel's mknod takes a 32-bit dev (12 bits of major, 20 of minor): numbers too large
    // for it (a negative major from the config) are cut to it, as the syscall does for runc;
    // glibc would refuse them with EINVAL instead.
    let dev = libc::makedev(n.major as u32, n.minor as u32) & 0xffff_ffff;
    // SAFETY: mknodat/fchownat/fchmodat on a live dir fd (held by `dirs`) with a
    // NUL-terminated name.
    let rc = unsafe { libc::mknodat(dir, name.as_ptr(), n.kind | n.mode, dev) };
    if rc != 0 {
        return Err(sys("mknod", &n.path)(nix::Error::last()));
    }
    // The umask trimmed mknod's mode; set it exactly, then chown: as in runc (mknod with umask
    // 0, then chown), the chown makes the kernel drop setuid, and setgid with group exec.
    // SAFETY: as above.
    let rc = unsafe { libc::fchmodat(dir, name.as_ptr(), n.mode, 0) };
    if rc != 0 {
        return Err(sys("chmod", &n.path)(nix::Error::last()));
    }
    // SAFETY: as above; AT_SYMLINK_NOFOLLOW so a raced symlink is not followed.
    let rc = unsafe { libc::fchownat(dir, name.as_ptr(), n.uid, n.gid, libc::AT_SYMLINK_NOFOLLOW) };
    if rc != 0 {
        return Err(sys("chown", &n.path)(nix::Error::last()));
    }
    Ok(())
}

fn symlink_in_root(dirs: &mut Dirs, target: &Path, link: &Path) -> Result<(), RootfsError> {
    let (parent, name) = split(link)?;
    let dir = dirs.get(&parent)?;
    let t = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| RootfsError::Invalid(format!("bad link target {}", target.display())))?;
    // SAFETY: symlinkat with NUL-terminated strings and a live dir fd.
    let rc = unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), name.as_ptr()) };
    if rc != 0 && nix::Error::last() != nix::Error::EEXIST {
        return Err(sys("symlink", link)(nix::Error::last()));
    }
    Ok(())
}
