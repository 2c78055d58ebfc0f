//! The protocol between rt and the process it starts (init for create, the child of exec): the
//! messages, the order they come in, and a named wait for each. The steps, in the order they
//! happen (parent.rs, init.rs and exec_init.rs mark each with its number):
//!
//!  1. rt → child  `Proceed`          the child is in its cgroup, a user ns made by clone mapped
//!  2. child → rt  `MapIds`           it made a user ns by unshare: rt writes its maps
//!     rt → child  `MapIdsDone`
//!  3. child → rt  `ChildPid(p)`      a second fork made p the child (setns/unshare of a pid or
//!     time ns applies to children only); the intermediate exits
//!  4. child → rt  `MountSources`     its mount ns made in a user ns, nothing mounted yet: rt
//!     opens the bind sources there (rootfs/sources.rs)
//!     rt → child  `MountSource(i)` + fd, for each source it could open, then `MountSourcesDone`
//!  5. child → rt  `Hooks`            mounts done, before pivot_root: rt runs the prestart and
//!     createRuntime hooks
//!     rt → child  `HooksDone`
//!  6. child → rt  `Console` + fd     the pty master, from the container's devpts
//!  7. child → rt  `SeccompFd` + fd   the notify listener, for linux.seccomp.listenerPath
//!  8. child → rt  `Ready`            create: init waits on exec.fifo; exec: execve is next
//!  9. create: init → `start`, over exec.fifo once a `start` opens it: `Started`, then the end
//!     of the fifo (init runs the startContainer hooks first: their failure is `start`'s)
//!     exec: the channel closes at execve (it is CLOEXEC)
//!
//! Steps 2 and 3 follow the `ClonePlan`, 4 to 6 the [`Steps`] and 7 the compiled seccomp filter
//! (a notify action makes a listener, and needs a listenerPath), all decided before clone and
//! read by both sides, so neither waits for a message the other will not send. exec's child
//! takes steps 1, 3 and 6 to 9: it joins namespaces, makes none and mounts nothing.
//!
//! In place of any message it sends (at step 9 of create too), the child may send
//! `Error{errno,msg}` and exit: the cause, shown to the user verbatim. Anything but the awaited
//! message is a protocol error naming both.

use std::os::fd::OwnedFd;

use serde::{Deserialize, Serialize};

use super::channel::{Channel, ChannelError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    Proceed,
    MapIds,
    MapIdsDone,
    ChildPid(i32),
    MountSources,
    MountSource(usize),
    MountSourcesDone,
    Hooks,
    HooksDone,
    Console,
    SeccompFd,
    Ready,
    Started,
    /// `errno`: of the failed syscall at the root of the error, 0 if there was none.
    Error {
        errno: i32,
        msg: String,
    },
}

/// The optional steps 4 to 6 one start takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps {
    pub mount_sources: bool,
    pub hooks: bool,
    pub console: bool,
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
            Msg::Hooks => "Hooks",
            Msg::HooksDone => "HooksDone",
            Msg::Console => "Console",
            Msg::SeccompFd => "SeccompFd",
            Msg::Ready => "Ready",
            Msg::Started => "Started",
            Msg::Error { .. } => "Error",
        }
    }
}

/// The waits, in step order. rt's side of each step names the message the child sends, the
/// child's side the answer it waits for.
impl Channel {
    /// 1, in the child.
    pub fn expect_proceed(&self) -> Result<(), ChannelError> {
        self.expect_only(Msg::Proceed)
    }

    /// 2, in rt.
    pub fn expect_map_ids(&self) -> Result<(), ChannelError> {
        self.expect_only(Msg::MapIds)
    }

    /// 2, in the child.
    pub fn expect_map_ids_done(&self) -> Result<(), ChannelError> {
        self.expect_only(Msg::MapIdsDone)
    }

    /// 3, in rt: the pid of the process that takes over from the intermediate.
    pub fn expect_child_pid(&self) -> Result<i32, ChannelError> {
        self.expect("ChildPid", |m, _| match m {
            Msg::ChildPid(p) => Ok(p),
            m => Err(m),
        })
    }

    /// 4, in rt.
    pub fn expect_mount_sources(&self) -> Result<(), ChannelError> {
        self.expect_only(Msg::MountSources)
    }

    /// 4, in the child: the next source (its index in config.json's mounts) and its fd; None
    /// once rt has sent all it could open.
    pub fn expect_mount_source(&self) -> Result<Option<(usize, OwnedFd)>, ChannelError> {
        self.expect("MountSource + fd or MountSourcesDone", |m, fd| {
            match (m, fd) {
                (Msg::MountSource(i), Some(fd)) => Ok(Some((i, fd))),
                (Msg::MountSourcesDone, _) => Ok(None),
                (m, _) => Err(m),
            }
        })
    }

