//! `--systemd-cgroup` where systemd is not init (here; the systemd VM tier,
//! integration/systemd-vm, runs the driver for real).

mod common;

use std::fs;

use common::*;

/// systemd hidden from the runtime where the host has it: a tmpfs over /run/systemd in a mount
/// namespace of the test's own.
fn without_systemd(c: Container) -> Container {
    c.wrapped(in_private_mount_ns(
        "if [ -d /run/systemd/system ]; then mount -t tmpfs tmpfs /run/systemd; fi",
    ))
}

#[test]
fn systemd_cgroup_without_systemd_is_refused_before_anything_is_made() {
    let mut b = Bundle::new();
    b.args(&["true"]);
    let name = unique_name("sd");
    b.cgroups_path(&format!("system.slice:{name}:x"));
    let c = without_systemd(Container::new(b));
    c.bundle.write();
    let bundle = c.bundle.path_str();
    let out = c.rt(&["--systemd-cgroup", "run", "--bundle", &bundle, &c.id]);
    out.failed()
        .stderr_has("systemd not running on this host, cannot use systemd cgroups manager");
    assert!(!c.state_dir_exists(), "a state dir was left: {out:?}");
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
    let left: Vec<_> = fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_dir(e.path()).ok())
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(&name))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn systemd_cgroups_path_must_be_slice_prefix_name() {
    for bad in ["/rt-test-sd", "system.slice:rt-test-sd", "a:b:c:d"] {
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.cgroups_path(bad);
        let c = without_systemd(Container::new(b));
        c.bundle.write();
        let bundle = c.bundle.path_str();
        let out = c.rt(&["--systemd-cgroup", "create", "--bundle", &bundle, &c.id]);
        // runc: expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups
        out.failed()
            .stderr_has("cgroupsPath")
            .stderr_has("slice:prefix:name");
        assert!(!c.state_dir_exists(), "{bad}: a state dir was left");
    }
}
