//! One entry of config.json `mounts`, mounted at its destination resolved inside the rootfs.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Mount;

use super::options::{self, MountOptions};
use super::resolve::{self, Create, fd_path};
use super::{RootfsContext, RootfsError};

pub fn mount_one(
    ctx: &RootfsContext,
    root: &OwnedFd,
    index: usize,
    m: &Mount,
) -> Result<(), RootfsError> {
    let dest = m.destination();
    let err = |msg: String| RootfsError::Mount {
        index,
        dest: dest.display().to_string(),
        msg,
    };
    let mut opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if opts.is_bind() { "bind" } else { "" });
    let is_bind = opts.is_bind() || typ == "bind";
    if read_only_later(m) {
        // /dev is filled after the mounts and a tmpfs may get mounts on top: read-only comes
        // at finalize (remount_read_only_later), as runc does.
        opts.flags.remove(MsFlags::MS_RDONLY);
    }
    if typ.is_empty() && !is_bind {
        return Err(err("type is required for non-bind mounts".into()));
    }
    // No source is an empty one, as in runc (mountinfo shows none, not a made-up name).
    let source = m.source().clone().unwrap_or_default();

    if is_bind {
        let src = super::sources::host_path(&source, ctx.bundle);
        let idmapped = ctx.idmapped.get(index);
        if idmapped.is_none() && super::idmap::wanted(m) {
            return Err(err(
                "idmapped mount was not prepared by rt before clone".into()
            ));
        }
        // The source as an fd: the idmapped copy rt made before clone (idmap.rs), the source
        // rt opened for us in our mount namespace when we are in a user namespace that may not
        // reach it (sources.rs), or else opened here. Everything below uses only the fd.
        let opened_here;
        let source_fd = match idmapped.or_else(|| ctx.host_opened.get(index)) {
            Some(fd) => fd,
            None => {
                opened_here = nix::fcntl::open(
                    &src,
                    nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| err(format!("bind source {}: {e}", src.display())))?;
                opened_here.as_fd()
            }
        };
        let is_dir = nix::sys::stat::fstat(source_fd)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .map_err(|e| err(format!("stat bind source {}: {e}", src.display())))?;
        // A fake procfs/sysfs (any directory bound where the container expects the kernel's
        // view, or typed proc/sysfs) would let masked and read-only paths protect nothing.
        let kernel_fs = match (typ, resolve::relative(dest).to_str()) {
            ("proc", _) | (_, Some("proc")) => Some(("procfs", libc::PROC_SUPER_MAGIC)),
            ("sysfs", _) | (_, Some("sys")) => Some(("sysfs", libc::SYSFS_MAGIC)),
            _ => None,
        };
        if let Some((name, magic)) = kernel_fs {
            let st = nix::sys::statfs::fstatfs(source_fd)
                .map_err(|e| err(format!("statfs bind source {}: {e}", src.display())))?;
            if st.filesystem_type().0 != magic {
                return Err(err(format!(
                    "bind source {} is not a {name}; refusing a fake {name}",
                    src.display()
                )));
            }
        }
        let create = if is_dir { Create::Dir } else { Create::File };
        let target = resolve::open_in_root(root.as_fd(), dest, create)
            .map_err(|e| err(format!("resolve destination in rootfs: {e}")))?;
        if let Some(tree) = idmapped {
            // rt made the idmapped copy before clone (idmap.rs): only attach it here.
            super::idmap::attach(tree, target.as_fd())
                .map_err(|e| err(format!("move_mount idmapped {}: {e}", src.display())))?;
        } else {
            let tpath = fd_path(&target);
            let bind = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
            mount(
                Some(&fd_path(source_fd)),
                &tpath,
                None::<&str>,
                bind,
                None::<&str>,
            )
            .map_err(|e| err(format!("bind {}: {e}", src.display())))?;
        }
        // A bind mount ignores every flag but MS_REC; apply the rest with a remount of the new
        // mount. Both that and finish() need the new mount, which the fd above (naming the
        // directory below it) is not: reopen once for the two.
        // difference(), not `& !`: `!` on MsFlags drops MS_NOSYMFOLLOW, which nix does not name.
        let extra = opts
            .flags
            .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
            & remount_flags();
        if extra.is_empty() && !needs_finish(&opts) {
            return Ok(());
        }
        drop(target);
        let target = reopen(root, dest).map_err(|e| err(format!("reopen: {e}")))?;
        if !extra.is_empty() {
            remount_bind(&fd_path(&target), extra)
                .map_err(|e| err(format!("remount with {extra:?}: {e}")))?;
        }
        finish(&target, &opts).map_err(err)?;
        return Ok(());
    }

    if matches!(typ, "proc" | "sysfs") {
        ordinary_directory(root, dest, typ).map_err(err)?;
    }
    let target = resolve::open_in_root(root.as_fd(), dest, Create::Dir)
        .map_err(|e| err(format!("resolve destination in rootfs: {e}")))?;
    if matches!(typ, "cgroup" | "cgroup2") {
        let cgroup_ns = ctx.spec.linux().as_ref().is_some_and(|l| {
            l.namespaces()
                .iter()
                .flatten()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Cgroup)
        });
        let mount = super::cgroup_mount::Request {
            root,
            dest,
            source: &source,
            opts: &opts,
            view: ctx.cgroup,
            cgroup_ns,
        };
        return mount.run(target).map_err(err);
    }
    let data = match typ {
        // linux.mountLabel labels the container's own filesystems, not the kernel's views.
        "proc" | "sysfs" | "mqueue" => opts.data_string(),
        _ => crate::security::lsm::mount_data(
            opts.data_string(),
            ctx.spec
                .linux()
                .as_ref()
                .and_then(|l| l.mount_label().as_deref()),
        ),
    };
    let flags = opts.flags.difference(MsFlags::MS_REMOUNT);
    let tpath = fd_path(&target);
    // tmpcopyup: the directory opened before the tmpfs hides it, copied into it once mounted.
    let lower = match (typ, opts.copy_up) {
        ("tmpfs", true) => Some(
            super::copy_up::open_dir(target.as_fd())
                .map_err(|e| err(format!("tmpcopyup: open {}: {e}", dest.display())))?,
        ),
        _ => None,
    };
    let r = mount(Some(&source), &tpath, Some(typ), flags, data.as_deref());
    let r = match r {
        // Some filesystems (mqueue, sysfs in a user ns) reject flags the mount inherits as
        // locked; runc retries sysfs without them by bind-mounting the host's.
        Err(nix::Error::EPERM) if typ == "sysfs" => mount(
            Some("/sys"),
            &tpath,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ),
        r => r,
    };
    r.map_err(|e| err(format!("mount {} type {typ}: {e}", source.display())))?;
    if lower.is_none() && !needs_finish(&opts) {
        return Ok(());
    }
    drop(target);
    let target = reopen(root, dest).map_err(|e| err(format!("reopen: {e}")))?;
    if let Some(lower) = lower {
        let upper = super::copy_up::open_dir(target.as_fd())
            .map_err(|e| err(format!("tmpcopyup: open the new tmpfs: {e}")))?;
        super::copy_up::copy_tree(lower, upper).map_err(|e| err(format!("tmpcopyup: {e}")))?;
    }
    finish(&target, &opts).map_err(err)
}

