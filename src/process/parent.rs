//! rt's side of starting init: clone it into its namespaces and cgroup, answer its requests, and
//! return once it waits on exec.fifo. Step numbers match msg.rs.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use super::channel::{self, Channel};
use super::clone::clone3;
use super::exec_init::{self, ExecConfig};
use super::init::{self, InitConfig};
use super::msg::Msg;
use super::plan::ClonePlan;
use super::userns;
use crate::cgroups::Manager;

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("clone container init: {0}")]
    Clone(nix::Error),
    #[error(transparent)]
    Channel(#[from] channel::ChannelError),
    /// An error raised inside init: its text is the cause, passed on unchanged.
    #[error("{0}")]
    Init(String),
    #[error("{0}")]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("user namespace mapping: {0}")]
    Maps(std::io::Error),
    #[error("{0}")]
    Parent(String),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
}

pub struct Spawned {
    /// Host pid of the container's init.
    pub pid: i32,
    pub console: Option<OwnedFd>,
}

/// The parent's reactions to init's requests.
pub trait Callbacks {
    /// Step 5: prestart and createRuntime hooks (init's pid is known by now).
    fn runtime_hooks(&mut self, pid: i32) -> Result<(), String>;
    /// Step 6: the seccomp notify listener.
    fn seccomp_listener(&mut self, pid: i32, fd: OwnedFd) -> Result<(), String>;
}

