//! One `criu swrk 3` session, the way runc drives CRIU: one end of a SOCK_SEQPACKET pair is
//! criu's fd 3, rt sends one request, answers each notification CRIU sends while it works, and
//! reads the final response; then criu exits and rt reaps it.
//!
//! CRIU opens the images and work directories rt names by number through
//! /proc/<rt>/fd/<n> (the socket's peer credentials say who rt is), so those stay rt's own fds;
//! only `inherit_fd` sources must be open in criu, as its fds 4, 5, ...

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};

use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
};

use super::CriuError;
use super::proto::{self, Opts, ReqType, Resp};

/// CRIU's messages are small; runc reads them into 40 KiB and so does rt.
const MAX_MSG: usize = 10 * 4096;
/// The fd number criu is told to talk on (`criu swrk 3`); inherited fds follow it.
const SWRK_FD: RawFd = 3;

pub struct Swrk {
    child: Option<Child>,
    sock: OwnedFd,
}

/// What a notification handler gets: the script name (`post-restore`, `orphan-pts-master`,
/// ...), the pid CRIU names, and the fd passed with it, if any.
pub type Notify<'a> = dyn FnMut(&str, i32, Option<OwnedFd>) -> Result<(), String> + 'a;

impl Swrk {
    /// Start `criu swrk 3` with rt's stdio; `extra` become criu's fds 4, 5, ... in order.
    /// criu stays in rt's mount namespace: it opens the directories rt names through
    /// /proc/<rt>/fd, and mounts in them.
    pub fn start(criu: &Path, extra: &[BorrowedFd]) -> Result<Swrk, CriuError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(CriuError::sys("socketpair"))?;
        // Every fd criu gets, duplicated above the range it lands in, so that no dup2 in the
        // child overwrites a source that a later one still needs.
        let floor = SWRK_FD + extra.len() as RawFd + 1;
        let mut sources = Vec::with_capacity(extra.len() + 1);
        for fd in std::iter::once(theirs.as_raw_fd()).chain(extra.iter().map(|f| f.as_raw_fd())) {
            // SAFETY: F_DUPFD_CLOEXEC on an fd we hold returns a new fd that we own.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor) };
            if dup < 0 {
                return Err(CriuError::sys("dup fd for criu")(nix::Error::last()));
            }
            // SAFETY: `dup` was just created and is owned by nothing else.
            sources.push(unsafe { OwnedFd::from_raw_fd(dup) });
        }
        drop(theirs);
        let raw: Vec<RawFd> = sources.iter().map(|f| f.as_raw_fd()).collect();
        let mut cmd = Command::new(criu);
        cmd.arg("swrk").arg(SWRK_FD.to_string());
        // SAFETY: the closure runs in the forked child before exec and only calls dup2, which is
        // async-signal-safe; `raw` was filled before the fork. dup2 leaves the new fd without
        // FD_CLOEXEC, so exactly these fds reach criu.
        unsafe {
            cmd.pre_exec(move || {
                for (i, fd) in raw.iter().enumerate() {
                    if libc::dup2(*fd, SWRK_FD + i as RawFd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| CriuError::Spawn {
            path: criu.to_path_buf(),
            source,
        })?;
        Ok(Swrk {
            child: Some(child),
            sock: ours,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Send `req`, pass every notification to `notify` (and tell CRIU it went well), and return
    /// the response to `req`. A failure, or criu hanging up without one, is an error quoting
    /// `log`, CRIU's log file.
    pub fn call(
        &mut self,
        kind: ReqType,
        opts: &Opts,
        log: &Path,
        notify: &mut Notify,
    ) -> Result<Resp, CriuError> {
        let hung_up = || super::failed(kind, None, log);
        if !self.send(&proto::request(kind, Some(opts)))? {
            return Err(hung_up());
        }
        loop {
            let (resp, fd) = match self.recv()? {
                Some(r) => r,
                None => return Err(hung_up()),
            };
            if !resp.success {
                return Err(super::failed(kind, Some(&resp), log));
            }
            if resp.kind != Some(ReqType::Notify) {
                return Ok(resp);
            }
            let (script, pid) = resp.notify.unwrap_or_default();
            notify(&script, pid, fd).map_err(CriuError::Notify)?;
            if !self.send(&proto::request(ReqType::Notify, None))? {
                return Err(hung_up());
            }
        }
    }

    /// False when criu is gone.
    fn send(&self, msg: &[u8]) -> Result<bool, CriuError> {
        // One send on a SOCK_SEQPACKET socket is one message.
        match nix::sys::socket::send(self.sock.as_raw_fd(), msg, MsgFlags::MSG_NOSIGNAL) {
            Ok(_) => Ok(true),
            Err(nix::Error::EPIPE | nix::Error::ECONNRESET) => Ok(false),
            Err(e) => Err(CriuError::sys("send to criu")(e)),
        }
    }

    /// The next message; None when criu hung up.
    fn recv(&self) -> Result<Option<(Resp, Option<OwnedFd>)>, CriuError> {
        let mut buf = vec![0u8; MAX_MSG];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = loop {
            match recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::Error::EINTR) => continue,
                // A peer gone with our request unread resets the connection.
                Err(nix::Error::ECONNRESET) => return Ok(None),
                other => break other.map_err(CriuError::sys("read from criu"))?,
            }
        };
        let mut fd = None;
        for c in msg.cmsgs().map_err(CriuError::sys("read from criu"))? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for f in fds {
                    // SAFETY: the kernel just installed this fd for us; nothing else owns it.
                    let owned = unsafe { OwnedFd::from_raw_fd(f) };
                    fd.get_or_insert(owned);
                }
            }
        }
        let n = msg.bytes;
        if n == 0 {
            return Ok(None);
        }
        if n >= MAX_MSG {
            return Err(CriuError::Protocol(format!("message over {MAX_MSG} bytes")));
        }
        Ok(Some((Resp::decode(&buf[..n])?, fd)))
    }

    /// Hang up and reap criu, which must have succeeded at `kind`. After a pre-dump CRIU waits
    /// for the next request: hanging up ends it with a failure status, which is expected.
    pub fn finish(mut self, kind: ReqType, log: &Path) -> Result<(), CriuError> {
        let status = self.reap().map_err(CriuError::sys("wait for criu"))?;
        if status.success() || kind == ReqType::PreDump {
            return Ok(());
        }
        let code = status
            .code()
            .or(status.signal().map(|s| 128 + s))
            .unwrap_or(255);
        Err(super::exited(code, log))
    }

    fn reap(&mut self) -> nix::Result<ExitStatus> {
        // Shutting our end down is CRIU's cue that no more requests come (pre-dump waits for one).
        let _ = nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        match self.child.take() {
            Some(mut c) => c
                .wait()
                .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
            None => Ok(ExitStatus::default()),
        }
    }
}

impl Drop for Swrk {
    /// An abandoned session (an error on rt's side) still reaps criu, which gives up once the
    /// socket is gone, undoing its own work as it does on any failure.
    fn drop(&mut self) {
        let _ = self.reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in criu: a shell script that answers from a file of prepared responses.
    fn fake_criu(dir: &Path, responses: &[&[u8]]) -> std::path::PathBuf {
        let mut script = String::from("#!/bin/sh\n[ \"$1 $2\" = \"swrk 3\" ] || exit 9\n");
        for (i, r) in responses.iter().enumerate() {
            let f = dir.join(format!("r{i}"));
            std::fs::write(&f, r).unwrap();
            // Read a request, then answer (dd: one write is one SEQPACKET message).
            script.push_str(&format!(
                "dd bs=65536 count=1 <&3 >>{d}/reqs 2>/dev/null; echo >>{d}/reqs; \
                 dd bs=65536 count=1 if={f} >&3 2>/dev/null\n",
                d = dir.display(),
                f = f.display()
            ));
        }
        let p = dir.join("criu");
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn notifications_are_answered_and_the_final_response_returned() {
        let t = crate::testutil::TempDir::new("swrk");
        // NOTIFY post-dump, then DUMP success
        let mut notify = vec![0x08, 0x06, 0x10, 0x01, 0x2a, 11, 0x0a, 9];
        notify.extend_from_slice(b"post-dump");
        let criu = fake_criu(t.path(), &[&notify, &[0x08, 0x01, 0x10, 0x01]]);
        let mut s = Swrk::start(&criu, &[]).unwrap();
        let mut seen = Vec::new();
        let resp = s
            .call(
                ReqType::Dump,
                &Opts::new(0),
                Path::new("/none"),
                &mut |script, pid, fd| {
                    seen.push((script.to_string(), pid, fd.is_some()));
                    Ok(())
                },
            )
            .unwrap();
        assert!(resp.success);
        assert_eq!(resp.kind, Some(ReqType::Dump));
        assert_eq!(seen, [("post-dump".to_string(), 0, false)]);
        s.finish(ReqType::Dump, Path::new("/none")).unwrap();
        // The DUMP request with its opts, then the notify acknowledgement (type 6,
        // notify_success).
        let reqs = std::fs::read(t.path().join("reqs")).unwrap();
        let want = [
            0x08, 0x01, 0x12, 0x02, 0x08, 0x00, b'\n', 0x08, 0x06, 0x18, 0x01, b'\n',
        ];
        assert_eq!(reqs, want);
    }

    #[test]
    fn a_criu_that_hangs_up_is_an_error_naming_the_request() {
        let t = crate::testutil::TempDir::new("swrk-eof");
        let criu = fake_criu(t.path(), &[]);
        let mut s = Swrk::start(&criu, &[]).unwrap();
        let err = s
            .call(
                ReqType::Restore,
                &Opts::new(0),
                &t.path().join("x.log"),
                &mut |_, _, _| Ok(()),
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "criu failed: type RESTORE errno 0: criu exited without an answer\nlog file: "
            ),
            "{err}"
        );
    }

    #[test]
    fn a_missing_criu_is_named() {
        let err = Swrk::start(Path::new("/nonexistent/criu"), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent/criu"), "{err}");
    }
}
