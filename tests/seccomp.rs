//! A seccomp profile is in force for the container's process and for `exec`, with the errno the
//! profile asks for.

mod common;

use common::*;
use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

/// `Seccomp:` of /proc/self/status, then mkdir, which the profile below fails with errno 42.
const SECCOMP_PROBE: &str = "grep '^Seccomp:' /proc/self/status; mkdir /tmp/blocked; echo rc=$?";

fn mkdir_blocked_profile() -> serde_json::Value {
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
    })
}

fn assert_filtered(o: &Output) {
    o.ok();
    assert!(o.stdout.contains("Seccomp:\t2"), "no filter: {o}");
    // strerror(42) = ENOMSG: the errno the profile asks for, not EPERM or EEXIST.
    assert!(o.stderr.contains("No message of desired type"), "{o}");
    assert!(o.stdout.contains("rc=1"), "{o}");
}

#[test]
fn profile_is_enforced_with_its_errno() {
    let mut b = Bundle::new();
    b.sh(SECCOMP_PROBE);
    b.config["linux"]["seccomp"] = mkdir_blocked_profile();
    let c = Container::new(b);
    let o = c.run();
    assert_filtered(&o);
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
}

#[test]
fn exec_gets_the_containers_profile() {
    let mut b = Bundle::new();
    b.long_running();
    b.config["linux"]["seccomp"] = mkdir_blocked_profile();
    let mut c = Container::new(b);
    c.create_and_start();
    let o = c.rt(&["exec", &c.id, "sh", "-c", SECCOMP_PROBE]);
    assert_filtered(&o);
}

/// The agent's side of a notify listener: the containerProcessState and the fd sent with it.
fn receive_listener(agent: &UnixListener) -> (serde_json::Value, String) {
    let (mut stream, mut data, fd) = accept_with_fd(agent);
    stream.read_to_end(&mut data).unwrap();
    let target = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    let state = serde_json::from_slice(&data)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&data)));
    (state, target.to_string_lossy().into_owned())
}

/// SCMP_ACT_NOTIFY: the listener reaches the agent at listenerPath with the container's state
/// (runtime.md's containerProcessState), at create and again for each exec.
#[test]
fn notify_listener_reaches_the_agent_with_the_state() {
    let mut b = Bundle::new();
    b.long_running();
    let sock = b.path().join("agent.sock");
    let agent = UnixListener::bind(&sock).unwrap();
    b.config["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "rt-test-meta",
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let mut c = Container::new(b);
    c.create().ok();
    let pid = c.pid();
    let (s, fd) = receive_listener(&agent);
    assert_eq!(fd, "anon_inode:seccomp notify", "{s}");
    assert_eq!(s["fds"], serde_json::json!(["seccompFd"]), "{s}");
    assert_eq!(s["metadata"], "rt-test-meta", "{s}");
    assert_eq!(s["pid"], pid, "{s}");
    assert_eq!(s["state"]["id"].as_str(), Some(c.id.as_str()), "{s}");
    assert_eq!(s["state"]["status"], "creating", "{s}");
    assert_eq!(s["state"]["pid"], pid, "{s}");
    c.start().ok();
    c.exec(&["--", "true"]).ok();
    let (s, fd) = receive_listener(&agent);
    assert_eq!(fd, "anon_inode:seccomp notify", "{s}");
    assert_eq!(s["state"]["status"], "running", "{s}");
    assert_eq!(s["state"]["pid"], pid, "{s}");
}
