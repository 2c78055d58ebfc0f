//! config-linux.md: namespaces, id mappings, devices, cgroups, sysctl, rootfs propagation,
//! masked and read-only paths, personality, time offsets, seccomp.

use crate::common::*;
use crate::*;
use serde_json::{Value, json};
use std::fs;

const EROFS: i64 = 30;

/// (spec type, /proc/*/ns name)
const NAMESPACES: [(&str, &str); 8] = [
    ("pid", "pid"),
    ("network", "net"),
    ("mount", "mnt"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("user", "user"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

fn ns_name(kind: &str) -> &'static str {
    NAMESPACES.iter().find(|(k, _)| *k == kind).unwrap().1
}

/// With `kind` listed without a path, the container gets a new namespace of that type.
fn new_namespace(kind: &str) {
    let mut b = bundle(&["ns"]);
    b.namespace(kind, None);
    if kind == "user" {
        b.user_namespace(0, 65536);
    }
    let f = run_fact(b, "ns");
    let n = ns_name(kind);
    assert_ne!(f[n], json!(self_ns(n)), "{kind}: not a new namespace: {f}");
}

#[test]
fn namespace_new_pid() {
    new_namespace("pid");
}
#[test]
fn namespace_new_network() {
    new_namespace("network");
}
#[test]
fn namespace_new_mount() {
    new_namespace("mount");
}
#[test]
fn namespace_new_ipc() {
    new_namespace("ipc");
}
#[test]
fn namespace_new_uts() {
    new_namespace("uts");
}
#[test]
fn namespace_new_user() {
    new_namespace("user");
}
#[test]
fn namespace_new_cgroup() {
    new_namespace("cgroup");
}
#[test]
fn namespace_new_time() {
    if runc_differs(RUNC_NO_TIME_NS) {
        return;
    }
    new_namespace("time");
}

const RUNC_NO_TIME_NS: &str =
    "runc 1.1.5 predates the time namespace (runtime-spec 1.2; runc 1.2 makes one) and refuses it";

/// A namespace type not listed is inherited from the runtime.
fn inherited_namespace(kind: &str) {
    let mut b = bundle(&["ns"]);
    b.remove_namespace(kind);
    if kind == "network" {
        // sysfs can only be mounted for a network namespace we own.
        b.remove_mount("/sys/fs/cgroup").remove_mount("/sys");
    }
    if kind == "uts" {
        b.config.as_object_mut().unwrap().remove("hostname");
    }
    let f = run_fact(b, "ns");
    let n = ns_name(kind);
    assert_eq!(f[n], json!(self_ns(n)), "{kind}: not inherited: {f}");
}

#[test]
fn namespace_unlisted_network_is_inherited() {
    inherited_namespace("network");
}
#[test]
fn namespace_unlisted_ipc_is_inherited() {
    inherited_namespace("ipc");
}
#[test]
fn namespace_unlisted_uts_is_inherited() {
    inherited_namespace("uts");
}
#[test]
fn namespace_unlisted_pid_is_inherited() {
    inherited_namespace("pid");
}

/// With a path, the container joins that namespace.
fn join_namespace(kind: &str) {
    let holder = started(waiting_bundle());
    let n = ns_name(kind);
    let path = format!("/proc/{}/ns/{n}", holder.pid());
    let mut b = bundle(&["ns"]);
    b.namespace(kind, Some(&path));
    if kind == "uts" {
        b.config.as_object_mut().unwrap().remove("hostname");
    }
    let f = run_fact(b, "ns");
    assert_eq!(
        f[n],
        json!(ns_link(holder.pid(), n)),
        "{kind}: did not join: {f}"
    );
}

#[test]
fn namespace_join_network_by_path() {
    join_namespace("network");
}
#[test]
fn namespace_join_ipc_by_path() {
    join_namespace("ipc");
}
#[test]
fn namespace_join_uts_by_path() {
    join_namespace("uts");
}
#[test]
fn namespace_join_pid_by_path() {
    join_namespace("pid");
}

#[test]
fn namespace_path_missing_is_error() {
    let mut b = bundle(&["ns"]);
    b.namespace("network", Some("/proc/self/ns/no-such-ns"));
    Container::new(b).create().failed();
}

#[test]
fn namespace_path_of_wrong_type_is_error() {
    let mut b = bundle(&["ns"]);
    b.namespace("network", Some("/proc/self/ns/ipc"));
    Container::new(b).create().failed();
}

#[test]
fn namespace_duplicate_type_is_error() {
    let mut b = bundle(&["ns"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "ipc"}));
    Container::new(b).create().failed();
}

// ---- user namespace mappings ----

#[test]
fn user_namespace_uid_gid_mappings() {
    let mut b = bundle(&["cat", "/proc/self/uid_map", "cat", "/proc/self/gid_map"]);
    b.user_namespace(200000, 65536);
    let (_c, o) = run_ok(b);
    let maps: Vec<Vec<String>> = lines(&o.stdout)
        .iter()
        .map(|v| {
            v["data"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect()
        })
        .collect();
    assert_eq!(maps.len(), 2, "{o}");
    for m in maps {
        assert_eq!(m, ["0", "200000", "65536"], "{o}");
    }
}

#[test]
fn user_namespace_process_runs_as_mapped_host_uid() {
    let mut b = waiting_bundle();
    b.user_namespace(300000, 65536);
    let c = started(b);
    let st = proc_status(c.pid());
    let uid = status_field(&st, "Uid").unwrap_or_default();
    assert!(uid.starts_with("300000"), "host uid: {uid}");
}

// ---- devices ----

fn dev_stat(o: &Output, path: &str) -> Value {
    lines(&o.stdout)
        .into_iter()
        .find(|v| v["arg"] == json!(path))
        .unwrap_or_else(|| panic!("no stat for {path}: {o}"))
}

#[test]
fn default_devices_exist() {
    let devs = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let mut args = vec![];
    for (p, _, _) in devs {
        args.extend(["stat", p]);
    }
    let (_c, o) = run_ok(bundle(&args));
    for (p, maj, min) in devs {
        let s = dev_stat(&o, p);
        assert_eq!(s["type"], json!("char"), "{p}: {s}");
        assert_eq!(
            (s["major"].clone(), s["minor"].clone()),
            (json!(maj), json!(min)),
            "{p}"
        );
        assert_eq!(s["mode"], json!(0o666), "{p}: {s}");
    }
}

#[test]
fn default_ptmx_points_to_devpts() {
    let (_c, o) = run_ok(bundle(&["stat", "/dev/ptmx"]));
    let s = dev_stat(&o, "/dev/ptmx");
    let ok = s["target"] == json!("pts/ptmx")
        || s["target"] == json!("/dev/pts/ptmx")
        || (s["type"] == json!("char") && s["major"] == json!(5) && s["minor"] == json!(2));
    assert!(ok, "/dev/ptmx: {s}");
}

#[test]
fn default_dev_symlinks() {
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    let mut args = vec![];
    for (p, _) in links {
        args.extend(["stat", p]);
    }
    let (_c, o) = run_ok(bundle(&args));
    for (p, t) in links {
        let s = dev_stat(&o, p);
        assert_eq!(s["target"], json!(t), "{p}: {s}");
    }
}

#[test]
fn linux_devices_are_created() {
    let mut b = bundle(&["stat", "/dev/conf-null", "stat", "/dev/conf-blk"]);
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3,
         "fileMode": 0o620, "uid": 1000, "gid": 1001},
        {"path": "/dev/conf-blk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600}
    ]);
    let (_c, o) = run_ok(b);
    let s = dev_stat(&o, "/dev/conf-null");
    assert_eq!(s["type"], json!("char"), "{s}");
    assert_eq!(
        (s["major"].clone(), s["minor"].clone()),
        (json!(1), json!(3))
    );
    assert_eq!(s["mode"], json!(0o620), "{s}");
    assert_eq!(
        (s["uid"].clone(), s["gid"].clone()),
        (json!(1000), json!(1001))
    );
    let s = dev_stat(&o, "/dev/conf-blk");
    assert_eq!(s["type"], json!("block"), "{s}");
    assert_eq!(
        (s["major"].clone(), s["minor"].clone()),
        (json!(7), json!(200))
    );
}

