//! A seccomp profile is in force for the container's process and for `exec`, with the errno the
//! profile asks for.

mod common;

use common::*;

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
