//! cgroup managers (v1, v2, hybrid). STUB: to be filled by the cgroups work.
//! The interface below is what the rest of rt calls; keep it (extend freely).

use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, CgroupError>;

/// What rt knows about a container's cgroup when it creates one.
pub struct CgroupConfig<'a> {
    /// `linux.cgroupsPath` from config.json, if any.
    pub cgroups_path: Option<&'a Path>,
    pub id: &'a str,
    pub systemd: bool,
    pub resources: Option<&'a LinuxResources>,
}

pub trait Manager {
    /// The cgroup path (as runc's state shows it, e.g. `/mycontainer`), persisted in state.json.
    fn path(&self) -> &Path;
    /// Create the cgroup directories in every hierarchy and write the resources.
    fn create(&mut self) -> Result<()>;
    /// The v2 leaf directory fd for clone3(CLONE_INTO_CGROUP), when that is usable.
    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Move `pid` into the cgroup in every hierarchy (idempotent).
    fn add_task(&self, pid: i32) -> Result<()>;
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn is_frozen(&self) -> Result<bool>;
    fn pids(&self) -> Result<Vec<i32>>;
    fn kill_all(&self, signal: i32) -> Result<()>;
    /// runc's `events --stats` "data" object.
    fn stats(&self) -> Result<serde_json::Value>;
    /// How many OOM kills the cgroup has seen (memory.events oom_kill on v2, oom_control on v1).
    fn oom_kill_count(&self) -> Result<u64>;
    /// Remove the cgroup directories (waits briefly for them to empty).
    fn destroy(&self) -> Result<()>;
}

/// A manager for a new container (does not touch the filesystem until `create`).
pub fn new_manager(cfg: &CgroupConfig) -> Result<Box<dyn Manager>> {
    let _ = cfg;
    Err(CgroupError::Other("cgroups not implemented".into()))
}

/// A manager for an existing container's cgroup, from the path saved in state.json.
pub fn load_manager(path: &Path, systemd: bool) -> Result<Box<dyn Manager>> {
    let _ = (path, systemd);
    Err(CgroupError::Other("cgroups not implemented".into()))
}
