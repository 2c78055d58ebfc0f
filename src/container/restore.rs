//! `restore ID`: a new container (any id) from a CRIU checkpoint and a bundle, as runc does it:
//! rt makes the state dir and the cgroup, CRIU recreates the processes (as rt's children, so a
//! foreground restore can wait for them), and rt records the restored init.
//!
//! CRIU wants the root as a mount point whose parent is not overmounted: as runc does, rt binds
//! the rootfs onto `<state dir>/criu-root` for the restore. That is in rt's mount namespace:
//! criu must share it, as it opens the directories rt names through /proc/<rt>/fd and mounts
//! in them (its cgroup yard).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigSet, Signal};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::create::{Rollback, cgroup_manager, write_pid_file};
use super::run::{FORWARDED, wait_foreground};
use super::{Container, ContainerError, Result, Status, checkpoint::DESCRIPTORS, io_err, sys_err};
use crate::cgroups::CgroupMount;
use crate::criu::config;
use crate::criu::proto::{Flag, Pair, ReqType, Text};
use crate::criu::{self, Options, Swrk};
use crate::rootfs::{options, resolve};
use crate::state::{Record, Root};
use crate::{hooks, spec, timefmt};

const LOG: &str = "restore.log";
const CRIU_ROOT: &str = "criu-root";

pub struct RestoreOpts<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub criu: Options,
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub systemd_cgroup: bool,
}

