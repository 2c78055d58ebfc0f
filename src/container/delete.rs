//! `delete [-f] ID`: remove a stopped (or created) container; with -f kill it first.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{Container, ContainerError, Result, Status};
use crate::state::{DirLock, Root};
use crate::{hooks, logging};

pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    crate::state::validate_id(id)?;
    let _lock = DirLock::acquire(&root.dir(id))?;
    let c = match Container::load(root, id) {
        Ok(c) => c,
        // A create killed between claiming the id and saving its first record left an empty
        // directory and nothing else: -f removes it.
        Err(ContainerError::State(crate::state::StateError::NotExist))
            if force && root.dir(id).is_dir() =>
        {
            return Ok(root.remove(id)?);
        }
        Err(e) => return Err(e),
    };
    let status = c.status();
    match status {
        Status::Stopped => {}
        // A created container has run nothing of the user's yet: runc deletes it without -f.
        Status::Created => kill_and_wait(&c),
        _ if force => {
            if status == Status::Paused
                && let Some(cg) = c.cgroup()
            {
                let _ = cg.thaw();
            }
            kill_and_wait(&c)
        }
        _ => {
            return Err(ContainerError::NotStopped {
                id: id.to_string(),
                status,
            });
        }
    }
    destroy(root, &c)
}

fn kill_and_wait(c: &Container) {
    if let Some(cg) = c.cgroup() {
        let _ = cg.kill_all(libc::SIGKILL);
    }
    if c.init_alive() {
        let _ = nix::sys::signal::kill(Pid::from_raw(c.record.pid), Signal::SIGKILL);
    }
    // The shim (our caller's caller) reaps init; we only wait for it to be gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.init_alive() && Instant::now() < deadline {
        let _ = nix::sys::wait::waitpid(
            Pid::from_raw(c.record.pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Remove the cgroup and the state, then run poststop hooks (their failures are warnings).
pub(crate) fn destroy(root: &Root, c: &Container) -> Result<()> {
    if let Some(cg) = c.cgroup() {
        // Processes that outlived init (host pid namespace) go with the container.
        if cg.pids().map(|p| !p.is_empty()).unwrap_or(false) {
            let _ = cg.kill_all(libc::SIGKILL);
        }
        cg.destroy()?;
    }
    root.remove(&c.record.id)?;
    if let Some(h) = c.hooks().and_then(|h| h.poststop().clone())
        && let Err(e) = hooks::run_all("poststop", &h, &c.hook_state(Status::Stopped))
    {
        logging::warn(&e.to_string());
    }
    Ok(())
}

/// `run` whose start failed: take the container down without -f's checks.
pub(crate) fn destroy_after_failure(root: &Root, c: &Container) -> Result<()> {
    kill_and_wait(c);
    destroy(root, c)
}
