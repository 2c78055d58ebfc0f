//! `delete [-f] ID`: remove a stopped (or created) container; with -f kill it first.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{Container, ContainerError, Result, Status};
use crate::hooks;
use crate::state::{DirLock, Root, StateError};

pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    crate::state::validate_id(id)?;
    let loaded = DirLock::acquire(&root.dir(id))
        .map_err(ContainerError::from)
        .and_then(|lock| Ok((lock, Container::load(root, id)?)));
    let (_lock, c) = match loaded {
        Ok(v) => v,
        // A directory without state.json is none of rt's (create renames its directory into
        // place with the state in it): runc removes it recursively, which with a wrong --root
        // deletes whatever it is; rt refuses and removes nothing. What a create killed before
        // that rename left is cleaned up by name. With -f a missing container is not an error
        // (podman deletes with -f after a failed create and shows any error it gets back).
        Err(ContainerError::State(StateError::NotExist)) => {
            if let Some(refusal) = root.stateless_dir(id) {
                return Err(refusal.into());
            }
            root.remove_stale_claims(id)?;
            return if force {
                Ok(())
            } else {
                Err(StateError::NotExist.into())
            };
        }
        Err(e) => return Err(e),
    };
    // Refused before anything is killed: a state dir that holds what rt did not write.
    root.own_files(id)?;
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

/// SIGKILL the container's processes and wait (up to 10 s) until its init is gone.
pub(crate) fn kill_and_wait(c: &Container) {
    if let Some(cg) = c.owned_cgroup() {
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

/// Remove the cgroup (if rt made it) and the state, then run poststop hooks (their failures
/// are warnings).
pub(crate) fn destroy(root: &Root, c: &Container) -> Result<()> {
    if let Some(cg) = c.owned_cgroup() {
        // Processes that outlived init (host pid namespace) go with the container.
        if cg.pids().map(|p| !p.is_empty()).unwrap_or(false) {
            let _ = cg.kill_all(libc::SIGKILL);
        }
        cg.destroy()?;
    }
    if let Some(r) = crate::intelrdt::RdtState::of(&c.record) {
        crate::intelrdt::destroy(&r);
    }
    root.remove(&c.record.id)?;
    if let Some(h) = c.hooks().and_then(|h| h.poststop().clone()) {
        hooks::run_all_warn("poststop", &h, &c.hook_state(Status::Stopped));
    }
    Ok(())
}

/// `run` whose start failed: take the container down without -f's checks.
pub(crate) fn destroy_after_failure(root: &Root, c: &Container) -> Result<()> {
    kill_and_wait(c);
    destroy(root, c)
}
