//! A `type: cgroup` mount of config.json, showing what rt decided before clone (`CgroupMount`)
//! and laid out as runc lays it out. With cgroup v2 on the host: a cgroup2 mount (rooted at the
//! container's cgroup when it has a cgroup namespace). With v1 or hybrid: a tmpfs holding each
//! v1 hierarchy under its name, a fresh mount of it in a cgroup namespace (rooted at the
//! container's cgroup) or else a bind of the container's cgroup directory, and a symlink for
//! each controller of a merged hierarchy (`cpu -> cpu,cpuacct`).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::mount::{MsFlags, mount};

use super::mounts::{remount_bind, reopen};
use super::options::MountOptions;
use super::resolve::{self, Create, fd_path};
use crate::cgroups::CgroupMount;

/// runc mounts the tmpfs and fresh hierarchies with these whatever the options say (its
/// defaultMountFlags); only `ro` is taken from them.
const FORCED: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

pub(super) struct Request<'a> {
    pub root: &'a OwnedFd,
    pub dest: &'a Path,
    pub source: &'a Path,
    pub opts: &'a MountOptions,
    pub view: &'a CgroupMount,
    /// The container has a cgroup namespace (new or joined).
    pub cgroup_ns: bool,
}

impl Request<'_> {
    /// `target`: `dest` opened in root, with nothing mounted on it yet.
    pub fn run(&self, target: OwnedFd) -> Result<(), String> {
        let ro = match self.opts.flags.contains(MsFlags::MS_RDONLY) {
            true => MsFlags::MS_RDONLY,
            false => MsFlags::empty(),
        };
        let binds = match self.view {
            CgroupMount::Tmpfs(binds) => binds,
            CgroupMount::V2(own) => return self.v2(target, own),
        };
        mount(
            Some("tmpfs"),
            &fd_path(&target),
            Some("tmpfs"),
            FORCED,
            Some("mode=755"),
        )
        .map_err(|e| format!("mount tmpfs for cgroups: {e}"))?;
        drop(target);
        // The tmpfs just mounted, private to this mount namespace and holding nothing but what
        // we create below: each hierarchy's directory is resolved inside it, not again from the
        // container's root.
        let tmpfs = reopen(self.root, self.dest).map_err(|e| format!("reopen: {e}"))?;
        for (name, own) in binds {
            self.hierarchy(&tmpfs, name, own, ro)?;
        }
        for (link, to) in merged_links(binds.iter().map(|(n, _)| n.as_os_str())) {
            match nix::unistd::symlinkat(to, tmpfs.as_fd(), link.as_os_str()) {
                Ok(()) | Err(nix::Error::EEXIST) => {}
                Err(e) => return Err(format!("symlink {link:?} -> {to:?}: {e}")),
            }
        }
        if ro.is_empty() {
            return Ok(());
        }
        // runc leaves this tmpfs writable under `ro` (a runc bug, differential README); the
        // option says read-only.
        let tp = fd_path(&tmpfs);
        remount_bind(&tp, ro | FORCED)
            .or_else(|_| {
                mount(
                    None::<&str>,
                    &tp,
                    None::<&str>,
                    MsFlags::MS_REMOUNT | ro | FORCED,
                    Some("mode=755"),
                )
            })
            .map_err(|e| format!("remount cgroup tmpfs ro: {e}"))
    }

    /// One v1 hierarchy at `tmpfs/name`: in a cgroup namespace a fresh mount (rooted there, so at
    /// the container's cgroup), else, or where the kernel refuses that, a bind of `own`.
    fn hierarchy(
        &self,
        tmpfs: &OwnedFd,
        name: &OsStr,
        own: &Path,
        ro: MsFlags,
    ) -> Result<(), String> {
        let sub = self.dest.join(name);
        let t = resolve::create_dir_in(tmpfs.as_fd(), Path::new(name))
            .map_err(|e| format!("create {}: {e}", sub.display()))?;
        if self.cgroup_ns {
            // runc's names: the named systemd hierarchy is `name=systemd` with source `systemd`.
            let (source, data) = match name.as_bytes() {
                b"systemd" => (OsStr::new("systemd"), OsString::from("name=systemd")),
                _ => (OsStr::new("cgroup"), name.to_os_string()),
            };
            let fresh = mount(
                Some(source),
                &fd_path(&t),
                Some("cgroup"),
                FORCED | ro,
                Some(data.as_os_str()),
            );
            if fresh.is_ok() {
                return Ok(());
            }
        }
        if let Err(e) = mount(
            Some(own),
            &fd_path(&t),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        ) {
            // A hierarchy we have no cgroup in is left out (its directory stays empty); asking
            // the mount first saves a stat of every one that is there.
            if !own.exists() {
                return Ok(());
            }
            return Err(format!("bind {}: {e}", own.display()));
        }
        // Like runc, the bind is remounted only when the options set flags; otherwise it keeps
        // the host mount's.
        let flags = self
            .opts
            .flags
            .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if flags.is_empty() {
            return Ok(());
        }
        drop(t);
        let t = resolve::open_in_root(tmpfs.as_fd(), Path::new(name), Create::No)
            .map_err(|e| format!("reopen: {e}"))?;
        remount_bind(&fd_path(&t), flags).map_err(|e| format!("remount {}: {e}", sub.display()))
    }

    /// cgroup v2 alone: a cgroup2 mount with the config's source, flags and data (runc's
    /// mountCgroupV2). Without a cgroup namespace a fresh cgroup2 mount may be refused: bind our
    /// own cgroup then.
    fn v2(&self, target: OwnedFd, own: &Path) -> Result<(), String> {
        let flags = self
            .opts
            .flags
            .difference(MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_REC);
        let tpath = fd_path(&target);
        let data = self.opts.data_string();
        let fresh = mount(
            Some(self.source),
            &tpath,
            Some("cgroup2"),
            flags,
            data.as_deref(),
        );
        if fresh.is_ok() {
            return Ok(());
        }
        mount(
            Some(own),
            &tpath,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| format!("bind {}: {e}", own.display()))?;
        if flags.is_empty() {
            return Ok(());
        }
        drop(target);
        let t = reopen(self.root, self.dest).map_err(|e| format!("reopen: {e}"))?;
        remount_bind(&fd_path(&t), flags).map_err(|e| format!("remount: {e}"))
    }
}

/// For each hierarchy whose name merges controllers (`cpu,cpuacct`), a link per controller to
/// it, as runc makes (and as the host has): (link, target).
fn merged_links<'a>(names: impl Iterator<Item = &'a OsStr>) -> Vec<(OsString, &'a OsStr)> {
    names
        .filter(|n| n.as_bytes().contains(&b','))
        .flat_map(|n| {
            n.as_bytes()
                .split(|b| *b == b',')
                .map(move |part| (OsStr::from_bytes(part).to_os_string(), n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_hierarchies_get_a_link_per_controller() {
        let names = ["cpu,cpuacct", "memory", "net_cls,net_prio"].map(OsStr::new);
        let links = merged_links(names.into_iter());
        let want: Vec<(OsString, &OsStr)> = [
            ("cpu", "cpu,cpuacct"),
            ("cpuacct", "cpu,cpuacct"),
            ("net_cls", "net_cls,net_prio"),
            ("net_prio", "net_cls,net_prio"),
        ]
        .into_iter()
        .map(|(l, t)| (OsString::from(l), OsStr::new(t)))
        .collect();
        assert_eq!(links, want);
    }
}