// ---- cgroups ----

fn cg_read(ctrl: &str, name: &str, file: &str) -> String {
    read_trim(format!("/sys/fs/cgroup/{ctrl}/{name}/{file}"))
}

#[test]
fn cgroups_absolute_path_and_resources() {
    let mut b = waiting_bundle();
    b.config["linux"]["resources"] = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 67108864},
        "cpu": {"shares": 512},
        "pids": {"limit": 77}
    });
    let mut c = Container::new(b);
    c.create().ok();
    let name = c.bundle.cgroup_name().unwrap();
    assert_eq!(
        cg_read("memory", &name, "memory.limit_in_bytes"),
        "67108864"
    );
    assert_eq!(cg_read("cpu", &name, "cpu.shares"), "512");
    assert_eq!(cg_read("pids", &name, "pids.max"), "77");
    let procs = cg_read("pids", &name, "cgroup.procs");
    assert!(
        procs.lines().any(|l| l == c.pid().to_string()),
        "init not in cgroup: {procs}"
    );
}

#[test]
fn cgroups_devices_deny_by_default() {
    let mut b = bundle(&["cat", "/dev/conf-mem"]);
    // A device node exists but the device cgroup denies it: open must fail with EPERM.
    b.config["linux"]["devices"] =
        json!([{"path": "/dev/conf-mem", "type": "c", "major": 1, "minor": 1, "fileMode": 0o600}]);
    let (_c, o) = run_ok(b);
    assert_eq!(fact(&o, "cat")["errno"], json!(1), "{o}");
}

