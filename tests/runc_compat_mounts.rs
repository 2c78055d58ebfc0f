//! Mounts where rt once differed from runc 1.1.5 (found by integration/differential), each
//! checked as a user sees it: inside the container (mountinfo, what a file operation does) and
//! from outside. Every test passes on rt and on runc
//! (`RT_BIN=/usr/sbin/runc cargo test --test runc_compat_mounts`).

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::symlink;

/// `run` `sh -c script` with `mounts` added; the output, required to succeed.
fn run_with_mounts(script: &str, mounts: &[Value]) -> Output {
    let mut b = Bundle::new();
    b.sh(script);
    for m in mounts {
        b.add_mount(m.clone());
    }
    let o = Container::new(b).run();
    o.ok();
    o
}

fn per_mount_options(o: &Output, mp: &str) -> Vec<String> {
    let line = mountinfo_line(&o.stdout, mp).unwrap_or_else(|| panic!("no mount at {mp}: {o}"));
    mount_opts(line).0
}

/// The optional fields of a mountinfo line (between the options and ` - `): `shared:N`, ...
fn optional_fields(o: &Output, mp: &str) -> Vec<String> {
    let line = mountinfo_line(&o.stdout, mp).unwrap_or_else(|| panic!("no mount at {mp}: {o}"));
    let head = line.split(" - ").next().unwrap_or_default();
    head.split_whitespace().skip(6).map(String::from).collect()
}

// ---- bind mount options ---------------------------------------------------------------------

/// `nosymfollow` on a bind mount (directory or file, with or without a type): symlinks on it are
/// not followed (ELOOP), and mountinfo says so.
#[test]
fn nosymfollow_on_a_bind_mount_is_applied() {
    let dir = TempDir::new("nosymfollow");
    fs::write(dir.path().join("target"), "data\n").unwrap();
    symlink("target", dir.path().join("link")).unwrap();
    let src = dir.path().to_string_lossy().into_owned();
    let file = format!("{src}/target");
    let o = run_with_mounts(
        "cat /mnt/d/target; cat /mnt/d/link 2>/dev/null || echo refused; \
         cat /proc/self/mountinfo",
        &[
            json!({"destination": "/mnt/d", "source": src, "options": ["rbind", "nosymfollow"]}),
            json!({"destination": "/mnt/f", "type": "bind", "source": file,
                   "options": ["nosymfollow", "rbind"]}),
        ],
    );
    assert_eq!(o.stdout_lines()[..2], ["data", "refused"], "{o}");
    for mp in ["/mnt/d", "/mnt/f"] {
        assert!(
            per_mount_options(&o, mp).contains(&"nosymfollow".to_string()),
            "{mp}: {o}"
        );
    }
}

/// `shared`/`rshared` in a bind mount's options makes the new mount a shared one (its own peer
/// group), whatever the order of the options.
#[test]
fn shared_propagation_on_a_bind_mount_is_applied() {
    let dir = TempDir::new("shared");
    fs::write(dir.path().join("file"), "").unwrap();
    let src = dir.path().to_string_lossy().into_owned();
    let file = format!("{src}/file");
    let o = run_with_mounts(
        "cat /proc/self/mountinfo",
        &[
            json!({"destination": "/mnt/d", "type": "bind", "source": src,
                   "options": ["rshared", "rbind"]}),
            json!({"destination": "/mnt/f", "source": file, "options": ["rbind", "shared"]}),
        ],
    );
    for mp in ["/mnt/d", "/mnt/f"] {
        let fields = optional_fields(&o, mp);
        assert!(
            fields.iter().any(|f| f.starts_with("shared:")),
            "{mp} not shared: {fields:?}\n{o}"
        );
    }
}

// ---- readonlyPaths --------------------------------------------------------------------------

/// A read-only path is remounted read-only keeping the nosuid/nodev/noexec of the mount it is
/// on, adding none: a directory of the rootfs stays exec-able (rt once added all three).
#[test]
fn readonly_paths_keep_the_flags_of_their_mount() {
    let mut b = Bundle::new();
    fs::create_dir_all(b.rootfs().join("opt/tools")).unwrap();
    fs::copy(busybox(), b.rootfs().join("opt/tools/true")).unwrap();
    b.readonly_paths(&["/opt/tools", "/proc/sys"]);
    b.sh(
        "/opt/tools/true && echo ran; touch /opt/tools/x 2>/dev/null || echo refused; \
          cat /proc/self/mountinfo",
    );
    let mut proc_flags = b.config["mounts"][0].clone();
    assert_eq!(proc_flags["destination"], "/proc");
    proc_flags["options"] = json!(["nosuid", "nodev", "noexec"]);
    b.config["mounts"][0] = proc_flags;
    let o = Container::new(b).run();
    o.ok();
    assert_eq!(o.stdout_lines()[..2], ["ran", "refused"], "{o}");
    let tools = per_mount_options(&o, "/opt/tools");
    assert!(tools.contains(&"ro".to_string()), "{tools:?}");
    for f in ["nosuid", "nodev", "noexec"] {
        assert!(
            !tools.contains(&f.to_string()),
            "/opt/tools has {f}: {tools:?}"
        );
        let sys = per_mount_options(&o, "/proc/sys");
        assert!(sys.contains(&f.to_string()), "/proc/sys lacks {f}: {sys:?}");
    }
}

