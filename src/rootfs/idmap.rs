//! Idmapped bind mounts (config.md `mounts[].uidMappings`/`gidMappings`, options `idmap` and
//! `ridmap`), made as runc 1.2 makes them.
//!
//! An idmapped mount shows each on-disk id through the mount's mapping taken as a user
//! namespace's map: on-disk id C appears as host id H for the entry `{containerID: C, hostID: H}`,
//! and a file created through the mount by host id H is stored as C. Ids outside the mapping show
//! as the overflow id (65534) and cannot be written.
//!
//! mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN over the source's superblock, which a
//! container in its own user namespace lacks. So rt (the parent, still root on the host) makes
//! every idmapped mount before cloning init: open_tree(OPEN_TREE_CLONE) detaches a copy of the
//! source, mount_setattr gives it the mapping (a user namespace fd made by a short-lived helper
//! per distinct mapping set), and init, which inherits the fds, only move_mounts each copy onto
//! its destination resolved inside the rootfs (mounts.rs).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};

use super::options;
use super::{MountFds, RootfsError};

const OPEN_TREE_CLONE: u32 = 0x1;
const AT_RECURSIVE: u32 = 0x8000;
const MOUNT_ATTR_IDMAP: u64 = 0x10_0000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// The kernel's `struct mount_attr` (mount_setattr(2)).
#[repr(C)]
pub(super) struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// Where an idmapped mount's mapping comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// Explicit maps (the mount's own, or the container's for `idmap` without any).
    Maps {
        uid: Vec<LinuxIdMapping>,
        gid: Vec<LinuxIdMapping>,
    },
    /// `idmap` without maps in a container joining a user namespace: that namespace's.
    Userns(PathBuf),
}

/// One idmapped mount to prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub index: usize,
    /// The source on the host (relative sources taken from the bundle).
    pub source: PathBuf,
    /// `rbind`: copy the whole mount tree under the source.
    pub rbind: bool,
    /// `ridmap`: idmap every mount of that tree, not only the top one.
    pub recursive: bool,
    pub mapping: Mapping,
}

/// Whether config entry `m` asks for an idmapped mount (runc: mappings present, even empty, or
/// either option).
pub fn wanted(m: &Mount) -> bool {
    m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap")
}

pub(super) fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// The user namespace the container creates or joins: (created, joined path).
fn container_userns(spec: &Spec) -> Option<Option<PathBuf>> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User))
        .map(|n| n.path().clone().filter(|p| !p.as_os_str().is_empty()))
}

/// The mapping mount `index` uses, or the problem (named by field) that prevents one.
fn mapping_of(spec: &Spec, index: usize, m: &Mount) -> Result<Mapping, String> {
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        let uid = m.uid_mappings().clone().unwrap_or_default();
        let gid = m.gid_mappings().clone().unwrap_or_default();
        for (name, maps) in [("uidMappings", &uid), ("gidMappings", &gid)] {
            if maps.is_empty() {
                return Err(format!(
                    "mounts[{index}].{name}: an idmapped mount needs both uidMappings and \
                     gidMappings"
                ));
            }
        }
        return Ok(Mapping::Maps { uid, gid });
    }
    // `idmap`/`ridmap` alone: the container's user namespace mappings, as runc does.
    match container_userns(spec) {
        None => Err(format!(
            "mounts[{index}]: idmapped mount without uidMappings/gidMappings takes the \
             container's user namespace mappings, but linux.namespaces has no user namespace"
        )),
        Some(Some(path)) => Ok(Mapping::Userns(path)),
        Some(None) => {
            let linux = spec.linux().as_ref();
            let uid = linux
                .and_then(|l| l.uid_mappings().clone())
                .unwrap_or_default();
            let gid = linux
                .and_then(|l| l.gid_mappings().clone())
                .unwrap_or_default();
            if uid.is_empty() || gid.is_empty() {
                return Err(format!(
                    "mounts[{index}]: idmapped mount without uidMappings/gidMappings needs \
                     linux.uidMappings and linux.gidMappings"
                ));
            }
            Ok(Mapping::Maps { uid, gid })
        }
    }
}

