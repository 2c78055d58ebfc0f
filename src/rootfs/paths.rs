//! maskedPaths and readonlyPaths, applied after pivot_root. Targets are opened without following
//! magic links, so /proc/self/... tricks can't redirect a mask.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::{MsFlags, mount};

use super::mounts::remount_bind;
use super::resolve::{self, Create, fd_path};
use super::{RootfsError, sys};

fn open_root() -> Result<OwnedFd, RootfsError> {
    resolve::open_root(Path::new("/")).map_err(sys("open", Path::new("/")))
}

fn open_target(root: &OwnedFd, p: &str) -> Result<Option<OwnedFd>, RootfsError> {
    match resolve::open_in_root(root.as_fd(), Path::new(p), Create::No) {
        Ok(fd) => Ok(Some(fd)),
        Err(nix::Error::ENOENT) => Ok(None),
        Err(e) => Err(sys("open", Path::new(p))(e)),
    }
}

pub fn readonly_paths(paths: &[String]) -> Result<(), RootfsError> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = open_root()?;
    for p in paths {
        let Some(fd) = open_target(&root, p)? else {
            continue;
        };
        let fp = fd_path(&fd);
        mount(
            Some(&fp),
            &fp,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys("bind readonly path", Path::new(p)))?;
        drop(fd);
        // Reopened: the fd above names what is below the new bind mount, which the remount
        // must not touch.
        let Some(fd) = open_target(&root, p)? else {
            continue;
        };
        // Read-only, keeping the nosuid/nodev/noexec the path's mount already has and adding
        // none (runc's readonlyPath).
        let fp = fd_path(&fd);
        let keep =
            locked_flags(&fp) & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
        remount_bind(&fp, MsFlags::MS_RDONLY | keep)
            .map_err(sys("remount read-only", Path::new(p)))?;
    }
    Ok(())
}

pub fn mask_paths(paths: &[String]) -> Result<(), RootfsError> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = open_root()?;
    for p in paths {
        let Some(fd) = open_target(&root, p)? else {
            continue;
        };
        let st = nix::sys::stat::fstat(&fd).map_err(sys("stat", Path::new(p)))?;
        let fp = fd_path(&fd);
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            mount(
                Some("tmpfs"),
                &fp,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(sys("mask", Path::new(p)))?;
        } else {
            mount(
                Some("/dev/null"),
                &fp,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(sys("mask", Path::new(p)))?;
        }
    }
    Ok(())
}

/// The flags a remount must keep because the mount is locked (inherited from a more privileged
/// mount namespace), or wants to keep: the mount's flags, read from statvfs.
pub fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}
