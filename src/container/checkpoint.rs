//! `checkpoint ID`: dump a running container's processes with CRIU into an images directory,
//! as runc does; then, unless it is left running or this is a pre-dump, take it down.

use std::os::fd::AsRawFd;
use std::path::Path;

use oci_spec::runtime::LinuxNamespaceType;

use super::{Container, ContainerError, Result, Status, delete, io_err};
use crate::criu::config::{self, External};
use crate::criu::proto::{Flag, Int, Pair, ReqType, Text};
use crate::criu::{self, Options, Swrk};
use crate::state::{DirLock, Root};

/// The init's stdio as the images record it, so restore can hand new pipes in their place.
pub const DESCRIPTORS: &str = "descriptors.json";
const LOG: &str = "dump.log";

pub fn checkpoint(root: &Root, id: &str, o: &Options) -> Result<()> {
    crate::state::validate_id(id)?;
    let _lock = DirLock::acquire(&root.dir(id))?;
    let c = Container::load(root, id)?;
    let status = c.status();
    if matches!(status, Status::Created | Status::Stopped) {
        return Err(ContainerError::Usage(format!(
            "container cannot be checkpointed in {status} state"
        )));
    }
    let spec = c.config()?;
    let images = criu::open_dir(&o.image_path, true)?;
    if let Some(parent) = &o.parent_path {
        criu::check_parent(&o.image_path, parent)?;
    }
    let work = match &o.work_path {
        Some(w) => Some(criu::open_dir(w, true)?),
        None => None,
    };
    let mut opts = o.base(
        images.as_raw_fd(),
        work.as_ref().map(|w| w.as_raw_fd()),
        LOG,
    );
    let pid = c.record.pid;
    opts.int(Int::Pid, pid.into());
    opts.text(Text::Root, &c.record.rootfs);
    opts.flag(Flag::LeaveRunning, o.leave_running);
    if let Some((addr, port)) = &o.page_server {
        opts.page_server(addr, *port);
    }
    if let Some(f) = config::config_file(spec.annotations().as_ref()) {
        opts.text(Text::ConfigFile, f);
    }
    // A network or pid namespace the container joined is not its own: CRIU records it as
    // external, and restore hands it back.
    for (t, path) in config::joined(&spec) {
        if !matches!(t, LinuxNamespaceType::Network | LinuxNamespaceType::Pid) {
            continue;
        }
        let ino = std::fs::metadata(&path)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .map_err(io_err(format!("stat {}", path.display())))?;
        let key = config::external_ns_key(t);
        let name = crate::namespaces::proc_name(t);
        opts.text(Text::External, format!("{name}[{ino}]:{key}"));
    }
    // The cgroup freezer stops the whole container at once (ptrace otherwise).
    let cg = match &c.record.cgroup_path {
        Some(p) => Some(crate::cgroups::load_manager(p, c.record.systemd_cgroup)?),
        None => None,
    };
    if let Some(dir) = cg
        .as_ref()
        .and_then(|m| m.layout().v1_dir("freezer").or(m.layout().unified_dir()))
    {
        opts.text(Text::FreezeCgroup, dir);
    }
    if let Some(parent) = &o.parent_path {
        opts.text(Text::ParentImg, parent);
        opts.flag(Flag::TrackMem, true);
    }
    let kind = if o.pre_dump {
        ReqType::PreDump
    } else {
        // A pre-dump only copies memory; the final dump also needs the mounts CRIU cannot dump
        // by themselves, and the init's stdio.
        let mut ext = config::binds_and_devices(&spec, &c.record.bundle, &c.record.rootfs);
        if let Some(m) = &cg {
            ext.extend(config::cgroup_binds(&spec, &m.cgroup_mount()));
        }
        for External { dest, .. } in ext {
            opts.pair(Pair::ExtMnt, &dest, &dest);
        }
        // Masked files are binds of /dev/null (directories are a tmpfs CRIU dumps itself):
        // recorded as the external "/dev/null", which restore maps back (runc's way).
        for m in masked_files(&spec, pid) {
            opts.pair(Pair::ExtMnt, m, "/dev/null");
        }
        write_descriptors(&o.image_path, pid)?;
        ReqType::Dump
    };
    let log = o.log_path(LOG);
    let mut s = Swrk::start(&o.criu, &[])?;
    s.call(kind, &opts, &log, &mut |_, _, _| Ok(()))?;
    s.finish(kind, &log)?;
    if kind == ReqType::Dump && !o.leave_running {
        delete::destroy(root, &c)?;
    }
    Ok(())
}

/// The masked paths that are files in the container.
fn masked_files(spec: &oci_spec::runtime::Spec, pid: i32) -> Vec<String> {
    let masked = spec.linux().as_ref().and_then(|l| l.masked_paths().clone());
    masked
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            let inside = format!("/proc/{pid}/root/{}", p.trim_start_matches('/'));
            std::fs::metadata(inside).is_ok_and(|m| !m.is_dir())
        })
        .collect()
}

/// What init's fds 0-2 are (`pipe:[123]`, `/dev/null`, ...), as runc writes them.
fn write_descriptors(images: &Path, pid: i32) -> Result<()> {
    let fds: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|l| l.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    let path = images.join(DESCRIPTORS);
    let data = serde_json::Value::from(fds).to_string();
    crate::state::write_atomic(&path, data.as_bytes(), 0o600)?;
    Ok(())
}
