//! "Never stricter than runc": config values rt used to refuse but runc runs, each run here
//! with runc's meaning and its effect checked (0 or empty is "not set", an omitted optional
//! field takes Go's zero value, a negative limit is "no limit"); and the warnings runc gives.
//! The audit behind these is the table in integration/conformance/README.md. Every test
//! passes on rt and on runc (`RT_BIN=/usr/sbin/runc`).

mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

/// Run `script` to completion with `edit` applied to the config; its stdout.
fn run_sh(script: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut b = Bundle::new();
    b.sh(script);
    edit(&mut b.config);
    let c = Container::new(b);
    let o = c.run();
    o.ok().stdout.clone()
}

/// A running container with `resources`, and an `update --resources` with `zeros` after it.
fn updated_with(resources: Value, zeros: Value) -> Container {
    let mut b = Bundle::new();
    b.long_running();
    b.config["linux"]["resources"] = resources;
    let mut c = Container::new(b);
    c.create_and_start();
    c.rt_stdin(&["update", "--resources", "-", &c.id], &zeros.to_string())
        .ok();
    c
}

#[test]
fn zero_resource_values_leave_the_cgroup_files_untouched() {
    let c = updated_with(
        json!({"cpu": {"shares": 512, "quota": 50000, "period": 200000},
               "pids": {"limit": 50}, "memory": {"limit": 67108864},
               "blockIO": {"weight": 0, "leafWeight": 0}}),
        json!({"cpu": {"shares": 0, "quota": 0, "period": 0}, "pids": {"limit": 0},
               "memory": {"limit": 0, "reservation": 0, "swap": 0},
               "blockIO": {"weight": 0, "leafWeight": 0}}),
    );
    let Some(pids) = cgroup_file(&c, "pids", "pids.max", "pids.max") else {
        skip("no pids cgroup controller");
        return;
    };
    assert_eq!(read_trim(&pids), "50");
    if let Some(mem) = cgroup_file(&c, "memory", "memory.limit_in_bytes", "memory.max") {
        assert_eq!(read_trim(&mem), "67108864");
    }
    match cgroup_file(&c, "cpu", "cpu.shares", "cpu.weight") {
        Some(p) if p.ends_with("cpu.shares") => {
            assert_eq!(read_trim(&p), "512");
            assert_eq!(read_trim(p.with_file_name("cpu.cfs_quota_us")), "50000");
            assert_eq!(read_trim(p.with_file_name("cpu.cfs_period_us")), "200000");
        }
        Some(p) => assert_eq!(read_trim(p.with_file_name("cpu.max")), "50000 200000"),
        None => skip("no cpu cgroup controller"),
    }
}

/// `b` created and started, its pids.max checked to be `want` (None: no pids controller).
fn started_with_pids_max(b: Bundle, want: &str) -> Option<Container> {
    let mut c = Container::new(b);
    c.create_and_start();
    let Some(pids) = cgroup_file(&c, "pids", "pids.max", "pids.max") else {
        skip("no pids cgroup controller");
        return None;
    };
    assert_eq!(read_trim(&pids), want);
    Some(c)
}

#[test]
fn zero_resource_values_at_create_run() {
    // What Docker writes for a container without limits: every field present, all 0.
    let mut b = Bundle::new();
    b.long_running();
    b.config["linux"]["resources"] = json!({
        "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0},
        "pids": {"limit": 0},
        "memory": {"limit": 0, "reservation": 0, "swap": 0},
        "blockIO": {"weight": 0, "leafWeight": 0}
    });
    let Some(c) = started_with_pids_max(b, "max") else {
        return;
    };
    match cgroup_file(&c, "cpu", "cpu.cfs_quota_us", "cpu.max") {
        Some(p) if p.ends_with("cpu.cfs_quota_us") => {
            assert_eq!(read_trim(&p), "-1");
            assert_eq!(read_trim(p.with_file_name("cpu.shares")), "1024");
        }
        Some(p) => assert_eq!(read_trim(&p), "max 100000"),
        None => skip("no cpu cgroup controller"),
    }
}

#[test]
fn negative_limits_mean_no_limit() {
    let mut b = Bundle::new();
    b.long_running();
    b.config["linux"]["resources"] =
        json!({"cpu": {"quota": -5, "period": 100000}, "pids": {"limit": -7}});
    let Some(c) = started_with_pids_max(b, "max") else {
        return;
    };
    if let Some(q) = cgroup_file(&c, "cpu", "cpu.cfs_quota_us", "cpu.max") {
        let q = read_trim(&q);
        assert!(q == "-1" || q == "max 100000", "quota {q}");
    }
}