/// Masks and read-only paths come after the root and read-only tmpfs mounts are made
/// read-only, as in runc: a file masked with /dev/null bound from a read-only root is read-only
/// too, and a read-only tmpfs that is also a read-only path stays read-only.
#[test]
fn masks_and_readonly_paths_come_after_the_read_only_root() {
    let mut b = Bundle::new();
    fs::write(b.rootfs().join("etc/secret"), "s").unwrap();
    // No /dev mount: /dev/null is made in the rootfs, on the root mount.
    b.remove_mount("/dev")
        .readonly_root(true)
        .add_mount(
            json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
            "options": ["strictatime", "ro"]}),
        )
        .masked_paths(&["/etc/secret"])
        .readonly_paths(&["/mnt/t"])
        .sh("cat /proc/self/mountinfo");
    let o = Container::new(b).run();
    o.ok();
    for mp in ["/etc/secret", "/mnt/t"] {
        let opts = per_mount_options(&o, mp);
        assert!(opts.contains(&"ro".to_string()), "{mp}: {opts:?}");
    }
}

// ---- mount source ---------------------------------------------------------------------------

/// A mount without `source` gets an empty one, as in runc: the mount table names no device
/// (rt once wrote the type there). The source is the field after ` - type ` in mountinfo.
#[test]
fn a_mount_without_source_has_an_empty_one() {
    let o = run_with_mounts(
        "cat /proc/self/mountinfo",
        &[json!({"destination": "/mnt/t", "type": "tmpfs"})],
    );
    let line = mountinfo_line(&o.stdout, "/mnt/t").unwrap_or_else(|| panic!("{o}"));
    let tail = line.split(" - ").nth(1).unwrap_or_default();
    let fields: Vec<&str> = tail.split(' ').collect();
    assert_eq!(fields[0], "tmpfs", "{line}");
    assert_eq!(fields[1], "", "source of {line}");
}

// ---- tmpcopyup ------------------------------------------------------------------------------

/// `tmpcopyup` (podman sends it for `--read-only` and `--tmpfs`): the tmpfs starts with a copy
/// of the directory it hides, owners and modes kept, symlinks copied as symlinks; writes go to
/// the tmpfs, never to the rootfs. rt once passed the option to the kernel (EINVAL).
#[test]
fn tmpcopyup_copies_the_directory_into_the_tmpfs() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let mut b = Bundle::new();
    let lower = b.rootfs().join("var/cache");
    fs::create_dir_all(lower.join("sub")).unwrap();
    fs::write(lower.join("data"), "lower data\n").unwrap();
    fs::write(lower.join("sub/deep"), "deep\n").unwrap();
    symlink("data", lower.join("link")).unwrap();
    symlink("/etc/hostname", lower.join("abs-link")).unwrap();
    chown(lower.join("data"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(lower.join("data"), fs::Permissions::from_mode(0o2640)).unwrap();
    chown(lower.join("sub"), Some(5), Some(6)).unwrap();
    fs::set_permissions(lower.join("sub"), fs::Permissions::from_mode(0o750)).unwrap();
    b.readonly_root(true)
        .capabilities(&["CAP_DAC_OVERRIDE"])
        .add_mount(json!({
            "destination": "/var/cache", "type": "tmpfs", "source": "tmpfs",
            "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
        }));
    b.sh("cd /var/cache; cat data sub/deep link; readlink abs-link; \
          stat -c '%n %a %u %g' data sub sub/deep; \
          echo new > added && echo data >> data && echo written; \
          grep ' /var/cache ' /proc/self/mountinfo");
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 9, "{o}");
    assert_eq!(
        lines[..8],
        [
            "lower data",
            "deep",
            "lower data",
            "/etc/hostname",
            "data 2640 1000 1000",
            "sub 750 5 6",
            "sub/deep 644 0 0",
            "written"
        ],
        "{o}"
    );
    assert!(lines[8].contains(" - tmpfs "), "{o}");
    assert_eq!(
        fs::read_to_string(lower.join("data")).unwrap(),
        "lower data\n"
    );
    assert!(!lower.join("added").exists());
}

