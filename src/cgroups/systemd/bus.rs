//! systemd's manager over D-Bus: start a transient unit and wait for its job, change its
//! properties, stop it and forget it if it failed.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use super::props::Prop;
use crate::dbus::{self, Call, Connection, DbusError, Value};

const DESTINATION: &str = "org.freedesktop.systemd1";
const OBJECT: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// systemd's own socket, for root when the system bus is not there (as go-systemd falls back).
const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// How long a call or a job may take (runc waits 30 s for a job).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Is systemd this host's init? sd_booted(3)'s test, and runc's.
pub fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Can rt reach systemd's manager (without connecting): a bus or systemd's socket is there.
pub fn reachable() -> bool {
    booted()
        && (std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_some()
            || Path::new(dbus::SYSTEM_BUS).exists()
            || Path::new(PRIVATE_SOCKET).exists())
}

pub struct Systemd {
    conn: Connection,
    /// Through the bus (dbus-daemon): messages need a destination and signals a match rule.
    via_bus: bool,
    match_added: Cell<bool>,
    version: Cell<Option<u32>>,
}

impl Systemd {
    /// Connect to the system bus (DBUS_SYSTEM_BUS_ADDRESS or its usual socket), or, for root
    /// without one, to systemd's private socket.
    pub fn connect() -> dbus::Result<Systemd> {
        let address =
            std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| dbus::SYSTEM_BUS.into());
        let (conn, via_bus) = match Connection::open(&address, true, TIMEOUT) {
            Ok(c) => (c, true),
            Err(e) if nix::unistd::geteuid().is_root() && Path::new(PRIVATE_SOCKET).exists() => {
                match Connection::open(PRIVATE_SOCKET, false, TIMEOUT) {
                    Ok(c) => (c, false),
                    Err(_) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(Systemd {
            conn,
            via_bus,
            match_added: Cell::new(false),
            version: Cell::new(None),
        })
    }

    fn call(&self, interface: &str, member: &str, args: &[Value]) -> dbus::Result<Vec<Value>> {
        let call = Call {
            destination: self.via_bus.then_some(DESTINATION),
            path: OBJECT,
            interface,
            member,
            args,
        };
        self.conn.call(&call, TIMEOUT)
    }

    /// systemd's version number ("252.36-1~deb12u1" is 252), 0 if it cannot be had.
    pub fn version(&self) -> u32 {
        if let Some(v) = self.version.get() {
            return v;
        }
        let args = [Value::str(MANAGER), Value::str("Version")];
        let v = match self.call("org.freedesktop.DBus.Properties", "Get", &args) {
            Ok(reply) => match reply.first() {
                Some(Value::Variant(v)) => v.as_str().map_or(0, parse_version),
                _ => 0,
            },
            Err(e) => {
                crate::logging::warn(&format!("unable to get the systemd version: {e}"));
                0
            }
        };
        self.version.set(Some(v));
        v
    }

    /// Start the transient unit `unit` with `props` and wait until its job is done. A unit of
    /// that name that failed before is reset and the start retried once.
    pub fn start(&self, unit: &str, props: &[Prop]) -> dbus::Result<()> {
        self.watch_jobs()?;
        let args = [
            Value::str(unit),
            Value::str("replace"),
            props_value(props),
            Value::Array("(sa(sv))".into(), Vec::new()),
        ];
        let job = match self.call(MANAGER, "StartTransientUnit", &args) {
            Err(e) if e.is("org.freedesktop.systemd1.UnitExists") => {
                let _ = self.reset_failed(unit);
                self.call(MANAGER, "StartTransientUnit", &args)?
            }
            other => other?,
        };
        match self.wait_job(&job, unit)?.as_str() {
            "done" => Ok(()),
            result => {
                let _ = self.reset_failed(unit);
                Err(DbusError::Job {
                    unit: unit.to_string(),
                    result: result.to_string(),
                })
            }
        }
    }

    /// Stop `unit` and wait for it; a unit systemd does not know is stopped already. Then reset
    /// it if it failed, so that no failed unit is left behind.
    pub fn stop(&self, unit: &str) -> dbus::Result<()> {
        self.watch_jobs()?;
        let args = [Value::str(unit), Value::str("replace")];
        match self.call(MANAGER, "StopUnit", &args) {
            Ok(job) => {
                let result = self.wait_job(&job, unit)?;
                if result != "done" {
                    crate::logging::warn(&format!(
                        "error removing unit `{unit}`: got `{result}`. Continuing..."
                    ));
                }
            }
            Err(e) if e.is("org.freedesktop.systemd1.NoSuchUnit") => {}
            Err(e) => return Err(e),
        }
        match self.reset_failed(unit) {
            Err(e) if !e.is("org.freedesktop.systemd1.NoSuchUnit") => Err(e),
            _ => Ok(()),
        }
    }

    fn reset_failed(&self, unit: &str) -> dbus::Result<()> {
        self.call(MANAGER, "ResetFailedUnit", &[Value::str(unit)])
            .map(|_| ())
    }

    /// Change a running unit's properties (for its lifetime, not in a unit file).
    pub fn set_properties(&self, unit: &str, props: &[Prop]) -> dbus::Result<()> {
        let args = [Value::str(unit), Value::Bool(true), props_value(props)];
        self.call(MANAGER, "SetUnitProperties", &args).map(|_| ())
    }

    /// Ask the bus for systemd's JobRemoved signals, before the first job is made so that its
    /// end cannot be missed. On systemd's own socket every client gets them.
    fn watch_jobs(&self) -> dbus::Result<()> {
        if !self.via_bus || self.match_added.get() {
            return Ok(());
        }
        let rule = Value::str(&format!(
            "type='signal',sender='{DESTINATION}',path='{OBJECT}',interface='{MANAGER}',member='JobRemoved'"
        ));
        let args = [rule];
        self.conn
            .call(&dbus::bus_call("AddMatch", &args), TIMEOUT)?;
        self.match_added.set(true);
        Ok(())
    }

    /// Wait for the JobRemoved signal of the job a call returned; its result ("done", ...).
    fn wait_job(&self, reply: &[Value], unit: &str) -> dbus::Result<String> {
        let Some(Value::Path(job)) = reply.first() else {
            return Err(DbusError::Protocol("no job path in the reply".into()));
        };
        let mut result = String::new();
        let is_ours = |m: &dbus::Message| {
            if m.member.as_deref() != Some("JobRemoved") || m.interface.as_deref() != Some(MANAGER)
            {
                return false;
            }
            // (id, job, unit, result)
            match m.args().as_deref() {
                Ok([_, Value::Path(j), _, Value::Str(r)]) if j == job => {
                    result = r.clone();
                    true
                }
                _ => false,
            }
        };
        let what = format!("systemd's job for {unit}");
        self.conn
            .wait_signal(is_ours, Instant::now() + TIMEOUT, &what)?;
        Ok(result)
    }
}

/// Properties as the `a(sv)` D-Bus wants.
fn props_value(props: &[Prop]) -> Value {
    let items = props
        .iter()
        .map(|(k, v)| Value::Struct(vec![Value::str(k), Value::variant(v.clone())]))
        .collect();
    Value::Array("(sv)".into(), items)
}

/// The leading number of a systemd version string: "v245.4-1.fc32", "252.36-1~deb12u1".
pub fn parse_version(s: &str) -> u32 {
    let s = s.trim_start_matches(['"', 'v']);
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions() {
        for (s, v) in [
            ("252.36-1~deb12u1", 252),
            ("v245.4-1.fc32", 245),
            ("\"v245-1.fc32\"", 245),
            ("245", 245),
            ("", 0),
            ("x", 0),
        ] {
            assert_eq!(super::parse_version(s), v, "{s}");
        }
    }
}
