//! Terminals: the container's pty (opened inside, after pivot_root, from its own devpts), the
//! console-socket hand-off (runc's protocol: one sendmsg, payload the pty name, one SCM_RIGHTS fd,
//! the master), and the foreground proxy for `run`/`exec -t` without a socket.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::pty::{Winsize, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, connect, sendmsg, socket,
};

#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct TtyError {
    what: String,
    source: nix::Error,
}

fn e(what: impl Into<String>) -> impl FnOnce(nix::Error) -> TtyError {
    let what = what.into();
    move |source| TtyError { what, source }
}

nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, Winsize);
nix::ioctl_read_bad!(get_winsize, libc::TIOCGWINSZ, Winsize);

/// In init, after pivot_root: make a pty, make its slave our controlling terminal, stdio and
/// /dev/console (created if missing, unless /dev is bound from elsewhere: rt creates nothing
/// in someone else's /dev). Returns the master for the parent.
pub fn setup_console(size: Option<(u32, u32)>, dev_bound: bool) -> Result<OwnedFd, TtyError> {
    setup_pty(size, Console::Bind { create: !dev_bound })
}

/// In an exec'd process: the same pty set-up, but /dev/console stays the container's (runc only
/// binds the init's pty there).
pub fn setup_exec_console(size: Option<(u32, u32)>) -> Result<OwnedFd, TtyError> {
    setup_pty(size, Console::Leave)
}

/// What the pty does to /dev/console.
enum Console {
    Leave,
    Bind { create: bool },
}

fn setup_pty(size: Option<(u32, u32)>, console_mode: Console) -> Result<OwnedFd, TtyError> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(e("open /dev/ptmx"))?;
    grantpt(&master).map_err(e("grantpt"))?;
    unlockpt(&master).map_err(e("unlockpt"))?;
    let name = ptsname_r(&master).map_err(e("ptsname"))?;
    if let Some((h, w)) = size {
        let ws = Winsize {
            ws_row: h as u16,
            ws_col: w as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the Winsize we pass on a pty fd we own.
        unsafe { set_winsize(master.as_raw_fd(), &ws) }.map_err(e("set console size"))?;
    }
    let slave = nix::fcntl::open(
        Path::new(&name),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(e(format!("open {name}")))?;
    // /dev/console shows the pty, as in runc. A missing /dev (no /dev mount), or a missing
    // console in a bound /dev, is not fatal.
    let console = Path::new("/dev/console");
    if let Console::Bind { create } = console_mode
        && console.parent().is_some_and(|d| d.is_dir())
        && (create || console.exists())
    {
        if !console.exists() {
            let _ = std::fs::File::create(console);
        }
        nix::mount::mount(
            Some(Path::new(&name)),
            console,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(e("bind pty on /dev/console"))?;
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto stdio numbers; the source fd is ours and open.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(e("dup2 pty over stdio")(nix::Error::last()));
        }
    }
    // SAFETY: TIOCSCTTY on our stdin (the pty slave) after setsid made us session leader.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(e("set controlling terminal")(nix::Error::last()));
    }
    // SAFETY: into_raw_fd hands over sole ownership of the master fd.
    Ok(unsafe {
        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(
            master,
        ))
    })
}

/// Hand the master to the caller's console socket.
pub fn send_to_socket(socket_path: &Path, master: BorrowedFd) -> Result<(), TtyError> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(e("console socket"))?;
    let addr = UnixAddr::new(socket_path)
        .map_err(e(format!("console socket {}", socket_path.display())))?;
    connect(sock.as_raw_fd(), &addr).map_err(e(format!(
        "connect to console socket {}",
        socket_path.display()
    )))?;
    let name = nix::unistd::ttyname(master)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/dev/ptmx".into());
    let fds = [master.as_raw_fd()];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(e("send pty master to console socket"))?;
    Ok(())
}

/// Our terminal in raw mode while proxying; restored on drop.
pub struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let saved = nix::sys::termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            nix::sys::termios::cfmakeraw(&mut raw);
            let _ = nix::sys::termios::tcsetattr(
                stdin.as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                &raw,
            );
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin().as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Copy our window size to the pty (at start and on SIGWINCH).
pub fn copy_winsize(master: BorrowedFd) {
    let mut ws = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes into `ws`, TIOCSWINSZ reads it; both fds are valid here.
    unsafe {
        if get_winsize(0, &mut ws).is_ok() {
            let _ = set_winsize(master.as_raw_fd(), &ws);
        }
    }
}
