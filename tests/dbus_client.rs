//! rt's D-Bus client (the systemd driver's) against a real bus: a private dbus-daemon started
//! here (Debian's dbus-daemon, its own config and socket in a temp dir; not the host's bus).
//! What rt sends must pass the daemon's validation and read, through libdbus's dbus-monitor, as
//! the values rt meant; what libdbus sends (dbus-send) must read back in rt. No runtime binary
//! is involved, so there is nothing to run against runc here.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{HostProcess, TempDir, skip};
use rt::dbus::{Call, Connection, DbusError, Value, bus_call};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A private bus: the daemon runs until the value is dropped.
struct Bus {
    dir: TempDir,
    address: String,
    _daemon: HostProcess,
}

impl Bus {
    fn start() -> Option<Bus> {
        if Command::new("dbus-daemon")
            .arg("--version")
            .output()
            .is_err()
        {
            skip("dbus-daemon is not installed (apt-get install dbus-daemon)");
            return None;
        }
        let dir = TempDir::new("dbus");
        let sock = dir.path().join("bus.sock");
        let conf = dir.path().join("bus.conf");
        fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                sock.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!("--config-file={}", conf.display()))
            .arg("--nofork");
        let daemon = HostProcess::spawn(cmd);
        // Listening, not just bound.
        wait_for(
            || std::os::unix::net::UnixStream::connect(&sock).is_ok(),
            "the bus socket",
        );
        Some(Bus {
            address: format!("unix:path={}", sock.display()),
            dir,
            _daemon: daemon,
        })
    }

    fn connect(&self) -> Connection {
        Connection::open(&self.address, true, TIMEOUT).expect("connect to the private bus")
    }

    /// dbus-monitor on this bus, its text in the returned file, attached once the call returns.
    fn monitor(&self) -> (Monitor, PathBuf) {
        let out = self.dir.path().join("monitor.txt");
        let child = Command::new("dbus-monitor")
            .args(["--address", &self.address])
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor (apt-get install dbus-bin)");
        let p = Monitor(child);
        // It prints the NameLost of its own name once it is a monitor.
        wait_for(
            || fs::read_to_string(&out).is_ok_and(|t| t.contains("member=NameLost")),
            "dbus-monitor",
        );
        (p, out)
    }
}

/// dbus-monitor, killed and reaped on drop.
struct Monitor(std::process::Child);

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let end = Instant::now() + TIMEOUT;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hello_and_a_reply() {
    let Some(bus) = Bus::start() else { return };
    let c = bus.connect();
    let names = c
        .call(&bus_call("ListNames", &[]), TIMEOUT)
        .expect("ListNames");
    // Our unique name (Hello gave it) is among the bus's names.
    let [Value::Array(sig, names)] = &names[..] else {
        panic!("ListNames: {names:?}")
    };
    assert_eq!(sig, "s");
    assert!(
        names.contains(&Value::str("org.freedesktop.DBus")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.as_str().is_some_and(|s| s.starts_with(':'))),
        "{names:?}"
    );
    let id = c.call(&bus_call("GetId", &[]), TIMEOUT).expect("GetId");
    assert!(
        matches!(&id[..], [Value::Str(s)] if s.len() == 32),
        "{id:?}"
    );
}

