//! The container's root filesystem, built inside init's mount namespace:
//! `prepare` (before pivot_root: propagation, every mount, devices), `pivot`, and `finalize`
//! (after pivot_root: masked and read-only paths, read-only root).

mod cgroup_mount;
mod copy_up;
mod devices;
pub mod idmap;
mod mounts;
mod no_pivot;
pub mod options;
mod paths;
pub mod resolve;
pub mod sources;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use oci_spec::runtime::Spec;

pub use paths::{mask_paths, readonly_paths};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what} {path}: {source}")]
    Sys {
        what: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("mounts[{index}] ({dest}): {msg}")]
    Mount {
        index: usize,
        dest: String,
        msg: String,
    },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn sys<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(nix::Error) -> RootfsError + 'a {
    move |source| RootfsError::Sys {
        what,
        path: path.to_path_buf(),
        source,
    }
}

pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// mknod is not allowed in a user namespace: devices are bind-mounted from the host then.
    pub in_userns: bool,
    /// Idmapped mounts rt made before clone (idmap.rs), attached here by config index.
    pub idmapped: &'a MountFds,
    /// Bind sources rt opened for init in a user namespace (sources.rs), by config index.
    pub host_opened: &'a MountFds,
    /// What a `cgroup` mount shows, decided by rt before clone.
    pub cgroup: &'a crate::cgroups::CgroupMount,
}

/// Mount sources as fds, by config index, made or opened by rt for init.
#[derive(Default)]
pub struct MountFds {
    fds: Vec<(usize, OwnedFd)>,
}

impl MountFds {
    pub fn get(&self, index: usize) -> Option<BorrowedFd<'_>> {
        self.fds
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, fd)| fd.as_fd())
    }

    pub fn push(&mut self, index: usize, fd: OwnedFd) {
        self.fds.push((index, fd));
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, BorrowedFd<'_>)> {
        self.fds.iter().map(|(i, fd)| (*i, fd.as_fd()))
    }
}

/// Everything before pivot_root. Runs in init's new mount namespace.
pub fn prepare(ctx: &RootfsContext) -> Result<(), RootfsError> {
    // Nothing we mount may propagate back to the host: make our copy of / a slave (or what
    // rootfsPropagation asks) before touching anything.
    // An unbindable / would make every bind from it fail (EINVAL): that one is applied to the
    // container's / after pivot_root (finalize).
    // Recursive whatever was asked: every mount of the host's tree stops propagating to it.
    let prop = match root_propagation(ctx.spec)? {
        None | Some((MsFlags::MS_UNBINDABLE, _)) => MsFlags::MS_SLAVE,
        Some((p, _)) => p,
    };
    set_root_propagation(prop | MsFlags::MS_REC)?;
    // The rootfs' parent mount private first: were it shared (rootfsPropagation "shared"
    // keeps the host's peer groups), the bind below and every mount on it would propagate to
    // the host. pivot_root also refuses a shared parent.
    make_parent_private(ctx.rootfs)?;
    // pivot_root needs the new root to be a mount point; a recursive self-bind makes it one.
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("bind mount rootfs", ctx.rootfs))?;

    let root_fd = resolve::open_root(ctx.rootfs).map_err(sys("open rootfs", ctx.rootfs))?;
    for (index, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        mounts::mount_one(ctx, &root_fd, index, m)?;
    }
    devices::create(ctx, &root_fd, dev_is_bound(ctx.spec))?;
    Ok(())
}

/// linux.rootfsPropagation as a propagation flag, and whether it is a recursive (`r`) one; None
/// when unset.
fn root_propagation(spec: &Spec) -> Result<Option<(MsFlags, bool)>, RootfsError> {
    let value = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref());
    Ok(match value {
        None | Some("") => None,
        Some(v @ ("shared" | "rshared")) => Some((MsFlags::MS_SHARED, v.starts_with('r'))),
        Some(v @ ("private" | "rprivate")) => Some((MsFlags::MS_PRIVATE, v.starts_with('r'))),
        Some(v @ ("unbindable" | "runbindable")) => {
            Some((MsFlags::MS_UNBINDABLE, v.starts_with('r')))
        }
        Some(v @ ("slave" | "rslave")) => Some((MsFlags::MS_SLAVE, v.starts_with('r'))),
        Some(other) => {
            return Err(RootfsError::Invalid(format!(
                "linux.rootfsPropagation: unknown value {other:?}"
            )));
        }
    })
}

/// Give / the propagation `prop` (and every mount below it, with MS_REC).
fn set_root_propagation(prop: MsFlags) -> Result<(), RootfsError> {
    let root = Path::new("/");
    mount(None::<&str>, root, None::<&str>, prop, None::<&str>)
        .map_err(sys("set propagation of", root))
}

/// Is the container's /dev a bind mount (someone else's directory, often the host's /dev)?
/// Then rt creates nothing in it (runc's needsSetupDev).
pub fn dev_is_bound(spec: &Spec) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| mounts::is_dev(m) && options::is_bind_mount(m))
}

