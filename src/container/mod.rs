//! A container as the verbs see it: its saved record plus a status derived from the kernel,
//! never trusted from disk. One file per verb.

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod kill;
mod list;
mod notify;
mod pause;
mod ps;
mod restore;
pub mod run;
mod start;
mod update;

use std::path::PathBuf;

use serde::Serialize;

pub use checkpoint::checkpoint;
pub use create::{CreateOpts, create};
pub use delete::delete;
pub use events::events;
pub use exec::{ExecOpts, exec};
pub use kill::kill;
pub use list::list;
pub use pause::{pause, resume};
pub use ps::ps;
pub use restore::{RestoreOpts, restore};
pub use run::{RunOpts, run};
pub use start::start;
pub use update::{UpdateOpts, update};

use crate::cgroups::{self, Manager};
use crate::state::{EXEC_FIFO, Record, Root, StateError};

pub const OCI_VERSION: &str = "1.3.0";

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
    #[error(transparent)]
    Criu(#[from] crate::criu::CriuError),
    #[error(transparent)]
    Setup(#[from] crate::process::setup::SetupError),
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
        let r = &self.record;
        if r.pid <= 0 {
            return false;
        }
        match crate::procfs::start_time_and_state(r.pid) {
            Some((t, state)) if t == r.pid_start_time => {
                !matches!(state, Some('Z') | Some('X') | None)
            }
            _ => false,
        }
    }

    pub fn cgroup(&self) -> Option<Box<dyn Manager>> {
        let p = self.record.cgroup_path.as_ref()?;
        cgroups::load_manager(p, self.record.systemd_cgroup).ok()
    }

    /// The cgroup, if rt made it: only then may rt kill everything in it and remove it.
    pub fn owned_cgroup(&self) -> Option<Box<dyn Manager>> {
        self.cgroup().filter(|_| self.record.cgroup_owned)
    }

    /// Status from the kernel, cheapest check first: a stopped or created container never
    /// loads a cgroup manager; only a running one reads its freezer state.
    pub fn status(&self) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.dir.join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if self
            .cgroup()
            .is_some_and(|c| c.is_frozen().unwrap_or(false))
        {
            return Status::Paused;
        }
        Status::Running
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
            owner: "",
        }
    }

    /// [`view`](Self::view) as JSON, as the seccomp agent gets it.
    pub fn state_json(&self, status: Status) -> String {
        serde_json::to_string(&self.view(status)).unwrap_or_default()
    }

    pub fn hook_state(&self, status: Status) -> String {
        hook_state(&self.record, status, self.record.pid)
    }

    pub fn hooks(&self) -> Option<&oci_spec::runtime::Hooks> {
        self.record.hooks.as_ref()
    }

    /// The config as it was at create (not the bundle's config.json, which may have changed
    /// since): parsed from the copy in the state dir.
    pub fn config(&self) -> Result<oci_spec::runtime::Spec> {
        let path = self.dir.join(crate::state::CONFIG_FILE);
        let data = std::fs::read(&path).map_err(io_err(format!("read {}", path.display())))?;
        crate::spec::parse(&data)
            .map_err(|errors| crate::spec::SpecError::Parse { path, errors }.into())
    }
}

/// The OCI state hooks receive on stdin, for init `pid`.
pub(crate) fn hook_state(r: &Record, status: Status, pid: i32) -> String {
    let s = HookState {
        oci_version: OCI_VERSION,
        id: &r.id,
        status,
        pid: (status != Status::Stopped).then_some(pid),
        bundle: &r.bundle,
        annotations: &r.annotations,
    };
    serde_json::to_string(&s).unwrap_or_default()
}

/// runc's checks of exec's and restore's tty flags, in runc's words.
fn check_console_flags(detach: bool, terminal: bool, console_socket: bool) -> Result<()> {
    if detach && terminal && !console_socket {
        return Err(ContainerError::Usage(
            "cannot allocate tty if rt will detach without setting console socket".into(),
        ));
    }
    if (!detach || !terminal) && console_socket {
        return Err(ContainerError::Usage(
            "cannot use console socket if rt will not detach or allocate tty".into(),
        ));
    }
    Ok(())
}

/// `state ID`: runc prints the state indented.
pub fn state(root: &Root, id: &str) -> Result<String> {
    let c = Container::load(root, id)?;
    serde_json::to_string_pretty(&c.view(c.status()))
        .map_err(|e| ContainerError::Usage(e.to_string()))
}