/// Every problem with the idmapped mounts of `spec`, each named by its JSON path (runc's
/// checkIDMapMounts, plus the range checks the kernel would otherwise refuse later).
pub fn problems(spec: &Spec) -> Vec<String> {
    let mut v = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !wanted(m) {
            continue;
        }
        if !is_bind(m) {
            v.push(format!(
                "mounts[{i}]: idmapped mounts are only supported for bind mounts"
            ));
            continue;
        }
        if let Err(e) = mapping_of(spec, i, m) {
            v.push(e);
        }
        for (name, maps) in [
            ("uidMappings", m.uid_mappings()),
            ("gidMappings", m.gid_mappings()),
        ] {
            for (j, map) in maps.iter().flatten().enumerate() {
                if map.size() == 0 {
                    v.push(format!("mounts[{i}].{name}[{j}].size: must not be 0"));
                }
                let end = |a: u32| u64::from(a) + u64::from(map.size());
                if end(map.host_id()) > 1 << 32 || end(map.container_id()) > 1 << 32 {
                    v.push(format!("mounts[{i}].{name}[{j}]: range overflows 32 bits"));
                }
                // The kernel refuses overlapping ranges in a map (EINVAL writing it).
                let overlap = |a: u32, b: u32, sa: u32, sb: u32| {
                    u64::from(a) < u64::from(b) + u64::from(sb)
                        && u64::from(b) < u64::from(a) + u64::from(sa)
                };
                for (k, o) in maps.iter().flatten().take(j).enumerate() {
                    if overlap(map.container_id(), o.container_id(), map.size(), o.size()) {
                        v.push(format!(
                            "mounts[{i}].{name}[{j}].containerID: overlaps mounts[{i}].{name}[{k}]"
                        ));
                    }
                    if overlap(map.host_id(), o.host_id(), map.size(), o.size()) {
                        v.push(format!(
                            "mounts[{i}].{name}[{j}].hostID: overlaps mounts[{i}].{name}[{k}]"
                        ));
                    }
                }
            }
        }
    }
    v
}

/// The idmapped mounts of `spec` and what each needs. Pure; the spec was validated, but a
/// problem found anyway is returned as the error.
pub fn plan(spec: &Spec, bundle: &Path) -> Result<Vec<Request>, String> {
    let mut out = Vec::new();
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        if !wanted(m) {
            continue;
        }
        let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
        let source = m.source().clone().unwrap_or_default();
        let source = if source.is_absolute() {
            source
        } else {
            bundle.join(source)
        };
        out.push(Request {
            index,
            source,
            rbind: opts.flags.contains(nix::mount::MsFlags::MS_REC),
            recursive: opts.idmap_recursive,
            mapping: mapping_of(spec, index, m)?,
        });
    }
    Ok(out)
}

/// Make every idmapped mount of `spec`, detached. Runs in rt before clone (single-threaded: the
/// user namespace helpers are forks).
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<MountFds, RootfsError> {
    let requests = plan(spec, bundle).map_err(RootfsError::Invalid)?;
    let mut out = MountFds::default();
    let in_user_namespace = has_user_namespace(spec);
    // One user namespace per distinct mapping set, shared by the mounts that use it.
    let mut namespaces: Vec<(Mapping, OwnedFd)> = Vec::new();
    for r in requests {
        let fail = |what: String| {
            RootfsError::Invalid(format!(
                "mounts[{}]: idmapped mount of {}: {what}",
                r.index,
                r.source.display()
            ))
        };
        let userns = match namespaces.iter().position(|(m, _)| *m == r.mapping) {
            Some(i) => i,
            None => {
                let fd = match &r.mapping {
                    Mapping::Maps { uid, gid } => {
                        crate::process::userns::mapped_userns(uid, gid)
                            .map_err(|e| fail(format!("user namespace for the mapping: {e}")))?
                    }
                    Mapping::Userns(p) => nix::fcntl::open(
                        p,
                        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::empty(),
                    )
                    .map_err(|e| fail(format!("open user namespace {}: {e}", p.display())))?,
                };
                namespaces.push((r.mapping.clone(), fd));
                namespaces.len() - 1
            }
        };
        if in_user_namespace {
            refuse_unlockable(&r.source, r.rbind).map_err(fail)?;
        }
        let tree = open_tree(&r.source, r.rbind).map_err(|e| fail(format!("open_tree: {e}")))?;
        // The copy keeps the source's propagation: a copy of a shared host mount would be a peer
        // of it, and mounts made on top in the container would reach the host. rslave, like the
        // rest of the container's tree (mod.rs prepare).
        setattr(
            tree.as_fd(),
            true,
            &MountAttr {
                attr_set: 0,
                attr_clr: 0,
                propagation: libc::MS_SLAVE,
                userns_fd: 0,
            },
        )
        .map_err(|e| fail(format!("make the copy rslave: {e}")))?;
        let idmap = MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: namespaces[userns].1.as_raw_fd() as u64,
        };
        setattr(tree.as_fd(), r.recursive, &idmap).map_err(|e| match e {
            // The kernel's answer for a filesystem without FS_ALLOW_IDMAP.
            nix::Error::EINVAL => fail(
                "filesystem does not support idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP: \
                 EINVAL)"
                    .into(),
            ),
            e => fail(format!("mount_setattr MOUNT_ATTR_IDMAP: {e}")),
        })?;
        out.push(r.index, tree);
    }
    Ok(out)
}

