//! A SOCK_SEQPACKET pair carrying `Msg`s (JSON, one per packet) and, with some, one fd.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

use super::msg::Msg;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("sync channel: {0}")]
    Sys(#[from] nix::Error),
    #[error("sync channel: bad message: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("sync channel: peer closed while waiting for {0}")]
    Closed(&'static str),
    #[error("sync channel: expected {expected}, got {got}")]
    Protocol {
        expected: &'static str,
        got: &'static str,
    },
    /// The peer's own error, which ended it: the text is the cause, shown unchanged.
    #[error("{msg}")]
    Reported { errno: i32, msg: String },
}

pub struct Channel {
    fd: OwnedFd,
}

const MAX_MSG: usize = 64 * 1024;

/// A connected pair: one end for rt, one for init. CLOEXEC, so neither end reaches the
/// container's program.
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<(), ChannelError> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<(), ChannelError> {
        let data = serde_json::to_vec(msg)?;
        let iov = [IoSlice::new(&data)];
        let fds;
        let cmsgs: Vec<ControlMessage> = match fd {
            Some(f) => {
                fds = [f];
                vec![ControlMessage::ScmRights(&fds)]
            }
            None => vec![],
        };
        sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None)?;
        Ok(())
    }

    /// Wait for the next message; `waiting_for` names it in the error if the peer dies.
    pub fn recv(&self, waiting_for: &'static str) -> Result<(Msg, Option<OwnedFd>), ChannelError> {
        // Learn the packet's size first (MSG_PEEK|MSG_TRUNC returns the real length and, with
        // no control buffer, leaves any passed fd queued), then read it into a buffer of just
        // that size: zeroing a MAX_MSG buffer per message touched 16 pages in rt and, after
        // clone, 16 copy-on-write pages in init, for messages of a few dozen bytes.
        let size = loop {
            let mut probe = [0u8; 1];
            let mut iov = [IoSliceMut::new(&mut probe)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                None,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
            ) {
                Ok(r) => break r.bytes,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if size == 0 {
            return Err(ChannelError::Closed(waiting_for));
        }
        let mut buf = vec![0u8; size.min(MAX_MSG)];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(r) => {
                    let mut fd = None;
                    for c in r.cmsgs()? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for f in fds {
                                // SAFETY: the kernel just installed this fd in our table for us;
                                // nothing else owns it.
                                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                                if fd.is_none() {
                                    fd = Some(owned);
                                }
                            }
                        }
                    }
                    break (r.bytes, fd);
                }
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if len == 0 {
            return Err(ChannelError::Closed(waiting_for));
        }
        Ok((serde_json::from_slice(&buf[..len])?, fd))
    }

    /// Wait for the message `expected` names; see [`super::msg::take`].
    pub fn expect<T>(
        &self,
        expected: &'static str,
        take: impl FnOnce(Msg, Option<OwnedFd>) -> Result<T, Msg>,
    ) -> Result<T, ChannelError> {
        let (msg, fd) = self.recv(expected)?;
        super::msg::take(expected, msg, fd, take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_round_trip() {
        let (a, b) = pair().unwrap();
        a.send(&Msg::ChildPid(77)).unwrap();
        assert_eq!(b.recv("x").unwrap().0, Msg::ChildPid(77));
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        b.send_with_fd(&Msg::Console, Some(file.as_raw_fd()))
            .unwrap();
        let (m, fd) = a.recv("Console").unwrap();
        assert_eq!(m, Msg::Console);
        assert!(fd.is_some());
        // Sized by peeking: a long message arrives whole, and the fd that follows is intact.
        let long = Msg::Error {
            errno: 2,
            msg: "e".repeat(20_000),
        };
        a.send(&long).unwrap();
        assert_eq!(b.recv("x").unwrap().0, long);
        b.send_with_fd(&Msg::Console, Some(file.as_raw_fd()))
            .unwrap();
        assert!(a.recv("Console").unwrap().1.is_some());
        drop(a);
        assert!(matches!(
            b.recv("Ready"),
            Err(ChannelError::Closed("Ready"))
        ));
    }
}
