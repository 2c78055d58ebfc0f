//! Idmapped bind mounts (mounts[].uidMappings/gidMappings, options idmap/ridmap), checked from
//! inside (owners as `stat` shows them through the mount) and outside (the host files' real
//! owners). Kernel semantics: for a mapping entry {containerID: C, hostID: H}, a file stored with
//! id C appears as H through the mount, and a file created through the mount by H is stored as C;
//! stored ids outside the mapping appear as the overflow id 65534.

mod common;

use common::*;
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid())
}

/// The source directory's filesystem must allow idmapped mounts (ext4, xfs, btrfs, tmpfs since
/// 6.3): report and skip otherwise, never pass silently.
fn idmap_supported(dir: &Path) -> bool {
    let fs = std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let ok = ["ext2/ext3", "xfs", "btrfs", "tmpfs"].contains(&fs.as_str());
    if !ok {
        skip(&format!(
            "{} is on {fs:?}, not known to allow idmapped mounts",
            dir.display()
        ));
    }
    ok
}

/// True on runc, recorded: runc 1.1.5 predates idmapped mounts and ignores them.
fn runc_lacks_idmap() -> bool {
    runc_differs(
        "runc 1.1.5 predates idmapped mounts (runtime-spec 1.2: mounts[].uidMappings and \
         gidMappings, options idmap and ridmap) and ignores them",
    )
}

/// Container root in a user namespace may not create directories in the host-root-owned rootfs:
/// make the mount points beforehand, as an image would have them.
fn mountpoints(b: &Bundle, dirs: &[&str]) {
    for d in dirs {
        std::fs::create_dir_all(b.rootfs().join(d)).unwrap();
    }
}

#[test]
fn features_report_idmap() {
    let scratch = TempDir::new("idmap-features");
    let o = rt_raw(&["features"], None, scratch.path());
    o.ok();
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    if runc_lacks_idmap() {
        return;
    }
    assert_eq!(
        v["linux"]["mountExtensions"]["idmap"]["enabled"],
        json!(true)
    );
    let opts = v["mountOptions"].as_array().unwrap();
    assert!(opts.contains(&json!("idmap")) && opts.contains(&json!("ridmap")));
}

/// No user namespace: container root is host root, so with {containerID: 1000, hostID: 0} a file
/// stored as 1000 shows as root, root's new files are stored as 1000, and stored root shows as
/// 65534.
#[test]
fn explicit_mapping_without_user_namespace() {
    let src = TempDir::new("idmap-src");
    if !idmap_supported(src.path()) || runc_lacks_idmap() {
        return;
    }
    // The kernel refuses writes to an inode whose owner the mount does not map, so the
    // directory is stored as 1000 too (container root owns it through the mount).
    chown(src.path(), 1000, 1000);
    let f = src.path().join("owned-by-1000");
    std::fs::write(&f, "x").unwrap();
    chown(&f, 1000, 1000);
    let r = src.path().join("owned-by-root");
    std::fs::write(&r, "x").unwrap();

    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/mnt/idm", "type": "bind", "source": src.path(), "options": ["bind"],
        "uidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}],
        "gidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}],
    }))
    .sh(
        "stat -c %u:%g /mnt/idm/owned-by-1000 /mnt/idm/owned-by-root; \
         touch /mnt/idm/new && stat -c %u:%g /mnt/idm/new; \
         grep ' /mnt/idm ' /proc/self/mountinfo",
    );
    let c = Container::new(b);
    let before = mountinfo(std::process::id() as i32);
    let o = c.run();
    o.ok();
    let l = o.stdout_lines();
    assert_eq!(l[0], "0:0", "stored 1000 must show as root: {o}");
    assert_eq!(l[1], "65534:65534", "stored root is unmapped: {o}");
    assert_eq!(l[2], "0:0", "{o}");
    assert!(l[3].contains("idmapped"), "mountinfo: {o}");
    // Outside: nothing changed owner, the new file is stored through the mapping, and the host
    // mount table is untouched.
    assert_eq!(owner(&f), (1000, 1000));
    assert_eq!(owner(&r), (0, 0));
    assert_eq!(owner(&src.path().join("new")), (1000, 1000));
    assert_eq!(mountinfo(std::process::id() as i32), before);
}

/// A container in a user namespace (0 -> 100000): `idmap` alone takes the container's mappings,
/// so host root's files appear owned by container root (a plain bind shows them as 65534), and
/// container root's new files are stored as host root.
#[test]
fn idmap_option_takes_container_user_namespace_mappings() {
    let src = TempDir::new("idmap-src");
    if !idmap_supported(src.path()) || runc_lacks_idmap() {
        return;
    }
    let h = src.path().join("host-root-file");
    std::fs::write(&h, "x").unwrap();
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536)
        .remove_mount("/sys/fs/cgroup")
        .add_mount(json!({
            "destination": "/mnt/idm", "type": "bind", "source": src.path(),
            "options": ["rbind", "idmap"],
        }))
        .add_mount(json!({
            "destination": "/mnt/plain", "type": "bind", "source": src.path(),
            "options": ["rbind"],
        }))
        .sh(
            "stat -c %u:%g /mnt/idm/host-root-file /mnt/plain/host-root-file; \
             touch /mnt/idm/made-inside && stat -c %u:%g /mnt/idm/made-inside; id -u",
        );
    mountpoints(&b, &["mnt/idm", "mnt/plain"]);
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    let l = o.stdout_lines();
    assert_eq!(
        l[0], "0:0",
        "host root must be container root through the mount: {o}"
    );
    assert_eq!(
        l[1], "65534:65534",
        "without idmap host root is unmapped: {o}"
    );
    assert_eq!(l[2], "0:0", "{o}");
    assert_eq!(l[3], "0", "{o}");
    assert_eq!(owner(&h), (0, 0));
    assert_eq!(owner(&src.path().join("made-inside")), (0, 0));
}