/// procfs and sysfs go on a plain directory of the rootfs (or where one will be made), never
/// on a symlink, a file or a device: mounting through a symlink there is how several escapes
/// began (runc: "must be mounted on ordinary directory").
fn ordinary_directory(root: &OwnedFd, dest: &Path, typ: &str) -> Result<(), String> {
    let refuse = || format!("filesystem {typ:?} must be mounted on ordinary directory");
    let rel = resolve::relative(dest);
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(refuse());
    };
    let dir = match parent.as_os_str().is_empty() {
        true => None,
        false => Some(
            resolve::open_dir_in_root(root.as_fd(), parent, Create::Dir)
                .map_err(|e| format!("resolve destination in rootfs: {e}"))?,
        ),
    };
    match nix::sys::stat::fstatat(
        dir.as_ref().map_or(root.as_fd(), |d| d.as_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => Ok(()),
        Ok(_) => Err(refuse()),
        Err(nix::Error::ENOENT) => Ok(()),
        Err(e) => Err(format!("stat destination: {e}")),
    }
}

/// Is this the container's /dev?
pub fn is_dev(m: &Mount) -> bool {
    resolve::relative(m.destination()) == Path::new("dev")
}

/// A tmpfs or /dev asked to be read-only is mounted read-write and made read-only at finalize,
/// after /dev was filled and the mounts on top of them were made (runc's mountPropagate).
fn read_only_later(m: &Mount) -> bool {
    m.typ().as_deref() == Some("tmpfs") || is_dev(m)
}