// ---- type: cgroup ---------------------------------------------------------------------------

/// The v1 hierarchies this host mounts (mount point names under /sys/fs/cgroup), or None on a
/// cgroup v2 host.
fn host_v1_hierarchies() -> Option<Vec<String>> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let names: Vec<String> = mi
        .lines()
        .filter(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup "))
        })
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter_map(|mp| mp.strip_prefix("/sys/fs/cgroup/"))
        .map(String::from)
        .collect();
    (!names.is_empty()).then_some(names)
}

/// (mount point, fs type, source, root, per-mount options) of every mount at or below `under`.
fn mounts_under(o: &Output, under: &str) -> Vec<(String, String, String, String, Vec<String>)> {
    o.stdout
        .lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let h: Vec<&str> = head.split_whitespace().collect();
            let t: Vec<&str> = tail.split(' ').collect();
            let mp = *h.get(4)?;
            (mp == under || mp.starts_with(&format!("{under}/"))).then(|| {
                let opts = h[5].split(',').map(String::from).collect();
                (mp.into(), t[0].into(), t[1].into(), h[3].into(), opts)
            })
        })
        .collect()
}

/// A `cgroup` mount on a v1 or hybrid host, as runc lays it out: a tmpfs that is always
/// nosuid,nodev,noexec holding one mount per v1 hierarchy and not the hybrid host's unified
/// cgroup2 one (runc 1.1 and 1.3 alike; the spec leaves the layout to the runtime). A second
/// `cgroup` mount elsewhere shows each hierarchy once too, and one mounted twice on the same
/// place is two such layouts, the second on top.
#[test]
fn cgroup_mount_holds_the_v1_hierarchies_in_a_forced_nosuid_nodev_noexec_tmpfs() {
    let Some(host) = host_v1_hierarchies() else {
        skip("cgroup v2 host: a cgroup mount is a cgroup2 mount there");
        return;
    };
    let mut b = Bundle::new();
    b.remove_mount("/sys/fs/cgroup");
    for dest in ["/sys/fs/cgroup", "/mnt/cg", "/mnt/cg"] {
        b.add_mount(
            json!({"destination": dest, "type": "cgroup", "source": "cgroup",
                           "options": ["nosuid", "nodev"]}),
        );
    }
    b.sh("cat /proc/self/mountinfo");
    let o = Container::new(b).run();
    o.ok();
    for (dest, layouts) in [("/sys/fs/cgroup", 1), ("/mnt/cg", 2)] {
        let all = mounts_under(&o, dest);
        assert_eq!(all.len(), layouts * (host.len() + 1), "{dest}\n{o}");
        let mounts = &all[all.len() - host.len() - 1..];
        let (_, typ, _, _, opts) = &mounts[0];
        assert_eq!(typ, "tmpfs", "{dest}: {mounts:?}");
        for f in ["nosuid", "nodev", "noexec"] {
            assert!(opts.contains(&f.to_string()), "{dest} lacks {f}: {opts:?}");
        }
        let mut names: Vec<String> = mounts[1..]
            .iter()
            .map(|(mp, typ, ..)| {
                assert_eq!(typ, "cgroup", "{mp}: {mounts:?}");
                mp[dest.len() + 1..].to_string()
            })
            .collect();
        names.sort();
        let mut want = host.clone();
        want.sort();
        assert_eq!(names, want, "{dest}\n{o}");
    }
}

/// With a cgroup namespace each v1 hierarchy is a fresh mount rooted at the container's cgroup,
/// nosuid,nodev,noexec, and the named systemd hierarchy has runc's source `systemd`.
#[test]
fn cgroup_mount_in_a_cgroup_namespace_mounts_fresh_hierarchies() {
    let Some(host) = host_v1_hierarchies() else {
        skip("cgroup v2 host: a cgroup mount is a cgroup2 mount there");
        return;
    };
    let mut b = Bundle::new();
    b.namespace("cgroup", None).sh("cat /proc/self/mountinfo");
    let o = Container::new(b).run();
    o.ok();
    let mounts = mounts_under(&o, "/sys/fs/cgroup");
    assert_eq!(mounts.len(), host.len() + 1, "{o}");
    for (mp, typ, source, root, opts) in &mounts[1..] {
        assert_eq!((typ.as_str(), root.as_str()), ("cgroup", "/"), "{mp}\n{o}");
        let want = if mp.ends_with("/systemd") {
            "systemd"
        } else {
            "cgroup"
        };
        assert_eq!(source, want, "{mp}\n{o}");
        for f in ["nosuid", "nodev", "noexec", "ro"] {
            assert!(opts.contains(&f.to_string()), "{mp} lacks {f}: {opts:?}");
        }
    }
}