/// Returns the exit code: 0 once detached, else the container's.
pub fn restore(root: &Root, o: &RestoreOpts) -> Result<i32> {
    crate::state::validate_id(o.id)?;
    let bundle = std::fs::canonicalize(o.bundle)
        .map_err(io_err(format!("bundle {}", o.bundle.display())))?;
    let (config_json, spec) = spec::load_raw(&bundle)?;
    let rootfs = spec::validate(&spec, &bundle)?;
    let terminal = spec
        .process()
        .as_ref()
        .is_some_and(|p| p.terminal() == Some(true));
    super::check_console_flags(o.detach, terminal, o.console_socket.is_some())?;
    let c = &o.criu;
    let images = criu::open_dir(&c.image_path, false)?;
    let descriptors = read_descriptors(&c.image_path)?;
    let joined = config::joined(&spec);
    if joined.iter().any(|(t, _)| *t == LinuxNamespaceType::Cgroup) {
        return Err(ContainerError::Usage(
            "linux.namespaces: CRIU cannot restore into a cgroup namespace joined by path".into(),
        ));
    }

    let linux = spec.linux().as_ref();
    let resources = linux.and_then(|l| l.resources().clone());
    let (mut cg, cgroup_owned) = cgroup_manager(&spec, o.id, o.systemd_cgroup, resources)?;
    let record = Record {
        id: o.id.to_string(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: timefmt::rfc3339_now(true),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_path: Some(cg.path().to_path_buf()),
        systemd_cgroup: o.systemd_cgroup,
        cgroup_owned,
        hooks: spec.hooks().clone(),
        // CRIU restores the processes' keyrings with them.
        no_new_keyring: false,
        rdt_group: None,
        rdt_group_owned: false,
        rdt_monitor: None,
    };
    let dir = root.claim(o.id, &record, &config_json)?;
    // Undo for a restore that failed: the restored processes, the cgroup and the state dir.
    let mut rollback = Rollback::new(root, o.id, cgroup_owned);
    cg.create().inspect_err(|_| {
        let _ = cg.destroy();
    })?;
    let cg = &mut **rollback.cgroup.insert(cg);

    prepare_mount_points(&spec, &bundle, &rootfs)?;
    let criu_root = CriuRoot::bind(&rootfs, &dir)?;
    let work = match &c.work_path {
        Some(w) => Some(criu::open_dir(w, true)?),
        None => None,
    };
    let mut opts = c.base(
        images.as_raw_fd(),
        work.as_ref().map(|w| w.as_raw_fd()),
        LOG,
    );
    opts.flag(Flag::EvasiveDevices, true);
    opts.flag(Flag::RstSibling, true);
    opts.text(Text::Root, &criu_root.0);
    if let Some(f) = config::config_file(spec.annotations().as_ref()) {
        opts.text(Text::ConfigFile, f);
    }
    if let Some(p) = &c.lsm_profile {
        opts.text(Text::LsmProfile, p);
    }
    if let Some(m) = &c.lsm_mount_context {
        opts.text(Text::LsmMountContext, m);
    }
    // Namespaces joined by path: CRIU joins uts, ipc, ... itself; a network or pid namespace
    // was recorded as external at dump, and is handed over as an fd of criu's under that key.
    let mut ns_fds: Vec<OwnedFd> = Vec::new();
    for (t, path) in &joined {
        let name = crate::namespaces::proc_name(*t);
        if !matches!(t, LinuxNamespaceType::Network | LinuxNamespaceType::Pid) {
            opts.pair(Pair::JoinNs, name, path);
            continue;
        }
        let fd = std::fs::File::open(path).map_err(io_err(format!(
            "requested {name} namespace {} does not exist",
            path.display()
        )))?;
        // criu's fds: 3 is the socket, the namespaces follow.
        opts.inherit_fd(&config::external_ns_key(*t), 4 + ns_fds.len() as i32);
        ns_fds.push(fd.into());
    }
    // The mounts CRIU recorded as external, now given their sources.
    for e in config::binds_and_devices(&spec, &bundle, &rootfs) {
        opts.pair(Pair::ExtMnt, &e.dest, &e.source);
    }
    if linux.is_some_and(|l| l.masked_paths().as_ref().is_some_and(|m| !m.is_empty())) {
        opts.pair(Pair::ExtMnt, "/dev/null", "/dev/null");
    }
    // The init's pipes at dump are replaced by criu's own stdio, which is rt's.
    for (fd, what) in descriptors.iter().enumerate() {
        if what.contains("pipe:") {
            opts.inherit_fd(what, fd as i32);
        }
    }

    let mut mask = SigSet::empty();
    if !o.detach {
        // Blocked before the container exists, so no signal to forward is lost.
        FORWARDED.iter().for_each(|s| mask.add(*s));
        mask.add(Signal::SIGCHLD);
        mask.thread_block().map_err(sys_err("block signals"))?;
    }
    let borrowed: Vec<_> = ns_fds.iter().map(|f| f.as_fd()).collect();
    let mut s = Swrk::start(&c.criu, &borrowed)?;
    // CRIU puts the processes in its own cgroup: the container's (a systemd scope is made
    // around it, as runc applies its manager to CRIU's pid).
    cg.place_init(s.pid())?;
    let criu_cgroup =
        crate::procfs::read_to_string(Path::new(&format!("/proc/{}/cgroup", s.pid())), 4096)
            .map_err(io_err("read criu's cgroup"))?;
    let view = cg.cgroup_mount();
    if matches!(view, CgroupMount::Tmpfs(_)) {
        for (ctrl, path) in cg_roots(&criu_cgroup) {
            opts.pair(Pair::CgRoot, ctrl, path);
        }
    }
    for e in config::cgroup_binds(&spec, &view) {
        opts.pair(Pair::ExtMnt, &e.dest, &e.source);
    }

    // The record goes into the container the hooks see, and comes back after.
    let mut draft = Container {
        record,
        dir: dir.clone(),
    };
    let mut console: Option<OwnedFd> = None;
    let mut restored_pid = 0;
    let log = c.log_path(LOG);
    let resp = s.call(ReqType::Restore, &opts, &log, &mut |script, pid, fd| {
        match script {
            // The namespaces exist, nothing runs yet: the runtime's hooks, as at create.
            "setup-namespaces" => {
                draft.record.pid = pid;
                let state = draft.hook_state(Status::Creating);
                if let Some(h) = draft.hooks() {
                    for (kind, list) in [
                        ("prestart", h.prestart()),
                        ("createRuntime", h.create_runtime()),
                    ] {
                        hooks::run_all_in(
                            kind,
                            list.as_deref().unwrap_or_default(),
                            &state,
                            &bundle,
                        )
                        .map_err(|e| e.to_string())?;
                    }
                }
            }
            // The container's terminal: CRIU made a new pty and passes its master.
            "orphan-pts-master" => {
                let master = fd.ok_or("criu sent orphan-pts-master without an fd")?;
                match o.console_socket {
                    Some(sock) => crate::tty::send_to_socket(sock, master.as_fd())
                        .map_err(|e| e.to_string())?,
                    None if terminal => console = Some(master),
                    None => {
                        return Err(
                            "the checkpoint has a terminal but process.terminal is false".into(),
                        );
                    }
                }
            }
            "post-restore" => restored_pid = pid,
            _ => {}
        }
        Ok(())
    })?;
    s.finish(ReqType::Restore, &log)?;
    drop(criu_root);
    let mut record = draft.record;
    record.pid = resp.restore_pid.filter(|p| *p > 0).unwrap_or(restored_pid);
    record.pid_start_time = crate::procfs::start_time(record.pid).unwrap_or(0);
    record.save(&dir)?;
    if let Some(p) = o.pid_file {
        write_pid_file(p, record.pid)?;
    }
    rollback.armed = false;
    if o.detach {
        return Ok(0);
    }
    let code = wait_foreground(record.pid, &mask, console, None)?;
    super::delete(root, o.id, true)?;
    Ok(code)
}

/// runc's descriptors.json from the images: what the init's fds 0-2 were.
fn read_descriptors(images: &Path) -> Result<Vec<String>> {
    let path = images.join(DESCRIPTORS);
    let data = std::fs::read(&path).map_err(io_err(format!("read {}", path.display())))?;
    // A Value, whose parser rt has anyway, rather than one more for Vec<String>.
    let v: serde_json::Value = serde_json::from_slice(&data)
        .map_err(|e| ContainerError::Usage(format!("{}: {e}", path.display())))?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect())
}

