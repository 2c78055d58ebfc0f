//! `run`: create + start, then (unless detached) wait in the foreground: forward signals, proxy
//! the terminal, exit with the container's status, and delete the container afterwards.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::create::{CreateOpts, create};
use super::start::start_loaded;
use super::{Result, delete, sys_err};
use crate::state::Root;

pub struct RunOpts<'a> {
    pub create: CreateOpts<'a>,
    pub detach: bool,
    pub keep: bool,
}

/// Returns the exit code rt should exit with.
pub fn run(root: &Root, o: &RunOpts) -> Result<i32> {
    let created = create(root, &o.create)?;
    let c = created.container;
    // Block the signals we forward before the container can exit, so none is lost.
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    mask.add(Signal::SIGCHLD);
    if !o.detach {
        mask.thread_block().map_err(sys_err("block signals"))?;
    }
    // rt's own terminal size wins over process.consoleSize (as in runc): set it before the
    // process starts, or its first look at the size may race the copy in wait_foreground.
    if let Some(m) = &created.console {
        crate::tty::copy_winsize(m.as_fd());
    }
    // The notify socket is bound before the container runs, so that its READY cannot come before.
    let relay = super::notify::bind_relay(&c.dir).and_then(|r| start_loaded(&c).map(|()| r));
    let relay = match relay {
        Ok(r) => r,
        Err(e) => {
            let _ = delete::destroy_after_failure(root, &c);
            return Err(e);
        }
    };
    if o.detach {
        // As runc: wait for the container's READY (or its end) and pass it on with its pid.
        if let Some(r) = relay {
            r.wait(c.record.pid, || c.init_alive())?;
        }
        return Ok(0);
    }
    // In the foreground rt is the main process the caller watches.
    let code = wait_foreground(c.record.pid, &mask, created.console, relay.as_ref())?;
    crate::logging::timeline("exited");
    if !o.keep {
        delete::delete(root, &c.record.id, true)?;
        crate::logging::timeline("deleted");
    }
    Ok(code)
}

pub(crate) const FORWARDED: [Signal; 10] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGALRM,
    Signal::SIGPIPE,
];

pub fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Wait for `pid`, forwarding signals to it and copying between our stdio and the pty master.
pub fn wait_foreground(
    pid: i32,
    mask: &SigSet,
    console: Option<OwnedFd>,
    notify: Option<&super::notify::Relay>,
) -> Result<i32> {
    let mut notify = notify;
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(sys_err("signalfd"))?;
    let _raw = console.as_ref().map(|_| crate::tty::RawMode::enter());
    if let Some(m) = &console {
        crate::tty::copy_winsize(m.as_fd());
    }
    let stdin = std::io::stdin();
    let mut stdin_open = console.is_some();
    let mut buf = [0u8; 8192];
    loop {
        // Reap first: SIGCHLD may have come before we blocked it.
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(ws) => {
                if let Some(code) = exit_code(ws) {
                    if let Some(m) = &console {
                        drain(m, &mut buf);
                    }
                    return Ok(code);
                }
            }
            Err(nix::Error::ECHILD) => return Ok(0),
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(sys_err("wait for container")(e)),
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        // The notify socket last: the console's indexes stay 1 and 2.
        let mut notify_at = None;
        if let Some(m) = &console {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        if let Some(r) = notify {
            notify_at = Some(fds.len());
            fds.push(PollFd::new(r.fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(sys_err("poll")(e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if let (Some(r), Some(i)) = (notify, notify_at)
            && ready[i]
            && r.on_readable(std::process::id() as i32)?
        {
            notify = None;
        }
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    continue;
                }
                if sig == libc::SIGWINCH
                    && let Some(m) = &console
                {
                    crate::tty::copy_winsize(m.as_fd());
                    continue;
                }
                if let Ok(s) = Signal::try_from(sig) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
                }
            }
        }
        if let Some(m) = &console {
            if ready.get(1) == Some(&true) {
                match nix::unistd::read(m, &mut buf) {
                    Ok(n) if n > 0 => write_all(libc::STDOUT_FILENO, &buf[..n]),
                    // EIO: the slave side is closed; the process is exiting.
                    _ => {}
                }
            }
            if stdin_open && ready.get(2) == Some(&true) {
                match nix::unistd::read(&stdin, &mut buf) {
                    Ok(n) if n > 0 => write_all(m.as_raw_fd(), &buf[..n]),
                    _ => stdin_open = false,
                }
            }
        }
    }
}

fn drain(m: &OwnedFd, buf: &mut [u8]) {
    let _ = nix::fcntl::fcntl(
        m,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while let Ok(n) = nix::unistd::read(m, buf) {
        if n == 0 {
            break;
        }
        write_all(libc::STDOUT_FILENO, &buf[..n]);
    }
}

fn write_all(fd: i32, mut data: &[u8]) {
    // SAFETY: fd is stdout or the pty master, open for the life of this call.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(bfd, data) {
            Ok(n) if n > 0 => data = &data[n..],
            Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => continue,
            _ => return,
        }
    }
}
