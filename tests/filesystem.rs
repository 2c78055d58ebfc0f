//! The container's filesystem: read-only root, masked and read-only paths,
//! the /dev nodes and symlinks a runtime must create, a tmpfs mount with
//! options, a read-only bind mount of a host directory, and a mount
//! destination that goes through a symlink pointing outside the rootfs
//! (which must stay inside the rootfs).

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::symlink;

/// `run` `sh -c script`; returns the output and the (finished) container,
/// whose bundle is still on disk for host-side checks.
fn run_sh(script: &str, f: impl FnOnce(&mut Bundle)) -> (Output, Container) {
    let mut b = Bundle::new();
    b.sh(script);
    f(&mut b);
    let c = Container::new(b);
    let o = c.run();
    (o, c)
}

#[test]
fn readonly_root_blocks_writes() {
    let (o, c) = run_sh("touch /x; echo rc=$?; touch /tmp/y; echo rc=$?", |b| {
        b.readonly_root(true);
    });
    o.ok();
    let lines = o.stdout_lines();
    assert_ne!(lines[0], "rc=0", "{o}");
    assert_ne!(lines[1], "rc=0", "{o}");
    assert!(!c.bundle.rootfs().join("x").exists());
    assert!(!c.bundle.rootfs().join("tmp/y").exists());
    assert!(
        o.stderr.to_lowercase().contains("read-only"),
        "expected EROFS message: {o}"
    );
}

#[test]
fn writable_root_allows_writes() {
    // control case for the test above
    let (o, c) = run_sh("touch /x; echo rc=$?", |b| {
        b.readonly_root(false);
    });
    o.ok();
    assert_eq!(o.stdout, "rc=0\n", "{o}");
    assert!(c.bundle.rootfs().join("x").exists());
}

#[test]
fn readonly_root_is_ro_in_mountinfo() {
    let (o, _c) = run_sh("cat /proc/self/mountinfo", |b| {
        b.readonly_root(true);
    });
    o.ok();
    let line = mountinfo_line(&o.stdout, "/").expect("a / mount");
    let (per, _) = mount_opts(line);
    assert!(per.contains(&"ro".to_string()), "{line}");
}

#[test]
fn masked_file_reads_empty_and_is_dev_null() {
    let (o, _c) = run_sh(
        "cat /proc/timer_list | wc -c; stat -c '%F %t:%T' /proc/timer_list",
        |_| {},
    );
    o.ok();
    assert_eq!(o.stdout_lines(), ["0", "character special file 1:3"], "{o}");
}

#[test]
fn unmasked_timer_list_is_readable() {
    // control: without maskedPaths the file has content
    let (o, _c) = run_sh("cat /proc/timer_list | wc -c", |b| {
        b.masked_paths(&[]);
    });
    o.ok();
    let n: u64 = o.stdout.trim().parse().unwrap();
    assert!(n > 0, "{o}");
}

#[test]
fn masked_directory_is_empty() {
    let (o, _c) = run_sh(
        "ls -A /sys/firmware | wc -l; touch /sys/firmware/x; echo rc=$?",
        |_| {},
    );
    o.ok();
    let lines = o.stdout_lines();
    assert_eq!(lines[0], "0", "{o}");
    assert_ne!(lines[1], "rc=0", "{o}");
}

#[test]
fn proc_sys_is_readonly() {
    let (o, _c) = run_sh(
        "echo rt-test > /proc/sys/kernel/domainname; echo rc=$?; cat /proc/self/mountinfo",
        |_| {},
    );
    o.ok();
    assert_ne!(o.stdout_lines()[0], "rc=0", "{o}");
    let line = mountinfo_line(&o.stdout, "/proc/sys").expect("/proc/sys is a mount");
    let (per, _) = mount_opts(line);
    assert!(per.contains(&"ro".to_string()), "{line}");
    // and /proc itself stays writable (only the listed subpaths are ro)
    let line = mountinfo_line(&o.stdout, "/proc").expect("/proc mount");
    let (per, _) = mount_opts(line);
    assert!(per.contains(&"rw".to_string()), "{line}");
}

#[test]
fn dev_nodes_exist_with_right_numbers() {
    let (o, _c) = run_sh(
        "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T' /dev/$d; done; \
         stat -L -c '%n %F %t:%T' /dev/ptmx; \
         echo x > /dev/null && echo null-ok; head -c 5 /dev/zero | wc -c; \
         head -c 8 /dev/urandom | wc -c",
        |_| {},
    );
    o.ok();
    let lines = o.stdout_lines();
    assert_eq!(
        &lines[..6],
        [
            "/dev/null character special file 1:3",
            "/dev/zero character special file 1:5",
            "/dev/full character special file 1:7",
            "/dev/random character special file 1:8",
            "/dev/urandom character special file 1:9",
            "/dev/tty character special file 5:0",
        ],
        "{o}"
    );
    assert_eq!(lines[6], "/dev/ptmx character special file 5:2", "{o}");
    assert_eq!(&lines[7..], ["null-ok", "5", "8"], "{o}");
}

