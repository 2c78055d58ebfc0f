//! A container as the verbs see it: its saved record plus a status derived from the kernel,
//! never trusted from disk. One file per verb.

mod create;
mod delete;
mod events;
mod exec;
mod kill;
mod list;
mod notify;
mod pause;
mod ps;
pub mod run;
mod start;
mod update;

use std::path::PathBuf;

use serde::Serialize;

pub use create::{CreateOpts, create};
pub use delete::delete;
pub use events::events;
pub use exec::{ExecOpts, exec};
pub use kill::kill;
pub use list::list;
pub use pause::{pause, resume};
pub use ps::ps;
pub use run::{RunOpts, run};
pub use start::start;
pub use update::{UpdateOpts, update};

use crate::cgroups::{self, Manager};
use crate::state::{EXEC_FIFO, Record, Root, StateError};

pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Spawn(#[from] crate::process::parent::SpawnError),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Seccomp(#[from] crate::security::seccomp::SeccompError),
    #[error(transparent)]
    Plan(#[from] crate::process::plan::PlanError),
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
    #[error("container not running")]
    NotRunning,
    #[error("container paused")]
    Paused,
    #[error("container not paused")]
    NotPaused,
    #[error("cannot exec in a stopped container")]
    ExecStopped,
    #[error("cannot exec in a paused container (use --ignore-paused to override)")]
    ExecPaused,
    #[error("cannot start a container that has stopped")]
    StartStopped,
    #[error("cannot start an already running container")]
    StartRunning,
    #[error("cannot delete container {id} that is not stopped: {status}")]
    NotStopped { id: String, status: Status },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error("{0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, ContainerError>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let what = what.into();
    move |source| ContainerError::Io { what, source }
}

pub(crate) fn sys_err(what: impl Into<String>) -> impl FnOnce(nix::Error) -> ContainerError {
    let what = what.into();
    move |source| ContainerError::Sys { what, source }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

pub struct Container {
    pub record: Record,
    pub dir: PathBuf,
}

/// `runc state` output, field for field and in runc's order.
#[derive(Serialize)]
pub struct StateView<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a std::path::Path,
    pub rootfs: &'a std::path::Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: &'a std::collections::HashMap<String, String>,
    pub owner: &'a str,
}

/// The OCI state hooks receive on stdin.
#[derive(Serialize)]
pub struct HookState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: &'a std::path::Path,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: &'a std::collections::HashMap<String, String>,
}

impl Container {
    pub fn load(root: &Root, id: &str) -> Result<Container> {
        let record = root.load(id)?;
        Ok(Container {
            dir: root.dir(id),
            record,
        })
    }

    /// Is the recorded init still the same process? A recycled pid has another start time.
    pub fn init_alive(&self) -> bool {
        init_alive(self.record.pid, self.record.pid_start_time)
    }

    pub fn cgroup(&self) -> Option<Box<dyn Manager>> {
        let p = self.record.cgroup_path.as_ref()?;
        cgroups::load_manager(p, self.record.systemd_cgroup).ok()
    }

    /// The cgroup, if rt made it: only then may rt kill everything in it and remove it.
    pub fn owned_cgroup(&self) -> Option<Box<dyn Manager>> {
        self.cgroup().filter(|_| self.record.cgroup_owned)
    }

    pub fn status(&self) -> Status {
        let r = &self.record;
        derive_status(
            r.pid,
            r.pid_start_time,
            &self.dir,
            r.cgroup_path.as_deref(),
            r.systemd_cgroup,
        )
    }

    pub fn view(&self, status: Status) -> StateView<'_> {
        let r = &self.record;
        StateView {
            oci_version: OCI_VERSION,
            id: &r.id,
            pid: if status == Status::Stopped { 0 } else { r.pid },
            status,
            bundle: &r.bundle,
            rootfs: &r.rootfs,
            created: &r.created,
            annotations: &r.annotations,
            owner: &r.owner,
        }
    }

    pub fn hook_state(&self, status: Status) -> String {
        let r = &self.record;
        let s = HookState {
            oci_version: OCI_VERSION,
            id: &r.id,
            status,
            pid: (status != Status::Stopped).then_some(r.pid),
            bundle: &r.bundle,
            annotations: &r.annotations,
        };
        serde_json::to_string(&s).unwrap_or_default()
    }

    pub fn hooks(&self) -> Option<&oci_spec::runtime::Hooks> {
        match &self.record.config {
            Some(c) => c.hooks().as_ref(),
            None => self.record.hooks.as_ref(),
        }
    }

    /// The config as it was at create (not the bundle's config.json, which may have changed
    /// since): parsed from the copy in the state dir, or from an older rt's state.json.
    pub fn config(&self) -> Result<oci_spec::runtime::Spec> {
        if let Some(c) = &self.record.config {
            return Ok(c.clone());
        }
        let path = self.dir.join(crate::state::CONFIG_FILE);
        let data = std::fs::read(&path).map_err(io_err(format!("read {}", path.display())))?;
        crate::spec::parse(&data)
            .map_err(|errors| crate::spec::SpecError::Parse { path, errors }.into())
    }
}

/// Is `pid` still the process that started at `start_time`? A recycled pid has another one.
pub(crate) fn init_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match crate::procfs::start_time_and_state(pid) {
        Some((t, state)) if t == start_time => !matches!(state, Some('Z') | Some('X') | None),
        _ => false,
    }
}

/// Status from the kernel, cheapest check first: a stopped or created container never
/// loads a cgroup manager; only a running one reads its freezer state.
pub(crate) fn derive_status(
    pid: i32,
    start_time: u64,
    dir: &std::path::Path,
    cgroup_path: Option<&std::path::Path>,
    systemd: bool,
) -> Status {
    if !init_alive(pid, start_time) {
        return Status::Stopped;
    }
    if dir.join(EXEC_FIFO).exists() {
        return Status::Created;
    }
    if cgroup_path
        .and_then(|p| cgroups::load_manager(p, systemd).ok())
        .is_some_and(|c| c.is_frozen().unwrap_or(false))
    {
        return Status::Paused;
    }
    Status::Running
}

/// Hand a seccomp notify listener to the profile's `listenerPath` with the container's state.
pub(crate) fn send_seccomp_listener(
    compiled: Option<&crate::security::seccomp::CompiledSeccomp>,
    fd: &std::os::fd::OwnedFd,
    state: &StateView,
) -> std::result::Result<(), String> {
    let Some(c) = compiled else {
        return Ok(());
    };
    let Some(path) = &c.listener_path else {
        return Err(
            "seccomp: a notify listener was made but linux.seccomp.listenerPath is not set".into(),
        );
    };
    let state = serde_json::to_string(state).unwrap_or_default();
    crate::security::seccomp::send_listener(fd, path, &state, c.listener_metadata.as_deref())
        .map_err(|e| e.to_string())
}

/// `state ID`: runc prints the state indented.
pub fn state(root: &Root, id: &str) -> Result<String> {
    // The summary suffices (no config parse): shims call `state` often.
    let c = root.load_summary(id)?;
    let status = derive_status(
        c.pid,
        c.pid_start_time,
        &root.dir(id),
        c.cgroup_path.as_deref(),
        c.systemd_cgroup,
    );
    let v = list::view(&c, status);
    serde_json::to_string_pretty(&v).map_err(|e| ContainerError::Usage(e.to_string()))
}
