//! A small, blocking D-Bus client: what the systemd cgroup driver needs to make, change and stop
//! transient units (method calls with a handful of signatures, and waiting for a signal).
//!
//! Why not a crate: zbus's blocking API runs an async executor on a thread of its own, and rt
//! must stay single-threaded until it clones; dbus-rs links the C libdbus, which the static
//! binary would carry whole; rustbus is synchronous but general (its derive machinery and full
//! type system), where rt needs a few hundred lines: SASL EXTERNAL, Hello, calls, AddMatch and
//! reading signals. As youki's own client, this one speaks just that.

mod conn;
pub mod wire;

pub use conn::{Connection, bus_call};
pub use wire::{Call, Message, Value};

/// Where the system bus listens unless DBUS_SYSTEM_BUS_ADDRESS says otherwise.
pub const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("failed to connect to d-bus at {address}: {}", crate::cgroups::errmsg(.source))]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("d-bus: {}", crate::cgroups::errmsg(.0))]
    Io(#[from] std::io::Error),
    #[error("d-bus: authentication refused: {0:?}")]
    Auth(String),
    #[error("d-bus: protocol error: {0}")]
    Protocol(String),
    #[error("d-bus: the connection was closed")]
    Closed,
    #[error("d-bus: timed out waiting for {0}")]
    Timeout(String),
    /// A systemd job that did not end "done".
    #[error("error creating systemd unit `{unit}`: got `{result}`")]
    Job { unit: String, result: String },
    /// An error reply: its name (e.g. org.freedesktop.systemd1.NoSuchUnit) and message.
    #[error("{name}: {message}")]
    Remote { name: String, message: String },
}

impl DbusError {
    /// Is this the error reply `name`?
    pub fn is(&self, name: &str) -> bool {
        matches!(self, DbusError::Remote { name: n, .. } if n == name)
    }
}

pub type Result<T> = std::result::Result<T, DbusError>;
