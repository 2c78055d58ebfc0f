//! config.md: ociVersion, root, mounts, process, hostname, domainname.

use crate::common::*;
use crate::*;
use serde_json::json;
use std::fs;

const EROFS: i64 = 30;

// ---- ociVersion ----

#[test]
fn state_oci_version_is_semver() {
    let mut c = Container::new(waiting_bundle());
    c.create().ok();
    let v = c.state_json()["ociVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let core: Vec<&str> = v
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .collect();
    assert!(
        core.len() == 3 && core.iter().all(|p| p.parse::<u64>().is_ok()),
        "not SemVer: {v:?}"
    );
}

// ---- root ----

#[test]
fn root_path_relative_to_bundle() {
    let f = run_fact(bundle(&["stat", "/checker"]), "stat");
    assert_eq!(f["type"], json!("file"), "{f}");
}

#[test]
fn root_path_absolute() {
    let mut b = bundle(&["stat", "/checker"]);
    let abs = b.rootfs().to_string_lossy().into_owned();
    b.root_path(&abs);
    let f = run_fact(b, "stat");
    assert_eq!(f["type"], json!("file"), "{f}");
}

#[test]
fn root_readonly_true_makes_rootfs_read_only() {
    let mut b = bundle(&["write", "/newfile"]);
    b.readonly_root(true);
    let f = run_fact(b, "write");
    assert_eq!(f["errno"], json!(EROFS), "{f}");
}

#[test]
fn root_readonly_false_leaves_rootfs_writable() {
    let mut b = bundle(&["write", "/newfile"]);
    b.readonly_root(false);
    let f = run_fact(b, "write");
    assert_eq!(f["errno"], json!(0), "{f}");
}

#[test]
fn root_path_missing_is_error() {
    let mut b = bundle(&["exit", "0"]);
    b.root_path("nope");
    Container::new(b).create().failed();
}

// ---- mounts ----

#[test]
fn mount_tmpfs_with_options() {
    let mut b = bundle(&["stat", "/mnt/t", "mounts"]);
    b.add_mount(
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "mode=700"]}),
    );
    let (_c, o) = run_ok(b);
    assert_eq!(fact(&o, "stat")["mode"], json!(0o700));
    let line = mount_line(&o, "/mnt/t").expect("no mount at /mnt/t");
    let (per, _) = mount_opts(&line);
    for opt in ["nosuid", "nodev", "noexec"] {
        assert!(per.iter().any(|p| p == opt), "{opt} missing: {line}");
    }
    assert!(line.contains(" - tmpfs "), "{line}");
}

#[test]
fn mount_bind_read_only() {
    let mut b = bundle(&["cat", "/mnt/src/f", "write", "/mnt/src/g"]);
    let src = b.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "hello").unwrap();
    b.add_mount(json!({"destination": "/mnt/src", "type": "bind",
        "source": src.to_string_lossy(), "options": ["rbind", "ro"]}));
    let (_c, o) = run_ok(b);
    assert_eq!(fact(&o, "cat")["data"], json!("hello"));
    assert_eq!(fact(&o, "write")["errno"], json!(EROFS));
}

#[test]
fn later_mounts_are_mounted_over_earlier() {
    let mut b = bundle(&["cat", "/mnt/x/f", "mounts"]);
    let src = b.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "bind").unwrap();
    b.add_mount(json!({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/mnt/x", "type": "bind",
        "source": src.to_string_lossy(), "options": ["rbind"]}));
    let (_c, o) = run_ok(b);
    assert_eq!(fact(&o, "cat")["data"], json!("bind"), "{o}");
}