#[test]
fn dev_symlinks() {
    let (o, _c) = run_sh(
        "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done; ls /dev/fd/ >/dev/null && echo fd-ok",
        |_| {},
    );
    o.ok();
    assert_eq!(
        o.stdout_lines(),
        [
            "fd /proc/self/fd",
            "stdin /proc/self/fd/0",
            "stdout /proc/self/fd/1",
            "stderr /proc/self/fd/2",
            "ptmx pts/ptmx",
            "fd-ok"
        ],
        "{o}"
    );
}

#[test]
fn devices_cgroup_denies_other_devices() {
    // With CAP_MKNOD the node can be created (runc allows mknod of any
    // device), but the "deny all" device rule must make opening it fail.
    let (o, _c) = run_sh(
        "mknod /dev/rt-sda b 8 0; echo mknod=$?; head -c1 /dev/rt-sda >/dev/null; echo read=$?",
        |b| {
            b.capabilities(&["CAP_MKNOD", "CAP_KILL"]);
        },
    );
    o.ok();
    assert_eq!(o.stdout_lines(), ["mknod=0", "read=1"], "{o}");
    o.stderr_has("Operation not permitted");
}

#[test]
fn tmpfs_mount_with_options() {
    let (o, c) = run_sh(
        "cat /proc/self/mountinfo; echo data > /mnt/t/f && echo write-ok",
        |b| {
            b.add_mount(json!({
                "destination": "/mnt/t",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=750"]
            }));
        },
    );
    o.ok();
    let line = mountinfo_line(&o.stdout, "/mnt/t").expect("tmpfs at /mnt/t");
    let (per, sup) = mount_opts(line);
    for f in ["nosuid", "nodev", "noexec", "rw"] {
        assert!(per.contains(&f.to_string()), "{f} missing: {line}");
    }
    assert!(line.contains(" - tmpfs "), "{line}");
    assert!(sup.contains(&"size=1024k".to_string()), "{line}");
    assert!(sup.contains(&"mode=750".to_string()), "{line}");
    assert!(o.stdout.ends_with("write-ok\n"), "{o}");
    // the write went to the tmpfs, not to the rootfs directory
    let d = c.bundle.rootfs().join("mnt/t");
    assert!(d.is_dir(), "mount point created in rootfs");
    assert_eq!(fs::read_dir(&d).unwrap().count(), 0);
}

#[test]
fn readonly_bind_mount_of_host_dir() {
    let host = TempDir::new("hostdir");
    fs::write(host.path().join("hello.txt"), "hostdata\n").unwrap();
    let src = host.path().to_string_lossy().into_owned();
    let (o, _c) = run_sh(
        "cat /mnt/host/hello.txt; touch /mnt/host/new; echo rc=$?; \
         echo more >> /mnt/host/hello.txt; echo rc=$?; cat /proc/self/mountinfo",
        |b| {
            b.add_mount(json!({
                "destination": "/mnt/host",
                "type": "bind",
                "source": src,
                "options": ["rbind", "ro"]
            }));
        },
    );
    o.ok();
    let lines = o.stdout_lines();
    assert_eq!(lines[0], "hostdata", "{o}");
    assert_ne!(lines[1], "rc=0", "{o}");
    assert_ne!(lines[2], "rc=0", "{o}");
    assert!(!host.path().join("new").exists());
    assert_eq!(
        fs::read_to_string(host.path().join("hello.txt")).unwrap(),
        "hostdata\n"
    );
    let line = mountinfo_line(&o.stdout, "/mnt/host").expect("bind mount");
    let (per, _) = mount_opts(line);
    assert!(per.contains(&"ro".to_string()), "{line}");
}

#[test]
fn writable_bind_mount_of_host_dir() {
    // control: without "ro" the container writes through to the host
    let host = TempDir::new("hostdir");
    let src = host.path().to_string_lossy().into_owned();
    let (o, _c) = run_sh("echo fromctr > /mnt/host/new", |b| {
        b.add_mount(json!({
            "destination": "/mnt/host", "type": "bind", "source": src,
            "options": ["rbind", "rw"]
        }));
    });
    o.ok();
    assert_eq!(
        fs::read_to_string(host.path().join("new")).unwrap(),
        "fromctr\n"
    );
}

