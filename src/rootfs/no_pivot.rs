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

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of /proc/self/mountinfo, the fields used here.
struct MountEntry {
    id: u64,
    parent: u64,
    mount_point: PathBuf,
    fstype: String,
}

/// mountinfo escapes space, tab, newline and backslash in paths as `\ooo`.
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            let s = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(s, 8).ok()
        });
        match (b[i], octal) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

fn parse(mountinfo: &str) -> Vec<MountEntry> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            Some(MountEntry {
                id: f.first()?.parse().ok()?,
                parent: f.get(1)?.parse().ok()?,
                mount_point: unescape(f.get(4)?),
                fstype: post.split(' ').next()?.to_string(),
            })
        })
        .collect()
}

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
    let all = parse(&text);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_escapes() {
        let mi = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                  30 22 0:5 / /a\\040b rw - sysfs sysfs rw\n\
                  bad line\n";
        let m = parse(mi);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].id, m[0].parent), (22, 1));
        assert_eq!(m[0].fstype, "proc");
        assert_eq!(m[1].mount_point, Path::new("/a b"));
        assert_eq!(unescape("x\\134y\\0"), Path::new("x\\y\\0"));
    }
}
