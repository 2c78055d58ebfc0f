//! NOTIFY_SOCKET, as runc has it (its notify_socket.go): when rt is started with NOTIFY_SOCKET
//! (a systemd Type=notify service, podman's `--sdnotify=container`), the container gets a
//! socket of rt's instead, at /run/notify/notify.sock: a directory in the state dir, bind-mounted
//! read-only. `start` (or `run`) binds the socket before it releases the container, waits for
//! the container's `READY=`, and passes it on to the caller's socket with `MAINPID=` (the
//! container's init, or rt itself in a foreground `run`), then waits for the caller to have read
//! them (sd_notify_barrier's protocol).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, bind, connect, sendmsg,
    socket,
};
use oci_spec::runtime::{Mount, Spec};

use super::{Result, sys_err};
use crate::state::NOTIFY_DIR;

const SOCKET: &str = "notify.sock";
const IN_CONTAINER: &str = "/run/notify";
/// How long the caller gets to read our messages (runc's barrier timeout).
const BARRIER_TIMEOUT: u16 = 30_000;

/// The caller's NOTIFY_SOCKET, if it has one.
pub fn caller_socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// create: the container's /run/notify (the state dir's notify directory, read-only) and its
/// NOTIFY_SOCKET. The directory is made here; the socket in it by `start`.
pub fn prepare(spec: &mut Spec, state_dir: &Path) -> Result<()> {
    let dir = state_dir.join(NOTIFY_DIR);
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&dir)
        .map_err(super::io_err(format!("mkdir {}", dir.display())))?;
    let mut mount = Mount::default();
    mount
        .set_destination(IN_CONTAINER.into())
        .set_source(Some(dir))
        .set_typ(Some("bind".into()))
        .set_options(Some(
            ["bind", "nosuid", "noexec", "nodev", "ro"]
                .map(String::from)
                .to_vec(),
        ));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    if let Some(p) = spec.process_mut().as_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        env.push(format!("NOTIFY_SOCKET={IN_CONTAINER}/{SOCKET}"));
        p.set_env(Some(env));
    }
    Ok(())
}

/// rt's end: the socket the container sends to, and where its READY goes.
pub struct Relay {
    sock: OwnedFd,
    caller: String,
}

/// start/run: bind the container's socket, if rt has a caller's socket and the container was
/// created with one (runc fails `start` when it was not; rt just has nothing to pass on).
pub fn bind_relay(state_dir: &Path) -> Result<Option<Relay>> {
    let Some(caller) = caller_socket() else {
        return Ok(None);
    };
    let dir = state_dir.join(NOTIFY_DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    let sock = datagram_socket()?;
    // Through the directory's fd: a state dir under a long --root (Docker's, with 64-character
    // ids) makes a socket path longer than sockaddr_un holds.
    let dirfd = nix::fcntl::open(
        &dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err(format!("open {}", dir.display())))?;
    let via = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", dirfd.as_raw_fd()));
    let _ = std::fs::remove_file(&via);
    let addr = UnixAddr::new(&via).map_err(sys_err("notify socket address"))?;
    bind(sock.as_raw_fd(), &addr).map_err(sys_err(format!("bind {}/{SOCKET}", dir.display())))?;
    // Anyone in the container (any uid) may notify, as with runc's 0777.
    std::fs::set_permissions(&via, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .map_err(super::io_err(format!("chmod {}/{SOCKET}", dir.display())))?;
    Ok(Some(Relay { sock, caller }))
}

fn datagram_socket() -> Result<OwnedFd> {
    socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(sys_err("notify socket"))
}

impl Relay {
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Wait (while `alive`) for the container's READY, and pass it on with MAINPID=`main_pid`.
    pub fn wait(&self, main_pid: i32, alive: impl Fn() -> bool) -> Result<()> {
        loop {
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(0) | Err(nix::Error::EINTR) => {
                    if !alive() {
                        return Ok(());
                    }
                }
                Ok(_) => {
                    if self.on_readable(main_pid)? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(sys_err("poll the notify socket")(e)),
            }
        }
    }

    /// Read one message; if it says READY=, pass that on and return true.
    pub fn on_readable(&self, main_pid: i32) -> Result<bool> {
        let mut buf = [0u8; 4096];
        let n =
            match nix::sys::socket::recv(self.sock.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => return Ok(false),
                Err(e) => return Err(sys_err("read the notify socket")(e)),
            };
        let Some(ready) = buf[..n]
            .split(|b| *b == b'\n')
            .find(|l| l.starts_with(b"READY="))
        else {
            return Ok(false);
        };
        self.notify_caller(ready, main_pid)?;
        Ok(true)
    }

    fn notify_caller(&self, ready: &[u8], main_pid: i32) -> Result<()> {
        let addr = match self.caller.strip_prefix('@') {
            Some(name) => UnixAddr::new_abstract(name.as_bytes()),
            None => UnixAddr::new(self.caller.as_str()),
        }
        .map_err(sys_err(format!("NOTIFY_SOCKET {}", self.caller)))?;
        let out = datagram_socket()?;
        let what = format!("send to NOTIFY_SOCKET {}", self.caller);
        connect(out.as_raw_fd(), &addr).map_err(sys_err(what.clone()))?;
        let send = |msg: &[u8], fds: &[i32]| {
            let cmsg = [ControlMessage::ScmRights(fds)];
            let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
            sendmsg::<UnixAddr>(
                out.as_raw_fd(),
                &[IoSlice::new(msg)],
                cmsgs,
                MsgFlags::empty(),
                None,
            )
            .map_err(sys_err(what.clone()))
        };
        send(&[ready, b"\n"].concat(), &[])?;
        send(format!("MAINPID={main_pid}\n").as_bytes(), &[])?;
        // The barrier: the caller closes the pipe's write end once it has read the above.
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys_err("pipe"))?;
        send(b"BARRIER=1", &[w.as_raw_fd()])?;
        drop(w);
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        if let Ok(0) = poll(&mut fds, PollTimeout::from(BARRIER_TIMEOUT)) {
            crate::logging::warn(&format!(
                "timeout after waiting {}s for barrier. Ignored.",
                Duration::from_millis(BARRIER_TIMEOUT.into()).as_secs()
            ));
        }
        Ok(())
    }
}