/// A relative cgroupsPath is placed by the runtime (runc: under its own cgroup); the container
/// must be in a cgroup ending with that path, and delete must remove it.
#[test]
fn cgroups_relative_path() {
    let rel = unique_name("relcg");
    let mut b = waiting_bundle();
    b.cgroups_path(&rel);
    b.config["linux"]["resources"]["pids"] = json!({"limit": 55});
    let mut c = Container::new(b);
    c.create().ok();
    let cg = fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    let pids_path = cg
        .lines()
        .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_string()))
        .unwrap_or_else(|| panic!("no pids line: {cg}"));
    assert!(pids_path.ends_with(&format!("/{rel}")), "{pids_path}");
    let dir = format!("/sys/fs/cgroup/pids{pids_path}");
    assert_eq!(read_trim(format!("{dir}/pids.max")), "55");
    c.kill(Some("KILL")).ok();
    c.wait_status("stopped");
    c.delete(false).ok();
    assert!(!std::path::Path::new(&dir).exists(), "{dir} left behind");
}

// ---- sysctl ----

#[test]
fn sysctl_is_applied() {
    let mut b = bundle(&["sysctl", "kernel.msgmax", "sysctl", "net.ipv4.ip_forward"]);
    b.config["linux"]["sysctl"] = json!({"kernel.msgmax": "4321", "net.ipv4.ip_forward": "1"});
    let (_c, o) = run_ok(b);
    let data: Vec<String> = lines(&o.stdout)
        .iter()
        .map(|v| v["data"].as_str().unwrap_or("?").trim().to_string())
        .collect();
    assert_eq!(data, ["4321", "1"], "{o}");
}

// ---- rootfsPropagation ----

fn root_propagation(prop: &str) -> String {
    let mut b = bundle(&["mounts"]);
    b.config["linux"]["rootfsPropagation"] = json!(prop);
    let (_c, o) = run_ok(b);
    mount_line(&o, "/").unwrap_or_else(|| panic!("no / mount: {o}"))
}

#[test]
fn rootfs_propagation_private() {
    let l = root_propagation("private");
    assert!(!l.contains("shared:") && !l.contains("master:"), "{l}");
}

#[test]
fn rootfs_propagation_shared() {
    let l = root_propagation("shared");
    if runc_differs(
        "runc 1.1.5 makes the rootfs' parent mount private before binding it, so `/` ends up \
         private whatever rootfsPropagation says",
    ) {
        return;
    }
    assert!(l.contains("shared:"), "{l}");
}

#[test]
fn rootfs_propagation_unbindable() {
    if runc_differs(
        "runc 1.1.5 makes / unbindable before bind-mounting the rootfs from under it, so the \
         bind fails with EINVAL and create fails; runc ≥ 1.2 applies it after pivot_root",
    ) {
        return;
    }
    let l = root_propagation("unbindable");
    assert!(l.contains("unbindable"), "{l}");
}

// ---- maskedPaths, readonlyPaths ----