fn has_user_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User))
}

/// A tree rt clones outside the container's mount namespace carries none of the MNT_LOCK_*
/// flags the kernel puts on the host mounts it copies into a less privileged namespace, so root
/// in a user-namespace container could remount it read-write, setuid or exec, or unmount a
/// submount to see what it covers on the host. Until the copy is made inside init's namespace,
/// such sources are refused rather than exposed: a source whose mount is read-only, nosuid,
/// nodev or noexec, and for a recursive bind one with mounts below it.
fn refuse_unlockable(source: &Path, recursive: bool) -> Result<(), String> {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let st = statvfs(source).map_err(|e| format!("statvfs: {e}"))?;
    let lockable = [
        (FsFlags::ST_RDONLY, "read-only"),
        (FsFlags::ST_NOSUID, "nosuid"),
        (FsFlags::ST_NODEV, "nodev"),
        (FsFlags::ST_NOEXEC, "noexec"),
    ];
    let set: Vec<&str> = lockable
        .iter()
        .filter(|(f, _)| st.flags().contains(*f))
        .map(|(_, n)| *n)
        .collect();
    if !set.is_empty() {
        return Err(format!(
            "its host mount is {}, and in a user namespace rt cannot keep that locked on an \
             idmapped copy; not supported",
            set.join(", ")
        ));
    }
    if recursive {
        let dir = std::fs::canonicalize(source).map_err(|e| format!("resolve: {e}"))?;
        let info = crate::procfs::read_mountinfo()
            .map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
        if let Some(sub) = mounts_below(&info, &dir).next() {
            return Err(format!(
                "{} is mounted below it, and in a user namespace rt cannot keep it locked in a \
                 recursive idmapped copy; not supported",
                sub.display()
            ));
        }
    }
    Ok(())
}

/// Mount points in a mountinfo text strictly below `dir`.
fn mounts_below<'a>(info: &'a str, dir: &'a Path) -> impl Iterator<Item = PathBuf> + 'a {
    crate::procfs::mountinfo(info)
        .map(|m| m.mount_point)
        .filter(move |p| p != dir && p.starts_with(dir))
}

