//! config.md "POSIX-platform Hooks" and runtime.md "Lifecycle" steps 3-13: order, state on
//! stdin, and the failure rule of each hook kind.

use crate::common::*;
use crate::*;
use serde_json::{Value, json};
use std::fs;

/// Host-side hook that logs its name and saves its stdin (the state) to `<name>.json`.
fn logging_hook(b: &mut Bundle, kind: &str, name: &str) {
    let dir = b.path().to_string_lossy().into_owned();
    let p = script(
        b.path(),
        &format!("hook-{name}"),
        &format!("echo {name} >> {dir}/hooks.log\ncat > {dir}/{name}.json"),
    );
    b.hook(kind, &p, &[&p]);
}

fn failing_hook(b: &mut Bundle, kind: &str) {
    let p = script(b.path(), &format!("fail-{kind}"), "exit 3");
    b.hook(kind, &p, &[&p]);
}

fn hook_log(c: &Container) -> Vec<String> {
    fs::read_to_string(c.bundle.path().join("hooks.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn hook_state(c: &Container, name: &str) -> Value {
    let p = c.bundle.path().join(format!("{name}.json"));
    let s = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("hook stdin is not JSON ({e}): {s:?}"))
}

const RUNC_POSTSTART_AT_CREATE: &str = "runc 1.1.5 runs poststart hooks during create, where a \
     failing one fails create (runtime.md: after the user process started, failure only a \
     warning; fixed in runc 1.2)";

#[test]
fn hooks_run_in_lifecycle_order() {
    let mut b = waiting_bundle();
    logging_hook(&mut b, "prestart", "prestart1");
    logging_hook(&mut b, "prestart", "prestart2");
    logging_hook(&mut b, "createRuntime", "createRuntime");
    logging_hook(&mut b, "createContainer", "createContainer");
    logging_hook(&mut b, "poststart", "poststart");
    logging_hook(&mut b, "poststop", "poststop");
    let mut c = Container::new(b);
    c.create().ok();
    if runc_differs(RUNC_POSTSTART_AT_CREATE) {
        return;
    }
    assert_eq!(
        hook_log(&c),
        ["prestart1", "prestart2", "createRuntime", "createContainer"],
        "after create"
    );
    c.start().ok();
    c.wait_output("\"ready\"");
    assert_eq!(hook_log(&c).last().map(String::as_str), Some("poststart"));
    c.kill(Some("KILL")).ok();
    c.wait_status("stopped");
    c.delete(false).ok();
    assert_eq!(
        hook_log(&c),
        [
            "prestart1",
            "prestart2",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ]
    );
}

#[test]
fn hooks_receive_state_on_stdin() {
    let mut b = waiting_bundle();
    for k in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        logging_hook(&mut b, k, k);
    }
    let mut c = Container::new(b);
    c.create().ok();
    let pid = c.pid();
    c.start().ok();
    c.kill(Some("KILL")).ok();
    c.wait_status("stopped");
    c.delete(false).ok();
    for k in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        let s = hook_state(&c, k);
        assert_eq!(s["id"], json!(c.id), "{k}: {s}");
        assert_eq!(s["bundle"], json!(c.bundle.path_str()), "{k}: {s}");
        assert!(s["ociVersion"].is_string(), "{k}: {s}");
        if k == "poststop" {
            assert_eq!(s["status"], json!("stopped"), "{k}: {s}");
        } else if k != "createContainer"
            || !runc_differs(
                "runc 1.1.5 gives createContainer hooks the pid inside the container (1), not \
                 the host pid the state's `pid` is",
            )
        {
            assert_eq!(s["pid"], json!(pid), "{k}: {s}");
        }
    }
}

/// startContainer hooks run inside the container: the path resolves in its mount namespace.
#[test]
fn start_container_hook_runs_in_container_at_start() {
    let mut b = waiting_bundle();
    b.hook(
        "startContainer",
        "/checker",
        &["checker", "stdin_to", "/startc.json"],
    );
    let mut c = Container::new(b);
    c.create().ok();
    let pid = c.pid();
    let marker = c.bundle.rootfs().join("startc.json");
    assert!(!marker.exists(), "startContainer ran at create");
    c.start().ok();
    let s: Value = serde_json::from_str(&fs::read_to_string(&marker).unwrap()).unwrap();
    assert_eq!(s["id"], json!(c.id), "{s}");
    if !runc_differs(
        "runc 1.1.5 gives startContainer hooks the pid inside the container (1), not the host \
         pid the state's `pid` is",
    ) {
        assert_eq!(s["pid"], json!(pid), "{s}");
    }
}

