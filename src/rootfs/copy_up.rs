//! `tmpcopyup` (runc's extension, sent by podman for `--read-only` and `--tmpfs`): a tmpfs
//! mounted on a directory of the rootfs starts with a copy of what that directory held. The
//! directory is opened before the tmpfs hides it and read through that fd, every entry with
//! *at calls that never follow a symlink, so the rootfs' content cannot lead the copy out.
//! Like runc's (fileutils.CopyDirectory): directories, files, symlinks and device nodes with
//! their owner and mode; the tmpfs' own root keeps the mode its options gave it.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmod, fchmodat, fstatat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchownat};

/// `dir` (any fd naming a directory) opened for reading its entries.
pub fn open_dir(dir: BorrowedFd) -> nix::Result<OwnedFd> {
    openat(
        dir,
        c".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Copy everything below `src` into `dst` (both directories opened with [`open_dir`]).
/// Depth-first with an explicit stack, so a deep tree costs fds (EMFILE: an error), never the
/// init's stack.
pub fn copy_tree(src: OwnedFd, dst: OwnedFd) -> Result<(), String> {
    let mut stack = vec![(src, dst)];
    while let Some((src, dst)) = stack.pop() {
        let names = entries(&src).map_err(|e| format!("read directory: {e}"))?;
        for name in names {
            let show = || name.to_string_lossy().into_owned();
            if let Some(dirs) = copy_entry(src.as_fd(), dst.as_fd(), &name)
                .map_err(|e| format!("{}: {e}", show()))?
            {
                stack.push(dirs);
            }
        }
    }
    Ok(())
}

fn entries(dir: &OwnedFd) -> nix::Result<Vec<CString>> {
    let mut d = Dir::from_fd(open_dir(dir.as_fd())?)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let name = e?.file_name().to_owned();
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            out.push(name);
        }
    }
    Ok(out)
}

/// Copy one entry; a directory is created and returned (source and copy opened) for the caller
/// to descend into.
fn copy_entry(
    src: BorrowedFd,
    dst: BorrowedFd,
    name: &CStr,
) -> nix::Result<Option<(OwnedFd, OwnedFd)>> {
    let st = fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let owner = (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    );
    let chown = || fchownat(dst, name, owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW);
    let open_read = |flags: OFlag| {
        openat(
            src,
            name,
            flags | OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(dst, name, Mode::S_IRWXU)?;
            chown()?;
            let copy = openat(
                dst,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            fchmod(&copy, perm)?;
            Ok(Some((open_read(OFlag::O_DIRECTORY)?, copy)))
        }
        SFlag::S_IFREG => {
            let from = File::from(open_read(OFlag::empty())?);
            let mut to = File::from(openat(
                dst,
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
                Mode::S_IRUSR | Mode::S_IWUSR,
            )?);
            std::io::copy(&mut &from, &mut to).map_err(io_errno)?;
            // Owner before mode: chown clears the setuid and setgid bits.
            chown()?;
            fchmod(&to, perm)?;
            Ok(None)
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(src, name)?;
            nix::unistd::symlinkat(target.as_os_str(), dst, name)?;
            chown()?;
            Ok(None)
        }
        // Devices, FIFOs and sockets: a node of the same kind (runc copies devices and fails
        // on the others; a FIFO or socket node holds no data, so copying it is harmless).
        _ => {
            mknodat(dst, name, kind, Mode::S_IRUSR | Mode::S_IWUSR, st.st_rdev)?;
            chown()?;
            // Not a symlink: made just now by us in a tmpfs nothing else can reach yet.
            fchmodat(dst, name, perm, FchmodatFlags::FollowSymlink)?;
            Ok(None)
        }
    }
}

fn io_errno(e: std::io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