pub fn spawn(
    cfg: &InitConfig,
    spec: &Spec,
    mut cgroup: Option<&mut (dyn Manager + 'static)>,
    callbacks: &mut dyn Callbacks,
) -> Result<Spawned, SpawnError> {
    let cgroup_fd = cgroup
        .as_ref()
        .and_then(|c| c.clone_into_fd())
        .map(|fd| fd.as_raw_fd());
    let mut place = |pid: i32| match cgroup.as_deref_mut() {
        Some(cg) => cg.place_init(pid),
        None => Ok(()),
    };
    // Idmapped mounts need rights over the source's superblock that init in a user namespace
    // lacks: rt makes them now, while single-threaded and still root, and init inherits the fds.
    let idmapped = crate::rootfs::idmap::prepare(spec, cfg.bundle)?;
    // Bind sources init asks us to open for it (step 9), decided as init decides it.
    let sources =
        crate::rootfs::sources::wanted(cfg.spec, cfg.bundle, cfg.plan.in_user_namespace());
    let (spawned, _chan) = spawn_with(
        cfg.plan,
        spec,
        cgroup_fd,
        &mut place,
        &sources,
        callbacks,
        |chan| init::run(cfg, &idmapped, chan),
    )?;
    Ok(spawned)
}

/// `exec`: start a process in a running container's namespaces. `place` puts it into the
/// container's cgroup (or a sub-cgroup) unless clone3 already did through `cgroup_fd`. Returns
/// once the process has exec'd the program (or failed to).
pub fn spawn_exec(
    cfg: &ExecConfig,
    spec: &Spec,
    cgroup_fd: Option<RawFd>,
    place: &mut dyn FnMut(i32) -> Result<(), crate::cgroups::CgroupError>,
    callbacks: &mut dyn Callbacks,
) -> Result<Spawned, SpawnError> {
    let (spawned, chan) = spawn_with(cfg.plan, spec, cgroup_fd, place, &[], callbacks, |chan| {
        exec_init::run(cfg, chan)
    })?;
    // Step 8: execve closes the (CLOEXEC) channel; an Error instead means it failed.
    match chan.recv("exec") {
        Err(channel::ChannelError::Closed(_)) => Ok(spawned),
        Ok((Msg::Error(m), _)) => {
            let _ = waitpid(Pid::from_raw(spawned.pid), None);
            Err(SpawnError::Init(m))
        }
        Ok((other, _)) => Err(channel::ChannelError::Protocol {
            expected: "exec",
            got: other.name(),
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

fn spawn_with(
    plan: &ClonePlan,
    spec: &Spec,
    cgroup_fd: Option<RawFd>,
    place: &mut dyn FnMut(i32) -> Result<(), crate::cgroups::CgroupError>,
    mount_sources: &[(usize, PathBuf)],
    callbacks: &mut dyn Callbacks,
    // Runs in the child; never returns in practice (it execs or exits).
    child: impl FnOnce(&Channel),
) -> Result<(Spawned, Channel), SpawnError> {
    let (ours, theirs) = channel::pair()?;
    let cloned = clone3(plan.clone_flags, cgroup_fd).map_err(SpawnError::Clone)?;
    if cloned.pid == 0 {
        drop(ours);
        child(&theirs);
        // SAFETY: unreachable in practice; if the child code ever returned, end the forked
        // process without running the parent's atexit handlers.
        unsafe { libc::_exit(1) }
    }
    drop(theirs);
    let mut guard = KillGuard {
        pids: vec![cloned.pid],
    };
    let result = drive(
        plan,
        spec,
        place,
        mount_sources,
        callbacks,
        &ours,
        cloned.pid,
        cloned.in_cgroup,
        &mut guard,
    );
    if result.is_ok() {
        guard.pids.clear();
    }
    result.map(|s| (s, ours))
}

#[allow(clippy::too_many_arguments)]
fn drive(
    plan: &ClonePlan,
    spec: &Spec,
    place: &mut dyn FnMut(i32) -> Result<(), crate::cgroups::CgroupError>,
    mount_sources: &[(usize, PathBuf)],
    callbacks: &mut dyn Callbacks,
    chan: &Channel,
    first: i32,
    in_cgroup: bool,
    guard: &mut KillGuard,
) -> Result<Spawned, SpawnError> {
    // Step 1: place the child before it runs any container code.
    if !in_cgroup {
        place(first)?;
    }
    let uid_maps = spec
        .linux()
        .as_ref()
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid_maps = spec
        .linux()
        .as_ref()
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    if plan.new_user && !plan.unshare_user {
        userns::write_maps(first, &uid_maps, &gid_maps).map_err(SpawnError::Maps)?;
    }
    chan.send(&Msg::Proceed)?;
    let mut pid = first;
    let mut console = None;
    loop {
        let (msg, fd) = match chan.recv("Ready") {
            Ok(m) => m,
            Err(channel::ChannelError::Closed(_)) => {
                return Err(SpawnError::Init(format!(
                    "container init exited before it was ready{}",
                    exit_note(pid)
                )));
            }
            Err(e) => return Err(e.into()),
        };
        match msg {
            // Step 2
            Msg::MapIds => {
                userns::write_maps(pid, &uid_maps, &gid_maps).map_err(SpawnError::Maps)?;
                chan.send(&Msg::MapIdsDone)?;
            }
            // Step 3: the intermediate exits; the new init is our child (CLONE_PARENT).
            Msg::ChildPid(p) => {
                guard.pids.push(p);
                let _ = waitpid(Pid::from_raw(pid), None);
                guard.pids.retain(|x| *x != pid);
                pid = p;
            }
            // Step 9
            Msg::MountSources => {
                for (index, fd) in crate::rootfs::sources::open(pid, mount_sources).iter() {
                    chan.send_with_fd(&Msg::MountSource(index), Some(fd.as_raw_fd()))?;
                }
                chan.send(&Msg::MountSourcesDone)?;
            }
            // Step 4
            Msg::Console => console = fd,
            // Step 5
            Msg::Hooks => {
                callbacks.runtime_hooks(pid).map_err(SpawnError::Parent)?;
                chan.send(&Msg::HooksDone)?;
            }
            // Step 6
            Msg::SeccompFd => {
                if let Some(fd) = fd {
                    callbacks
                        .seccomp_listener(pid, fd)
                        .map_err(SpawnError::Parent)?;
                }
            }
            // Step 7
            Msg::Ready => return Ok(Spawned { pid, console }),
            Msg::Error(m) => {
                let _ = waitpid(Pid::from_raw(pid), None);
                guard.pids.retain(|x| *x != pid);
                return Err(SpawnError::Init(m));
            }
            other => {
                return Err(channel::ChannelError::Protocol {
                    expected: "a request from init",
                    got: other.name(),
                }
                .into());
            }
        }
    }
}

fn exit_note(pid: i32) -> String {
    match waitpid(
        Pid::from_raw(pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    ) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => format!(" (exit status {c})"),
        Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => format!(" (killed by {s})"),
        _ => String::new(),
    }
}

/// Kills and reaps the half-made container if spawning fails, so nothing is left behind.
struct KillGuard {
    pids: Vec<i32>,
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        for p in &self.pids {
            let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(*p), None);
        }
    }
}
