//! What rt refuses to do to the host (README: "What rt refuses to do to the host"): sysctls
//! outside the container's namespaces, nodes in a bind-mounted /dev, a bare procfs reachable
//! under --no-pivot, exec capabilities that outlive execve, procfs/sysfs through a symlink,
//! security settings silently dropped, and delete removing what rt did not make.
//!
//! Each test that could change the machine if rt regressed runs against a scratch target: rt
//! inside network, IPC and UTS namespaces made for the test (sysctls), a scratch directory as
//! the /dev source, a scratch --root (delete), a private mount namespace (propagation).

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

/// A wrapper (see [`Container::wrapped`]) running each runtime call as `"$@"` inside
/// `script`, in namespaces `unshare FLAGS` makes for that call alone.
fn unshare_around(flags: &[&str], script: &str) -> Vec<String> {
    std::iter::once("unshare")
        .chain(flags.iter().copied())
        .chain(["--propagation", "private", "sh", "-c", script, "sh"])
        .map(String::from)
        .collect()
}

/// Every runtime call in network, IPC, UTS and mount namespaces of its own, so a sysctl rt
/// wrote by mistake would change only those. The sysctl files in `watch` are read there before
/// and after the call; a change is reported on stderr as `SCRATCH CHANGED <file>`.
fn scratch_namespaces(watch: &[&str]) -> Vec<String> {
    let mut before = String::new();
    let mut after = String::new();
    for (i, f) in watch.iter().enumerate() {
        before.push_str(&format!("b{i}=$(cat {f}); "));
        after.push_str(&format!(
            "[ \"$(cat {f})\" = \"$b{i}\" ] || echo 'SCRATCH CHANGED {f}' >&2; "
        ));
    }
    let script = format!("{before}\"$@\"; rc=$?; {after}exit $rc");
    unshare_around(&["--net", "--ipc", "--uts", "--mount"], &script)
}

fn read_sysctl(path: &str) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

const PING_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";
const MQ_QUEUES: &str = "/proc/sys/fs/mqueue/queues_max";
const OVERCOMMIT: &str = "/proc/sys/vm/overcommit_ratio";

/// A change to a test's bundle.
type Tweak = fn(&mut Bundle);

/// runc's validator: a sysctl is set only in a namespace the container owns. Keys of a
/// namespace the container shares with rt, and keys no namespace covers, are refused with the
/// key and the namespace named, and the scratch namespaces rt ran in keep their values.
#[test]
fn sysctls_outside_the_container_namespaces_are_refused() {
    let mq = read_sysctl(MQ_QUEUES).parse::<u64>().unwrap_or(256) + 1;
    // vm.* is global: the value written is the host's own, so even a regression changes nothing.
    let overcommit = read_sysctl(OVERCOMMIT);
    let cases: Vec<(&str, serde_json::Value, &str, Tweak)> = vec![
        (
            "net.ipv4.ping_group_range",
            json!("0 0"),
            "network namespace",
            |b| {
                b.remove_namespace("network");
            },
        ),
        (
            "net.ipv4.ping_group_range",
            json!("0 0"),
            "network namespace",
            |b| {
                b.namespace("network", Some("/proc/self/ns/net"));
            },
        ),
        (
            "fs.mqueue.queues_max",
            json!(mq.to_string()),
            "ipc namespace",
            |b| {
                b.remove_namespace("ipc");
            },
        ),
        (
            "vm.overcommit_ratio",
            json!(overcommit),
            "namespace",
            |_| {},
        ),
        ("kernel.domainname", json!("rt.example"), "namespace", |b| {
            b.remove_namespace("uts");
            b.config.as_object_mut().unwrap().remove("hostname");
        }),
        ("kernel.hostname", json!("other"), "hostname", |_| {}),
    ];
    for (key, value, why, tweak) in cases {
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.config["linux"]["sysctl"] = json!({ key: value });
        tweak(&mut b);
        let c = Container::new(b).wrapped(scratch_namespaces(&[PING_RANGE, MQ_QUEUES, OVERCOMMIT]));
        let o = c.run();
        o.failed().stderr_has(key).stderr_has(why);
        assert!(!o.stderr.contains("SCRATCH CHANGED"), "{key}: {o}");
        assert!(!c.state_dir_exists(), "{key}: state left behind");
        assert!(c.cgroup_dirs().is_empty(), "{key}: cgroup left behind");
    }
    assert_eq!(read_sysctl(OVERCOMMIT), overcommit);
}