#[test]
fn a_process_without_user_runs_as_root() {
    let out = run_sh("id -u; id -g", |c| {
        c["process"].as_object_mut().unwrap().remove("user");
    });
    assert_eq!(out, "0\n0\n");
}

#[test]
fn null_members_are_not_set() {
    let out = run_sh("hostname; echo \"$HOME\"; id -u", |c| {
        // uid is not optional in the Rust types: Go's decoder leaves it 0.
        c["process"]["user"]["uid"] = Value::Null;
        c["process"]["terminal"] = Value::Null;
        c["process"]["rlimits"] = Value::Null;
        c["process"]["user"]["umask"] = Value::Null;
        c["domainname"] = Value::Null;
        c["hostname"] = json!("nulls");
        c["linux"]["sysctl"] = Value::Null;
    });
    assert_eq!(out, "nulls\n/root\n0\n");
}

#[test]
fn any_oci_version_runs() {
    for v in [json!("2.0.0"), json!(""), Value::Null] {
        let out = run_sh("echo ran", |c| c["ociVersion"] = v.clone());
        assert_eq!(out, "ran\n", "ociVersion {v}");
    }
}

#[test]
fn an_empty_seccomp_object_installs_no_filter() {
    for s in [json!({}), json!({"defaultAction": "", "syscalls": []})] {
        let out = run_sh("grep '^Seccomp:' /proc/self/status", |c| {
            c["linux"]["seccomp"] = s.clone();
        });
        assert_eq!(out.split_whitespace().nth(1), Some("0"), "{s}: {out}");
    }
}

#[test]
fn seccomp_rules_without_names_or_argument_values_take_zero() {
    // kill(0, ...) is refused: the argument has neither index nor value (both 0); kill of
    // our own pid is not. A rule without names applies to no syscall.
    let out = run_sh(
        "kill -0 0 2>/dev/null && echo zero-allowed || echo zero-refused; \
         kill -0 $$ && echo self-allowed",
        |c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"action": "SCMP_ACT_ERRNO"},
                    {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"op": "SCMP_CMP_EQ"}]}
                ]
            });
        },
    );
    assert_eq!(out, "zero-refused\nself-allowed\n");
}

#[test]
fn relative_masked_and_readonly_paths_are_taken_from_root() {
    let out = run_sh(
        "stat -c '%t:%T' /proc/keys; \
         (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo rw || echo ro",
        |c| {
            c["linux"]["maskedPaths"] = json!(["proc/keys"]);
            c["linux"]["readonlyPaths"] = json!(["proc/sys"]);
        },
    );
    // /dev/null (1:3) over /proc/keys, and /proc/sys read-only.
    assert_eq!(out, "1:3\nro\n");
}

#[test]
fn cgroups_path_with_dotdot_is_cleaned() {
    let name = unique_name("cg");
    let mut b = Bundle::new();
    b.sh("grep pids /proc/self/cgroup");
    b.cgroups_path(&format!("/{name}/sub/.."));
    let mut c = Container::new(b);
    let o = c.run();
    // Cleaned lexically as runc does: the cgroup is /NAME.
    c.bundle.cgroups_path(&format!("/{name}"));
    let line = o.ok().stdout.trim().to_string();
    if line.is_empty() {
        skip("no pids cgroup v1 controller");
        return;
    }
    assert!(line.ends_with(&format!(":/{name}")), "{line}");
}

#[test]
fn an_empty_cgroups_path_is_not_set() {
    let mut b = Bundle::new();
    b.sh("grep pids /proc/self/cgroup");
    b.cgroups_path("");
    let c = Container::new(b);
    let line = c.run().ok().stdout.trim().to_string();
    if line.is_empty() {
        skip("no pids cgroup v1 controller");
        return;
    }
    // The runtime's default cgroup, named after the container, removed again by `run`.
    let path = line.splitn(3, ':').nth(2).unwrap_or_default();
    assert!(path.ends_with(&format!("/{}", c.id)), "{line}");
    assert!(!Path::new("/sys/fs/cgroup/pids").join(&path[1..]).exists());
}

#[test]
fn a_umask_above_0777_keeps_its_permission_bits() {
    let out = run_sh("umask", |c| c["process"]["user"]["umask"] = json!(0o10022));
    assert_eq!(out, "0022\n");
}

