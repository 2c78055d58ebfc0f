//! The container's init, from clone3 to execve. Runs in the child of a fork-like clone, so it
//! may use everything the parent prepared (the config is already parsed and checked). Errors go
//! back to rt over the channel and are shown verbatim. Step numbers match msg.rs.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::become_process::become_process;
use super::channel::Channel;
use super::clone::clone3;
use super::msg::{Msg, Steps};
use super::plan::ClonePlan;
use super::setup;
use crate::namespaces::clone_flag;
use crate::rootfs::{self, RootfsContext};
use crate::security::seccomp::{self, CompiledSeccomp};

pub struct InitConfig<'a> {
    pub spec: &'a Spec,
    pub plan: &'a ClonePlan,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    /// O_PATH fd of exec.fifo; init blocks opening it for write until `start`.
    pub fifo: &'a OwnedFd,
    pub seccomp: Option<&'a CompiledSeccomp>,
    /// The state JSON createContainer and startContainer hooks get, for init's host pid.
    pub hook_state: &'a dyn Fn(i32) -> String,
    /// What a `cgroup` mount of config.json shows (the container's cgroup, from rt's view).
    pub cgroup_mount: &'a crate::cgroups::CgroupMount,
    pub id: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Setup(#[from] setup::SetupError),
    #[error(transparent)]
    Channel(#[from] super::channel::ChannelError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Caps(#[from] crate::security::caps::CapsError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
    #[error(transparent)]
    Lsm(#[from] crate::security::lsm::LsmError),
    #[error(transparent)]
    Sysctl(#[from] crate::sysctl::SysctlError),
    #[error("{0}")]
    Config(String),
}

pub(super) fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> InitError {
    let what = what.into();
    move |source| InitError::Sys { what, source }
}

/// Never returns: execs the container process or exits. `idmapped`: the idmapped mounts rt made
/// before clone, inherited as fds.
pub fn run(cfg: &InitConfig, idmapped: &rootfs::MountFds, steps: Steps, chan: &Channel) -> ! {
    match init(cfg, idmapped, steps, chan) {
        Ok(never) => match never {},
        Err(e) => fail(chan, "init", &e),
    }
}

/// Report `err` to rt and exit. After Ready nobody listens on the channel: stderr is all that
/// is left then.
pub(super) fn fail(chan: &Channel, who: &str, err: &InitError) -> ! {
    if chan.send(&error_msg(err)).is_err() {
        eprintln!("rt: {who}: {err}");
    }
    // SAFETY: _exit ends this forked child without running the parent's atexit handlers.
    unsafe { libc::_exit(1) }
}

fn error_msg(err: &InitError) -> Msg {
    Msg::Error {
        errno: errno_of(err),
        msg: err.to_string(),
    }
}

/// The errno of the failed syscall at the root of `err`, 0 if none failed.
fn errno_of(err: &(dyn std::error::Error + 'static)) -> i32 {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(n) = e.downcast_ref::<nix::Error>() {
            return *n as i32;
        }
        if let Some(n) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|e| e.raw_os_error())
        {
            return n;
        }
        cause = e.source();
    }
    0
}

enum Never {}

fn init(
    cfg: &InitConfig,
    idmapped: &rootfs::MountFds,
    steps: Steps,
    chan: &Channel,
) -> Result<Never, InitError> {
    let spec = cfg.spec;
    let plan = cfg.plan;
    // From here on stderr is the container's: warnings go only to --log.
    crate::logging::enter_container_child();
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| InitError::Config("process: missing".into()))?;
    // CVE-2019-5736: no container process may open our /proc/<pid>/exe until execve replaces
    // rt's image (rt's main already did this; a library caller may not have).
    crate::security::exe::set_non_dumpable().map_err(sys("prctl PR_SET_DUMPABLE 0"))?;
    // Step 1: rt has placed us in our cgroup and mapped our clone-time user namespace.
    chan.expect_proceed()?;
    // Timeline lines from here on come from init (same log/stderr, same time origin).
    crate::logging::timeline("init: proceed");

    // Enter and create namespaces as planned.
    join_namespaces(&plan.join)?;
    if plan.unshare_user {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(sys("unshare user namespace"))?;
        // Step 2
        chan.send(&Msg::MapIds)?;
        chan.expect_map_ids_done()?;
    }
    if plan.new_user {
        // Become the namespace's root (the mapped uid 0) so the rest of setup is privileged there.
        let root_gid = nix::unistd::Gid::from_raw(0);
        let root_uid = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresgid(root_gid, root_gid, root_gid)
            .map_err(sys("setresgid 0 in user namespace"))?;
        nix::unistd::setresuid(root_uid, root_uid, root_uid)
            .map_err(sys("setresuid 0 in user namespace"))?;
    }
    if plan.unshare_flags != 0 {
        nix::sched::unshare(CloneFlags::from_bits_retain(plan.unshare_flags))
            .map_err(sys("unshare namespaces"))?;
    }
    if plan.unshare_flags & libc::CLONE_NEWTIME != 0 {
        write_time_offsets(spec)?;
    }

    // Step 3: setns/unshare of pid and time namespaces only apply to children.
    if plan.must_fork {
        fork_into_namespaces(chan)?;
    }

    nix::unistd::setsid().map_err(sys("setsid"))?;
    crate::logging::timeline("init: namespaces");
    let has_mnt_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::Mount));

    // The root filesystem, with the bind sources rt opens at step 4.
    if has_mnt_ns {
        rootfs::prepare(&RootfsContext {
            spec,
            rootfs: cfg.rootfs,
            bundle: cfg.bundle,
            in_userns: plan.in_user_namespace(),
            idmapped,
            host_opened: &mount_sources_from_rt(steps, chan)?,
            cgroup: cfg.cgroup_mount,
        })?;
    }
    crate::logging::timeline("init: mounts");
    // Step 5: rt's own hooks run between the mounts and pivot_root.
    if steps.hooks {
        chan.send(&Msg::Hooks)?;
        chan.expect_hooks_done()?;
    }
    // The state our hooks get carries our host pid: before pivot_root /proc is still the
    // runtime's procfs, where /proc/self is it.
    let hooks = spec.hooks().as_ref();
    let hook_state =
        if hooks.is_some_and(|h| h.create_container().is_some() || h.start_container().is_some()) {
            let pid = std::fs::read_link("/proc/self").ok();
            (cfg.hook_state)(pid.and_then(|p| p.to_str()?.parse().ok()).unwrap_or(0))
        } else {
            String::new()
        };
    if let Some(h) = hooks.and_then(|h| h.create_container().as_ref()) {
        // runc runs them from the rootfs, with its init's environment: process.env.
        nix::unistd::chdir(cfg.rootfs).map_err(sys(format!("chdir {}", cfg.rootfs.display())))?;
        let env = process.env().as_deref().unwrap_or_default();
        crate::hooks::run_all_with_env("createContainer", h, &hook_state, env)?;
    }
    if has_mnt_ns {
        rootfs::pivot(cfg.rootfs, cfg.no_pivot)?;
        if !rootfs::dev_is_bound(spec) {
            rootfs::reopen_dev_null()?;
        }
        // A missing cwd is made, as runc makes it: inside the new root, before finalize() may
        // make that read-only.
        create_cwd(process.cwd())?;
    }
    crate::logging::timeline("init: pivot");

    // Step 6: the terminal, from the container's own devpts.
    if steps.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u32, b.width() as u32));
        let master = crate::tty::setup_console(size, rootfs::dev_is_bound(spec))?;
        chan.send_with_fd(&Msg::Console, Some(master.as_raw_fd()))?;
    }

    if let Some(linux) = spec.linux() {
        for (k, v) in linux.sysctl().iter().flatten() {
            crate::sysctl::write(k, v)?;
        }
    }
    if let Some(h) = spec.hostname()
        && !h.is_empty()
    {
        nix::unistd::sethostname(h).map_err(sys("set hostname"))?;
    }
    if let Some(d) = spec.domainname()
        && !d.is_empty()
    {
        let c = CString::new(d.as_str())
            .map_err(|_| InitError::Config("domainname: contains NUL".into()))?;
        // SAFETY: setdomainname reads `len` bytes of the string we own.
        if unsafe { libc::setdomainname(c.as_ptr(), d.len()) } != 0 {
            return Err(sys("set domainname")(nix::Error::last()));
        }
    }
    if has_mnt_ns {
        rootfs::finalize(spec)?;
    }

    // Process attributes that need privileges come before the user switch.
    setup::process_attributes(process)?;
    setup::cpu_affinity_in_cgroup(None)?;
    if let Some(linux) = spec.linux()
        && let Some(p) = linux.personality()
    {
        setup::personality(p)?;
    }
    if let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        crate::mempolicy::apply(p).map_err(InitError::Config)?;
    }
    if !cfg.no_new_keyring {
        // Searchable by its owner (by "other" in a user namespace, where the owner's uid is
        // not the exec'd process's), as runc makes it, so that `exec` joins it.
        let userns = spec.linux().as_ref().is_some_and(|l| {
            l.namespaces()
                .iter()
                .flatten()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
        });
        let search = if userns { 0x8 } else { 0x8_0000 };
        setup::join_session_keyring(&format!("_ses.{}", cfg.id), Some(search))?;
    }

    let program = become_process(process, cfg.seccomp, chan, cfg.preserve_fds)?;
    crate::logging::timeline("init: seccomp, user, caps");

    // Step 8: ready; now wait for `start`.
    chan.send(&Msg::Ready)?;
    let start = wait_for_start(cfg.fifo)?;
    // Step 9: startContainer hooks run once `start` is waiting on the fifo, so their failure can
    // be its error. In process.cwd, with the program's environment, as runc runs them.
    let ran = match hooks.and_then(|h| h.start_container().as_ref()) {
        Some(h) => crate::hooks::run_all_with_env("startContainer", h, &hook_state, program.env())
            .map_err(InitError::from),
        None => Ok(()),
    };
    let answer = match &ran {
        Ok(()) => Msg::Started,
        Err(e) => error_msg(e),
    };
    // `start` reads to the end: the fd closes here.
    std::fs::File::from(start)
        .write_all(&serde_json::to_vec(&answer).unwrap_or_default())
        .map_err(|e| {
            let errno = nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
            sys("write exec fifo")(errno)
        })?;
    ran?;
    crate::logging::timeline("init: exec");
    Err(program.exec())
}