#[test]
fn masked_paths_file_and_directory() {
    let mut b = bundle(&[
        "stat",
        "/proc/timer_list",
        "cat",
        "/proc/timer_list",
        "mounts",
    ]);
    b.masked_paths(&["/proc/timer_list", "/sys/firmware", "/proc/no-such-path"]);
    let (_c, o) = run_ok(b);
    let s = dev_stat(&o, "/proc/timer_list");
    assert_eq!(
        (s["major"].clone(), s["minor"].clone()),
        (json!(1), json!(3)),
        "{s}"
    );
    assert_eq!(
        fact(&o, "cat")["data"],
        json!(""),
        "timer_list readable: {o}"
    );
    let fw =
        mount_line(&o, "/sys/firmware").unwrap_or_else(|| panic!("/sys/firmware not masked: {o}"));
    let (per, _) = mount_opts(&fw);
    assert!(per.iter().any(|p| p == "ro"), "{fw}");
}

#[test]
fn readonly_paths_are_read_only() {
    let mut b = bundle(&["write", "/proc/sys/kernel/hostname", "write", "/tmp/ok"]);
    b.readonly_paths(&["/proc/sys", "/proc/no-such-path"]);
    let (_c, o) = run_ok(b);
    let w: Vec<Value> = lines(&o.stdout)
        .into_iter()
        .map(|v| v["errno"].clone())
        .collect();
    assert_eq!(w, [json!(EROFS), json!(0)], "{o}");
}

// ---- personality ----

#[test]
fn personality_linux32() {
    let mut b = bundle(&["personality"]);
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let f = run_fact(b, "personality");
    if runc_differs("runc 1.1.5 ignores linux.personality (runtime-spec 1.2; runc 1.2 sets it)") {
        return;
    }
    // PER_LINUX32 = 0x0008
    assert_eq!(f["persona"], json!(8), "{f}");
}

// ---- timeOffsets ----

#[test]
fn time_offsets_in_time_namespace() {
    if runc_differs(RUNC_NO_TIME_NS) {
        return;
    }
    let host = fs::read_to_string("/proc/uptime").unwrap();
    let host_secs: f64 = host.split_whitespace().next().unwrap().parse().unwrap();
    let mut b = bundle(&["time"]);
    b.namespace("time", None);
    b.config["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": 1000000, "nanosecs": 0},
        "boottime": {"secs": 2000000, "nanosecs": 0}});
    let f = run_fact(b, "time");
    let mono = f["monotonic"].as_f64().unwrap();
    let boot = f["boottime"].as_f64().unwrap();
    // checker prints whole seconds: allow for the truncated fraction.
    assert!(
        mono + 1.0 >= host_secs + 1000000.0 && mono < host_secs + 1500000.0,
        "{f}"
    );
    assert!(boot + 1.0 >= host_secs + 2000000.0, "{f}");
}

// ---- seccomp ----

#[test]
fn seccomp_errno_rule_is_enforced() {
    let mut b = bundle(&["getppid", "caps"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]
    });
    let (_c, o) = run_ok(b);
    assert_eq!(fact(&o, "getppid")["errno"], json!(42), "{o}");
    assert_eq!(fact(&o, "caps")["Seccomp"], json!("2"), "{o}");
}

#[test]
fn seccomp_default_errno_action() {
    let mut b = bundle(&["getppid"]);
    // Everything the checker and the runtime's last steps need is allowed; getppid is not.
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]
    });
    let (_c, o) = run_ok(b);
    // errnoRet defaults to EPERM.
    assert_eq!(fact(&o, "getppid")["errno"], json!(1), "{o}");
}

/// config-linux.md: a file already at a device's path that does not match it MUST be an error.
#[test]
fn linux_device_over_conflicting_file_is_error() {
    let mut b = bundle(&["ids"]);
    fs::write(b.rootfs().join("conf-dev"), "not a device").unwrap();
    b.config["linux"]["devices"] =
        json!([{"path": "/conf-dev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]);
    if runc_differs("runc 1.1.5 replaces a regular file at a device's path instead of failing") {
        return;
    }
    Container::new(b).create().failed();
}

/// config-linux.md: the runtime SHOULD NOT change the ownership of the rootfs for id mappings.
#[test]
fn user_namespace_does_not_chown_rootfs() {
    use std::os::unix::fs::MetadataExt;
    let mut b = bundle(&["ids"]);
    b.user_namespace(400000, 65536);
    let before = fs::metadata(b.rootfs().join("checker")).unwrap();
    let rootfs = b.rootfs();
    let (_c, o) = run_ok(b);
    assert_eq!(fact(&o, "ids")["uid"], json!(0));
    let after = fs::metadata(rootfs.join("checker")).unwrap();
    assert_eq!((before.uid(), before.gid()), (after.uid(), after.gid()));
}
