//! `start`: release init from exec.fifo, then run poststart hooks.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{Container, ContainerError, Result, Status, sys_err};
use crate::process::channel::ChannelError;
use crate::process::msg;
use crate::process::parent::SpawnError;
use crate::state::{DirLock, EXEC_FIFO, Root};
use crate::{hooks, logging};

pub fn start(root: &Root, id: &str) -> Result<()> {
    crate::state::validate_id(id)?;
    let lock = DirLock::acquire(&root.dir(id))?;
    let c = Container::load(root, id)?;
    // Bound before the container runs, so that its READY cannot come before.
    let relay = super::notify::bind_relay(&c.dir)?;
    start_loaded(&c)?;
    drop(lock);
    // As runc: wait for the container's READY (or its end) and pass it on.
    if let Some(r) = relay {
        r.wait(c.record.pid, || c.init_alive())?;
    }
    Ok(())
}

pub(crate) fn start_loaded(c: &Container) -> Result<()> {
    match c.status() {
        Status::Created => {}
        Status::Stopped => return Err(ContainerError::StartStopped),
        Status::Paused => return Err(ContainerError::Paused),
        _ => return Err(ContainerError::StartRunning),
    }
    let fifo_path = c.dir.join(EXEC_FIFO);
    // Non-blocking open: if init died we must not hang waiting for a writer.
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err(format!("open {}", fifo_path.display())))?;
    // Step 9 of process/msg.rs: init's answer, read to its end.
    let mut answer = Vec::new();
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::Error::EINTR) => {
                if !c.init_alive() {
                    return Err(ContainerError::StartStopped);
                }
            }
            Ok(_) => {
                let mut b = [0u8; 4096];
                match nix::unistd::read(&fifo, &mut b) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&b[..n]),
                    Err(nix::Error::EAGAIN) => std::thread::sleep(Duration::from_millis(1)),
                    Err(e) => return Err(sys_err("read exec fifo")(e)),
                }
            }
            Err(e) => return Err(sys_err("poll exec fifo")(e)),
        }
    }
    match msg::expect_started(&answer) {
        Ok(()) => {}
        // The writer went away without a word (init died).
        Err(ChannelError::Closed(_)) => return Err(ContainerError::StartStopped),
        // A startContainer hook failed: init says why and exits. The container is stopped
        // when start fails (runtime.md), not only soon after: wait for init to be gone.
        Err(e) => {
            let _ = std::fs::remove_file(&fifo_path);
            super::delete::kill_and_wait(c);
            return Err(SpawnError::from(e).into());
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    logging::timeline("started");
    if let Some(h) = c.hooks().and_then(|h| h.poststart().clone()) {
        // The spec makes poststart failures warnings, not errors.
        hooks::run_all_warn("poststart", &h, &c.hook_state(Status::Running));
    }
    Ok(())
}