fn create_cwd(cwd: &Path) -> Result<(), InitError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(cwd)
        .map_err(|e| InitError::Config(format!("process.cwd: create {}: {e}", cwd.display())))
}

/// Step 4: in a user namespace, the bind sources rt opened for us (rootfs/sources.rs).
fn mount_sources_from_rt(steps: Steps, chan: &Channel) -> Result<rootfs::MountFds, InitError> {
    let mut fds = rootfs::MountFds::default();
    if steps.mount_sources {
        chan.send(&Msg::MountSources)?;
        while let Some((index, fd)) = chan.expect_mount_source()? {
            fds.push(index, fd);
        }
    }
    Ok(fds)
}

/// Enter the namespaces the plan joins. All are opened before any is joined (after setns(mnt)
/// the paths would be looked up in the container's /proc), and the user namespace comes first
/// (the plan sorts it so): it grants the rights for the rest.
pub(super) fn join_namespaces(
    join: &[(oci_spec::runtime::LinuxNamespaceType, std::path::PathBuf)],
) -> Result<(), InitError> {
    let fds = join
        .iter()
        .map(|(t, p)| {
            nix::fcntl::open(
                p,
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map(|fd| (*t, fd))
            .map_err(sys(format!("open namespace {}", p.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (t, fd) in &fds {
        nix::sched::setns(fd.as_fd(), CloneFlags::from_bits_retain(clone_flag(*t)))
            .map_err(sys(format!("join {t} namespace")))?;
    }
    Ok(())
}

/// setns/unshare of a pid or time namespace applies only to children: fork once more, with
/// CLONE_PARENT so rt stays the parent. Returns in the new process only; the intermediate
/// reports the new pid and exits. The new process waits until that report is sent, or its own
/// messages could reach rt first and rt would take the intermediate for the container's process.
pub(super) fn fork_into_namespaces(chan: &Channel) -> Result<(), InitError> {
    let (gate_r, gate_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let child = clone3(libc::CLONE_PARENT, None).map_err(sys("fork into pid namespace"))?;
    if child.pid != 0 {
        let sent = chan.send(&Msg::ChildPid(child.pid));
        // Closing the gate (by exiting) lets the child go on; it then finds out for itself if
        // the report failed, as rt's channel is gone too.
        drop(sent);
        // SAFETY: the intermediate process is done; leave without atexit handlers.
        unsafe { libc::_exit(0) }
    }
    drop(gate_w);
    let mut b = [0u8; 1];
    // EOF once the intermediate has reported and exited.
    let _ = nix::unistd::read(&gate_r, &mut b);
    Ok(())
}

/// Block until `start` opens exec.fifo for reading; the returned end is where we answer it.
fn wait_for_start(fifo: &OwnedFd) -> Result<OwnedFd, InitError> {
    let p = PathBuf::from(format!("/proc/self/fd/{}", fifo.as_raw_fd()));
    let fd = nix::fcntl::open(
        &p,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open exec fifo"))?;
    Ok(fd)
}

fn write_time_offsets(spec: &Spec) -> Result<(), InitError> {
    let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(());
    };
    let mut s = String::new();
    for (clock, off) in offsets {
        let name = match clock.as_str() {
            "monotonic" | "boottime" => clock.as_str(),
            other => {
                return Err(InitError::Config(format!(
                    "linux.timeOffsets: unknown clock {other:?}"
                )));
            }
        };
        s.push_str(&format!(
            "{name} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", s).map_err(|e| {
        InitError::Config(format!(
            "linux.timeOffsets: write /proc/self/timens_offsets: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_errno_at_the_root_of_an_error_travels() {
        assert_eq!(errno_of(&sys("open x")(nix::Error::ENOENT)), libc::ENOENT);
        // Through a transparent variant and a module's own error.
        let mount = InitError::Rootfs(rootfs::RootfsError::Sys {
            what: "mount",
            path: "/x".into(),
            source: nix::Error::EACCES,
        });
        assert_eq!(errno_of(&mount), libc::EACCES);
        assert_eq!(errno_of(&InitError::Config("process: missing".into())), 0);
    }
}
