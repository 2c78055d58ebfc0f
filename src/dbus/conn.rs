//! One blocking connection: authenticate, call methods, wait for signals. Reads and writes
//! happen on the caller's thread with socket timeouts; nothing runs in the background.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::wire::{self, Call, Message, Value};
use super::{DbusError, Result};

/// Signals kept while a reply is awaited; more are dropped, oldest first.
const MAX_QUEUED_SIGNALS: usize = 64;

pub struct Connection {
    sock: UnixStream,
    serial: Cell<u32>,
    /// Bytes read but not yet parsed into a message.
    inbuf: RefCell<Vec<u8>>,
    /// Signals that arrived while a reply was awaited, for [`Connection::wait_signal`].
    signals: RefCell<VecDeque<Message>>,
}

impl Connection {
    /// Connect to `address` (a D-Bus address: `unix:path=...`, the first of a `;` list that
    /// works, or a plain socket path) and authenticate as our uid. A bus
    /// (dbus-daemon) gets Hello; a peer (systemd's private socket, `bus` false) does not.
    pub fn open(address: &str, bus: bool, timeout: Duration) -> Result<Connection> {
        let sock = connect(address)?;
        sock.set_write_timeout(Some(timeout))?;
        let c = Connection {
            sock,
            serial: Cell::new(0),
            inbuf: RefCell::new(Vec::new()),
            signals: RefCell::new(VecDeque::new()),
        };
        c.authenticate(Instant::now() + timeout)?;
        if bus {
            c.call(&bus_call("Hello", &[]), timeout)?;
        }
        Ok(c)
    }

    /// SASL EXTERNAL: the server checks our uid from the socket's credentials.
    fn authenticate(&self, deadline: Instant) -> Result<()> {
        let uid: String = nix::unistd::geteuid()
            .as_raw()
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        (&self.sock).write_all(format!("\0AUTH EXTERNAL {uid}\r\n").as_bytes())?;
        let line = loop {
            let buf = self.inbuf.borrow();
            if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
                break String::from_utf8_lossy(&buf[..end]).into_owned();
            }
            if buf.len() > 512 {
                return Err(DbusError::Auth(String::from_utf8_lossy(&buf).into_owned()));
            }
            drop(buf);
            self.fill(deadline, "authentication")?;
        };
        if !line.starts_with("OK ") {
            return Err(DbusError::Auth(line));
        }
        self.inbuf.borrow_mut().drain(..line.len() + 2);
        (&self.sock).write_all(b"BEGIN\r\n")?;
        Ok(())
    }

    /// Read what the socket has into `inbuf`, waiting until `deadline`.
    fn fill(&self, deadline: Instant, what: &str) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DbusError::Timeout(what.to_string()));
        }
        self.sock.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 4096];
        match (&self.sock).read(&mut chunk) {
            Ok(0) => Err(DbusError::Closed),
            Ok(n) => {
                self.inbuf.borrow_mut().extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(DbusError::Timeout(what.to_string()))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The next message, waiting until `deadline`.
    fn recv(&self, deadline: Instant, what: &str) -> Result<Message> {
        loop {
            {
                let mut buf = self.inbuf.borrow_mut();
                let len = wire::message_len(&buf)?;
                if len > 0 && buf.len() >= len {
                    let m = Message::decode(&buf[..len]);
                    buf.drain(..len);
                    return m;
                }
            }
            self.fill(deadline, what)?;
        }
    }

    /// Call a method and return its reply's values; an error reply is [`DbusError::Remote`].
    pub fn call(&self, call: &Call, timeout: Duration) -> Result<Vec<Value>> {
        let serial = self.serial.get().wrapping_add(1).max(1);
        self.serial.set(serial);
        (&self.sock).write_all(&call.encode(serial))?;
        let deadline = Instant::now() + timeout;
        let what = format!("the reply to {}", call.member);
        loop {
            let m = self.recv(deadline, &what)?;
            match m.kind {
                wire::METHOD_RETURN | wire::ERROR if m.reply_serial == Some(serial) => {
                    if m.kind == wire::METHOD_RETURN {
                        return m.args();
                    }
                    let message = m.args().ok().and_then(|a| {
                        a.into_iter()
                            .next()
                            .and_then(|v| v.as_str().map(str::to_string))
                    });
                    return Err(DbusError::Remote {
                        name: m.error_name.unwrap_or_default(),
                        message: message.unwrap_or_default(),
                    });
                }
                wire::SIGNAL => {
                    let mut q = self.signals.borrow_mut();
                    if q.len() == MAX_QUEUED_SIGNALS {
                        q.pop_front();
                    }
                    q.push_back(m);
                }
                // Replies to nothing we wait for, calls to us: not rt's business.
                _ => {}
            }
        }
    }

    /// The first signal (queued or new) that `wanted` accepts, waiting until `deadline`; the
    /// others are dropped.
    pub fn wait_signal(
        &self,
        mut wanted: impl FnMut(&Message) -> bool,
        deadline: Instant,
        what: &str,
    ) -> Result<Message> {
        while let Some(m) = self.signals.borrow_mut().pop_front() {
            if wanted(&m) {
                return Ok(m);
            }
        }
        loop {
            let m = self.recv(deadline, what)?;
            if m.kind == wire::SIGNAL && wanted(&m) {
                return Ok(m);
            }
        }
    }
}

/// A call to the bus itself (org.freedesktop.DBus).
pub fn bus_call<'a>(member: &'a str, args: &'a [Value]) -> Call<'a> {
    Call {
        destination: Some("org.freedesktop.DBus"),
        path: "/org/freedesktop/DBus",
        interface: "org.freedesktop.DBus",
        member,
        args,
    }
}

fn connect(address: &str) -> Result<UnixStream> {
    let mut last = None;
    for a in address.split(';').filter(|a| !a.is_empty()) {
        let res = match socket_path(a) {
            Some(path) => UnixStream::connect(path),
            None => Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "not a unix:path= address",
            )),
        };
        match res {
            Ok(s) => return Ok(s),
            Err(source) => {
                last = Some(DbusError::Connect {
                    address: a.to_string(),
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| DbusError::Connect {
        address: address.to_string(),
        source: std::io::Error::new(ErrorKind::InvalidInput, "empty address"),
    }))
}

/// A D-Bus address's socket path (`unix:path=...`, the form the system bus has), or a bare
/// path. Abstract sockets and %-escapes (which no system bus path needs) are not read.
fn socket_path(a: &str) -> Option<&str> {
    if a.starts_with('/') {
        return Some(a);
    }
    a.strip_prefix("unix:")?
        .split(',')
        .find_map(|kv| kv.strip_prefix("path="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            socket_path("unix:path=/run/dbus/system_bus_socket"),
            Some("/run/dbus/system_bus_socket")
        );
        assert_eq!(socket_path("unix:guid=01,path=/x"), Some("/x"));
        assert_eq!(socket_path("/run/x"), Some("/run/x"));
        assert_eq!(socket_path("unix:abstract=/tmp/x"), None);
        assert_eq!(socket_path("tcp:host=localhost,port=1"), None);
    }
}
