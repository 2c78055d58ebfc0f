//! Failure paths: missing rootfs, nonexistent binary, missing config,
//! invalid container ids, unsupported state transitions — each must exit
//! non-zero, name the cause on stderr and leave no state directory, process
//! or cgroup behind. Also `--log FILE --log-format json`.

mod common;

use common::*;
use serde_json::Value;
use std::fs;

fn assert_nothing_left(c: &Container) {
    assert!(
        c.root_entries().is_empty(),
        "state left under --root: {:?}",
        c.root_entries()
    );
    assert!(
        c.cgroup_pids().is_empty(),
        "processes left: {:?}",
        c.cgroup_pids()
    );
    assert!(
        c.cgroup_dirs().is_empty(),
        "cgroups left: {:?}",
        c.cgroup_dirs()
    );
    c.state().failed().stderr_has("does not exist");
}

#[test]
fn missing_rootfs_run_fails() {
    let mut b = Bundle::new();
    b.root_path("no-such-rootfs").sh("echo should-not-run");
    let c = Container::new(b);
    let o = c.run();
    o.failed().stderr_has("no-such-rootfs");
    assert!(!o.stdout.contains("should-not-run"));
    assert_nothing_left(&c);
}

#[test]
fn missing_rootfs_create_fails() {
    let mut b = Bundle::new();
    b.root_path("no-such-rootfs").args(&["true"]);
    let mut c = Container::new(b);
    let o = c.create();
    o.failed().stderr_has("no-such-rootfs");
    assert_nothing_left(&c);
}

#[test]
fn nonexistent_binary_run_fails() {
    let mut b = Bundle::new();
    b.args(&["/bin/rt-test-nonexistent-binary"]);
    let c = Container::new(b);
    let o = c.run();
    o.failed().stderr_has("rt-test-nonexistent-binary");
    assert!(
        o.stderr.to_lowercase().contains("no such file"),
        "cause (ENOENT) not named: {o}"
    );
    assert_nothing_left(&c);
}

#[test]
fn nonexistent_binary_in_path_create_fails() {
    let mut b = Bundle::new();
    b.args(&["rt-test-not-in-path"]);
    let mut c = Container::new(b);
    let o = c.create();
    o.failed().stderr_has("rt-test-not-in-path");
    assert_nothing_left(&c);
}

#[test]
fn missing_config_fails() {
    let c = Container::new(Bundle::new());
    // do not write config.json
    let b = c.bundle.path_str();
    let o = c.rt(&["run", "--bundle", &b, &c.id]);
    o.failed().stderr_has("config.json");
    assert_nothing_left(&c);
}

#[test]
fn invalid_config_json_fails() {
    let c = Container::new(Bundle::new());
    fs::write(c.bundle.path().join("config.json"), "{ not json").unwrap();
    let b = c.bundle.path_str();
    let o = c.rt(&["create", "--bundle", &b, &c.id]);
    o.failed();
    assert!(!o.stderr.trim().is_empty(), "{o}");
    assert_nothing_left(&c);
}

fn bad_id(id: &str) {
    let mut b = Bundle::new();
    b.args(&["true"]);
    let c = Container::new(b);
    c.bundle.write();
    let bp = c.bundle.path_str();
    for verb in ["create", "run"] {
        let o = c.rt(&[verb, "--bundle", &bp, id]);
        o.failed();
        let e = o.stderr.to_lowercase();
        assert!(
            e.contains("invalid") || e.contains("container id"),
            "message does not name the bad id as cause: {o}"
        );
        assert!(
            c.root_entries().is_empty(),
            "state left: {:?}",
            c.root_entries()
        );
    }
    assert!(c.cgroup_dirs().is_empty());
}

#[test]
fn bad_id_with_slash() {
    bad_id("a/b");
}

#[test]
fn bad_id_dotdot() {
    bad_id("..");
}

#[test]
fn bad_id_dot() {
    bad_id(".");
}

#[test]
fn bad_id_empty() {
    bad_id("");
}

#[test]
fn log_json_on_failure() {
    let mut b = Bundle::new();
    b.args(&["/bin/rt-test-missing-for-log"]);
    let c = Container::new(b);
    c.bundle.write();
    let log = c.scratch.path().join("rt.log");
    let lp = log.to_string_lossy().into_owned();
    let root = c.root_str();
    let bp = c.bundle.path_str();
    let o = rt_raw(
        &[
            "--root",
            &root,
            "--log",
            &lp,
            "--log-format",
            "json",
            "run",
            "--bundle",
            &bp,
            &c.id,
        ],
        None,
        c.scratch.path(),
    );
    o.failed();
    let text = fs::read_to_string(&log).expect("log file written");
    let mut last_error = None;
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line not JSON ({e}): {line}"));
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        for k in ["level", "msg", "time"] {
            assert!(obj.contains_key(k), "key {k} missing: {line}");
        }
        if obj["level"] == "error" {
            last_error = Some(obj["msg"].as_str().unwrap_or_default().to_string());
        }
        n += 1;
    }
    assert!(n > 0, "empty log");
    let msg = last_error.expect("no error-level entry");
    assert!(
        msg.contains("rt-test-missing-for-log"),
        "last error does not name the cause: {msg}"
    );
    assert!(c.root_entries().is_empty());
}

#[test]
fn log_json_missing_rootfs() {
    let mut b = Bundle::new();
    b.root_path("no-rootfs-for-log");
    let c = Container::new(b);
    c.bundle.write();
    let log = c.scratch.path().join("rt.log");
    let lp = log.to_string_lossy().into_owned();
    let root = c.root_str();
    let bp = c.bundle.path_str();
    let id = c.id.clone();
    let o = rt_raw(
        &[
            "--log",
            &lp,
            "--log-format",
            "json",
            "--root",
            &root,
            "create",
            "--bundle",
            &bp,
            &id,
        ],
        None,
        c.scratch.path(),
    );
    o.failed();
    let text = fs::read_to_string(&log).expect("log file written");
    let last = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .rfind(|v| v["level"] == "error")
        .expect("an error entry");
    assert!(
        last["msg"].as_str().unwrap().contains("no-rootfs-for-log"),
        "{last}"
    );
}

#[test]
fn start_of_created_then_deleted_fails() {
    let mut b = Bundle::new();
    b.args(&["true"]);
    let mut c = Container::new(b);
    c.create().ok();
    c.delete(true).ok();
    c.start().failed().stderr_has("does not exist");
    assert_nothing_left(&c);
}

/// podman runs `delete --force ID` after a failed create and prints whatever that says; runc
/// exits 0 silently for a missing container with -f. (A directory without state.json is not
/// rt's and is refused: tests/host_safety.rs.)
#[test]
fn delete_force_of_missing_container_succeeds() {
    let c = Container::new(Bundle::new());
    c.delete(true).ok();
    assert!(c.root_entries().is_empty(), "left: {:?}", c.root_entries());
    c.delete(false)
        .failed()
        .stderr_has("container does not exist");
}
