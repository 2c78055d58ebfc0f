//! `pause` / `resume`: the freezer.

use super::{Container, ContainerError, Result, Status};
use crate::state::{DirLock, Root};

pub fn pause(root: &Root, id: &str) -> Result<()> {
    crate::state::validate_id(id)?;
    let _lock = DirLock::acquire(&root.dir(id))?;
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused => return Err(ContainerError::Paused),
        _ => return Err(ContainerError::NotRunning),
    }
    let cg = c.cgroup().ok_or(ContainerError::NotRunning)?;
    cg.freeze()?;
    Ok(())
}

pub fn resume(root: &Root, id: &str) -> Result<()> {
    crate::state::validate_id(id)?;
    let _lock = DirLock::acquire(&root.dir(id))?;
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Paused => {}
        Status::Stopped => return Err(ContainerError::NotRunning),
        _ => return Err(ContainerError::NotPaused),
    }
    let cg = c.cgroup().ok_or(ContainerError::NotRunning)?;
    cg.thaw()?;
    Ok(())
}
