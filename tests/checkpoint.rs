//! checkpoint and restore on the host, where CRIU cannot work (CRIU 3.17 fails on this kernel;
//! integration/vm checks real checkpoints on Debian's 6.1 kernel): refusals, a missing CRIU and
//! a CRIU that fails come back as clear errors, the container being checkpointed keeps
//! running, and a failed restore leaves nothing (state, cgroup, mount) behind. The CRIU that
//! fails is a stand-in speaking just enough of its RPC (see `failing_criu`).

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A stand-in for `criu swrk FD`: it answers one request on FD (3 from rt; go-criu, which runc
/// asks the version with, passes its own number), a VERSION with 3.17.1 and anything else with `success: false, cr_errno: 22, cr_errmsg: "fake
/// failure"` (the bytes protoc makes of those criu_resp messages).
fn failing_criu(dir: &Path) -> PathBuf {
    let p = dir.join("criu");
    fs::write(
        &p,
        r#"#!/bin/sh
[ "$1" = swrk ] || exit 1
exec 3<&"$2"
req=$(dd bs=65536 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n')
case "$req" in
080a*) printf '\010\012\020\001\122\006\010\003\020\021\040\001' >&3 ;;
*) printf '\010\001\020\000\070\026\112\014fake failure' >&3 ;;
esac
"#,
    )
    .unwrap();
    fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

fn running() -> Container {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create_and_start();
    c
}

fn checkpoint(c: &Container, criu: &str, extra: &[&str]) -> Output {
    let img = c.scratch.path().join("img");
    let img = img.to_str().unwrap();
    let mut args = vec!["--criu", criu, "checkpoint", "--image-path", img];
    args.extend_from_slice(extra);
    args.push(&c.id);
    c.rt(&args)
}

fn still_running(c: &Container) {
    assert_eq!(c.status(), "running", "the container was left running");
}

#[test]
fn checkpoint_refuses_a_created_or_missing_container() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create().ok();
    let o = checkpoint(&c, "criu", &[]);
    o.failed();
    assert!(
        o.stderr
            .to_lowercase()
            .contains("cannot be checkpointed in created state"),
        "{o}"
    );
    assert_eq!(c.status(), "created");
    let o = c.rt(&["checkpoint", "--image-path", "/nonexistent", "no-such-ctr"]);
    o.failed().stderr_has("does not exist");
}

#[test]
fn checkpoint_without_criu_names_it_and_leaves_the_container_running() {
    let c = running();
    let o = checkpoint(&c, "/nonexistent/criu", &["--leave-running"]);
    o.failed().stderr_has("/nonexistent/criu");
    still_running(&c);
}

#[test]
fn checkpoint_quotes_criu_failure_and_leaves_the_container_running() {
    let c = running();
    let criu = failing_criu(c.scratch.path());
    let o = checkpoint(&c, criu.to_str().unwrap(), &[]);
    o.failed().stderr_has("criu failed: type DUMP errno 22");
    still_running(&c);
    assert!(c.state_dir_exists());
}

#[test]
fn checkpoint_checks_its_flags_before_criu_runs() {
    let c = running();
    let criu = failing_criu(c.scratch.path());
    let criu = criu.to_str().unwrap();
    for (flags, want) in [
        (&["--parent-path", "/abs"][..], "--parent-path"),
        (&["--parent-path", "no-such-dir"][..], "--parent-path"),
        (&["--manage-cgroups-mode", "hard"][..], "anage"),
        (&["--empty-ns", "pid"][..], "not supported"),
        (&["--page-server", "nohost"][..], "page-server"),
    ] {
        let o = checkpoint(&c, criu, flags);
        o.failed();
        assert!(
            o.stderr.to_lowercase().contains(&want.to_lowercase()),
            "{flags:?}: {o}"
        );
        still_running(&c);
    }
}

/// Images a restore gets as far as CRIU with: runc's descriptors.json.
fn images(c: &Container) -> PathBuf {
    let img = c.scratch.path().join("img");
    fs::create_dir_all(&img).unwrap();
    fs::write(
        img.join("descriptors.json"),
        r#"["/dev/null","pipe:[1]","pipe:[2]"]"#,
    )
    .unwrap();
    img
}

