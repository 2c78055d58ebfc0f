//! `--no-pivot`: the rootfs is moved onto / and chrooted into, and the host's mount tree stays
//! in the container's mount namespace below it. Unreachable by path, that tree still counts for
//! the kernel's "is this filesystem already fully visible" check (mount_too_revealing): a
//! container that may create a user namespace could mount a fresh procfs or sysfs, with none of
//! maskedPaths or readonlyPaths, because the host's is "already visible". So before the move,
//! every procfs and sysfs mount outside the rootfs is detached or, where the kernel refuses (a
//! mount locked in a user namespace), covered with an empty read-only tmpfs, which makes it not
//! fully visible. When neither works rt refuses to go on rather than run the container exposed.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::{RootfsError, sys};
use crate::procfs::MountInfo;

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The first procfs or sysfs mount outside `rootfs` not yet covered: its id, mount point and
/// its parent's mount point.
fn next_exposed(
    mountinfo: &mut std::fs::File,
    rootfs: &Path,
    covered: &[u64],
) -> Result<Option<(u64, PathBuf, Option<PathBuf>)>, RootfsError> {
    use std::io::{Read, Seek};
    let mut text = String::new();
    mountinfo
        .rewind()
        .and_then(|_| mountinfo.read_to_string(&mut text))
        .map_err(|e| RootfsError::Invalid(format!("--no-pivot: read {MOUNTINFO}: {e}")))?;
    let all: Vec<MountInfo> = crate::procfs::mountinfo(&text).collect();
    let Some(m) = all.iter().find(|m| {
        matches!(m.fstype.as_str(), "proc" | "sysfs")
            && !m.mount_point.starts_with(rootfs)
            && !covered.contains(&m.id)
    }) else {
        return Ok(None);
    };
    let parent = all.iter().find(|p| p.id == m.parent);
    Ok(Some((
        m.id,
        m.mount_point.clone(),
        parent.map(|p| p.mount_point.clone()),
    )))
}

/// Hide every procfs and sysfs outside `rootfs` (see the module comment). Runs in the
/// container's mount namespace, before the rootfs is moved onto /.
pub fn hide_kernel_filesystems(rootfs: &Path) -> Result<(), RootfsError> {
    let rootfs = std::fs::canonicalize(rootfs).map_err(|e| {
        RootfsError::Invalid(format!("--no-pivot: resolve {}: {e}", rootfs.display()))
    })?;
    // Opened once: detaching the host's /proc takes the path away, not an open file.
    let mut mountinfo = std::fs::File::open(MOUNTINFO)
        .map_err(|e| RootfsError::Invalid(format!("--no-pivot: open {MOUNTINFO}: {e}")))?;
    let mut covered = Vec::new();
    // Re-read after each step: a detach takes the mounts below it along.
    for _ in 0..256 {
        let Some((id, p, parent)) = next_exposed(&mut mountinfo, &rootfs, &covered)? else {
            return Ok(());
        };
        let p = p.as_path();
        // Neither the detach nor the cover may propagate to the host: make the mount and its
        // parent (this mount only: the rootfs' own propagation stays as configured) slaves.
        if let Some(parent) = &parent {
            mount(
                None::<&str>,
                parent,
                None::<&str>,
                MsFlags::MS_SLAVE,
                None::<&str>,
            )
            .map_err(sys("--no-pivot: make slave", parent))?;
        }
        mount(
            None::<&str>,
            p,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys("--no-pivot: make rslave", p))?;
        match umount2(p, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            // Locked (inherited into a user namespace) or not ours to unmount.
            Err(nix::Error::EINVAL | nix::Error::EPERM) => {}
            Err(e) => return Err(sys("--no-pivot: detach", p)(e)),
        }
        mount(
            Some("tmpfs"),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=000"),
        )
        .map_err(sys("--no-pivot: cover host filesystem", p))?;
        covered.push(id);
    }
    Err(RootfsError::Invalid(
        "--no-pivot: too many procfs/sysfs mounts outside the rootfs to hide".into(),
    ))
}