/// Explicit mappings different from the container's, in a user namespace container: the mount
/// gets its own namespace (container 0 = host 100000; mount {0 -> 100000} with gid {0 -> 100000})
/// while host uid 1000 files (stored as 1000) stay unmapped.
#[test]
fn explicit_mapping_in_user_namespace_container() {
    let src = TempDir::new("idmap-src");
    if !idmap_supported(src.path()) || runc_lacks_idmap() {
        return;
    }
    let f = src.path().join("f");
    std::fs::write(&f, "x").unwrap();
    chown(&f, 5, 6);
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536)
        .remove_mount("/sys/fs/cgroup")
        .add_mount(json!({
            "destination": "/mnt/idm", "type": "bind", "source": src.path(),
            "options": ["bind", "ro"],
            // stored 5 -> host 100007 = container 7; stored 6 -> host 100009 = container 9
            "uidMappings": [{"containerID": 5, "hostID": 100007, "size": 1}],
            "gidMappings": [{"containerID": 6, "hostID": 100009, "size": 1}],
        }))
        .sh("stat -c %u:%g /mnt/idm/f; touch /mnt/idm/no 2>/dev/null || echo read-only");
    mountpoints(&b, &["mnt/idm"]);
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    let l = o.stdout_lines();
    assert_eq!(l[0], "7:9", "{o}");
    assert_eq!(l[1], "read-only", "{o}");
    assert_eq!(owner(&f), (5, 6));
    assert!(!src.path().join("no").exists());
}

/// A filesystem without idmapped mount support (sysfs) is refused with the mount's index and
/// source, and nothing is left behind.
#[test]
fn unsupported_filesystem_is_a_clear_error() {
    if runc_lacks_idmap() {
        return;
    }
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/mnt/idm", "type": "bind", "source": "/sys/kernel", "options": ["bind"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    }));
    let index = b.config["mounts"].as_array().unwrap().len() - 1;
    b.args(&["true"]);
    let mut c = Container::new(b);
    let o = c.create();
    o.failed().stderr_has(&format!(
        "mounts[{index}]: idmapped mount of /sys/kernel: filesystem does not support idmapped \
         mounts"
    ));
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
    assert!(c.cgroup_dirs().is_empty(), "{:?}", c.cgroup_dirs());
}

/// `idmap` without mappings and without a user namespace has nothing to map with (runc refuses
/// it too); a mapping must come in pairs.
#[test]
fn idmap_without_mappings_or_user_namespace_is_refused() {
    if runc_lacks_idmap() {
        return;
    }
    let src = TempDir::new("idmap-src");
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/mnt/idm", "type": "bind", "source": src.path(),
        "options": ["bind", "idmap"],
    }))
    .add_mount(json!({
        "destination": "/mnt/b", "type": "bind", "source": src.path(), "options": ["bind"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    }));
    let n = b.config["mounts"].as_array().unwrap().len();
    b.write();
    // `rt check` lists both; create refuses with the first and leaves nothing.
    let o = rt_raw(&["check", &b.path_str()], None, src.path());
    assert_eq!(o.code, Some(1), "{o}");
    assert!(
        o.stdout.contains(&format!("mounts[{}]: idmapped", n - 2)),
        "{o}"
    );
    assert!(
        o.stdout.contains(&format!(
            "mounts[{}].gidMappings: an idmapped mount needs both",
            n - 1
        )),
        "{o}"
    );
    let mut c = Container::new(b);
    c.create()
        .failed()
        .stderr_has(&format!("mounts[{}]: idmapped", n - 2));
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
}

/// `idmap` on an rbind idmaps only the top mount of the copied tree; `ridmap` every mount in it
/// (runc: open_tree AT_RECURSIVE for rbind, mount_setattr AT_RECURSIVE for ridmap). The
/// submount is a tmpfs made in a private mount namespace that rt runs in (unshare wrapper), so
/// the host's mount table is never touched. Also an idmapped bind of a single file.
#[test]
fn ridmap_reaches_submounts_and_idmap_does_not() {
    let src = TempDir::new("idmap-src");
    if !idmap_supported(src.path()) || runc_lacks_idmap() {
        return;
    }
    let sub = src.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let top = src.path().join("top");
    std::fs::write(&top, "x").unwrap();
    let wrapper = in_private_mount_ns(&format!(
        "mount -t tmpfs rt-test-idmap {0} && echo x > {0}/f",
        sub.display()
    ));
    let map = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    let mut b = Bundle::new();
    for (dest, opt) in [("/mnt/idmap", "idmap"), ("/mnt/ridmap", "ridmap")] {
        b.add_mount(json!({
            "destination": dest, "type": "bind", "source": src.path(),
            "options": ["rbind", opt], "uidMappings": map, "gidMappings": map,
        }));
    }
    b.add_mount(json!({
        "destination": "/mnt/file", "type": "bind", "source": top,
        "options": ["bind"], "uidMappings": map, "gidMappings": map,
    }))
    .sh(
        "stat -c %u /mnt/idmap/top /mnt/idmap/sub/f /mnt/ridmap/top /mnt/ridmap/sub/f \
         /mnt/file",
    );
    let c = Container::new(b).wrapped(wrapper);
    let o = c.run();
    o.ok();
    assert_eq!(
        o.stdout_lines(),
        ["1000", "0", "1000", "1000", "1000"],
        "{o}"
    );
    assert_eq!(owner(&top), (0, 0));
    // The tmpfs lived only in the wrapper's mount namespace.
    assert!(!sub.join("f").exists());
}