/// `restore -d` run in a private mount namespace of the test's (restore binds the rootfs for
/// CRIU, which must not happen in the root one), followed there by a look at the mount table:
/// stdout ends with the mounts of criu-root left, if any.
fn restore(c: &Container, criu: &str, img: &Path, extra: &[&str]) -> Output {
    c.bundle.write();
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#""$@"; rc=$?; grep criu-root /proc/self/mountinfo; exit $rc"#)
        .arg("sh")
        .arg(rt_bin())
        .arg("--root")
        .arg(c.root.path())
        .args(["--criu", criu, "restore", "-d", "--image-path"])
        .arg(img)
        .arg("--bundle")
        .arg(c.bundle.path())
        .args(extra)
        .arg(&c.id);
    let (child, out, err) = spawn_to_files(cmd, c.scratch.path());
    wait_child(child, &out, &err, format!("restore {extra:?}"), CMD_TIMEOUT)
}

fn nothing_left(c: &Container, o: &Output) {
    assert!(!o.stdout.contains("criu-root"), "mount left: {o}");
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
    c.state().failed().stderr_has("does not exist");
}

#[test]
fn restore_without_criu_names_it_and_leaves_nothing() {
    let mut b = Bundle::new();
    b.long_running();
    let c = Container::new(b);
    let img = images(&c);
    let o = restore(&c, "/nonexistent/criu", &img, &[]);
    o.failed().stderr_has("/nonexistent/criu");
    nothing_left(&c, &o);
}

#[test]
fn restore_quotes_criu_failure_and_leaves_nothing() {
    let mut b = Bundle::new();
    b.long_running();
    let c = Container::new(b);
    let img = images(&c);
    let criu = failing_criu(c.scratch.path());
    let o = restore(&c, criu.to_str().unwrap(), &img, &["--pid-file", "pid"]);
    o.failed().stderr_has("criu failed: type RESTORE errno 22");
    nothing_left(&c, &o);
    assert!(!c.bundle.path().join("pid").exists(), "pid file written");
}

#[test]
fn restore_without_images_fails_and_leaves_nothing() {
    let mut b = Bundle::new();
    b.long_running();
    let c = Container::new(b);
    let img = c.scratch.path().join("no-images");
    let criu = failing_criu(c.scratch.path());
    let o = restore(&c, criu.to_str().unwrap(), &img, &[]);
    o.failed().stderr_has("no-images");
    nothing_left(&c, &o);
    if runc_differs("runc's restore makes the missing --image-path (MkdirAll) before it fails") {
        return;
    }
    assert!(!img.exists(), "a failed restore made {}", img.display());
}

#[test]
fn restore_refuses_a_terminal_without_console_socket() {
    let mut b = Bundle::new();
    b.long_running();
    b.config["process"]["terminal"] = serde_json::json!(true);
    let c = Container::new(b);
    let img = images(&c);
    let criu = failing_criu(c.scratch.path());
    let o = restore(&c, criu.to_str().unwrap(), &img, &[]);
    o.failed().stderr_has("console socket");
    nothing_left(&c, &o);
}

#[test]
fn help_lists_the_flags_callers_use() {
    // podman probes `<runtime> checkpoint --help` before it offers checkpoints.
    let o = Command::new(rt_bin())
        .args(["checkpoint", "--help"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let h = String::from_utf8_lossy(&o.stdout);
    for f in [
        "--image-path",
        "--work-path",
        "--leave-running",
        "--pre-dump",
        "--parent-path",
    ] {
        assert!(h.contains(f), "{f} missing from checkpoint --help:\n{h}");
    }
    let o = Command::new(rt_bin())
        .args(["restore", "--help"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let h = String::from_utf8_lossy(&o.stdout);
    for f in [
        "--bundle",
        "--detach",
        "--pid-file",
        "--console-socket",
        "--no-subreaper",
    ] {
        assert!(h.contains(f), "{f} missing from restore --help:\n{h}");
    }
    let o = Command::new(rt_bin()).arg("--help").output().unwrap();
    let h = String::from_utf8_lossy(&o.stdout);
    assert!(h.contains("checkpoint") && h.contains("restore"), "{h}");
    let o = Command::new(rt_bin()).arg("features").output().unwrap();
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        f["annotations"]["org.opencontainers.runc.checkpoint.enabled"],
        "true"
    );
}
