//! rt's side of starting a container process: clone it into its namespaces and cgroup, take it
//! through the steps of msg.rs (numbered there) and return once it is ready.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxIdMapping;

use super::channel::{self, Channel, ChannelError};
use super::clone::clone3;
use super::exec_init::{self, ExecConfig};
use super::init::{self, InitConfig};
use super::msg::{Msg, Steps};
use super::plan::ClonePlan;
use super::userns;
use crate::cgroups::{CgroupError, Manager};
use crate::security::seccomp::CompiledSeccomp;

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(
        "refusing to start a container process from a process with {0} threads: clone copies \
         only the calling thread, and a lock another one holds would never be released"
    )]
    Threaded(usize),
    #[error("clone container init: {0}")]
    Clone(nix::Error),
    /// The protocol failed, or the child reported its own error (`ChannelError::Reported`).
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("container init exited before it sent {expected}{status}")]
    Exited {
        expected: &'static str,
        status: String,
    },
    #[error("{0}")]
    Cgroup(#[from] CgroupError),
    #[error("user namespace mapping: {0}")]
    Maps(std::io::Error),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// Moving linux.netDevices into the container's network namespace (the message names it).
    #[error("{0}")]
    NetDevices(String),
    #[error(transparent)]
    Seccomp(#[from] crate::security::seccomp::SeccompError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
}

pub struct Spawned {
    /// Host pid of the container's init.
    pub pid: i32,
    pub console: Option<OwnedFd>,
}

/// What only the caller knows: the container's hooks and its state.
pub trait Callbacks {
    /// Step 5: move linux.netDevices into init's network namespace, then run the prestart and
    /// createRuntime hooks (init's pid is known by now).
    fn runtime_hooks(&mut self, pid: i32) -> Result<(), SpawnError>;
    /// Step 7: the container's state, which the seccomp agent gets with the listener.
    fn listener_state(&mut self, pid: i32) -> String;
}

/// One start as rt drives it (msg.rs).
struct Start<'a> {
    plan: &'a ClonePlan,
    steps: Steps,
    /// The maps of a user namespace the child makes (exec makes none).
    uid_maps: &'a [LinuxIdMapping],
    gid_maps: &'a [LinuxIdMapping],
    /// Step 4: the bind sources rt opens for the child.
    mount_sources: &'a [(usize, PathBuf)],
    /// Step 7: where the seccomp notify listener goes (listenerPath, listenerMetadata).
    listener: Option<(&'a Path, Option<&'a str>)>,
    /// Puts the child into its cgroup, unless clone3 did through `cgroup_fd`.
    place: &'a mut dyn FnMut(i32) -> Result<(), CgroupError>,
    cgroup_fd: Option<RawFd>,
}

fn terminal(p: Option<&oci_spec::runtime::Process>) -> bool {
    p.is_some_and(|p| p.terminal() == Some(true))
}

fn listener(s: Option<&CompiledSeccomp>) -> Option<(&Path, Option<&str>)> {
    let s = s?;
    Some((s.listener_path.as_deref()?, s.listener_metadata.as_deref()))
}