/// A call shaped as StartTransientUnit, sent to the bus itself: the daemon validates the whole
/// message before it answers that it has no such method, and dbus-monitor (libdbus) shows the
/// values as they arrived.
#[test]
fn a_call_as_libdbus_reads_it() {
    let Some(bus) = Bus::start() else { return };
    let (_mon, text) = bus.monitor();
    let c = bus.connect();
    let prop = |k: &str, v: Value| Value::Struct(vec![Value::str(k), Value::variant(v)]);
    let args = [
        Value::str("rt-x.scope"),
        Value::str("replace"),
        Value::Array(
            "(sv)".into(),
            vec![
                prop("Delegate", Value::Bool(true)),
                prop("PIDs", Value::Array("u".into(), vec![Value::U32(1234)])),
                prop("MemoryMax", Value::U64(u64::MAX)),
                prop(
                    "AllowedCPUs",
                    Value::Array("y".into(), vec![Value::Byte(2)]),
                ),
                prop(
                    "DeviceAllow",
                    Value::Array(
                        "(ss)".into(),
                        vec![Value::Struct(vec![
                            Value::str("/dev/char/1:3"),
                            Value::str("rwm"),
                        ])],
                    ),
                ),
            ],
        ),
        Value::Array("(sa(sv))".into(), vec![]),
    ];
    let call = Call {
        destination: Some("org.freedesktop.DBus"),
        path: "/org/freedesktop/systemd1",
        interface: "org.freedesktop.systemd1.Manager",
        member: "StartTransientUnit",
        args: &args,
    };
    let e = c.call(&call, TIMEOUT).unwrap_err();
    assert!(
        e.is("org.freedesktop.DBus.Error.UnknownInterface")
            || e.is("org.freedesktop.DBus.Error.UnknownMethod"),
        "{e}"
    );
    assert!(e.to_string().contains("StartTransientUnit"), "{e}");
    let shown = || {
        let t = fs::read_to_string(&text).unwrap_or_default();
        let start = t.find("member=StartTransientUnit")?;
        let body: Vec<String> = t[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with(' '))
            .map(|l| l.trim().to_string())
            .collect();
        body.last().is_some_and(|l| *l == "]").then_some(body)
    };
    wait_for(|| shown().is_some(), "dbus-monitor to show the call");
    let want = [
        "string \"rt-x.scope\"",
        "string \"replace\"",
        "array [",
        "struct {",
        "string \"Delegate\"",
        "variant             boolean true",
        "}",
        "struct {",
        "string \"PIDs\"",
        "variant             array [",
        "uint32 1234",
        "]",
        "}",
        "struct {",
        "string \"MemoryMax\"",
        "variant             uint64 18446744073709551615",
        "}",
        "struct {",
        "string \"AllowedCPUs\"",
        "variant             array of bytes [",
        "02",
        "]",
        "}",
        "struct {",
        "string \"DeviceAllow\"",
        "variant             array [",
        "struct {",
        "string \"/dev/char/1:3\"",
        "string \"rwm\"",
        "}",
        "]",
        "}",
        "]",
        "array [",
        "]",
    ];
    assert_eq!(shown().unwrap(), want);
}

/// systemd's JobRemoved, as libdbus sends a signal (dbus-send), reaches a connection that asked
/// for it with AddMatch, and reads back as (id, job, unit, result).
#[test]
fn a_signal_from_libdbus() {
    let Some(bus) = Bus::start() else { return };
    let c = bus.connect();
    let rule = [Value::str(
        "type='signal',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'",
    )];
    c.call(&bus_call("AddMatch", &rule), TIMEOUT)
        .expect("AddMatch");
    for job in [6, 7] {
        let out = Command::new("dbus-send")
            .arg(format!("--bus={}", bus.address))
            .args([
                "--type=signal",
                "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager.JobRemoved",
                &format!("uint32:{job}"),
                &format!("objpath:/org/freedesktop/systemd1/job/{job}"),
                "string:rt-x.scope",
                "string:done",
            ])
            .output()
            .expect("dbus-send");
        assert!(out.status.success(), "{out:?}");
    }
    let want = Value::Path("/org/freedesktop/systemd1/job/7".into());
    let m = c
        .wait_signal(
            |m| m.args().is_ok_and(|a| a.get(1) == Some(&want)),
            Instant::now() + TIMEOUT,
            "JobRemoved",
        )
        .expect("the JobRemoved signal");
    assert_eq!(m.member.as_deref(), Some("JobRemoved"));
    assert_eq!(
        m.args().unwrap(),
        vec![
            Value::U32(7),
            want,
            Value::str("rt-x.scope"),
            Value::str("done")
        ]
    );
    // Nothing more comes: a wait ends at its deadline with an error naming what it waited for.
    let e = c
        .wait_signal(
            |_| true,
            Instant::now() + Duration::from_millis(200),
            "JobRemoved",
        )
        .unwrap_err();
    assert!(matches!(e, DbusError::Timeout(_)), "{e}");
    assert_eq!(e.to_string(), "d-bus: timed out waiting for JobRemoved");
}

#[test]
fn no_bus_is_a_clear_error() {
    let dir = TempDir::new("nobus");
    let sock: &Path = &dir.path().join("none.sock");
    let e = Connection::open(&format!("unix:path={}", sock.display()), true, TIMEOUT)
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "failed to connect to d-bus at unix:path={}: no such file or directory",
            sock.display()
        )
    );
}
