//! The messages rt and its init exchange. The sequence (numbers match the comments in
//! parent.rs and init.rs):
//!
//!  1. parent → init  `Proceed`      init is in its cgroup (and its clone-time user ns is mapped)
//!  2. init → parent  `MapIds`       init made a user ns by unshare; parent writes the maps
//!     parent → init  `MapIdsDone`
//!  3. init → parent  `ChildPid(p)`  a second fork made p the real init (intermediate exits)
//!  4. init → parent  `Console` + fd the pty master (terminal: true)
//!  5. init → parent  `Hooks`        mounts done, before pivot_root: run prestart/createRuntime
//!     parent → init  `HooksDone`
//!  6. init → parent  `SeccompFd` + fd  the notify listener, to send to listenerPath
//!  7. init → parent  `Ready`        init waits on exec.fifo now
//!  8. (exec only) the channel closes at execve; `Error(msg)` instead if execve failed
//!  9. init → parent  `MountSources` (after 3, before 5) in a user namespace, its mount
//!     namespace made and nothing mounted yet: open the bind sources there (rootfs/sources.rs)
//!     parent → init  `MountSource(i)` + fd, for each source it could open
//!     parent → init  `MountSourcesDone`
//!
//! `exec` (exec_init.rs) uses steps 1, 3, 4, 6, 7 and 8: it joins namespaces, never makes any.
//!
//! At any time init → parent `Error(msg)`: the cause, shown to the user verbatim.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Proceed,
    MapIds,
    MapIdsDone,
    ChildPid(i32),
    MountSources,
    MountSource(usize),
    MountSourcesDone,
    Console,
    Hooks,
    HooksDone,
    SeccompFd,
    Ready,
    Error(String),
}

impl Msg {
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Proceed => "Proceed",
            Msg::MapIds => "MapIds",
            Msg::MapIdsDone => "MapIdsDone",
            Msg::ChildPid(_) => "ChildPid",
            Msg::MountSources => "MountSources",
            Msg::MountSource(_) => "MountSource",
            Msg::MountSourcesDone => "MountSourcesDone",
            Msg::Console => "Console",
            Msg::Hooks => "Hooks",
            Msg::HooksDone => "HooksDone",
            Msg::SeccompFd => "SeccompFd",
            Msg::Ready => "Ready",
            Msg::Error(_) => "Error",
        }
    }
}
