//! OCI runtime-spec conformance suite: one test per MUST/SHOULD of the runtime spec's lifecycle,
//! state, operations, config and Linux config sections (see README.md beside this file for the
//! requirement list). Each test builds a bundle whose rootfs holds only `/checker` (a static C
//! probe compiled from checker.c once per run), drives the runtime as a caller would and checks
//! the result from outside (state, /proc, cgroupfs) and from inside (checker's JSON lines).
//!
//! The runtime under test is `$RT_BIN` (default: this crate's `rt`), so the same suite runs
//! against runc: `RT_BIN=/usr/sbin/runc cargo test --test conformance`.

#[path = "../../tests/common/mod.rs"]
mod common;

mod config;
mod features;
mod hooks;
mod lifecycle;
mod linux;
mod spec13;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The checker binary, compiled once per test process into cargo's per-target temp dir (not
/// /tmp, so nothing is left behind outside the build directory).
pub fn checker_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/conformance/checker.c");
        static_c_program("conformance-checker", &src)
    })
}

/// A bundle whose rootfs has only `/checker` and the directories the default mounts need;
/// process.args is `/checker <args>`.
pub fn bundle(args: &[&str]) -> Bundle {
    let dir = TempDir::new("bundle");
    let rootfs = dir.path().join("rootfs");
    for d in ["proc", "sys", "dev", "tmp", "mnt"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy(checker_bin(), rootfs.join("checker")).unwrap();
    fs::set_permissions(rootfs.join("checker"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = default_config();
    config["linux"]["cgroupsPath"] = json!(format!("/{}", unique_name("cg")));
    let mut b = Bundle { dir, config };
    b.args(&checker_args(args));
    b
}

pub fn checker_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["/checker"];
    v.extend_from_slice(args);
    v
}

/// A bundle whose process waits for a signal (and reports it).
pub fn waiting_bundle() -> Bundle {
    bundle(&["wait"])
}

/// The JSON lines printed by checker.
pub fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// The first checker line for `cmd`, panicking with all output when it is missing or failed.
pub fn fact(o: &Output, cmd: &str) -> Value {
    lines(&o.stdout)
        .into_iter()
        .find(|v| v["cmd"] == json!(cmd))
        .unwrap_or_else(|| panic!("checker printed no {cmd:?} line: {o}"))
}

/// Foreground `run` of a checker bundle; must succeed.
pub fn run_ok(b: Bundle) -> (Container, Output) {
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    (c, o)
}

/// Run and return the single fact `cmd`.
pub fn run_fact(b: Bundle, cmd: &str) -> Value {
    let (_c, o) = run_ok(b);
    fact(&o, cmd)
}

/// Create + start a waiting container and wait until checker is ready.
pub fn started(b: Bundle) -> Container {
    let mut c = Container::new(b);
    c.create_and_start();
    c.wait_output("\"ready\"");
    c
}

/// Linux-side mountinfo line of `mp` inside the container, from `checker mounts` output.
pub fn mount_line(o: &Output, mp: &str) -> Option<String> {
    let mi = lines(&o.stdout)
        .into_iter()
        .find(|v| v["arg"] == json!("/proc/self/mountinfo"))
        .unwrap_or_else(|| panic!("no mountinfo printed: {o}"))["data"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    mountinfo_line(&mi, mp).map(String::from)
}

/// Write an executable /bin/sh script (host-side hooks).
pub fn script(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p.to_string_lossy().into_owned()
}
