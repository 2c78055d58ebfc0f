//! Bind sources of a container in a user namespace, opened by rt for init.
//!
//! Root in the container's user namespace has no rights over host files whose owner it does
//! not map: it cannot search a host directory of mode 000, nor one of mode 0700 owned by a uid
//! outside its mapping, so it cannot reach a bind source below one. runc and crun open the
//! sources with the runtime's rights and hand the fds to init, and so does rt, in a way that
//! keeps the host's mount flags locked:
//!
//! When the kernel copies mounts into a mount namespace owned by a less privileged user
//! namespace (init's), it locks their flags (MNT_LOCK_READONLY, _NOSUID, _NODEV, _NOEXEC,
//! _ATIME) and their place over what they cover, and a bind made from such a copy inherits the
//! locks. A tree rt cloned with open_tree(OPEN_TREE_CLONE) in its own namespace would be a copy
//! of the host's mount without them: root in the container could remount it read-write, setuid
//! or exec. So rt clones nothing. Once init has its mount namespace (and before it mounts
//! anything), rt opens each source O_PATH through /proc/<init>/root with openat2
//! RESOLVE_IN_ROOT: the walk runs in init's mount namespace (absolute symlinks and ".." stay
//! in it, as they would for init), with rt's rights, and ends on init's locked copy of the
//! mount. Init then makes the bind itself, from /proc/self/fd/N, inside its own namespace, so
//! the new mount keeps the locks (tests/filesystem.rs host_mount_flags_stay_locked_in_a_user_
//! namespace). runc's nsexec reaches the same mounts by setns into the container's mount
//! namespace before opening the paths.
//!
//! Opening is best effort: a source rt cannot open this way (missing, or behind a magic link,
//! which RESOLVE_IN_ROOT refuses) is left to init, which opens the path itself and reports
//! the error it gets.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::resolve::{self, Create};
use super::{MountFds, idmap};

/// The binds whose sources rt opens for init, as (config index, host path): every bind that is
/// not idmapped, for a container with a mount namespace in a user namespace. Pure; rt asks it
/// before clone, and init asks for them (step 4 of process/msg.rs) only if it is not empty.
pub fn wanted(spec: &Spec, bundle: &Path, in_user_namespace: bool) -> Vec<(usize, PathBuf)> {
    let has_mount_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::Mount));
    if !in_user_namespace || !has_mount_ns {
        return Vec::new();
    }
    spec.mounts()
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, m)| idmap::is_bind(m) && !idmap::wanted(m))
        .filter_map(|(i, m)| Some((i, host_path(m.source().as_deref()?, bundle))))
        .collect()
}

/// A bind source on the host: relative sources are taken from the bundle.
pub fn host_path(source: &Path, bundle: &Path) -> PathBuf {
    if source.is_absolute() {
        source.to_path_buf()
    } else {
        bundle.join(source)
    }
}

/// In rt: open the `wanted` sources in the mount namespace of init (`pid`), which must have it
/// by now. Those that cannot be opened are left out (init then tries the path itself).
pub fn open(pid: i32, wanted: &[(usize, PathBuf)]) -> MountFds {
    let mut out = MountFds::default();
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let Ok(root) = resolve::open_root(&root) else {
        return out;
    };
    for (index, source) in wanted {
        if let Ok(fd) = resolve::open_in_root(root.as_fd(), source, Create::No) {
            out.push(*index, fd);
        }
    }
    out
}
