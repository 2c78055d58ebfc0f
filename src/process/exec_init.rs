//! The child half of `exec`: join every namespace of the container, then apply the process's
//! settings and execve. No rootfs work: the joined mount namespace already is the container's.
//! Step numbers match msg.rs.

use std::os::fd::AsRawFd;

use oci_spec::runtime::Process;

use super::channel::Channel;
use super::init::{InitError, sys};
use super::msg::{Msg, Steps};
use super::plan::ClonePlan;
use super::setup;
use crate::security::seccomp::CompiledSeccomp;

pub struct ExecConfig<'a> {
    pub process: &'a Process,
    /// Joins only (see `plan::exec_plan`).
    pub plan: &'a ClonePlan,
    pub seccomp: Option<&'a CompiledSeccomp>,
    /// fds 3..3+preserve_fds stay open across execve.
    pub preserve_fds: i32,
    /// rt's signal mask before it blocked the signals it forwards; the program gets it back.
    pub sigmask: nix::sys::signal::SigSet,
    /// The container's `linux.memoryPolicy`: every process of the container gets it.
    pub memory_policy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
    /// The container's session keyring (`_ses.<id>`) to join, unless it was created with
    /// --no-new-keyring (then the process keeps rt's, as with runc).
    pub session_keyring: Option<String>,
}

/// Never returns: execs the program or reports the error to rt and exits.
pub fn run(cfg: &ExecConfig, steps: Steps, chan: &Channel) -> ! {
    crate::logging::enter_container_child();
    match exec(cfg, steps, chan) {
        Ok(never) => match never {},
        Err(e) => super::init::fail(chan, "exec", &e),
    }
}

fn exec(
    cfg: &ExecConfig,
    steps: Steps,
    chan: &Channel,
) -> Result<std::convert::Infallible, InitError> {
    let process = cfg.process;
    cfg.sigmask
        .thread_set_mask()
        .map_err(sys("restore signal mask"))?;
    // Step 1: rt has placed us in the container's cgroup (a cgroup namespace joined below is
    // then rooted correctly for us).
    chan.expect_proceed()?;

    super::init::join_namespaces(&cfg.plan.join)?;

    // Step 3: setns(pid/time) applies only to children. CLONE_PARENT makes rt the parent, so
    // the program does not hang under an intermediate that has exited.
    if cfg.plan.must_fork {
        super::init::fork_into_namespaces(chan)?;
    }
    nix::unistd::setsid().map_err(sys("setsid"))?;

    // Step 6: a pty from the container's devpts (the joined mount namespace's /dev/ptmx).
    if steps.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u32, b.width() as u32));
        let master = crate::tty::setup_exec_console(size)?;
        chan.send_with_fd(&Msg::Console, Some(master.as_raw_fd()))?;
    }

    setup::process_attributes(process)?;
    setup::cpu_affinity_in_cgroup(Some(process))?;
    if let Some(name) = &cfg.session_keyring {
        setup::join_session_keyring(name, None)?;
    }
    if let Some(p) = cfg.memory_policy {
        crate::mempolicy::apply(p).map_err(InitError::Config)?;
    }

    let program =
        super::become_process::become_process(process, cfg.seccomp, chan, cfg.preserve_fds)?;
    // Step 8, then step 9 happens by itself: execve closes the channel.
    chan.send(&Msg::Ready)?;
    Err(program.exec())
}