#[test]
fn a_hostname_may_hold_a_slash() {
    let out = run_sh("hostname", |c| c["hostname"] = json!("a/b"));
    assert_eq!(out, "a/b\n");
}

#[test]
fn swappiness_of_all_ones_is_not_set() {
    // Go's int64(-1) as old Docker wrote it: runc leaves memory.swappiness alone.
    let mut b = Bundle::new();
    b.long_running();
    b.config["linux"]["resources"] = json!({"memory": {"swappiness": u64::MAX}});
    let mut c = Container::new(b);
    c.create_and_start();
    let Some(p) = cgroup_file(&c, "memory", "memory.swappiness", "memory.max") else {
        skip("no memory cgroup controller");
        return;
    };
    if !p.ends_with("memory.swappiness") {
        skip("cgroup v2 has no swappiness");
        return;
    }
    let parent = p
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("memory.swappiness");
    assert_eq!(read_trim(&p), read_trim(&parent));
}

/// pids.limit 1 with a new pid namespace while another namespace is joined (rt forks twice
/// there): runc writes its limits once init is alone in the cgroup and runs it; so does rt now
/// (its second fork once failed with EAGAIN). The limit is in force before start.
#[test]
fn a_pids_limit_of_one_leaves_room_for_the_second_fork() {
    let mut holder = std::process::Command::new("unshare");
    holder.args(["--ipc", "sleep", "1000"]);
    let holder = HostProcess::spawn(holder);
    wait_until("holder in its own ipc namespace", || {
        ns_link(holder.pid(), "ipc") != self_ns("ipc")
    });
    let mut b = Bundle::new();
    let ipc = format!("/proc/{}/ns/ipc", holder.pid());
    b.namespace("ipc", Some(&ipc)).args(&["echo", "alone"]);
    b.config["linux"]["resources"] = json!({"pids": {"limit": 1}});
    let mut c = Container::new(b);
    c.create().ok();
    let Some(pids) = cgroup_file(&c, "pids", "pids.max", "pids.max") else {
        skip("no pids cgroup controller");
        return;
    };
    assert_eq!(read_trim(&pids), "1");
    assert_eq!(ns_link(c.pid(), "ipc"), ns_link(holder.pid(), "ipc"));
    c.start().ok();
    assert_eq!(c.wait_output("alone"), "alone\n");
}

/// `memory.useHierarchy` is never written, as in runc: the container runs whatever the value
/// (this kernel refuses a 0 with EINVAL, which once failed create) and memory.use_hierarchy
/// keeps the kernel's value.
#[test]
fn memory_use_hierarchy_is_left_to_the_kernel() {
    for value in [false, true] {
        let mut b = Bundle::new();
        b.long_running();
        b.config["linux"]["resources"] = json!({"memory": {"useHierarchy": value}});
        let mut c = Container::new(b);
        c.create_and_start();
        let Some(p) = cgroup_file(&c, "memory", "memory.use_hierarchy", "memory.max") else {
            skip("no memory cgroup controller");
            return;
        };
        if !p.ends_with("memory.use_hierarchy") {
            return; // cgroup v2 has no such file; the container running is the check.
        }
        let parent = p.parent().unwrap().parent().unwrap();
        assert_eq!(
            read_trim(&p),
            read_trim(parent.join("memory.use_hierarchy")),
            "useHierarchy {value}"
        );
    }
}

#[test]
fn kernel_memory_is_ignored_with_a_warning() {
    let mut b = Bundle::new();
    b.long_running();
    b.config["linux"]["resources"] = json!({"memory": {"kernel": 8388608, "kernelTCP": 8388608}});
    let mut c = Container::new(b);
    c.create()
        .ok()
        .stderr_has("kernel memory settings are ignored");
    c.start().ok();
    if let Some(p) = cgroup_file(&c, "memory", "memory.kmem.tcp.limit_in_bytes", "memory.max")
        && p.ends_with("memory.kmem.tcp.limit_in_bytes")
        && p.exists()
    {
        assert_eq!(read_trim(&p), "9223372036854771712");
    }
}

#[test]
fn environment_keeps_one_entry_per_name_and_fills_an_empty_home() {
    let out = run_sh("env | grep -E '^(A|B|HOME)=' | sort", |c| {
        let env = c["process"]["env"].as_array_mut().unwrap();
        env.extend([json!("A=1"), json!("B=2"), json!("A=3"), json!("HOME=")]);
    });
    assert_eq!(out, "A=3\nB=2\nHOME=/root\n");
}

