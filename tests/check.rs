//! `rt check [BUNDLE]`: exit 0 for a good bundle; otherwise every problem, each with its JSON
//! path, exit 1, and nothing created.

mod common;

use common::*;
use serde_json::json;

/// True on runc, recorded: `check` is rt's own command.
fn runc_has_no_check() -> bool {
    runc_differs("rt-only: runc has no `check` command (rt's config.json linter)")
}

#[test]
fn clean_bundle_passes_and_broken_one_lists_every_problem() {
    if runc_has_no_check() {
        return;
    }
    let scratch = TempDir::new("check");
    let b = Bundle::new();
    b.write();
    let o = rt_raw(&["check", &b.path_str()], None, scratch.path());
    o.ok();
    assert!(o.stdout.trim().is_empty(), "{o}");

    let mut b = Bundle::new();
    b.args(&["no-such-binary"]);
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]);
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "pid", "path": "/proc/self/ns/nope"}));
    b.config["linux"]["resources"]["memory"] = json!({"limit": -5});
    b.add_mount(
        json!({"destination": "/mnt", "type": "bind", "source": "/tmp",
                       "options": ["rbind", "idmap"]}),
    );
    b.write();
    let o = rt_raw(&["check", &b.path_str()], None, scratch.path());
    assert_eq!(o.code, Some(1), "{o}");
    for want in [
        "process.args[0]",
        "process.rlimits[0]",
        "process.selinuxLabel",
        "linux.namespaces[5].type: duplicate",
        "linux.namespaces[5].path",
        "linux.resources.memory.limit",
        "mounts[7]: idmapped",
    ] {
        assert!(o.stdout.contains(want), "missing {want:?}: {o}");
    }
    assert!(!o.stderr.contains("panicked"));
    // Nothing was made: no cgroup for this bundle.
    let name = b.cgroup_name().unwrap();
    for d in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        assert!(!d.path().join(&name).exists());
    }
    // A syntax error is reported with its line and column.
    std::fs::write(b.path().join("config.json"), "{\n  \"ociVersion\": ").unwrap();
    let o = rt_raw(&["check", &b.path_str()], None, scratch.path());
    assert_eq!(o.code, Some(1));
    assert!(o.stdout.contains("line 2 column"), "{o}");
}

/// An unknown capability is only a warning at create (config.md: SHOULD NOT fail), but `check`
/// names it with its JSON path.
#[test]
fn unknown_capability_is_reported_by_check() {
    if runc_has_no_check() {
        return;
    }
    let scratch = TempDir::new("check-cap");
    let mut b = Bundle::new();
    b.capabilities(&["CAP_KILL", "CAP_NO_SUCH_THING"]);
    b.write();
    let o = rt_raw(&["check", &b.path_str()], None, scratch.path());
    assert_eq!(o.code, Some(1), "{o}");
    assert!(o.stdout.contains("process.capabilities."), "{o}");
    assert!(o.stdout.contains("CAP_NO_SUCH_THING"), "{o}");
}
