//! `kill [--all] ID [SIGNAL]`.

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{Container, ContainerError, Result, Status, sys_err};
use crate::state::Root;

pub fn kill(root: &Root, id: &str, signal: Signal, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    let status = c.status();
    if all {
        // With --all the cgroup may still hold processes after init is gone (shared pid ns).
        if let Some(cg) = c.cgroup() {
            let pids = cg.pids().unwrap_or_default();
            if status == Status::Stopped && pids.is_empty() {
                return Err(ContainerError::NotRunning);
            }
            cg.kill_all(signal as i32)?;
            return Ok(());
        }
    }
    if status == Status::Stopped {
        return Err(ContainerError::NotRunning);
    }
    // init_alive() above compared the start time, so this pid is still our init.
    nix::sys::signal::kill(Pid::from_raw(c.record.pid), signal).map_err(|e| match e {
        nix::Error::ESRCH => ContainerError::NotRunning,
        e => sys_err(format!("kill {} with {signal}", c.record.pid))(e),
    })
}