/// The second half of [`read_only_later`]: after pivot_root, remount those read-only.
pub fn remount_read_only_later(spec: &oci_spec::runtime::Spec) -> Result<(), RootfsError> {
    let mut root = None;
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
        if !read_only_later(m) || !opts.flags.contains(MsFlags::MS_RDONLY) {
            continue;
        }
        let err = |msg: String| RootfsError::Mount {
            index,
            dest: m.destination().display().to_string(),
            msg,
        };
        let root = match &root {
            Some(r) => r,
            None => root.insert(
                resolve::open_root(Path::new("/")).map_err(|e| err(format!("open /: {e}")))?,
            ),
        };
        let target = reopen(root, m.destination()).map_err(|e| err(format!("reopen: {e}")))?;
        remount_bind(&fd_path(&target), opts.flags & remount_flags())
            .map_err(|e| err(format!("remount read-only: {e}")))?;
    }
    Ok(())
}

fn remount_flags() -> MsFlags {
    MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_NOATIME
        | MsFlags::MS_NODIRATIME
        | MsFlags::MS_RELATIME
        | MsFlags::MS_STRICTATIME
        | options::MS_NOSYMFOLLOW
        | MsFlags::MS_SYNCHRONOUS
}

pub(super) fn reopen(root: &OwnedFd, dest: &Path) -> nix::Result<OwnedFd> {
    resolve::open_in_root(root.as_fd(), dest, Create::No)
}

/// Remount a bind mount with `flags`; when the kernel insists on keeping locked flags (a mount
/// inherited from a more privileged namespace), retry with them added.
pub fn remount_bind(target: &Path, flags: MsFlags) -> nix::Result<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(
        None::<&str>,
        target,
        None::<&str>,
        base | flags,
        None::<&str>,
    ) {
        Err(nix::Error::EPERM) => {
            let locked = super::paths::locked_flags(target);
            mount(
                None::<&str>,
                target,
                None::<&str>,
                base | flags | locked,
                None::<&str>,
            )
        }
        r => r,
    }
}

fn needs_finish(opts: &MountOptions) -> bool {
    !opts.propagation.is_empty() || opts.rec_set != 0 || opts.rec_clear != 0
}

/// Propagation and recursive attributes, applied to the mount now on the destination
/// (`target`, opened after the mount).
fn finish(target: &OwnedFd, opts: &MountOptions) -> Result<(), String> {
    if !needs_finish(opts) {
        return Ok(());
    }
    for p in &opts.propagation {
        mount(
            None::<&str>,
            &fd_path(target),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .map_err(|e| format!("set propagation {p:?}: {e}"))?;
    }
    if opts.rec_set != 0 || opts.rec_clear != 0 {
        let attr = super::idmap::MountAttr {
            attr_set: opts.rec_set,
            attr_clr: opts.rec_clear,
            propagation: 0,
            userns_fd: 0,
        };
        super::idmap::setattr(target.as_fd(), true, &attr)
            .map_err(|e| format!("mount_setattr (recursive options): {e}"))?;
    }
    Ok(())
}