#[test]
fn mounts_nested_in_listed_order() {
    let mut b = bundle(&["stat", "/mnt/a/b", "mounts"]);
    b.add_mount(json!({"destination": "/mnt/a", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(
        json!({"destination": "/mnt/a/b", "type": "tmpfs", "source": "tmpfs",
        "options": ["mode=711"]}),
    );
    let (_c, o) = run_ok(b);
    assert_eq!(fact(&o, "stat")["mode"], json!(0o711), "{o}");
    assert!(mount_line(&o, "/mnt/a/b").is_some(), "{o}");
}

/// config.md: a relative destination is deprecated but MUST be interpreted relative to "/".
#[test]
fn mount_relative_destination_is_relative_to_root() {
    let mut b = bundle(&["mounts"]);
    b.add_mount(json!({"destination": "mnt/rel", "type": "tmpfs", "source": "tmpfs"}));
    let (_c, o) = run_ok(b);
    assert!(
        mount_line(&o, "/mnt/rel").is_some(),
        "no mount at /mnt/rel: {o}"
    );
}

// ---- process ----

#[test]
fn process_terminal_false_gives_no_tty() {
    let f = run_fact(bundle(&["tty"]), "tty");
    assert_eq!(
        f,
        json!({"cmd": "tty", "stdin": 0, "stdout": 0, "stderr": 0})
    );
}

#[test]
fn process_cwd_is_set() {
    let mut b = bundle(&["cwd"]);
    b.cwd("/tmp");
    assert_eq!(run_fact(b, "cwd")["cwd"], json!("/tmp"));
}

#[test]
fn process_cwd_relative_is_error() {
    let mut b = bundle(&["cwd"]);
    b.cwd("tmp");
    Container::new(b).create().failed();
}

#[test]
fn process_env_is_set() {
    let mut b = bundle(&["env"]);
    b.env("CONFORMANCE=yes=1");
    let f = run_fact(b, "env");
    let env = f["env"].as_array().unwrap();
    for want in ["CONFORMANCE=yes=1", "TERM=xterm"] {
        assert!(env.contains(&json!(want)), "{want} missing: {f}");
    }
}

#[test]
fn process_args_are_exact() {
    let b = bundle(&["args", "a b", "", "--x"]);
    let f = run_fact(b, "args");
    assert_eq!(f["args"], json!(["/checker", "args", "a b", "", "--x"]));
}

#[test]
fn process_args_empty_is_error() {
    let mut b = bundle(&[]);
    b.args(&[]);
    Container::new(b).create().failed();
}

#[test]
fn process_user_uid_gid_additional_gids() {
    let mut b = bundle(&["ids"]);
    b.user(1000, 1001, &[2000, 3000]);
    let f = run_fact(b, "ids");
    assert_eq!(f["uid"], json!(1000));
    assert_eq!(f["euid"], json!(1000));
    assert_eq!(f["gid"], json!(1001));
    assert_eq!(f["egid"], json!(1001));
    let groups = f["groups"].as_array().unwrap();
    for g in [2000, 3000] {
        assert!(groups.contains(&json!(g)), "{g} missing: {f}");
    }
}

#[test]
fn process_user_umask() {
    let mut b = bundle(&["ids"]);
    b.umask(0o027);
    assert_eq!(run_fact(b, "ids")["umask"], json!(0o027));
}

#[test]
fn process_rlimits_are_set() {
    let mut b = bundle(&["rlimits"]);
    b.rlimit("RLIMIT_NOFILE", 100, 200);
    b.rlimit("RLIMIT_CORE", 0, 4096);
    let f = run_fact(b, "rlimits");
    assert_eq!(f["RLIMIT_NOFILE"], json!({"soft": 100, "hard": 200}));
    assert_eq!(f["RLIMIT_CORE"], json!({"soft": 0, "hard": 4096}));
}

#[test]
fn process_rlimit_unknown_type_is_error() {
    let mut b = bundle(&["rlimits"]);
    b.rlimit("RLIMIT_NOSUCH", 1, 1);
    Container::new(b).create().failed();
}

#[test]
fn process_rlimit_duplicate_type_is_error() {
    let mut b = bundle(&["rlimits"]);
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
        {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}]);
    Container::new(b).create().failed();
}

fn cap_bits(hex: &serde_json::Value) -> u64 {
    u64::from_str_radix(hex.as_str().unwrap_or(""), 16).unwrap()
}

/// Runs as uid 0, where execve makes effective = permitted = bounding (kernel rules), so only
/// bounding, inheritable and ambient are exact here; effective is checked as non-root below.
#[test]
fn process_capabilities_sets() {
    let mut b = bundle(&["caps"]);
    // CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10, CAP_SYS_ADMIN=21
    b.capability_sets(
        &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_CHOWN", "CAP_KILL"],
        &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_KILL"],
        &["CAP_KILL"],
    );
    let f = run_fact(b, "caps");
    assert_eq!(cap_bits(&f["CapBnd"]), 1 | 1 << 5 | 1 << 10, "{f}");
    assert_eq!(cap_bits(&f["CapInh"]), 1 << 5, "{f}");
    assert_eq!(cap_bits(&f["CapAmb"]), 1 << 5, "{f}");
}

/// A non-root process keeps only what the runtime raised in ambient across execve.
#[test]
fn process_capabilities_non_root_effective() {
    let mut b = bundle(&["caps"]);
    b.user(1000, 1000, &[]);
    b.capability_sets(
        &["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        &["CAP_KILL"],
    );
    let f = run_fact(b, "caps");
    assert_eq!(cap_bits(&f["CapBnd"]), 1 | 1 << 5 | 1 << 10, "{f}");
    assert_eq!(cap_bits(&f["CapAmb"]), 1 << 5, "{f}");
    assert_eq!(cap_bits(&f["CapEff"]), 1 << 5, "{f}");
    assert_eq!(cap_bits(&f["CapPrm"]), 1 << 5, "{f}");
}

/// config.md: capabilities that cannot be granted MUST be logged as a warning; runtimes SHOULD
/// NOT fail.
#[test]
fn process_unknown_capability_is_warning_not_error() {
    let mut b = bundle(&["caps"]);
    b.capabilities(&["CAP_KILL", "CAP_NO_SUCH_THING"]);
    let f = run_fact(b, "caps");
    assert_eq!(cap_bits(&f["CapBnd"]), 1 << 5, "{f}");
}

#[test]
fn process_no_new_privileges_true() {
    let mut b = bundle(&["caps"]);
    b.no_new_privileges(true);
    assert_eq!(run_fact(b, "caps")["no_new_privs_prctl"], json!(1));
}

#[test]
fn process_no_new_privileges_false() {
    let mut b = bundle(&["caps"]);
    b.no_new_privileges(false);
    assert_eq!(run_fact(b, "caps")["no_new_privs_prctl"], json!(0));
}

#[test]
fn process_oom_score_adj_raised() {
    // Only raising works here (no CAP_SYS_RESOURCE): pick a value above ours.
    let ours: i64 = read_trim("/proc/self/oom_score_adj").parse().unwrap();
    let want = (ours + 123).min(1000);
    let mut b = bundle(&["oom_score_adj"]);
    b.config["process"]["oomScoreAdj"] = json!(want);
    let f = run_fact(b, "cat");
    assert_eq!(
        f["data"].as_str().unwrap_or("").trim(),
        want.to_string(),
        "{f}"
    );
}

#[test]
fn process_io_priority() {
    let mut b = bundle(&["ioprio"]);
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    let f = run_fact(b, "ioprio");
    if runc_differs("runc 1.1.5 ignores process.ioPriority (runtime-spec 1.1; runc 1.2 sets it)") {
        return;
    }
    assert_eq!(
        (f["class"].clone(), f["priority"].clone()),
        (json!(2), json!(6)),
        "{f}"
    );
}

#[test]
fn process_scheduler_batch_with_nice() {
    let mut b = bundle(&["sched"]);
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    let f = run_fact(b, "sched");
    if runc_differs("runc 1.1.5 ignores process.scheduler (runtime-spec 1.2; runc 1.2 sets it)") {
        return;
    }
    // SCHED_BATCH = 3
    assert_eq!(f["policy"], json!(3), "{f}");
    assert_eq!(f["nice"], json!(7), "{f}");
}

/// execCPUAffinity is for `exec`'d processes (config.md: "not applicable to the container's
/// init process"): init keeps every CPU, an exec'd process runs on `final`.
#[test]
fn process_exec_cpu_affinity_final() {
    if runc_differs(
        "runc 1.1.5 ignores process.execCPUAffinity (runtime-spec 1.2; runc 1.2 sets it)",
    ) {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        skip("execCPUAffinity needs 2 CPUs to tell final from all");
        return;
    }
    let mut b = bundle(&["affinity", "wait"]);
    b.config["process"]["execCPUAffinity"] = json!({"initial": "0-1", "final": "1"});
    let c = started(b);
    let out = c.wait_output("\"ready\"");
    let init = lines(&out)
        .into_iter()
        .find(|v| v["cmd"] == "affinity")
        .unwrap_or_else(|| panic!("no affinity line: {out}"));
    let all: Vec<usize> = (0..cpus).collect();
    assert_eq!(init["cpus"], json!(all), "init: {init}");
    let e = c.exec(&["--", "/checker", "affinity"]);
    e.ok();
    assert_eq!(fact(&e, "affinity")["cpus"], json!([1]), "{e}");
}

/// A container does not inherit the affinity of the runtime's caller (e.g. systemd's
/// `CPUAffinity=`): init and an exec'd process run on every CPU its cgroup allows.
#[test]
fn runtime_cpu_affinity_is_not_inherited() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        skip("needs 2 CPUs to tell one from all");
        return;
    }
    if runc_differs("runc 1.1.5 leaves its own CPU affinity to the container (runc 1.2 resets it)")
    {
        return;
    }
    let c = Container::new(bundle(&["affinity"])).wrapped(vec![
        "taskset".into(),
        "-c".into(),
        "0".into(),
    ]);
    let o = c.run();
    o.ok();
    let all: Vec<usize> = (0..cpus).collect();
    assert_eq!(fact(&o, "affinity")["cpus"], json!(all), "{o}");
}

// ---- hostname, domainname ----

#[test]
fn hostname_is_set() {
    let mut b = bundle(&["hostname"]);
    b.hostname("conformance-host");
    assert_eq!(
        run_fact(b, "hostname")["hostname"],
        json!("conformance-host")
    );
}

#[test]
fn domainname_is_set() {
    let mut b = bundle(&["hostname"]);
    b.config["domainname"] = json!("conformance.example");
    let f = run_fact(b, "hostname");
    if runc_differs("runc 1.1.5 ignores domainname (runc 1.2 sets it)") {
        return;
    }
    assert_eq!(f["domainname"], json!("conformance.example"), "{f}");
}

#[test]
fn hostname_without_new_uts_namespace_is_error() {
    let mut b = bundle(&["hostname"]);
    b.remove_namespace("uts");
    b.hostname("nope");
    Container::new(b).create().failed();
}

// ---- annotations ----

#[test]
fn annotations_are_in_state() {
    let mut b = waiting_bundle();
    b.annotation("com.example.a", "1");
    b.annotation("com.example.b", "two");
    let mut c = Container::new(b);
    c.create().ok();
    let s = c.state_json();
    assert_eq!(
        s["annotations"],
        json!({"com.example.a": "1", "com.example.b": "two"})
    );
}