/// A detached copy of the mount at `source` (the whole tree under it with `recursive`).
fn open_tree(source: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let c = CString::new(source.as_os_str().as_bytes()).map_err(|_| nix::Error::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: open_tree reads the NUL-terminated path we own; the fd returned is new and ours.
    let rc = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if rc < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: rc is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

pub(super) fn setattr(fd: BorrowedFd, recursive: bool, attr: &MountAttr) -> nix::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: mount_setattr on an fd we hold with an empty path (AT_EMPTY_PATH); `attr` lives
    // across the call and its exact size is passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// Attach the detached mount `tree` onto `target` (an O_PATH fd resolved inside the rootfs).
/// Both ends are fds, so no path is walked again (a magic-link path would not be followed by
/// move_mount anyway).
pub fn attach(tree: BorrowedFd, target: BorrowedFd) -> nix::Result<()> {
    // SAFETY: move_mount between two fds we hold, with empty paths for both ends.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(mounts: serde_json::Value, linux: serde_json::Value) -> Spec {
        serde_json::from_value(json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "mounts": mounts,
            "linux": linux,
        }))
        .unwrap()
    }

    fn maps(c: u32, h: u32, s: u32) -> serde_json::Value {
        json!([{"containerID": c, "hostID": h, "size": s}])
    }

    #[test]
    fn explicit_mappings_are_used_as_given() {
        let s = spec(
            json!([{"destination": "/m", "type": "bind", "source": "src",
                    "options": ["rbind", "ridmap"],
                    "uidMappings": maps(0, 1000, 1), "gidMappings": maps(0, 1000, 1)}]),
            json!({"namespaces": [{"type": "mount"}]}),
        );
        assert!(problems(&s).is_empty());
        let r = plan(&s, Path::new("/b")).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].source, PathBuf::from("/b/src"));
        assert!(r[0].rbind && r[0].recursive);
        let Mapping::Maps { uid, gid } = &r[0].mapping else {
            panic!("{:?}", r[0].mapping)
        };
        assert_eq!((uid[0].container_id(), uid[0].host_id()), (0, 1000));
        assert_eq!(gid.len(), 1);
    }

    #[test]
    fn idmap_alone_takes_the_container_userns() {
        let m = json!([{"destination": "/m", "type": "bind", "source": "/s",
                        "options": ["bind", "idmap"]}]);
        let s = spec(
            m.clone(),
            json!({"namespaces": [{"type": "user"}, {"type": "mount"}],
                   "uidMappings": maps(0, 100000, 65536), "gidMappings": maps(0, 100000, 65536)}),
        );
        let r = plan(&s, Path::new("/b")).unwrap();
        assert!(!r[0].rbind && !r[0].recursive);
        assert!(matches!(&r[0].mapping, Mapping::Maps { uid, .. } if uid[0].host_id() == 100000));
        let s = spec(
            m.clone(),
            json!({"namespaces": [{"type": "user", "path": "/proc/7/ns/user"}, {"type": "mount"}]}),
        );
        assert_eq!(
            plan(&s, Path::new("/b")).unwrap()[0].mapping,
            Mapping::Userns(PathBuf::from("/proc/7/ns/user"))
        );
        let s = spec(m, json!({"namespaces": [{"type": "mount"}]}));
        let p = problems(&s);
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("mounts[0]: idmapped"), "{p:?}");
    }

    #[test]
    fn refused_shapes_name_the_field() {
        let s = spec(
            json!([
                {"destination": "/a", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]},
                {"destination": "/b", "type": "bind", "source": "/s", "options": ["bind"],
                 "uidMappings": maps(0, 1, 1)},
                {"destination": "/c", "type": "bind", "source": "/s", "options": ["bind"],
                 "uidMappings": maps(0, 1, 0), "gidMappings": maps(0, 1, 1)},
                {"destination": "/d", "type": "bind", "source": "/s", "options": ["bind"],
                 "uidMappings": maps(0, 1, 1),
                 "gidMappings": [{"containerID": 0, "hostID": 10, "size": 5},
                                 {"containerID": 3, "hostID": 20, "size": 1}]},
            ]),
            json!({"namespaces": [{"type": "mount"}]}),
        );
        let p = problems(&s);
        assert_eq!(
            p,
            vec![
                "mounts[0]: idmapped mounts are only supported for bind mounts".to_string(),
                "mounts[1].gidMappings: an idmapped mount needs both uidMappings and gidMappings"
                    .to_string(),
                "mounts[2].uidMappings[0].size: must not be 0".to_string(),
                "mounts[3].gidMappings[1].containerID: overlaps mounts[3].gidMappings[0]"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn plain_binds_are_not_idmapped() {
        let s = spec(
            json!([{"destination": "/m", "type": "bind", "source": "/s", "options": ["rbind"]}]),
            json!({"namespaces": [{"type": "mount"}]}),
        );
        assert!(plan(&s, Path::new("/b")).unwrap().is_empty());
    }

    #[test]
    fn submounts_are_found_by_unescaped_path() {
        let info = "1 0 8:1 / / rw - ext4 /dev/vda rw\n\
                    2 1 0:5 / /srv/data rw - tmpfs t rw\n\
                    3 2 0:6 / /srv/data/in\\040side rw - tmpfs t rw\n\
                    4 1 0:7 / /srv/database rw - tmpfs t rw\n";
        let below: Vec<_> = mounts_below(info, Path::new("/srv/data")).collect();
        assert_eq!(below, [PathBuf::from("/srv/data/in side")]);
        assert_eq!(mounts_below(info, Path::new("/srv/database")).count(), 0);
    }
}