pub fn spawn(
    cfg: &InitConfig,
    mut cgroup: Option<&mut (dyn Manager + 'static)>,
    callbacks: &mut dyn Callbacks,
) -> Result<Spawned, SpawnError> {
    single_threaded()?;
    let spec = cfg.spec;
    // Idmapped mounts need rights over the source's superblock that init in a user namespace
    // lacks: rt makes them now, while single-threaded and still root, and init inherits the fds.
    let idmapped = crate::rootfs::idmap::prepare(spec, cfg.bundle)?;
    let mount_sources =
        crate::rootfs::sources::wanted(spec, cfg.bundle, cfg.plan.in_user_namespace());
    let steps = Steps {
        mount_sources: !mount_sources.is_empty(),
        hooks: spec.hooks().as_ref().is_some_and(|h| {
            h.prestart().as_ref().is_some_and(|v| !v.is_empty())
                || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
        }) || spec
            .linux()
            .as_ref()
            .and_then(|l| l.net_devices().as_ref())
            .is_some_and(|d| !d.is_empty()),
        console: terminal(spec.process().as_ref()),
    };
    let linux = spec.linux().as_ref();
    let cgroup_fd = cgroup
        .as_ref()
        .and_then(|c| c.clone_into_fd())
        .map(|fd| fd.as_raw_fd());
    // The systemd driver makes its scope unit around init's pid here.
    let mut place = |pid: i32| match cgroup.as_deref_mut() {
        Some(cg) => cg.place_init(pid),
        None => Ok(()),
    };
    let mut start = Start {
        plan: cfg.plan,
        steps,
        uid_maps: linux
            .and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or_default(),
        gid_maps: linux
            .and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or_default(),
        mount_sources: &mount_sources,
        listener: listener(cfg.seccomp),
        place: &mut place,
        cgroup_fd,
    };
    let (spawned, _chan) = start.spawn(callbacks, |chan| init::run(cfg, &idmapped, steps, chan))?;
    Ok(spawned)
}

/// `exec`: start a process in a running container's namespaces. `place` puts it into the
/// container's cgroup (or a sub-cgroup) unless clone3 already did through `cgroup_fd`. Returns
/// once the process has exec'd the program (or failed to).
pub fn spawn_exec(
    cfg: &ExecConfig,
    cgroup_fd: Option<RawFd>,
    place: &mut dyn FnMut(i32) -> Result<(), CgroupError>,
    callbacks: &mut dyn Callbacks,
) -> Result<Spawned, SpawnError> {
    single_threaded()?;
    let steps = Steps {
        console: terminal(Some(cfg.process)),
        ..Steps::default()
    };
    let mut start = Start {
        plan: cfg.plan,
        steps,
        uid_maps: &[],
        gid_maps: &[],
        mount_sources: &[],
        listener: listener(cfg.seccomp),
        place,
        cgroup_fd,
    };
    let (spawned, chan) = start.spawn(callbacks, |chan| exec_init::run(cfg, steps, chan))?;
    // Step 9: an Error instead means execve failed, and the child exits.
    chan.expect_exec().inspect_err(|e| {
        if let ChannelError::Reported { .. } = e {
            let _ = waitpid(Pid::from_raw(spawned.pid), None);
        }
    })?;
    Ok(spawned)
}

impl Start<'_> {
    fn spawn(
        &mut self,
        callbacks: &mut dyn Callbacks,
        // Runs in the child; never returns in practice (it execs or exits).
        child: impl FnOnce(&Channel),
    ) -> Result<(Spawned, Channel), SpawnError> {
        let (ours, theirs) = channel::pair()?;
        let cloned = clone3(self.plan.clone_flags, self.cgroup_fd).map_err(SpawnError::Clone)?;
        if cloned.pid == 0 {
            drop(ours);
            child(&theirs);
            // SAFETY: unreachable in practice; if the child code ever returned, end the forked
            // process without running the parent's atexit handlers.
            unsafe { libc::_exit(1) }
        }
        drop(theirs);
        // Kills and reaps the half-made container if any step fails.
        let mut guard = KillGuard {
            pids: vec![cloned.pid],
        };
        match self.drive(callbacks, &ours, cloned.pid, cloned.in_cgroup, &mut guard) {
            Ok(s) => {
                guard.pids.clear();
                Ok((s, ours))
            }
            Err(SpawnError::Channel(ChannelError::Closed(expected))) => Err(SpawnError::Exited {
                expected,
                status: guard.pids.last().map(|p| exit_note(*p)).unwrap_or_default(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The steps of msg.rs, in order.
    fn drive(
        &mut self,
        callbacks: &mut dyn Callbacks,
        chan: &Channel,
        first: i32,
        in_cgroup: bool,
        guard: &mut KillGuard,
    ) -> Result<Spawned, SpawnError> {
        let (plan, steps) = (self.plan, self.steps);
        let write_maps =
            |pid| userns::write_maps(pid, self.uid_maps, self.gid_maps).map_err(SpawnError::Maps);
        // Step 1: place the child before it runs any container code.
        if !in_cgroup {
            (self.place)(first)?;
        }
        if plan.new_user && !plan.unshare_user {
            write_maps(first)?;
        }
        chan.send(&Msg::Proceed)?;
        // Step 2
        if plan.unshare_user {
            chan.expect_map_ids()?;
            write_maps(first)?;
            chan.send(&Msg::MapIdsDone)?;
        }
        // Step 3: the intermediate exits; the new child is ours (CLONE_PARENT).
        let mut pid = first;
        if plan.must_fork {
            pid = chan.expect_child_pid()?;
            guard.pids.push(pid);
            let _ = waitpid(Pid::from_raw(first), None);
            guard.pids.retain(|p| *p != first);
        }
        // Step 4
        if steps.mount_sources {
            chan.expect_mount_sources()?;
            for (index, fd) in crate::rootfs::sources::open(pid, self.mount_sources).iter() {
                chan.send_with_fd(&Msg::MountSource(index), Some(fd.as_raw_fd()))?;
            }
            chan.send(&Msg::MountSourcesDone)?;
        }
        // Step 5
        if steps.hooks {
            chan.expect_hooks()?;
            callbacks.runtime_hooks(pid)?;
            chan.send(&Msg::HooksDone)?;
        }
        // Step 6
        let console = steps.console.then(|| chan.expect_console()).transpose()?;
        // Step 7
        if let Some((path, metadata)) = self.listener {
            let fd = chan.expect_seccomp_fd()?;
            let state = callbacks.listener_state(pid);
            crate::security::seccomp::send_listener(&fd, path, &state, metadata)?;
        }
        // Step 8
        chan.expect_ready()?;
        Ok(Spawned { pid, console })
    }
}

/// clone3 without a new stack is fork: the child has a copy of the calling thread only, so a
/// lock another thread held (the allocator's, stdout's) stays locked in it for good. rt starts
/// no threads; a library caller might have.
fn single_threaded() -> Result<(), SpawnError> {
    match std::fs::read_dir("/proc/self/task").map(Iterator::count) {
        Ok(n) if n > 1 => Err(SpawnError::Threaded(n)),
        _ => Ok(()),
    }
}

/// How `pid` ended, if it has; it stays a zombie for the guard to reap.
fn exit_note(pid: i32) -> String {
    use nix::sys::wait::{Id, WaitPidFlag};
    let how = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match nix::sys::wait::waitid(Id::Pid(Pid::from_raw(pid)), how) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => format!(" (exit status {c})"),
        Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => format!(" (killed by {s})"),
        _ => String::new(),
    }
}

/// Kills and reaps the half-made container if spawning fails, so nothing is left behind (a
/// child that exited already is a zombie until reaped here: its pid is not reused meanwhile).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_clone_beside_other_threads() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let err = single_threaded().unwrap_err().to_string();
        assert!(
            err.contains("threads: clone copies only the calling"),
            "{err}"
        );
        drop(tx);
        let _ = other.join();
    }
}