/// `cg_root` for v1 and hybrid hosts: each controller's cgroup of criu, where it must put the
/// processes (runc's, from /proc/<criu>/cgroup).
fn cg_roots(proc_cgroup: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        for ctrl in ctrls.split(',') {
            out.push((ctrl.to_string(), path.to_string()));
        }
    }
    out
}

/// The rootfs bound on `<state dir>/criu-root` for the time of the restore.
struct CriuRoot(PathBuf);

impl CriuRoot {
    fn bind(rootfs: &Path, dir: &Path) -> Result<CriuRoot> {
        let target = dir.join(CRIU_ROOT);
        std::fs::create_dir(&target).map_err(io_err(format!("mkdir {}", target.display())))?;
        let root = CriuRoot(target);
        nix::mount::mount(
            Some(rootfs),
            &root.0,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys_err(format!("bind {} for criu", rootfs.display())))?;
        Ok(root)
    }
}

impl Drop for CriuRoot {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Make the mount points a fresh copy of the rootfs may lack, as create would: CRIU mounts on
/// them but does not create them. Those under a tmpfs are left out (CRIU restores the tmpfs
/// with its contents); one inside a bind mount is made in that mount's source.
fn prepare_mount_points(spec: &Spec, bundle: &Path, rootfs: &Path) -> Result<()> {
    let mounts: Vec<_> = spec.mounts().iter().flatten().collect();
    let dest =
        |m: &oci_spec::runtime::Mount| Path::new("/").join(resolve::relative(m.destination()));
    let is_bind = |m: &oci_spec::runtime::Mount| {
        m.typ().as_deref() == Some("bind")
            || options::parse(m.options().as_deref().unwrap_or(&[])).is_bind()
    };
    for (i, m) in mounts.iter().enumerate() {
        let d = dest(m);
        if matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")) {
            continue;
        }
        let under = |pred: &dyn Fn(&oci_spec::runtime::Mount) -> bool| {
            mounts[..i]
                .iter()
                .filter(|p| pred(p) && d.starts_with(dest(p)) && d != dest(p))
                .max_by_key(|p| dest(p).components().count())
                .map(|p| (dest(p), *p))
        };
        if under(&|p| p.typ().as_deref() == Some("tmpfs")).is_some() {
            continue;
        }
        let (base, rel) = match under(&is_bind) {
            Some((pd, p)) => (
                crate::rootfs::sources::host_path(
                    p.source().as_deref().unwrap_or(Path::new("")),
                    bundle,
                ),
                d.strip_prefix(&pd)
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            ),
            None => (rootfs.to_path_buf(), d.clone()),
        };
        let file = is_bind(m)
            && m.source()
                .as_deref()
                .is_some_and(|s| !crate::rootfs::sources::host_path(s, bundle).is_dir());
        let root =
            resolve::open_root(&base).map_err(sys_err(format!("open {}", base.display())))?;
        let create = if file {
            resolve::Create::File
        } else {
            resolve::Create::Dir
        };
        resolve::open_in_root(root.as_fd(), &rel, create).map_err(sys_err(format!(
            "mounts[{i}]: create mount point {}",
            d.display()
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_roots_split_controllers() {
        assert_eq!(
            cg_roots("4:cpu,cpuacct:/c\n1:name=systemd:/c\n0::/c\n"),
            [
                ("cpu".to_string(), "/c".to_string()),
                ("cpuacct".into(), "/c".into()),
                ("name=systemd".into(), "/c".into()),
                ("".into(), "/c".into()),
            ]
        );
    }

    #[test]
    fn mount_points_made_in_rootfs_and_in_bind_sources_not_in_tmpfs() {
        let t = crate::testutil::TempDir::new("restore-mp");
        let rootfs = t.path().join("rootfs");
        let src = t.path().join("data");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(t.path().join("file"), "").unwrap();
        let s: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
                {"destination": "/data", "type": "bind", "source": "data"},
                {"destination": "/data/sub/x", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/etc/f", "type": "bind", "source": "file"},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
            ]
        }))
        .unwrap();
        prepare_mount_points(&s, t.path(), &rootfs).unwrap();
        assert!(rootfs.join("proc").is_dir());
        assert!(rootfs.join("dev").is_dir());
        assert!(!rootfs.join("dev/shm").exists(), "under a tmpfs");
        assert!(rootfs.join("data").is_dir());
        assert!(
            src.join("sub/x").is_dir(),
            "inside a bind: made in its source"
        );
        assert!(!rootfs.join("data/sub").exists());
        assert!(rootfs.join("etc/f").is_file());
        assert!(!rootfs.join("sys/fs/cgroup").exists());
    }
}