/// The namespaced sysctls (in both `a.b.c` and `a/b/c` form) reach the container's own
/// namespaces, and only those.
#[test]
fn sysctls_in_the_container_namespaces_are_applied() {
    let mut b = Bundle::new();
    b.config["linux"]["sysctl"] = json!({
        "kernel.shmmax": "123456789",
        "fs.mqueue.queues_max": "300",
        "net.ipv4.ping_group_range": "0 0",
        "net/ipv4/ip_forward": "1",
        "kernel.domainname": "rt.example"
    });
    b.sh(
        "for f in kernel/shmmax fs/mqueue/queues_max net/ipv4/ping_group_range \
         net/ipv4/ip_forward kernel/domainname; do echo $(cat /proc/sys/$f); done",
    );
    let c = Container::new(b).wrapped(scratch_namespaces(&[
        PING_RANGE,
        MQ_QUEUES,
        "/proc/sys/kernel/shmmax",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/kernel/domainname",
    ]));
    let o = c.run();
    o.ok();
    assert_eq!(
        o.stdout_lines(),
        ["123456789", "300", "0 0", "1", "rt.example"],
        "{o}"
    );
    assert!(!o.stderr.contains("SCRATCH CHANGED"), "{o}");
}

/// `rt check` runs the same sysctl check as create.
#[test]
fn check_reports_host_sysctls() {
    if runc_differs("runc has no `check` verb") {
        return;
    }
    let scratch = TempDir::new("check");
    let mut b = Bundle::new();
    b.remove_namespace("network");
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "vm.swappiness": "1"});
    b.write();
    let o = rt_raw(&["check", &b.path_str()], None, scratch.path());
    assert_eq!(o.code, Some(1), "{o}");
    for want in [
        "\"net.ipv4.ip_forward\"",
        "network namespace",
        "\"vm.swappiness\"",
    ] {
        assert!(o.stdout.contains(want), "missing {want:?}: {o}");
    }
}

/// Replace the config's /dev mount (in place: the mounts under /dev must stay after it).
fn set_dev_mount(b: &mut Bundle, m: serde_json::Value) {
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    let i = mounts
        .iter()
        .position(|m| m["destination"] == json!("/dev"))
        .unwrap();
    mounts[i] = m;
}

/// Names and file types in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            let kind = match (t.is_dir(), t.is_symlink(), t.is_file()) {
                (true, _, _) => "dir",
                (_, true, _) => "symlink",
                (_, _, true) => "file",
                _ => "node",
            };
            format!("{} {kind}", e.file_name().to_string_lossy())
        })
        .collect();
    v.sort();
    v
}