#[test]
fn mount_destination_through_symlink_stays_in_rootfs() {
    // rootfs/evil -> <absolute host dir>; a mount at /evil/sub must be
    // resolved inside the rootfs, never create or mount on the host path.
    let host = TempDir::new("escape");
    let hp = host.path().to_string_lossy().into_owned();
    let host_mounts_before = mountinfo(std::process::id() as i32);
    let (o, c) = run_sh(
        "cat /proc/self/mountinfo; echo marker > /evil/sub/m && echo write-ok",
        |b| {
            symlink(&hp, b.rootfs().join("evil")).unwrap();
            b.add_mount(json!({
                "destination": "/evil/sub",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "size=1m"]
            }));
        },
    );
    // Nothing may appear in the host directory whatever the runtime did.
    let entries: Vec<_> = fs::read_dir(host.path()).unwrap().collect();
    assert!(
        entries.is_empty(),
        "runtime wrote to host path {hp}: {entries:?}"
    );
    let host_mounts_after = mountinfo(std::process::id() as i32);
    assert!(
        !host_mounts_after.contains(&hp),
        "host mount table gained {hp}"
    );
    assert_eq!(
        host_mounts_before.lines().count(),
        host_mounts_after.lines().count()
    );
    // runc resolves the symlink in the rootfs: the mount lands at
    // <rootfs>/<hp>/sub, seen inside as <hp>/sub.
    o.ok();
    let inside = format!("{hp}/sub");
    assert!(
        mountinfo_line(&o.stdout, &inside).is_some(),
        "mount not at {inside} inside the container: {o}"
    );
    assert!(o.stdout.ends_with("write-ok\n"), "{o}");
    assert!(c.bundle.rootfs().join(&hp[1..]).join("sub").is_dir());
}

/// A container in a user namespace, with CAP_SYS_ADMIN there, that binds `src` (made a
/// read-only, nosuid bind mount of itself first) on /mnt/host with `options` and runs `script`.
/// Every rt call runs in a private mount namespace, so the host's mount table never changes.
fn over_readonly_host_mount(src: &std::path::Path, options: &[&str], script: &str) -> Container {
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536)
        .remove_mount("/sys/fs/cgroup")
        .add_mount(json!({
            "destination": "/mnt/host", "type": "bind", "source": src, "options": options
        }))
        .capabilities(&["CAP_SYS_ADMIN"])
        .sh(script);
    fs::create_dir_all(b.rootfs().join("mnt/host")).unwrap();
    let s = format!("'{}'", src.display());
    Container::new(b).wrapped(in_private_mount_ns(&format!(
        "mount --bind {s} {s} && mount -o remount,bind,ro,nosuid {s}"
    )))
}

/// A read-only host mount stays read-only for root in a user-namespace container: init's mount
/// namespace copy locks the host mount's flags (MNT_LOCK_READONLY) and a bind made from it
/// inherits the lock. (A tree cloned by rt with open_tree in its own namespace would not carry
/// it, which is why rt opens bind sources in init's mount namespace: rootfs/sources.rs.)
#[test]
fn host_mount_flags_stay_locked_in_a_user_namespace() {
    let host = TempDir::new("lockedro");
    let src = host.path().join("ro");
    fs::create_dir_all(&src).unwrap();
    let c = over_readonly_host_mount(
        &src,
        &["rbind"],
        "mount -o remount,bind,rw /mnt/host 2>/dev/null && echo remounted-rw || echo locked; \
         touch /mnt/host/new 2>/dev/null || echo read-only; \
         mount -o remount,bind,ro,nosuid /mnt/host && echo may-remount",
    );
    let o = c.run();
    o.ok();
    assert!(!src.join("new").exists());
    // The last line shows the refusals are the locks, not a missing right to remount at all.
    assert_eq!(
        o.stdout_lines(),
        ["locked", "read-only", "may-remount"],
        "{o}"
    );
}

/// An idmapped bind is made by rt outside the container's mount namespace (mount_setattr's idmap
/// needs host CAP_SYS_ADMIN) and would carry no such lock, so in a user namespace rt refuses one
/// whose host mount has flags to lock, and leaves nothing behind.
#[test]
fn idmapped_bind_of_a_locked_host_mount_is_refused_in_a_user_namespace() {
    let host = TempDir::new("lockedro-idmap");
    let src = host.path().join("ro");
    fs::create_dir_all(&src).unwrap();
    let c = over_readonly_host_mount(
        &src,
        &["rbind", "idmap"],
        "mount -o remount,bind,rw /mnt/host && touch /mnt/host/new",
    );
    let o = c.run();
    o.failed();
    assert!(!src.join("new").exists());
    assert!(!c.state_dir_exists());
    assert!(c.cgroup_dirs().is_empty(), "left: {:?}", c.cgroup_dirs());
    if runc_differs(
        "runc 1.1.5 predates idmapped mounts (runtime-spec 1.2) and ignores the idmap option: a \
         plain bind, whose locked flags make the remount fail inside",
    ) {
        return;
    }
    o.stderr_has("mounts[")
        .stderr_has("read-only, nosuid")
        .stderr_has("not supported");
}