#[test]
fn an_unknown_capability_is_a_warning_on_stderr_and_in_the_log() {
    let mut b = Bundle::new();
    b.args(&["true"]).capabilities(&["CAP_KILL", "CAP_BOGUS"]);
    let c = Container::new(b);
    c.run().ok().stderr_has("warning").stderr_has("CAP_BOGUS");
    let log = c.scratch.path().join("log.json");
    let l = log.to_string_lossy().into_owned();
    let bp = c.bundle.path_str();
    c.rt(&[
        "--log",
        &l,
        "--log-format",
        "json",
        "run",
        "--bundle",
        &bp,
        &c.id,
    ])
    .ok();
    let text = fs::read_to_string(&log).unwrap_or_default();
    let warned = text.lines().any(|line| {
        serde_json::from_str::<Value>(line).is_ok_and(|v| {
            v["level"] == "warning" && v["msg"].as_str().is_some_and(|m| m.contains("CAP_BOGUS"))
        })
    });
    assert!(warned, "no warning line in the log: {text}");
}

#[test]
fn no_pivot_with_private_rootfs_propagation_is_refused() {
    for p in ["private", "rprivate"] {
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.config["linux"]["rootfsPropagation"] = json!(p);
        let mut c = Container::new(b);
        c.create_with(&["--no-pivot"])
            .failed()
            .stderr_has("pivot_root");
        assert!(!c.state_dir_exists());
    }
}

#[test]
fn scheduler_nice_is_only_checked_where_it_applies() {
    if runc_differs("runc 1.1 ignores process.scheduler") {
        return;
    }
    // SCHED_IDLE has no nice value: runc 1.2+ does not check it there, and neither does rt.
    let out = run_sh("cut -d' ' -f41 /proc/self/stat", |c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_IDLE", "nice": 50});
    });
    assert_eq!(out, "5\n", "SCHED_IDLE is policy 5");
}

/// A device path with `..` is resolved inside the rootfs, and a negative major or minor is
/// truncated to 32 bits (runc: unix.Mkdev(uint32(major), uint32(minor))), and the kernel keeps 12 bits of the major.
#[test]
fn device_paths_with_dotdot_and_negative_numbers_are_created() {
    let out = run_sh("stat -c '%n %F %t:%T' /rt-dotdot /dev/rt-neg", |c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/../../rt-dotdot", "type": "c", "major": 1, "minor": 3},
            {"path": "/dev/rt-neg", "type": "c", "major": -4, "minor": 3}
        ]);
    });
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "/rt-dotdot character special file 1:3",
            "/dev/rt-neg character special file ffc:3"
        ]
    );
}

/// linux.devices fileMode with special bits: runc mknods the node with them and then chowns
/// it, which makes the kernel drop setuid, and setgid where the group may execute; sticky stays.
#[test]
fn device_nodes_lose_setuid_and_executable_setgid_as_in_runc() {
    let out = run_sh(
        "stat -c '%n %a' /dev/rt-all /dev/rt-sgid /dev/rt-sticky",
        |c| {
            c["linux"]["devices"] = json!([
                {"path": "/dev/rt-all", "type": "c", "major": 1, "minor": 3, "fileMode": 0o7777},
                {"path": "/dev/rt-sgid", "type": "c", "major": 1, "minor": 3, "fileMode": 0o2640},
                {"path": "/dev/rt-sticky", "type": "p", "fileMode": 0o1644, "uid": 5, "gid": 5}
            ]);
        },
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "/dev/rt-all 1777",
            "/dev/rt-sgid 2640",
            "/dev/rt-sticky 1644"
        ]
    );
}

/// A linux.devices entry at a default device's path takes that default's place, its cgroup
/// rule included (runc: "the spec one takes priority"): without a resources.devices rule of its
/// own, the node is there but cannot be read; the other defaults stay allowed.
#[test]
fn a_device_at_a_default_path_replaces_the_default_rule() {
    let out = run_sh(
        "head -c1 /dev/zero 2>/dev/null | wc -c; head -c1 /dev/full | wc -c; ls /dev/zero",
        |c| {
            c["linux"]["devices"] = json!([{"path": "/dev/zero", "type": "c", "major": 1,
                "minor": 5, "fileMode": 438}]);
            c["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
        },
    );
    let lines: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(lines, ["0", "1", "/dev/zero"], "{out}");
}
