//! cgroup managers (v1, v2, hybrid) in the manner of runc's cgroupfs driver.
//!
//! The public interface is [`Manager`], obtained from [`new_manager`] (new
//! container) or [`load_manager`] (existing container, from state.json).
//! The systemd driver (systemd/) makes the cgroup a transient unit and then shares the rest.
//!
//! host.rs finds the host's layout, layout.rs the container's cgroup on it, manager.rs makes it
//! and writes resources (v1.rs, v2.rs, bpf.rs), freezer.rs pauses and signals it, stats.rs
//! reads it; fs.rs reads and writes cgroup files.

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::LinuxResources;

mod bpf;
mod freezer;
mod fs;
mod host;
mod layout;
mod manager;
mod stats;
mod systemd;
#[cfg(test)]
mod tests;
mod v1;
mod v2;

pub use host::{CgroupFs, CgroupMode, DEFAULT_ROOT, detect_mode};
pub use layout::Layout;
pub use manager::FsManager;
pub use systemd::{SystemdManager, reachable as systemd_reachable};
pub use v1::{DEFAULT_DEVICE_RULES, device_rule_string, with_default_rules};
pub use v2::{blkio_weight_to_io_weight, cpu_shares_to_weight};

/// A lower-case description of an I/O error: the errno text for OS errors.
pub(crate) fn errmsg(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string().to_lowercase(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("failed to write {}: {}", .path.display(), errmsg(.source))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read {}: {}", .path.display(), errmsg(.source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to create {}: {}", .path.display(), errmsg(.source))]
    Mkdir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to remove {}: {}", .path.display(), errmsg(.source))]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to open {}: {}", .path.display(), errmsg(.source))]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cgroup controller {0} is not available")]
    ControllerNotAvailable(String),
    /// runc's text: the cgroup given for a new container is frozen.
    #[error("container's cgroup unexpectedly frozen: {}", .0.display())]
    UnexpectedlyFrozen(PathBuf),
    /// runc's words.
    #[error("systemd not running on this host, cannot use systemd cgroups manager")]
    NoSystemd,
    #[error("linux.cgroupsPath {path:?}: {why}")]
    SystemdPath { path: String, why: String },
    #[error("systemd unit {0} exists already")]
    UnitExists(String),
    #[error("unable to {action} unit {unit:?}: {source}")]
    Unit {
        action: &'static str,
        unit: String,
        source: crate::dbus::DbusError,
    },
    #[error(transparent)]
    Dbus(#[from] crate::dbus::DbusError),
    /// `exec --cgroup` names a controller the container's cgroup is not in.
    #[error("--cgroup: controller {0} is not in use")]
    SubCgroupController(String),
    /// `exec --cgroup` names a sub-cgroup that does not exist.
    #[error("--cgroup: {} does not exist", .0.display())]
    SubCgroupMissing(PathBuf),
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

/// A container's cgroup. A driver says where the cgroup is ([`Layout`]), how it is made and how
/// resources reach it; everything else is plain cgroupfs work on the layout, done here once for
/// every driver (a driver may still override it, as systemd's may for freezing).
pub trait Manager {
    /// Where the container's cgroup is in each hierarchy.
    fn layout(&self) -> &Layout;
    /// Create the cgroup directories in every hierarchy and write the resources.
    fn create(&mut self) -> Result<()>;
    /// Write `resources` (update).
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// The v2 leaf directory fd for clone3(CLONE_INTO_CGROUP), when that is usable.
    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>>;

    /// The cgroup path (as runc's state shows it, e.g. `/mycontainer`), persisted in state.json.
    fn path(&self) -> &Path {
        self.layout().path()
    }
    /// Move `pid` into the cgroup in every hierarchy (idempotent).
    fn add_task(&self, pid: i32) -> Result<()> {
        self.layout().add_task(pid)
    }
    /// Put the container's init `pid` (cloned, not yet running container code) into the
    /// cgroup, when clone3 did not: a driver that needs the process to make the cgroup (systemd's
    /// scope takes its first pid) makes it here.
    fn place_init(&mut self, pid: i32) -> Result<()> {
        self.add_task(pid)
    }
    /// Where `exec` puts its process: the container's cgroup or, for `exec --cgroup`, the
    /// existing sub-cgroups `subs` names (controller, "" for every one, to a relative path).
    fn exec_placement(&self, subs: &BTreeMap<String, PathBuf>) -> Result<Placement<'_>> {
        if subs.is_empty() {
            return Ok(Placement {
                clone_into: self.clone_into_fd(),
                dirs: self.layout().dirs(),
            });
        }
        // A sub-cgroup is written by hand: CLONE_INTO_CGROUP only for the container's own.
        Ok(Placement {
            clone_into: None,
            dirs: self.layout().sub_cgroup_dirs(subs)?,
        })
    }
    fn freeze(&self) -> Result<()> {
        freezer::set(self.layout(), true)
    }
    fn thaw(&self) -> Result<()> {
        freezer::set(self.layout(), false)
    }
    fn is_frozen(&self) -> Result<bool> {
        freezer::is_frozen(self.layout())
    }
    fn pids(&self) -> Result<Vec<i32>> {
        self.layout().pids()
    }
    fn kill_all(&self, signal: i32) -> Result<()> {
        freezer::kill_all(self, signal)
    }
    /// runc's `events --stats` "data" object.
    fn stats(&self) -> Result<serde_json::Value> {
        self.layout().stats()
    }
    /// Remove the cgroup directories (waits briefly for them to empty).
    fn destroy(&self) -> Result<()> {
        self.layout().remove()
    }
    /// Does any of the cgroup's directories exist (before `create`: is it someone else's)?
    fn exists(&self) -> bool {
        self.layout().exists()
    }
    /// How many times the OOM killer killed a process in this cgroup
    /// (v2 `memory.events` oom_kill, v1 `memory.oom_control` oom_kill).
    fn oom_kill_count(&self) -> Result<u64> {
        self.layout().oom_kill_count()
    }
    /// What the container's own cgroup filesystem mount shows.
    fn cgroup_mount(&self) -> CgroupMount {
        self.layout().cgroup_mount()
    }
}