    /// 5, in rt.
    pub fn expect_hooks(&self) -> Result<(), ChannelError> {
        self.expect_only(Msg::Hooks)
    }

    /// 5, in the child.
    pub fn expect_hooks_done(&self) -> Result<(), ChannelError> {
        self.expect_only(Msg::HooksDone)
    }

    /// 6, in rt: the pty master.
    pub fn expect_console(&self) -> Result<OwnedFd, ChannelError> {
        self.expect("Console + fd", |m, fd| match (m, fd) {
            (Msg::Console, Some(fd)) => Ok(fd),
            (m, _) => Err(m),
        })
    }

    /// 7, in rt: the seccomp notify listener.
    pub fn expect_seccomp_fd(&self) -> Result<OwnedFd, ChannelError> {
        self.expect("SeccompFd + fd", |m, fd| match (m, fd) {
            (Msg::SeccompFd, Some(fd)) => Ok(fd),
            (m, _) => Err(m),
        })
    }

    /// 8, in rt.
    pub fn expect_ready(&self) -> Result<(), ChannelError> {
        self.expect_only(Msg::Ready)
    }

    /// 9, in rt (exec): the channel closes when execve succeeds.
    pub fn expect_exec(&self) -> Result<(), ChannelError> {
        match self.expect("the close at execve", |m, _| Err::<(), _>(m)) {
            Err(ChannelError::Closed(_)) => Ok(()),
            other => other,
        }
    }

    fn expect_only(&self, want: Msg) -> Result<(), ChannelError> {
        self.expect(want.name(), |m, _| if m == want { Ok(()) } else { Err(m) })
    }
}

/// 9, in `start`: init's whole answer on exec.fifo (nothing if init died first).
pub fn expect_started(answer: &[u8]) -> Result<(), ChannelError> {
    if answer.is_empty() {
        return Err(ChannelError::Closed("Started"));
    }
    let msg = serde_json::from_slice(answer)?;
    take("Started", msg, None, |m, _| match m {
        Msg::Started => Ok(()),
        m => Err(m),
    })
}

/// What the awaited message holds: `take` picks it out, or gives back any other message. The
/// peer's `Error` becomes [`ChannelError::Reported`]; anything else it did not expect becomes
/// [`ChannelError::Protocol`].
pub(super) fn take<T>(
    expected: &'static str,
    msg: Msg,
    fd: Option<OwnedFd>,
    take: impl FnOnce(Msg, Option<OwnedFd>) -> Result<T, Msg>,
) -> Result<T, ChannelError> {
    match msg {
        Msg::Error { errno, msg } => Err(ChannelError::Reported { errno, msg }),
        m => take(m, fd).map_err(|m| ChannelError::Protocol {
            expected,
            got: m.name(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;
    use crate::process::channel::pair;

    #[test]
    fn each_wait_takes_only_its_message() {
        let (rt, child) = pair().unwrap();
        // A surprise names what was awaited and what came.
        child.send(&Msg::Ready).unwrap();
        let e = rt.expect_hooks().unwrap_err().to_string();
        assert_eq!(e, "sync channel: expected Hooks, got Ready");
        // A step that carries an fd is a surprise without it.
        child.send(&Msg::Console).unwrap();
        assert!(matches!(
            rt.expect_console(),
            Err(ChannelError::Protocol {
                expected: "Console + fd",
                got: "Console"
            })
        ));
        // The child's own error, in place of any message, comes with its errno.
        let error = Msg::Error {
            errno: libc::ENOENT,
            msg: "exec /x: ENOENT: No such file or directory".into(),
        };
        child.send(&error).unwrap();
        match rt.expect_ready() {
            Err(ChannelError::Reported { errno, msg }) => {
                assert_eq!(errno, libc::ENOENT);
                assert_eq!(msg, "exec /x: ENOENT: No such file or directory");
            }
            other => panic!("{other:?}"),
        }
        child.send(&Msg::ChildPid(7)).unwrap();
        assert_eq!(rt.expect_child_pid().unwrap(), 7);
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        rt.send_with_fd(&Msg::MountSource(3), Some(file.as_raw_fd()))
            .unwrap();
        rt.send(&Msg::MountSourcesDone).unwrap();
        assert_eq!(child.expect_mount_source().unwrap().map(|s| s.0), Some(3));
        assert!(child.expect_mount_source().unwrap().is_none());
        // Step 9 of exec: the channel's close at execve is the success.
        drop(child);
        rt.expect_exec().unwrap();
    }
}