#[test]
fn hook_args_and_env_are_passed() {
    let mut b = bundle(&["exit", "0"]);
    let out = b.path().join("hook.out");
    let cmd = format!("echo \"$0 $1 $HOOKVAR\" > {}", out.display());
    b.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh", "args": ["sh", "-c", cmd, "a0", "a1"], "env": ["HOOKVAR=v1"]}]});
    let mut c = Container::new(b);
    c.create().ok();
    assert_eq!(read_trim(&out), "a0 a1 v1");
}

#[test]
fn hook_timeout_is_error() {
    let mut b = bundle(&["exit", "0"]);
    b.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}]});
    let mut c = Container::new(b);
    c.create().failed();
}

/// prestart/createRuntime/createContainer failure: error, container stopped (step 12).
fn create_hook_failure(kind: &str) {
    let mut b = bundle(&["write", "/ran"]);
    failing_hook(&mut b, kind);
    let mut c = Container::new(b);
    c.create().failed();
    let st = c.state();
    if st.success() {
        assert_eq!(c.status(), "stopped", "after failing {kind}");
    }
    assert!(
        c.cgroup_pids().is_empty(),
        "processes left: {:?}",
        c.cgroup_pids()
    );
    assert!(!c.bundle.rootfs().join("ran").exists(), "process ran");
}

#[test]
fn prestart_failure_is_error_and_stops_container() {
    create_hook_failure("prestart");
}

#[test]
fn create_runtime_failure_is_error_and_stops_container() {
    create_hook_failure("createRuntime");
}

#[test]
fn create_container_failure_is_error_and_stops_container() {
    create_hook_failure("createContainer");
}

/// Step 12/13: after a failing create-time hook the lifecycle continues with destroy and the
/// poststop hooks.
#[test]
fn create_hook_failure_still_runs_poststop() {
    let mut b = bundle(&["exit", "0"]);
    failing_hook(&mut b, "createRuntime");
    logging_hook(&mut b, "poststop", "poststop");
    let mut c = Container::new(b);
    c.create().failed();
    let _ = c.delete(true);
    assert_eq!(hook_log(&c), ["poststop"]);
}

#[test]
fn start_container_failure_is_error_and_stops_container() {
    let mut b = bundle(&["write", "/ran"]);
    b.hook("startContainer", "/checker", &["checker", "exit", "3"]);
    let mut c = Container::new(b);
    c.create().ok();
    if runc_differs(
        "runc 1.1.5 `start` returns 0 once init read the exec fifo, before a failing \
         startContainer hook stops the container",
    ) {
        return;
    }
    // The error is the hook's, named as such.
    c.start().failed().stderr_has("startContainer");
    let st = c.state();
    if st.success() {
        assert_eq!(c.status(), "stopped");
    }
    assert!(!c.bundle.rootfs().join("ran").exists(), "user process ran");
}

#[test]
fn poststart_failure_is_only_a_warning() {
    let mut b = waiting_bundle();
    failing_hook(&mut b, "poststart");
    let mut c = Container::new(b);
    if runc_differs(RUNC_POSTSTART_AT_CREATE) {
        return;
    }
    c.create().ok();
    c.start().ok();
    assert_eq!(c.status(), "running");
}

#[test]
fn poststop_failure_is_only_a_warning() {
    let mut b = bundle(&["exit", "0"]);
    failing_hook(&mut b, "poststop");
    logging_hook(&mut b, "poststop", "after");
    let mut c = Container::new(b);
    c.create().ok();
    c.start().ok();
    c.wait_status("stopped");
    c.delete(false).ok();
    c.state().failed();
    if runc_differs("runc 1.1.5 stops at the first failing poststop hook; the rest do not run") {
        return;
    }
    assert_eq!(
        hook_log(&c),
        ["after"],
        "remaining poststop hooks must still run"
    );
}