fn make_parent_private(rootfs: &Path) -> Result<(), RootfsError> {
    // Walk up to the mount the rootfs is in (itself, when an engine mounted it there, as
    // containerd mounts overlays); EINVAL means "not a mount point", go up.
    let mut p = Some(rootfs);
    while let Some(dir) = p {
        match mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(nix::Error::EINVAL) => p = dir.parent(),
            Err(e) => return Err(sys("make private", dir)(e)),
        }
    }
    Ok(())
}

/// Switch to the new root. pivot_root(".", ".") stacks the old root under the new one, which we
/// then detach, so no host path stays reachable.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    nix::unistd::chdir(rootfs).map_err(sys("chdir", rootfs))?;
    if no_pivot {
        no_pivot::hide_kernel_filesystems(rootfs)?;
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .map_err(sys("move mount", rootfs))?;
        nix::unistd::chroot(".").map_err(sys("chroot", rootfs))?;
    } else {
        // The old root, opened while it is still "/": after pivot_root(".", ".") the cwd is the
        // new root with the old one stacked on it, and "." names the new root for mount(2)
        // (only umount follows mounts on its starting point). Without this fchdir the rslave
        // below would reach every mount of the container instead of the old root, turning a
        // `shared` bind mount private (runc fchdirs to the old root too).
        let old_root = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(sys("open old root", Path::new("/")))?;
        match nix::unistd::pivot_root(".", ".") {
            // The kernel refuses a shared new root (rootfsPropagation "shared"): pivot with it
            // private; finalize() shares the new / again.
            Err(nix::Error::EINVAL) => {
                mount(
                    None::<&str>,
                    ".",
                    None::<&str>,
                    MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .map_err(sys("make new root private", rootfs))?;
                nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root", rootfs))?;
            }
            r => r.map_err(sys("pivot_root", rootfs))?,
        }
        nix::unistd::fchdir(&old_root).map_err(sys("fchdir to old root", Path::new("/")))?;
        // The old root may be shared with the host: make it a slave first so the detach below
        // does not propagate unmounts to the host.
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys("make old root rslave", Path::new("/")))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(sys("detach old root", Path::new("/")))?;
    }
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))?;
    Ok(())
}

/// After pivot_root into a container that has its own /dev: stdio that is the host's /dev/null
/// becomes the container's (runc's reOpenDevNull). A file on a mount outside the container ties
/// it to the host, and CRIU cannot dump one: podman's conmon gives a detached container without
/// -i the host's /dev/null as stdin.
pub fn reopen_dev_null() -> Result<(), RootfsError> {
    let null = Path::new("/dev/null");
    let fd = nix::fcntl::open(
        null,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open", null))?;
    let rdev = nix::sys::stat::fstat(&fd)
        .map_err(sys("stat", null))?
        .st_rdev;
    for n in 0..3 {
        // SAFETY: the stdio numbers are valid for the call; a closed one only gives EBADF.
        let stdio = unsafe { BorrowedFd::borrow_raw(n) };
        if nix::sys::stat::fstat(stdio).is_ok_and(|st| st.st_rdev == rdev)
            // SAFETY: dup2 of our open fd onto a stdio number, which it replaces.
            && unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&fd), n) } < 0
        {
            return Err(sys("dup2 over stdio", null)(nix::Error::last()));
        }
    }
    Ok(())
}

/// After pivot_root: root.readonly, then read-only paths and masks, in runc's order (a mask
/// bound from a read-only /dev or root is read-only too), then rootfsPropagation on the new /.
pub fn finalize(spec: &Spec) -> Result<(), RootfsError> {
    mounts::remount_read_only_later(spec)?;
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let root = Path::new("/");
        mount(
            None::<&str>,
            root,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .or_else(|_| {
            // A remount must keep the locked flags (nodev, nosuid, ...) of the original mount.
            let flags = paths::locked_flags(root);
            mount(
                None::<&str>,
                root,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
                None::<&str>,
            )
        })
        .map_err(sys("remount read-only", root))?;
    }
    if let Some(l) = spec.linux().as_ref() {
        if let Some(paths) = l.readonly_paths() {
            readonly_paths(paths)?;
        }
        if let Some(paths) = l.masked_paths() {
            mask_paths(paths)?;
        }
    }
    // The new / is a bind of a mount made private before pivot_root: give it the propagation
    // asked for again (private it already is), recursively only for an `r` one, as runc ≥ 1.2
    // does. After pivot_root, so it applies to the container's root, never to the host's; last,
    // since the binds above fail (EINVAL) on an unbindable tree.
    if let Some((prop, recursive)) =
        root_propagation(spec)?.filter(|(p, _)| *p != MsFlags::MS_PRIVATE)
    {
        let rec = if recursive {
            MsFlags::MS_REC
        } else {
            MsFlags::empty()
        };
        set_root_propagation(prop | rec)?;
    }
    Ok(())
}
