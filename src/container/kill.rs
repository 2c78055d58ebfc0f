//! `kill [--all] ID [SIGNAL]`.

use super::{Container, ContainerError, Result, Status, sys_err};
use crate::state::Root;

pub fn kill(root: &Root, id: &str, signal: i32, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if all {
        // With --all the cgroup may still hold processes after init is gone (shared pid ns).
        // Like runc, a stopped container with nothing left to signal is not an error.
        if let Some(cg) = c.cgroup()
            && (status != Status::Stopped || cg.pids().is_ok_and(|p| !p.is_empty()))
        {
            cg.kill_all(signal)?;
        }
        return Ok(());
    }
    if status == Status::Stopped {
        return Err(ContainerError::NotRunning);
    }
    // init_alive() above compared the start time, so this pid is still our init.
    crate::signal::send(c.record.pid, signal).map_err(|e| match e {
        nix::Error::ESRCH => ContainerError::NotRunning,
        e => sys_err(format!("kill {} with signal {signal}", c.record.pid))(e),
    })?;
    // On cgroup v1 a frozen process dies only once thawed; runc thaws for SIGKILL.
    if status == Status::Paused
        && signal == libc::SIGKILL
        && let Some(cg) = c.cgroup()
    {
        let _ = cg.thaw();
    }
    Ok(())
}