/// Where a new process of the container goes: see [`Manager::exec_placement`].
pub struct Placement<'a> {
    /// The container's v2 cgroup for clone3(CLONE_INTO_CGROUP), when the process goes there.
    pub clone_into: Option<BorrowedFd<'a>>,
    /// The cgroups whose cgroup.procs get the process when clone3 did not place it.
    dirs: Vec<PathBuf>,
}

impl Placement<'_> {
    /// Move `pid` into its cgroups.
    pub fn add(&self, pid: i32) -> Result<()> {
        layout::add_to(&self.dirs, pid)
    }
}

/// What a `cgroup` mount of config.json shows the container (rootfs/mounts.rs): its own cgroup
/// in each hierarchy. rt works it out before clone, from the layout the manager uses: init would
/// read its cgroup paths relative to its cgroup namespace, and the hierarchies' roots with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupMount {
    /// cgroup v2 alone: a cgroup2 mount, or where the kernel refuses one, a bind of this
    /// directory (the container's cgroup).
    V2(PathBuf),
    /// v1 or hybrid: a tmpfs holding, under each v1 hierarchy's name, a bind of its directory
    /// (the container's cgroup, or rt's own in a hierarchy rt does not manage).
    Tmpfs(Vec<(std::ffi::OsString, PathBuf)>),
}

/// A manager for a new container (does not touch the filesystem until `create`).
pub fn new_manager(cfg: &CgroupConfig) -> Result<Box<dyn Manager>> {
    if cfg.systemd {
        let m = SystemdManager::new(host_fs()?, cfg.cgroups_path, cfg.id, cfg.resources)?;
        return Ok(Box::new(m));
    }
    let m = FsManager::new(host_fs()?, cfg.cgroups_path, cfg.id, cfg.resources.cloned())?;
    Ok(Box::new(m))
}

/// The host's cgroup layout, read once per process: it does not change while one rt command
/// runs, and `list`/`state` with thousands of running containers would otherwise re-read
/// /proc/self/mountinfo for every container just to check its freezer state (and `run`
/// would read it twice: at create and at delete).
fn host_fs() -> Result<CgroupFs> {
    static HOST: OnceLock<CgroupFs> = OnceLock::new();
    if let Some(fs) = HOST.get() {
        return Ok(fs.clone());
    }
    let fs = CgroupFs::detect()?;
    Ok(HOST.get_or_init(|| fs).clone())
}

/// A manager for an existing container's cgroup, from the path saved in state.json.
pub fn load_manager(path: &Path, systemd: bool) -> Result<Box<dyn Manager>> {
    if systemd {
        return Ok(Box::new(SystemdManager::load(host_fs()?, path)?));
    }
    let m = FsManager::load(host_fs()?, path)?;
    Ok(Box::new(m))
}