/// A /dev bound from elsewhere (privileged setups bind the host's) is someone else's
/// directory: rt creates nothing in it, neither the default nodes, nor linux.devices, nor the
/// fd/std* links or the ptmx symlink. A scratch directory stands in for the host's /dev.
#[test]
fn bound_dev_is_left_untouched() {
    let dev = TempDir::new("devsrc");
    for d in ["pts", "shm", "mqueue"] {
        fs::create_dir(dev.path().join(d)).unwrap();
    }
    fs::write(dev.path().join("marker"), "host's").unwrap();
    // A /dev has a null (runc stats it, and maskedPaths binds it).
    let null = std::ffi::CString::new(dev.path().join("null").to_str().unwrap()).unwrap();
    // SAFETY: mknod with a NUL-terminated path we own.
    let rc = unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod {null:?}");
    // A /dev's ptmx, for the terminal case below (the container's own devpts is on pts).
    symlink("pts/ptmx", dev.path().join("ptmx")).unwrap();
    let before = listing(dev.path());
    let bundle = || {
        let mut b = Bundle::new();
        set_dev_mount(
            &mut b,
            json!({"destination": "/dev", "type": "bind", "source": dev.path(),
                   "options": ["rbind", "nosuid"]}),
        );
        b.config["linux"]["devices"] =
            json!([{"path": "/dev/rt-test-node", "type": "c", "major": 1, "minor": 3}]);
        b
    };
    let mut b = bundle();
    b.sh("cat /dev/marker; echo; ls /dev");
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    assert!(
        o.stdout.starts_with("host's"),
        "the bound /dev is not seen: {o}"
    );
    assert_eq!(listing(dev.path()), before, "rt changed the bound /dev");
    assert_eq!(
        fs::read_to_string(dev.path().join("marker")).unwrap(),
        "host's"
    );
    if runc_differs("runc 1.1.5 creates /dev/console in a bound /dev for a terminal") {
        return;
    }
    // With a terminal: no /dev/console is made there to bind the pty on. (Nobody needs to
    // accept on the console socket: the master waits in its queue.)
    let mut b = bundle();
    b.config["process"]["terminal"] = json!(true);
    b.long_running();
    let mut c = Container::new(b);
    let sock = c.scratch.path().join("console.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    c.create_with(&["--console-socket", &sock.to_string_lossy()])
        .ok();
    assert_eq!(listing(dev.path()), before, "rt changed the bound /dev");
}

/// A /dev tmpfs asked to be read-only is mounted read-write, filled, and only then made
/// read-only (runc's order): the nodes, links and the mounts below /dev are all there.
#[test]
fn read_only_dev_tmpfs_is_filled_first() {
    let mut b = Bundle::new();
    set_dev_mount(
        &mut b,
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k", "ro"]}),
    );
    b.sh(
        "test -c /dev/null && echo null; readlink /dev/ptmx; readlink /dev/stdout; \
         grep -q ' /dev/pts ' /proc/self/mountinfo && echo pts; \
         grep -q ' /dev/shm ' /proc/self/mountinfo && echo shm; \
         touch /dev/x 2>/dev/null || echo read-only; echo ok > /dev/null && echo writable-null",
    );
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    assert_eq!(
        o.stdout_lines(),
        [
            "null",
            "pts/ptmx",
            "/proc/self/fd/1",
            "pts",
            "shm",
            "read-only",
            "writable-null"
        ],
        "{o}"
    );
}

/// linux.devices may name any path, not only /dev: it is created there, inside the rootfs.
#[test]
fn devices_outside_dev_are_created() {
    let mut b = Bundle::new();
    b.config["linux"]["devices"] = json!([
        {"path": "/opt/devs/rt-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 420},
        {"path": "/dev/rt-null", "type": "c", "major": 1, "minor": 3}
    ]);
    b.sh("stat -c '%n %F %t:%T %a' /opt/devs/rt-zero /dev/rt-null");
    let c = Container::new(b);
    let o = c.run();
    o.ok();
    assert_eq!(
        o.stdout_lines(),
        [
            "/opt/devs/rt-zero character special file 1:5 644",
            "/dev/rt-null character special file 1:3 666"
        ],
        "{o}"
    );
}

/// Under --no-pivot the host's mount tree stays below the chroot; a procfs or sysfs there
/// would let a nested user namespace mount a fresh, unmasked one (the kernel allows it when
/// one is "fully visible" already). rt hides them, so the mount is refused as with pivot_root.
/// The tmpfs mount first shows that nested user and mount namespaces work at all here. (A
/// non-root user: a new user namespace that maps uid 0 needs CAP_SETFCAP.)
#[test]
fn no_pivot_leaves_no_bare_procfs_or_sysfs() {
    let mut b = Bundle::new();
    // Not root: a user namespace mapping uid 0 would need CAP_SETFCAP.
    b.user(1000, 1000, &[]);
    b.sh(
        "unshare -mrpf sh -c 'mount -t tmpfs none /mnt && echo tmpfs-mounted'; \
         unshare -mrpf sh -c 'mount -t proc none /proc && echo proc-mounted'; \
         unshare -mrpf sh -c 'mount -t sysfs none /sys && echo sysfs-mounted'; \
         cat /proc/self/stat >/dev/null && echo own-proc",
    );
    let c = Container::new(b);
    c.bundle.write();
    let bundle = c.bundle.path_str();
    let o = c.rt(&["run", "--no-pivot", "--bundle", &bundle, &c.id]);
    o.ok();
    if !o.stdout.contains("tmpfs-mounted") {
        skip(&format!(
            "no nested user namespaces here (unshare -r fails: {})",
            o.stderr.trim()
        ));
        return;
    }
    assert_eq!(o.stdout_lines(), ["tmpfs-mounted", "own-proc"], "{o}");
    let host = mountinfo(std::process::id() as i32);
    assert!(mountinfo_line(&host, "/proc").is_some(), "host /proc gone");
}

fn cap_bits(status: &str, key: &str) -> u64 {
    u64::from_str_radix(&status_field(status, key).unwrap(), 16).unwrap()
}

/// CVE-2022-29162: `exec --cap` adds to the bounding, effective and permitted sets only; an
/// inheritable or ambient capability would survive the execve of any program the process
/// runs. An unknown capability is ignored with a warning, as runc does.
#[test]
fn exec_cap_stays_out_of_inheritable_and_ambient() {
    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create_and_start();
    let o = c.exec(&["--cap", "CAP_SYS_ADMIN", "--", "cat", "/proc/self/status"]);
    o.ok();
    const SYS_ADMIN: u64 = 1 << 21;
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert_ne!(cap_bits(&o.stdout, set) & SYS_ADMIN, 0, "{set}: {o}");
    }
    for set in ["CapInh", "CapAmb"] {
        assert_eq!(cap_bits(&o.stdout, set) & SYS_ADMIN, 0, "{set}: {o}");
    }
    let o = c.exec(&["--cap", "CAP_NO_SUCH_THING", "--", "echo", "ran"]);
    o.ok().stderr_has("CAP_NO_SUCH_THING");
    assert_eq!(o.stdout.trim(), "ran");
}

/// /proc and /sys must be ordinary directories of the rootfs: a symlink there (even to a
/// directory inside the rootfs) is refused, as runc refuses it, before anything is made.
#[test]
fn symlinked_proc_or_sys_is_refused() {
    for (dir, target) in [("proc", "mnt"), ("sys", "/tmp")] {
        let b = Bundle::new();
        fs::remove_dir(b.rootfs().join(dir)).unwrap();
        symlink(target, b.rootfs().join(dir)).unwrap();
        let c = Container::new(b);
        c.run().failed().stderr_has("ordinary directory");
        assert!(!c.state_dir_exists());
        assert!(c.cgroup_dirs().is_empty());
    }
}

/// An AppArmor profile on a host without AppArmor is refused (runc fails writing it), at create
/// and at exec: the process would otherwise run unconfined with no word.
#[test]
fn apparmor_profile_without_apparmor_is_refused() {
    if Path::new("/sys/kernel/security/apparmor").exists() {
        skip("this host has AppArmor");
        return;
    }
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config["process"]["apparmorProfile"] = json!("rt-test-profile");
    let c = Container::new(b);
    c.run().failed().stderr_has("apparmor");
    assert!(!c.state_dir_exists());
    assert!(c.cgroup_dirs().is_empty());

    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    c.create_and_start();
    let o = c.exec(&["--apparmor", "rt-test-profile", "--", "echo", "ran"]);
    o.failed().stderr_has("apparmor");
    assert!(!o.stdout.contains("ran"), "{o}");
}

/// linux.intelRdt on a host without resctrl: a cache or bandwidth schema (a limit) is refused
/// with runc's reason. (A bare closID is refused too, by rt and runc 1.4+: conformance's
/// spec13::intel_rdt_without_resctrl_is_refused.)
#[test]
fn intel_rdt_without_resctrl() {
    if Path::new("/sys/fs/resctrl/info").exists() {
        skip("this host has resctrl");
        return;
    }
    for (field, value) in [("l3CacheSchema", "L3:0=f"), ("memBwSchema", "MB:0=50")] {
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.config["linux"]["intelRdt"] = json!({ field: value });
        let c = Container::new(b);
        c.run()
            .failed()
            .stderr_has(&format!("intelRdt.{field}"))
            .stderr_has("not enabled");
        assert!(!c.state_dir_exists());
    }
}

/// `delete` removes only what rt made: `<root>/<id>` without a state file (here a scratch
/// --root; with `--root /` it would be any top-level directory of the host) is refused and
/// left as it was, and so is a container's state directory holding a file rt did not write.
#[test]
fn delete_removes_only_what_rt_made() {
    if runc_differs("runc 1.1.5 removes <root>/<id> recursively when it has no state.json") {
        return;
    }
    let c = Container::new(Bundle::new());
    let victim = c.root.path().join("victim");
    fs::create_dir_all(victim.join("sub")).unwrap();
    fs::write(victim.join("precious"), "keep").unwrap();
    fs::write(victim.join("sub/file"), "keep").unwrap();
    for force in [false, true] {
        let mut args = vec!["delete"];
        if force {
            args.push("-f");
        }
        args.push("victim");
        c.rt(&args).failed().stderr_has("state.json");
        assert_eq!(fs::read_to_string(victim.join("precious")).unwrap(), "keep");
        assert_eq!(fs::read_to_string(victim.join("sub/file")).unwrap(), "keep");
    }

    let mut b = Bundle::new();
    b.long_running();
    let mut c = Container::new(b);
    let pid = c.create_and_start();
    let foreign = c.root.path().join(&c.id).join("precious");
    fs::write(&foreign, "keep").unwrap();
    c.delete(true).failed().stderr_has("precious");
    assert!(pid_alive(pid), "the refused delete killed the container");
    assert_eq!(fs::read_to_string(&foreign).unwrap(), "keep");
    fs::remove_file(&foreign).unwrap();
    c.delete(true).ok();
    assert!(!c.state_dir_exists());
}

/// rootfsPropagation "rshared" keeps the host's peer groups on our copy of /, so the rootfs'
/// parent mount is made private before the rootfs is bound onto itself; otherwise that bind,
/// and every container mount on it, would appear on the host. The "host" is a private mount
/// namespace with / made rshared, checked after the container ran.
#[test]
fn shared_rootfs_propagation_leaks_no_mount_to_the_host() {
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    let rootfs = b.rootfs().to_string_lossy().into_owned();
    let c = Container::new(b).wrapped(unshare_around(
        &["--mount"],
        &format!(
            "mount --make-rshared / || exit 99; \"$@\"; rc=$?; \
             grep -F '{rootfs}' /proc/self/mountinfo >&2 && echo LEAKED >&2; exit $rc"
        ),
    ));
    let o = c.run();
    o.ok();
    assert!(!o.stderr.contains("LEAKED"), "{o}");
}

/// A cgroupsPath naming a cgroup that exists already is someone else's: rt joins it, but
/// neither kills what else runs in it nor removes it when the container goes. A `sleep` of
/// the test's own, in a cgroup the test made, stands in for the host's processes.
#[test]
fn an_existing_cgroup_is_joined_not_destroyed() {
    let mut b = Bundle::new();
    b.args(&["true"]);
    let name = b.cgroup_name().unwrap();
    let Some(base) = [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.join("cgroup.procs").exists()) else {
        skip("no cgroup hierarchy with cgroup.procs");
        return;
    };
    let theirs = base.join(&name);
    fs::create_dir(&theirs).unwrap();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let pid = sleeper.id() as i32;
    fs::write(theirs.join("cgroup.procs"), pid.to_string()).unwrap();
    let c = Container::new(b);
    let o = c.run();
    let alive = pid_alive(pid);
    let kept = theirs.exists();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    o.ok();
    assert!(
        alive,
        "rt killed a process of a cgroup it did not make: {o}"
    );
    assert!(kept, "rt removed a cgroup it did not make: {o}");
    if runc_differs("runc 1.1.5 joins an existing cgroup without a word") {
        return;
    }
    o.stderr_has("exists already");
}

/// A mount namespace path that is rt's own would have the rootfs built (mounts, propagation,
/// pivot_root) in the host's mount table: refused. rt runs in a private mount namespace made
/// for the call, so a regression would change only that one.
#[test]
fn joining_rt_own_mount_namespace_is_refused() {
    if runc_differs("runc 1.1.5 builds the rootfs in any joined mount namespace, even its own") {
        return;
    }
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.namespace("mount", Some("/proc/self/ns/mnt"));
    let c = Container::new(b).wrapped(unshare_around(&["--mount"], "\"$@\""));
    c.run().failed().stderr_has("own mount namespace");
    assert!(!c.state_dir_exists());
}
